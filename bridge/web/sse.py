"""Server-Sent Events for agents: every new message, status and delivery change they may see."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog
from aiohttp import web
from tpbridge.bridge.events import Event, Subscription
from tpbridge.bridge.model import Viewer
from tpbridge.bridge.web.auth import signed_in
from tpbridge.bridge.web.keys import CORE, CREDENTIAL, VIEWER
from tpbridge.bridge.web.serialize import conversation_json, message_json

HEARTBEAT = 15.0
RECHECK = 5.0  # seconds between re-reads of who is watching, whatever the traffic

log = structlog.get_logger(__name__)


def event_json(event: Event) -> dict[str, Any]:
    conv = conversation_json(event.conversation, None, {})
    conv["contact"] = {"id": event.conversation.contact_id}
    if event.conversation.assignee_id is not None:
        conv["assignee"] = {"id": event.conversation.assignee_id, "name": None}
    body: dict[str, Any] = {"kind": event.kind, "conversation": conv}
    if event.message is not None:
        body["message"] = message_json(event.message)
    if event.changes:
        body["changes"] = list(event.changes)
    return body


class Streams:
    """The open event streams per agent, so a disable, a team change or a new password ends them at once."""

    def __init__(self) -> None:
        self._by_agent: dict[int, set[Subscription]] = {}

    @contextmanager
    def track(self, agent_id: int, sub: Subscription) -> Iterator[None]:
        self._by_agent.setdefault(agent_id, set()).add(sub)
        try:
            yield
        finally:
            subs = self._by_agent.get(agent_id)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._by_agent[agent_id]

    def end(self, agent_id: int) -> int:
        """Close every stream of this agent; returns how many there were."""
        subs = self._by_agent.pop(agent_id, set())
        for sub in subs:
            sub.close()
        return len(subs)


STREAMS: web.AppKey[Streams] = web.AppKey("tpb.sse_streams", Streams)


async def stream(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    """Serve the events of conversations the viewer may see, checked per event (assignments change).

    Who is watching is re-read every RECHECK seconds whatever the traffic (the credential still
    valid, the agent enabled, the same teams), and the admin API ends an agent's streams at once.
    A client that goes away is normal, not an error.
    """
    core = request.app[CORE]
    resp = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no",
    })
    loop = asyncio.get_running_loop()
    try:
        await resp.prepare(request)
        with core.bus.subscribe(remote=True) as sub, request.app[STREAMS].track(viewer.agent_id, sub):
            await resp.write(b": connected\n\n")  # only once subscribed: a client may act on it at once
            recheck_at = loop.time() + RECHECK
            beat_at = loop.time() + HEARTBEAT
            while True:
                now = loop.time()
                if now >= recheck_at:
                    fresh = await _refresh(request, viewer)
                    if fresh is None:
                        break
                    viewer = fresh
                    recheck_at = now + RECHECK
                if now >= beat_at:
                    await resp.write(b": keep-alive\n\n")
                    beat_at = now + HEARTBEAT
                try:
                    event = await sub.get(max(min(recheck_at, beat_at) - now, 0.01))
                except TimeoutError:
                    continue
                if event is None:  # the subscription was closed (too slow a reader, or shutting down)
                    break
                if not viewer.may_see(event.conversation):
                    continue
                data = json.dumps(event_json(event), ensure_ascii=False)
                await resp.write(f"event: {event.kind}\ndata: {data}\n\n".encode())
    except ConnectionError:  # aiohttp's ClientConnectionResetError is one
        log.debug("sse.client_gone", agent_id=viewer.agent_id)
    return resp


async def _refresh(request: web.Request, viewer: Viewer) -> Viewer | None:
    """Teams and roles change: a long-lived stream re-reads who is watching. None ends the stream:
    the token or session is gone (revoked, expired, a new password), the agent is disabled, or
    the agent lost a team or an inbox (the client reconnects and sees only what it may)."""
    store = request.app[CORE].store
    credential = request.get(CREDENTIAL)
    if credential is not None:  # still valid: its agent and their viewer in one read
        signed = await signed_in(store, *credential)
        agent, fresh = (None, None) if signed is None else (signed.agent, signed.viewer)
    else:
        agent = await store.get_agent(viewer.agent_id)
        fresh = None if agent is None else await store.viewer(agent)
    if agent is None or fresh is None or agent.disabled or agent.id != viewer.agent_id:
        return None
    if not set(viewer.teams) <= set(fresh.teams) or not set(viewer.team_inboxes) <= set(fresh.team_inboxes) or (
            viewer.is_admin and not fresh.is_admin):
        return None
    return fresh


async def events(request: web.Request) -> web.StreamResponse:
    return await stream(request, request[VIEWER])
