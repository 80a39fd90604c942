"""The help centre at /help, served by the daemon: languages, search in Chinese and English, articles."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
import pytest

from tests.support.daemon import Daemon

pytestmark = pytest.mark.slow


async def _get(d: Daemon, path: str, **headers: str) -> tuple[int, str, dict[str, str]]:
    async with d.session.get(d.url + path, headers=headers, allow_redirects=False) as resp:
        return resp.status, await resp.text(), dict(resp.headers)


async def test_help_centre_in_chinese_and_english_searchable_and_sticky(tmp_path: Path) -> None:
    async with Daemon(tmp_path) as d:
        # The browser's language decides first: Chinese (Simplified) here, with every language offered.
        status, html, headers = await _get(d, "/help", **{"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
        assert status == 200 and '<html lang="zh-Hans">' in html
        assert "帮助中心" in html and "提现受限或冻结" in html and "常见问题" in html
        for name in ("简体中文", "繁體中文", "English", "日本語", "한국어", "Русский", "Tiếng Việt", "Español"):
            assert name in html
        assert "script-src 'self'" in headers["Content-Security-Policy"] and "<script" not in html

        status, html, _ = await _get(d, "/help", **{"Accept-Language": "en-GB,en;q=0.9"})
        assert status == 200 and '<html lang="en">' in html and "Withdrawal limited or frozen" in html

        # Search finds 提现 (a two-character word) in Chinese, and English words too.
        status, html, _ = await _get(d, "/help?q=提现&lang=zh-Hans")
        assert status == 200
        found = re.findall(r'href="/help/([\w-]+)\?lang=zh-Hans"', html.split('id="results-heading"')[1])
        assert found[:1] == ["withdrawal-limited"] and "withdrawal-guide" in found
        status, html, _ = await _get(d, "/help?q=reset+password&lang=en")
        assert 'href="/help/forgot-password?lang=en"' in html
        status, html, _ = await _get(d, "/help?q=xyzzy&lang=en")
        assert status == 200 and "Nothing found for “xyzzy”" in html

        # Choosing a language in the URL sticks (a cookie), over the browser's language.
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
            async with browser.get(d.url + "/help/withdrawal-guide?lang=ja") as resp:
                assert resp.status == 200 and "出金の流れ" in await resp.text()
            async with browser.get(d.url + "/help", headers={"Accept-Language": "en"}) as resp:
                html = await resp.text()
        assert '<html lang="ja">' in html and "ヘルプセンター" in html

        # Every shipped language has the FAQ's answers too.
        status, html, _ = await _get(d, "/help/fees?lang=ja")
        assert status == 200 and '<article lang="ja"' in html and 'role="note"' not in html
        # Articles are Markdown rendered on the server; traditional Chinese has its own.
        status, html, _ = await _get(d, "/help/withdrawal-guide?lang=zh-Hant")
        assert "<h2>需要多久</h2>" in html and "<strong>24 小時</strong>" in html
        assert 'href="/chat?lang=zh-Hant"' in html  # linked to the web chat in the same language

        status, html, _ = await _get(d, "/help/no-such-entry?lang=en")
        assert status == 404

        # What the web chat shows before the visitor writes.
        async with d.session.get(d.url + "/help/api/widget?lang=ko") as resp:
            data = await resp.json()
        assert data["language"] == "ko" and len(data["languages"]) == 8
        assert data["suggested"][0]["id"] == "withdrawal-limited" and data["strings"]["send"] == "보내기"
        async with d.session.get(d.url + "/help/api/search", params={"q": "提现", "lang": "en"}) as resp:
            items = (await resp.json())["items"]
        assert items[0]["id"] == "withdrawal-limited" and items[0]["title"] == "Withdrawal limited or frozen"


def test_a_page_missing_in_a_language_is_shown_in_the_nearest_one(tmp_path: Path) -> None:
    from tpbridge.bridge.helpcentre import HelpCentre, from_accept_language

    (tmp_path / "help" / "en").mkdir(parents=True)
    (tmp_path / "help" / "zh-Hans").mkdir()
    (tmp_path / "help" / "help.toml").write_text(
        '[strings.en]\ntitle = "Help"\n[strings.zh-Hans]\ntitle = "帮助"\n[strings.zh-Hant]\ntitle = "幫助"\n'
        '[strings.ko]\ntitle = "도움말"\n', encoding="utf-8")
    (tmp_path / "help" / "en" / "fees.md").write_text("# Fees\n\nOne *flat* fee.\n", encoding="utf-8")
    (tmp_path / "help" / "zh-Hans" / "fees.md").write_text("# 手续费\n\n统一费率。\n", encoding="utf-8")
    centre = HelpCentre.load(tmp_path / "faq", tmp_path / "help")
    entry = centre.entries["fees"]
    assert entry.version("ko").language == "en" and "<em>flat</em>" in entry.version("ko").html
    assert entry.version("zh-Hant").title == "手续费"  # Traditional readers get Simplified before English
    assert [h.entry.id for h in centre.search("费率")] == ["fees"]
    assert from_accept_language("zh-HK,en;q=0.5", centre.languages) == "zh-Hant"
    assert from_accept_language("de-DE,ko;q=0.3", centre.languages) == "ko"
    assert centre.t("ko")["title"] == "도움말"
