"""API tokens in the API: list your own (admins: anyone's), create one, revoke one.

The secret is shown once, when created; the store keeps only its hash. A token an agent may
not manage is answered 404, as if it did not exist.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from tpbridge.bridge.model import Agent, iso
from tpbridge.bridge.store.protocol import ApiToken
from tpbridge.bridge.web import audit_api, openapi
from tpbridge.bridge.web.api import read_json
from tpbridge.bridge.web.auth import digest, new_token
from tpbridge.bridge.web.errors import fail, parse_int
from tpbridge.bridge.web.keys import AGENT, CORE, VIEWER

routes = web.RouteTableDef()
MAX_EXPIRY_DAYS = 3650


def _ts(value: float | None) -> str | None:
    return iso(datetime.fromtimestamp(value, UTC)) if value is not None else None


def token_json(token: ApiToken) -> dict[str, Any]:
    return {"id": token.id, "agent_id": token.agent_id, "label": token.label, "created_at": _ts(token.created_at),
            "last_used_at": _ts(token.last_used_at), "expires_at": _ts(token.expires_at)}


async def _whose(request: web.Request, ref: Any) -> Agent:
    """The agent named by ?agent= / "agent" (admins only); the caller when absent."""
    me: Agent = request[AGENT]
    if ref in (None, ""):
        return me
    if not request[VIEWER].is_admin:
        fail(403, "forbidden", "only an admin may manage another agent's tokens")
    store = request.app[CORE].store
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        agent = await store.get_agent(parse_int(str(ref), "agent"))
    elif isinstance(ref, str):
        found = await store.agent_by_email(ref)
        agent = None if found is None else found[0]
    else:
        fail(400, "bad_request", "agent must be an id or an email")
    if agent is None:
        fail(404, "not_found", f"agent {ref} not found")
    return agent


@routes.get("/api/v1/tokens")
async def list_tokens(request: web.Request) -> web.Response:
    agent = await _whose(request, request.query.get("agent"))
    tokens = await request.app[CORE].store.list_tokens(agent.id)
    return web.json_response({"items": [token_json(t) for t in tokens], "next_cursor": None})


@routes.post("/api/v1/tokens")
async def create_token(request: web.Request) -> web.Response:
    body = await read_json(request)
    agent = await _whose(request, body.get("agent"))
    label = body.get("label")
    if label is not None and (not isinstance(label, str) or len(label) > 200):
        fail(400, "bad_request", "label must be a string of at most 200 characters")
    days = body.get("expires_in_days")
    if days is not None and (not isinstance(days, int) or isinstance(days, bool)
                             or not 0 < days <= MAX_EXPIRY_DAYS):
        fail(400, "bad_request", f"expires_in_days must be a whole number from 1 to {MAX_EXPIRY_DAYS}")
    secret = new_token()
    expires_at = datetime.now(UTC).timestamp() + days * 86400 if days else None
    token = await request.app[CORE].store.create_token(agent.id, digest(secret), label, expires_at)
    await audit_api.record(request, "token_create", f"agent:{agent.id}", label=label, token_id=token.id)
    return web.json_response({**token_json(token), "token": secret}, status=201)


@routes.delete("/api/v1/tokens/{id}")
async def revoke_token(request: web.Request) -> web.Response:
    token_id = parse_int(request.match_info["id"], "id")
    store = request.app[CORE].store
    token = await store.get_token(token_id)
    if token is None or (token.agent_id != request[AGENT].id and not request[VIEWER].is_admin):
        fail(404, "not_found", f"token {token_id} not found")
    await store.revoke_token(token_id)
    await audit_api.record(request, "token_revoke", f"agent:{token.agent_id}", token_id=token_id)
    return web.json_response({"deleted": token_id})


def setup(app: web.Application) -> None:
    app.add_routes(routes)
    openapi.register("get", "/api/v1/tokens", "API tokens: your own; admins: ?agent=<id or email>",
                     params=["agent"])
    openapi.register("post", "/api/v1/tokens", "Create an API token (shown once); admins may name another agent",
                     ok=201, body={"type": "object", "properties": {
                         "label": {"type": "string"}, "expires_in_days": {"type": "integer"},
                         "agent": {"type": ["integer", "string"]}}})
    openapi.register("delete", "/api/v1/tokens/{id}", "Revoke an API token (your own; admins: any)")
