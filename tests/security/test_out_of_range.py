"""Values too large for what the stores keep, from outside, on both stores, against the daemon as a subprocess.

Ids, limits and cursors are 64-bit in both stores (SQLite cannot bind a larger Python int at all: a 500);
PostgreSQL's indexes refuse a key over ~2,700 bytes that does not compress. Every documented route is given
numbers past 64 bits, a page cursor naming one, and an incompressible 3,000-character text in every query
parameter and body field: each answers with a clear 4xx or does its work — never a 500.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.security.support import json_schema, query_names, walk
from tests.support.daemon import Daemon
from tests.support.texts import incompressible

pytestmark = pytest.mark.slow

HUGE = 2**70
LONG = incompressible()  # ~9 KB that does not compress
CURSOR = base64.urlsafe_b64encode(json.dumps([1.0, HUGE]).encode()).decode().rstrip("=")
QUERY_VALUES = (str(HUGE), str(-HUGE), "9" * 40, CURSOR, LONG)


def _bodies(op: dict[str, Any], doc: dict[str, Any]) -> list[dict[str, Any]]:
    """JSON bodies giving every documented field a number past 64 bits, then a long text (lists of one)."""
    props = json_schema(op, doc).get("properties", {}) or {"text": {}, "name": {}}
    return [{name: [value] if prop.get("type") == "array" else value for name, prop in props.items()}
            for value in (HUGE, LONG)]


async def test_every_route_given_values_too_large_answers_without_a_500_on_either_store(
        tmp_path: Path, store_url: str) -> None:
    async with Daemon(tmp_path, store_url=store_url) as d:
        w = await walk(d)
        tried = 0
        for method, path, op in w.operations:
            # Deleting what the id names (the conversation's person, the admin's own token) would leave the
            # rest of the walk nothing to act on, or no way in: a delete is given only the id too large.
            for ident in (str(HUGE),) if method == "delete" else (str(w.conversation), str(HUGE)):
                url = d.url + re.sub(r"\{[^}]+\}", ident, path)
                names = query_names(op)
                for name, value in ((n, v) for n in names for v in QUERY_VALUES):  # one at a time: the
                    params = {name: value}  # first refused would hide the others
                    async with d.session.request(method.upper(), url, params=params, headers=w.headers) as resp:
                        assert resp.status < 500, (method, path, ident, name, value[:40], resp.status,
                                                   (await resp.text())[:300])
                if method in ("post", "patch", "put"):
                    for body in _bodies(op, w.doc):
                        async with d.session.request(method.upper(), url, json=body, headers=w.headers) as resp:
                            assert resp.status < 500, (method, path, ident, str(body)[:60], resp.status,
                                                       (await resp.text())[:300])
                tried += 1
        assert tried >= 60
        assert "http.unhandled" not in d.logs()
