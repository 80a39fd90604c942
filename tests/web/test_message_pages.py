"""A long conversation is read a page at a time, newest first (both stores, the API and the inbox)."""

from __future__ import annotations

from pathlib import Path

from tpbridge.bridge.model import Role
from tpbridge.bridge.store.protocol import PreparedInbound

from tests.support.core import inbound, running_core
from tests.web.support import web_app


async def test_pages_of_messages_newest_first_oldest_first_within(tmp_path: Path, store_url: str) -> None:
    async with running_core(tmp_path, url=store_url) as core:
        batch = [PreparedInbound(inbound(f"m{i}", text=f"message {i}"), None) for i in range(25)]
        items = await core.store.ingest("webchat.site", "webchat", batch, None)
        conv_id = items[0].conversation.id if items[0].conversation else 0
        everything = await core.store.list_messages(conv_id)
        assert [m.text for m in everything] == [f"message {i}" for i in range(25)]
        newest = await core.store.list_messages(conv_id, limit=10)
        assert [m.text for m in newest] == [f"message {i}" for i in range(15, 25)]
        before = await core.store.list_messages(conv_id, limit=10, before=newest[0].id)
        assert [m.text for m in before] == [f"message {i}" for i in range(5, 15)]
        last = await core.store.list_messages(conv_id, limit=10, before=before[0].id)
        assert [m.text for m in last] == [f"message {i}" for i in range(5)]


async def test_the_api_pages_with_a_cursor_and_refuses_bad_ones(tmp_path: Path) -> None:
    async with web_app(tmp_path) as w:
        await w.agent("root@example.com", "Root", Role.ADMIN)
        conv = None
        for i in range(7):
            conv = await w.say(f"m{i}", "v1", f"message {i}")
        assert conv is not None
        headers = {"Authorization": f"Bearer {w.tokens['root@example.com']}"}
        path = f"/api/v1/conversations/{conv.id}/messages"
        seen: list[str] = []
        cursor = ""
        while True:
            resp = await w.client.get(path + f"?limit=3{cursor}", headers=headers)
            assert resp.status == 200
            page = await resp.json()
            seen = [m["text"] for m in page["items"]] + seen
            if page["next_cursor"] is None:
                break
            cursor = f"&cursor={page['next_cursor']}"
        assert seen == [f"message {i}" for i in range(7)]
        whole = await (await w.client.get(path, headers=headers)).json()
        assert [m["text"] for m in whole["items"]] == seen and whole["next_cursor"] is None
        for bad in ("?limit=0", "?limit=x", "?limit=5&cursor=abc", "?limit=100000"):
            resp = await w.client.get(path + bad, headers=headers)
            assert resp.status == 400, bad
            assert (await resp.json())["error"]["code"] == "bad_request"
