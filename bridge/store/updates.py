"""What `update_conversation`, `update_contact` and `update_agent` may set and how, the same for both stores.

Which columns may be set, and how a value is stored (datetimes as unix seconds, enums as their value,
labels and languages as JSON lists, attrs merged as a JSON merge patch, a contact's name and email
sealed), is one rule; each store only names its own placeholder (`?` or `%s`) and its own JSON patch
expression.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from tpbridge.bridge.model import Role
from tpbridge.bridge.store.protocol import AgentFields, ConversationFields
from tpbridge.bridge.store.sqlite.sealing import seal

CONVERSATION_FIELDS = {
    "status", "subject", "priority", "category", "language", "assignee_id", "team", "labels",
    "snoozed_until", "first_response_at", "resolved_at", "handoff_at", "reopened_at", "unread",
    "linked_conversation_id", "attrs",
}

CONTACT_FIELDS = {"name", "email", "tier", "language"}

# `teams` is kept in agent_teams, every other field in its column of agents
AGENT_FIELDS = {"name", "role", "password_hash", "languages", "ui_language", "presence", "capacity", "disabled",
                "teams"}


def check(fields: Iterable[str], allowed: set[str]) -> None:
    """ValueError naming the fields given that are not `allowed` (CONVERSATION_FIELDS, CONTACT_FIELDS,
    AGENT_FIELDS)."""
    bad = set(fields) - allowed
    if bad:
        raise ValueError(f"not updatable: {sorted(bad)}")


def _json(value: object) -> str:
    return json.dumps(value, default=str)


def conversation_statement(conversation_id: int, fields: ConversationFields, now: float, mark: str,
                           attrs_patch: str, json_text: Callable[[object], str] = _json) -> tuple[str, list[Any]]:
    """The UPDATE and its arguments: `mark` is the placeholder, `attrs_patch` the expression merging
    the stored attrs with a JSON patch passed in its own placeholder, `json_text` what writes the JSON of
    attrs and labels. ValueError for a field not updatable."""
    check(fields, CONVERSATION_FIELDS)
    sets, args = [f"updated_at = {mark}"], [now]  # type: list[str], list[Any]
    for key, value in fields.items():
        if key == "attrs":
            sets.append(f"attrs = {attrs_patch}")
            args.append(json_text(value))
        elif key == "labels":
            sets.append(f"labels = {mark}")
            args.append(json_text(list(fields["labels"])))
        else:
            sets.append(f"{key} = {mark}")
            if isinstance(value, datetime):
                value = value.timestamp()
            elif isinstance(value, enum.Enum):
                value = value.value
            args.append(value)
    args.append(conversation_id)
    return f"UPDATE conversations SET {', '.join(sets)} WHERE id = {mark}", args


def contact_statement(conn: object, contact_id: int, fields: Mapping[str, str | None], now: float,
                      mark: str) -> tuple[str, tuple[Any, ...]]:
    """The UPDATE and its arguments: a name or an email given makes the contact no longer anonymous;
    both are sealed for `conn`'s store (when it encrypts)."""
    sets = [f"{k} = {mark}" for k in fields]
    if fields.get("name") or fields.get("email"):
        sets.append("anonymous = 0")
    return (f"UPDATE contacts SET {', '.join(sets)}, updated_at = {mark} WHERE id = {mark}",
            (*(seal(conn, v) if k in ("name", "email") else v for k, v in fields.items()), now, contact_id))


def agent_columns(fields: AgentFields) -> dict[str, object]:
    """The agents columns to set and their stored values (languages as a JSON list, the role as its value,
    booleans as 0/1); `teams` is not a column. ValueError for a field not updatable."""
    check(fields, AGENT_FIELDS)
    columns: dict[str, object] = {k: v for k, v in fields.items() if k not in ("teams", "languages")}
    if "languages" in fields:
        columns["languages"] = json.dumps(list(fields["languages"]))
    for key, value in columns.items():
        if isinstance(value, Role):
            columns[key] = value.value
        elif isinstance(value, bool):
            columns[key] = int(value)
    return columns
