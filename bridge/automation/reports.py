"""Support reports from stored facts: first response, resolution, reopens, CSAT, deflection, volumes.

Honest definitions (they are returned with the numbers):
- first response time runs from the handoff (or reopen, or complaint) to the first
  *human* reply, counted in the team's business hours; bot replies do not count;
- medians and p90 (nearest rank), not only means;
- deflection is the share of conversations the bot answered that never reached a person.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from tpbridge.bridge.automation.hours import Hours

DEFINITIONS = {
    "first_response": "handoff, reopen or complaint -> first human (agent) reply, business seconds of the team",
    "resolution": "handoff, reopen or complaint -> resolved, wall-clock seconds",
    "reopen_rate": "conversations reopened (a new message or a low score after resolve) / conversations resolved",
    "csat": "share of survey answers scoring 4 or 5",
    "deflection_rate": "conversations the bot answered that never went to a person / conversations the bot answered",
}


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile: a value that really occurred."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def spread(values: list[float]) -> dict[str, Any]:
    return {
        "count": len(values),
        "median_seconds": percentile(values, 50),
        "p90_seconds": percentile(values, 90),
        "mean_seconds": (sum(values) / len(values)) if values else None,
    }


def _ts(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def _count(rows: Iterable[dict[str, Any]], key: str) -> dict[str, int]:
    return dict(Counter(str(r.get(key) or "unknown") for r in rows).most_common())


def compute(rows: dict[str, list[dict[str, Any]]], hours_of: Callable[[str | None], Hours], *, since: float,
            until: float, tz: str = "UTC") -> dict[str, Any]:
    convs, cycles, bot, surveys = rows["conversations"], rows["cycles"], rows["bot"], rows["surveys"]
    zone = ZoneInfo(tz)

    frt: list[float] = []
    frt_by_team: dict[str, list[float]] = {}
    unanswered = 0
    resolution = []
    for c in cycles:
        start = _ts(c["started_at"])
        if c.get("first_human_at"):
            waited = hours_of(c.get("team")).seconds_between(start, _ts(c["first_human_at"]))
            frt.append(waited)
            frt_by_team.setdefault(c.get("team") or "none", []).append(waited)
        else:
            unanswered += 1
        if c.get("resolved_at") and c.get("first_human_at"):
            resolution.append(max(0.0, c["resolved_at"] - c["started_at"]))

    resolved_ids = {c["conversation_id"] for c in cycles if c.get("resolved_at")}
    resolved_ids |= {c["id"] for c in convs if c.get("resolved_at")}
    reopened_ids = {c["conversation_id"] for c in cycles if c["reason"] in ("reopen", "complaint")}

    scores = [int(s["score"]) for s in surveys]
    answered_by_bot = [b for b in bot if b["answers"]]
    deflected = [b for b in answered_by_bot if not b["handed_off"]]

    by_hour = [0] * 24
    for m in rows["inbound"]:
        by_hour[_ts(m["created_at"]).astimezone(zone).hour] += 1

    return {
        "period": {"since": _ts(since).isoformat().replace("+00:00", "Z"),
                   "until": _ts(until).isoformat().replace("+00:00", "Z"), "timezone": tz},
        "definitions": DEFINITIONS,
        "volumes": {
            "conversations": len(convs),
            "handoffs": sum(1 for c in cycles if c["reason"] == "handoff"),
            "inbound_messages": len(rows["inbound"]),
            "by_channel": _count(convs, "channel"),
            "by_inbox": _count(convs, "inbox"),
            "by_category": _count(convs, "category"),
            "by_language": _count(convs, "language"),
            "by_hour": by_hour,
        },
        "first_response": {**spread(frt), "unanswered": unanswered,
                           "by_team": {team: spread(v) for team, v in sorted(frt_by_team.items())},
                           "by_agent": by_agent(rows.get("first_replies", []), cycles, hours_of)},
        "resolution": spread(resolution),
        "reopen_rate": {
            "resolved": len(resolved_ids), "reopened": len(reopened_ids),
            "rate": (len(reopened_ids & resolved_ids) / len(resolved_ids)) if resolved_ids else None,
        },
        "csat": {
            "responses": len(scores),
            "average": (sum(scores) / len(scores)) if scores else None,
            "satisfied_rate": (sum(1 for s in scores if s >= 4) / len(scores)) if scores else None,
            "distribution": {str(i): scores.count(i) for i in range(1, 6)},
        },
        "bot": {
            "conversations": len(bot), "answered": len(answered_by_bot), "deflected": len(deflected),
            "resolved_by_bot": sum(1 for b in bot if b["resolved"]),
            "handed_off": sum(1 for b in bot if b["handed_off"]),
            "deflection_rate": (len(deflected) / len(answered_by_bot)) if answered_by_bot else None,
        },
    }


def by_agent(first: list[dict[str, Any]], cycles: list[dict[str, Any]],
             hours_of: Callable[[str | None], Hours]) -> dict[str, dict[str, Any]]:
    """Per agent (by who wrote the first human reply): conversations answered and the first-response spread."""
    started = {c["conversation_id"]: c for c in cycles if c.get("first_human_at")}
    out: dict[str, list[float]] = {}
    answered: dict[str, int] = {}
    for r in first:
        name = str(r.get("agent") or r.get("agent_id") or "?")
        answered[name] = answered.get(name, 0) + 1
        cycle = started.get(r["conversation_id"])
        if cycle is not None:
            waited = hours_of(cycle.get("team")).seconds_between(_ts(cycle["started_at"]), _ts(cycle["first_human_at"]))
            out.setdefault(name, []).append(waited)
    return {name: {"answered": answered[name], **spread(out.get(name, []))} for name in sorted(answered)}
