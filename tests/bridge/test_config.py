"""`tpbridge check`: every problem on its own line with its key path, exit 2, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tpbridge.bridge.config import ConfigError, load

REPO = Path(__file__).resolve().parents[2]


def check(path: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([sys.executable, "-m", "tpbridge.bridge", "-c", str(path), "check"],
                          capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=60)


def test_shipped_config_is_valid() -> None:
    proc = check(REPO / "tpbridge.toml")
    assert proc.returncode == 0, proc.stderr
    assert "webchat.site" in proc.stdout


def test_every_problem_is_listed_with_its_key_path(tmp_path: Path) -> None:
    cfg = tmp_path / "tpbridge.toml"
    cfg.write_text(
        '[bridge]\nlog_format = "xml"\ndata_dirr = "x"\n'
        '[http]\nlisten = "nowhere"\n'
        '[channels.webchat.site]\nvisitor_secret = "env:TPB_TEST_NOT_SET"\ncolour = "red"\n'
        '[channels.pigeon.main]\nenabled = true\n'
    )
    proc = check(cfg)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert 'bridge.log_format: must be "auto", "json" or "console"' in lines
    assert "bridge.data_dirr: unknown key" in lines
    assert 'http.listen: must be "host:port", e.g. "127.0.0.1:8080"' in lines
    assert "channels.webchat.site.visitor_secret: environment variable TPB_TEST_NOT_SET is not set" in lines
    assert "channels.webchat.site.colour: unknown key" in lines
    assert any(line.startswith("channels.pigeon: unknown channel kind") for line in lines)
    assert "Traceback" not in proc.stderr


def test_secret_from_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-file\n")
    cfg = tmp_path / "tpbridge.toml"
    cfg.write_text(f'[channels.webchat.a]\nvisitor_secret = "file:{secret_file}"\npath = "/a"\n'
                   '[channels.webchat.b]\nvisitor_secret = "env:TPB_TEST_SECRET"\npath = "/b"\n')
    monkeypatch.setenv("TPB_TEST_SECRET", "from-env")
    config = load(cfg)
    secrets = {c.name: c.settings.visitor_secret for c in config.channels}  # type: ignore[attr-defined]
    assert secrets == {"webchat.a": "from-file", "webchat.b": "from-env"}


def test_disabled_channel_needs_no_secret(tmp_path: Path) -> None:
    cfg = tmp_path / "tpbridge.toml"
    cfg.write_text('[channels.webchat.off]\nenabled = false\nvisitor_secret = "env:TPB_TEST_NOT_SET"\n')
    assert load(cfg).enabled_channels == ()


def test_toml_syntax_error_is_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "tpbridge.toml"
    cfg.write_text("[http\nlisten = 1\n")
    proc = check(cfg)
    assert proc.returncode == 2
    assert "not valid TOML" in proc.stderr and "Traceback" not in proc.stderr


def test_run_refuses_an_invalid_config_with_the_same_messages(tmp_path: Path) -> None:
    cfg = tmp_path / "tpbridge.toml"
    cfg.write_text('[http]\nlisten = "nowhere"\n')
    proc = subprocess.run([sys.executable, "-m", "tpbridge.bridge", "-c", str(cfg), "run"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == 'http.listen: must be "host:port", e.g. "127.0.0.1:8080"'


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load(tmp_path / "nope.toml")
    assert "no such config file" in err.value.problems[0]


def test_enabling_a_channel_without_its_secrets_names_key_and_variable(tmp_path: Path) -> None:
    text = (REPO / "tpbridge.toml").read_text()
    cfg = tmp_path / "tpbridge.toml"
    cfg.write_text(text.replace("enabled = false", "enabled = true").replace('mode = "polling"', 'mode = "poll"', 1))
    proc = check(cfg)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2
    assert 'channels.telegram.main.mode: must be "polling" or "webhook"' in lines
    assert "channels.telegram.main.token: environment variable TPB_TELEGRAM_TOKEN is not set" in lines
    assert "channels.email.support.password: environment variable TPB_EMAIL_PASSWORD is not set" in lines
    assert "channels.wechat.official.app_secret: environment variable TPB_WECHAT_SECRET is not set" in lines
    assert "channels.x.main.bearer_token: environment variable TPB_X_BEARER is not set" in lines


def test_automation_without_its_files_is_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "tpbridge.toml"
    cfg.write_text('[automation]\nenabled = true\n')  # config_dir "config" does not exist beside it
    proc = check(cfg)
    assert proc.returncode == 2
    assert any(line.startswith("automation.templates_dir: no *.toml files in") for line in proc.stderr.splitlines())
