"""WeChat Official Account channel (wechatpy for signatures, crypto and message types)."""

from .adapter import WechatAdapter
from .settings import Settings, WechatSettings

__all__ = ["Settings", "WechatAdapter", "WechatSettings"]
