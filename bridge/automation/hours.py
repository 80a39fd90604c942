"""Business hours per team: open now?, back when?, and how many working seconds between two times.

Hours are local to the team's time zone (zoneinfo + tzdata), so daylight saving
and a team on the other side of the world just work; holidays are whole local days.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tpbridge.bridge.automation.settings import TeamSettings

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})")
Span = tuple[int, int]  # minutes since local midnight: [start, end)


def _days(key: str) -> list[int]:
    out: list[int] = []
    for part in key.split(","):
        ends = [DAYS.index(p.strip().lower()[:3]) for p in part.split("-")]
        if len(ends) == 1:
            out.append(ends[0])
        else:
            a, b = ends
            out.extend(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    return out


def _spans(value: str | list[str]) -> list[Span]:
    out = []
    for text in [value] if isinstance(value, str) else value:
        m = _SPAN.fullmatch(text.strip())
        if m:
            h1, m1, h2, m2 = (int(g) for g in m.groups())
            out.append((h1 * 60 + m1, h2 * 60 + m2))
    return sorted(out)


@dataclass(frozen=True)
class Hours:
    """One team's week: spans per weekday (Monday = 0), in its zone, minus holidays."""

    zone: ZoneInfo
    week: dict[int, list[Span]] | None  # None: around the clock
    holidays: frozenset[date] = frozenset()

    @classmethod
    def of(cls, team: TeamSettings | None) -> Hours:
        if team is None:
            return cls(ZoneInfo("UTC"), None)
        week: dict[int, list[Span]] | None = None
        if team.hours:
            week = {d: [] for d in range(7)}
            for key, value in team.hours.items():
                for day in _days(key):
                    week[day] = _spans(value)  # a later, more specific key wins ("fri" after "mon-fri")
        return cls(ZoneInfo(team.timezone), week, frozenset(team.holidays))

    @property
    def always(self) -> bool:
        return self.week is None and not self.holidays

    def _day(self, day: date) -> list[Span]:
        if day in self.holidays:
            return []
        if self.week is None:
            return [(0, 24 * 60)]
        return self.week.get(day.weekday(), [])

    def is_open(self, when: datetime) -> bool:
        local = when.astimezone(self.zone)
        minute = local.hour * 60 + local.minute
        return any(a <= minute < b for a, b in self._day(local.date()))

    def _at(self, day: date, minute: int) -> datetime:
        if minute >= 24 * 60:
            return datetime.combine(day + timedelta(days=1), time(0), self.zone)
        return datetime.combine(day, time(minute // 60, minute % 60), self.zone)

    def next_open(self, when: datetime) -> datetime | None:
        """When the team is next at work (`when` itself if open now); None if never within a year."""
        if self.is_open(when):
            return when
        local = when.astimezone(self.zone)
        minute = local.hour * 60 + local.minute
        for offset in range(0, 366):
            day = local.date() + timedelta(days=offset)
            for a, _b in self._day(day):
                if offset > 0 or a > minute:
                    return self._at(day, a)
        return None

    def seconds_between(self, start: datetime, end: datetime) -> float:
        """Working seconds in [start, end): the clock stops at night, weekends and holidays."""
        if end <= start:
            return 0.0
        if self.always:
            return (end - start).total_seconds()
        total = 0.0
        day = start.astimezone(self.zone).date() - timedelta(days=1)
        last = end.astimezone(self.zone).date()
        if (last - day).days > 800:  # beyond two years, a wall-clock answer is as honest as any
            return (end - start).total_seconds()
        while day <= last:
            for a, b in self._day(day):
                lo = max(start, self._at(day, a).astimezone(UTC))
                hi = min(end, self._at(day, b).astimezone(UTC))
                if hi > lo:
                    total += (hi - lo).total_seconds()
            day += timedelta(days=1)
        return total
