"""SQLite reads a page's contacts as plain tuples where no value needs opening (no encryption): the same
contacts, identities and merge links as the row-by-name read that an encrypted store still uses."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tpbridge.bridge.store.sqlite import people

from tests.support.core import inbound, running_core, sqlite_url


class _Sealed(sqlite3.Connection):
    """A connection the store takes for an encrypted one (it reads rows by name), over clear values."""

    codec = "rows by name"


async def test_plain_tuples_read_what_rows_by_name_read(tmp_path: Path) -> None:
    async with running_core(tmp_path, url=sqlite_url(tmp_path)) as core:
        convs = []
        for i, who in enumerate(["ann", "bob", "cy", "dee", "eve"]):
            convs.append((await core.pipeline.ingest("webchat.site", "webchat", [inbound(f"m{i}", sender=who)]))[0]
                         .conversation)
        ids = [c.contact_id for c in convs]  # type: ignore[union-attr]
        await core.store.update_contact(ids[0], name="Ann", tier="vip")
        await core.store.merge_contacts(ids[0], ids[1], verified=True)
        await core.store.merge_contacts(ids[0], ids[2])
        await core.store.merge_contacts(ids[3], ids[4], verified=True)
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
