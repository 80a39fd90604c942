"""The `[channels.weibo.<name>]` table."""

from __future__ import annotations

from pydantic import Field
from tpbridge.adapters.base import ChannelSettings, Secret


class Settings(ChannelSettings):
    """A blue-V account in the fan service platform's developer mode (高级功能 → 开发模式)."""

    app_key: str = Field(min_length=1)  # the AppKey entered next to the callback URL
    app_secret: Secret = Field(min_length=1)  # that app's App Secret: it signs every push
    access_token: Secret = Field(min_length=1)  # the account's fan-service access token (long-lived)
    # The account's own uid: pushes addressed to another receiver_id are refused. Optional,
    # learnt from the token at start when absent.
    uid: str | None = Field(default=None, pattern=r"^\d+$")
    # None: the real hosts (m.api.weibo.com for replies, api.weibo.com for profiles and the
    # token check, upload.api.weibo.com for images). Set: every call goes to this one server.
    api_base_url: str | None = None
    max_body_bytes: int = Field(default=256 * 1024, gt=0)
    # Pushes whose timestamp is further than this from our clock are refused (0: no check).
    signature_max_age: float = Field(default=300.0, ge=0)
    # Weibo retries after 5 s without an answer: the name look-up (at most half) and the image
    # download share this budget.
    media_timeout: float = Field(default=2.0, gt=0, le=4.0)
    media_max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    http_timeout: float = Field(default=10.0, gt=0)
    rate_limit_delay: float = Field(default=60.0, ge=0)  # wait after Weibo's rate-limit answer (10022-10024)
    reply_window_hours: float = Field(default=48.0, gt=0)  # after a message, follow, click or scan
    text_limit: int = Field(default=300, gt=0)  # characters per reply message (split above it)
    save_sender_box: bool = True  # replies also appear in the account's own Weibo inbox
    fetch_profiles: bool = True  # look the sender's screen name up (users/show), cached a day
