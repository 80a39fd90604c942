"""Signing in and out: argon2 check, session cookie, CSRF on the forms, backoff after failures."""

from __future__ import annotations

import hmac
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from aiohttp import web
from tpbridge.adapters.base import MAX_EMAIL
from tpbridge.bridge.web import auth, i18n
from tpbridge.bridge.web.keys import AGENT, CORE
from tpbridge.bridge.web.views.render import render, safe_next, secure, signed_in

log = structlog.get_logger(__name__)

LOGIN_CSRF_COOKIE = "tpb_login_csrf"
FREE_FAILURES = 5  # failures allowed per account before the backoff starts
ADDRESS_FREE_FAILURES = 20  # per client address (several agents may share an office's address)
MAX_DELAY = 900.0  # seconds
_FORGET_AFTER = 3600.0


@dataclass(slots=True)
class _Record:
    failures: int
    last: float


class Throttle:
    """Failed logins per account (email) and per client address, in memory (per daemon).

    An attempt counts as a failure from the moment it is let through (`attempt`), before the
    password is checked: concurrent guesses cannot all pass a limit that is only recorded after
    the slow check. After the free failures a key is locked for 2, 4, 8 ... seconds (capped)
    after each further failure; a success clears the account's record and gives the address
    its attempt back.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._records: dict[str, _Record] = {}

    def _now(self) -> float:
        return self._clock()

    @staticmethod
    def _free(key: str) -> int:
        return ADDRESS_FREE_FAILURES if key.startswith("ip:") else FREE_FAILURES

    def wait(self, *keys: str) -> float:
        """Seconds until these keys may try again (0: now)."""
        now = self._now()
        longest = 0.0
        for key in keys:
            rec = self._records.get(key)
            free = self._free(key)
            if rec is None or rec.failures < free or now - rec.last > _FORGET_AFTER:
                continue
            delay = min(2.0 ** (rec.failures - free + 1), MAX_DELAY)
            longest = max(longest, rec.last + delay - now)
        return max(longest, 0.0)

    def attempt(self, *keys: str) -> float:
        """Let one attempt through (counted as a failure until it succeeds) and return 0, or
        return the seconds to wait. No await between the check and the count: atomic on the loop."""
        wait = self.wait(*keys)
        if wait <= 0:
            self.failed(*keys)
        return wait

    def failed(self, *keys: str) -> None:
        now = self._now()
        if len(self._records) > 10_000:
            self._records = {k: r for k, r in self._records.items() if now - r.last < _FORGET_AFTER}
        for key in keys:
            rec = self._records.get(key)
            if rec is None or now - rec.last > _FORGET_AFTER:
                rec = self._records[key] = _Record(0, now)
            rec.failures += 1
            rec.last = now

    def succeeded(self, key: str, *refund: str) -> None:
        """The account's record is cleared; each `refund` key gets the attempt counted for it back."""
        self._records.pop(key, None)
        for other in refund:
            rec = self._records.get(other)
            if rec is not None:
                rec.failures = max(rec.failures - 1, 0)


THROTTLE: web.AppKey[Throttle] = web.AppKey("tpb.login_throttle", Throttle)
SECURE_COOKIES: web.AppKey[bool] = web.AppKey("tpb.secure_cookies", bool)


def _keys(request: web.Request, email: str) -> tuple[str, str]:
    return f"email:{email.strip().lower()}", f"ip:{request.remote or '?'}"


def _form(request: web.Request, *, error: str | None = None, email: str = "", status: int = 200,
          retry_after: float | None = None, next_: str | None = None) -> web.Response:
    token = secrets.token_urlsafe(24)
    target = safe_next(next_ or request.query.get("next"))
    resp = render(request, "login.html", {"error": error, "email": email, "login_csrf": token, "next": target},
                  status=status)
    resp.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="Strict", path="/login",
                    secure=request.app[SECURE_COOKIES])
    if retry_after is not None:
        resp.headers["Retry-After"] = str(math.ceil(retry_after))
    return resp


async def login_page(request: web.Request) -> web.StreamResponse:
    if signed_in(request):
        raise web.HTTPFound(safe_next(request.query.get("next")))
    return _form(request)


async def login_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    email = str(form.get("email", "")).replace("\x00", "\ufffd")[:MAX_EMAIL]  # PostgreSQL's text holds no U+0000
    password = str(form.get("password", ""))[:1024]
    t = i18n.strings(i18n.language(request, None))
    next_ = str(form.get("next", "")) or None
    # Login CSRF: a page elsewhere must not sign the browser in to an account of the attacker's.
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    given = str(form.get(auth.CSRF_FIELD, ""))
    if not cookie or not hmac.compare_digest(cookie, given):
        return _form(request, error=t["csrf_failed"], email=email, status=403, next_=next_)
    throttle = request.app[THROTTLE]
    keys = _keys(request, email)
    wait = throttle.attempt(*keys)
    if wait > 0:
        log.warning("login.throttled", wait=round(wait, 1))
        return _form(request, error=t["login_throttled"].format(seconds=math.ceil(wait)), email=email,
                     status=429, retry_after=wait, next_=next_)
    agent = await auth.check_login(request, email, password)
    if agent is None:
        log.info("login.failed")
        await request.app[CORE].audit.record("login_failed", agent=email.strip().lower()[:MAX_EMAIL] or None,
                                             address=request.remote)
        return _form(request, error=t["login_failed"], email=email, status=401, next_=next_)
    throttle.succeeded(keys[0], keys[1])
    response = web.HTTPSeeOther(safe_next(next_))
    await auth.start_session(request, response, agent)
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/login")
    log.info("login.succeeded", agent_id=agent.id)
    await request.app[CORE].audit.record("login", agent_id=agent.id, agent=agent.email, address=request.remote)
    secure(response)
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    if request.method == "GET":
        raise web.HTTPFound("/")
    form = await request.post()
    if AGENT in request and not auth.csrf_ok(request, str(form.get(auth.CSRF_FIELD, "")) or None):
        return web.Response(status=403, text="missing or wrong CSRF token")
    response = web.HTTPSeeOther("/login")
    if (agent := request.get(AGENT)) is not None:
        await request.app[CORE].audit.record("logout", agent_id=agent.id, agent=agent.email,
                                             address=request.remote)
    await auth.end_session(request, response)
    raise response


def setup(app: web.Application) -> None:
    app[THROTTLE] = Throttle()
    app[SECURE_COOKIES] = app[CORE].config.http.public_url.startswith("https://")
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login_submit)
    app.router.add_get("/logout", logout)
    app.router.add_post("/logout", logout)
