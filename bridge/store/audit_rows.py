"""The audit trail's table as both stores read it: a row to an entry, and the filtered list's statement.

How entries are appended differs (SQLite's one writer, PostgreSQL's locked state row); the columns and
the list's filters and the read of what follows an entry are the same, so they are written once here,
each store naming its placeholder.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Any

from tpbridge.bridge.audit import AuditEntry


def entry(row: sqlite3.Row | Mapping[str, Any]) -> AuditEntry:
    return AuditEntry(row["id"], row["at"], row["agent_id"], row["agent"], row["action"], row["object"],
                      row["address"], json.loads(row["detail"] or "{}"), row["prev_hash"], row["hash"])


def list_statement(mark: str, limit: int, before_id: int | None, agent_id: int | None,
                   action: str | None) -> tuple[str, tuple[Any, ...]]:
    """audit_list's SELECT, newest first, and its arguments; `mark` is the store's placeholder."""
    where: list[str] = []
    args: list[Any] = []
    if before_id is not None:
        where.append(f"id < {mark}")
        args.append(before_id)
    if agent_id is not None:
        where.append(f"agent_id = {mark}")
        args.append(agent_id)
    if action is not None:
        where.append(f"action = {mark}")
        args.append(action)
    filters = f" WHERE {' AND '.join(where)}" if where else ""
    return f"SELECT * FROM audit_log{filters} ORDER BY id DESC LIMIT {mark}", (*args, limit)


def after_statement(mark: str) -> str:
    """audit_after's SELECT (arguments: the last id seen, the limit), oldest first."""
    return f"SELECT * FROM audit_log WHERE id > {mark} ORDER BY id LIMIT {mark}"
