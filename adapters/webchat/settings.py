"""`[channels.webchat.<name>]`: where the chat page lives and how much a visitor may send."""

from __future__ import annotations

from pydantic import Field
from tpbridge.adapters.base import ChannelSettings, Secret

from .flood import FloodSettings


class WebchatSettings(ChannelSettings):
    path: str = "/chat"
    title: str = "Support"
    visitor_secret: Secret | None = None  # signs visitor tokens; generated and kept in the store if unset
    # The secret the company's app backend signs its users' identifiers with (identifier_hash);
    # unset: no verified users, every visitor is anonymous.
    identity_secret: Secret | None = None
    # How long a verified user's token opens their history (their app signs them in again on every opening);
    # an anonymous visitor's token does not expire.
    verified_token_hours: float = Field(24.0, gt=0, le=24 * 365)
    phone_region: str | None = None  # ISO 3166 country for callback numbers typed without +country ("CN")
    max_text_bytes: int = Field(64 * 1024, gt=0)
    max_attachment_bytes: int = Field(25 * 1024 * 1024, gt=0)
    max_files: int = Field(10, gt=0)  # files per message
    max_total_bytes: int | None = Field(None, gt=0)  # all files of one message; default 4 x max_attachment_bytes
    flood: FloodSettings = FloodSettings()  # token buckets per visitor and per address (flood.py)


Settings = WebchatSettings
