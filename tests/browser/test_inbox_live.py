"""The inbox stays put: a live event touches the affected row only, and failed requests are said."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, Request, Route, expect
from tpbridge.bridge.model import Role
from tpbridge.bridge.store.protocol import PreparedInbound

from tests.browser.support import signed_in
from tests.support.core import inbound
from tests.web.support import web_app

pytestmark = pytest.mark.browser


async def test_a_live_event_moves_one_row_and_keeps_the_pages_loaded_with_load_more(
        browser: Browser, tmp_path: Path) -> None:
    async with web_app(tmp_path) as w:
        await w.agent("root@example.com", "Root", Role.ADMIN)
        convs = [await w.say(f"w{i}", f"v{i}", f"question {i}") for i in range(60)]
        page = await signed_in(browser, w.url, "root@example.com")
        await expect(page.locator(".conv-item")).to_have_count(50)
        await page.click("#load-more")
        await expect(page.locator(".conv-item")).to_have_count(60)
        list_loads: list[str] = []

        def on_request(request: Request) -> None:
            if "/api/v1/conversations?" in request.url:
                list_loads.append(request.url)

        page.on("request", on_request)
        # Mark two rows' DOM nodes: a re-rendered list would replace them (and lose the marks).
        oldest, untouched = convs[0], convs[30]
        await page.evaluate("""([a, b]) => {
            document.querySelector(`.conv-item[data-id='${a}']`).__mark = 'a';
            document.querySelector(`.conv-item[data-id='${b}']`).__mark = 'b';
        }""", [oldest.id, untouched.id])

        await w.say("w0-again", "v0", "the oldest one writes again")  # the last row of page two moves up
        first = page.locator(".conv-item").first
        await expect(first).to_have_attribute("data-id", str(oldest.id))
        await expect(first).to_contain_text("the oldest one writes again")
        await expect(page.locator(".conv-item")).to_have_count(60)  # "load more" rows are still there
        fresh = await w.say("w-new", "v-new", "a brand new visitor")
        await expect(page.locator(".conv-item").first).to_have_attribute("data-id", str(fresh.id))
        await expect(page.locator(".conv-item")).to_have_count(61)
        marks = await page.evaluate("""([a, b]) => [
            document.querySelector(`.conv-item[data-id='${a}']`).__mark || null,
            document.querySelector(`.conv-item[data-id='${b}']`).__mark || null]""", [oldest.id, untouched.id])
        assert marks == [None, "b"]  # the moved row was redrawn; every other row is the same node
        assert list_loads == []  # no refetch of the list for live events


async def test_a_resolved_conversation_leaves_the_open_list(browser: Browser, tmp_path: Path) -> None:
    async with web_app(tmp_path) as w:
        await w.agent("root@example.com", "Root", Role.ADMIN)
        a = await w.say("w1", "v1", "first")
        b = await w.say("w2", "v2", "second")
        page = await signed_in(browser, w.url, "root@example.com")
        await expect(page.locator(".conv-item")).to_have_count(2)
        await w.core.desk.set_status(a.id, "resolved")
        await expect(page.locator(".conv-item")).to_have_count(1)
        await expect(page.locator(".conv-item").first).to_have_attribute("data-id", str(b.id))


async def test_a_failed_request_is_shown_not_swallowed(browser: Browser, tmp_path: Path) -> None:
    async with web_app(tmp_path) as w:
        await w.agent("root@example.com", "Root", Role.ADMIN)
        conv = await w.say("w1", "v1", "first")
        page = await signed_in(browser, w.url, "root@example.com")
        await expect(page.locator(".conv-item")).to_have_count(1)
        await expect(page.locator("#list-error")).to_be_hidden()

        async def broken(route: Route) -> None:
            await route.fulfill(status=503, content_type="application/json",
                                body='{"error": {"code": "unavailable", "message": "store is restarting"}}')

        await page.route(f"**/api/v1/conversations/{conv.id}", broken)
        await w.say("w2", "v1", "second")
        await expect(page.locator("#list-error")).to_be_visible()
        await expect(page.locator("#list-error")).to_contain_text("store is restarting")
        await page.click("#list-error")
        await expect(page.locator("#list-error")).to_be_hidden()


async def test_a_long_conversation_opens_with_its_newest_messages(browser: Browser, tmp_path: Path) -> None:
    async with web_app(tmp_path) as w:
        await w.agent("root@example.com", "Root", Role.ADMIN)
        batch = [PreparedInbound(inbound(f"m{i}", "v1", f"message {i}"), None) for i in range(230)]
        items = await w.core.store.ingest("webchat.site", "webchat", batch, None)
        conv_id = items[0].conversation.id if items[0].conversation else 0
        page = await signed_in(browser, w.url, "root@example.com")
        await page.click(f".conv-item[data-id='{conv_id}'] a")
        await expect(page.locator("#timeline .msg")).to_have_count(200)
        await expect(page.locator("#timeline .msg").first).to_contain_text("message 30")
        await expect(page.locator("#timeline .msg").last).to_contain_text("message 229")
        await page.click("#load-earlier")
        await expect(page.locator("#timeline .msg")).to_have_count(230)
        await expect(page.locator("#timeline .msg").first).to_contain_text("message 0")
        await expect(page.locator("#load-earlier")).to_have_count(0)
