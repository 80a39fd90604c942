"""Weibo pieces without the daemon: the published signature example, settings, push parsing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError
from tpbridge.adapters.weibo import Settings
from tpbridge.adapters.weibo.convert import BadPush, parse, sender, to_inbound
from tpbridge.adapters.weibo.send import split_text
from tpbridge.adapters.weibo.webhook import Forbidden, check_signature, sign

from tests.fakes.weibo_api import push_body


def test_signature_matches_the_documented_example() -> None:
    # open.weibo.com/wiki/Messages_api_start: appsecret xyz123xyz, timestamp 1397022061823, nonce 57155157
    assert sign("xyz123xyz", "1397022061823", "57155157") == "90e4c22c90a58f26526c2dd5b6c56c8822edeaa1"
    query = {"signature": "90e4c22c90a58f26526c2dd5b6c56c8822edeaa1", "timestamp": "1397022061823",
             "nonce": "57155157"}
    check_signature("xyz123xyz", query, max_age=0)
    with pytest.raises(Forbidden, match="stale"):
        check_signature("xyz123xyz", query, max_age=300)  # 2014: far from our clock
    with pytest.raises(Forbidden, match="wrong"):
        check_signature("other", query, max_age=0)
    with pytest.raises(Forbidden, match="missing"):
        check_signature("xyz123xyz", {}, max_age=0)


def test_settings_are_strict() -> None:
    ok = {"app_key": "1", "app_secret": "s", "access_token": "t"}
    assert Settings.model_validate(ok).reply_window_hours == 48
    with pytest.raises(ValidationError, match="extra"):
        Settings.model_validate({**ok, "app_secert": "typo"})
    with pytest.raises(ValidationError, match="uid"):
        Settings.model_validate({**ok, "uid": "not-a-number"})
    with pytest.raises(ValidationError):
        Settings.model_validate({**ok, "media_timeout": 6})  # Weibo gives up after 5 s


@pytest.mark.parametrize("raw", [b"[]", b"{}", b'{"type":"text","sender_id":"x","receiver_id":1}',
                                 b'{"type":"text","sender_id":1,"receiver_id":2,"created_at":"yesterday"}'])
def test_bad_pushes_are_refused(raw: bytes) -> None:
    with pytest.raises(BadPush):
        parse(raw)


def test_same_second_pushes_get_different_keys_and_a_retry_the_same() -> None:
    a = parse(push_body("text", 42, "one", at=1_790_000_000))
    b = parse(push_body("text", 42, "two", at=1_790_000_000))
    assert a.external_id != b.external_id
    assert parse(push_body("text", 42, "one", at=1_790_000_000)).external_id == a.external_id
    assert a.external_id.startswith("42:1790000000:text:")


def test_unfollow_closes_the_window_and_data_as_a_string_is_accepted() -> None:
    body = json.loads(push_body("event", 42, "事件消息", at=1_790_000_000))
    body["data"] = json.dumps({"subtype": "unfollow"})
    inbound, media = to_inbound("weibo.x", parse(json.dumps(body).encode()), sender("42", None), window_hours=48)
    assert media is None and inbound.system
    assert inbound.conversation_attrs == {"weibo_following": False}
    assert inbound.reply_window_ends_at == datetime(2026, 9, 21, 14, 13, 20, tzinfo=UTC)


def test_split_text_prefers_line_breaks() -> None:
    assert split_text("a" * 5, 10) == ["aaaaa"]
    assert split_text("aaaaaaa\nbbbbbb", 10) == ["aaaaaaa", "bbbbbb"]
    assert split_text("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]


def test_example_config_validates() -> None:
    import tomllib

    text = (Path(__file__).resolve().parents[2] / "config" / "channels" / "weibo.example.toml").read_text()
    settings = Settings.model_validate(tomllib.loads(text)["channels"]["weibo"]["official"],
                                       context={"resolve_secrets": False})
    assert (settings.enabled, settings.app_key, settings.api_base_url) == (False, "1234567890", None)
