"""Queue position and estimated wait, per team.

The estimate is honest and explainable: an exponentially weighted average of
recent measured waits, each divided by the place the person had in the queue
(seconds per place), times the current place. Waits are measured in business
hours, so a night does not make tomorrow's estimate absurd.
"""

from __future__ import annotations

from dataclasses import dataclass

from tpbridge.bridge.model import Waiting


@dataclass(frozen=True, slots=True)
class Place:
    position: int  # 1 = next
    ahead: int
    length: int
    wait_seconds: float
    measured: bool  # False while the team has no measured waits (the configured default is used)


def position_of(queue: list[Waiting], conversation_id: int) -> int | None:
    for i, w in enumerate(queue, 1):
        if w.conversation_id == conversation_id:
            return i
    return None


def estimate(position: int, per_place: float | None, default_per_place: float) -> tuple[float, bool]:
    if per_place is None:
        return position * default_per_place, False
    return max(60.0, position * per_place), True


def material(announced: int, now: int, step: int) -> bool:
    """Worth another message: moved `step` places, or halved (10 -> 5), never for a move of one."""
    moved = announced - now
    return moved >= 2 and (moved >= step or now * 2 <= announced)
