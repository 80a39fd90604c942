"""The X channel: DMs and mentions of one account (API v2 through tweepy's AsyncClient)."""

from .adapter import XAdapter
from .settings import Settings, XSettings

__all__ = ["Settings", "XAdapter", "XSettings"]
