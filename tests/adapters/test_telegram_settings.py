"""The `[channels.telegram.<name>]` table: defaults, secrets from the environment, clear errors."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from pydantic import ValidationError
from tpbridge.adapters.telegram import Settings, TelegramAdapter

EXAMPLE = Path(__file__).parents[2] / "config" / "channels" / "telegram.example.toml"


def errors(**table: object) -> list[tuple[tuple[object, ...], str]]:
    with pytest.raises(ValidationError) as caught:
        Settings.model_validate(table)
    return [(e["loc"], e["msg"]) for e in caught.value.errors()]


def test_defaults_and_kind() -> None:
    s = Settings(token="123456:ABC-def_9")
    assert TelegramAdapter.kind == "telegram"
    assert (s.mode, s.api_base_url, s.allow_groups, s.webhook_secret) == (
        "polling", "https://api.telegram.org", False, None)


def test_bad_mode_says_which_values_are_allowed() -> None:
    assert errors(token="1:a", mode="push") == [(("mode",), 'must be "polling" or "webhook"')]


def test_unknown_keys_and_placeholder_tokens_are_refused() -> None:
    found = errors(token="changeme", colour="blue")
    assert (("colour",), "Extra inputs are not permitted") in found
    assert any(loc == ("token",) and "@BotFather" in msg for loc, msg in found)


def test_secrets_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TG_TOKEN", "42:xyz")
    monkeypatch.setenv("TG_SECRET", "hook-secret")
    s = Settings(token="env:TG_TOKEN", mode="webhook", webhook_secret="env:TG_SECRET",
                 api_base_url="http://127.0.0.1:8081/")
    assert (s.token, s.webhook_secret, s.api_base_url) == ("42:xyz", "hook-secret", "http://127.0.0.1:8081")


def test_webhook_secret_must_use_telegrams_alphabet() -> None:
    [(loc, msg)] = errors(token="1:a", mode="webhook", webhook_secret="has space")
    assert loc == ("webhook_secret",) and "A-Z" in msg


def test_shipped_example_validates_for_shape_while_disabled() -> None:
    table = tomllib.loads(EXAMPLE.read_text())["channels"]["telegram"]["main"]
    assert table["enabled"] is False
    # A disabled inbox's env: secrets are not resolved (the core passes this context).
    s = Settings.model_validate(table, context={"resolve_secrets": False})
    assert s.token == "env:TPB_TELEGRAM_TOKEN"
