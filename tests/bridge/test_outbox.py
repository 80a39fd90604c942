"""Reply delivery through a channel that fails: retries, retry-after, permanent failures, restarts.

The channel is tests/support/plugin's adapter (registered by entry point like a
third-party package) talking HTTP to tests/fakes/relay_api.py.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.fakes.relay_api import FakeRelay
from tests.support.daemon import Daemon

pytestmark = pytest.mark.slow


def relay_toml(relay: FakeRelay) -> str:
    return f'[channels.testchannel.main]\napi_base_url = "{relay.url}"\n'


async def open_conversation(d: Daemon, sender: str = "cust-1", msg_id: str = "in-1") -> int:
    async with d.session.post(d.url + "/hooks/testchannel/main",
                              json={"id": msg_id, "from": sender, "text": "help please"}) as resp:
        assert resp.status == 200
    _, page = await d.api("GET", "/api/v1/conversations?inbox=testchannel.main")
    return page["items"][0]["id"]


async def deliveries(d: Daemon, conv_id: int) -> list[tuple[str, str | None]]:
    _, msgs = await d.api("GET", f"/api/v1/conversations/{conv_id}/messages")
    return [(m["delivery"], m["error"]) for m in msgs["items"] if m["direction"] == "out"]


@pytest.mark.parametrize(("interrupt", "store_url"), [("sigterm", "sqlite"), ("sigkill", "sqlite"),
                                                     ("sigkill", "postgresql")], indirect=["store_url"])
async def test_replies_queued_while_the_channel_fails_go_out_after_a_restart_once_and_in_order(
    tmp_path: Path, plugin_env: dict[str, str], interrupt: str, store_url: str
) -> None:
    async with FakeRelay() as relay:
        relay.fail_status = 503
        d = Daemon(tmp_path, relay_toml(relay), env=plugin_env, store_url=store_url)
        await d.start()
        conv_id = await open_conversation(d)
        for text in ("one", "two", "three"):
            status, _ = await d.api("POST", f"/api/v1/conversations/{conv_id}/messages", {"text": text})
            assert status == 202
        await relay.wait_attempts(1)
        assert relay.sent == []
        if interrupt == "sigterm":
            assert await d.stop() == 0
        else:
            d.kill()  # no clean-up at all: the rows are still in the outbox
        relay.fail_status = None
        await d.start()
        try:
            sent = await relay.wait_sent(3)
            await d.wait_for(lambda: _all_sent(d, conv_id))
            assert [s["text"] for s in sent] == ["one", "two", "three"]
            assert len(relay.sent) == 3
        finally:
            await d.__aexit__()


async def _all_sent(d: Daemon, conv_id: int) -> bool:
    return all(state == "sent" for state, _ in await deliveries(d, conv_id))


async def test_retry_after_is_honoured(tmp_path: Path, plugin_env: dict[str, str]) -> None:
    async with FakeRelay() as relay, Daemon(tmp_path, relay_toml(relay), env=plugin_env) as d:
        relay.fail_status, relay.retry_after = 429, "2"
        conv_id = await open_conversation(d)
        await d.api("POST", f"/api/v1/conversations/{conv_id}/messages", {"text": "later"})
        await relay.wait_attempts(1)
        refused_at = time.monotonic()
        relay.fail_status = None
        await relay.wait_sent(1)
        assert time.monotonic() - refused_at >= 1.9
        await d.wait_for(lambda: _all_sent(d, conv_id))
        assert relay.attempts == 2


async def test_permanent_refusal_is_recorded_with_the_channel_reason(
    tmp_path: Path, plugin_env: dict[str, str]
) -> None:
    async with FakeRelay() as relay, Daemon(tmp_path, relay_toml(relay), env=plugin_env) as d:
        relay.fail_status, relay.fail_body = 403, {"error": "Forbidden: bot was blocked by the user"}
        conv_id = await open_conversation(d)
        await d.api("POST", f"/api/v1/conversations/{conv_id}/messages", {"text": "hello?"})
        result = await d.wait_for(lambda: _failed(d, conv_id))
        assert result == [("failed", "Forbidden: bot was blocked by the user")]
        _, conv = await d.api("GET", f"/api/v1/conversations/{conv_id}")
        identity = conv["contact"]["identities"][0]
        assert identity["unreachable"] == "Forbidden: bot was blocked by the user"
        assert relay.attempts == 1


async def _failed(d: Daemon, conv_id: int) -> list[tuple[str, str | None]] | None:
    states = await deliveries(d, conv_id)
    return states if states and states[0][0] == "failed" else None


async def test_credentials_refused_on_send_show_in_healthz_until_a_send_works(
    tmp_path: Path, plugin_env: dict[str, str]
) -> None:
    async with FakeRelay() as relay, Daemon(tmp_path, relay_toml(relay), env=plugin_env) as d:

        async def channel() -> dict[str, str | None] | None:
            async with d.session.get(d.url + "/healthz") as resp:
                body = await resp.json()
            state: dict[str, str | None] = body["channels"]["testchannel.main"]
            return state

        relay.fail_status, relay.fail_body = 401, {"error": "token revoked"}
        first = await open_conversation(d)
        await d.api("POST", f"/api/v1/conversations/{first}/messages", {"text": "one"})
        bad = await d.wait_for(lambda: _state_is(channel, "bad_credentials"))
        assert bad == {"state": "bad_credentials", "reason": "token revoked"}
        assert [state for state, _ in await deliveries(d, first)] == ["queued"]  # kept, tried again later

        relay.fail_status = None  # the operator fixed the token; the refused reply waits its 60 s
        second = await open_conversation(d, sender="cust-2", msg_id="in-2")
        await d.api("POST", f"/api/v1/conversations/{second}/messages", {"text": "two"})
        await relay.wait_sent(1)
        assert await d.wait_for(lambda: _state_is(channel, "connected"))


async def _state_is(channel: Callable[[], Awaitable[dict[str, str | None] | None]],
                    want: str) -> dict[str, str | None] | None:
    state = await channel()
    return state if state is not None and state["state"] == want else None
