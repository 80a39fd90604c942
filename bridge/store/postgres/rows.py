"""Rows to model objects: the columns are the SQLite store's, so its converters serve both stores."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncCursor
from psycopg.rows import DictRow, TupleRow
from tpbridge.bridge.model import Attachment, Conversation, Message
from tpbridge.bridge.store.postgres import sealing
from tpbridge.bridge.store.postgres.base import Conn
from tpbridge.bridge.store.sqlite import rows as shared
from tpbridge.bridge.store.sqlite.sealing import codec_of, seal

ts = shared.ts
conversation = shared.conversation
message = shared.message
attachment = shared.attachment
identity = shared.identity
contact = shared.contact
agent = shared.agent
team = shared.team
viewer = shared.viewer
outbox_item = shared.outbox_item
conversation_of = shared.conversation_of
CONVERSATION_COLUMNS = shared.CONVERSATION_COLUMNS
CONVERSATION_WIDTH = shared.CONVERSATION_WIDTH
CONTACT_ID = shared.CONTACT_ID
ASSIGNEE_ID = shared.ASSIGNEE_ID
LAST_ACTIVITY_AT = shared.LAST_ACTIVITY_AT


def tuple_cursor(conn: Conn) -> AsyncCursor[TupleRow]:
    """A cursor whose rows are plain tuples (sealed values opened): for rows read by position. Its results come
    in PostgreSQL's binary format: the same values, loaded without parsing digits (a list page of 51 rows:
    0.35 -> 0.29 ms, bench/README.md D19)."""
    return conn.cursor(row_factory=sealing.tuple_rows(codec_of(conn)), binary=True)


async def one(conn: Conn, sql: str, args: Sequence[Any] = ()) -> DictRow | None:
    cur = await conn.execute(sql, args)
    return await cur.fetchone()


async def all_rows(conn: Conn, sql: str, args: Sequence[Any] = ()) -> list[DictRow]:
    cur = await conn.execute(sql, args)
    return await cur.fetchall()


async def value(conn: Conn, sql: str, args: Sequence[Any] = ()) -> Any:
    cur = await conn.execute(sql, args)
    row = await cur.fetchone()
    return None if row is None else next(iter(row.values()))


async def load_attachments(conn: Conn, message_ids: list[int]) -> dict[int, list[Attachment]]:
    found: dict[int, list[Attachment]] = {}
    if not message_ids:
        return found
    for row in await all_rows(conn, "SELECT * FROM attachments WHERE message_id = ANY(%s) ORDER BY id",
                              (message_ids,)):
        found.setdefault(row["message_id"], []).append(attachment(row))  # type: ignore[arg-type]
    return found


async def insert_parts(conn: Conn, message_id: int, attachments: Sequence[Any]) -> None:
    for att in attachments:
        await conn.execute(
            "INSERT INTO attachments (message_id, kind, mime, filename, size, sha256) VALUES (%s,%s,%s,%s,%s,%s)",
            (message_id, att.kind, att.mime, seal(conn, att.filename), att.size, att.sha256),
        )


async def load_message(conn: Conn, message_id: int) -> Message:
    row = await one(conn, "SELECT * FROM messages WHERE id = %s", (message_id,))
    if row is None:
        raise LookupError(f"message {message_id} not found")
    atts = (await load_attachments(conn, [message_id])).get(message_id, [])
    return message(row, tuple(atts))  # type: ignore[arg-type]


async def messages(conn: Conn, found: list[DictRow]) -> list[Message]:
    atts = await load_attachments(conn, [r["id"] for r in found])
    return [message(r, tuple(atts.get(r["id"], ()))) for r in found]  # type: ignore[arg-type]


async def load_conversation(conn: Conn, conversation_id: int) -> Conversation | None:
    row = await one(conn, "SELECT * FROM conversations WHERE id = %s", (conversation_id,))
    return None if row is None else conversation(row)  # type: ignore[arg-type]


async def family(conn: Conn, contact_id: int) -> list[int]:
    """The contact and every contact merged into it."""
    return [contact_id] + [r["id"] for r in await all_rows(
        conn, "SELECT id FROM contacts WHERE merged_into = %s ORDER BY id", (contact_id,))]


async def family_conversations(conn: Conn, contact_ids: Sequence[int]) -> list[Conversation]:
    """The conversations of these contacts, oldest first."""
    return [conversation(r) for r in await all_rows(  # type: ignore[arg-type]
        conn, "SELECT * FROM conversations WHERE contact_id = ANY(%s) ORDER BY id", (list(contact_ids),))]
