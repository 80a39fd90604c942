"""Queries for support automation (bot sessions, queue, cycles, surveys, reports)."""

from __future__ import annotations

from typing import Any

from tpbridge.bridge.model import Conversation, Cycle, Message, Waiting
from tpbridge.bridge.store.postgres import notify, people, rows
from tpbridge.bridge.store.postgres.base import Conn, PostgresBase
from tpbridge.bridge.store.protocol import ReportRows
from tpbridge.bridge.store.sqlite.automation import WAITING


async def _forget(c: Conn, conversation_ids: list[int], contact_ids: list[int]) -> None:
    """A forgotten person leaves no survey answer, bot session or cycle behind."""
    for table in ("automation_cycles", "automation_bot", "automation_surveys"):
        await c.execute(f"DELETE FROM {table} WHERE conversation_id = ANY(%s)", (conversation_ids,))
    await c.execute("DELETE FROM automation_surveys WHERE contact_id = ANY(%s)", (contact_ids,))


if _forget not in people.FORGET_HOOKS:
    people.FORGET_HOOKS.append(_forget)


class AutomationStore(PostgresBase):
    async def _exec(self, sql: str, args: tuple[Any, ...]) -> None:
        async def run(c: Conn) -> None:
            await c.execute(sql, args)

        await self._tx(run)

    async def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        return await self._read(lambda c: rows.all_rows(c, sql, args))

    async def set_message_language(self, message_id: int, language: str | None) -> Message | None:
        async def run(c: Conn) -> Message | None:
            cur = await c.execute("UPDATE messages SET language = %s WHERE id = %s", (language, message_id))
            if cur.rowcount == 0:
                return None
            msg = await rows.load_message(c, message_id)
            await notify.notify(c, self.instance, notify.message_updated(msg.conversation_id, msg.id))
            return msg

        return await self._tx(run)

    async def set_contact_language(self, contact_id: int, language: str) -> list[Conversation]:
        now = self.now()

        async def run(c: Conn) -> list[Conversation]:
            await c.execute("UPDATE contacts SET language = %s, updated_at = %s WHERE id = %s",
                            (language, now, contact_id))
            root = await rows.value(c, "SELECT merged_into FROM contacts WHERE id = %s", (contact_id,))
            convs = await rows.family_conversations(c, await rows.family(c, root or contact_id))
            await notify.notify(c, self.instance, notify.conversations_updated(convs, ("contact",)))
            return convs

        return await self._tx(run)

    async def last_resolved(self, identity_id: int, exclude: int) -> int | None:
        found = await self._rows(
            "SELECT id FROM conversations WHERE identity_id = %s AND id != %s AND status = 'resolved'"
            " ORDER BY resolved_at DESC NULLS LAST, id DESC LIMIT 1", (identity_id, exclude))
        return found[0]["id"] if found else None

    async def auto_replies_since(self, conversation_id: int, since: float) -> int:
        found = await self._rows("SELECT count(*) AS n FROM messages WHERE conversation_id = %s AND auto = 1"
                                 " AND created_at >= %s", (conversation_id, since))
        return int(found[0]["n"])

    async def agent_loads(self) -> dict[int, int]:
        return {r["assignee_id"]: r["n"] for r in await self._rows(
            "SELECT assignee_id, count(*) AS n FROM conversations WHERE assignee_id IS NOT NULL"
            " AND status != 'resolved' GROUP BY assignee_id")}

    async def waiting(self, team: str | None) -> list[Waiting]:
        return [Waiting(r["id"], r["priority"], r["handoff_at"], r["language"]) for r in await self._rows(
            f"SELECT id, priority, handoff_at, language FROM conversations WHERE team IS NOT DISTINCT FROM %s"
            f" AND {WAITING} ORDER BY priority DESC, handoff_at, id", (team,))]

    async def waiting_teams(self) -> list[str | None]:
        return [r["team"] for r in await self._rows(f"SELECT DISTINCT team FROM conversations WHERE {WAITING}")]

    async def set_team_lead(self, team: str, email: str) -> int | None:
        async def run(c: Conn) -> int | None:
            lead: int | None = await rows.value(c, "SELECT id FROM agents WHERE email = %s", (email.lower(),))
            await c.execute("UPDATE teams SET lead_id = %s WHERE name = %s", (lead, team))
            return lead

        return await self._tx(run)

    async def start_cycle(self, conversation_id: int, inbox: str, channel: str, team: str | None,
                          category: str | None, language: str | None, priority: int, reason: str,
                          position: int, at: float) -> None:
        async def run(c: Conn) -> None:
            # An earlier cycle nobody answered is superseded: one clock per conversation at a time.
            await c.execute("DELETE FROM automation_cycles WHERE conversation_id = %s AND first_human_at IS NULL"
                            " AND resolved_at IS NULL", (conversation_id,))
            await c.execute(
                "INSERT INTO automation_cycles (conversation_id, inbox, channel, team, category, language, priority,"
                " reason, started_at, position) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                (conversation_id, inbox, channel, team, category, language, int(priority), reason, at, position))

        await self._tx(run)

    async def cycle_assigned(self, conversation_id: int, at: float) -> None:
        await self._exec(
            "UPDATE automation_cycles SET assigned_at = %s WHERE id = (SELECT max(id) FROM automation_cycles"
            " WHERE conversation_id = %s) AND assigned_at IS NULL", (at, conversation_id))

    async def cycle_first_human(self, conversation_id: int, at: float) -> Cycle | None:
        """Record the first human reply of the open cycle; returns the cycle when this reply was that first one."""

        async def run(c: Conn) -> Cycle | None:
            row = await rows.one(
                c, "SELECT * FROM automation_cycles WHERE conversation_id = %s AND first_human_at IS NULL"
                " AND resolved_at IS NULL ORDER BY id DESC LIMIT 1 FOR UPDATE", (conversation_id,))
            if row is None:
                return None
            await c.execute("UPDATE automation_cycles SET first_human_at = %s WHERE id = %s", (at, row["id"]))
            return cycle_result(row)

        return await self._tx(run)

    async def cycle_resolved(self, conversation_id: int, at: float) -> None:
        await self._exec("UPDATE automation_cycles SET resolved_at = %s WHERE conversation_id = %s"
                         " AND resolved_at IS NULL", (at, conversation_id))

    async def team_wait(self, team: str | None) -> tuple[float | None, int]:
        found = await self._rows("SELECT per_place, samples FROM automation_team_waits WHERE team = %s", (team or "",))
        return (None, 0) if not found else (found[0]["per_place"], found[0]["samples"])

    async def add_team_wait(self, team: str | None, per_place: float, alpha: float) -> float:
        """Fold one measured wait (seconds per place in the queue) into the team's EWMA."""
        now = self.now()

        async def run(c: Conn) -> float:
            value: float = await rows.value(
                c, "INSERT INTO automation_team_waits AS w (team, per_place, samples, updated_at) VALUES (%s,%s,1,%s)"
                " ON CONFLICT (team) DO UPDATE SET per_place = %s * excluded.per_place + (1 - %s) * w.per_place,"
                " samples = w.samples + 1, updated_at = excluded.updated_at RETURNING per_place",
                (team or "", per_place, now, alpha, alpha))
            return value

        return await self._tx(run)

    async def bot_event(self, conversation_id: int, inbox: str, channel: str, language: str | None,
                        *, answered: bool = False, handed_off: bool = False, resolved: bool = False) -> None:
        await self._exec(
            "INSERT INTO automation_bot AS b (conversation_id, inbox, channel, language, started_at, answers,"
            " handed_off, resolved) VALUES (%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (conversation_id) DO UPDATE SET"
            " answers = b.answers + excluded.answers, handed_off = greatest(b.handed_off, excluded.handed_off),"
            " resolved = greatest(b.resolved, excluded.resolved), language = coalesce(excluded.language, b.language)",
            (conversation_id, inbox, channel, language, self.now(), int(answered), int(handed_off), int(resolved)))

    async def add_survey(self, conversation_id: int, contact_id: int, inbox: str, channel: str, team: str | None,
                         language: str | None, score: int, text: str) -> None:
        await self._exec(
            "INSERT INTO automation_surveys (conversation_id, contact_id, inbox, channel, team, language, score, text,"
            " created_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s)",
            (conversation_id, contact_id, inbox, channel, team, language, score,
             self.codec.seal(text[:200]) if self.codec is not None else text[:200], self.now()))

    async def report_rows(self, since: float, until: float) -> ReportRows:
        """The raw rows of a period; bridge/automation/reports.py turns them into numbers."""

        async def run(c: Conn) -> dict[str, list[dict[str, Any]]]:
            async def q(sql: str) -> list[dict[str, Any]]:
                args = (since, until) * (sql.count("UNION ALL") + 1)
                return [dict(r) for r in await rows.all_rows(c, sql, args)]

            # Erased conversations still count (anonymously): see retention.py.
            return {
                "conversations": await q(
                    "SELECT id, inbox, channel, category, language, team, status, created_at, resolved_at, handoff_at"
                    " FROM conversations WHERE created_at >= %s AND created_at < %s"
                    # a conversation holding only a survey answer is part of the one it answers
                    " AND (attrs::jsonb #>> '{automation,stage}') IS DISTINCT FROM 'survey'"
                    " UNION ALL SELECT * FROM erased_conversations WHERE created_at >= %s AND created_at < %s"),
                "cycles": await q("SELECT * FROM automation_cycles WHERE started_at >= %s AND started_at < %s"
                                  " UNION ALL SELECT * FROM erased_cycles WHERE started_at >= %s AND started_at < %s"),
                "bot": await q("SELECT * FROM automation_bot WHERE started_at >= %s AND started_at < %s"
                               " UNION ALL SELECT * FROM erased_bot WHERE started_at >= %s AND started_at < %s"),
                "surveys": await q(
                    "SELECT * FROM automation_surveys WHERE created_at >= %s AND created_at < %s"
                    " UNION ALL SELECT * FROM erased_surveys WHERE created_at >= %s AND created_at < %s"),
                "inbound": await q(
                    "SELECT created_at FROM messages WHERE direction = 'in' AND author_kind = 'contact'"
                    " AND created_at >= %s AND created_at < %s"),
                # who answered each conversation first (per-agent reports)
                "first_replies": await q(
                    "SELECT DISTINCT ON (conversation_id) conversation_id, author_id AS agent_id, author_name AS agent,"
                    " created_at AS at FROM messages WHERE author_kind = 'agent' AND private = 0"
                    " AND created_at >= %s AND created_at < %s ORDER BY conversation_id, created_at"),
            }

        return await self._read(run)


def cycle_result(row: dict[str, Any]) -> Cycle:
    return Cycle(row["id"], row["conversation_id"], row["team"], row["started_at"], row["position"])
