"""Shared set-up for the Telegram adapter tests: the fixture samples, an adapter on a fake."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tpbridge.adapters.base import AdapterContext
from tpbridge.adapters.telegram import Settings, TelegramAdapter

from tests.fakes.telegram_api import DEFAULT_TOKEN, FakeTelegram
from tests.support.sink import RecordingSink

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "telegram" / "updates.json"
SECRET = "s3cret-webhook_token"


def fixture_updates() -> list[dict[str, Any]]:
    return json.loads(FIXTURES.read_text())["updates"]


def file_ids(node: Any) -> list[str]:
    """Every file_id in an update, however deep."""
    found: list[str] = []
    if isinstance(node, dict):
        if isinstance(node.get("file_id"), str):
            found.append(node["file_id"])
        for value in node.values():
            found.extend(file_ids(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(file_ids(value))
    return found


def file_bytes(file_id: str) -> bytes:
    return f"bytes of {file_id}".encode()


def serve_files(fake: FakeTelegram, updates: list[dict[str, Any]]) -> None:
    """Make every file the samples mention downloadable, each with recognisable bytes."""
    for update in updates:
        for file_id in file_ids(update):
            fake.add_file(file_id, file_bytes(file_id), f"files/{file_id}.bin")


def make_adapter(
    fake: FakeTelegram, sink: RecordingSink, *, public_url: str = "http://127.0.0.1:9", tmp: Path,
    **settings: Any,
) -> TelegramAdapter:
    values: dict[str, Any] = {"token": DEFAULT_TOKEN, "api_base_url": fake.url, "poll_timeout": 1}
    values.update(settings)
    ctx = AdapterContext(sink=sink, public_url=public_url, data_dir=tmp,
                         webhook_path="/hooks/telegram/main")
    return TelegramAdapter(sink.inbox, Settings(**values), ctx)
