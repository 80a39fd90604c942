"""Who is asking: API bearer tokens, web session cookies, CSRF, argon2 passwords.

Tokens and session ids are stored only as sha256 hashes: a copy of the store
does not let anyone in.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import secrets
import time
import weakref
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Literal, TypeVar

from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from tpbridge.bridge.model import Agent
from tpbridge.bridge.store.protocol import ApiToken, SignedIn, Store
from tpbridge.bridge.web.errors import error_response
from tpbridge.bridge.web.keys import AGENT, CORE, CREDENTIAL, CSRF, VIA_SESSION, VIEWER

T = TypeVar("T")
SESSION_COOKIE = "tpb_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
SELF_AUTHENTICATED = ("/chat/", "/hooks/")

_hasher = PasswordHasher()
# A hash to verify against when the email is unknown, so timing does not tell which emails exist. Written
# out rather than hashed at import (~100 ms of CPU in every `tpbridge` command and daemon start); its
# parameters are PasswordHasher()'s defaults, so checking it costs what checking a real hash costs.
_DUMMY = "$argon2id$v=19$m=65536,t=3,p=4$gm39fBeCrWtF0VOcuoynSA$xm4MTb1s9sL3G4BURofdRHW092izslUj3KsVlyciWow"


TOKEN_USE_RESOLUTION = 60.0  # seconds: "last used" is kept to the minute, not written on every request


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


# argon2 costs ~100 ms of CPU: it runs in threads of its own (argon2-cffi releases the GIL), at most one
# per core but one core left to the event loop, and only that many checks run at once, so a burst of
# logins neither stalls the loop (health, channels, the watchdog) nor queues unbounded work.
_ARGON2_THREADS = max(1, min(2, (os.cpu_count() or 1) - 1))
_argon2_pool = ThreadPoolExecutor(_ARGON2_THREADS, thread_name_prefix="argon2")
_argon2_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


async def _off_loop(fn: Callable[[], T]) -> T:
    loop = asyncio.get_running_loop()
    slots = _argon2_slots.get(loop)
    if slots is None:
        slots = _argon2_slots[loop] = asyncio.Semaphore(_ARGON2_THREADS)
    async with slots:
        return await loop.run_in_executor(_argon2_pool, fn)


async def hash_password_async(password: str) -> str:
    """hash_password off the event loop (for request handlers)."""
    return await _off_loop(lambda: hash_password(password))


async def verify_password_async(password_hash: str | None, password: str) -> bool:
    return await _off_loop(lambda: verify_password(password_hash, password))


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token() -> str:
    return "tpb_" + secrets.token_urlsafe(32)


async def check_login(request: web.Request, email: str, password: str) -> Agent | None:
    found = await request.app[CORE].store.agent_by_email(email.strip())
    if found is None:
        await verify_password_async(None, password)
        return None
    agent, pw_hash = found
    if not await verify_password_async(pw_hash, password) or agent.disabled:
        return None
    return agent


async def start_session(request: web.Request, response: web.StreamResponse, agent: Agent) -> str:
    """Create a session for `agent`, set its cookie on `response`; returns the CSRF token."""
    core = request.app[CORE]
    sid = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    ttl = core.config.http.session_days * 86400
    await core.store.add_session(digest(sid), agent.id, csrf, ttl)
    response.set_cookie(
        SESSION_COOKIE, sid, max_age=ttl, httponly=True, samesite="Lax", path="/",
        secure=core.config.http.public_url.startswith("https://"),
    )
    return csrf


async def end_session(request: web.Request, response: web.StreamResponse) -> None:
    sid = request.cookies.get(SESSION_COOKIE)
    if sid:
        await request.app[CORE].store.drop_session(digest(sid))
    response.del_cookie(SESSION_COOKIE, path="/")


async def _resolve(request: web.Request) -> None:
    """The agent and their viewer, in one read of the store (every request to the API asks)."""
    store = request.app[CORE].store
    header = request.headers.get("Authorization", "")
    signed: SignedIn | None = None
    if header.lower().startswith("bearer "):
        token_hash = digest(header[7:].strip())
        signed = await signed_in(store, "token", token_hash)
        request[VIA_SESSION] = False
        request[CREDENTIAL] = ("token", token_hash)
    elif (sid := request.cookies.get(SESSION_COOKIE)) is not None:
        session_hash = digest(sid)
        signed = await signed_in(store, "session", session_hash)
        if signed is not None:
            request[CSRF] = signed.csrf or ""  # a session always has one
            request[VIA_SESSION] = True
            request[CREDENTIAL] = ("session", session_hash)
    if signed is not None:
        request[AGENT] = signed.agent
        request[VIEWER] = signed.viewer


async def record_use(store: Store, token: ApiToken) -> None:
    if token.last_used_at is None or time.time() - token.last_used_at > TOKEN_USE_RESOLUTION:
        await store.touch_token(token.id)


async def signed_in(store: Store, kind: Literal["token", "session"], secret_hash: str) -> SignedIn | None:
    """The agent and viewer a token or session (by hash) stands for, while it is valid, in one read; a token's
    use is recorded. Every request asks, and an event stream again every few seconds."""
    signed = await store.sign_in(kind, secret_hash)
    if signed is not None and signed.token is not None:
        await record_use(store, signed.token)
    return signed


def csrf_ok(request: web.Request, form_token: str | None = None) -> bool:
    expected = request.get(CSRF)
    given = request.headers.get(CSRF_HEADER) or form_token
    return bool(expected and given and hmac.compare_digest(expected, given))


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Resolve the agent for every request; guard /api/v1 (401) and cookie-authenticated writes (CSRF).

    The web chat and channel webhooks authenticate themselves (visitor tokens, signatures):
    looking their callers up as agents would cost a store read on the hottest path.
    """
    if request.path.startswith(SELF_AUTHENTICATED):
        return await handler(request)
    await _resolve(request)
    if request.path.startswith("/api/v1/") and request.path != "/api/v1/openapi.json":
        if AGENT not in request:
            return error_response(401, "unauthorized", "a valid API token or session is required",
                                  **{"WWW-Authenticate": "Bearer"})
        if request.method in UNSAFE and request.get(VIA_SESSION) and not csrf_ok(request):
            return error_response(403, "csrf", f"missing or wrong {CSRF_HEADER} header")
    return await handler(request)
