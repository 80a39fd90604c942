"""A faithful fake of the Telegram Bot API (core.telegram.org/bots/api) on 127.0.0.1.

It speaks the real envelopes — `{"ok": true, "result": ...}` and
`{"ok": false, "error_code", "description", "parameters"}` — accepts JSON, form and
multipart bodies (PTB sends form/multipart), and keeps the documented semantics:
getUpdates confirms everything below `offset` and long-polls for `timeout` seconds;
a second poller terminates the first with 409; getUpdates answers 409 while a
webhook is set; a set webhook receives updates one at a time with the secret header
and gets them again until it answers 2xx; files are served under /file/bot<token>/.

    async with FakeTelegram() as fake:
        fake.push_update({"message": {...}})
        fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 2", retry_after=2)
        ... fake.sent ...
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes.server import serve, stop_serving, wait_until

DEFAULT_TOKEN = "123456:TEST-fake-bot-token"
BOT_USER = {"id": 123456, "is_bot": True, "first_name": "Support", "username": "tp_support_bot"}
_OBJECT_PARAMS = {"reply_parameters", "allowed_updates", "reply_markup", "entities", "caption_entities",
                  "link_preview_options"}


@dataclass
class Call:
    """One request the fake received."""

    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str | None, str, bytes]]  # field -> (filename, content type, bytes)
    content_type: str
    at: float = field(default_factory=time.monotonic)


@dataclass
class Failure:
    status: int
    description: str
    retry_after: float | None = None
    skip: int = 0  # calls that still succeed before this failure
    when: Callable[[Call], bool] | None = None  # only calls that match fail (e.g. one text)


class FakeTelegram:
    """The fake server; state is plain attributes so tests can look at everything."""

    def __init__(self, token: str = DEFAULT_TOKEN, *, webhook_retry_delay: float = 0.1) -> None:
        self.token = token
        self.revoked = False
        self.url = ""
        self.calls: list[Call] = []
        self.handling: dict[str, int] = defaultdict(int)  # requests of each method being answered now
        self.sent: list[dict[str, Any]] = []  # every message the bot sent (the Message objects)
        self.pending: list[dict[str, Any]] = []  # updates not yet confirmed
        self.confirmed_offset = 0
        self.webhook: dict[str, Any] | None = None  # {"url", "secret_token", "allowed_updates"}
        self.webhook_deliveries: list[tuple[int, int]] = []  # (update_id, HTTP status or 0)
        self.webhook_error: tuple[int, str] | None = None  # getWebhookInfo's last_error_date/_message
        self.files: dict[str, tuple[str, bytes]] = {}  # file_id -> (file_path, bytes)
        self.known_chats: set[int] = set()
        self.blocked_chats: set[int] = set()
        # Called with the offset of each getUpdates before it is applied; return True to drop
        # the request unanswered and unapplied (as if the poller died before it reached us).
        self.on_get_updates: Callable[[int | None], Awaitable[bool]] | None = None
        self._failures: dict[str, list[Failure]] = defaultdict(list)
        self._ids = itertools.count(1)
        self._next_update_id = 700000001
        self._message_ids: dict[int, itertools.count[int]] = defaultdict(lambda: itertools.count(1000))
        self._changed = asyncio.Condition()
        self._poller = 0
        self._webhook_retry_delay = webhook_retry_delay
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._deliverer: asyncio.Task[None] | None = None
        self._redeliver: deque[dict[str, Any]] = deque()
        self._wakers: set[asyncio.Task[None]] = set()
        self._closing = False

    # ------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> FakeTelegram:
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        self._runner, self.url = await serve(app, handle_signals=False)
        self._session = aiohttp.ClientSession()
        self._deliverer = asyncio.create_task(self._deliver_webhooks())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closing = True  # answer waiting long polls now, so the server stops at once
        async with self._changed:
            self._changed.notify_all()
        if self._deliverer is not None:
            self._deliverer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._deliverer
        if self._session is not None:
            await self._session.close()
        await stop_serving(self._runner)

    # ------------------------------------------------------------ test controls

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an update (an `update_id` is assigned unless given); returns it."""
        update = dict(update)
        if "update_id" not in update:
            update["update_id"] = self._next_update_id
        self._next_update_id = max(self._next_update_id, update["update_id"]) + 1
        for key in ("message", "edited_message", "my_chat_member", "channel_post"):
            chat = (update.get(key) or {}).get("chat")
            if chat:
                self.known_chats.add(chat["id"])
        self.pending.append(update)
        self._notify()
        return update

    def redeliver(self, updates: list[dict[str, Any]]) -> None:
        """Deliver these updates to the webhook again (Telegram does when it got no 2xx in time)."""
        self._redeliver.extend(updates)
        self._notify()

    def fail_next(self, method: str, status: int, description: str, *,
                  retry_after: float | None = None, times: int = 1, skip: int = 0,
                  when: Callable[[Call], bool] | None = None) -> None:
        """The next `times` calls of `method` (after `skip` that succeed; only those matching
        `when`) answer with this error envelope."""
        for i in range(times):
            self._failures[method].append(
                Failure(status, description, retry_after, skip if i == 0 else 0, when)
            )

    def _take_failure(self, call: Call) -> Failure | None:
        queue = self._failures.get(call.method)
        for failure in list(queue or ()):
            if failure.when is not None and not failure.when(call):
                continue
            if failure.skip > 0:
                failure.skip -= 1
                return None
            queue.remove(failure)  # type: ignore[union-attr]
            return failure
        return None

    def add_file(self, file_id: str, data: bytes, file_path: str | None = None) -> None:
        self.files[file_id] = (file_path or f"documents/file_{len(self.files)}.bin", data)

    def revoke_token(self) -> None:
        """Every call answers 401 Unauthorized from now on (the token was revoked in @BotFather)."""
        self.revoked = True

    def calls_of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait until `predicate()` holds, re-checked after every request the fake handles."""
        await wait_until(self._changed, predicate, timeout)

    def _notify(self) -> None:
        async def wake() -> None:
            async with self._changed:
                self._changed.notify_all()

        # Conditions need the lock; notify from a short task so sync callers can trigger it.
        task = asyncio.get_running_loop().create_task(wake())
        self._wakers.add(task)
        task.add_done_callback(self._wakers.discard)

    # ------------------------------------------------------------ HTTP

    async def _params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, Any], str]:
        params: dict[str, Any] = dict(request.query)
        files: dict[str, tuple[str | None, str, bytes]] = {}
        ctype = request.content_type
        if request.method == "POST" and request.can_read_body:
            if ctype == "application/json":
                body = await request.json()
                if not isinstance(body, dict):
                    raise _ApiFailure(400, "Bad Request: invalid JSON body")
                params.update(body)
            elif ctype == "multipart/form-data":
                reader = await request.multipart()
                async for part in reader:
                    if part.filename is not None:  # type: ignore[union-attr]
                        data = await part.read()  # type: ignore[union-attr]
                        files[part.name or ""] = (
                            part.filename,  # type: ignore[union-attr]
                            part.headers.get("Content-Type", "application/octet-stream"),
                            bytes(data),
                        )
                    else:
                        params[part.name or ""] = await part.text()  # type: ignore[union-attr]
            else:
                params.update(await request.post())
        for key in list(params):
            value = params[key]
            if key in _OBJECT_PARAMS and isinstance(value, str):
                try:
                    params[key] = json.loads(value)
                except ValueError:
                    raise _ApiFailure(400, f"Bad Request: can't parse {key} JSON object") from None
        return params, files, ctype

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.match_info["token"] != self.token or self.revoked:
            return _fail(401, "Unauthorized")
        self.handling[method] += 1
        try:
            params, files, ctype = await self._params(request)
            call = Call(method, params, files, ctype)
            self.calls.append(call)
            self._notify()  # a test may wait for a call that is still long-polling
            handler = getattr(self, f"_m_{method}", None)
            if handler is None:
                return _fail(404, "Not Found")
            failure = self._take_failure(call)
            if failure is not None:
                return _fail(failure.status, failure.description, failure.retry_after)
            result = await handler(call)
        except _ApiFailure as exc:
            return _fail(exc.status, exc.description)
        finally:
            self.handling[method] -= 1
            self._notify()
        if isinstance(result, web.StreamResponse):
            return result  # type: ignore[return-value]
        return web.json_response({"ok": True, "result": result})

    async def _file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token or self.revoked:
            return _fail(401, "Unauthorized")
        path = request.match_info["path"]
        for file_path, data in self.files.values():
            if file_path == path:
                return web.Response(body=data, content_type="application/octet-stream")
        return _fail(404, "Not Found")

    # ------------------------------------------------------------ methods

    async def _m_getMe(self, call: Call) -> Any:
        return {**BOT_USER, "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False}

    async def _m_getUpdates(self, call: Call) -> Any:
        if self.webhook is not None:
            raise _ApiFailure(409, "Conflict: can't use getUpdates method while webhook is active; "
                                   "use deleteWebhook to delete the webhook first")
        offset = _int(call.params.get("offset"))
        limit = min(max(_int(call.params.get("limit")) or 100, 1), 100)
        timeout = _int(call.params.get("timeout")) or 0
        allowed = call.params.get("allowed_updates")
        if self.on_get_updates is not None and await self.on_get_updates(offset):
            raise _Dropped
        if offset:
            if offset < 0:
                self.pending = self.pending[offset:]
            else:
                self.pending = [u for u in self.pending if u["update_id"] >= offset]
                self.confirmed_offset = max(self.confirmed_offset, offset)
            self._notify()  # tests wait on confirmations while this poll goes on waiting
        self._poller += 1
        me = self._poller
        deadline = time.monotonic() + timeout

        def ready() -> bool:
            return bool(self._matching(allowed)) or self._poller != me or self._closing

        async with self._changed:
            while not ready():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), left)
        if self._poller != me:
            raise _ApiFailure(409, "Conflict: terminated by other getUpdates request; "
                                   "make sure that only one bot instance is running")
        return self._matching(allowed)[:limit]

    def _matching(self, allowed: Any) -> list[dict[str, Any]]:
        if not allowed:  # Telegram's default leaves out a few kinds; none of ours
            return list(self.pending)
        return [u for u in self.pending if any(k in u for k in allowed)]

    async def _m_setWebhook(self, call: Call) -> Any:
        url = call.params.get("url", "")
        if not url:  # an empty url removes the webhook, as documented
            self.webhook = None
            return True
        secret = call.params.get("secret_token")
        if secret is not None and not all(c.isalnum() or c in "_-" for c in secret):
            raise _ApiFailure(400, "Bad Request: secret token contains unallowed characters")
        if _truthy(call.params.get("drop_pending_updates")):
            self.pending.clear()
        self.webhook = {"url": url, "secret_token": secret,
                        "allowed_updates": call.params.get("allowed_updates"),
                        "max_connections": _int(call.params.get("max_connections")) or 40}
        return True

    async def _m_deleteWebhook(self, call: Call) -> Any:
        self.webhook = None
        if _truthy(call.params.get("drop_pending_updates")):
            self.pending.clear()
        return True

    async def _m_getWebhookInfo(self, call: Call) -> Any:
        hook = self.webhook or {}
        info = {"url": hook.get("url", ""), "has_custom_certificate": False,
                "pending_update_count": len(self.pending)}
        if hook:
            info["max_connections"] = hook["max_connections"]
            if self.webhook_error:
                info["last_error_date"], info["last_error_message"] = self.webhook_error
            if hook.get("allowed_updates"):
                info["allowed_updates"] = hook["allowed_updates"]
        return info

    async def _m_getFile(self, call: Call) -> Any:
        file_id = str(call.params.get("file_id", ""))
        if file_id not in self.files:
            raise _ApiFailure(400, "Bad Request: invalid file_id")
        path, data = self.files[file_id]
        if len(data) > 20 * 1024 * 1024:
            raise _ApiFailure(400, "Bad Request: file is too big")
        return {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": len(data),
                "file_path": path}

    def _chat(self, call: Call) -> int:
        raw = call.params.get("chat_id")
        if raw in (None, ""):
            raise _ApiFailure(400, "Bad Request: chat_id is empty")
        try:
            chat_id = int(raw)
        except (TypeError, ValueError):
            raise _ApiFailure(400, "Bad Request: chat not found") from None
        if chat_id in self.blocked_chats:
            raise _ApiFailure(403, "Forbidden: bot was blocked by the user")
        if chat_id not in self.known_chats:
            raise _ApiFailure(400, "Bad Request: chat not found")
        return chat_id

    def _message(self, call: Call, chat_id: int, **content: Any) -> dict[str, Any]:
        message = {"message_id": next(self._message_ids[chat_id]), "from": BOT_USER,
                   "chat": {"id": chat_id, "type": "private"}, "date": int(time.time()), **content}
        reply = call.params.get("reply_parameters")
        if reply:
            if not isinstance(reply, dict) or "message_id" not in reply:
                raise _ApiFailure(400, "Bad Request: invalid reply parameters")
            message["reply_to_message"] = {"message_id": int(reply["message_id"]),
                                           "chat": {"id": chat_id, "type": "private"}, "date": 0}
        record = {**message, "method": call.method, "reply_parameters": reply, "at": call.at,
                  "uploads": call.files}
        self.sent.append(record)
        return message

    async def _m_sendMessage(self, call: Call) -> Any:
        chat_id = self._chat(call)
        text = str(call.params.get("text", ""))
        if not text.strip():
            raise _ApiFailure(400, "Bad Request: message text is empty")
        if len(text.encode("utf-16-le")) // 2 > 4096:
            raise _ApiFailure(400, "Bad Request: message is too long")
        return self._message(call, chat_id, text=text)

    def _upload(self, call: Call, field_name: str) -> tuple[str | None, bytes]:
        if field_name in call.files:
            filename, _, data = call.files[field_name]
            return filename, data
        value = call.params.get(field_name)
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            # Telegram would fetch it; our bridge must never hand out its own URLs.
            raise _ApiFailure(400, "Bad Request: failed to get HTTP URL content")
        if isinstance(value, str) and value in self.files:
            return None, self.files[value][1]
        raise _ApiFailure(400, f"Bad Request: there is no {field_name} in the request")

    async def _m_sendPhoto(self, call: Call) -> Any:
        chat_id = self._chat(call)
        _, data = self._upload(call, "photo")
        file_id = f"photo{next(self._ids)}"
        self.files[file_id] = (f"photos/{file_id}.jpg", data)
        sizes = [{"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": len(data),
                  "width": 800, "height": 600}]
        return self._message(call, chat_id, photo=sizes, **_caption(call))

    async def _m_sendDocument(self, call: Call) -> Any:
        chat_id = self._chat(call)
        filename, data = self._upload(call, "document")
        file_id = f"doc{next(self._ids)}"
        self.files[file_id] = (f"documents/{file_id}", data)
        document = {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": len(data),
                    "file_name": filename or "file"}
        return self._message(call, chat_id, document=document, **_caption(call))

    # ------------------------------------------------------------ webhook delivery

    async def _deliver_webhooks(self) -> None:
        """One update at a time, in order, retried until the bot answers 2xx (as Telegram does)."""
        assert self._session is not None
        while True:
            async with self._changed:
                await self._changed.wait_for(
                    lambda: self.webhook is not None and bool(self.pending or self._redeliver)
                )
            hook = self.webhook
            assert hook is not None
            again = bool(self._redeliver)
            update = self._redeliver[0] if again else self.pending[0]
            headers = {"Content-Type": "application/json"}
            if hook.get("secret_token"):
                headers["X-Telegram-Bot-Api-Secret-Token"] = hook["secret_token"]
            try:
                async with self._session.post(hook["url"], data=json.dumps(update), headers=headers,
                                              timeout=aiohttp.ClientTimeout(total=30)) as resp:
                    status = resp.status
            except (aiohttp.ClientError, TimeoutError):
                status = 0
            self.webhook_deliveries.append((update["update_id"], status))
            self._notify()
            if not 200 <= status <= 299:
                self.webhook_error = (int(time.time()), f"Wrong response from the webhook: {status}"
                                      if status else "Connection refused")
            if 200 <= status <= 299:
                if again:
                    self._redeliver.popleft()
                elif self.pending and self.pending[0] is update:
                    self.pending.pop(0)
            else:
                await asyncio.sleep(self._webhook_retry_delay)


class _ApiFailure(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


class _Dropped(_ApiFailure):
    def __init__(self) -> None:
        super().__init__(502, "Bad Gateway")


def _fail(status: int, description: str, retry_after: float | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return web.json_response(body, status=status)


def _int(value: Any) -> int | None:
    if value in (None, ""):
        return None
    return int(value)


def _truthy(value: Any) -> bool:
    return value in (True, "true", "True", "1", 1)


def _caption(call: Call) -> dict[str, Any]:
    caption = call.params.get("caption")
    return {"caption": caption} if caption else {}


# ---------------------------------------------------------------- update builders


def private_chat(user_id: int = 424242, first_name: str = "Ann", username: str | None = "ann",
                 language_code: str | None = "en") -> tuple[dict[str, Any], dict[str, Any]]:
    """(from, chat) of a private chat, in the Bot API's shapes."""
    user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
    chat: dict[str, Any] = {"id": user_id, "first_name": first_name, "type": "private"}
    if username:
        user["username"] = chat["username"] = username
    if language_code:
        user["language_code"] = language_code
    return user, chat


def message_update(message_id: int, *, user_id: int = 424242, date: int | None = None,
                   update_id: int | None = None, kind: str = "message", **content: Any) -> dict[str, Any]:
    """A `message` update from a private chat with the given content fields (text=..., photo=...)."""
    user, chat = private_chat(user_id, username=f"user{user_id}")
    update: dict[str, Any] = {kind: {"message_id": message_id, "from": user, "chat": chat,
                                     "date": date or int(time.time()), **content}}
    if update_id is not None:
        update["update_id"] = update_id
    return update
