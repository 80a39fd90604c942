"""JSON answers of the inbox's hot reads (a page of conversations, of messages) encoded by orjson.

The standard library's encoder took ~0.3 ms of the event loop's time for a list page of 50
conversations (bench/desk.py); orjson does it in a tenth. The document is the same JSON: only
whitespace and `\\u` escapes of non-ASCII text differ (UTF-8, as the Content-Type says). What orjson
refuses (an integer beyond 64 bits in a channel's attributes, a lone surrogate) goes through the
standard library as before.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web


def dumps(data: Any) -> bytes:
    """(bridge/fastjson.py reads and writes the per-message path's JSON the same way.)"""
    try:
        return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:  # orjson.JSONEncodeError is one
        return json.dumps(data).encode()


def json_response(data: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """As aiohttp's `web.json_response` (application/json; charset=utf-8)."""
    return web.Response(body=dumps(data), status=status, headers=headers, content_type="application/json",
                        charset="utf-8")
