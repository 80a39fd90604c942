"""The `[channels.x.<name>]` table."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from tpbridge.adapters.base import ChannelSettings, Secret


class XSettings(ChannelSettings):
    """One X account: OAuth 1.0a user-context keys (DMs need them) plus an optional bearer token."""

    bearer_token: Secret | None = None  # app-only auth for mention polling; user context when absent
    consumer_key: Secret
    consumer_secret: Secret  # also the key of the Account Activity CRC and webhook signatures
    access_token: Secret
    access_token_secret: Secret
    user_id: str | None = None  # our account's id; fetched from /2/users/me when absent
    mode: Literal["polling", "webhook"] = "polling"
    api_base_url: str = "https://api.x.com"
    poll_interval: float = Field(default=60.0, gt=0)  # the shortest pause between polls
    page_size: int = Field(default=100, ge=5, le=100)  # max_results of each polling request
    first_poll_dm_pages: int = Field(default=1, ge=1)  # DM history pages read when nothing is stored yet
    request_timeout: float = Field(default=30.0, gt=0)


Settings = XSettings
