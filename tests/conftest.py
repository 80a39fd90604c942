"""Fixtures every test folder may use: the test channel plugin, the store under test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fakes.postgres import Postgres

REPO = Path(__file__).resolve().parents[1]
PLUGIN = REPO / "tests" / "support" / "plugin"


@pytest.fixture
def plugin_env() -> dict[str, str]:
    """Environment for a daemon that should also load the test channel (a third-party style adapter)."""
    path = os.environ.get("PYTHONPATH", "")
    return {"PYTHONPATH": f"{PLUGIN}{os.pathsep}{path}" if path else str(PLUGIN)}


@pytest.fixture(scope="session")
def postgres() -> Postgres:
    """One throwaway PostgreSQL server for the session (Debian's postgresql package)."""
    return Postgres.shared()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The store a test runs on: each test that takes this runs once per store, with the same expectations."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/data/tpbridge.db"
    pg: Postgres = request.getfixturevalue("postgres")
    return pg.new_database()
