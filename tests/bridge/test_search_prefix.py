"""A search's last word is a prefix; on SQLite it is spelled out as the index's terms that start with it
(bridge/store/sqlite/search_match.py). The conversations found must be exactly those FTS5's own prefix
query finds, whatever the words, the scripts or how many terms a prefix stands for."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tpbridge.bridge.store.protocol import ConversationFilter
from tpbridge.bridge.store.sqlite.search_match import SPELL_MAX, SearchMatch

from tests.support.core import ADMIN, inbound, running_core, sqlite_url

TEXTS = [
    "My withdrawal is pending", "two withdrawals pending", "I want to withdraw", "it was withdrawn",
    "Café opening hours", "cafeteria menu", "CAFE au lait", "提现还没到账", "提款", "withdrawal提现 stuck",
    "pass", "password reset", "passport check", "passphrase lost", "passes", "passenger", "passive", "passage",
    "passion", "passbook", "pass123 code", "x" * 3 + "yz", "naïve question", "naive answer", "ЖЕНЯ wrote",
]
QUERIES = ["withdr", "withdrawal", "withdrawals", "withdraw", "pending with", "caf", "cafe", "café", "提",
           "提现", "pass", "passw", "pas", "xxx", "pass1", "naïv", "naiv", "жен", "zzz", "withdrawal 提",
           "stuck withdrawal", "nothing matches this"]


def reference(conn: sqlite3.Connection, query: str) -> set[int]:
    """FTS5's own answer to the prefix query (what the list searched before the prefix was spelled out)."""
    match = SearchMatch.of(query)
    if match is None:
        return set()
    return {r[0] >> 32 for r in conn.execute("SELECT rowid FROM message_search WHERE message_search MATCH ?",
                                             (match.plain(),))}


async def test_a_spelled_out_prefix_finds_what_the_prefix_query_finds(tmp_path: Path) -> None:
    async with running_core(tmp_path, url=sqlite_url(tmp_path)) as core:
        for i, text in enumerate(TEXTS):
            await core.pipeline.ingest("webchat.site", "webchat", [inbound(f"m{i}", f"person{i}", text)])
        await core.store.index_search()
        conn = core.store._writer._conn  # type: ignore[attr-defined]
        for query in QUERIES:
            page = await core.store.list_conversations(ADMIN, ConversationFilter(q=query), 100, None)
            assert {c.id for c in page.items} == reference(conn, query), query
        # and the expressions it asked with: spelled out where the prefix is plain and stands for few terms
        spelled = SearchMatch.of("withdr")
        assert spelled is not None
        assert spelled.expression(conn) == '("withdraw" OR "withdrawal" OR "withdrawals" OR "withdrawn")'
        assert SearchMatch.of("pending withdrawals").expression(conn) == '"pending" AND "withdrawals"'  # type: ignore[union-attr]
        many = SearchMatch.of("pas")  # pass, passage, passbook, ... : more than SPELL_MAX terms
        assert len([t for t in TEXTS if t.lower().startswith("pas")]) > SPELL_MAX
        assert many is not None and many.expression(conn) == '"pas"*'
        assert SearchMatch.of("caf").expression(conn) == '("cafe" OR "cafeteria")'  # type: ignore[union-attr]
        assert SearchMatch.of("café").expression(conn) == '"café"*'  # type: ignore[union-attr]  # not verbatim: FTS5's
        assert SearchMatch.of("提").expression(conn) == '"提"*'  # type: ignore[union-attr]
        assert SearchMatch.of("zzz").expression(conn) is None  # type: ignore[union-attr]  # no term: nothing matches
        assert SearchMatch.of("wi").expression(conn) == '"wi"*'  # type: ignore[union-attr]  # too short to look up


async def test_an_erased_persons_terms_are_not_found_through_the_term_list(tmp_path: Path) -> None:
    """The term list may still name a term whose only message was erased: asking for it finds nothing."""
    async with running_core(tmp_path, url=sqlite_url(tmp_path)) as core:
        gone = (await core.pipeline.ingest("webchat.site", "webchat", [inbound("g", "leaver", "zyxwvut secret")]))[0]
        kept = (await core.pipeline.ingest("webchat.site", "webchat", [inbound("k", "stayer", "zyxwvu kept")]))[0]
        await core.store.index_search()
        await core.store.forget_contact(gone.conversation.contact_id)  # type: ignore[union-attr]
        page = await core.store.list_conversations(ADMIN, ConversationFilter(q="zyxw"), 10, None)
        assert [c.id for c in page.items] == [kept.conversation.id]  # type: ignore[union-attr]
