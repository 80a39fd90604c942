"""`[automation]` and `[teams.*]` in tpbridge.toml: defaults, and every problem named by its key."""

from __future__ import annotations

from pathlib import Path

import pytest
from tpbridge.bridge.config import ConfigError, parse


def test_automation_is_off_by_default(tmp_path: Path) -> None:
    cfg = parse({}, tmp_path / "tpbridge.toml")
    assert cfg.automation.enabled is False
    assert cfg.automation.languages == ["zh", "en"] and cfg.automation.survey.low_score == 2


def test_shipped_example_is_valid(tmp_path: Path) -> None:
    import tomllib

    example = Path(__file__).resolve().parents[2] / "config" / "automation.example.toml"
    cfg = parse(tomllib.loads(example.read_text(encoding="utf-8")), example.parents[1] / "tpbridge.toml")
    assert cfg.automation.enabled and "support-zh" in cfg.teams
    assert cfg.teams["support-zh"].timezone == "Asia/Shanghai"


def test_problems_are_named_by_key(tmp_path: Path) -> None:
    raw = {
        "automation": {"enabled": True, "faq_threshold": 3, "survey": {"low_score": 9}, "speling": 1,
                       "inboxes": {"webchat.site": {"bot": "sometimes"}}},
        "teams": {"support": {"timezone": "Mars/Olympus", "hours": {"mon-fri": "9-17"}}},
    }
    with pytest.raises(ConfigError) as err:
        parse(raw, tmp_path / "tpbridge.toml")
    text = "\n".join(err.value.problems)
    for key in ("automation.faq_threshold", "automation.survey.low_score", "automation.speling: unknown key",
                "automation.inboxes.webchat.site.bot", "teams.support.timezone", "teams.support.hours"):
        assert key in text, text
