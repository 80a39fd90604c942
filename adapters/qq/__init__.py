"""The official QQ bot platform (bot.q.qq.com): direct messages and group @-mentions."""

from .adapter import QQAdapter
from .settings import Settings

__all__ = ["QQAdapter", "Settings"]
