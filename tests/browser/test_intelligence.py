"""The inbox's intelligence controls in headless Chromium: the category with its reason, correcting it,
a contact's tier, and acknowledging a security alert."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, expect
from tpbridge.bridge.automation.examples import load_corrections
from tpbridge.bridge.model import Role

from tests.automation.harness import automation_raw
from tests.browser.support import signed_in
from tests.web.support import web_app

pytestmark = pytest.mark.browser


async def test_agent_sees_why_corrects_the_category_sets_vip_and_acknowledges_the_alert(
        browser: Browser, tmp_path: Path) -> None:
    raw = {"channels": {"webchat": {"site": {}}}, "automation": automation_raw()}
    async with web_app(tmp_path, raw) as w:
        await w.agent("root@example.com", "Root", Role.ADMIN)
        conv = await w.say("m1", "u1", "the chart page stays blank since the update")
        await w.core.desk.update(conv.id, category="account", attrs={
            "classification": {"category": "account", "confidence": 0.41, "by": "model",
                               "reason": "account by the learned model (confidence 0.41; n-grams: 'page')"},
            "alert": {"state": "open", "targets": {}}})
        page = await signed_in(browser, w.url, "root@example.com")
        await page.goto(f"{w.url}/conversations/{conv.id}")
        await page.wait_for_selector("body[data-ready='1']")
        await expect(page.locator("#category-why")).to_contain_text("learned model")
        await expect(page.locator("#s-category")).to_have_value("account")
        await page.select_option("#s-category", "technical")
        await expect(page.locator("#category-why")).to_contain_text("set by an agent")
        assert [e.category for e in load_corrections(w.core.config.data_dir / "examples")] == ["technical"]
        # The select shows "vip" at once; the store holds it only once the PATCH has been answered.
        async with page.expect_response(
                lambda r: r.request.method == "PATCH" and "/api/v1/contacts/" in r.url) as patched:
            await page.select_option("#s-tier", "vip")
        assert (await patched.value).status == 200
        await expect(page.locator("#s-tier")).to_have_value("vip")
        contact = await w.core.store.get_contact(conv.contact_id)
        assert contact is not None and contact.tier == "vip"
        await expect(page.locator(".security-alert")).to_be_visible()
        await page.click("#alert-ack")
        await expect(page.locator(".security-alert")).to_have_count(0)
        stored = await w.core.store.get_conversation(conv.id)
        assert stored is not None and stored.attrs["alert"]["state"] == "acknowledged"
