"""The WeChat webhook at the wire: WeChat's signed pushes in, RecordingSink out."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from structlog.testing import capture_logs
from tpbridge.adapters.base import AdapterContext, HasWebhooks, Inbound
from tpbridge.adapters.wechat import Settings, WechatAdapter

from tests.fakes.wechat_api import FakeWechatApi, WechatPusher, push_xml
from tests.support.sink import RecordingSink

REPO = Path(__file__).resolve().parents[2]
VECTORS = json.loads((REPO / "tests" / "fixtures" / "wechat" / "vectors.json").read_text())


def query_signature(token: str, timestamp: str, nonce: str) -> str:
    """The plain `signature` WeChat puts on every push's query, safe mode too (the published ciphertext
    samples give only `msg_signature`, so the test signs the query itself)."""
    return hashlib.sha1("".join(sorted((token, timestamp, nonce))).encode()).hexdigest()
AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
OPENID = "oUser_0123456789abcdefghijk"
PATH = "/hooks/wechat/official"


@dataclass
class Hook:
    client: TestClient
    adapter: WechatAdapter
    sink: RecordingSink
    pusher: WechatPusher
    fake: FakeWechatApi

    async def post(self, xml: str, *, timestamp: int | None = None) -> tuple[int, str]:
        params, body = self.pusher.push(xml, timestamp)
        resp = await self.client.post(PATH, params=params, data=body)
        return resp.status, await resp.text()


@pytest.fixture
async def fake() -> AsyncIterator[FakeWechatApi]:
    async with FakeWechatApi() as api:
        yield api


def make_adapter(fake: FakeWechatApi, sink: RecordingSink, tmp: Path, **overrides: Any) -> WechatAdapter:
    settings = Settings(
        **{
            "app_id": fake.app_id,
            "app_secret": fake.app_secret,
            "token": "callback-token",
            "api_base_url": fake.url,
            **overrides,
        }
    )
    return WechatAdapter("wechat.official", settings, AdapterContext(sink, "https://support.example", tmp, PATH))


@asynccontextmanager
async def webhook(
    fake: FakeWechatApi, tmp: Path, *, enter: bool = True, **overrides: Any
) -> AsyncIterator[Hook]:
    sink = RecordingSink("wechat.official")
    adapter = make_adapter(fake, sink, tmp, **overrides)
    assert isinstance(adapter, HasWebhooks)
    app = web.Application()
    app.add_routes(adapter.routes())  # mounted before __aenter__, like the daemon does
    settings = adapter.settings
    pusher = WechatPusher(settings.token, settings.app_id, settings.encoding_aes_key)
    async with TestClient(TestServer(app)) as client:
        if not enter:
            yield Hook(client, adapter, sink, pusher, fake)
            return
        async with adapter:
            runner = asyncio.create_task(adapter.run(sink))  # as the daemon's supervisor does
            try:
                yield Hook(client, adapter, sink, pusher, fake)
            finally:
                runner.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await runner


def text_xml(
    content: str = "你好，我的订单还没到",
    msg_id: int = 22861234567890123,
    sender: str = OPENID,
    create_time: int | None = None,
) -> str:
    return push_xml(
        ToUserName="gh_3c884a361561",
        FromUserName=sender,
        CreateTime=create_time or int(time.time()),
        MsgType="text",
        Content=content,
        MsgId=msg_id,
    )


# ---------------------------------------------------------------- URL verification


async def test_url_verification_echoes_echostr(fake: FakeWechatApi, tmp_path: Path) -> None:
    async with webhook(fake, tmp_path) as hook:
        resp = await hook.client.get(PATH, params=hook.pusher.verification("8731641418592871"))
        assert resp.status == 200
        assert await resp.text() == "8731641418592871"


async def test_url_verification_with_the_published_signature_vector(
    fake: FakeWechatApi, tmp_path: Path
) -> None:
    v = VECTORS["signature"]
    async with webhook(fake, tmp_path, token=v["token"], signature_max_age=0) as hook:
        query = {
            "signature": v["signature"],
            "timestamp": v["timestamp"],
            "nonce": v["nonce"],
            "echostr": "e",
        }
        resp = await hook.client.get(PATH, params=query)
        assert (resp.status, await resp.text()) == (200, "e")


@pytest.mark.parametrize("tamper", ["wrong", "stale", "missing"])
async def test_url_verification_refuses_wrong_or_stale_signature(
    fake: FakeWechatApi, tmp_path: Path, tamper: str
) -> None:
    async with webhook(fake, tmp_path) as hook:
        if tamper == "stale":
            query = hook.pusher.verification(timestamp=int(time.time()) - 3600)
        else:
            query = hook.pusher.verification()
            if tamper == "wrong":
                query["signature"] = "0" * 40
            else:
                del query["signature"]
        with capture_logs() as logs:
            resp = await hook.client.get(PATH, params=query)
        assert resp.status == 403
        assert "echo" not in await resp.text()
        assert any(e["event"] == "webhook.forbidden" and e["inbox"] == "wechat.official" for e in logs)


async def test_webhook_answers_503_until_the_adapter_is_entered(fake: FakeWechatApi, tmp_path: Path) -> None:
    async with webhook(fake, tmp_path, enter=False) as hook:
        resp = await hook.client.get(PATH, params=hook.pusher.verification())
        assert resp.status == 503
        status, _ = await hook.post(text_xml())
        assert status == 503
        assert hook.sink.records == []


# ---------------------------------------------------------------- published sample vectors


async def post_sample(fake: FakeWechatApi, tmp_path: Path, v: dict, body: str, **query: str) -> Inbound:
    """Post a published safe-mode sample to the webhook as WeChat would; the one record it stored."""
    fake.app_id = v["app_id"]
    async with webhook(
        fake,
        tmp_path,
        app_id=v["app_id"],
        token=v["token"],
        encoding_aes_key=v["encoding_aes_key"],
        signature_max_age=0,
    ) as hook:
        params = {
            "signature": query_signature(v["token"], v["timestamp"], v["nonce"]),
            "timestamp": v["timestamp"],
            "nonce": v["nonce"],
            "encrypt_type": "aes",
            "msg_signature": v["msg_signature"],
            **query,
        }
        resp = await hook.client.post(PATH, params=params, data=body.encode())
        assert (resp.status, await resp.text()) == (200, "success")
    [record] = hook.sink.records
    return record


async def test_tencent_sample_encrypted_message_decrypts_and_lands(
    fake: FakeWechatApi, tmp_path: Path
) -> None:
    v = VECTORS["tencent_python_sample"]
    record = await post_sample(fake, tmp_path, v, v["body"])
    expect = v["expect"]
    assert record.text == expect["Content"]
    assert record.sender.external_id == expect["FromUserName"]
    assert record.external_id == f"{expect['FromUserName']}:{expect['MsgId']}"
    assert record.sent_at == datetime.fromtimestamp(1409735668, UTC)
    assert record.reply_window_ends_at == record.sent_at + timedelta(hours=48)


async def test_wechatpy_sample_encrypted_message_decrypts_and_lands(
    fake: FakeWechatApi, tmp_path: Path
) -> None:
    v = VECTORS["wechatpy_test_crypto"]
    record = await post_sample(fake, tmp_path, v, push_xml(ToUserName=v["app_id"], Encrypt=v["encrypt"]))
    assert (record.text, record.sender.external_id) == (v["expect"]["Content"], v["expect"]["FromUserName"])


def test_tencent_java_sample_ciphertext_round_trips() -> None:
    """The AES framing (random, length, body, app id) matches Tencent's published ciphertext."""
    from wechatpy.crypto import PrpCrypto, WeChatCrypto

    v = VECTORS["tencent_java_sample_encrypt"]
    key = WeChatCrypto(v["token"], v["encoding_aes_key"], v["app_id"]).key
    crypto = PrpCrypto(key)
    crypto.get_random_string = lambda: v["random"]  # the sample's fixed IV-ish prefix
    assert crypto.encrypt(v["plaintext"], v["app_id"]).decode() == v["encrypt"]
    assert PrpCrypto(key).decrypt(v["encrypt"], v["app_id"]) == v["plaintext"]


async def test_sample_vector_is_refused_when_freshness_is_checked(
    fake: FakeWechatApi, tmp_path: Path
) -> None:
    """The 2014 sample is a perfect replay: with the default window it is stale."""
    v = VECTORS["tencent_python_sample"]
    fake.app_id = v["app_id"]
    async with webhook(
        fake, tmp_path, app_id=v["app_id"], token=v["token"], encoding_aes_key=v["encoding_aes_key"]
    ) as hook:
        query = {
            "signature": query_signature(v["token"], v["timestamp"], v["nonce"]),
            "timestamp": v["timestamp"],
            "nonce": v["nonce"],
            "encrypt_type": "aes",
            "msg_signature": v["msg_signature"],
        }
        resp = await hook.client.post(PATH, params=query, data=v["body"].encode())
        assert resp.status == 403
    assert hook.sink.records == []


# ---------------------------------------------------------------- signatures in POSTs


async def test_plaintext_push_is_refused_when_safe_mode_is_configured(
    fake: FakeWechatApi, tmp_path: Path
) -> None:
    async with webhook(fake, tmp_path, encoding_aes_key=AES_KEY) as hook:
        plain = WechatPusher(hook.pusher.token)  # signs correctly, but does not encrypt
        params, body = plain.push(text_xml())
        resp = await hook.client.post(PATH, params=params, data=body)
        assert resp.status == 403
    assert hook.sink.records == []


@pytest.mark.parametrize("mode", ["plaintext", "safe"])
async def test_wrong_signature_is_403_and_nothing_stored(
    fake: FakeWechatApi, tmp_path: Path, mode: str
) -> None:
    key = AES_KEY if mode == "safe" else None
    async with webhook(fake, tmp_path, encoding_aes_key=key) as hook:
        params, body = hook.pusher.push(text_xml())
        params["msg_signature" if key else "signature"] = "f" * 40
        resp = await hook.client.post(PATH, params=params, data=body)
        assert resp.status == 403
        stale_params, stale_body = hook.pusher.push(text_xml(), timestamp=int(time.time()) - 600)
        resp = await hook.client.post(PATH, params=stale_params, data=stale_body)
        assert resp.status == 403
    assert hook.sink.records == [] and hook.sink.quarantined == []


# ---------------------------------------------------------------- the 5-second rule and retries


async def test_retry_storm_of_one_msgid_stores_one_message(fake: FakeWechatApi, tmp_path: Path) -> None:
    """WeChat retries 3 times on a slow answer; concurrent and sequential copies store once."""
    xml = text_xml("在吗", msg_id=88001)
    async with webhook(fake, tmp_path, encoding_aes_key=AES_KEY) as hook:
        concurrent = await asyncio.gather(*(hook.post(xml) for _ in range(3)))
        sequential = [await hook.post(xml) for _ in range(3)]
    assert concurrent + sequential == [(200, "success")] * 6
    assert [r.external_id for r in hook.sink.records] == [f"{OPENID}:88001"]


async def test_same_msgid_from_two_users_is_two_messages(fake: FakeWechatApi, tmp_path: Path) -> None:
    async with webhook(fake, tmp_path) as hook:
        await hook.post(text_xml("a", msg_id=1, sender="oUserA"))
        await hook.post(text_xml("b", msg_id=1, sender="oUserB"))
        # two events of one user in the same second but of different kinds
        now = int(time.time())
        for event in ("subscribe", "CLICK"):
            await hook.post(
                push_xml(
                    ToUserName="gh_1",
                    FromUserName="oUserA",
                    CreateTime=now,
                    MsgType="event",
                    Event=event,
                    EventKey="K",
                )
            )
    assert len({r.external_id for r in hook.sink.records}) == 4


async def test_answer_is_immediate_and_never_waits_for_a_reply(fake: FakeWechatApi, tmp_path: Path) -> None:
    async with webhook(fake, tmp_path) as hook:
        started = time.monotonic()
        assert await hook.post(text_xml()) == (200, "success")
        assert time.monotonic() - started < 1.0
    assert fake.sent == []  # the webhook answers `success`; replies go through custom/send later


# ---------------------------------------------------------------- hostile and broken input

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<xml><ToUserName>gh_1</ToUserName><FromUserName>oX</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&lol3;</Content><MsgId>1</MsgId></xml>"""
XXE = """<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><ToUserName>gh_1</ToUserName><FromUserName>oX</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&xxe;</Content><MsgId>2</MsgId></xml>"""
BAD_BODIES = {
    "truncated": "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUser",
    "not-xml": '{"MsgType": "text"}',
    "empty": "",
    "billion-laughs": BILLION_LAUGHS,
    "xxe": XXE,
    "wrong-root": "<message><MsgType>text</MsgType></message>",
    "absurd-time": "<xml><MsgType>text</MsgType><FromUserName>oX</FromUserName>"
    "<CreateTime>99999999999999999999</CreateTime><Content>x</Content><MsgId>1</MsgId></xml>",
    "no-sender": "<xml><MsgType>text</MsgType><CreateTime>1</CreateTime><Content>x</Content></xml>",
}


@pytest.mark.parametrize("mode", ["plaintext", "safe"])
@pytest.mark.parametrize("name", list(BAD_BODIES))
async def test_unparseable_body_is_400_logged_and_not_stored(
    fake: FakeWechatApi, tmp_path: Path, name: str, mode: str
) -> None:
    async with webhook(fake, tmp_path, encoding_aes_key=AES_KEY if mode == "safe" else None) as hook:
        # correctly signed (and in safe mode correctly encrypted): only the XML is wrong
        with capture_logs() as logs:
            status, _ = await hook.post(BAD_BODIES[name])
        assert status == 400
    assert hook.sink.records == [] and hook.sink.quarantined == []
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["webhook.rejected"]
    assert all(e["inbox"] == "wechat.official" for e in logs)


async def test_safe_mode_envelope_that_is_not_xml_is_400(fake: FakeWechatApi, tmp_path: Path) -> None:
    async with webhook(fake, tmp_path, encoding_aes_key=AES_KEY) as hook:
        params, _ = hook.pusher.push(text_xml())
        for body in (b"garbage", XXE.encode(), push_xml(Encrypt="bm90IGFlcw==").encode()):
            resp = await hook.client.post(PATH, params=params, data=body)
            assert resp.status in (400, 403)
    assert hook.sink.records == []


async def test_oversized_body_is_413(fake: FakeWechatApi, tmp_path: Path) -> None:
    async with webhook(fake, tmp_path, max_body_bytes=4096) as hook:
        status, _ = await hook.post(text_xml("x" * 10_000))
        assert status == 413
    assert hook.sink.records == []


def test_settings_refuse_a_malformed_aes_key() -> None:
    with pytest.raises(ValueError, match="encoding_aes_key"):
        Settings(app_id="wx1", app_secret="s", token="t", encoding_aes_key="too-short")
    assert not Settings(app_id="wx1", app_secret="s", token="t", encoding_aes_key="").safe_mode


async def test_store_failure_is_not_acknowledged(fake: FakeWechatApi, tmp_path: Path) -> None:
    """Nothing is answered `success` unless it was stored: WeChat retries a 5xx."""

    class BrokenStore(RecordingSink):
        broken = True

        async def ingest(self, batch: Any, *, checkpoint: str | None = None) -> Any:
            if self.broken:
                raise OSError("disk full")
            return await super().ingest(batch, checkpoint=checkpoint)

    sink = BrokenStore("wechat.official")
    adapter = make_adapter(fake, sink, tmp_path)
    app = web.Application()
    app.add_routes(adapter.routes())
    pusher = WechatPusher(adapter.settings.token)
    async with TestClient(TestServer(app)) as client, adapter:
        params, body = pusher.push(text_xml(msg_id=9))
        with capture_logs() as logs:
            resp = await client.post(PATH, params=params, data=body)
        assert resp.status == 503
        assert any(e["event"] == "message.store_failed" for e in logs)
        sink.broken = False
        resp = await client.post(PATH, params=params, data=body)  # WeChat's retry
        assert (resp.status, await resp.text()) == (200, "success")
    assert [r.external_id for r in sink.records] == [f"{OPENID}:9"]


def test_example_config_validates() -> None:
    import tomllib

    table = tomllib.loads((REPO / "config" / "channels" / "wechat.example.toml").read_text())
    settings = Settings.model_validate(
        table["channels"]["wechat"]["official"], context={"resolve_secrets": False}
    )
    assert settings.api_base_url == "https://api.weixin.qq.com"


async def test_safe_mode_checks_the_query_signature_before_reading_the_body(
    fake: FakeWechatApi, tmp_path: Path
) -> None:
    """A stranger's envelope is never parsed: without WeChat's query signature the answer is 403, whatever
    the body (here a deeply nested document that a parser would have to walk)."""
    async with webhook(fake, tmp_path, encoding_aes_key=AES_KEY) as hook:
        params, body = hook.pusher.push(text_xml())
        nested = b"<xml>" + b"<a>" * 50_000 + b"</a>" * 50_000 + b"</xml>"
        for forged, data in (({**params, "signature": "f" * 40}, body), ({**params, "signature": "f" * 40}, nested),
                             ({k: v for k, v in params.items() if k != "signature"}, body)):
            resp = await hook.client.post(PATH, params=forged, data=data)
            assert resp.status == 403
        resp = await hook.client.post(PATH, params=params, data=body)  # the genuine push still lands
        assert (resp.status, await resp.text()) == (200, "success")
    assert len(hook.sink.records) == 1
