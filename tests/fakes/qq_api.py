"""A fake of the QQ bot OpenAPI v2 (the parts tpbridge calls), and QQ's side of the webhook.

Written from tencent-connect/bot-docs (api-v2: api-use.md, send.md, rich-media.md,
event.md, event-emit.md, sign.md, openapi/error/error.md) and botpy: the token
comes from /app/getAppAccessToken with `expires_in` as a string; calls carry
`Authorization: QQBot <token>`; errors are `{"message", "code", "err_code",
"trace_id"}` with the HTTP status of the table. Passive replies need a known
msg_id (304026), within 60 minutes (direct) or 5 (group) (304027), at most five
per message (22009), a fresh msg_seq (40054005); active messages draw on a
per-target quota (22009 when spent, zero by default since QQ withdrew them on
2025-04-21); msg_type 7 needs a file_info from /files and non-empty content.
The texts of 304027/22009-for-quota/40054005 are not in the published docs.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.fakes.server import serve, stop_serving, wait_until

WINDOWS = {"c2c": 60 * 60, "group": 5 * 60}
REPLIES_PER_MESSAGE = 5


def error(status: int, code: int, message: str) -> web.Response:
    body = {"message": message, "code": code, "err_code": code, "trace_id": secrets.token_hex(16)}
    return web.json_response(body, status=status)


@dataclass
class Received:
    scene: str
    target: str  # openid or group_openid
    at: float
    replies: int = 0
    seqs: set[int] = field(default_factory=set)


@dataclass
class FakeQQ:
    app_id: str = "102030405"
    app_secret: str = "naOC0ocQE3shWLAfffVLB1rhYPG7"
    expires_in: int = 7200
    markdown_allowed: bool = False
    active_quota: int = 0  # active messages left per target
    rate_limited: int = 0  # answer this many message calls with HTTP 429
    tokens: set[str] = field(default_factory=set)
    token_fetches: int = 0
    received: dict[str, Received] = field(default_factory=dict)  # msg_id / event_id -> what it was
    files: dict[str, bytes] = field(default_factory=dict)  # served at /media/<name> for inbound attachments
    uploads: dict[str, tuple[int, bytes]] = field(default_factory=dict)  # file_info -> (file_type, data)
    sent: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def __post_init__(self) -> None:
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------ server

    async def __aenter__(self) -> FakeQQ:
        app = web.Application(client_max_size=30 * 1024 * 1024)
        app.router.add_post("/app/getAppAccessToken", self._token)
        app.router.add_post("/v2/users/{openid}/messages", self._message)
        app.router.add_post("/v2/groups/{openid}/messages", self._message)
        app.router.add_post("/v2/users/{openid}/files", self._upload)
        app.router.add_post("/v2/groups/{openid}/files", self._upload)
        app.router.add_get("/media/{name}", self._media)
        self._runner, self.url = await serve(app, shutdown_timeout=0.5)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await stop_serving(self._runner)

    async def wait_sent(self, count: int, within: float = 10.0) -> list[dict[str, Any]]:
        await wait_until(self._changed, lambda: len(self.sent) >= count, within)
        return self.sent

    async def _token(self, request: web.Request) -> web.Response:
        self.token_fetches += 1
        try:
            body = await request.json()
        except ValueError:
            return error(400, 100001, "invalid request body")
        if body.get("appId") != self.app_id or body.get("clientSecret") != self.app_secret:
            return error(401, 100016, "invalid appid or secret")
        token = secrets.token_urlsafe(32)
        self.tokens.add(token)
        return web.json_response({"access_token": token, "expires_in": str(self.expires_in)})

    def _auth(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("QQBot ") or header[6:] not in self.tokens:
            return error(401, 11244, "token not exist or expire")
        if request.headers.get("X-Union-Appid") != self.app_id:
            return error(401, 11251, "appid is wrong")
        return None

    async def _message(self, request: web.Request) -> web.Response:
        if (bad := self._auth(request)) is not None:
            return bad
        if self.rate_limited > 0:
            self.rate_limited -= 1
            return error(429, 22009, "msg limit exceed")
        scene = "group" if request.path.startswith("/v2/groups/") else "c2c"
        openid = request.match_info["openid"]
        try:
            body = await request.json()
            msg_type = int(body["msg_type"])
        except (ValueError, KeyError, TypeError):
            return error(400, 50035, "invalid form body")
        if msg_type == 0 and not str(body.get("content") or "").strip():
            return error(400, 50006, "cannot send empty message")
        if msg_type == 2 and not self.markdown_allowed:
            return error(400, 50056, "不允许发送 markdown content")
        if msg_type == 7:
            if not str(body.get("content") or ""):
                return error(400, 50006, "cannot send empty message")
            if (body.get("media") or {}).get("file_info") not in self.uploads:
                return error(400, 304082, "upload media info fail")
        if msg_type not in (0, 2, 7):
            return error(400, 50035, "invalid form body")
        ref = body.get("msg_id") or body.get("event_id")
        if ref:
            got = self.received.get(str(ref))
            if got is None or got.scene != scene or got.target != openid:
                return error(400, 304026, "回复的消息 id 错误")
            if time.time() - got.at > WINDOWS[scene]:
                return error(400, 304027, "回复的消息过期")
            seq = int(body.get("msg_seq") or 1)
            if seq in got.seqs:
                return error(400, 40054005, "消息被去重，请检查请求msgseq")
            if got.replies >= REPLIES_PER_MESSAGE:
                return error(400, 22009, "msg limit exceed")
            got.replies += 1
            got.seqs.add(seq)
        else:
            if self.active_quota <= 0:
                return error(400, 22009, "msg limit exceed")
            self.active_quota -= 1
        msg_id = "ROBOT1.0_" + secrets.token_urlsafe(24)
        self.sent.append({"scene": scene, "target": openid, "id": msg_id, **body})
        async with self._changed:
            self._changed.notify_all()
        return web.json_response({"id": msg_id, "timestamp": int(time.time())})

    async def _upload(self, request: web.Request) -> web.Response:
        if (bad := self._auth(request)) is not None:
            return bad
        try:
            body = await request.json()
            file_type = int(body["file_type"])
        except (ValueError, KeyError, TypeError):
            return error(400, 50035, "invalid form body")
        if file_type not in (1, 2, 3) or not (body.get("file_data") or body.get("url")):
            return error(400, 50035, "invalid form body")
        data = base64.b64decode(body["file_data"]) if body.get("file_data") else b""
        file_info = secrets.token_urlsafe(48)
        self.uploads[file_info] = (file_type, data)
        return web.json_response({"file_uuid": secrets.token_hex(16), "file_info": file_info, "ttl": 3600})

    async def _media(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self.files:
            return web.Response(status=404, text="not found")
        return web.Response(body=self.files[name], content_type="image/jpeg")


# ---------------------------------------------------------------- QQ's side of the webhook


@dataclass
class QQPusher:
    """Signs callbacks as QQ does: ed25519, seed = the secret repeated to 32 bytes, over timestamp + body."""

    app_secret: str
    app_id: str = "102030405"
    fake: FakeQQ | None = None  # when given, what is pushed becomes replyable there

    def _key(self) -> Ed25519PrivateKey:
        seed = self.app_secret
        while len(seed) < 32:
            seed *= 2
        return Ed25519PrivateKey.from_private_bytes(seed[:32].encode())

    def sign(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        signature = self._key().sign(ts.encode() + body).hex()
        return {"X-Signature-Ed25519": signature, "X-Signature-Timestamp": ts, "X-Bot-Appid": self.app_id,
                "User-Agent": "QQBot-Callback", "Content-Type": "application/json"}

    def dispatch(self, event: str, d: dict[str, Any], event_id: str | None = None) -> tuple[dict[str, str], bytes]:
        event_id = event_id or f"{event}:{secrets.token_hex(8)}"
        body = json.dumps({"op": 0, "id": event_id, "d": d, "s": 1, "t": event}, ensure_ascii=False).encode()
        if self.fake is not None:
            ref, scene, target = self._replyable(event, event_id, d)
            if ref:
                self.fake.received.setdefault(ref, Received(scene, target, time.time()))
        return self.sign(body), body

    @staticmethod
    def _replyable(event: str, event_id: str, d: dict[str, Any]) -> tuple[str, str, str]:
        if event == "C2C_MESSAGE_CREATE":
            return d["id"], "c2c", d["author"]["user_openid"]
        if event == "GROUP_AT_MESSAGE_CREATE":
            return d["id"], "group", d["group_openid"]
        if event in ("FRIEND_ADD", "C2C_MSG_RECEIVE"):
            return event_id, "c2c", d["openid"]
        if event in ("GROUP_ADD_ROBOT", "GROUP_MSG_RECEIVE"):
            return event_id, "group", d["group_openid"]
        return "", "", ""

    def validation(self, plain_token: str = "Arq0D5A61EgUu4OxUvOp", event_ts: str = "1725442341") -> bytes:
        """The op 13 URL check, as documented: no signature headers."""
        return json.dumps({"d": {"plain_token": plain_token, "event_ts": event_ts}, "op": 13}).encode()


def rfc3339(at: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if at is None else at, UTC).astimezone().isoformat(timespec="seconds")


def c2c_message(openid: str, content: str, msg_id: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"author": {"user_openid": openid}, "content": content,
            "id": msg_id or "ROBOT1.0_" + secrets.token_urlsafe(24), "timestamp": rfc3339(), **extra}


def group_message(group: str, member: str, content: str, msg_id: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"author": {"member_openid": member}, "content": " " + content, "group_openid": group,
            "id": msg_id or "ROBOT1.0_" + secrets.token_urlsafe(24), "timestamp": rfc3339(), **extra}
