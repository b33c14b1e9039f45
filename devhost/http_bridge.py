"""Translate between Starlette requests and ``azure.functions`` HTTP objects."""

from __future__ import annotations

import azure.functions as func
from starlette.requests import Request
from starlette.responses import Response


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request, limit: int) -> bytes:
    """Read the whole body (as the host does), refusing one larger than ``limit`` bytes before
    reading any of it when its ``Content-Length`` says so, and as soon as a chunked one goes past
    it: a client never makes the host read (or hold) more than the limit."""
    declared = request.headers.get("content-length", "").strip()
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge  # the server closes the connection after the answer
        chunks.append(chunk)
    return b"".join(chunks)


def to_function_request(
    request: Request, body: bytes, route_params: dict[str, str]
) -> func.HttpRequest:
    return func.HttpRequest(
        method=request.method,
        url=str(request.url),
        headers=dict(request.headers),
        params=dict(request.query_params),
        route_params=route_params,
        body=body,
    )


def to_starlette_response(result: object) -> Response:
    if result is None:
        return Response(status_code=204)
    if isinstance(result, str):
        return Response(result, media_type="text/plain")
    if not isinstance(result, func.HttpResponse):
        raise TypeError(f"an HTTP function returned {type(result).__name__}, not HttpResponse")
    headers = {k: v for k, v in result.headers.items() if k.lower() != "content-length"}
    media_type = None
    if "content-type" not in {k.lower() for k in headers} and result.mimetype:
        media_type = result.mimetype
        if result.charset and media_type.startswith("text/"):
            media_type += f"; charset={result.charset}"
    return Response(
        result.get_body(), status_code=result.status_code, headers=headers, media_type=media_type
    )
