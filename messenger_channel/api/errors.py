"""The API's error shape: ``{"error": code, "message": words}``; 422 adds ``fields``.

The one translation from the core's refusals (``messenger_channel.errors``) to HTTP lives
here, in ``STATUS_OF``; routes let refusals through and the handler answers them. ``ApiError``
is for what only the HTTP layer knows (a key, a cursor, a body's size).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from messenger_channel.errors import (
    Conflict,
    Forbidden,
    Invalid,
    Missing,
    Refusal,
    TooLarge,
    Unsupported,
)
from messenger_channel.storage.errors import InvalidKey


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str,
                 fields: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields


class ErrorBody(BaseModel):
    error: str
    message: str


class FieldError(BaseModel):
    field: str
    message: str


class ValidationErrorBody(ErrorBody):
    fields: list[FieldError]


def documented(answers: Mapping[int, str]) -> dict[int | str, dict[str, Any]]:
    """A route's ``responses=``: the errors only its own work answers (a 409 and its codes, a
    503), each in the error shape. ``api/openapi.py`` adds those a route answers for what it
    is (401/403 by its key, 404 for an id in its path, 400/413/422 for its input)."""
    return {status: {"model": ValidationErrorBody if status == 422 else ErrorBody,
                     "description": description}
            for status, description in answers.items()}


STATUS_OF: dict[type[Refusal], int] = {
    Missing: 404, Forbidden: 403, Conflict: 409, Invalid: 422, TooLarge: 413,
    Unsupported: 415,
}


def refusal_status(refusal: Refusal) -> int:
    for kind in type(refusal).__mro__:
        if kind in STATUS_OF:
            return STATUS_OF[kind]
    return 400


def refusal_response(refusal: Refusal) -> JSONResponse:
    fields = None
    if isinstance(refusal, Invalid) and any(field for field, _ in refusal.problems):
        fields = [{"field": field or "body", "message": message}
                  for field, message in refusal.problems]
    return error_response(refusal_status(refusal), refusal.code, refusal.message, fields)


def error_response(status: int, code: str, message: str,
                   fields: list[dict[str, str]] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": code, "message": message}
    if fields is not None:
        body["fields"] = fields
    return JSONResponse(body, status_code=status)


def _field_name(location: tuple[Any, ...]) -> str:
    # ("body", "rules", 0, "when") -> "rules[0].when"; the "body"/"query" prefix says nothing.
    prefixes = ("body", "query", "path")
    parts = list(location[1:] if location and location[0] in prefixes else location)
    name = ""
    for part in parts:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "body"


_STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed", 409: "conflict", 413: "body_too_large",
                 415: "unsupported_media_type"}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, error: ApiError) -> JSONResponse:
        return error_response(error.status, error.code, error.message, error.fields)

    @app.exception_handler(Refusal)
    async def _refusal(_: Request, refusal: Refusal) -> JSONResponse:
        return refusal_response(refusal)

    @app.exception_handler(InvalidKey)
    async def _invalid_key(_: Request, error: InvalidKey) -> JSONResponse:
        # A key the storage refuses (a control character, too long) is an id never issued.
        return error_response(404, "not_found", "no such resource")

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = error.errors()
        if any(p.get("type") == "json_invalid" for p in problems):
            return error_response(400, "invalid_json", "the body is not valid JSON")
        fields = [{"field": _field_name(tuple(p.get("loc", ()))),
                   "message": str(p.get("msg", "invalid")).removeprefix("Value error, ")}
                  for p in problems]
        summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
        return error_response(422, "validation_error", summary, fields)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, error: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(error.status_code, "error")
        message = error.detail if isinstance(error.detail, str) else code.replace("_", " ")
        return error_response(error.status_code, code, message)
