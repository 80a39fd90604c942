"""Signing an agent in through the real login page, and a page that records what must never happen."""

from __future__ import annotations

from dataclasses import dataclass, field

from playwright.async_api import Browser, BrowserContext, Page

from tests.web.support import PASSWORD


@dataclass
class Watch:
    """Dialogs and console lines seen on a page (an XSS payload would show up here)."""

    dialogs: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def watch(page: Page) -> Watch:
    w = Watch()

    async def on_dialog(dialog: object) -> None:
        w.dialogs.append(dialog.message)  # type: ignore[attr-defined]
        await dialog.dismiss()  # type: ignore[attr-defined]

    page.on("dialog", on_dialog)
    page.on("console", lambda msg: w.console.append(msg.text))
    page.on("pageerror", lambda exc: w.errors.append(str(exc)))
    return w


async def signed_in(browser: Browser, url: str, email: str, *, password: str = PASSWORD,
                    viewport: tuple[int, int] = (1280, 800), locale: str = "en-US",
                    context: BrowserContext | None = None) -> Page:
    ctx = context or await browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, locale=locale)
    page = await ctx.new_page()
    await page.goto(url + "/login")
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")
    await page.wait_for_selector("body[data-ready='1']")
    await page.wait_for_selector("body[data-live='on']")
    return page
