"""Every parser of untrusted input under hypothesis, through the running daemon where it can be.

Telegram updates, X Account Activity deliveries and WeChat safe-mode pushes are signed the
way the channel signs them (the fuzzer is a channel gone mad, not only a stranger), web chat
JSON and multipart come anonymous; MIME and the config are fuzzed at their parsers. Whatever
arrives, the answer is never a 500 and nothing is logged as unhandled. Example counts stay
small: this runs in CI on every change.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fakes.telegram_api import DEFAULT_TOKEN, FakeTelegram
from tests.fakes.wechat_api import FakeWechatApi, WechatPusher, push_xml
from tests.fakes.x_api import FakeXApi, activity_signature
from tests.security.support import STORES, module_store
from tests.support.daemon import Daemon, Visitor

pytestmark = pytest.mark.slow
T = TypeVar("T")
TG_SECRET = "fuzz-telegram-secret"
X_SECRET = "fuzz-x-secret"
WX_TOKEN = "fuzz-wechat-token"
WX_AES = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
FAST = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)

# Any code point, lone surrogates included: json.dumps writes them as `\\ud800` escapes, which
# json.loads takes back and no UTF-8 encoder does (a 500 from the web chat before adapters/json_input.py).
any_text = st.text(st.characters(blacklist_categories=()), max_size=30)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=25)


class World:
    """The fakes and the daemon live in a loop of their own thread; the tests talk plain HTTP."""

    def __init__(self, tmp: Path, store_url: str | None) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.tmp = tmp
        self.store_url = store_url

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(120)

    async def start(self) -> None:
        self.telegram = await FakeTelegram().__aenter__()
        self.wechat = await FakeWechatApi().__aenter__()
        self.x = await FakeXApi(consumer_secret=X_SECRET).__aenter__()
        channels = f"""
[channels.telegram.main]
token = "{DEFAULT_TOKEN}"
mode = "webhook"
webhook_secret = "{TG_SECRET}"
api_base_url = "{self.telegram.url}"

[channels.wechat.official]
app_id = "{self.wechat.app_id}"
app_secret = "{self.wechat.app_secret}"
token = "{WX_TOKEN}"
encoding_aes_key = "{WX_AES}"
api_base_url = "{self.wechat.url}"

[channels.x.main]
mode = "webhook"
consumer_key = "ck"
consumer_secret = "{X_SECRET}"
access_token = "at"
access_token_secret = "ats"
api_base_url = "{self.x.base_url}"
"""
        self.d = Daemon(self.tmp, channels, store_url=self.store_url)
        await self.d.start()
        await self.d.wait_for(self._connected, timeout=30)
        self.visitor = (await Visitor(self.d).start()).token

    async def _connected(self) -> bool:
        _status, body = await self.d.api("GET", "/healthz")
        states = {k: v.get("state") for k, v in (body.get("channels") or {}).items()}
        return all(states.get(k) == "connected" for k in ("telegram.main", "wechat.official", "x.main"))

    async def stop(self) -> None:
        await self.d.__aexit__()
        for fake in (self.telegram, self.wechat, self.x):
            await fake.__aexit__(None, None, None)


@pytest.fixture(scope="module", params=STORES)
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Once per store: PostgreSQL refuses in a statement what SQLite keeps (U+0000, keys past ~2,700 bytes)."""
    url = module_store(request)
    w = World(tmp_path_factory.mktemp("fuzz"), url)
    try:
        w.run(w.start())
        yield w
        escaped = [line[-1500:] for line in w.d.logs().splitlines() if "http.unhandled" in line]
        assert not escaped, "an exception escaped a handler:\n" + "\n".join(escaped[:3])
    finally:
        w.run(w.stop())
        w.loop.call_soon_threadsafe(w.loop.stop)
        w.thread.join(10)


def _post(w: World, path: str, **kw: Any) -> httpx.Response:
    resp = httpx.post(w.d.url + path, timeout=30, **kw)
    assert resp.status_code < 500, (path, resp.status_code, resp.text[:300])
    return resp


@FAST
@given(update=st.fixed_dictionaries({"update_id": st.integers(1, 2**31)}, optional={
    "message": json_values | st.fixed_dictionaries({"message_id": st.integers(), "date": st.integers(0, 2**31),
                                                     "chat": json_values, "from": json_values, "text": json_values},
                                                    optional={"photo": json_values, "document": json_values}),
    "edited_message": json_values, "callback_query": json_values, "my_chat_member": json_values}))
def test_telegram_updates(world: World, update: dict[str, Any]) -> None:
    _post(world, "/hooks/telegram/main", content=json.dumps(update),
          headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET, "Content-Type": "application/json"})


@FAST
@given(payload=st.fixed_dictionaries({}, optional={
    "for_user_id": json_values, "users": json_values,
    "direct_message_events": st.lists(json_values | st.fixed_dictionaries({
        "type": st.just("message_create"), "id": json_values, "created_timestamp": json_values,
        "message_create": st.fixed_dictionaries({"sender_id": json_values, "message_data": json_values,
                                                 "target": json_values})}), max_size=3),
    "tweet_create_events": st.lists(json_values, max_size=3)}))
def test_x_account_activity(world: World, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    _post(world, "/hooks/x/main", content=body, headers={
        "x-twitter-webhooks-signature": activity_signature(body, X_SECRET), "Content-Type": "application/json"})


xml_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)
xml_fields = st.dictionaries(
    st.sampled_from(["ToUserName", "FromUserName", "CreateTime", "MsgType", "Content", "MsgId", "Event",
                     "PicUrl", "MediaId", "Format", "Recognition", "Location_X", "Label", "EventKey", "Url"]),
    xml_text | st.integers(), max_size=8)


@FAST
@given(fields=xml_fields, raw=st.sampled_from(["", "<a><b><c>x</c></b></a>" * 3, "<" * 50, "<xml>" * 40]))
def test_wechat_safe_mode_plaintext(world: World, fields: dict[str, Any], raw: str) -> None:
    xml = push_xml(**fields)
    xml = xml[:-6] + raw + "</xml>" if raw else xml
    params, body = WechatPusher(WX_TOKEN, world.wechat.app_id, WX_AES).push(xml)
    _post(world, "/hooks/wechat/official", params=params, content=body)


@FAST
@given(body=st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
def test_wechat_envelope_from_a_stranger(world: World, body: bytes) -> None:
    _post(world, "/hooks/wechat/official", params={"encrypt_type": "aes", "msg_signature": "0" * 40,
                                                   "timestamp": "1", "nonce": "n", "signature": "x"}, content=body)


@FAST
@given(body=json_values)
def test_web_chat_json(world: World, body: Any) -> None:
    for path in ("/chat/api/messages", "/chat/api/visitor", "/chat/api/callback"):
        _post(world, path, content=json.dumps(body), headers={
            "Authorization": f"Bearer {world.visitor}", "Content-Type": "application/json"})


@FAST
@given(parts=st.lists(st.tuples(st.text(max_size=20), st.binary(max_size=200), st.booleans()), max_size=4),
       boundary=st.sampled_from(["b0undary", "", "x" * 80]), tail=st.binary(max_size=40))
def test_web_chat_multipart(world: World, parts: list[tuple[str, bytes, bool]], boundary: str, tail: bytes) -> None:
    body = b""
    for name, data, is_file in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{name}.bin"' if is_file else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode(errors="replace") + data + b"\r\n"
    body += f"--{boundary}--\r\n".encode() + tail
    _post(world, "/chat/api/messages", content=body, headers={
        "Authorization": f"Bearer {world.visitor}",
        "Content-Type": f"multipart/form-data; boundary={boundary}" if boundary else "multipart/form-data"})


LONE_SURROGATES = ('"\\ud800"', '"a\\udfff b"', '"\\uDBFF"', '"x\\ud83d"')


def test_lone_surrogate_escapes_are_a_4xx_at_every_json_input(world: World) -> None:
    """The class, not one endpoint: every JSON body from outside, signed or not, with a string that is a
    lone UTF-16 surrogate (valid JSON syntax, not text) in the place a handler reads first."""
    visitor = world.run(Visitor(world.d).start()).token  # the fuzzers above used up the first one's rate
    for lone in LONE_SURROGATES:
        update = (f'{{"update_id": 77, "message": {{"message_id": 1, "date": 1700000000, "text": {lone},'
                  f' "chat": {{"id": 7, "type": "private", "first_name": "A"}}}}}}')
        status = _post(world, "/hooks/telegram/main", content=update, headers={
            "X-Telegram-Bot-Api-Secret-Token": TG_SECRET, "Content-Type": "application/json"}).status_code
        assert 400 <= status < 500, (lone, status)
        body = f'{{"for_user_id": "1", "direct_message_events": [{{"type": {lone}}}]}}'.encode()
        status = _post(world, "/hooks/x/main", content=body, headers={
            "x-twitter-webhooks-signature": activity_signature(body, X_SECRET),
            "Content-Type": "application/json"}).status_code
        assert 400 <= status < 500, (lone, status)
        for path in ("/chat/api/messages", "/chat/api/visitor"):
            status = _post(world, path, content=f'{{"text": {lone}, "name": {lone}}}', headers={
                "Authorization": f"Bearer {visitor}", "Content-Type": "application/json"}).status_code
            assert status == 400, (path, lone, status)
        status = _post(world, "/api/v1/conversations", content=f'{{"inbox": "webchat.site", "text": {lone}}}',
                       headers={"Authorization": f"Bearer {world.d.token}",
                                "Content-Type": "application/json"}).status_code
        assert status == 400, (lone, status)
    # a surrogate PAIR is one ordinary character: accepted
    ok = _post(world, "/chat/api/messages", content='{"text": "smile \\ud83d\\ude00", "client_id": "pair"}',
               headers={"Authorization": f"Bearer {visitor}", "Content-Type": "application/json"})
    assert ok.status_code == 201, ok.text


# ---------------------------------------------------------------- parsers without an HTTP face

SAMPLE_MAIL = (b"From: A <a@example.com>\r\nTo: support@example.com\r\nSubject: =?utf-8?b?5L2g5aW9?=\r\n"
               b"Message-ID: <1@example.com>\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\n"
               b"Content-Type: text/plain; charset=gb2312\r\n\r\nhello\r\n--zz\r\nContent-Type: image/png\r\n"
               b"Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=a.png\r\n\r\n"
               b"iVBORw0KGgo=\r\n--zz--\r\n")


@FAST
@given(cut=st.integers(0, len(SAMPLE_MAIL)), junk=st.binary(max_size=80), at=st.integers(0, len(SAMPLE_MAIL)))
def test_mime_is_parsed_or_quarantined(cut: int, junk: bytes, at: int) -> None:
    from tpbridge.adapters.email.convert import convert

    raw = (SAMPLE_MAIL[:at] + junk + SAMPLE_MAIL[at:])[:cut + len(junk)]
    converted = convert("email.support", raw, own_addresses=frozenset({"support@example.com"}))
    assert (converted.inbound, converted.bounce, converted.quarantined) != (None, None, None) or converted.mail


@FAST
@given(toml=st.text(max_size=300), table=st.dictionaries(
    st.sampled_from(["listen", "public_url", "max_text_bytes", "session_days", "header_timeout", "metrics_listen"]),
    json_values, max_size=3))
def test_config_errors_are_config_errors(tmp_path_factory: pytest.TempPathFactory, toml: str,
                                         table: dict[str, Any]) -> None:
    from tpbridge.bridge import config

    path = tmp_path_factory.mktemp("cfg") / "tpbridge.toml"
    http = "\n".join(f"{k} = {json.dumps(v)}" for k, v in table.items() if v is not None)
    for text in (toml, f"[http]\n{http}\n"):
        path.write_text(text, encoding="utf-8")
        try:
            config.load(path)
        except config.ConfigError as exc:
            assert exc.problems and all(isinstance(p, str) for p in exc.problems)


@FAST
@given(item=json_values | st.fixed_dictionaries({"id": json_values, "text": json_values}, optional={
    "author_id": json_values, "sender_id": json_values, "created_at": json_values, "conversation_id": json_values,
    "referenced_tweets": json_values, "attachments": json_values, "entities": json_values,
    "dm_conversation_id": json_values}), users=st.dictionaries(st.text(max_size=5), json_values, max_size=2))
def test_x_api_items_convert_or_are_unreadable(item: Any, users: dict[str, Any]) -> None:
    """The poller quarantines what raises UNREADABLE; nothing else may escape the conversion."""
    from tpbridge.adapters.x.convert import UNREADABLE, dm_event_from_v2, tweet_from_v2

    for fn in (tweet_from_v2, dm_event_from_v2):
        try:
            fn("x.main", item, users, {})
        except UNREADABLE:
            pass
