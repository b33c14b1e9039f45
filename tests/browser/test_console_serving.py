"""The console over the devhost's HTTP: the redirect to the slash, headers, no traversal."""

from __future__ import annotations

import httpx

from tests.support.product import Product


def test_served_with_its_headers_and_nothing_outside(product: Product) -> None:
    with httpx.Client(base_url=f"{product.devhost_url}/api", timeout=30) as http:
        moved = http.get("/console")
        assert (moved.status_code, moved.headers["location"]) == (308, "/api/console/")
        index = http.get("/console/")
        assert index.status_code == 200
        assert index.headers["content-type"] == "text/html; charset=utf-8"
        assert "default-src 'self'" in index.headers["content-security-policy"]
        assert index.headers["cache-control"] == "no-cache"
        # The icon the page names: browsers ask for no /favicon.ico that would 404.
        assert '<link rel="icon" href="favicon.svg"' in index.text
        icon = http.get("/console/favicon.svg")
        assert (icon.status_code, icon.headers["content-type"]) == (200, "image/svg+xml")
        script = http.get("/console/main.js")
        assert script.headers["content-type"] == "text/javascript; charset=utf-8"
        for path in ("/console/%2e%2e/function_app.py", "/console/..%2Ffunction_app.py",
                     "/console/%2e%2e%2f%2e%2e%2fetc/passwd", "/console/missing.js"):
            assert http.get(path).status_code == 404, path
