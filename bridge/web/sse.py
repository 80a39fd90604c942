"""Server-Sent Events for agents: every new message, status and delivery change they may see."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web
from tpbridge.bridge.events import Event
from tpbridge.bridge.model import Viewer
from tpbridge.bridge.web.keys import CORE, VIEWER
from tpbridge.bridge.web.serialize import conversation_json, message_json

HEARTBEAT = 15.0


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


async def stream(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    """Serve the events of conversations the viewer may see, checked per event (assignments change)."""
    core = request.app[CORE]
    resp = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no",
    })
    await resp.prepare(request)
    with core.bus.subscribe(remote=True) as sub:
        await resp.write(b": connected\n\n")  # only once subscribed: a client may act on it at once
        it = aiter(sub)
        while True:
            try:
                event = await asyncio.wait_for(anext(it), HEARTBEAT)
            except TimeoutError:
                await resp.write(b": keep-alive\n\n")
                fresh = await _refresh(request, viewer)
                if fresh is None:
                    break
                viewer = fresh
                continue
            except StopAsyncIteration:
                break
            if not viewer.may_see(event.conversation):
                continue
            data = json.dumps(event_json(event), ensure_ascii=False)
            await resp.write(f"event: {event.kind}\ndata: {data}\n\n".encode())
    return resp


async def _refresh(request: web.Request, viewer: Viewer) -> Viewer | None:
    """Teams and roles change: a long-lived stream re-reads who is watching on each heartbeat."""
    store = request.app[CORE].store
    agent = await store.get_agent(viewer.agent_id)
    if agent is None or agent.disabled:
        return None  # the agent was removed or disabled: end the stream
    return await store.viewer(agent)


async def events(request: web.Request) -> web.StreamResponse:
    return await stream(request, request[VIEWER])
