"""A faithful fake of the WeChat Official Account API (the parts tpbridge calls).

Speaks the documented wire format: errors are HTTP 200 with `errcode`/`errmsg`
(WeChat's own wording, `rid` suffix included), every token fetch invalidates the
previous token, custom/send enforces the 48-hour window (45015) and its
five-message quota (45047) once a user is known to have written. Tests make it
fail on demand with `fail_next`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from wechatpy.crypto import WeChatCrypto

from tests.fakes.server import serve, stop_serving, wait_until

ERRMSG = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40003: "invalid openid",
    40004: "invalid media type",
    40007: "invalid media_id",
    40013: "invalid appid",
    40014: "invalid access_token",
    40125: "invalid appsecret",
    40164: "invalid ip 127.0.0.1 ipv6 ::ffff:127.0.0.1, not in whitelist",
    41001: "access_token missing",
    42001: "access_token expired",
    43004: "require subscribe",
    44002: "empty post data",
    45002: "content size out of limit",
    45009: "reach max api daily quota limit",
    45015: "response out of time limit or subscription is canceled",
    45047: "out of response count limit",
    47001: "data format error",
}
WINDOW = 48 * 3600
QUOTA = 5  # customer-service messages per user action


def error(errcode: int, status: int = 200) -> web.Response:
    rid = secrets.token_hex(4) + "-" + secrets.token_hex(4)
    body = {"errcode": errcode, "errmsg": f"{ERRMSG.get(errcode, 'error')} rid: {rid}"}
    if errcode == -1:
        body["errmsg"] = "system error"
    # WeChat labels these JSON answers text/plain.
    return web.Response(status=status, text=json.dumps(body), content_type="text/plain")


@dataclass
class Failure:
    errcode: int | None = None  # None with a status: an HTTP error page instead of JSON
    status: int = 200
    delay: float = 0.0
    after: int = 0  # let this many calls through first


@dataclass
class FakeWechatApi:
    app_id: str = "wx0000000000000001"
    app_secret: str = "fake-app-secret"
    expires_in: int = 7200
    strict_windows: bool = False  # enforce 45015/45047 for openids (see open_window)
    tokens: dict[str, float] = field(default_factory=dict)  # valid token -> expiry (only the latest)
    token_fetches: int = 0
    sent: list[dict[str, Any]] = field(default_factory=list)
    raw_sends: list[bytes] = field(default_factory=list)
    uploads: dict[str, tuple[str, str, bytes]] = field(default_factory=dict)  # media_id -> (type, mime, data)
    media: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # media_id -> (mime, data) for get
    windows: dict[str, tuple[float, int]] = field(default_factory=dict)  # openid -> (opened at, used)
    unsubscribed: set[str] = field(default_factory=set)
    failures: dict[str, list[Failure]] = field(default_factory=dict)
    delays: dict[str, float] = field(default_factory=dict)
    url: str = ""

    def __post_init__(self) -> None:
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------ test controls

    def fail_next(
        self,
        endpoint: str,
        errcode: int | None = None,
        *,
        times: int = 1,
        status: int = 200,
        delay: float = 0.0,
        after: int = 0,
    ) -> None:
        """Make `times` calls to `endpoint` ("token", "send", "upload", "get") fail, after `after` succeed.

        `errcode=None` answers an HTTP error page with `status` instead of WeChat JSON.
        """
        queue = self.failures.setdefault(endpoint, [])
        queue.extend(Failure(errcode, status, delay, after if i == 0 else 0) for i in range(times))

    def slow_next(self, endpoint: str, seconds: float, *, times: int = 1) -> None:
        """The next `times` calls to `endpoint` answer normally, but only after `seconds`."""
        self.failures.setdefault(endpoint, []).extend(Failure(None, 200, seconds) for _ in range(times))

    def expire_tokens(self) -> None:
        """Every issued token is now past its expiry (next use: 42001)."""
        self.tokens = {t: 0.0 for t in self.tokens}

    def open_window(self, openid: str, at: float | None = None) -> None:
        """The user did something that opens the 48-hour window (a message, a subscription)."""
        self.windows[openid] = (time.time() if at is None else at, 0)

    def add_media(self, media_id: str, mime: str, data: bytes) -> None:
        self.media[media_id] = (mime, data)

    async def wait_sent(self, count: int, within: float = 10.0) -> list[dict[str, Any]]:
        await wait_until(self._changed, lambda: len(self.sent) >= count, within)
        return self.sent

    # ------------------------------------------------------------ server

    async def start(self) -> FakeWechatApi:
        app = web.Application(client_max_size=20 * 1024 * 1024)
        app.router.add_get("/cgi-bin/token", self._token)
        app.router.add_post("/cgi-bin/message/custom/send", self._send)
        app.router.add_post("/cgi-bin/media/upload", self._upload)
        app.router.add_get("/cgi-bin/media/get", self._get)
        app.router.add_get("/video/{media_id}", self._video)
        self._runner, self.url = await serve(app, shutdown_timeout=0.5)  # tests stop it with slow calls pending
        return self

    async def stop(self) -> None:
        await stop_serving(self._runner)

    async def __aenter__(self) -> FakeWechatApi:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _injected(self, endpoint: str) -> web.Response | None:
        await asyncio.sleep(self.delays.get(endpoint, 0.0))
        queue = self.failures.get(endpoint)
        if not queue:
            return None
        if queue[0].after > 0:
            queue[0].after -= 1
            return None
        failure = queue.pop(0)
        await asyncio.sleep(failure.delay)
        if failure.errcode is None and failure.status == 200:
            return None  # only slow: answer normally after the delay
        if failure.errcode is None:
            return web.Response(
                status=failure.status, text="<html>502 Bad Gateway</html>", content_type="text/html"
            )
        return error(failure.errcode, failure.status)

    def _check_token(self, request: web.Request) -> web.Response | None:
        token = request.query.get("access_token")
        if not token:
            return error(41001)
        if token not in self.tokens:
            return error(40001)
        if self.tokens[token] < time.time():
            return error(42001)
        return None

    async def _token(self, request: web.Request) -> web.Response:
        self.token_fetches += 1
        if (injected := await self._injected("token")) is not None:
            return injected
        q = request.query
        if q.get("grant_type") != "client_credential":
            return error(40002)
        if q.get("appid") != self.app_id:
            return error(40013)
        if q.get("secret") != self.app_secret:
            return error(40125)
        token = secrets.token_urlsafe(96)
        self.tokens = {token: time.time() + self.expires_in}  # the previous token stops working
        return web.json_response({"access_token": token, "expires_in": self.expires_in})

    async def _send(self, request: web.Request) -> web.Response:
        if (bad := self._check_token(request)) is not None:
            return bad
        if (injected := await self._injected("send")) is not None:
            return injected
        raw = await request.read()
        if not raw:
            return error(44002)
        try:
            payload = json.loads(raw)
            openid, msgtype = payload["touser"], payload["msgtype"]
            body = payload[msgtype]
        except (ValueError, KeyError, TypeError):
            return error(47001)
        if msgtype == "text" and len(str(body.get("content", "")).encode()) > 2048:
            return error(45002)
        if msgtype in ("image", "voice") and body.get("media_id") not in self.uploads:
            return error(40007)
        if openid in self.unsubscribed:
            return error(43004)
        if self.strict_windows:
            opened, used = self.windows.get(openid, (0.0, 0))
            if time.time() - opened > WINDOW:
                return error(45015)
            if used >= QUOTA:
                return error(45047)
            self.windows[openid] = (opened, used + 1)
        self.sent.append(payload)
        self.raw_sends.append(raw)
        async with self._changed:
            self._changed.notify_all()
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def _upload(self, request: web.Request) -> web.Response:
        if (bad := self._check_token(request)) is not None:
            return bad
        if (injected := await self._injected("upload")) is not None:
            return injected
        kind = request.query.get("type", "")
        if kind not in ("image", "voice", "video", "thumb"):
            return error(40004)
        reader = await request.multipart()
        part = await reader.next()
        if part is None or getattr(part, "name", None) != "media":
            return error(41005 if part is None else 40004)
        data = await part.read()  # type: ignore[union-attr]
        mime = part.headers.get("Content-Type", "application/octet-stream")  # type: ignore[union-attr]
        media_id = secrets.token_urlsafe(48)
        self.uploads[media_id] = (kind, mime, bytes(data))
        return web.json_response({"type": kind, "media_id": media_id, "created_at": int(time.time())})

    async def _get(self, request: web.Request) -> web.StreamResponse:
        if (bad := self._check_token(request)) is not None:
            return bad
        if (injected := await self._injected("get")) is not None:
            return injected
        media_id = request.query.get("media_id", "")
        if media_id not in self.media:
            return error(40007)
        mime, data = self.media[media_id]
        if mime.startswith("video/"):
            # Temporary video media answers with a download URL instead of the bytes.
            return web.json_response({"video_url": f"{self.url}/video/{media_id}"})
        ext = mime.split("/")[-1]
        return web.Response(
            body=data,
            content_type=mime,
            headers={"Content-disposition": f'attachment; filename="{media_id}.{ext}"'},
        )

    async def _video(self, request: web.Request) -> web.StreamResponse:
        mime, data = self.media[request.match_info["media_id"]]
        return web.Response(body=data, content_type=mime)


# ---------------------------------------------------------------- WeChat's side of the webhook


def push_xml(**fields: object) -> str:
    """A push as WeChat's servers format it: strings in CDATA, numbers bare."""
    parts = []
    for name, value in fields.items():
        text = str(value) if isinstance(value, int) else f"<![CDATA[{value}]]>"
        parts.append(f"<{name}>{text}</{name}>")
    return "<xml>" + "".join(parts) + "</xml>"


@dataclass
class WechatPusher:
    """Signs (and in safe mode encrypts) pushes the way WeChat's servers do."""

    token: str
    app_id: str = ""
    encoding_aes_key: str | None = None

    def verification(self, echostr: str = "echo-4815162342", timestamp: int | None = None) -> dict[str, str]:
        ts, nonce = str(int(time.time()) if timestamp is None else timestamp), secrets.token_hex(5)
        signature = _sign(self.token, ts, nonce)
        return {"signature": signature, "timestamp": ts, "nonce": nonce, "echostr": echostr}

    def push(self, xml: str, timestamp: int | None = None) -> tuple[dict[str, str], bytes]:
        """Query parameters and body of one POST to the callback URL."""
        ts, nonce = str(int(time.time()) if timestamp is None else timestamp), secrets.token_hex(5)
        params = {
            "signature": _sign(self.token, ts, nonce),
            "timestamp": ts,
            "nonce": nonce,
            "openid": _field(xml, "FromUserName"),
        }
        if not self.encoding_aes_key:
            return params, xml.encode()
        crypto = WeChatCrypto(self.token, self.encoding_aes_key, self.app_id)
        envelope = crypto.encrypt_message(xml, nonce, ts)
        encrypt = _field(envelope, "Encrypt")
        body = push_xml(ToUserName=_field(xml, "ToUserName"), Encrypt=encrypt)
        params.update(encrypt_type="aes", msg_signature=_sign(self.token, ts, nonce, encrypt))
        return params, body.encode()


def _sign(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def _field(xml: str, name: str) -> str:
    start = xml.find(f"<{name}>")
    if start < 0:
        return ""
    value = xml[start + len(name) + 2 : xml.find(f"</{name}>", start)]
    return value.removeprefix("<![CDATA[").removesuffix("]]>")
