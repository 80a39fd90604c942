"""The customer's side in a real browser: /chat writes, survives a reload, shows replies live."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web
from playwright.async_api import Browser, expect

from tests.fakes.server import serve, stop_serving
from tests.support.daemon import Daemon

pytestmark = [pytest.mark.browser, pytest.mark.slow]


async def test_visitor_page_round_trip_in_chinese(tmp_path: Path, browser: Browser) -> None:
    async with Daemon(tmp_path) as d:
        page = await browser.new_page(locale="zh-CN")
        await page.goto(d.url + "/chat")
        await expect(page.locator("#text")).to_have_attribute("placeholder", "请输入您的问题…")
        await page.fill("#text", "充值不到账怎么办")
        await page.press("#text", "Enter")
        # Stored (a line with the message's id), then acknowledged, then one line: the event stream may show the
        # message before the POST is answered, and for that moment the page has two lines for it (the answer
        # keeps the one typed). A count of 0 pending alone also holds before the typed line is added.
        await expect(page.locator("#messages li.in[data-id]")).to_have_text("充值不到账怎么办")
        await expect(page.locator("#messages li.in.pending")).to_have_count(0)
        await expect(page.locator("#messages li.in")).to_have_text("充值不到账怎么办")

        _, listed = await d.api("GET", "/api/v1/conversations")
        conv = listed["items"][0]
        assert conv["contact"]["anonymous"] is True and conv["last_message"]["text"] == "充值不到账怎么办"
        status, _ = await d.api("POST", f"/api/v1/conversations/{conv['id']}/messages",
                                {"text": "您好，我们正在核查您的充值。"})
        assert status == 202
        await expect(page.locator("#messages li.out")).to_have_text("您好，我们正在核查您的充值。")  # live, no reload

        await page.reload()
        await expect(page.locator("#messages li")).to_have_count(2)
        await expect(page.locator("#messages li.out")).to_have_text("您好，我们正在核查您的充值。")
        await page.fill("#text", "谢谢")
        await page.press("#text", "Enter")
        await expect(page.locator("#messages li.in")).to_have_count(2)
        _, msgs = await d.api("GET", f"/api/v1/conversations/{conv['id']}/messages")
        assert [m["text"] for m in msgs["items"]][-1] == "谢谢"  # the same conversation after the reload


async def test_embed_snippet_opens_the_chat_on_another_site(tmp_path: Path, browser: Browser) -> None:
    async with Daemon(tmp_path) as d:
        shop = web.Application()
        html = f'<html><body><h1>Shop</h1><script src="{d.url}/chat/widget.js" async></script></body></html>'
        async def home(_: web.Request) -> web.Response:
            return web.Response(text=html, content_type="text/html")

        shop.router.add_get("/", home)
        runner, shop_url = await serve(shop)
        page = await browser.new_page(locale="en-US")
        await page.goto(shop_url)
        await page.click("button[aria-label='Chat with support']")
        frame = page.frame_locator("iframe[title='Support chat']")
        await expect(frame.locator("#send")).to_have_text("Send")
        await frame.locator("#text").fill("Hello from the shop")
        await frame.locator("#send").click()
        await expect(frame.locator("#messages li.in[data-id]")).to_have_text("Hello from the shop")  # as above
        await expect(frame.locator("#messages li.in.pending")).to_have_count(0)
        await expect(frame.locator("#messages li.in")).to_have_text("Hello from the shop")
        _, listed = await d.api("GET", "/api/v1/conversations")
        assert listed["items"][0]["last_message"]["text"] == "Hello from the shop"
        await stop_serving(runner)
