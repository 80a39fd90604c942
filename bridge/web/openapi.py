"""The OpenAPI document at /api/v1/openapi.json; a test checks it names exactly the routes served."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiohttp import web
from tpbridge.bridge.model import Priority, Status

ERROR = {"$ref": "#/components/schemas/Error"}
CONVERSATION = {"$ref": "#/components/schemas/Conversation"}


def _op(summary: str, *, body: dict[str, Any] | None = None, ok: int = 200, params: Sequence[str] = (),
        schemas: dict[str, dict[str, Any]] | None = None, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """`params`: query parameters, strings unless `schemas` says otherwise; `schema`: the answer's."""
    op: dict[str, Any] = {
        "summary": summary,
        "responses": {str(ok): {"description": "OK"}, "401": {"description": "no or wrong token", "content": {
            "application/json": {"schema": ERROR}}}},
    }
    if schema is not None:
        op["responses"][str(ok)]["content"] = {"application/json": {"schema": schema}}
    if params:
        op["parameters"] = [{"name": p, "in": "query", "required": False,
                             "schema": (schemas or {}).get(p, {"type": "string"})} for p in params]
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


def _obj(**props: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props}


S, B = {"type": "string"}, {"type": "boolean"}
PRIORITY = {"enum": [p.word for p in Priority]}
STATUS = {"enum": [s.value for s in Status]}

# (method, path) -> operation. Other modules add theirs with `register`.
OPERATIONS: dict[tuple[str, str], dict[str, Any]] = {
    ("get", "/api/v1/conversations"): _op(
        "Conversations, newest activity first (keyset pagination)",
        params=["status", "inbox", "channel", "assignee", "team", "label", "priority", "contact", "q", "limit",
                "cursor"],
        schemas={"status": {"enum": [*STATUS["enum"], "all"]}, "priority": PRIORITY, "contact": {"type": "integer"},
                 "limit": {"type": "integer", "minimum": 1, "maximum": 200}},
        schema=_obj(items={"type": "array", "items": CONVERSATION}, next_cursor={"type": ["string", "null"]})),
    ("get", "/api/v1/conversations/{id}"): _op("One conversation with its contact and identities",
                                                schema=CONVERSATION),
    ("get", "/api/v1/conversations/{id}/messages"): _op(
        "Every message, oldest first; with `limit`, the newest that many (`next_cursor`: the page before)",
        params=["limit", "cursor"], schemas={"limit": {"type": "integer", "minimum": 1, "maximum": 1000},
                                             "cursor": {"type": "string", "pattern": "^[0-9]+$"}}),
    ("post", "/api/v1/conversations/{id}/messages"): _op(
        "Reply (or a private note); delivered by the outbox", ok=202,
        body=_obj(text=S, private=B, reply_to={"type": "integer"})),
    ("post", "/api/v1/conversations/{id}/assign"): _op(
        "Assign to an agent and/or a team", body=_obj(agent={"type": ["integer", "string", "null"]},
                                                     team={"type": ["string", "null"]})),
    ("post", "/api/v1/conversations/{id}/status"): _op(
        "Set the status", body=_obj(status={"enum": ["open", "pending", "snoozed", "resolved"]},
                                    until={"type": ["string", "null"], "format": "date-time"})),
    ("post", "/api/v1/conversations/{id}/labels"): _op("Replace the labels", body=_obj(labels={"type": "array",
                                                                                            "items": S})),
    ("post", "/api/v1/conversations/{id}/read"): _op("Mark the conversation read"),
    ("get", "/api/v1/events"): _op("Server-Sent Events: messages, status and delivery changes"),
    ("get", "/api/v1/contacts/{id}"): _op("A person across channels"),
    ("get", "/api/v1/contacts/{id}/export"): _op("Everything stored about a person (admin)"),
    ("delete", "/api/v1/contacts/{id}"): _op("Erase a person everywhere (admin)"),
    ("get", "/api/v1/attachments/{id}"): _op("Download an attachment the caller may see"),
    ("get", "/api/v1/me"): _op("The authenticated agent"),
    ("get", "/api/v1/quarantine"): _op("Messages that could not be parsed, with the reason (admin)"),
    ("get", "/api/v1/openapi.json"): _op("This document"),
}


def register(method: str, path: str, summary: str, **kw: Any) -> None:
    OPERATIONS[(method.lower(), path)] = _op(summary, **kw)


def document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for (method, path), op in sorted(OPERATIONS.items()):
        entry = paths.setdefault(path, {})
        entry[method] = op
        if "{id}" in path:
            entry.setdefault("parameters", [{"name": "id", "in": "path", "required": True,
                                             "schema": {"type": "integer"}}])
    return {
        "openapi": "3.1.0",
        "info": {"title": "tpbridge", "version": "1"},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": _obj(error=_obj(code=S, message=S)),
                "Conversation": _obj(id={"type": "integer"}, inbox=S, channel=S, status=STATUS, priority=PRIORITY,
                                     subject={"type": ["string", "null"]}, unread={"type": "integer"},
                                     public={"type": "boolean"},
                                     reply_window_ends_at={"type": ["string", "null"], "format": "date-time"}),
            },
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }


async def serve(request: web.Request) -> web.Response:
    return web.json_response(document())
