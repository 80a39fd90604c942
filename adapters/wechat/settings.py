"""The `[channels.wechat.<name>]` table."""

from __future__ import annotations

import base64
import binascii
from typing import Self

from pydantic import ValidationInfo, model_validator
from tpbridge.adapters.base import ChannelSettings, Secret


class WechatSettings(ChannelSettings):
    """A WeChat Official Account: credentials, the callback token and the safe-mode key."""

    app_id: str
    app_secret: Secret
    token: Secret  # the callback token configured on mp.weixin.qq.com (signs every webhook call)
    encoding_aes_key: Secret | None = None  # 43 characters; empty or absent = plaintext mode
    api_base_url: str = "https://api.weixin.qq.com"
    max_body_bytes: int = 256 * 1024  # WeChat's pushes are a few hundred bytes
    # A signed request whose timestamp is further than this from our clock is refused
    # (replayed captures); 0 turns the check off.
    signature_max_age: float = 300.0
    # WeChat retries after 5 s without an answer: media download gets this much, no more.
    media_timeout: float = 2.0
    media_max_bytes: int = 10 * 1024 * 1024
    http_timeout: float = 10.0  # for replies and token fetches (outbox side, no deadline)
    token_refresh_margin: float = 300.0  # refresh the access_token this long before it expires
    reply_window_hours: float = 48.0  # WeChat's customer-service window after a user action

    @model_validator(mode="after")
    def _check_aes_key(self, info: ValidationInfo) -> Self:
        """A wrong EncodingAESKey would fail every message: refuse it at config time."""
        key = self.encoding_aes_key
        if not key or (info.context or {}).get("resolve_secrets") is False:
            return self
        try:
            raw = base64.b64decode(key + "=", validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(key) != 43 or len(raw) != 32:
            raise ValueError("encoding_aes_key must be the 43-character EncodingAESKey from mp.weixin.qq.com")
        return self

    @property
    def safe_mode(self) -> bool:
        return bool(self.encoding_aes_key)


Settings = WechatSettings
