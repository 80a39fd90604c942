"""U+0000 on PostgreSQL: its text cannot hold the character (SQLite's can), and its jsonb refuses the escape.

Every text parameter of the store's connections goes through `NulFreeStr`, which writes U+0000 as U+FFFD — as
a bad byte is read — so no value from outside (a channel's id, a thread hint, a CLI argument, a row copied
from SQLite) is a `DataError` at the database: a message is kept, a look-up finds nothing. The HTTP door
refuses U+0000 from agents before it gets here (bridge/web/api.py); ingest changes a record before it is
stored (ingest.without_nul) so that what it returns is what was stored. JSON that PostgreSQL reads as jsonb
goes through `json_text`.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
from psycopg.abc import Buffer
from psycopg.adapt import AdaptersMap
from psycopg.types.string import StrDumper, StrDumperUnknown

NUL, REPLACEMENT = "\x00", "\ufffd"


def nul_free(value: str) -> str:
    return value.replace(NUL, REPLACEMENT) if NUL in value else value


class NulFreeText(StrDumper):
    """A str where a text is expected by type (the elements of a text array: `= ANY(%s)`)."""

    def dump(self, obj: str) -> Buffer | None:
        return super().dump(nul_free(obj))


class NulFreeStr(StrDumperUnknown):
    """A str whose type the database infers, psycopg's default for `%s`."""

    def dump(self, obj: str) -> Buffer | None:
        return super().dump(nul_free(obj))


def _adapters() -> AdaptersMap:
    adapters = AdaptersMap(psycopg.adapters)
    adapters.register_dumper(str, NulFreeText)
    adapters.register_dumper(str, NulFreeStr)  # the last registered is the one `%s` takes
    return adapters


ADAPTERS = _adapters()  # passed as `context` to every connection the store opens


def _nul_free(value: Any) -> Any:
    if isinstance(value, str):
        return nul_free(value)
    if isinstance(value, dict):
        return {nul_free(k): _nul_free(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nul_free(v) for v in value]
    return value


def json_text(value: object) -> str:
    """JSON for a column the database reads as jsonb (a conversation's attrs and labels): `\\u0000` there is an
    error, so a string holding U+0000 is written with U+FFFD. Parsing again keeps an escaped backslash apart
    from an escape; only a text that holds the escape pays for it."""
    text = json.dumps(value, default=str)
    return text if "\\u0000" not in text else json.dumps(_nul_free(json.loads(text)))
