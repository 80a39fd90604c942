"""`update_conversation`'s statement, the same for both stores but for the placeholder and the attrs patch.

Which columns may be set, and how a value is stored (datetimes as unix seconds, enums as their value,
labels as a JSON list, attrs merged as a JSON merge patch), is one rule; each store only names its own
placeholder (`?` or `%s`) and its own JSON patch expression.
"""

from __future__ import annotations

import enum
import json
from datetime import datetime
from typing import Any

from tpbridge.bridge.store.protocol import ConversationFields

UPDATABLE = {
    "status", "subject", "priority", "category", "language", "assignee_id", "team", "labels",
    "snoozed_until", "first_response_at", "resolved_at", "handoff_at", "reopened_at", "unread",
    "linked_conversation_id", "attrs",
}


def check(fields: ConversationFields) -> None:
    """ValueError for a field update_conversation does not set."""
    bad = set(fields) - UPDATABLE
    if bad:
        raise ValueError(f"not updatable: {sorted(bad)}")


def statement(conversation_id: int, fields: ConversationFields, now: float, mark: str,
              attrs_patch: str) -> tuple[str, list[Any]]:
    """The UPDATE and its arguments: `mark` is the placeholder, `attrs_patch` the expression merging
    the stored attrs with a JSON patch passed in its own placeholder."""
    sets, args = [f"updated_at = {mark}"], [now]  # type: list[str], list[Any]
    for key, value in fields.items():
        if key == "attrs":
            sets.append(f"attrs = {attrs_patch}")
            args.append(json.dumps(value, default=str))
        elif key == "labels":
            sets.append(f"labels = {mark}")
            args.append(json.dumps(list(fields["labels"])))
        else:
            sets.append(f"{key} = {mark}")
            if isinstance(value, datetime):
                value = value.timestamp()
            elif isinstance(value, enum.Enum):
                value = value.value
            args.append(value)
    args.append(conversation_id)
    return f"UPDATE conversations SET {', '.join(sets)} WHERE id = {mark}", args
