"""The `[channels.telegram.<name>]` table: what an operator may configure, checked at load."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError
from tpbridge.adapters.base import ChannelSettings, Secret

_TOKEN = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
# Bot API: secret_token is 1-256 characters, only A-Z, a-z, 0-9, _ and - are allowed.
_WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


def _unresolved(info: ValidationInfo) -> bool:
    """A disabled inbox is checked for shape only: its `env:`/`file:` secrets stay unresolved."""
    return (info.context or {}).get("resolve_secrets") is False


class TelegramSettings(ChannelSettings):
    """One bot = one inbox; `api_base_url` also points the adapter at a self-hosted server or a fake."""

    token: Secret
    mode: Literal["polling", "webhook"] = "polling"
    api_base_url: str = "https://api.telegram.org"
    webhook_secret: Secret | None = None
    # 1 keeps Telegram's order strictly (an edit never overtakes its message); more is faster.
    webhook_max_connections: int = Field(default=40, ge=1, le=100)
    webhook_check_interval: float = Field(default=60.0, gt=0)  # seconds between getWebhookInfo checks
    allow_groups: bool = False  # group/supergroup messages become conversations (one per group)
    allow_channels: bool = False  # channel posts likewise
    poll_timeout: int = Field(default=30, ge=0, le=50)  # getUpdates long-poll seconds
    request_timeout: float = Field(default=15.0, gt=0)  # every other Bot API call, file downloads too
    rate_global: float = Field(default=30.0, gt=0)  # messages per second per bot (Telegram: ~30)
    rate_per_chat: float = Field(default=1.0, gt=0)  # messages per second per chat (Telegram: ~1)
    max_download_bytes: int = Field(default=20 * 1024 * 1024, gt=0)  # getFile serves up to 20 MB

    @field_validator("mode", mode="before")
    @classmethod
    def _mode(cls, value: Any) -> Any:
        # pydantic's own Literal message reads "Input should be ..."; say it the way the docs do.
        if value not in ("polling", "webhook"):
            raise PydanticCustomError("mode", 'must be "polling" or "webhook"')
        return value

    @field_validator("token")
    @classmethod
    def _token(cls, value: str, info: ValidationInfo) -> str:
        if _unresolved(info):
            return value
        if not _TOKEN.match(value):
            raise PydanticCustomError("token", 'must look like "123456:ABC-DEF..." as given by @BotFather')
        return value

    @field_validator("api_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise PydanticCustomError("api_base_url", "must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("webhook_secret")
    @classmethod
    def _secret(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and not _unresolved(info) and not _WEBHOOK_SECRET.match(value):
            raise PydanticCustomError(
                "webhook_secret", "must be 1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule)"
            )
        return value

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> TelegramSettings:
        if self.mode == "webhook" and not self.webhook_secret:
            raise PydanticCustomError(
                "webhook_secret", 'webhook_secret is required when mode = "webhook"'
            )
        return self


Settings = TelegramSettings
