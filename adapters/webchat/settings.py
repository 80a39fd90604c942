"""`[channels.webchat.<name>]`: where the chat page lives and how much a visitor may send."""

from __future__ import annotations

from pydantic import Field
from tpbridge.adapters.base import ChannelSettings, Secret


class WebchatSettings(ChannelSettings):
    path: str = "/chat"
    title: str = "Support"
    visitor_secret: Secret | None = None  # signs visitor tokens; generated and kept in the store if unset
    max_text_bytes: int = Field(64 * 1024, gt=0)
    max_attachment_bytes: int = Field(25 * 1024 * 1024, gt=0)


Settings = WebchatSettings
