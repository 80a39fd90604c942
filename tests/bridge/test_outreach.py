"""The desk writes first (`POST /api/v1/conversations`) within each channel's rules, and people link
their channels with a one-time code — the daemon as a subprocess against the channels' fakes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tpbridge.adapters import first_contact
from tpbridge.adapters.base import ChannelRule, Reach

from tests.adapters.test_email_daemon import agent_mail, customer_mail
from tests.adapters.test_email_daemon import bridge as email_bridge
from tests.adapters.test_telegram_daemon import channels as telegram_channels
from tests.adapters.test_wechat_daemon import AES_KEY, TOKEN, push, text_xml
from tests.adapters.test_x_daemon import SECRET as X_SECRET
from tests.adapters.test_x_daemon import channel_toml as x_channel
from tests.adapters.test_x_daemon import deliver as x_deliver
from tests.adapters.test_x_daemon import started as x_started
from tests.fakes.dovecot import available as dovecot_available
from tests.fakes.telegram_api import FakeTelegram, message_update
from tests.fakes.wechat_api import FakeWechatApi, WechatPusher, push_xml
from tests.fakes.x_api import FakeXApi
from tests.support.daemon import Daemon, Visitor

pytestmark = pytest.mark.slow


async def _start(d: Daemon, **body: Any) -> tuple[int, Any]:
    return await d.api("POST", "/api/v1/conversations", body)


def _wechat(fake: FakeWechatApi) -> str:
    return f"""
[channels.wechat.official]
app_id = "{fake.app_id}"
app_secret = "env:TPB_WECHAT_SECRET"
token = "env:TPB_WECHAT_TOKEN"
encoding_aes_key = "env:TPB_WECHAT_AES_KEY"
api_base_url = "{fake.url}"
"""


async def _conversation(d: Daemon, inbox: str, text: str) -> dict[str, Any] | None:
    """The conversation of `inbox` whose messages include `text` (addresses may be masked to agents)."""
    status, body = await d.api("GET", f"/api/v1/conversations?inbox={inbox}&status=all")
    assert status == 200, body
    for conv in body["items"]:
        status, msgs = await d.api("GET", f"/api/v1/conversations/{conv['id']}/messages")
        if any(m["text"] == text for m in msgs["items"]):
            return dict(conv)
    return None


async def test_telegram_and_wechat_refuse_writing_first_outside_their_rules(tmp_path: Path) -> None:
    async with FakeTelegram() as tg, FakeWechatApi(strict_windows=True) as wx:
        env = {"TPB_WECHAT_SECRET": wx.app_secret, "TPB_WECHAT_TOKEN": TOKEN, "TPB_WECHAT_AES_KEY": AES_KEY}
        async with Daemon(tmp_path, telegram_channels(tg) + _wechat(wx), env=env) as d:
            # Telegram: a bot cannot open a chat with someone who never wrote to it.
            status, err = await _start(d, inbox="telegram.main", to="777001", text="Hello!")
            assert status == 422 and err["error"]["code"] == "channel_rule"
            assert "telegram_not_started" in err["error"]["message"]
            tg.push_update(message_update(1, user_id=777002, text="hi, question about fees"))
            await d.wait_for(lambda: _conversation(d, "telegram.main", "hi, question about fees"))
            status, conv = await _start(d, inbox="telegram.main", to="777002", text="Following up on your question")
            assert status == 201, conv
            assert conv["message"]["delivery"] == "queued" and conv["assignee"]["name"] == "Admin"
            await tg.wait_for(lambda: any(m["text"] == "Following up on your question" for m in tg.sent))
            assert next(m for m in tg.sent if m["text"] == "Following up on your question")["chat"]["id"] == 777002

            # WeChat: only inside the 48-hour window after the user's last message.
            pusher = WechatPusher(TOKEN, wx.app_id, AES_KEY)
            old = int((datetime.now(UTC) - timedelta(hours=50)).timestamp())
            assert (await push(d, pusher, push_xml(ToUserName="gh", FromUserName="oOLD_user", CreateTime=old,
                                                   MsgType="text", Content="old question", MsgId=9001)))[0] == 200
            wx.open_window("oNEW_user")  # WeChat's side of the window the message below opens
            assert (await push(d, pusher, text_xml("new question", 9002, sender="oNEW_user")))[0] == 200
            await d.wait_for(lambda: _conversation(d, "wechat.official", "new question"))
            await d.wait_for(lambda: _conversation(d, "wechat.official", "old question"))
            status, err = await _start(d, inbox="wechat.official", to="oOLD_user", text="Any news?")
            assert status == 422 and "wechat_window_closed" in err["error"]["message"]
            status, err = await _start(d, inbox="wechat.official", to="oNOBODY", text="Hi")
            assert status == 422 and err["error"]["code"] == "channel_rule"
            status, conv = await _start(d, inbox="wechat.official", to="oNEW_user", text="We checked your question")
            assert status == 201, conv

            # /link works on WeChat too (the core reads the text, whatever the channel).
            assert (await push(d, pusher, text_xml("/link", 9003, sender="oNEW_user")))[0] == 200

            def code_sent() -> bool:
                return any("link code" in str(m.get("text", {}).get("content", "")) for m in wx.sent)

            await wx.wait_sent(2, within=15)
            await d.wait_for(lambda: _async(code_sent()), timeout=15)
            assert any(m["text"]["content"] == "We checked your question" for m in wx.sent)

            # Bad requests are clear 4xx, never a 500.
            for body, code in (({"inbox": "telegram.main", "to": "not-a-chat", "text": "x"}, 422),
                               ({"inbox": "nope.none", "to": "1", "text": "x"}, 422),
                               ({"inbox": "telegram.main", "to": "777002"}, 400),
                               ({"inbox": "telegram.main", "contact_id": 99999, "text": "x"}, 404),
                               ({"inbox": "webchat.site", "to": "someone", "text": "x"}, 422)):
                status, err = await _start(d, **body)
                assert status == code and err["error"]["message"], (body, err)


@pytest.mark.imap
@pytest.mark.skipif(not dovecot_available(), reason="needs Debian dovecot-imapd")
async def test_an_outbound_email_reaches_the_smtp_server_and_the_answer_threads_back(tmp_path: Path) -> None:
    async with email_bridge(tmp_path) as (d, dovecot, box, smtp):
        status, conv = await _start(d, inbox="email.support", to="Carol <Carol@Example.org>", name="Carol",
                                    subject="Your withdrawal review", text="Hello Carol, your review is done.")
        assert status == 201, conv
        assert conv["subject"] == "Your withdrawal review" and conv["contact"]["name"] == "Carol"
        mail = (await d.wait_for(lambda: _async(agent_mail(smtp, "your review is done")), timeout=15)).message
        assert mail["To"].addresses[0].addr_spec == "carol@example.org"
        assert mail["Subject"] == f"Your withdrawal review [#{conv['id']}]" and mail["In-Reply-To"] is None
        # Carol answers from her mail client: the answer joins the conversation we started.
        dovecot.deliver(box, customer_mail("<c1@mail.example.org>", f"Re: {mail['Subject']}", "Thank you!",
                                           sender="carol@example.org",
                                           extra=f"In-Reply-To: {mail['Message-ID']}\r\n"
                                                 f"References: {mail['Message-ID']}\r\n"))

        async def answered() -> bool:
            _status, msgs = await d.api("GET", f"/api/v1/conversations/{conv['id']}/messages")
            return any(m["direction"] == "in" and m["text"] == "Thank you!" for m in msgs["items"])

        await d.wait_for(answered, timeout=15)
        status, body = await d.api("GET", "/api/v1/conversations?inbox=email.support&status=all")
        assert [c["id"] for c in body["items"]] == [conv["id"]]
        status, err = await _start(d, inbox="email.support", to="not an address", text="x")
        assert status == 422 and "e-mail address" in err["error"]["message"]


async def _async(value: Any) -> Any:
    return value


async def test_x_writes_first_only_to_users_who_opened_a_dm(tmp_path: Path) -> None:
    async with FakeXApi(consumer_secret=X_SECRET) as x:
        x.add_user("3001", "mentioner", "Mia")
        x.add_user("3002", "dmer", "Dan")
        async with Daemon(tmp_path, x_channel(x), env={"TPB_TEST_X_SECRET": X_SECRET}) as d:
            await x_started(d)
            assert await x_deliver(d, x.activity_tweet("3001", "@acme_help is the app down?")) == 200
            assert await x_deliver(d, x.activity_dm("3002", "a question by DM")) == 200
            await d.wait_for(lambda: _conversation(d, "x.main", "a question by DM"))
            await d.wait_for(lambda: _conversation(d, "x.main", "@acme_help is the app down?"))
            status, err = await _start(d, inbox="x.main", to="3001", text="Can we DM you?")
            assert status == 422 and "x_dm_not_allowed" in err["error"]["message"]
            status, conv = await _start(d, inbox="x.main", to="3002", text="Following up by DM")
            assert status == 201, conv
            await d.wait_for(lambda: _async(any(c.json.get("text") == "Following up by DM" for c in
                                                x.calls("POST /2/dm_conversations/with/{id}/messages"))))


def test_x_writes_first_only_where_a_dm_exists_and_email_anywhere() -> None:
    now = datetime.now(UTC)
    with pytest.raises(ChannelRule) as refused:
        first_contact.require_private(Reach(now, True, ({"public": True},)), "x_dm_not_allowed", "no DM")
    assert refused.value.rule == "x_dm_not_allowed"
    first_contact.require_private(Reach(now, True, ({"public": True}, {"public": False})), "x", "no DM")
    assert first_contact.email_address("Carol <Carol@Example.ORG>") == "carol@example.org"
    with pytest.raises(ValueError):
        first_contact.email_address("carol at example")
    for address, check in ((f"{'c' * 3000}@example.org", first_contact.email_address),  # a key no store indexes
                           ("1" * 40, first_contact.numeric_id), ("o" * 200, first_contact.opaque_id)):
        with pytest.raises(ValueError):
            check(address)
    later = (now + timedelta(hours=1)).isoformat()
    first_contact.require_window(Reach(now, True, ({"reply_window_ends_at": later},)), "reply_window_ends_at", "w", "m")


async def test_a_person_links_telegram_to_the_web_chat_with_a_one_time_code(tmp_path: Path) -> None:
    async with FakeTelegram() as tg, Daemon(tmp_path, telegram_channels(tg)) as d:
        tg.push_update(message_update(1, user_id=880001, text="/link"))
        await tg.wait_for(lambda: any("link code" in m.get("text", "") for m in tg.sent), timeout=15)
        code_text = next(m["text"] for m in tg.sent if "link code" in m.get("text", ""))
        code = re.search(r"\b([A-Z0-9]{4}-[A-Z0-9]{4})\b", code_text)
        assert code, code_text

        visitor = await Visitor(d).start()
        # Wrong codes are refused, and after five the person must wait.
        for i in range(5):
            assert (await visitor.say(f"/link WRNG-{i:04d}"))[0] == 201  # counted: /link and a code
        await visitor.say(f"/link {code.group(1)}")

        async def bot_lines() -> list[str]:
            return [m["text"] for m in await visitor.history() if m["direction"] == "out"]

        await d.wait_for(lambda: _has(bot_lines, "Too many wrong codes"), timeout=15)
        assert sum("wrong or has expired" in t for t in await bot_lines()) == 5
        web = await d.wait_for(lambda: _conversation(d, "webchat.site", "/link WRNG-0000"))
        assert all(i["inbox"] == "webchat.site" for i in web["contact"]["identities"])  # not linked

        # From another browser, the right code links them: one person, the link marked verified.
        other = await Visitor(d).start()
        await other.say(code.group(1).lower())
        await d.wait_for(lambda: _has(lambda: _texts(other), "your channels are linked"), timeout=15)
        tg_conv = await _conversation(d, "telegram.main", "/link")
        assert tg_conv is not None
        status, contact = await d.api("GET", f"/api/v1/contacts/{tg_conv['contact']['id']}")
        links = {i["inbox"]: i["link"] for i in contact["identities"]}
        assert links == {"telegram.main": None, "webchat.site": "verified"}
        # Either side can unlink.
        tg.push_update(message_update(2, user_id=880001, text="/unlink"))
        await tg.wait_for(lambda: any("Unlinked" in m.get("text", "") for m in tg.sent), timeout=15)
        status, contact = await d.api("GET", f"/api/v1/contacts/{tg_conv['contact']['id']}")
        assert status == 200 and [i["inbox"] for i in contact["identities"]] == ["telegram.main"]


async def _texts(visitor: Visitor) -> list[str]:
    return [m["text"] for m in await visitor.history() if m["direction"] == "out"]


async def _has(lines: Any, words: str) -> bool:
    return any(words in line for line in await lines())

