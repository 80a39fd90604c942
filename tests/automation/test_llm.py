"""The optional language model against a fake OpenAI-compatible endpoint on 127.0.0.1: summary and draft,
secrets masked before anything leaves, and nothing sent at all when it is off."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from tpbridge.bridge.automation.llm import mask

from tests.automation.harness import harness

SEED = "abandon ability able about above absent absorb abstract absurd abuse access accident"
KEY = "0x" + "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
CARD = "4111 1111 1111 1111"
TEAMS = {"support": {"languages": []}}


class FakeLlm:
    """Speaks the OpenAI chat-completions wire format; records what it was sent."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.authorizations: list[str | None] = []
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.complete)
        self.server = TestServer(app, host="127.0.0.1")

    async def complete(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        self.authorizations.append(request.headers.get("Authorization"))
        system = body["messages"][0]["content"]
        text = "Customer cannot withdraw; order W-1." if "summarise" in system else "Hello, we are checking it."
        return web.json_response({"id": "x", "object": "chat.completion", "model": body["model"],
                                  "choices": [{"index": 0, "finish_reason": "stop",
                                               "message": {"role": "assistant", "content": text}}]})

    @property
    def base_url(self) -> str:
        return str(self.server.make_url("/v1"))


def test_secrets_are_masked() -> None:
    text = f"my words are {SEED}, key {KEY}, card {CARD}, order 20261201-3391, tx 0xabc"
    masked = mask(text)
    assert SEED not in masked and KEY not in masked and CARD not in masked
    assert "[seed phrase]" in masked and "[private key]" in masked and "[card number]" in masked
    assert "20261201-3391" in masked and "0xabc" in masked  # order numbers and short hashes stay


async def test_summary_and_draft_from_the_endpoint_with_secrets_masked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeLlm()
    await fake.server.start_server()
    monkeypatch.setenv("TPB_TEST_LLM_KEY", "sk-from-the-environment")
    try:  # the endpoint's key from the environment, as every secret in the config may be
        llm = {"enabled": True, "base_url": fake.base_url, "model": "local-test", "api_key": "env:TPB_TEST_LLM_KEY"}
        async with harness(tmp_path, {"llm": llm}, TEAMS) as h:
            conv = await h.say(f"human please, I can't withdraw order W-1. card {CARD}, my seed is {SEED}")
            note = (await h.notes(conv.id))[0]
            assert note.startswith("Summary (language model): Customer cannot withdraw; order W-1.")
            assert conv.attrs["draft"]["text"] == "Hello, we are checking it."
            sent = " ".join(m["content"] for r in fake.requests for m in r["messages"])
            assert len(fake.requests) == 2 and SEED not in sent and CARD not in sent and "[seed phrase]" in sent
            assert fake.authorizations == ["Bearer sk-from-the-environment"] * 2
            # the draft is never sent by itself: the customer saw only the acknowledgement
            assert all("checking it" not in t for t in await h.bot_texts(conv.id))
    finally:
        await fake.server.close()


async def test_nothing_is_sent_when_off(tmp_path: Path) -> None:
    fake = FakeLlm()
    await fake.server.start_server()
    try:
        async with harness(tmp_path, {"llm": {"enabled": False, "base_url": fake.base_url}}, TEAMS) as h:
            conv = await h.say("human please")
            assert "draft" not in conv.attrs and not (await h.notes(conv.id))[0].startswith("Summary")
        assert fake.requests == []
    finally:
        await fake.server.close()
