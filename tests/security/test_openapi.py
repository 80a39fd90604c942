"""The API against its own OpenAPI document (schemathesis): no 500 on any route, as admin and as agent.

Generated requests go to a running daemon; each case is sent with an admin's token and with a
plain agent's. Two operations are left out because a random case would end the very tokens the
run uses (revoking a token; a new password or a disable for agent 1); their inputs are covered
by tests/security/test_attacks.py. Example counts stay small: it runs on every change.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.security.support import TEAMS_TOML
from tests.support.daemon import Daemon, Visitor

pytestmark = pytest.mark.slow
T = TypeVar("T")
LEFT_OUT = {("DELETE", "/api/v1/tokens/{id}"), ("PATCH", "/api/v1/agents/{id}")}
# An event stream never ends: schemathesis reads it until the read timeout has passed in total. Its status
# and headers are what is checked here, so its read timeout is short (30 s each time cost 3 minutes).
STREAMS = {("GET", "/api/v1/events")}


class Running:
    """A daemon (and a conversation in it) whose loop lives in its own thread, for synchronous tests."""

    def __init__(self, tmp: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.d = Daemon(tmp, extra_toml=TEAMS_TOML)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(120)

    async def start(self) -> None:
        self.agent = self.d.add_agent("agent@example.com", "Agent", teams=("red",))
        await self.d.start()
        visitor = await Visitor(self.d).start()
        await visitor.say("a conversation for the fuzzer to find")


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    r = Running(tmp_path_factory.mktemp("openapi"))
    try:
        r.run(r.start())
        yield r
        escaped = [line[-1500:] for line in r.d.logs().splitlines() if "http.unhandled" in line]
        assert not escaped, "an exception escaped a handler:\n" + "\n".join(escaped[:3])
    finally:
        r.run(r.d.__aexit__())
        r.loop.call_soon_threadsafe(r.loop.stop)
        r.thread.join(10)


def test_no_route_answers_500_to_an_admin_or_an_agent(running: Running) -> None:
    schema = schemathesis.openapi.from_url(running.d.url + "/api/v1/openapi.json")
    tried: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in LEFT_OUT:
            continue
        tried.append(f"{operation.method.upper()} {operation.path}")

        @given(case=operation.as_strategy())
        @settings(max_examples=3, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
        def call(case: Any) -> None:
            timeout = (30, 3) if (case.method.upper(), case.operation.path) in STREAMS else 30
            for token in (running.d.token, running.agent):
                response = case.call(headers={"Authorization": f"Bearer {token}"}, timeout=timeout)
                assert response.status_code < 500, (case.method, case.formatted_path, response.status_code,
                                                     response.text[:300])

        call()
    assert len(tried) > 30, tried  # the document names the API's routes
