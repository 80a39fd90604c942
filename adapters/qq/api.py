"""The QQ bot OpenAPI calls we make, with aiohttp, and what their errors mean.

Errors come as an HTTP status plus `{"message", "code", "err_code", "trace_id"}`.
The access token (bots.qq.com/app/getAppAccessToken, `expires_in` a *string* of
seconds) is cached in the store, shared by every daemon instance; QQ hands out a
new one only in the last 60 s of the old one's life, and both work meanwhile.
"""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
import structlog
from tpbridge.adapters.api_session import json_object
from tpbridge.adapters.base import BadCredentials, Rejected, Retry, Sink
from tpbridge.adapters.media_fetch import Media, MediaHosts, MediaRefused, fetch
from tpbridge.adapters.stored_token import StoredToken

log = structlog.get_logger(__name__)

TOKEN_ERRORS = {11241, 11242, 11243, 11244}  # token missing / check failed / not passed / expired
CREDENTIAL_ERRORS = {11251, 11261, 11275, 11265, 11254}  # wrong appid, bot banned, interface banned
TRANSIENT_ERRORS = {11252, 11263, 11281, 304082, 304083, 20028}  # "retry once", media fetch, channel rate
DUPLICATE = 40054005  # the same msg_id + msg_seq was already sent: delivered before
ASYNC_OK = {304023, 304024}  # accepted, held for QQ's manual review (a 202 with an error body)


class QQError(Exception):
    def __init__(self, status: int, code: int, message: str, trace_id: str = "") -> None:
        super().__init__(f"{message} (code {code})" if code else message)
        self.status = status
        self.code = code
        self.message = message
        self.trace_id = trace_id


def classify(exc: QQError, retry_after: float | None = None) -> Exception:
    """Map an error from a send call to the contract's error (QQ's own words kept)."""
    if exc.code in CREDENTIAL_ERRORS:
        return BadCredentials(f"QQ refused the bot: {exc}")
    if exc.status == 401 or exc.code in TOKEN_ERRORS:
        return Retry(f"access token still refused after a refresh: {exc}")
    if exc.status == 429:
        return Retry(f"QQ rate limit: {exc}", after=retry_after or 2.0, throttle="")
    if exc.status >= 500 or exc.code in TRANSIENT_ERRORS:
        return Retry(f"QQ busy: {exc}", after=2.0)
    # 304027 reply window over, 22009 reply/active quota used, 304026 unknown msg_id, 50056
    # markdown not allowed, ...: shown on the message.
    return Rejected(f"QQ refused the message: {exc}")


# Where QQ serves what users send (multimedia.nt.qq.com.cn, gchat.qpic.cn, ...).
MEDIA_HOSTS = ("*.qq.com", "*.qq.com.cn", "*.qpic.cn")


class QQApi(StoredToken):
    def __init__(self, *, base_url: str, token_url: str, app_id: str, app_secret: str, sink: Sink,
                 timeout: float, refresh_margin: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.token_url = token_url
        self.app_id = app_id
        self._secret = app_secret
        super().__init__(timeout, sink=sink, key=f"qq.access_token:{app_id}")
        self._margin = refresh_margin
        self.log = log.bind(inbox=sink.inbox)
        self.last_retry_after: float | None = None

    # ------------------------------------------------------------ access token

    async def _fetch_token(self) -> str:
        try:
            credentials = {"appId": self.app_id, "clientSecret": self._secret}
            async with self.session.post(self.token_url, json=credentials) as resp:
                status, raw = resp.status, await resp.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Retry(f"QQ token service unreachable: {type(exc).__name__}") from None
        if status >= 500 or status == 429:
            raise Retry(f"QQ token service answered HTTP {status}", after=2.0)
        body = json_object(raw)
        token = body.get("access_token")
        if not token:
            message = str(body.get("message") or f"HTTP {status}")
            self.log.warning("qq.token_refused", code=body.get("code"), message=message)
            raise BadCredentials(f"QQ refused the AppID/AppSecret: {message} (code {body.get('code')})")
        try:
            expires_in = float(body.get("expires_in") or 7200)  # documented as "7200", a string
        except (TypeError, ValueError):
            expires_in = 7200.0
        ttl = max(expires_in - self._margin, min(expires_in, 30.0))
        await self._sink.kv_set(self._key, str(token), ttl=ttl)
        self.log.info("qq.token_fetched", expires_in=expires_in)
        return str(token)

    def _token_rejected(self, exc: Exception) -> bool:
        if not isinstance(exc, QQError) or (exc.status != 401 and exc.code not in TOKEN_ERRORS):
            return False
        self.log.info("qq.token_rejected", code=exc.code)
        return True

    # ------------------------------------------------------------ calls

    async def post_message(self, target: str, payload: dict[str, Any]) -> dict[str, Any]:
        """/v2/users/{openid}/messages or /v2/groups/{group_openid}/messages (`target` is that path)."""
        return await self.with_token(lambda token: self._json("POST", f"{target}/messages", token, payload))

    async def upload(self, target: str, file_type: int, data: bytes) -> str:
        """Rich media upload without sending (srv_send_msg false): the file_info for msg_type 7."""
        payload = {"file_type": file_type, "file_data": base64.b64encode(data).decode(), "srv_send_msg": False}
        body = await self.with_token(lambda token: self._json("POST", f"{target}/files", token, payload))
        if not body.get("file_info"):
            raise Retry("QQ answered the upload without a file_info")
        return str(body["file_info"])

    async def download(self, url: str, *, max_bytes: int) -> Media:
        """An attachment a user sent (QQ's URLs sometimes come without a scheme): only from QQ's media
        hosts over https (or the API's own origin), no redirect off them, counted as it arrives."""
        if "://" not in url:
            url = "https://" + url.lstrip("/")
        try:
            data, mime = await fetch(self.session, url, hosts=MediaHosts.of(MEDIA_HOSTS, self.base_url),
                                     max_bytes=max_bytes)
        except MediaRefused as exc:
            raise Rejected(f"attachment {exc}") from None
        except ValueError as exc:  # an HTTP error status
            raise Retry(f"attachment download answered {exc}") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Retry(f"attachment download failed: {type(exc).__name__}") from None
        return Media(data, mime)

    async def _json(self, method: str, path: str, token: str, payload: dict[str, Any]) -> dict[str, Any]:
        headers = {"Authorization": f"QQBot {token}", "X-Union-Appid": self.app_id}
        try:
            async with self.session.request(method, self.base_url + path, json=payload, headers=headers) as resp:
                status, raw = resp.status, await resp.read()
                self.last_retry_after = _retry_after(resp.headers.get("Retry-After"))
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Retry(f"QQ API unreachable: {type(exc).__name__}") from None
        body = json_object(raw)
        if body.get("code") in ASYNC_OK or body.get("err_code") in ASYNC_OK:
            return {**body, "pending_review": True}
        if status >= 300 or body.get("code"):
            try:
                code = int(body.get("code") or body.get("err_code") or 0)
            except (TypeError, ValueError):
                code = 0
            message = str(body.get("message") or f"HTTP {status}")
            raise QQError(status, code, message, str(body.get("trace_id") or ""))
        return body


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
