"""End to end with the daemon as a subprocess: a web chat visitor and an agent, each in Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.browser.support import signed_in, watch
from tests.support.daemon import ADMIN_EMAIL, Daemon, Visitor

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TEAMS = """
[teams.alpha]
inboxes = ["webchat.site"]

[teams.beta]
inboxes = ["email.none"]
"""


async def test_visitor_writes_agent_sees_it_live_replies_and_the_visitor_reads_it(browser: Browser,
                                                                                   tmp_path: Path) -> None:
    async with Daemon(tmp_path) as d:
        agent = await signed_in(browser, d.url, ADMIN_EMAIL)
        problems = watch(agent)
        await expect(agent.locator(".conv-item")).to_have_count(0)

        visitor_ctx = await browser.new_context(viewport={"width": 390, "height": 700}, locale="zh-CN")
        visitor = await visitor_ctx.new_page()
        await visitor.goto(d.url + "/chat")
        await visitor.fill("#text", "我的提现还没到账")
        await visitor.click("#send")

        item = agent.locator(".conv-item", has_text="我的提现还没到账")
        await expect(item).to_be_visible()  # live, no reload
        await expect(item.locator(".badge")).to_have_text("webchat")
        await item.locator("a").click()
        await agent.locator("#reply-text").fill("您好！请提供您的订单号。")
        await agent.locator("#reply-text").press("Control+Enter")
        out = agent.locator("#timeline .msg.out")
        await expect(out).to_have_count(1)
        await expect(out.locator(".delivery")).to_have_text("Sent")  # the outbox delivered it

        await expect(visitor.locator("#messages li.out")).to_have_text("您好！请提供您的订单号。")
        # A private note stays with the agents.
        await agent.click("#tab-note")
        await agent.fill("#reply-text", "internal: check payout batch")
        await agent.click("#send")
        await expect(agent.locator("#timeline .msg.private")).to_have_count(1)
        await visitor.reload()
        await expect(visitor.locator("#messages li.out")).to_have_count(1)
        await expect(visitor.locator("#messages")).not_to_contain_text("internal")
        # Search from the agent's page finds the Chinese word inside the sentence.
        await agent.fill("#q", "提现")
        await expect(agent.locator(".conv-item")).to_have_count(1)
        assert problems.errors == [] and problems.dialogs == []
        await visitor_ctx.close()
        await agent.context.close()


async def test_team_a_agent_gets_404_for_team_b_conversation_through_the_daemon(browser: Browser,
                                                                               tmp_path: Path) -> None:
    async with Daemon(tmp_path, extra_toml=TEAMS) as d:
        a_token = d.add_agent("ann@example.com", "Ann", teams=("alpha",))
        b_token = d.add_agent("bea@example.com", "Bea", teams=("beta",))
        first = await Visitor(d).start()
        await first.say("for alpha")
        second = await Visitor(d).start()
        await second.say("for beta only")
        _, page = await d.api("GET", "/api/v1/conversations")
        by_text = {c["last_message"]["text"]: c["id"] for c in page["items"]}
        beta_conv = by_text["for beta only"]
        status, _ = await d.api("POST", f"/api/v1/conversations/{beta_conv}/assign", {"team": "beta"})
        assert status == 200
        for path in (f"/api/v1/conversations/{beta_conv}", f"/api/v1/conversations/{beta_conv}/messages"):
            status, body = await d.api("GET", path, token=a_token)
            assert status == 404 and body["error"]["code"] == "not_found"
        _, listed = await d.api("GET", "/api/v1/conversations?status=all", token=a_token)
        assert [c["id"] for c in listed["items"]] == [by_text["for alpha"]]
        _, listed = await d.api("GET", "/api/v1/conversations?status=all", token=b_token)
        assert [c["id"] for c in listed["items"]] == [beta_conv]

        ann = await signed_in(browser, d.url, "ann@example.com")
        await expect(ann.locator(".conv-item")).to_have_count(1)
        await second.say("beta again")  # must not reach Ann's page
        await first.say("alpha again")
        await expect(ann.locator(".conv-item .preview")).to_have_text("alpha again")
        await expect(ann.locator(".conv-item")).to_have_count(1)
        await expect(ann.locator("#conv-list")).not_to_contain_text("beta")
        await ann.context.close()
