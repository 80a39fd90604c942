"""The Weibo calls we make, with aiohttp, and what their error codes mean.

Weibo answers errors as a 4xx/5xx with `{"error", "error_code", "request"}`; the
first digit of the code says system (1xxxx) or service (2xxxx) error. The fan
service token is long-lived and set by the operator, so there is nothing to
refresh: a token error makes the inbox unhealthy until the config changes.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from tpbridge.adapters.api_session import ApiSession, json_object
from tpbridge.adapters.base import BadCredentials, Rejected, Retry
from tpbridge.adapters.capped_read import read_capped
from tpbridge.adapters.media_fetch import Media

HOSTS = {
    "m": "https://m.api.weibo.com",
    "api": "https://api.weibo.com",
    "upload": "https://upload.api.weibo.com",
}
# expired / revoked / invalid token, auth failed, app not authorised by the account
CREDENTIAL_ERRORS = {21301, 21314, 21315, 21316, 21317, 21319, 21327, 21332, 10006, 10014}
BUSY_ERRORS = {10001, 10002, 10003, 10009, 10010, 10011}  # system error, busy, job expired, RPC
RATE_ERRORS = {10004, 10022, 10023, 10024}  # IP / user / per-API request limits (hourly)


class WeiboError(Exception):
    """An error body from Weibo."""

    def __init__(self, status: int, error_code: int, error: str) -> None:
        super().__init__(f"{error} (error_code {error_code})" if error_code else error)
        self.status = status
        self.error_code = error_code
        self.error = error


def classify(exc: WeiboError, *, rate_limit_delay: float = 60.0) -> Exception:
    """Map an error from a reply call to the contract's error (Weibo's own words kept)."""
    if exc.error_code in CREDENTIAL_ERRORS or exc.status == 401:
        return BadCredentials(f"Weibo refused the access token: {exc}")
    if exc.error_code in RATE_ERRORS or exc.status == 429:
        return Retry(f"Weibo rate limit: {exc}", after=rate_limit_delay, throttle="")
    if exc.error_code in BUSY_ERRORS or exc.status >= 500:
        return Retry(f"Weibo busy: {exc}", after=5.0)
    # Window closed, user unfollowed, content refused, ...: shown on the message.
    return Rejected(f"Weibo refused the reply: {exc}")


class WeiboApi(ApiSession):
    def __init__(self, *, base_url: str | None, access_token: str, timeout: float) -> None:
        self._base = base_url.rstrip("/") if base_url else None
        self._token = access_token
        super().__init__(timeout)

    def url(self, host: str, path: str) -> str:
        return (self._base or HOSTS[host]) + path

    # ------------------------------------------------------------ calls

    async def token_info(self) -> dict[str, Any]:
        """oauth2/get_token_info: the token's uid and remaining life (`expire_in` seconds)."""
        return await self._json("POST", self.url("api", "/oauth2/get_token_info"),
                                data={"access_token": self._token})

    async def reply(
        self, receiver_id: str, kind: str, data: dict[str, Any], *, save_sender_box: bool
    ) -> dict[str, Any]:
        """messages/reply.json: `data` travels as URL-encoded JSON inside the form, as documented."""
        form = {
            "access_token": self._token, "type": kind, "receiver_id": receiver_id,
            "data": json.dumps(data, ensure_ascii=False), "save_sender_box": "1" if save_sender_box else "0",
        }
        return await self._json("POST", self.url("m", "/2/messages/reply.json"), data=form)

    async def user(self, uid: str) -> dict[str, Any]:
        """users/show.json: the profile (screen_name) of a uid."""
        return await self._json("GET", self.url("api", "/2/users/show.json"),
                                params={"access_token": self._token, "uid": uid})

    async def download(self, fid: str, *, max_bytes: int) -> Media:
        """mss/msget: the bytes of an image a user sent (by its `tovfid`, the receiver's id)."""
        params = {"access_token": self._token, "fid": fid}
        try:
            async with self.session.get(self.url("upload", "/2/mss/msget"), params=params) as resp:
                if resp.status >= 400:
                    raise _error(resp.status, await resp.read())
                if (data := await read_capped(resp, max_bytes)) is None:
                    raise Rejected(f"image larger than {max_bytes} bytes")
                mime = resp.headers.get("Content-Type", "application/octet-stream").split(";")[0].strip()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Retry(f"Weibo unreachable: {type(exc).__name__}") from None
        if mime in ("application/json", "text/plain", "text/html"):
            raise _error(200, data)  # an error body with a 200 status
        return Media(data, mime)

    # ------------------------------------------------------------ plumbing

    async def _json(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        """One call; network trouble becomes Retry. URLs are never logged: they hold the token."""
        try:
            async with self.session.request(method, url, **kwargs) as resp:
                raw = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Retry(f"Weibo unreachable: {type(exc).__name__}") from None
        body = json_object(raw)
        if status >= 400 or body.get("error_code"):
            raise _error(status, raw)
        return body


def _error(status: int, raw: bytes) -> WeiboError:
    body = json_object(raw)
    try:
        code = int(body.get("error_code") or 0)
    except (TypeError, ValueError):
        code = 0
    text = str(body.get("error") or f"HTTP {status}")
    return WeiboError(status, code, text)
