"""The `[channels.qq.<name>]` table."""

from __future__ import annotations

from pydantic import Field
from tpbridge.adapters.base import ChannelSettings, Secret


class Settings(ChannelSettings):
    """A bot from q.qq.com: its AppID and AppSecret, which also seeds the webhook's ed25519 key."""

    app_id: str = Field(pattern=r"^\d+$")  # 机器人 AppID
    app_secret: Secret = Field(min_length=1)  # AppSecret (clientSecret): token fetch and webhook signatures
    api_base_url: str = "https://api.sgroup.qq.com"
    token_url: str = "https://bots.qq.com/app/getAppAccessToken"
    # Send replies as markdown (msg_type 2): only once the platform enabled markdown for the bot.
    markdown: bool = False
    # After the passive window: send an active message (no msg_id). QQ stopped offering active
    # messages to most bots on 2025-04-21; leave this off unless yours still has them.
    active_messages: bool = False
    c2c_reply_window_minutes: float = Field(default=60.0, gt=0)  # passive replies to a direct message
    group_reply_window_minutes: float = Field(default=5.0, gt=0)  # passive replies to a group @-mention
    text_limit: int = Field(default=2000, gt=0)  # characters per message; longer replies are split
    max_body_bytes: int = Field(default=256 * 1024, gt=0)
    # A callback whose X-Signature-Timestamp is further than this from our clock is refused (0: no check).
    signature_max_age: float = Field(default=300.0, ge=0)
    media_timeout: float = Field(default=1.5, gt=0, le=2.5)  # QQ wants the callback answered within 3 s
    media_max_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    http_timeout: float = Field(default=10.0, ge=5.0)  # QQ's docs: at least 5 s, or a sent message looks failed
    token_refresh_margin: float = Field(default=120.0, ge=0)
