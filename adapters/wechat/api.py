"""The few WeChat API calls we make, with aiohttp, and what their errcodes mean.

WeChat answers errors as HTTP 200 with `{"errcode": ..., "errmsg": ...}`. Every
token fetch invalidates the previous token, so one token per app is cached in
the store (shared by every daemon instance) and fetched by one caller at a time.
"""

from __future__ import annotations

import json
import re
from typing import Any

import aiohttp
import structlog
from tpbridge.adapters.base import BadCredentials, Rejected, Retry, Sink
from tpbridge.adapters.capped_read import read_capped
from tpbridge.adapters.media_fetch import Media
from tpbridge.adapters.stored_token import StoredToken

log = structlog.get_logger(__name__)

TOKEN_ERRORS = {40001, 40014, 42001}  # invalid / not latest, malformed, expired access_token
CREDENTIAL_ERRORS = {40002, 40013, 40125, 40164, 40243, 41002, 41004, 48001, 89503}
TRANSIENT_ERRORS = {-1, 45009, 45011, 45033}  # system busy, frequency / quota limits
UNREACHABLE_ERRORS = {40003, 43004, 43019}  # bad openid, not subscribed, blocked


class WechatError(Exception):
    """A non-zero errcode."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"{errmsg} (errcode {errcode})")
        self.errcode = errcode
        self.errmsg = errmsg


def _errmsg(body: dict[str, Any]) -> str:
    """WeChat's message without the per-request `rid`/`hint` suffix (kept stable for agents)."""
    return re.sub(r"\s*(rid|hint): .*$", "", str(body.get("errmsg", ""))).strip() or "error"


def classify(exc: WechatError) -> Exception:
    """Map an errcode from a send call to the contract's error."""
    if exc.errcode in CREDENTIAL_ERRORS:
        return BadCredentials(str(exc))
    if exc.errcode in TRANSIENT_ERRORS:
        if exc.errcode == 45009:  # the account's API quota: every instance waits
            return Retry(str(exc), after=60.0, throttle="")
        return Retry(str(exc), after=2.0)
    if exc.errcode in TOKEN_ERRORS:
        return Retry(f"access_token still rejected after a refresh: {exc}")
    # 45015 (48-hour window closed), 45047 (reply quota used), and anything else we
    # cannot fix by trying again: shown on the message with WeChat's own words.
    return Rejected(str(exc), unreachable=exc.errcode in UNREACHABLE_ERRORS)


class WechatApi(StoredToken):
    """Token cache plus the calls: message/custom/send, media/upload, media/get."""

    def __init__(
        self, *, base_url: str, app_id: str, app_secret: str, sink: Sink,
        timeout: float, refresh_margin: float,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.app_id = app_id
        self._secret = app_secret
        super().__init__(timeout, sink=sink, key=f"wechat.access_token:{app_id}")
        self._margin = refresh_margin
        self.log = log.bind(inbox=sink.inbox)

    # ------------------------------------------------------------ access token

    async def _fetch_token(self) -> str:
        params = {"grant_type": "client_credential", "appid": self.app_id, "secret": self._secret}
        body = await self._json("GET", "/cgi-bin/token", params=params)
        errcode = int(body.get("errcode") or 0)
        if errcode in TRANSIENT_ERRORS:
            raise Retry(f"token fetch: {_errmsg(body)} (errcode {errcode})", after=2.0)
        if errcode or not body.get("access_token"):
            # 40013 invalid appid, 40125 invalid appsecret, 40164 IP not whitelisted, ...
            self.log.warning("wechat.token_refused", errcode=errcode, errmsg=_errmsg(body))
            raise BadCredentials(f"WeChat refused the app credentials: {_errmsg(body)} (errcode {errcode})")
        token = str(body["access_token"])
        expires_in = float(body.get("expires_in") or 7200)
        ttl = max(expires_in - self._margin, expires_in / 2)
        await self._sink.kv_set(self._key, token, ttl=ttl)
        self.log.info("wechat.token_fetched", expires_in=expires_in)
        return token

    def _token_rejected(self, exc: Exception) -> bool:
        if not isinstance(exc, WechatError) or exc.errcode not in TOKEN_ERRORS:
            return False
        self.log.info("wechat.token_rejected", errcode=exc.errcode)
        return True

    # ------------------------------------------------------------ calls

    async def send_message(self, payload: dict[str, Any]) -> None:
        """message/custom/send (JSON in UTF-8: WeChat shows \\u escapes literally in places)."""
        data = json.dumps(payload, ensure_ascii=False).encode()

        async def call(token: str) -> None:
            self._check(await self._json("POST", "/cgi-bin/message/custom/send",
                                         params={"access_token": token}, data=data))

        await self.with_token(call)

    async def upload(self, kind: str, filename: str, mime: str, data: bytes) -> str:
        """media/upload (temporary media, three days): the media_id to send."""

        async def call(token: str) -> str:
            form = aiohttp.FormData()
            form.add_field("media", data, filename=filename, content_type=mime)
            body = await self._json("POST", "/cgi-bin/media/upload",
                                    params={"access_token": token, "type": kind}, data=form)
            self._check(body)
            if not body.get("media_id"):
                raise Retry("media/upload answered without a media_id")
            return str(body["media_id"])

        return await self.with_token(call)

    async def download(self, media_id: str, *, max_bytes: int) -> Media:
        """media/get: the bytes a user sent (videos answer with a `video_url` to follow)."""

        async def call(token: str) -> Media:
            url = f"{self.base_url}/cgi-bin/media/get"
            params = {"access_token": token, "media_id": media_id}
            media = await self._bytes(url, params, max_bytes)
            if media.mime.split(";")[0].strip() in ("application/json", "text/plain"):
                body = self._parse(media.data)
                self._check(body)
                if body.get("video_url"):
                    return await self._bytes(str(body["video_url"]), None, max_bytes)
                raise WechatError(-2, "media/get answered JSON without media")
            return media

        return await self.with_token(call)

    # ------------------------------------------------------------ plumbing

    @staticmethod
    def _check(body: dict[str, Any]) -> None:
        errcode = int(body.get("errcode") or 0)
        if errcode:
            raise WechatError(errcode, _errmsg(body))

    @staticmethod
    def _parse(raw: bytes) -> dict[str, Any]:
        try:
            body = json.loads(raw)
        except ValueError:
            raise Retry("WeChat answered something that is not JSON") from None
        if not isinstance(body, dict):
            raise Retry("WeChat answered JSON that is not an object")
        return body

    async def _json(
        self, method: str, path: str, *, params: dict[str, str], data: Any = None
    ) -> dict[str, Any]:
        """One call; network trouble and 5xx become Retry (never logging the URL: it holds secrets)."""
        try:
            async with self.session.request(method, self.base_url + path, params=params, data=data) as resp:
                raw = await resp.read()
                if resp.status >= 500 or resp.status == 429:
                    after = _retry_after(resp)  # a Retry-After holds back every instance's sends, not only this one
                    raise Retry(f"WeChat API answered HTTP {resp.status}", after=after,
                                throttle="" if after is not None else None)
                if resp.status >= 400:
                    raise Retry(f"WeChat API answered HTTP {resp.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Retry(f"WeChat API unreachable: {type(exc).__name__}") from None
        return self._parse(raw)

    async def _bytes(self, url: str, params: dict[str, str] | None, max_bytes: int) -> Media:
        try:
            async with self.session.get(url, params=params) as resp:
                if resp.status >= 400:
                    raise Retry(f"media download answered HTTP {resp.status}")
                if (data := await read_capped(resp, max_bytes)) is None:
                    raise Rejected(f"media larger than {max_bytes} bytes")
                mime = resp.headers.get("Content-Type", "application/octet-stream")
                filename = _filename(resp.headers.get("Content-Disposition", ""))
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Retry(f"media download failed: {type(exc).__name__}") from None
        return Media(data, mime, filename)


def _retry_after(resp: aiohttp.ClientResponse) -> float | None:
    try:
        return float(resp.headers["Retry-After"])
    except (KeyError, ValueError):
        return None


def _filename(disposition: str) -> str | None:
    match = re.search(r'filename="?([^";]+)"?', disposition)
    return match.group(1) if match else None
