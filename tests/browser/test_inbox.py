"""The agent inbox in headless Chromium against an in-process app: login, list, conversation, live updates."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect
from tpbridge.adapters.base import InboundAttachment
from tpbridge.bridge.model import Author, AuthorKind, Priority, Role

from tests.browser.conftest import DOCS
from tests.browser.support import signed_in
from tests.web.support import PASSWORD, WebApp, web_app

pytestmark = pytest.mark.browser



def png(width: int, height: int) -> bytes:
    """A small gradient PNG (a 'receipt' to preview), written by hand: no imaging library needed."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + bytes(v for x in range(width) for v in (230, 240 - y, 200 + x % 40))
                   for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


PNG = png(160, 100)


async def seed(w: WebApp) -> dict[str, int]:
    """A small, realistic inbox: several channels, one person on two of them, an image, a failed reply."""
    root = await w.agent("root@example.com", "Root Admin", Role.ADMIN)
    await w.agent("ann@example.com", "Ann Lee", teams=("support",))
    await w.core.store.ensure_team("support", ["*"])
    await w.core.store.add_canned("refund", "退款将在 3 个工作日内原路退回。", root.id)  # type: ignore[attr-defined]
    await w.core.store.add_canned("hello", "Hi! Thanks for reaching out — how can I help?", root.id)  # type: ignore[attr-defined]
    tg = await w.say("t1", "4242", "我的提现还没到账，已经三天了", inbox="telegram.main", name="王小明")
    await w.say("t2", "4242", "订单号 88231", inbox="telegram.main", name="王小明",
                attachments=(InboundAttachment("image", "image/png", PNG, "receipt.png"),))
    mail = await w.say("e1", "xiaoming@example.com", "Withdrawal still missing", inbox="email.support",
                       name="Wang Xiaoming", subject="Withdrawal #88231",
                       html="<p>Hello,</p><p>my <b>withdrawal</b> has not arrived.</p>")
    await w.say("x1", "1001", "@acme your app logs me out every hour", inbox="x.main", name="Dana",
                conversation_attrs={"public": True})
    wx = await w.say("wx1", "oABC", "请问怎么修改绑定手机", inbox="wechat.official", name="微信用户",
                     conversation_attrs={"reply_window_ends_at": "2099-01-01T00:00:00Z"})
    web = await w.say("w1", "visitor-1", "Do you ship to Canada?", inbox="webchat.site", name="Visitor")
    await w.core.desk.note(tg.id, "Checked the ledger: payout is stuck at the bank.",
                           author=Author(AuthorKind.AGENT, root.id, "Root Admin"))
    reply = await w.core.desk.reply(tg.id, "您好，我们正在核实，请稍候。",
                                    author=Author(AuthorKind.AGENT, root.id, "Root Admin"))
    items = await w.core.store.due_outbox("telegram.main", 1e12, [], 10)
    await w.core.store.mark_failed(items[0], "Forbidden: bot was blocked by the user", unreachable=False)
    await w.core.desk.set_labels(tg.id, ["payout", "vip"])
    await w.core.desk.update(tg.id, priority=Priority.URGENT)
    return {"tg": tg.id, "mail": mail.id, "wx": wx.id, "web": web.id, "reply": reply.id,
            "tg_contact": tg.contact_id, "mail_contact": mail.contact_id}


async def test_login_list_conversation_and_screenshots(browser: Browser, tmp_path: Path) -> None:
    async with web_app(tmp_path) as w:
        ids = await seed(w)
        ctx = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
        page = await ctx.new_page()
        await page.goto(w.url + "/")
        await expect(page).to_have_url(w.url + "/login")
        DOCS.mkdir(exist_ok=True)
        await page.screenshot(path=str(DOCS / "login.png"))
        await page.fill("input[name=email]", "root@example.com")
        await page.fill("input[name=password]", "wrong")
        await page.click("button[type=submit]")
        await expect(page.locator("#login-error")).to_contain_text("Wrong email or password")
        await page.fill("input[name=password]", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_selector("body[data-ready='1']")
        items = page.locator(".conv-item")
        await expect(items).to_have_count(5)
        # Newest activity first (the API's order, tested in tests/web); unread counts shown.
        _, api_page = await w.api("GET", "/api/v1/conversations", "root@example.com")
        shown = [int(x) for x in await items.evaluate_all("els => els.map(e => e.dataset.id)")]
        assert shown == [c["id"] for c in api_page["items"]]
        await expect(page.locator(f".conv-item[data-id='{ids['mail']}'] .unread")).to_have_text("1")
        await page.screenshot(path=str(DOCS / "inbox-list.png"))

        # Search: a two-character Chinese word inside a longer sentence.
        await page.fill("#q", "提现")
        await expect(items).to_have_count(1)
        await expect(items.first).to_have_attribute("data-id", str(ids["tg"]))
        await page.fill("#q", "")
        await expect(items).to_have_count(5)
        await page.select_option("#f-channel", "email")
        await expect(items).to_have_count(1)
        await page.select_option("#f-channel", "")

        # Merge the email contact into the Telegram one: history on both channels in one view.
        await page.click(f".conv-item[data-id='{ids['tg']}'] a")
        await expect(page).to_have_url(f"{w.url}/conversations/{ids['tg']}")
        await page.fill("#merge-id", str(ids["mail_contact"]))
        await page.click("#merge-form button")
        await expect(page.locator("#history li")).to_have_count(2)
        await expect(page.locator("#identities li")).to_have_count(2)
        timeline = page.locator("#timeline")
        await expect(timeline.locator(".msg.private")).to_contain_text("payout is stuck")
        failed = timeline.locator(f".msg[data-id='{ids['reply']}']")
        await expect(failed.locator(".delivery")).to_have_text("Failed")
        await expect(failed.locator(".delivery-error")).to_have_text("Forbidden: bot was blocked by the user")
        img = timeline.locator(".attachment img")
        await expect(img).to_have_count(1)
        await page.wait_for_function("document.querySelector('.attachment img').naturalWidth === 160")
        await expect(timeline.locator(".msg .badge").first).to_have_text("telegram")
        await page.wait_for_function(
            "[...document.querySelectorAll('.attachment img')].every(i => i.complete && i.naturalWidth > 0)")
        await page.screenshot(path=str(DOCS / "conversation.png"))
        # Undo the merge.
        await page.click("#merged-list button.unmerge")
        await expect(page.locator("#history li")).to_have_count(1)
        await ctx.close()


async def test_reply_note_canned_status_assign_and_keyboard(browser: Browser, tmp_path: Path) -> None:
    async with web_app(tmp_path) as w:
        ids = await seed(w)
        page = await signed_in(browser, w.url, "root@example.com")
        await page.goto(f"{w.url}/conversations/{ids['web']}")
        await page.wait_for_selector("body[data-ready='1']")
        await expect(page.locator("#conv-title")).to_contain_text("Visitor")
        # r focuses the reply box; /hel + Enter inserts the canned response; Ctrl+Enter sends.
        await page.locator("body").press("r")
        await expect(page.locator("#reply-text")).to_be_focused()
        await page.keyboard.type("/hel")
        await expect(page.locator("#canned-menu li")).to_have_count(1)
        await page.keyboard.press("Enter")
        await expect(page.locator("#reply-text")).to_have_value("Hi! Thanks for reaching out — how can I help?")
        await page.keyboard.press("Control+Enter")
        out = page.locator("#timeline .msg.out")
        await expect(out).to_have_count(1)
        await expect(out.locator(".delivery")).to_have_text("Queued")
        messages = await w.core.store.list_messages(ids["web"])
        assert messages[-1].text == "Hi! Thanks for reaching out — how can I help?" and not messages[-1].private

        # A private note: stored as private, never queued for the channel.
        await page.click("#tab-note")
        await page.fill("#reply-text", "customer is in Toronto")
        await page.click("#send")
        await expect(page.locator("#timeline .msg.private")).to_have_count(1)
        note = (await w.core.store.list_messages(ids["web"]))[-1]
        assert note.private and note.text == "customer is in Toronto"
        queued = await w.core.store.due_outbox("webchat.site", 1e12, [], 10)
        assert note.id not in {item.message_id for item in queued}

        # Assign, labels, snooze, resolve with `e`.
        item = page.locator(f".conv-item[data-id='{ids['web']}']")
        await page.select_option("#s-agent", label="Ann Lee")
        await expect(item.locator(".assignee")).to_have_text("@Ann Lee")
        await page.select_option("#s-team", "support")
        await expect(item.locator(".team")).to_have_text("support")
        await page.fill("#s-labels", "shipping, canada")
        await page.click("#labels-save")
        await expect(page.locator(f".conv-item[data-id='{ids['web']}'] .label")).to_have_count(2)
        conv = await w.core.store.get_conversation(ids["web"])
        assert conv.team == "support" and conv.assignee_id is not None and conv.labels == ("canada", "shipping")
        await page.select_option("#s-status", "snoozed")
        await page.fill("#snooze-until", "2099-05-01T09:30")
        await page.click("#snooze-save")
        await expect(page.locator("#conv-meta")).to_contain_text("Snoozed")
        conv = await w.core.store.get_conversation(ids["web"])
        assert conv.status.value == "snoozed" and conv.snoozed_until is not None and conv.snoozed_until.year == 2099
        await page.locator("#reply-text").blur()
        await page.locator("body").press("e")
        await expect(page.locator("#conv-meta")).to_contain_text("Resolved")
        assert (await w.core.store.get_conversation(ids["web"])).status.value == "resolved"

        # j / k walk the list.
        await page.select_option("#f-status", "all")
        await expect(page.locator(".conv-item")).to_have_count(5)
        first = await page.locator(".conv-item").nth(0).get_attribute("data-id")
        second = await page.locator(".conv-item").nth(1).get_attribute("data-id")
        await page.locator("body").click(position={"x": 700, "y": 300})
        await page.goto(f"{w.url}/conversations/{first}")
        await page.wait_for_selector("body[data-ready='1']")
        await page.select_option("#f-status", "all")
        await expect(page.locator(".conv-item")).to_have_count(5)
        await page.locator("#conv-title").click()
        await page.keyboard.press("j")
        await expect(page).to_have_url(f"{w.url}/conversations/{second}")
        await page.keyboard.press("k")
        await expect(page).to_have_url(f"{w.url}/conversations/{first}")


async def test_public_thread_and_reply_window_are_shown_to_the_agent(browser: Browser, tmp_path: Path) -> None:
    async with web_app(tmp_path) as w:
        await seed(w)
        page = await signed_in(browser, w.url, "root@example.com")
        await page.select_option("#f-channel", "x")
        await page.click(".conv-item a")
        await expect(page.locator(".public-warning")).to_be_visible()
        await page.select_option("#f-channel", "wechat")
        await page.click(".conv-item a")
        await expect(page.locator("#warnings .window")).to_contain_text("Reply window closes at")
        await expect(page.locator("dl.attrs")).to_contain_text("reply_window_ends_at")


async def test_new_messages_appear_live_with_title_badge_and_notification(browser: Browser, tmp_path: Path) -> None:
    async with web_app(tmp_path) as w:
        await w.agent("root@example.com", "Root", Role.ADMIN)
        ctx = await browser.new_context(viewport={"width": 1280, "height": 800})
        # Let the test flip document.hidden as a background tab would, and record notifications shown.
        await ctx.add_init_script("""
            window.__hidden = false;
            Object.defineProperty(document, 'hidden', {get: () => window.__hidden});
            window.__notes = [];
            window.Notification = function (title, opts) { window.__notes.push([title, opts.body]); };
            window.Notification.permission = 'granted';
            window.Notification.requestPermission = () => Promise.resolve('granted');
        """)
        page = await signed_in(browser, w.url, "root@example.com", context=ctx)
        await expect(page.locator(".conv-item")).to_have_count(0)
        conv = await w.say("w1", "v1", "first words", inbox="webchat.site")
        await expect(page.locator(f".conv-item[data-id='{conv.id}']")).to_be_visible()
        await page.evaluate("window.__hidden = true; document.dispatchEvent(new Event('visibilitychange'))")
        await w.say("w2", "v2", "are you there?", inbox="webchat.site")
        await expect(page).to_have_title("(1) tpbridge inbox")
        assert await page.evaluate("window.__notes") == [["New message", "are you there?"]]
        await expect(page.locator(".conv-item")).to_have_count(2)
        await page.evaluate("window.__hidden = false; document.dispatchEvent(new Event('visibilitychange'))")
        await expect(page).to_have_title("tpbridge inbox")
        await ctx.close()


async def test_usable_at_1280_and_at_phone_width(browser: Browser, tmp_path: Path) -> None:
    async with web_app(tmp_path) as w:
        ids = await seed(w)
        wide = await signed_in(browser, w.url, "root@example.com")
        await wide.click(f".conv-item[data-id='{ids['tg']}'] a")
        for pane in (".list-pane", ".conv-pane", ".side-pane"):
            await expect(wide.locator(pane)).to_be_visible()
        assert await wide.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
        phone = await signed_in(browser, w.url, "root@example.com", viewport=(390, 844))
        await expect(phone.locator(".list-pane")).to_be_visible()
        await expect(phone.locator(".conv-pane")).to_be_hidden()
        await phone.click(f".conv-item[data-id='{ids['tg']}'] a")
        await expect(phone.locator(".conv-pane")).to_be_visible()
        await expect(phone.locator(".list-pane")).to_be_hidden()
        await expect(phone.locator("#reply-text")).to_be_visible()
        assert await phone.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
        await phone.click("#toggle-side")
        await expect(phone.locator("#s-status")).to_be_visible()
        await phone.click("#close-side")
        await expect(phone.locator("#s-status")).to_be_hidden()
        await phone.click("#back")
        await expect(phone.locator(".list-pane")).to_be_visible()


async def test_chinese_ui_from_accept_language_and_from_the_agent_setting(browser: Browser, tmp_path: Path) -> None:
    async with web_app(tmp_path) as w:
        await w.agent("ann@example.com", "Ann")
        page = await signed_in(browser, w.url, "ann@example.com", locale="zh-CN")
        await expect(page.locator(".topnav")).to_contain_text("收件箱")
        await expect(page.locator("#send")).to_have_text("发送")
        await page.select_option("#ui-language", "en")
        await page.wait_for_load_state("load")
        await expect(page.locator(".topnav")).to_contain_text("Inbox")
        assert (await w.core.store.agent_by_email("ann@example.com"))[0].ui_language == "en"


async def test_whole_history_across_channels_in_one_timeline_and_file_upload(browser: Browser, tmp_path: Path) -> None:
    async with web_app(tmp_path) as w:
        ids = await seed(w)
        await w.core.store.merge_contacts(ids["tg_contact"], ids["mail_contact"])  # type: ignore[attr-defined]
        page = await signed_in(browser, w.url, "root@example.com")
        await page.click(f".conv-item[data-id='{ids['tg']}'] a")
        await expect(page.locator("#all-channels-box")).to_be_visible()
        await expect(page.locator("#timeline .msg.other-conv")).to_have_count(0)
        await page.check("#all-channels")
        other = page.locator("#timeline .msg.other-conv")
        await expect(other).to_have_count(1)
        await expect(other.locator(".badge")).to_have_text("email")
        await expect(other.locator("iframe.email-html")).to_have_count(1)
        # A file sent with the reply goes to the API as multipart and comes back as a download link.
        await page.set_input_files("#reply-file", files=[{"name": "terms.pdf", "mimeType": "application/pdf",
                                                         "buffer": b"%PDF-1.4 tiny"}])
        await page.fill("#reply-text", "See the attached terms.")
        await page.click("#send")
        link = page.locator("#timeline .msg.out .attachment", has_text="terms.pdf")
        await expect(link).to_have_count(1)
        href = await link.get_attribute("href")
        body = await page.evaluate(f"fetch('{href}').then(r => r.text())")
        assert body == "%PDF-1.4 tiny"
        # Presence is the agent's own setting.
        async with page.expect_response(lambda r: r.url.endswith("/api/v1/me")) as answered:
            await page.select_option("#presence", "online")
        assert (await answered.value).status == 200
        assert (await w.core.store.get_agent(1)).presence == "online"


async def test_admins_manage_canned_responses_agents_and_teams_in_the_admin_pages(browser: Browser,
                                                                                 tmp_path: Path) -> None:
    async with web_app(tmp_path) as w:
        await seed(w)
        await w.core.store.quarantine("email.support", "uid-77", "broken MIME: no boundary", "q/1.eml", 1234, None)
        page = await signed_in(browser, w.url, "root@example.com")
        await page.click(".topnav >> text=Admin")
        await expect(page).to_have_url(w.url + "/admin/agents")
        await page.fill("#add-agent input[name=name]", "Bob")
        await page.fill("#add-agent input[name=email]", "bob@example.com")
        await page.fill("#add-agent input[name=password]", "a long password")
        await page.fill("#add-agent input[name=teams]", "support, billing")
        await page.click("#add-agent button")
        await expect(page.locator("#agents")).to_contain_text("bob@example.com")
        bob = (await w.core.store.agent_by_email("bob@example.com"))[0]
        assert bob.teams == ("billing", "support")
        await page.goto(w.url + "/admin/canned")
        await page.fill("#add-canned input[name=shortcut]", "bye")
        await page.fill("#add-canned textarea[name=text]", "Have a nice day!")
        await page.click("#add-canned button")
        await expect(page.locator("#canned")).to_contain_text("Have a nice day!")
        await page.fill("#add-canned input[name=shortcut]", "bye")
        await page.fill("#add-canned textarea[name=text]", "again")
        await page.click("#add-canned button")
        await expect(page.locator("#admin-error")).to_contain_text("already exists")
        await page.goto(w.url + "/admin/teams")
        await page.fill("#add-team input[name=name]", "vip")
        await page.fill("#add-team input[name=inboxes]", "telegram.main, email.support")
        await page.click("#add-team button")
        await expect(page.locator("#teams")).to_contain_text("vip")
        assert {t.name: t.inboxes for t in await w.core.store.list_teams()}["vip"] == ("email.support",
                                                                                        "telegram.main")
        await page.goto(w.url + "/admin/quarantine")
        await expect(page.locator("#quarantine")).to_contain_text("broken MIME: no boundary")
        # An agent gets the page refused, and the new canned response in the reply box.
        ann = await signed_in(browser, w.url, "ann@example.com")
        resp = await ann.goto(w.url + "/admin/canned")
        assert resp is not None and resp.status == 403
        await ann.goto(w.url + "/")
        await ann.wait_for_selector("body[data-ready='1']")
        await ann.click(".conv-item a >> nth=0")
        await ann.fill("#reply-text", "/by")
        await ann.locator("#reply-text").press("End")
        await ann.keyboard.type("e")
        await expect(ann.locator("#canned-menu li")).to_have_count(1)
        await ann.keyboard.press("Tab")
        await expect(ann.locator("#reply-text")).to_have_value("Have a nice day!")


async def test_list_catches_up_after_the_event_stream_drops(browser: Browser, tmp_path: Path) -> None:
    async with web_app(tmp_path) as w:
        await w.agent("root@example.com", "Root", Role.ADMIN)
        page = await signed_in(browser, w.url, "root@example.com")
        w.core.bus.close()  # the server ends every open stream (as a restart would)
        await page.wait_for_selector("body[data-live='off']")
        conv = await w.say("w1", "v1", "said while the stream was down")  # no subscriber: no event for it
        await page.wait_for_selector("body[data-live='on']", timeout=15000)
        await expect(page.locator(f".conv-item[data-id='{conv.id}']")).to_be_visible()
