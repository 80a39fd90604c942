"""Queries for support automation (bot sessions, queue, cycles, surveys, reports): owned by bridge/automation."""

from __future__ import annotations

import sqlite3

from tpbridge.bridge.model import Cycle, Message, Waiting
from tpbridge.bridge.store.protocol import ReportRows
from tpbridge.bridge.store.sqlite import people, rows
from tpbridge.bridge.store.sqlite.base import SqliteBase
from tpbridge.bridge.store.sqlite.sealing import seal

WAITING = "status = 'open' AND assignee_id IS NULL AND handoff_at IS NOT NULL"


def _forget(c: sqlite3.Connection, conversation_ids: list[int], contact_ids: list[int]) -> None:
    """A forgotten person leaves no survey answer, bot session or cycle behind."""
    for conv_id in conversation_ids:
        for table in ("automation_cycles", "automation_bot", "automation_surveys"):
            c.execute(f"DELETE FROM {table} WHERE conversation_id = ?", (conv_id,))
    for contact_id in contact_ids:
        c.execute("DELETE FROM automation_surveys WHERE contact_id = ?", (contact_id,))


if _forget not in people.FORGET_HOOKS:
    people.FORGET_HOOKS.append(_forget)


class AutomationStore(SqliteBase):
    # ------------------------------------------------------------ language
    async def set_message_language(self, message_id: int, language: str | None) -> Message | None:
        def run(c: sqlite3.Connection) -> Message | None:
            if c.execute("UPDATE messages SET language = ? WHERE id = ?", (language, message_id)).rowcount == 0:
                return None
            return rows.load_message(c, message_id)

        return await self._write(run)

    async def last_resolved(self, identity_id: int, exclude: int) -> int | None:
        """The person's most recently resolved conversation: where a survey answer in a new one belongs."""
        return await self._read(lambda c: next((r[0] for r in c.execute(
            "SELECT id FROM conversations WHERE identity_id = ? AND id != ? AND status = 'resolved'"
            " ORDER BY resolved_at DESC, id DESC LIMIT 1", (identity_id, exclude))), None))

    async def auto_replies_since(self, conversation_id: int, since: float) -> int:
        return await self._read(lambda c: c.execute(
            "SELECT COUNT(*) FROM messages WHERE conversation_id = ? AND auto = 1 AND created_at >= ?",
            (conversation_id, since)).fetchone()[0])

    # ------------------------------------------------------------ queue and load
    async def agent_loads(self) -> dict[int, int]:
        """Open (not resolved) conversations per assigned agent: what balancing counts."""
        return await self._read(lambda c: {r[0]: r[1] for r in c.execute(
            "SELECT assignee_id, COUNT(*) FROM conversations WHERE assignee_id IS NOT NULL AND status != 'resolved'"
            " GROUP BY assignee_id")})

    async def waiting(self, team: str | None) -> list[Waiting]:
        """A team's queue, in order: priority first, then who waited longest."""
        return await self._read(lambda c: [Waiting(r[0], r[1], r[2], r[3]) for r in c.execute(
            f"SELECT id, priority, handoff_at, language FROM conversations WHERE team IS ? AND {WAITING}"
            " ORDER BY priority DESC, handoff_at, id", (team,))])

    async def waiting_teams(self) -> list[str | None]:
        return await self._read(lambda c: [r[0] for r in c.execute(
            f"SELECT DISTINCT team FROM conversations WHERE {WAITING}")])

    async def set_team_lead(self, team: str, email: str) -> int | None:
        def run(c: sqlite3.Connection) -> int | None:
            row = c.execute("SELECT id FROM agents WHERE email = ?", (email.lower(),)).fetchone()
            lead = row[0] if row else None
            c.execute("UPDATE teams SET lead_id = ? WHERE name = ?", (lead, team))
            return lead

        return await self._write(run)

    # ------------------------------------------------------------ cycles (first response, resolution)
    async def start_cycle(self, conversation_id: int, inbox: str, channel: str, team: str | None,
                          category: str | None, language: str | None, priority: int, reason: str,
                          position: int, at: float) -> None:
        def run(c: sqlite3.Connection) -> None:
            # An earlier cycle nobody answered is superseded: one clock per conversation at a time.
            c.execute("DELETE FROM automation_cycles WHERE conversation_id = ? AND first_human_at IS NULL"
                      " AND resolved_at IS NULL", (conversation_id,))
            c.execute(
                "INSERT INTO automation_cycles (conversation_id, inbox, channel, team, category, language, priority,"
                " reason, started_at, position) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (conversation_id, inbox, channel, team, category, language, priority, reason, at, position))

        await self._write(run)

    async def cycle_assigned(self, conversation_id: int, at: float) -> None:
        await self._write(lambda c: c.execute(
            "UPDATE automation_cycles SET assigned_at = ? WHERE id = (SELECT MAX(id) FROM automation_cycles"
            " WHERE conversation_id = ?) AND assigned_at IS NULL", (at, conversation_id)))

    async def cycle_first_human(self, conversation_id: int, at: float) -> Cycle | None:
        """Record the first human reply of the open cycle; returns the cycle when this reply was that first one."""

        def run(c: sqlite3.Connection) -> Cycle | None:
            row = c.execute(
                "SELECT * FROM automation_cycles WHERE conversation_id = ? AND first_human_at IS NULL"
                " AND resolved_at IS NULL ORDER BY id DESC LIMIT 1", (conversation_id,)).fetchone()
            if row is None:
                return None
            c.execute("UPDATE automation_cycles SET first_human_at = ? WHERE id = ?", (at, row["id"]))
            return Cycle(row["id"], row["conversation_id"], row["team"], row["started_at"], row["position"])

        return await self._write(run)

    async def cycle_resolved(self, conversation_id: int, at: float) -> None:
        await self._write(lambda c: c.execute(
            "UPDATE automation_cycles SET resolved_at = ? WHERE conversation_id = ? AND resolved_at IS NULL",
            (at, conversation_id)))

    async def team_wait(self, team: str | None) -> tuple[float | None, int]:
        def run(c: sqlite3.Connection) -> tuple[float | None, int]:
            row = c.execute("SELECT per_place, samples FROM automation_team_waits WHERE team = ?",
                            (team or "",)).fetchone()
            return (None, 0) if row is None else (row[0], row[1])

        return await self._read(run)

    async def add_team_wait(self, team: str | None, per_place: float, alpha: float) -> float:
        """Fold one measured wait (seconds per place in the queue) into the team's EWMA."""
        now = self.now()

        def run(c: sqlite3.Connection) -> float:
            row = c.execute("SELECT per_place FROM automation_team_waits WHERE team = ?", (team or "",)).fetchone()
            value = per_place if row is None else alpha * per_place + (1 - alpha) * row[0]
            c.execute(
                "INSERT INTO automation_team_waits (team, per_place, samples, updated_at) VALUES (?,?,1,?)"
                " ON CONFLICT(team) DO UPDATE SET per_place = ?, samples = samples + 1, updated_at = ?",
                (team or "", value, now, value, now))
            return value

        return await self._write(run)

    # ------------------------------------------------------------ bot sessions and surveys
    async def bot_event(self, conversation_id: int, inbox: str, channel: str, language: str | None,
                        *, answered: bool = False, handed_off: bool = False, resolved: bool = False) -> None:
        now = self.now()
        await self._write(lambda c: c.execute(
            "INSERT INTO automation_bot (conversation_id, inbox, channel, language, started_at, answers, handed_off,"
            " resolved) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(conversation_id) DO UPDATE SET"
            " answers = answers + excluded.answers, handed_off = MAX(handed_off, excluded.handed_off),"
            " resolved = MAX(resolved, excluded.resolved), language = COALESCE(excluded.language, language)",
            (conversation_id, inbox, channel, language, now, int(answered), int(handed_off), int(resolved))))

    async def add_survey(self, conversation_id: int, contact_id: int, inbox: str, channel: str, team: str | None,
                         language: str | None, score: int, text: str) -> None:
        now = self.now()
        await self._write(lambda c: c.execute(
            "INSERT INTO automation_surveys (conversation_id, contact_id, inbox, channel, team, language, score, text,"
            " created_at) VALUES (?,?,?,?,?,?,?,?,?)",
            (conversation_id, contact_id, inbox, channel, team, language, score, seal(c, text[:200]), now)))

    # ------------------------------------------------------------ reports
    async def report_rows(self, since: float, until: float) -> ReportRows:
        """The raw rows of a period; bridge/automation/reports.py turns them into numbers."""

        def run(c: sqlite3.Connection) -> ReportRows:
            def q(sql: str) -> list[dict[str, object]]:
                return [dict(r) for r in c.execute(sql, (since, until) * sql.count("UNION ALL") + (since, until))]

            # Erased conversations still count (anonymously): see bridge/store/sqlite/retention.py.
            return {
                "conversations": q(
                    "SELECT id, inbox, channel, category, language, team, status, created_at, resolved_at, handoff_at"
                    " FROM conversations WHERE created_at >= ? AND created_at < ?"
                    # a conversation holding only a survey answer is part of the one it answers
                    " AND json_extract(attrs, '$.automation.stage') IS NOT 'survey'"
                    " UNION ALL SELECT * FROM erased_conversations WHERE created_at >= ? AND created_at < ?"),
                "cycles": q("SELECT * FROM automation_cycles WHERE started_at >= ? AND started_at < ?"
                            " UNION ALL SELECT * FROM erased_cycles WHERE started_at >= ? AND started_at < ?"),
                "bot": q("SELECT * FROM automation_bot WHERE started_at >= ? AND started_at < ?"
                         " UNION ALL SELECT * FROM erased_bot WHERE started_at >= ? AND started_at < ?"),
                "surveys": q("SELECT * FROM automation_surveys WHERE created_at >= ? AND created_at < ?"
                             " UNION ALL SELECT * FROM erased_surveys WHERE created_at >= ? AND created_at < ?"),
                "inbound": q(
                    "SELECT created_at, conversation_id FROM messages WHERE direction = 'in'"
                    " AND author_kind = 'contact' AND created_at >= ? AND created_at < ?"),
                # who answered each conversation first (per-agent reports)
                "first_replies": q(
                    "SELECT conversation_id, author_id AS agent_id, author_name AS agent, MIN(created_at) AS at"
                    " FROM messages WHERE author_kind = 'agent' AND private = 0 AND created_at >= ? AND created_at < ?"
                    " GROUP BY conversation_id"),
            }

        return await self._read(run)
