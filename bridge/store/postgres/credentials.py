"""API tokens (listed, revoked, expiring) and the end of every credential an agent holds, as SQLite's."""

from __future__ import annotations

from typing import Any, Literal

from tpbridge.bridge.store.postgres import rows
from tpbridge.bridge.store.postgres.base import Conn, PostgresBase
from tpbridge.bridge.store.postgres.people import AGENT, TEAM_INBOXES, agent_of
from tpbridge.bridge.store.protocol import ApiToken, SignedIn


def _token(row: Any) -> ApiToken:
    return ApiToken(id=row["id"], agent_id=row["agent_id"], label=row["label"], created_at=row["created_at"],
                    last_used_at=row["last_used_at"], expires_at=row["expires_at"])


async def end_credentials(c: Conn, agent_id: int) -> None:
    """Inside a transaction: every session and token of the agent stops working."""
    await c.execute("DELETE FROM sessions WHERE agent_id = %s", (agent_id,))
    await c.execute("DELETE FROM tokens WHERE agent_id = %s", (agent_id,))


class CredentialStore(PostgresBase):
    async def create_token(self, agent_id: int, token_hash: str, label: str | None,
                           expires_at: float | None = None) -> ApiToken:
        now = self.now()

        async def run(c: Conn) -> ApiToken:
            row = await rows.one(c, "INSERT INTO tokens (agent_id, token_hash, label, created_at, expires_at)"
                                 " VALUES (%s,%s,%s,%s,%s) RETURNING *", (agent_id, token_hash, label, now, expires_at))
            return _token(row)

        return await self._tx(run)

    async def sign_in(self, kind: Literal["token", "session"], secret_hash: str) -> SignedIn | None:
        now = self.now()
        if kind == "token":
            sql = (f"SELECT to_json(t) AS token, {AGENT}, {TEAM_INBOXES} FROM tokens t JOIN agents a"
                   " ON a.id = t.agent_id WHERE t.token_hash = %s"
                   " AND (t.expires_at IS NULL OR t.expires_at > %s) AND a.disabled = 0")
        else:
            sql = (f"SELECT {AGENT}, {TEAM_INBOXES}, s.csrf AS s_csrf FROM sessions s JOIN agents a"
                   " ON a.id = s.agent_id WHERE s.id = %s AND s.expires_at > %s AND a.disabled = 0")

        async def run(c: Conn) -> SignedIn | None:
            row = await rows.one(c, sql, (secret_hash, now))
            if row is None:
                return None
            agent = await agent_of(c, row)
            viewer = rows.viewer(agent, row["team_inboxes"])
            if kind == "session":
                return SignedIn(agent, viewer, csrf=row["s_csrf"])
            return SignedIn(agent, viewer, token=_token(row["token"]))

        return await self._read(run)

    async def touch_token(self, token_id: int) -> None:
        now = self.now()

        async def run(c: Conn) -> None:
            await c.execute("UPDATE tokens SET last_used_at = %s WHERE id = %s", (now, token_id))

        await self._tx(run)

    async def list_tokens(self, agent_id: int) -> list[ApiToken]:
        async def run(c: Conn) -> list[ApiToken]:
            return [_token(r) for r in await rows.all_rows(
                c, "SELECT * FROM tokens WHERE agent_id = %s ORDER BY id", (agent_id,))]

        return await self._read(run)

    async def get_token(self, token_id: int) -> ApiToken | None:
        async def run(c: Conn) -> ApiToken | None:
            row = await rows.one(c, "SELECT * FROM tokens WHERE id = %s", (token_id,))
            return None if row is None else _token(row)

        return await self._read(run)

    async def revoke_token(self, token_id: int) -> bool:
        async def run(c: Conn) -> bool:
            cur = await c.execute("DELETE FROM tokens WHERE id = %s", (token_id,))
            return cur.rowcount > 0

        return await self._tx(run)

    async def end_credentials(self, agent_id: int) -> None:
        async def run(c: Conn) -> None:
            await end_credentials(c, agent_id)

        await self._tx(run)
