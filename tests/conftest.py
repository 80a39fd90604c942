"""Fixtures every test folder may use: the test channel plugin."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PLUGIN = REPO / "tests" / "support" / "plugin"


@pytest.fixture
def plugin_env() -> dict[str, str]:
    """Environment for a daemon that should also load the test channel (a third-party style adapter)."""
    path = os.environ.get("PYTHONPATH", "")
    return {"PYTHONPATH": f"{PLUGIN}{os.pathsep}{path}" if path else str(PLUGIN)}
