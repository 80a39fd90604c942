"""Privacy in the browser, with the daemon as a subprocess: an anonymous inbox as an agent sees it, and a
visitor deleting their own conversation from the web chat page."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.browser.support import signed_in, watch
from tests.support.daemon import ADMIN_EMAIL, Daemon

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ANONYMOUS_CHAT = "[channels.webchat.site]\nenabled = true\nanonymous = true\n"


async def test_agent_sees_visitor_number_in_an_anonymous_inbox_and_the_reply_still_arrives(
        browser: Browser, tmp_path: Path) -> None:
    async with Daemon(tmp_path, ANONYMOUS_CHAT, webchat=False) as d:
        visitor_ctx = await browser.new_context(locale="en-US")
        visitor = await visitor_ctx.new_page()
        await visitor.goto(d.url + "/chat")
        await visitor.click("#about summary")
        await visitor.fill("#name", "Ann Example")
        await visitor.fill("#email", "ann.example@mail.test")
        await visitor.fill("#text", "I lost access to my wallet")
        await visitor.click("#send")
        await expect(visitor.locator("#messages li.in")).to_have_count(1)

        agent = await signed_in(browser, d.url, ADMIN_EMAIL)
        problems = watch(agent)
        item = agent.locator(".conv-item", has_text="I lost access to my wallet")
        await expect(item).to_be_visible()
        await expect(item).to_contain_text("Visitor ")
        await item.locator("a").click()
        await expect(agent.locator("#timeline .msg.in")).to_have_count(1)
        await agent.locator("#reply-text").fill("We can help: which device do you use?")
        await agent.locator("#reply-text").press("Control+Enter")
        await expect(agent.locator("#timeline .msg.out .delivery")).to_have_text("Sent")
        page_text = await agent.content()
        assert "Ann Example" not in page_text and "ann.example@mail.test" not in page_text
        assert "Visitor " in page_text
        await expect(visitor.locator("#messages li.out")).to_have_text("We can help: which device do you use?")
        # the API agrees, and the name was never stored
        _, convs = await d.api("GET", "/api/v1/conversations")
        contact = convs["items"][0]["contact"]
        assert contact["name"] == f"Visitor {contact['id']}" and contact["anonymous"] is True
        assert all(i["external_id"] is None and i["handle"] is None for i in contact["identities"])
        assert problems.errors == []
        await visitor_ctx.close()
        await agent.context.close()
    assert b"Ann Example" not in (d.data_dir / "tpbridge.db").read_bytes()


async def test_visitor_deletes_their_conversation_from_the_chat_page(browser: Browser, tmp_path: Path) -> None:
    async with Daemon(tmp_path) as d:
        ctx = await browser.new_context(locale="zh-CN")
        visitor = await ctx.new_page()
        await visitor.goto(d.url + "/chat")
        await visitor.fill("#text", "我的助记词是 abandon ability")
        await visitor.click("#send")
        await expect(visitor.locator("#messages li.in")).to_have_count(1)
        await expect(visitor.locator("#privacy")).to_have_attribute("href", "/privacy?lang=zh")
        await visitor.click("#forget")
        await expect(visitor.locator("#messages li.out")).to_contain_text("无法撤销")
        await visitor.fill("#text", "确认")
        await visitor.click("#send")
        await expect(visitor.locator("#messages li.out").last).to_contain_text("最后一条消息")

        async def erased() -> bool:
            _, body = await d.api("GET", "/api/v1/conversations?status=all")
            return not body["items"]

        await d.wait_for(erased, timeout=30)
        await visitor.reload()
        await expect(visitor.locator("#messages li")).to_have_count(0)
        await ctx.close()
