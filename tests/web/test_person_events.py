"""Changes to a person (merge, unmerge, erasure, language) reach the live inbox and automation as events."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tpbridge.bridge.events import Event, Subscription
from tpbridge.bridge.model import Role

from tests.web.support import web_app


def drain(sub: Subscription) -> list[tuple[str, int, tuple[str, ...]]]:
    """What was published so far (the desk publishes before the route answers)."""
    seen: list[Event] = []
    while not sub.queue.empty():
        event = sub.queue.get_nowait()
        assert event is not None
        seen.append(event)
    return [(e.kind, e.conversation_id, e.changes) for e in seen]


async def test_merge_and_unmerge_publish_an_update_for_each_conversation_of_the_person(tmp_path: Path) -> None:
    async with web_app(tmp_path) as w:
        await w.agent("root@example.com", "Root", Role.ADMIN)
        tg = await w.say("t1", "4242", "hi from telegram", inbox="telegram.main", name="Li Lei")
        mail = await w.say("e1", "lilei@example.com", "hi by email", inbox="email.support", name="Li Lei")
        other = await w.say("w1", "visitor", "someone else", inbox="webchat.site")
        with w.core.bus.subscribe() as sub:
            status, _ = await w.api("POST", f"/api/v1/contacts/{tg.contact_id}/merge", "root@example.com",
                                    {"contact": mail.contact_id})
            assert status == 200
            assert sorted(drain(sub)) == [("conversation.updated", tg.id, ("contact",)),
                                          ("conversation.updated", mail.id, ("contact",))]
            status, _ = await w.api("POST", f"/api/v1/contacts/{mail.contact_id}/unmerge", "root@example.com")
            assert status == 200
            assert sorted(drain(sub)) == [("conversation.updated", tg.id, ("contact",)),
                                          ("conversation.updated", mail.id, ("contact",))]
            # a refused merge changes nothing and says nothing
            assert (await w.api("POST", f"/api/v1/contacts/{mail.contact_id}/unmerge", "root@example.com"))[0] == 422
            assert drain(sub) == []
        assert other.id not in (tg.id, mail.id)


async def test_forgetting_a_person_deletes_their_conversations_live(tmp_path: Path) -> None:
    async with web_app(tmp_path) as w:
        await w.agent("root@example.com", "Root", Role.ADMIN)
        first = await w.say("w1", "visitor", "my phone is 555-0100")
        await w.core.desk.set_status(first.id, "resolved")
        second = await w.say("w2", "visitor", "me again")
        kept = await w.say("w3", "someone", "not me")
        resp = await w.client.get("/api/v1/events", headers={"Authorization": f"Bearer {w.tokens['root@example.com']}"})
        await resp.content.readline()  # ": connected"
        with w.core.bus.subscribe() as sub:
            status, _ = await w.api("DELETE", f"/api/v1/contacts/{first.contact_id}", "root@example.com")
            assert status == 200
            assert sorted(drain(sub)) == [("conversation.deleted", first.id, ()),
                                          ("conversation.deleted", second.id, ())]
        frames: list[dict[str, object]] = []
        async with asyncio.timeout(10):
            async for raw in resp.content:
                line = raw.decode().strip()
                if line.startswith("data: "):
                    frames.append(json.loads(line[6:]))
                    if len(frames) == 2:
                        break
        resp.close()
        assert {(f["kind"], f["conversation"]["id"]) for f in frames} == {  # type: ignore[index]
            ("conversation.deleted", first.id), ("conversation.deleted", second.id)}
        status, page = await w.api("GET", "/api/v1/conversations?status=all", "root@example.com")
        assert [c["id"] for c in page["items"]] == [kept.id]
        assert (await w.api("DELETE", f"/api/v1/contacts/{first.contact_id}", "root@example.com"))[0] == 404


async def test_language_changes_are_events(tmp_path: Path) -> None:
    async with web_app(tmp_path) as w:
        conv = await w.say("w1", "visitor", "我的提现还没到账")
        msg = (await w.core.store.list_messages(conv.id))[0]
        with w.core.bus.subscribe() as sub:
            changed = await w.core.desk.set_message_language(msg.id, "zh")
            await w.core.desk.set_contact_language(conv.contact_id, "zh")
            assert drain(sub) == [("message.updated", conv.id, ()), ("conversation.updated", conv.id, ("contact",))]
        assert changed.language == "zh"
        assert (await w.core.store.get_contact(conv.contact_id)).language == "zh"  # type: ignore[union-attr]
