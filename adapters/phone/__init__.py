"""A phone hotline as an inbox: calls logged by agents, callbacks requested by visitors (no telephony)."""

from .adapter import PhoneAdapter
from .settings import PhoneSettings, Settings

__all__ = ["PhoneAdapter", "PhoneSettings", "Settings"]
