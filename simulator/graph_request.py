"""A Graph call as the handlers see it: parameters from the query and the body, the token, files.

Graph takes every parameter either in the query string or in the body (JSON, form or
multipart) and decodes object-valued form fields from JSON, so the handlers see one mapping.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException
from starlette.requests import Request

from simulator.graph_errors import GraphError, invalid_param

VERSION = re.compile(r"^v\d+\.\d+$")
_SECRET_PARAMS = ("access_token", "input_token")


@dataclass
class UploadedFile:
    filename: str
    content_type: str
    content: bytes


@dataclass
class GraphRequest:
    method: str
    # The path after the optional version segment: node, then edge.
    segments: list[str]
    params: dict[str, Any]
    token: str | None
    files: dict[str, UploadedFile] = field(default_factory=dict)
    body_for_log: Any = None

    def json_param(self, name: str) -> Any:
        """A parameter that holds an object: sent as JSON, or as a JSON string in a form."""
        value = self.params.get(name)
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            pass
        try:
            # Meta's own curl examples send recipient={'id':'...'}; Graph accepts it.
            return json.loads(value.replace("'", '"'))
        except json.JSONDecodeError:
            raise invalid_param(f"param {name} must be a JSON object") from None

    def str_param(self, name: str) -> str | None:
        value = self.params.get(name)
        return None if value is None else str(value)


async def parse(request: Request, path: str) -> GraphRequest:
    segments = [s for s in path.split("/") if s]
    if segments and VERSION.match(segments[0]):
        # Any version answers alike: the product pins one, the simulator follows.
        segments.pop(0)
    params: dict[str, Any] = dict(request.query_params)
    files: dict[str, UploadedFile] = {}
    body_for_log: Any = None
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        raw = await request.body()
        if raw:
            try:
                body = json.loads(raw)
            except json.JSONDecodeError:
                raise invalid_param("Invalid JSON in the request body") from None
            if not isinstance(body, dict):
                raise invalid_param("The request body must be a JSON object")
            params.update(body)
            body_for_log = redact(body)
    elif content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        try:
            form = await request.form()
        except MultiPartException as error:
            raise invalid_param(f"Invalid form body: {error.message}") from None
        logged: dict[str, Any] = {}
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                content = await value.read()
                files[key] = UploadedFile(value.filename or key,
                                          value.content_type or "application/octet-stream",
                                          content)
                logged[key] = {"filename": files[key].filename,
                               "content_type": files[key].content_type, "size": len(content)}
            else:
                params[key] = value
                logged[key] = value
        body_for_log = redact(logged)
    return GraphRequest(method=request.method, segments=segments, params=params,
                        token=_token(request, params), files=files, body_for_log=body_for_log)


def _token(request: Request, params: dict[str, Any]) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() in ("bearer", "oauth") and value.strip():
        return value.strip()
    token = params.get("access_token")
    if token is not None and not isinstance(token, str):
        raise GraphError(190)
    return token or None


def redact(values: dict[str, Any]) -> dict[str, Any]:
    """Tokens shortened to their first 6 characters, so logs never hold a usable one."""
    return {k: (f"{str(v)[:6]}…" if k in _SECRET_PARAMS and v else v) for k, v in values.items()}
