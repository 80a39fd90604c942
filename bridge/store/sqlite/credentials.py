"""API tokens (listed, revoked, expiring) and the end of every credential an agent holds.

Only hashes are stored. A password change or a disable ends the agent's sessions and tokens
(PeopleStore.update_agent calls `end_credentials` in the same transaction).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Literal

from tpbridge.bridge.store.protocol import ApiToken, SignedIn
from tpbridge.bridge.store.sqlite import rows
from tpbridge.bridge.store.sqlite.base import SqliteBase


def _token(row: sqlite3.Row) -> ApiToken:
    return ApiToken(id=row["id"], agent_id=row["agent_id"], label=row["label"], created_at=row["created_at"],
                    last_used_at=row["last_used_at"], expires_at=row["expires_at"])


# The token's columns beside its agent's (whose names they share) in sign_in's one statement.
_TOKEN_AS = ", ".join(f"t.{name} AS t_{name}" for name in
                      ("id", "agent_id", "label", "created_at", "last_used_at", "expires_at"))


def _token_of(row: sqlite3.Row) -> ApiToken:
    """The token read beside its agent (_TOKEN_AS)."""
    return ApiToken(id=row["t_id"], agent_id=row["t_agent_id"], label=row["t_label"], created_at=row["t_created_at"],
                    last_used_at=row["t_last_used_at"], expires_at=row["t_expires_at"])


def end_credentials(c: sqlite3.Connection, agent_id: int) -> None:
    """Inside a write transaction: every session and token of the agent stops working."""
    c.execute("DELETE FROM sessions WHERE agent_id = ?", (agent_id,))
    c.execute("DELETE FROM tokens WHERE agent_id = ?", (agent_id,))


class CredentialStore(SqliteBase):
    async def create_token(self, agent_id: int, token_hash: str, label: str | None,
                           expires_at: float | None = None) -> ApiToken:
        now = self.now()

        def run(c: sqlite3.Connection) -> ApiToken:
            cur = c.execute("INSERT INTO tokens (agent_id, token_hash, label, created_at, expires_at)"
                            " VALUES (?,?,?,?,?)", (agent_id, token_hash, label, now, expires_at))
            return _token(c.execute("SELECT * FROM tokens WHERE id = ?", (cur.lastrowid,)).fetchone())

        return await self._write(run)

    async def sign_in(self, kind: Literal["token", "session"], secret_hash: str) -> SignedIn | None:
        now = self.now()
        if kind == "token":
            sql = (f"SELECT {rows.AGENT_WITH_TEAMS}, {rows.TEAM_INBOXES}, {_TOKEN_AS} FROM tokens t"
                   " JOIN agents a ON a.id = t.agent_id WHERE t.token_hash = ?"
                   " AND (t.expires_at IS NULL OR t.expires_at > ?) AND a.disabled = 0")
        else:
            sql = (f"SELECT {rows.AGENT_WITH_TEAMS}, {rows.TEAM_INBOXES}, s.csrf AS s_csrf FROM sessions s"
                   " JOIN agents a ON a.id = s.agent_id WHERE s.id = ? AND s.expires_at > ? AND a.disabled = 0")

        def run(c: sqlite3.Connection) -> SignedIn | None:
            row = c.execute(sql, (secret_hash, now)).fetchone()
            if row is None:
                return None
            agent = rows.agent_with_teams(row)
            viewer = rows.viewer(agent, json.loads(row["team_inboxes"]))
            if kind == "session":
                return SignedIn(agent, viewer, csrf=row["s_csrf"])
            return SignedIn(agent, viewer, token=_token_of(row))

        return await self._read(run)

    async def touch_token(self, token_id: int) -> None:
        now = self.now()
        await self._write(lambda c: c.execute("UPDATE tokens SET last_used_at = ? WHERE id = ?", (now, token_id)))

    async def list_tokens(self, agent_id: int) -> list[ApiToken]:
        return await self._read(lambda c: [_token(r) for r in c.execute(
            "SELECT * FROM tokens WHERE agent_id = ? ORDER BY id", (agent_id,))])

    async def get_token(self, token_id: int) -> ApiToken | None:
        def run(c: sqlite3.Connection) -> ApiToken | None:
            row = c.execute("SELECT * FROM tokens WHERE id = ?", (token_id,)).fetchone()
            return None if row is None else _token(row)

        return await self._read(run)

    async def revoke_token(self, token_id: int) -> bool:
        return await self._write(lambda c: c.execute("DELETE FROM tokens WHERE id = ?", (token_id,)).rowcount > 0)

    async def end_credentials(self, agent_id: int) -> None:
        await self._write(lambda c: end_credentials(c, agent_id))
