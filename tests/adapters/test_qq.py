"""QQ pieces without the daemon: the documented ed25519 vectors, settings, payload parsing, reply routing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from tpbridge.adapters.base import Outbound, Rejected
from tpbridge.adapters.qq import Settings
from tpbridge.adapters.qq.api import QQError, classify
from tpbridge.adapters.qq.convert import BadPayload, parse, target, to_inbound
from tpbridge.adapters.qq.send import _passive, split_text
from tpbridge.adapters.qq.sign import private_key, sign, verify

from tests.fakes.qq_api import QQPusher, c2c_message, group_message


def test_key_and_validation_signature_match_the_documented_examples() -> None:
    # bot-docs sign.md: secret naOC0ocQE3shWLAfffVLB1rhYPG7 -> this public key
    key = private_key("naOC0ocQE3shWLAfffVLB1rhYPG7")
    assert list(key.public_key().public_bytes_raw())[:8] == [215, 195, 98, 254, 120, 174, 248, 31]
    # bot-docs event-emit.md: the op 13 answer for secret DG5g3B4j9X2KOErG
    expected = ("87befc99c42c651b3aac0278e71ada338433ae26fcb24307bdc5ad38c1adc2d0"
                "1bcfcadc0842edac85e85205028a1132afe09280305f13aa6909ffc2d652c706")
    assert sign(private_key("DG5g3B4j9X2KOErG"), b"1725442341Arq0D5A61EgUu4OxUvOp") == expected


def test_verify_accepts_qq_signatures_only() -> None:
    pusher = QQPusher("a-bot-secret")
    body = b'{"op":0}'
    headers = pusher.sign(body, timestamp=1725442341)
    key = private_key("a-bot-secret")
    assert verify(key, headers["X-Signature-Ed25519"], b"1725442341" + body)
    assert not verify(key, headers["X-Signature-Ed25519"], b"1725442342" + body)
    assert not verify(private_key("another"), headers["X-Signature-Ed25519"], b"1725442341" + body)
    assert not verify(key, "zz" * 64, b"x") and not verify(key, "00", b"x")


def test_settings_are_strict() -> None:
    ok = {"app_id": "102030405", "app_secret": "s"}
    assert Settings.model_validate(ok).c2c_reply_window_minutes == 60
    for bad in ({"app_id": "abc"}, {"app_secrett": "x"}, {"http_timeout": 2}, {"media_timeout": 3}):
        with pytest.raises(ValidationError):
            Settings.model_validate({**ok, **bad})


def payload(event: str, d: dict[str, object], event_id: str = "evt-1") -> bytes:
    return json.dumps({"op": 0, "id": event_id, "d": d, "t": event}).encode()


def test_group_mentions_are_keyed_per_group_and_member_and_answered_in_the_group() -> None:
    msg = group_message("G1", "M1", "hello")
    built = to_inbound("qq.bot", parse(payload("GROUP_AT_MESSAGE_CREATE", msg)), c2c_window=60, group_window=5)
    assert built is not None
    inbound, refs = built
    assert (inbound.sender.external_id, inbound.text, inbound.external_id, refs) == ("group:G1:M1", "hello",
                                                                                     msg["id"], [])
    assert target(inbound.sender.external_id) == ("/v2/groups/G1", "group")
    assert target("OPENID") == ("/v2/users/OPENID", "c2c")
    assert inbound.public is True and inbound.reply_window_ends_at is not None
    assert inbound.reply_window_ends_at - inbound.sent_at == timedelta(minutes=5)


@pytest.mark.parametrize("raw", [b"[]", b'{"op":"0","d":{}}', b'{"op":0}', b"nope"])
def test_unreadable_payloads_are_refused(raw: bytes) -> None:
    with pytest.raises(BadPayload):
        parse(raw)


def test_a_message_without_its_author_is_refused_and_unknown_events_ignored() -> None:
    with pytest.raises(BadPayload, match=r"author\.user_openid"):
        to_inbound("qq.bot", parse(payload("C2C_MESSAGE_CREATE", {"id": "m", "timestamp": 1})), c2c_window=60,
                   group_window=5)
    assert to_inbound("qq.bot", parse(payload("AT_MESSAGE_CREATE", {"id": "m"})), c2c_window=60,
                      group_window=5) is None
    built = to_inbound("qq.bot", parse(payload("C2C_MESSAGE_CREATE", c2c_message("U", " hi "))), c2c_window=60,
                       group_window=5)
    assert built is not None and built[0].text == "hi"


def outbound(reply_to: str | None, ends: datetime | None = None) -> Outbound:
    return Outbound(inbox="qq.bot", message_id=1, conversation_id=1, recipient="U", text="t",
                    reply_to=reply_to, reply_window_ends_at=ends)


def test_passive_reply_fields_and_the_active_fallback() -> None:
    past, future = datetime.now(UTC) - timedelta(minutes=1), datetime.now(UTC) + timedelta(minutes=1)
    assert _passive(outbound("ROBOT1.0_x", future), active_allowed=True) == {"msg_id": "ROBOT1.0_x"}
    assert _passive(outbound("event:E1", future), active_allowed=False) == {"event_id": "E1"}
    assert _passive(outbound("ROBOT1.0_x", past), active_allowed=True) == {}  # active message
    assert _passive(outbound("ROBOT1.0_x", past), active_allowed=False) == {"msg_id": "ROBOT1.0_x"}  # QQ says no
    with pytest.raises(Rejected, match="only answer"):
        _passive(outbound(None), active_allowed=False)


def test_errors_map_to_retry_or_refusal() -> None:
    assert type(classify(QQError(429, 22009, "msg limit exceed"), 3.0)).__name__ == "Retry"
    assert type(classify(QQError(500, 0, "HTTP 500"))).__name__ == "Retry"
    assert type(classify(QQError(400, 11265, "banned"))).__name__ == "BadCredentials"
    refused = classify(QQError(400, 304027, "回复的消息过期"))
    assert isinstance(refused, Rejected) and refused.reason == "QQ refused the message: 回复的消息过期 (code 304027)"


def test_split_text() -> None:
    assert split_text("", 10) == []
    assert split_text("abcd\nefghij", 6) == ["abcd", "efghij"]
    assert split_text("ab\ncdefgh", 6) == ["ab\ncde", "fgh"]  # a break too early is not worth a short part


def test_example_config_validates() -> None:
    import tomllib

    text = (Path(__file__).resolve().parents[2] / "config" / "channels" / "qq.example.toml").read_text()
    settings = Settings.model_validate(tomllib.loads(text)["channels"]["qq"]["bot"],
                                       context={"resolve_secrets": False})
    assert (settings.enabled, settings.app_id, settings.markdown) == (False, "102030405", False)
