"""The console's static files: which file a request path names, and how it is served.

Kept apart from the Blueprint so the path rules are unit-tested without a Functions host.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

CONSOLE_DIR = Path(__file__).resolve().parent.parent / "console"

# Only these kinds are served: anything else in the folder stays private.
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}

# Everything from our own origin, nothing inline, no framing: a data-rendering bug cannot load
# or run foreign code. blob: is needed for images fetched with the Authorization header;
# https: for customers' profile pictures, which Facebook serves from its CDN (an image cannot
# run code, and the no-referrer policy keeps the console's address from Facebook).
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: https:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
       "form-action 'self'")


def content_security_policy(graph_url: str | None = None,
                            web_pubsub_endpoint: str | None = None) -> str:
    """The CSP, with the Graph API's origin among the image sources when it is plain http
    (the local simulator, which serves the pictures of its customers itself), and the live
    updates' socket origin among the connections: Web PubSub's own (``WEB_PUBSUB_ENDPOINT``,
    ``https://<name>.webpubsub.azure.com`` → ``wss://<name>.webpubsub.azure.com``), that one
    and no other. Without it (the devhost serves the socket on its own origin) ``'self'``
    already allows it: CSP 3 matches ws:/wss: to the page's own host and port."""
    policy = CSP
    parts = urlsplit(graph_url or "")
    if parts.scheme == "http" and parts.netloc:
        policy = policy.replace("img-src 'self' blob: https:;",
                                f"img-src 'self' blob: https: http://{parts.netloc};")
    socket = _socket_origin(web_pubsub_endpoint)
    if socket:
        policy = policy.replace("connect-src 'self';", f"connect-src 'self' {socket};")
    return policy


def _socket_origin(endpoint: str | None) -> str | None:
    """``wss://host[:port]`` for an https endpoint (``ws://`` for http), or None for anything
    that is not a plain origin (a policy must not carry stray words from a setting)."""
    parts = urlsplit((endpoint or "").strip())
    scheme = {"https": "wss", "http": "ws"}.get(parts.scheme)
    host = parts.netloc
    if not scheme or not host or any(c in host for c in " ;,'\"@"):
        return None
    return f"{scheme}://{host}"


@dataclass(frozen=True)
class ConsoleFile:
    status: int
    body: bytes
    headers: dict[str, str]


def _headers(content_type: str, csp: str = CSP) -> dict[str, str]:
    return {
        "Content-Type": content_type,
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        # Files change with each deployment and carry no version in their names: revalidate.
        "Cache-Control": "no-cache",
    }


def resolve(path: str, root: Path = CONSOLE_DIR) -> Path | None:
    """The file ``path`` names inside ``root``, or None for anything outside it, hidden, or of
    a type we do not serve. The empty path is the index."""
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts:
        parts = ["index.html"]
    if any(p.startswith(".") or "\x00" in p or ":" in p for p in parts):
        return None  # "..", dotfiles, NUL and drive letters never name a console file
    candidate = root.joinpath(*parts).resolve()
    base = root.resolve()
    if not candidate.is_relative_to(base) or not candidate.is_file():
        return None
    if candidate.suffix not in CONTENT_TYPES:
        return None
    return candidate


def serve(path: str, root: Path = CONSOLE_DIR, csp: str = CSP) -> ConsoleFile:
    found = resolve(path, root)
    if found is None:
        return ConsoleFile(404, b"not found", _headers("text/plain; charset=utf-8", csp))
    return ConsoleFile(200, found.read_bytes(), _headers(CONTENT_TYPES[found.suffix], csp))
