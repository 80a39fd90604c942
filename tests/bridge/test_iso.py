"""`iso()` formats every timestamp the API answers with, from look-up tables: the same text as the
standard library's `isoformat(timespec="milliseconds")` in UTC, for any instant and any zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st
from tpbridge.bridge.model import iso

ZONES = st.one_of(st.just(UTC), st.timedeltas(min_value=timedelta(hours=-23, minutes=-59),
                                              max_value=timedelta(hours=23, minutes=59)).map(timezone))


def reference(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@given(st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=ZONES))
def test_iso_is_the_standard_librarys_text(ts: datetime) -> None:
    assert iso(ts) == reference(ts)


@given(st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False))
def test_iso_of_stored_unix_times(seconds: float) -> None:
    ts = datetime.fromtimestamp(seconds, UTC)  # how the stores read a timestamp back (rows.ts)
    assert iso(ts) == reference(ts)


def test_iso_edges() -> None:
    assert iso(None) is None
    assert iso(datetime(2026, 12, 31, 23, 59, 59, 999999, UTC)) == "2026-12-31T23:59:59.999Z"  # truncated
    assert iso(datetime(2027, 1, 1, 0, 0, 0, tzinfo=UTC)) == "2027-01-01T00:00:00.000Z"
    assert iso(datetime(2027, 1, 1, 8, 30, tzinfo=timezone(timedelta(hours=8)))) == "2027-01-01T00:30:00.000Z"
