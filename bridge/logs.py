"""structlog set-up: one JSON object per line in production, readable lines on a TTY, no secrets."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_SECRET_KEYS = re.compile(r"(token|secret|password|passwd|aes_key|authorization|cookie|api_key)", re.I)
_SECRET_IN_TEXT = re.compile(r"(bot\d+:[A-Za-z0-9_-]{20,}|tpb_[A-Za-z0-9_-]{20,}|access_token=[^&\s\"']+)")


def redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Drop values of secret-looking keys and mask tokens inside strings (URLs with a bot token)."""
    for key, value in list(event.items()):
        if key != "event" and _SECRET_KEYS.search(key) and value is not None:
            event[key] = "[redacted]"
        elif isinstance(value, str):
            event[key] = _SECRET_IN_TEXT.sub("[redacted]", value)
    return event


def setup(level: str = "info", fmt: str = "auto") -> None:
    as_json = fmt == "json" or (fmt == "auto" and not sys.stdout.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact,
    ]
    renderer: Any = (structlog.processors.JSONRenderer(ensure_ascii=False) if as_json
                     else structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty()))
    # Our own lines go straight to stdout (no trip through stdlib logging: it is on the hot path
    # of every message); libraries' stdlib records get the same processors and renderer below.
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info if as_json else structlog.dev.set_exc_info,
                    renderer],
        logger_factory=structlog.WriteLoggerFactory(file=sys.stdout),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    *([structlog.processors.format_exc_info] if as_json else []), renderer],
    ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Libraries' chatter (access logs, HTTP clients that print URLs with tokens) stays at warning.
    for noisy in ("aiohttp.access", "httpx", "httpcore", "telegram", "tweepy", "aioimaplib", "urllib3", "mail.log"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
