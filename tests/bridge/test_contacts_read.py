"""A list page's people as each store reads them in one go: SQLite as plain tuples where no value needs
opening (no encryption), PostgreSQL joined to the page's own statement — the same contacts, identities,
merge links and assignees as reading each contact alone."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from tpbridge.bridge.model import Conversation, Role, Viewer
from tpbridge.bridge.store.protocol import ConversationFilter
from tpbridge.bridge.store.sqlite import people

from tests.support.core import inbound, running_core, sqlite_url


class _Sealed(sqlite3.Connection):
    """A connection the store takes for an encrypted one (it keeps the connection's rows), over clear values."""

    codec = "rows by name"


async def _people(core: Any) -> tuple[list[Conversation], list[int]]:
    """Six people writing in: Ann (a VIP) with Bob merged in by a verified link and Cy by an agent, Dee with
    Eve merged in, Fay alone."""
    convs = []
    for i, who in enumerate(["ann", "bob", "cy", "dee", "eve", "fay"]):
        convs.append((await core.pipeline.ingest("webchat.site", "webchat", [inbound(f"m{i}", sender=who)]))[0]
                     .conversation)
    ids = [c.contact_id for c in convs]
    await core.store.update_contact(ids[0], name="Ann", tier="vip")
    await core.store.merge_contacts(ids[0], ids[1], verified=True)
    await core.store.merge_contacts(ids[0], ids[2])
    await core.store.merge_contacts(ids[3], ids[4], verified=True)
    return convs, ids


async def test_plain_tuples_read_what_the_connections_own_rows_read(tmp_path: Path) -> None:
    async with running_core(tmp_path, url=sqlite_url(tmp_path)) as core:
        _convs, ids = await _people(core)
        db = tmp_path / "data" / "tpbridge.db"
        plain = sqlite3.connect(db)
        plain.row_factory = sqlite3.Row
        by_name = sqlite3.connect(db, factory=_Sealed)
        by_name.row_factory = sqlite3.Row
        wanted = [*ids, 999_999]
        read = people._contacts(plain, wanted)
        assert read == people._contacts(by_name, wanted)
        assert {i.external_id: i.link for i in read[ids[0]].identities} == {"ann": None, "bob": "verified",
                                                                          "cy": "unverified"}
        assert read[ids[0]].tier == "vip" and read[ids[1]].merged_into == ids[0] and 999_999 not in read
        plain.close()
        by_name.close()


async def test_a_pages_people_are_its_contacts_as_each_is_read_alone(tmp_path: Path, store_url: str) -> None:
    async with running_core(tmp_path, url=store_url) as core:
        convs, ids = await _people(core)
        ada = await core.store.add_agent("ada@example.com", "Ada", Role.ADMIN, None, ["T1"], [])
        await core.store.update_conversation(convs[3].id, assignee_id=ada.id)
        admin = Viewer(0, Role.ADMIN, (), ())
        for limit in (2, 50):
            page, contacts, agents = await core.store.conversation_page(admin, ConversationFilter(status="all"),
                                                                        limit, None)
            wanted = [c.contact_id for c in page.items]
            assert len(page.items) == min(limit, 6) and (page.next_cursor is not None) == (limit == 2)
            assert contacts == await core.store.get_contacts(wanted)
            assigned = {c.assignee_id for c in page.items if c.assignee_id is not None}
            assert agents == ({ada.id: ada} if assigned else {})
        page, contacts, agents = await core.store.conversation_page(admin, ConversationFilter(status="all"), 50,
                                                                    None)
        assert {i.external_id: i.link for i in contacts[ids[0]].identities} == {"ann": None, "bob": "verified",
                                                                              "cy": "unverified"}
        assert contacts[ids[0]].tier == "vip" and agents == {ada.id: ada}


async def test_a_pages_assignees_are_the_agents_as_each_is_read_alone(tmp_path: Path, store_url: str) -> None:
    """PostgreSQL joins each conversation's assignee to the page's statement (one snapshot, read by position):
    their teams' names in order, languages, a disabled one — as reading the agent alone; an unassigned page none."""
    async with running_core(tmp_path, url=store_url) as core:
        convs, _ids = await _people(core)
        ada = await core.store.add_agent("ada@example.com", "Ada", Role.ADMIN, None, ["Tz", "Ta"], ["zh", "en"])
        bo = await core.store.add_agent("bo@example.com", "Bo", Role.AGENT, None, [], [])
        await core.store.update_agent(bo.id, disabled=True, presence="online", capacity=3)
        for conv, agent in ((convs[1], ada), (convs[3], bo), (convs[5], ada)):
            await core.store.update_conversation(conv.id, assignee_id=agent.id)
        admin = Viewer(0, Role.ADMIN, (), ())
        page, _contacts, agents = await core.store.conversation_page(admin, ConversationFilter(status="all"), 50,
                                                                     None)
        assert agents == {a.id: await core.store.get_agent(a.id) for a in (ada, bo)}
        assert agents[ada.id].teams == ("Ta", "Tz") and agents[bo.id].disabled and agents[bo.id].capacity == 3
        assert {c.assignee_id for c in page.items} == {None, ada.id, bo.id}
        unassigned = await core.store.conversation_page(admin, ConversationFilter(status="all",
                                                                                  assignee="unassigned"), 50, None)
        assert unassigned[2] == {} and len(unassigned[0].items) == 3
