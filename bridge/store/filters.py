"""The conversation list's filter terms that both stores write alike (`mark`: each one's parameter mark).

Status, label, search and the cursor differ by store (index hints, a label's own plan, FTS5 against a
tsvector, a row comparison): each store adds those itself.
"""

from __future__ import annotations

from typing import Any

from tpbridge.bridge.model import Viewer
from tpbridge.bridge.store.protocol import ConversationFilter


def equal_terms(viewer: Viewer, flt: ConversationFilter, mark: str) -> tuple[list[str], list[Any]]:
    """`AND c.<column> = <mark>` for each of inbox, channel, team, priority and contact given, then the
    assignee's term ("me": the viewer; "unassigned"; "all" or none: no term; else an agent id)."""
    sql: list[str] = []
    args: list[Any] = []
    for column, value in (("inbox", flt.inbox), ("channel", flt.channel), ("team", flt.team),
                          ("priority", flt.priority), ("contact_id", flt.contact_id)):
        if value is not None:
            sql.append(f"AND c.{column} = {mark}")
            args.append(int(value) if column == "priority" else value)
    if flt.assignee == "me":
        sql.append(f"AND c.assignee_id = {mark}")
        args.append(viewer.agent_id)
    elif flt.assignee == "unassigned":
        sql.append("AND c.assignee_id IS NULL")
    elif flt.assignee not in (None, "", "all"):
        sql.append(f"AND c.assignee_id = {mark}")
        args.append(int(flt.assignee or 0))
    return sql, args
