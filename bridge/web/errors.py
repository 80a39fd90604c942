"""JSON errors per SPEC: {"error": {"code", "message"}} with a fitting status."""

from __future__ import annotations

from typing import Any, NoReturn, TypeGuard

from aiohttp import web
from tpbridge.bridge.store.protocol import BIGINT


def error_response(status: int, code: str, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers or None)


def fail(status: int, code: str, message: str) -> NoReturn:
    """Raise an HTTP error carrying the JSON body (aiohttp sends raised responses as they are)."""
    cls: Any = {400: web.HTTPBadRequest, 401: web.HTTPUnauthorized, 403: web.HTTPForbidden,
                404: web.HTTPNotFound, 405: web.HTTPMethodNotAllowed, 409: web.HTTPConflict,
                413: web.HTTPRequestEntityTooLarge, 415: web.HTTPUnsupportedMediaType,
                422: web.HTTPUnprocessableEntity, 429: web.HTTPTooManyRequests,
                503: web.HTTPServiceUnavailable}.get(status, web.HTTPBadRequest)
    body = web.json_response({"error": {"code": code, "message": message}}).text
    if cls is web.HTTPRequestEntityTooLarge:
        raise cls(max_size=0, actual_size=0, text=body, content_type="application/json")
    if cls is web.HTTPMethodNotAllowed:
        raise cls("", [], text=body, content_type="application/json")
    raise cls(text=body, content_type="application/json")


def parse_int(value: str, name: str) -> int:
    try:
        number = int(value)
    except ValueError:
        fail(400, "bad_request", f"{name} must be a number")
    if not -BIGINT <= number < BIGINT:
        fail(400, "bad_request", f"{name} is out of range")
    return number


def is_id(value: object) -> TypeGuard[int]:
    """A JSON number that can name a row: an integer (not a boolean) within 64 bits."""
    return isinstance(value, int) and not isinstance(value, bool) and -BIGINT <= value < BIGINT
