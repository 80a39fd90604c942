"""A fake of the Weibo fan service platform (the parts tpbridge calls), and Weibo's side of the webhook.

Written from open.weibo.com/wiki (Messages_api_start, Receive_General_Message,
Send_Customer_Service_Message, Error_code): errors are 4xx with
`{"error", "error_code", "request"}`; reply.json takes a form whose `data` is JSON
text; replies are accepted for 48 hours after the user's last action (message,
follow, menu click, scan) and never after an unfollow. The error code for a
closed window is not published: 21602 here (the adapter keys on no such code).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from aiohttp import web

from tests.fakes.server import serve, stop_serving, wait_until

WINDOW = 48 * 3600
CST = timezone(timedelta(hours=8))
WINDOW_CLOSED = 21602


def error(request: web.Request, status: int, code: int, text: str) -> web.Response:
    return web.json_response({"error": text, "error_code": code, "request": request.path}, status=status)


@dataclass
class FakeWeibo:
    uid: int = 5811000001  # the official account
    access_token: str = field(default_factory=lambda: "2.00" + secrets.token_hex(16))
    expire_in: int = 300 * 86400
    users: dict[str, str] = field(default_factory=dict)  # uid -> screen_name
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # tovfid -> (mime, data)
    windows: dict[str, float] = field(default_factory=dict)  # uid -> last action
    unfollowed: set[str] = field(default_factory=set)
    rate_limited: int = 0  # answer this many reply calls with 10023
    rate_limit_call: int | None = None  # ... or the reply call with this number (1 = the first)
    sent: list[dict[str, Any]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    url: str = ""

    def __post_init__(self) -> None:
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._next_id = 4_100_000_000_000_000

    # ------------------------------------------------------------ test controls

    def open_window(self, uid: str, at: float | None = None) -> None:
        self.windows[uid] = time.time() if at is None else at

    async def wait_sent(self, count: int, within: float = 10.0) -> list[dict[str, Any]]:
        await wait_until(self._changed, lambda: len(self.sent) >= count, within)
        return self.sent

    # ------------------------------------------------------------ server

    async def __aenter__(self) -> FakeWeibo:
        app = web.Application()
        app.router.add_post("/oauth2/get_token_info", self._token_info)
        app.router.add_post("/2/messages/reply.json", self._reply)
        app.router.add_get("/2/users/show.json", self._user)
        app.router.add_get("/2/mss/msget", self._msget)
        self._runner, self.url = await serve(app, shutdown_timeout=0.5)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await stop_serving(self._runner)

    def _token_error(self, request: web.Request, token: str | None) -> web.Response | None:
        if not token:
            return error(request, 400, 10006, "source paramter (appkey) is missing")
        if token != self.access_token:
            return error(request, 401, 21332, "invalid_access_token")
        return None

    async def _token_info(self, request: web.Request) -> web.Response:
        self.calls.append("get_token_info")
        form = await request.post()
        if (bad := self._token_error(request, str(form.get("access_token") or ""))) is not None:
            return bad
        return web.json_response({"uid": self.uid, "appkey": "1234567890", "scope": "",
                                  "create_at": int(time.time()) - 86400, "expire_in": self.expire_in})

    async def _reply(self, request: web.Request) -> web.Response:
        self.calls.append("reply")
        if not request.content_type.startswith("application/x-www-form-urlencoded"):
            return error(request, 400, 10007, f"unsupport mediatype ({request.content_type})")
        form = await request.post()
        if (bad := self._token_error(request, str(form.get("access_token") or ""))) is not None:
            return bad
        kind, receiver, raw = form.get("type"), str(form.get("receiver_id") or ""), form.get("data")
        if kind not in ("text", "articles", "position") or not receiver.isdigit() or not isinstance(raw, str):
            return error(request, 400, 10008, "param error, see doc for more info")
        try:
            data = json.loads(raw)
        except ValueError:
            return error(request, 400, 10008, "param error, data is not json")
        if kind == "text" and not str(data.get("text") or "").strip():
            return error(request, 400, 10016, "miss required parameter (text), see doc for more info")
        if self.rate_limited > 0 or self.calls.count("reply") == self.rate_limit_call:
            self.rate_limited = max(0, self.rate_limited - 1)
            return error(request, 403, 10023, "User requests out of rate limit!")
        if receiver in self.unfollowed or time.time() - self.windows.get(receiver, 0.0) > WINDOW:
            return error(request, 403, WINDOW_CLOSED, "receiver has no reply quota: no message from this user "
                                                      "in the last 48 hours, or the user unfollowed")
        self._next_id += 1
        sent = {"type": kind, "receiver_id": receiver, "data": data,
                "save_sender_box": form.get("save_sender_box", "1")}
        self.sent.append(sent)
        async with self._changed:
            self._changed.notify_all()
        now = datetime.now(CST).strftime("%a %b %d %H:%M:%S %z %Y")
        return web.json_response({"id": self._next_id, "idstr": str(self._next_id), "created_at": now,
                                  "text": data.get("text", ""), "sender_id": self.uid,
                                  "recipient_id": int(receiver)})

    async def _user(self, request: web.Request) -> web.Response:
        self.calls.append("users/show")
        if (bad := self._token_error(request, request.query.get("access_token"))) is not None:
            return bad
        uid = request.query.get("uid", "")
        if uid not in self.users:
            return error(request, 400, 20003, "User does not exists!")
        return web.json_response({"id": int(uid), "idstr": uid, "screen_name": self.users[uid],
                                  "name": self.users[uid], "verified": False})

    async def _msget(self, request: web.Request) -> web.StreamResponse:
        self.calls.append("msget")
        if (bad := self._token_error(request, request.query.get("access_token"))) is not None:
            return bad
        fid = request.query.get("fid", "")
        if fid not in self.files:
            return error(request, 400, 10017, f"parameter (fid)'s value invalid, but get ({fid})")
        mime, data = self.files[fid]
        return web.Response(body=data, content_type=mime)


# ---------------------------------------------------------------- Weibo's side of the webhook


def created_at(at: float | None = None) -> str:
    """Weibo's date format, in Beijing time as Weibo writes it."""
    return datetime.fromtimestamp(time.time() if at is None else at, CST).strftime("%a %b %d %H:%M:%S %z %Y")


def push_body(kind: str, sender_id: int, text: str = "", data: dict[str, Any] | None = None, *,
              receiver_id: int = 5811000001, at: float | None = None) -> bytes:
    body = {"type": kind, "receiver_id": receiver_id, "sender_id": sender_id, "created_at": created_at(at),
            "text": text, "data": data or {}}
    return json.dumps(body, ensure_ascii=False).encode()


@dataclass
class WeiboPusher:
    """Signs requests the way Weibo's servers do (timestamp in milliseconds, as in the docs)."""

    app_secret: str

    def params(self, timestamp: int | None = None) -> dict[str, str]:
        ts = str(int(time.time() * 1000) if timestamp is None else timestamp)
        nonce = str(secrets.randbelow(10**8))
        signature = hashlib.sha1("".join(sorted((self.app_secret, ts, nonce))).encode()).hexdigest()
        return {"signature": signature, "timestamp": ts, "nonce": nonce}

    def verification(self, echostr: str = "dnPdpTZz85") -> dict[str, str]:
        return {**self.params(), "echostr": echostr}
