"""What must never happen in an agent's browser: script from a message running, a cross-site write,
a conversation of another team showing up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, expect
from tpbridge.bridge.model import Author, AuthorKind, Role
from tpbridge.bridge.store.protocol import NewReply

from tests.browser.support import signed_in, watch
from tests.web.support import web_app

pytestmark = pytest.mark.browser

PAYLOAD = """<p>Dear support,</p>
<script>alert('xss-script'); console.log('XSS-MARKER-script'); top.__xss = 1;</script>
<img src="x" onerror="alert('xss-onerror'); console.log('XSS-MARKER-onerror'); top.__xss = 2;">
<a id="jslink" href="javascript:alert('xss-js');console.log('XSS-MARKER-href');top.__xss=3">see my invoice</a>
<svg onload="alert('xss-svg')"><circle r="5"></circle></svg>
<iframe src="javascript:alert('xss-iframe')"></iframe>
<form action="javascript:alert('xss-form')"><button id="b">go</button></form>
<p style="background:url(javascript:alert('xss-css'))">Regards</p>"""


@asynccontextmanager
async def evil_site(target: str, conv_id: int) -> AsyncIterator[str]:
    """Another origin (a different port) whose page posts forms at the inbox, as a CSRF attack would."""

    async def page(request: web.Request) -> web.Response:
        return web.Response(content_type="text/html", text=f"""<!doctype html><body>
<form id="f1" method="post" action="{target}/api/v1/conversations/{conv_id}/status" target="sink1">
  <input name="status" value="resolved"></form>
<form id="f2" method="post" action="{target}/logout" target="sink2"></form>
<iframe name="sink1"></iframe><iframe name="sink2"></iframe>
</body>""")

    app = web.Application()
    app.router.add_get("/", page)
    server = TestServer(app)
    await server.start_server()
    try:
        yield str(server.make_url("/"))
    finally:
        await server.close()


async def test_email_html_payloads_never_run(browser: Browser, tmp_path: Path) -> None:
    async with web_app(tmp_path) as w:
        root = await w.agent("root@example.com", "Root", Role.ADMIN)
        sanitised = await w.say("e1", "mallory@example.com", "Dear support, see my invoice", inbox="email.support",
                                name="<img src=x onerror=alert('xss-name')>", subject="<script>alert(1)</script>",
                                html=PAYLOAD)
        await w.say("w1", "v1", "<img src=x onerror=\"alert('xss-text')\"><script>alert('xss-text2')</script>")
        # Defence in depth: HTML that never went through the sanitiser is still held by the sandbox.
        raw, _ = await w.core.store.add_reply(NewReply(sanitised.id, Author(AuthorKind.AGENT, root.id, "Root"),
                                                       "raw", html=PAYLOAD, private=True))
        ctx = await browser.new_context(viewport={"width": 1280, "height": 800})
        page = await ctx.new_page()
        seen = watch(page)
        await page.goto(w.url + "/login")
        await page.fill("input[name=email]", "root@example.com")
        await page.fill("input[name=password]", "correct horse battery")
        await page.click("button[type=submit]")
        await page.wait_for_selector("body[data-ready='1']")
        await page.click(f".conv-item[data-id='{sanitised.id}'] a")
        frames = page.locator("iframe.email-html")
        await expect(frames).to_have_count(2)
        for i in range(2):
            assert await frames.nth(i).get_attribute("sandbox") == ""  # no allow-scripts, no allow-same-origin
        inner = page.frame_locator("iframe.email-html").first
        await expect(inner.locator("text=Dear support,")).to_be_visible()
        raw_frame = page.frame_locator(f".msg[data-id='{raw.id}'] iframe.email-html")
        await raw_frame.locator("#jslink").click()
        await raw_frame.locator("#b").click()
        await inner.locator("text=see my invoice").click()
        # The text-only message shows its markup as text.
        await page.click(".conv-item:has-text('xss-text') a")
        await expect(page.locator("#timeline .msg .text")).to_contain_text("<script>alert('xss-text2')</script>")
        await page.wait_for_timeout(300)  # give any handler that could fire a chance to do so
        assert seen.dialogs == []
        assert not [line for line in seen.console if "XSS-MARKER" in line]
        assert await page.evaluate("window.__xss") is None
        assert seen.errors == []
        await ctx.close()


async def test_state_changing_requests_without_the_csrf_token_are_refused(browser: Browser, tmp_path: Path) -> None:
    async with web_app(tmp_path) as w:
        await w.agent("root@example.com", "Root", Role.ADMIN)
        conv = await w.say("w1", "v1", "hello")
        page = await signed_in(browser, w.url, "root@example.com")
        # Same origin, the session cookie, but no X-CSRF-Token header.
        status = await page.evaluate(f"""fetch('/api/v1/conversations/{conv.id}/status', {{
            method: 'POST', credentials: 'same-origin', headers: {{'Content-Type': 'application/json'}},
            body: JSON.stringify({{status: 'resolved'}})}}).then(r => r.status)""")
        assert status == 403
        # Another site's forms: the browser sends the cookie along (same site), the token is missing.
        async with evil_site(w.url, conv.id) as evil:
            attacker = await page.context.new_page()
            await attacker.goto(evil)
            async with attacker.expect_response(lambda r: "/status" in r.url) as first:
                await attacker.evaluate("document.getElementById('f1').submit()")
            assert (await first.value).status in (403, 415)
            async with attacker.expect_response(lambda r: r.url.endswith("/logout")) as second:
                await attacker.evaluate("document.getElementById('f2').submit()")
            assert (await second.value).status == 403
        assert (await w.core.store.get_conversation(conv.id)).status.value == "open"
        # Still signed in, and the real page (which sends the token) may do it.
        await page.reload()
        await page.wait_for_selector("body[data-ready='1']")
        await page.click(f".conv-item[data-id='{conv.id}'] a")
        await page.locator("#resolve").click()
        await expect(page.locator("#conv-meta")).to_contain_text("Resolved")
        assert (await w.core.store.get_conversation(conv.id)).status.value == "resolved"


async def test_team_a_agent_never_sees_team_b_in_the_list_the_page_or_the_stream(browser: Browser,
                                                                                tmp_path: Path) -> None:
    async with web_app(tmp_path) as w:
        await w.core.store.ensure_team("alpha", ["webchat.site"])
        await w.core.store.ensure_team("beta", ["email.support"])
        await w.agent("ann@example.com", "Ann", teams=("alpha",))
        theirs = await w.say("e1", "x@example.com", "beta secret", inbox="email.support")
        page = await signed_in(browser, w.url, "ann@example.com")
        await page.evaluate("""window.__seen = [];
            const es = new EventSource('/api/v1/events');
            ['message.created', 'conversation.created', 'conversation.updated'].forEach(k =>
              es.addEventListener(k, e => window.__seen.push(JSON.parse(e.data).conversation.id)));
            new Promise(r => es.onopen = r)""")
        await page.wait_for_function("window.__seen !== undefined")
        await expect(page.locator(".conv-item")).to_have_count(0)
        await w.say("e2", "x@example.com", "beta secret again", inbox="email.support")
        mine = await w.say("w1", "v1", "alpha hello", inbox="webchat.site")
        await expect(page.locator(f".conv-item[data-id='{mine.id}']")).to_be_visible()
        await page.wait_for_function(f"window.__seen.includes({mine.id})")
        assert theirs.id not in await page.evaluate("window.__seen")
        await expect(page.locator(".conv-item")).to_have_count(1)
        await expect(page.locator(".conv-item")).not_to_contain_text("beta secret")
        await page.goto(f"{w.url}/conversations/{theirs.id}")
        await page.wait_for_selector("body[data-ready='1']")
        await expect(page.locator("#conv-empty")).to_have_text("404")
        await expect(page.locator("#timeline")).not_to_contain_text("beta secret")
        status = await page.evaluate(f"fetch('/api/v1/conversations/{theirs.id}/messages').then(r => r.status)")
        assert status == 404
