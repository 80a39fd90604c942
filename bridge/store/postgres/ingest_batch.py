"""Many ingests in two round trips: what a batcher worker does with a group of plain messages.

`ingest_tx` runs about eight statements per message, each a round trip to the server and a wait
on the event loop. For plain messages (text from a sender: no edit, no thread hint, no attachment,
no conversation attributes, no system message) the same work is done set-wise for the whole group,
in pipeline mode (bridge/store/postgres/batch.py runs the transaction in one):

1. the group's advisory locks, then one look-up per inbox of what is stored already (dedupe keys,
   the senders' identities, their open conversations), and as many message ids as records,
   reserved from the sequence — one flush, one wait;
2. only when there are new senders or new conversations: their ids, reserved the same way;
3. every write as a multi-row statement (`unnest` of arrays), the conversation summaries updated
   once per conversation `RETURNING` the rows the events carry, the checkpoints and the NOTIFY —
   queued behind each other and sent with the COMMIT.

The planning step is the one `ingest_tx` takes (the identity's newest unresolved conversation, a
snooze ended, a first name filled in), on the rows looked up. tests/bridge/test_store.py compares
the outcome with `ingest_tx`'s. A duplicate's reserved message id is left unused (a sequence gap,
as a rolled-back insert leaves one).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from psycopg import AsyncCursor
from psycopg.rows import DictRow
from tpbridge.bridge.events import CONVERSATION_CREATED, MESSAGE_CREATED
from tpbridge.bridge.model import Conversation
from tpbridge.bridge.search import terms
from tpbridge.bridge.store.postgres import rows
from tpbridge.bridge.store.postgres.base import Conn
from tpbridge.bridge.store.postgres.ingest import without_nul
from tpbridge.bridge.store.protocol import Change, IngestedItem, PreparedInbound
from tpbridge.bridge.store.sqlite.ingest import message_extra, written_message

SEPARATOR = "\x1f"  # between one message's search terms in one text value (terms never hold it: not a word)


def is_plain(batch: list[PreparedInbound]) -> bool:
    return all(
        p.record.edit_of is None and p.record.thread is None and not p.attachments
        and not p.record.conversation_facts() and not p.record.system and without_nul(p) is p
        for p in batch
    )


def _ids(table: str) -> str:
    return f"array(SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, %s))"


_LOCKS = "SELECT count(pg_advisory_xact_lock(k)) FROM unnest(%s::bigint[]) AS k"
# Each key looked up through its index, whatever the statistics say (a LATERAL subquery with a LIMIT is
# never flattened into a join the planner may reorder): psycopg prepares a statement run often, and the
# generic plan made while the tables were small walked every row of the inbox in the index, filtering —
# milliseconds per look-up once the inbox held thousands of messages.
_STORED = (
    "SELECT e.id AS external_id FROM unnest(%s::text[]) AS e(id) CROSS JOIN LATERAL (SELECT 1 FROM messages m"
    " WHERE m.inbox = %s AND m.external_id = e.id AND m.external_id IS NOT NULL LIMIT 1) m"
)
_IDENTITIES = (
    "SELECT i.id, i.contact_id, i.handle, i.external_id, c.name FROM unnest(%s::text[]) AS e(id)"
    " CROSS JOIN LATERAL (SELECT * FROM identities WHERE inbox = %s AND external_id = e.id LIMIT 1) i"
    " JOIN contacts c ON c.id = i.contact_id"
)
# The identity's newest conversation not resolved: where a plain message goes (ingest.py `_pick`). `id + 0`:
# ordered by the bare id, a plan may walk the primary key backwards from the newest conversation filtering
# on the identity (seen: half a second per group at 3,000 conversations) instead of reading its few rows.
_OPEN = (
    "SELECT i.id AS identity_id, v.id, v.status FROM unnest(%s::text[]) AS e(id)"
    " CROSS JOIN LATERAL (SELECT id FROM identities WHERE inbox = %s AND external_id = e.id LIMIT 1) i"
    " CROSS JOIN LATERAL (SELECT id, status FROM conversations WHERE identity_id = i.id AND status != 'resolved'"
    " ORDER BY id + 0 DESC LIMIT 1) v"
)
_INSERT_CONTACTS = (
    "INSERT INTO contacts (id, name, language, anonymous, email, created_at, updated_at)"
    " SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::integer[], %s::text[],"
    " %s::double precision[], %s::double precision[])"
)
_INSERT_IDENTITIES = (
    "INSERT INTO identities (id, contact_id, inbox, channel, external_id, handle, created_at)"
    " SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[],"
    " %s::double precision[])"
)
_INSERT_CONVERSATIONS = (
    "INSERT INTO conversations (id, inbox, channel, contact_id, identity_id, status, subject, language,"
    " created_at, updated_at, last_activity_at)"
    " SELECT u.id, u.inbox, u.channel, u.contact_id, u.identity_id, 'open', u.subject, u.language, u.at, u.at, u.at"
    " FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::bigint[], %s::bigint[], %s::text[], %s::text[],"
    " %s::double precision[]) AS u(id, inbox, channel, contact_id, identity_id, subject, language, at)"
)
_INSERT_MESSAGES = (
    "INSERT INTO messages (id, conversation_id, inbox, direction, author_kind, author_id, author_name, text, html,"
    " private, external_id, created_at, sent_at, reply_to, extra)"
    " SELECT u.id, u.conversation_id, u.inbox, 'in', 'contact', u.author_id, u.author_name, u.text, u.html, 0,"
    " u.external_id, u.created_at, u.sent_at, u.reply_to, u.extra"
    " FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::bigint[], %s::text[], %s::text[], %s::text[],"
    " %s::text[], %s::double precision[], %s::double precision[], %s::text[], %s::text[])"
    " AS u(id, conversation_id, inbox, author_id, author_name, text, html, external_id, created_at, sent_at,"
    " reply_to, extra)"
)
_INSERT_SEARCH = (
    "INSERT INTO message_search (message_id, conversation_id, terms)"
    " SELECT u.id, u.conversation_id, array_to_tsvector(string_to_array(u.terms, E'\\x1f'))"
    " FROM unnest(%s::bigint[], %s::bigint[], %s::text[]) AS u(id, conversation_id, terms)"
)
_SUMMARY = (
    "UPDATE conversations c SET last_message_text = u.preview, last_message_at = u.at, last_activity_at = u.at,"
    " updated_at = u.at, unread = c.unread + u.n"
    " FROM unnest(%s::bigint[], %s::text[], %s::double precision[], %s::integer[]) AS u(id, preview, at, n)"
    " WHERE c.id = u.id RETURNING c.*"
)


@dataclass(slots=True)
class Known:
    """A sender's identity as planning needs it (kept up to date as the group goes on)."""

    id: int
    contact_id: int
    handle: str | None
    name: str | None


@dataclass(slots=True)
class Placed:
    """Where one record goes (the planning step's outcome)."""

    inbox: str
    prep: PreparedInbound
    now: float
    message_id: int
    conversation_id: int
    contact_id: int
    created: bool
    extra: str


@dataclass(slots=True)
class Job:
    """What batch.py hands over: one `ingest` call."""

    inbox: str
    channel: str
    batch: list[PreparedInbound]
    checkpoint: str | None
    now: float


@dataclass(slots=True)
class Burst:
    """A group's outcome, still as ids until the transaction has committed: the conversations' rows
    come with the COMMIT's answer (`items` reads them then, with no round trip of its own)."""

    jobs: list[Job]
    done: list[list[Placed | None]]  # per job, per record; None: a duplicate
    summary: AsyncCursor[DictRow] | None
    changes: list[Change] = field(default_factory=list)

    async def items(self) -> list[list[IngestedItem]]:
        convs: dict[int, Conversation] = {}
        if self.summary is not None:
            for row in await self.summary.fetchall():
                convs[row["id"]] = rows.conversation(row)  # type: ignore[arg-type]
        out = []
        for job, done in zip(self.jobs, self.done, strict=True):
            items = []
            for prep, p in zip(job.batch, done, strict=True):
                if p is None:
                    items.append(IngestedItem(None))
                    continue
                msg = written_message(p.message_id, p.conversation_id, p.inbox, p.contact_id, prep, p.now, p.extra)
                items.append(IngestedItem(p.message_id, message=msg, conversation=convs[p.conversation_id],
                                          created=p.created))
            out.append(items)
        return out


async def burst(conn: Conn, jobs: list[Job], locks: list[int]) -> Burst:
    """Queue the whole group's work on `conn` (in pipeline mode, inside the caller's transaction)."""
    recs = [(job, prep) for job in jobs for prep in job.batch]
    by_inbox: dict[str, tuple[set[str], set[str]]] = {}
    for job, prep in recs:
        ids, senders = by_inbox.setdefault(job.inbox, (set(), set()))
        ids.add(prep.record.external_id)
        senders.add(prep.record.sender.external_id)
    cur = conn.cursor()
    if locks:
        await cur.execute(_LOCKS, (locks,))
    looked = []
    for inbox, (ids, senders) in by_inbox.items():
        found = [conn.cursor(), conn.cursor(), conn.cursor()]
        await found[0].execute(_STORED, (list(ids), inbox))
        await found[1].execute(_IDENTITIES, (list(senders), inbox))
        await found[2].execute(_OPEN, (list(senders), inbox))
        looked.append((inbox, found))
    reserve = conn.cursor()
    await reserve.execute(f"SELECT {_ids('messages')} AS ids", (len(recs),))
    reserved = await reserve.fetchone()  # the one wait for everything above
    assert reserved is not None
    message_ids = sorted(reserved["ids"])
    stored: set[tuple[str, str]] = set()
    known: dict[tuple[str, str], Known] = {}
    open_conv: dict[int, tuple[int, str]] = {}  # identity id -> its open conversation (id, status)
    for inbox, (c_stored, c_idents, c_open) in looked:
        stored.update((inbox, r["external_id"]) for r in await c_stored.fetchall())
        for r in await c_idents.fetchall():
            known[(inbox, r["external_id"])] = Known(r["id"], r["contact_id"], r["handle"], r["name"])
        for r in await c_open.fetchall():
            open_conv[r["identity_id"]] = (r["id"], r["status"])
    # How many new rows: one contact and identity per new sender, one conversation per identity without
    # an open one (its first message opens it; the others of the group join it).
    new_senders: set[tuple[str, str]] = set()
    new_convs = 0
    seen = set(stored)
    wanting: set[tuple[str, str]] = set()
    for job, prep in recs:
        key = (job.inbox, prep.record.external_id)
        if key in seen:
            continue
        seen.add(key)
        sender = (job.inbox, prep.record.sender.external_id)
        ident = known.get(sender)
        if ident is None:
            new_senders.add(sender)
        if (ident is None or ident.id not in open_conv) and sender not in wanting:
            wanting.add(sender)
            new_convs += 1
    contact_ids: list[int] = []
    identity_ids: list[int] = []
    conversation_ids: list[int] = []
    if new_senders or new_convs:
        await cur.execute(
            f"SELECT {_ids('contacts')} AS c, {_ids('identities')} AS i, {_ids('conversations')} AS v",
            (len(new_senders), len(new_senders), new_convs),
        )
        got = await cur.fetchone()
        assert got is not None
        contact_ids, identity_ids, conversation_ids = sorted(got["c"]), sorted(got["i"]), sorted(got["v"])
    return await _write(conn, jobs, recs, stored, known, open_conv, iter(message_ids), iter(contact_ids),
                        iter(identity_ids), iter(conversation_ids))


class _Columns:
    """Rows for one multi-row INSERT, kept as one list per column."""

    def __init__(self, width: int) -> None:
        self.columns: list[list[object]] = [[] for _ in range(width)]

    def add(self, *values: object) -> None:
        for column, value in zip(self.columns, values, strict=True):
            column.append(value)

    def __bool__(self) -> bool:
        return bool(self.columns[0])


async def _write(
    conn: Conn, jobs: list[Job], recs: list[tuple[Job, PreparedInbound]], stored: set[tuple[str, str]],
    known: dict[tuple[str, str], Known], open_conv: dict[int, tuple[int, str]], message_ids: Iterator[int],
    contact_ids: Iterator[int], identity_ids: Iterator[int], conversation_ids: Iterator[int],
) -> Burst:
    contacts, identities, conversations = _Columns(7), _Columns(7), _Columns(8)
    messages, search = _Columns(12), _Columns(3)
    handles: list[tuple[str, int]] = []
    names: list[tuple[str, float, int]] = []
    unsnooze: list[int] = []
    summary: dict[int, tuple[str, float, int]] = {}
    done: list[list[Placed | None]] = [[] for _ in jobs]
    index = {id(job): n for n, job in enumerate(jobs)}
    changes: list[Change] = []
    for job, prep in recs:
        rec = prep.record
        key = (job.inbox, rec.external_id)
        message_id = next(message_ids)
        if key in stored:
            done[index[id(job)]].append(None)
            continue
        stored.add(key)
        sender = rec.sender
        skey = (job.inbox, sender.external_id)
        ident = known.get(skey)
        if ident is None:
            ident = known[skey] = Known(next(identity_ids), next(contact_ids), sender.handle, sender.name)
            email = sender.email
            contacts.add(ident.contact_id, sender.name, sender.language, 0 if (sender.name or email) else 1, email,
                         job.now, job.now)
            identities.add(ident.id, ident.contact_id, job.inbox, job.channel, sender.external_id, sender.handle,
                           job.now)
        else:
            if sender.handle and sender.handle != ident.handle:
                handles.append((sender.handle, ident.id))
                ident.handle = sender.handle
            if sender.name and ident.name is None:
                names.append((sender.name, job.now, ident.contact_id))
                ident.name = sender.name
        found = open_conv.get(ident.id)
        created = found is None
        if found is None:
            conv_id = next(conversation_ids)
            conversations.add(conv_id, job.inbox, job.channel, ident.contact_id, ident.id, rec.subject,
                              sender.language, job.now)
            changes.append(Change(CONVERSATION_CREATED, conv_id))
        else:
            conv_id = found[0]
            if found[1] == "snoozed":  # a customer writing again ends the snooze, as in Chatwoot
                unsnooze.append(conv_id)
        open_conv[ident.id] = (conv_id, "open")
        extra = message_extra(rec)
        messages.add(message_id, conv_id, job.inbox, ident.contact_id, sender.name, rec.text, prep.html,
                     rec.external_id, job.now, rec.sent_at.timestamp(), rec.reply_to, extra)
        search.add(message_id, conv_id, SEPARATOR.join(sorted(set(terms(rec.text or "")))))
        before = summary.get(conv_id)
        summary[conv_id] = (rec.text[:200], job.now, 1 + (before[2] if before else 0))
        changes.append(Change(MESSAGE_CREATED, conv_id, message_id))
        done[index[id(job)]].append(
            Placed(job.inbox, prep, job.now, message_id, conv_id, ident.contact_id, created, extra))

    cur = conn.cursor()
    if contacts:
        await cur.execute(_INSERT_CONTACTS, contacts.columns)
        await cur.execute(_INSERT_IDENTITIES, identities.columns)
    for handle, identity_id in handles:
        await cur.execute("UPDATE identities SET handle = %s WHERE id = %s", (handle, identity_id))
    for name, now, contact_id in names:
        await cur.execute("UPDATE contacts SET name = %s, anonymous = 0, updated_at = %s WHERE id = %s"
                          " AND name IS NULL", (name, now, contact_id))
    if unsnooze:
        await cur.execute("UPDATE conversations SET status = 'open', snoozed_until = NULL WHERE id = ANY(%s)",
                          (unsnooze,))
    if conversations:
        await cur.execute(_INSERT_CONVERSATIONS, conversations.columns)
    returning: AsyncCursor[DictRow] | None = None
    if messages:
        await cur.execute(_INSERT_MESSAGES, messages.columns)
        await cur.execute(_INSERT_SEARCH, search.columns)
        returning = conn.cursor()
        ids = list(summary)
        await returning.execute(_SUMMARY, (ids, [summary[i][0] for i in ids], [summary[i][1] for i in ids],
                                           [summary[i][2] for i in ids]))
    for job in jobs:
        if job.checkpoint is not None:
            await cur.execute(
                "INSERT INTO checkpoints (inbox, value, updated_at) VALUES (%s,%s,%s)"
                " ON CONFLICT (inbox) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                (job.inbox, job.checkpoint, job.now),
            )
    return Burst(jobs, done, returning, changes)

