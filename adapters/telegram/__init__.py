"""Telegram bots as inboxes: see adapter.py (lifecycle), convert.py (inbound), send.py (outbound)."""

from .adapter import TelegramAdapter
from .settings import Settings, TelegramSettings

__all__ = ["Settings", "TelegramAdapter", "TelegramSettings"]
