"""A person erased while the inbox reads their conversations: the list leaves them out, it never shows
a conversation without its person (the API once answered `"contact": null`, which broke clients)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tpbridge.bridge.model import Role

from tests.web.support import web_app


async def test_a_conversation_erased_between_the_two_reads_is_left_out(tmp_path: Path) -> None:
    async with web_app(tmp_path) as w:
        await w.agent("root@example.com", "Root", Role.ADMIN)
        kept = await w.say("w1", "visitor one", "hello")
        gone = await w.say("w2", "visitor two", "please erase me")
        store = w.core.store

        async def list_then_erase(*args: Any, **kwargs: Any) -> Any:
            """conversation_page's two statements with the erasure landing between them."""
            page = await store.list_conversations(*args, **kwargs)
            await store.forget_contact(gone.contact_id)
            return page, *await store.contacts_and_agents([c.contact_id for c in page.items], [])

        store.conversation_page = list_then_erase  # type: ignore[method-assign]
        status, body = await w.api("GET", "/api/v1/conversations?status=all", "root@example.com")
        assert status == 200
        assert [c["id"] for c in body["items"]] == [kept.id]
        assert all(c["contact"] is not None for c in body["items"])


async def test_one_conversation_whose_person_is_gone_is_not_found(tmp_path: Path) -> None:
    async with web_app(tmp_path) as w:
        await w.agent("root@example.com", "Root", Role.ADMIN)
        conv = await w.say("w1", "visitor", "please erase me")
        store = w.core.store
        got = store.get_conversation

        async def get_then_erase(*args: Any, **kwargs: Any) -> Any:
            found = await got(*args, **kwargs)
            await store.forget_contact(conv.contact_id)
            return found

        store.get_conversation = get_then_erase  # type: ignore[method-assign]
        status, body = await w.api("GET", f"/api/v1/conversations/{conv.id}", "root@example.com")
        assert status == 404 and body["error"]["code"] == "not_found"
