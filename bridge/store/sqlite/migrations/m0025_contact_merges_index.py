"""A contact's merged-in family is looked up for every conversation a list page shows: index it.

Without it `... IN (SELECT id FROM contacts WHERE merged_into = ?)` scanned every contact, once per
contact on the page (bench/desk.py: 50 scans of 100,000 contacts per list page).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite_utils  # imported (with numpy) only when a migration runs


VERSION = 25
DESCRIPTION = "index contacts.merged_into"


def up(db: sqlite_utils.Database) -> None:
    db.table("contacts").create_index(["merged_into"], index_name="contacts_merged_into", if_not_exists=True)
