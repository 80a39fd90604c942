"""'Anything else?' after a resolve, once per resolution — the daemon as a subprocess."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.daemon import Daemon, Visitor

pytestmark = pytest.mark.slow

ASK = "Is there anything else we can help you with?"


async def test_a_resolved_conversation_is_asked_once_whether_anything_else_is_needed(tmp_path: Path) -> None:
    # 0.00003 days = 2.6 s: the same code path as three days, in a test's time.
    async with Daemon(tmp_path, extra_toml="[automation]\nfollow_up_days = 0.00003\n") as d:
        first, second = await Visitor(d).start(), await Visitor(d).start()
        await first.say("my deposit arrived, thanks")
        _, convs = await d.api("GET", "/api/v1/conversations?inbox=webchat.site")
        conv = convs["items"][0]
        status, _ = await d.api("POST", f"/api/v1/conversations/{conv['id']}/status", {"status": "resolved"})
        assert status == 200

        async def asked(visitor: Visitor) -> list[str]:
            return [m["text"] for m in await visitor.history() if m["direction"] == "out" and ASK in m["text"]]

        await d.wait_for(lambda: asked(first), timeout=20)
        # A later resolution's follow-up has been sent: by then the first would have been asked twice if it could.
        await second.say("hello")
        _, convs = await d.api("GET", "/api/v1/conversations?inbox=webchat.site")
        other = next(c for c in convs["items"] if c["id"] != conv["id"])
        await d.api("POST", f"/api/v1/conversations/{other['id']}/status", {"status": "resolved"})
        await d.wait_for(lambda: asked(second), timeout=20)
        assert len(await asked(first)) == 1
        got: Any = (await d.api("GET", f"/api/v1/conversations/{conv['id']}"))[1]
        assert got["status"] == "resolved" and got["attrs"]["follow_up"]["for_resolution"] == got["resolved_at"]
