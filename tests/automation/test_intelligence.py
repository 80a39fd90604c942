"""Service intelligence end to end below the daemon: the learned classifier, languages, security incidents,
alerts to a webhook on 127.0.0.1, complaints, X public threads. Models load once per test session."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from tpbridge.adapters.base import ThreadHint
from tpbridge.bridge.automation import alerts
from tpbridge.bridge.model import Author, AuthorKind, Priority

from tests.automation.harness import harness
from tests.support.core import inbound

TEAMS = {"security": {"categories": ["security"]}, "support": {"languages": ["zh", "en"]},
         "intl": {"languages": []}}
AUTO = {"default_team": "intl"}


async def test_first_message_is_classified_even_when_the_bot_is_off_and_again_while_no_human_has_it(
        tmp_path: Path) -> None:
    auto = {**AUTO, "inboxes": {"webchat.site": {"bot": "off"}}}
    async with harness(tmp_path, auto, TEAMS, learned=True) as h:
        conv = await h.say("my withdrawal has been under review since monday, ref W-20931")
        found = conv.attrs["classification"]
        assert conv.category == "transaction" and found["by"] == "model"
        assert 0 < found["confidence"] <= 1 and "learned model" in found["reason"]
        assert conv.team == "support" and conv.priority == Priority.NORMAL
        # Queued, no person on it yet: the next message changes the picture.
        conv = await h.say("update: now my whole balance is gone and I never withdrew it")
        assert conv.category == "security" and conv.priority == Priority.URGENT and conv.team == "security"
        assert conv.attrs["classification"]["by"] == "rule"


async def test_an_agents_category_is_kept(tmp_path: Path) -> None:
    async with harness(tmp_path, AUTO, TEAMS, learned=True) as h:
        conv = await h.say("the app crashes on start")
        await h.core.desk.update(conv.id, category="account", attrs={"classification": {"by": "agent"}})
        conv = await h.say("also the chart page is blank")
        assert conv.category == "account"


async def test_traditional_chinese_is_stored_and_answered_in_traditional(tmp_path: Path) -> None:
    async with harness(tmp_path, AUTO, TEAMS, learned=True) as h:
        conv = await h.say("請問提幣的手續費大概多少？")
        assert conv.language == "zh-Hant"
        texts = await h.bot_texts(conv.id)
        assert len(texts) == 1 and "提領收取網路手續費" in texts[0] and "解決您的問題" in texts[0]


async def test_japanese_gets_the_japanese_answer_and_french_the_default_language(tmp_path: Path) -> None:
    async with harness(tmp_path, AUTO, TEAMS, learned=True) as h:
        ja = await h.say("パスワードを忘れてログインできません", "ja")
        assert ja.language == "ja" and "パスワードのリセット" in (await h.bot_texts(ja.id))[0]
        fr = await h.say("Bonjour, pouvez-vous m'expliquer comment exporter mon historique en PDF ?", "fr")
        assert fr.language == "fr"  # the real language is stored and shown ...
        assert "Thanks, we have your message" in (await h.bot_texts(fr.id))[-1]  # ... the reply is in English
        assert fr.team == "intl"  # routed by language: no team names French, the one taking any language has it


async def test_complaint_goes_to_a_person_without_an_faq_answer(tmp_path: Path) -> None:
    async with harness(tmp_path, AUTO, TEAMS, learned=True) as h:
        conv = await h.say("Third time I write about my deposit and nobody helps. Terrible service, I want a manager")
        assert conv.category == "complaint" and conv.attrs["automation"]["stage"] == "human"
        assert not any(m.extra.get("faq") for m in await h.messages(conv.id))


HOOK_SECRET = "on-call-shared-secret"


class Webhook:
    """The on-call's webhook receiver on 127.0.0.1: records every POST; answers with the statuses queued."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.signed: list[bool] = []  # each POST's signature checked as a receiver would
        self.statuses: list[int] = []
        self.got = asyncio.Event()
        app = web.Application()
        app.router.add_post("/page", self.page)
        self.server = TestServer(app, host="127.0.0.1")

    async def page(self, request: web.Request) -> web.Response:
        raw = await request.read()
        stamp = request.headers.get("X-Tpbridge-Timestamp", "")
        want = "sha256=" + hmac.new(HOOK_SECRET.encode(), stamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
        self.signed.append(hmac.compare_digest(request.headers.get("X-Tpbridge-Signature", ""), want)
                           and abs(time.time() - int(stamp)) < 300)
        self.posts.append(json.loads(raw))
        self.got.set()
        return web.json_response({}, status=self.statuses.pop(0) if self.statuses else 200)

    @property
    def url(self) -> str:
        return str(self.server.make_url("/page"))


async def test_security_incident_is_urgent_gets_a_safety_reply_no_faq_and_pages_until_acknowledged(
        tmp_path: Path) -> None:
    hook = Webhook()
    await hook.server.start_server()
    try:
        auto = {**AUTO, "alerts": {"webhook_url": hook.url, "webhook_secret": HOOK_SECRET, "repeat_minutes": 15}}
        async with harness(tmp_path, auto, TEAMS, learned=True) as h:
            conv = await h.say("my password was changed by someone else")
            assert conv.category == "security" and conv.priority == Priority.URGENT and conv.team == "security"
            msgs = await h.messages(conv.id)
            assert not any(m.extra.get("faq") for m in msgs)  # never the password-reset FAQ
            texts = await h.bot_texts(conv.id)
            assert len(texts) == 1 and "Never share your seed phrase" in texts[0]
            assert "Security incident" in (await h.notes(conv.id))[0] or "security" in (await h.notes(conv.id))[0]
            # paged at once, with the SPEC's fields
            assert len(hook.posts) == 1
            post = hook.posts[0]
            assert {"conversation_id", "category", "priority", "language", "summary", "url"} <= set(post)
            assert post["conversation_id"] == conv.id and post["category"] == "security"
            assert post["priority"] == "urgent" and post["language"] == "en"
            assert hook.signed == [True]  # signed with the shared secret, freshly
            # ... again every repeat_minutes until someone acknowledges
            await alerts.deliver_due(h.a)
            assert len(hook.posts) == 1  # not due yet
            later = h.a.now() + timedelta(minutes=16)
            h.a.now = lambda: later  # type: ignore[method-assign]
            await alerts.deliver_due(h.a)
            assert len(hook.posts) == 2
            conv = await alerts.acknowledge(h.a, conv, agent_id=1)
            await alerts.deliver_due(h.a)
            assert len(hook.posts) == 2 and conv.attrs["alert"]["state"] == "acknowledged"
            # a failing receiver is recorded and retried later, the incident stays open
            hook.statuses = [500]
            other = await h.say("someone logged into my account from another country and withdrew my USDT", "u2")
            alert = other.attrs["alert"]
            conv2 = await h.core.store.get_conversation(other.id)
            assert conv2 is not None
            target = conv2.attrs["alert"]["targets"]["webhook"]
            assert alert["state"] == "open" and target["attempts"] == 1 and "HTTP 500" in target["error"]
    finally:
        await hook.server.close()


async def test_x_public_thread_gets_only_the_pointer_to_dms(tmp_path: Path) -> None:
    async with harness(tmp_path, AUTO, TEAMS, learned=True) as h:
        record = inbound(uuid.uuid4().hex, "x-user-1", "@wallet how do I reset my password?", inbox="x.main",
                         thread=ThreadHint(key="tweet:1"), conversation_attrs={"public": True})
        items = await h.core.pipeline.ingest("x.main", "x", [record])
        await h.settle()
        conv_id = items[0].conversation.id  # type: ignore[union-attr]
        texts = await h.bot_texts(conv_id)
        assert texts == ["Thanks for reaching out. To keep your details private, please send us a direct message "
                         "and we will help you there."]
        conv = await h.core.store.get_conversation(conv_id)
        assert conv is not None and conv.attrs["automation"]["stage"] == "human"
        # a person answers and resolves: no survey is posted in public
        await h.answer_and_resolve(conv_id, await h.agent("a@example.com"), "Sent you a DM")
        assert await h.bot_texts(conv_id) == texts


async def test_a_silent_public_policy_posts_nothing(tmp_path: Path) -> None:
    async with harness(tmp_path, {**AUTO, "public_threads": "silent"}, TEAMS, learned=True) as h:
        record = inbound(uuid.uuid4().hex, "x-user-2", "@wallet my deposit never arrived", inbox="x.main",
                         thread=ThreadHint(key="tweet:2"), conversation_attrs={"public": True})
        items = await h.core.pipeline.ingest("x.main", "x", [record])
        await h.settle()
        assert await h.bot_texts(items[0].conversation.id) == []  # type: ignore[union-attr]


async def test_agent_reply_in_public_is_not_blocked(tmp_path: Path) -> None:
    async with harness(tmp_path, AUTO, TEAMS, learned=True) as h:
        record = inbound(uuid.uuid4().hex, "x-user-3", "@wallet hi", inbox="x.main",
                         thread=ThreadHint(key="tweet:3"), conversation_attrs={"public": True})
        items = await h.core.pipeline.ingest("x.main", "x", [record])
        await h.settle()
        conv_id = items[0].conversation.id  # type: ignore[union-attr]
        agent = await h.agent("b@example.com")
        await h.core.desk.reply(conv_id, "Hello from a person", author=Author(AuthorKind.AGENT, agent, "b"))
        assert any(m.text == "Hello from a person" for m in await h.messages(conv_id))


async def test_sla_first_response_breach_is_marked_once_and_published(tmp_path: Path) -> None:
    auto = {**AUTO, "sla": {"normal": {"first_response_minutes": 30}}}
    async with harness(tmp_path, auto, TEAMS) as h:
        from tpbridge.bridge.automation import sla

        conv = await h.say("human please")
        assert await sla.check(h.a) == 0  # not due yet
        later = h.a.now() + timedelta(minutes=31)
        h.a.now = lambda: later  # type: ignore[method-assign]
        sub = h.core.bus.subscribe()
        assert await sla.check(h.a) == 1
        event = sub.queue.get_nowait()
        assert event is not None and event.conversation_id == conv.id and "attrs" in event.changes
        stored = await h.core.store.get_conversation(conv.id)
        assert stored is not None and stored.attrs["sla"]["breached"] == ["first_response"]
        assert await sla.check(h.a) == 0  # once
        sub.close()


async def test_sla_resolution_breach_is_marked_for_an_open_conversation(tmp_path: Path) -> None:
    auto = {**AUTO, "sla": {"normal": {"first_response_minutes": 30, "resolution_minutes": 60}}}
    async with harness(tmp_path, auto, TEAMS) as h:
        from tpbridge.bridge.automation import sla

        agent = await h.agent("a@example.com", teams=("support",))
        conv = await h.say("human please")
        assert conv.assignee_id == agent  # taken at once: no first-response breach can follow
        await h.core.desk.reply(conv.id, "Looking into it", author=Author(AuthorKind.AGENT, agent, "a"))
        assert await sla.check_resolution(h.a, force=True) == 0
        later = h.a.now() + timedelta(minutes=61)
        h.a.now = lambda: later  # type: ignore[method-assign]
        assert await sla.check_resolution(h.a, force=True) == 1
        stored = await h.core.store.get_conversation(conv.id)
        assert stored is not None and stored.attrs["sla"]["breached"] == ["resolution"]
        assert await sla.check_resolution(h.a, force=True) == 0  # once
