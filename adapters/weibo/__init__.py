"""Weibo private messages to an official account (the fan service platform, 粉丝服务平台)."""

from .adapter import WeiboAdapter
from .settings import Settings

__all__ = ["Settings", "WeiboAdapter"]
