"""`[channels.phone.<name>]`: the hotline's number and hours, shown to visitors, and how numbers are read."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from tpbridge.adapters.base import ChannelSettings

from .numbers import e164

_SPAN = re.compile(r"\d{1,2}:\d{2}\s*-\s*\d{1,2}:\d{2}")


class PhoneSettings(ChannelSettings):
    number: str  # the hotline, shown to visitors (and linked as tel: when click_to_call)
    hours: dict[str, str | list[str]] = {}  # {"mon-fri" = "09:00-18:00"}; empty = around the clock
    timezone: str = "UTC"
    region: str | None = None  # ISO 3166 country for numbers typed without +country code ("CN")
    click_to_call: bool = True  # offer a tel: link to the hotline in the web chat
    callback_lead_minutes: int = Field(15, ge=0)  # the earliest we promise a callback after the request

    @field_validator("number")
    @classmethod
    def _number(cls, v: str) -> str:
        return e164(v)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (e.g. Asia/Shanghai)") from None
        return v

    @field_validator("hours")
    @classmethod
    def _hours(cls, v: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        for key, spans in v.items():
            for span in [spans] if isinstance(spans, str) else spans:
                if span.strip().lower() != "closed" and not _SPAN.fullmatch(span.strip()):
                    raise ValueError(f'{key}: {span!r}: hours are "HH:MM-HH:MM" (or "closed")')
        return v


Settings = PhoneSettings
