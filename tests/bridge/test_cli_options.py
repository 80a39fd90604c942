"""The command line people expect: -c before or after any subcommand, --version."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from tpbridge.bridge.cli import parser

COMMANDS = {("run",), ("check",), ("agent", "add"), ("token", "create"), ("contact", "export"),
            ("contact", "forget"), ("backup",)}


def leaf_commands() -> list[list[str]]:
    """Every runnable subcommand the parser knows, with placeholder arguments, so commands added later are
    covered too (a positional is filled with "1", a required option with "x")."""
    found: list[list[str]] = []

    def walk(p: object, path: list[str]) -> None:
        import argparse

        assert isinstance(p, argparse.ArgumentParser)
        subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            args = list(path)
            for action in p._actions:
                if action.option_strings and action.required:
                    args += [action.option_strings[0], "x"]
                elif not action.option_strings and action.nargs not in ("?", "*"):
                    args.append("1")
            found.append(args)
            return
        for name, child in subs[0].choices.items():
            walk(child, [*path, name])

    walk(parser(), [])
    return found


def test_the_walk_finds_the_documented_commands() -> None:
    paths = {tuple(a for a in c if a != "1" and a != "x" and not a.startswith("-")) for c in leaf_commands()}
    assert paths >= COMMANDS


@pytest.mark.parametrize("command", leaf_commands(), ids=lambda c: " ".join(c))
def test_config_before_and_after_the_subcommand(command: list[str]) -> None:
    before = parser().parse_args(["-c", "/etc/tpbridge/a.toml", *command])
    after = parser().parse_args([*command, "-c", "/etc/tpbridge/b.toml"])
    long_after = parser().parse_args([*command, "--config=/etc/tpbridge/c.toml"])
    neither = parser().parse_args(command)
    assert before.config == "/etc/tpbridge/a.toml"
    assert after.config == "/etc/tpbridge/b.toml"
    assert long_after.config == "/etc/tpbridge/c.toml"
    assert neither.config is None  # then config.load falls back to $TPBRIDGE_CONFIG or ./tpbridge.toml


def test_the_option_after_the_subcommand_is_the_one_used(tmp_path: Path) -> None:
    """`tpbridge run -c FILE` really reads FILE: a missing file is named in the one error line."""
    missing = tmp_path / "nowhere.toml"
    result = subprocess.run(
        [sys.executable, "-m", "tpbridge.bridge", "check", "-c", str(missing)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert str(missing) in result.stderr and "Traceback" not in result.stderr


def test_version() -> None:
    result = subprocess.run([sys.executable, "-m", "tpbridge.bridge", "--version"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert result.stdout.strip() == f"tpbridge {metadata.version('tpbridge')}"
