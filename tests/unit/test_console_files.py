"""Which console file a request path names: nothing outside ``console/``, no hidden files, only
known types, each with its content type, the CSP and cache headers."""

from __future__ import annotations

from pathlib import Path

import azure.functions as func
import pytest

from messenger_channel.console_files import CONSOLE_DIR, CSP, resolve, serve


@pytest.fixture
def root(tmp_path: Path) -> Path:
    console = tmp_path / "console"
    console.mkdir()
    (console / "index.html").write_text("<!doctype html>")
    (console / "app.js").write_text("export {}")
    (console / ".env").write_text("SECRET=1")
    (console / "notes.md").write_text("private")
    (tmp_path / "secret.txt").write_text("outside")
    return console


@pytest.mark.parametrize("path", ["", "/", "index.html", "./index.html"])
def test_the_index_is_the_default(root: Path, path: str) -> None:
    found = serve(path, root)
    assert found.status == 200
    assert found.headers["Content-Type"] == "text/html; charset=utf-8"


@pytest.mark.parametrize("path", [
    "../secret.txt", "..%2fsecret.txt", "a/../../secret.txt", "..\\secret.txt", ".env",
    "notes.md", "missing.js", "/etc/passwd", "C:/Windows/win.ini", "index.html\x00.js",
])
def test_nothing_else_is_served(root: Path, path: str) -> None:
    assert resolve(path, root) is None
    assert serve(path, root).status == 404


def test_headers_allow_only_our_origin_and_revalidate(root: Path) -> None:
    found = serve("app.js", root)
    assert found.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert found.headers["Content-Security-Policy"] == CSP
    assert "default-src 'self'" in CSP and "unsafe-inline" not in CSP
    assert found.headers["Cache-Control"] == "no-cache"
    assert found.headers["X-Content-Type-Options"] == "nosniff"


def test_the_shipped_console_is_complete() -> None:
    for name in ("index.html", "console.css", "main.js", "api.js", "dom.js", "agent.js",
                 "manage.js", "words.js"):
        assert resolve(name, CONSOLE_DIR) is not None, name


def _get(url: str, path: str | None) -> func.HttpResponse:
    from functions.console import console

    request = func.HttpRequest(method="GET", url=url, body=b"",
                               route_params={} if path is None else {"path": path})
    response: func.HttpResponse = console.build().get_user_function()(request)
    return response


def test_the_function_redirects_to_the_slash_and_serves_files() -> None:
    moved = _get("http://h/api/console", None)
    assert (moved.status_code, moved.headers["Location"]) == (308, "/api/console/")
    index = _get("http://h/api/console/", None)
    assert index.status_code == 200 and b"<!doctype html>" in index.get_body()
    assert index.headers["Content-Security-Policy"] == CSP
    assert _get("http://h/api/console/main.js", "main.js").status_code == 200
    assert _get("http://h/api/console/../function_app.py", "../function_app.py").status_code == 404


def test_profile_pictures_may_come_from_facebook_and_from_a_local_graph() -> None:
    from messenger_channel.console_files import content_security_policy

    assert content_security_policy("https://graph.facebook.com/v25.0") == CSP
    assert "img-src 'self' blob: https:;" in CSP and "script-src 'self';" in CSP
    local = content_security_policy("http://127.0.0.1:7300/v25.0")
    assert "img-src 'self' blob: https: http://127.0.0.1:7300;" in local
    assert local.replace(" http://127.0.0.1:7300", "") == CSP


def test_the_live_socket_may_come_from_web_pubsub_only() -> None:
    from messenger_channel.console_files import content_security_policy

    azure = content_security_policy(None, "https://contoso-live.webpubsub.azure.com/")
    assert "connect-src 'self' wss://contoso-live.webpubsub.azure.com;" in azure
    assert azure.replace(" wss://contoso-live.webpubsub.azure.com", "") == CSP
    assert content_security_policy(None, None) == CSP  # the devhost's socket is 'self'
    for odd in ("", "webpubsub.azure.com", "ftp://x", "https://x.azure.com;script-src *",
                "https://a b"):
        assert content_security_policy(None, odd) == CSP, odd
