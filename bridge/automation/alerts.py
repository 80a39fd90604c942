"""Paging the on-call for security incidents (`[automation.alerts]`), until an agent acknowledges.

Each incident goes to every configured target — a webhook (JSON POST), an e-mail address
and a Telegram chat (as messages in the on-call's own conversation on that inbox, so the
outbox delivers them: retried, recorded, visible) — and again every `repeat_minutes` until an
agent presses *Acknowledge* in the inbox (`POST /api/v1/conversations/{id}/alert/ack`). A
failed webhook POST (or a channel refusing to open the conversation) is retried with backoff.
The state lives on the conversation (`attrs["alert"]`: per target the attempts, the last error,
when it was last sent) and the open incidents are listed in the store's key-value table, so a
restart carries on paging where it stopped and nothing is recorded twice.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import TYPE_CHECKING, Any

import aiohttp
import structlog
from tpbridge.adapters.base import backoff
from tpbridge.bridge.model import BOT, Conversation, Priority

if TYPE_CHECKING:
    from tpbridge.bridge.automation import Automation
    from tpbridge.bridge.automation.understand import Understanding
    from tpbridge.bridge.desk import Desk
    from tpbridge.bridge.store.protocol import Store

log = structlog.get_logger(__name__)

OPEN_KEY = "automation:alerts:open"
TIMEOUT = aiohttp.ClientTimeout(total=10)


def payload(a: Automation, conv: Conversation, summary: str) -> dict[str, Any]:
    """The JSON POSTed to the webhook (SPEC: conversation_id, category, priority, language, summary, url)."""
    return {
        "conversation_id": conv.id,
        "category": conv.category,
        "priority": Priority(conv.priority).name.lower(),
        "language": conv.language,
        "summary": summary,
        "url": f"{a.core.config.http.public_url.rstrip('/')}/#/conversations/{conv.id}",
        "inbox": conv.inbox,
    }


def targets(a: Automation) -> list[str]:
    s = a.settings.alerts
    return [name for name, on in (("webhook", s.webhook_url), ("email", s.email), ("telegram", s.telegram_chat)) if on]


async def _open_ids(store: Store) -> list[int]:
    raw = await store.kv_get(OPEN_KEY)
    try:
        return [int(i) for i in json.loads(raw)] if raw else []
    except (ValueError, TypeError):
        return []


async def _set_open(store: Store, ids: list[int]) -> None:
    await store.kv_set(OPEN_KEY, json.dumps(sorted(set(ids))), None)


async def raise_alert(a: Automation, conv: Conversation, u: Understanding | None = None) -> None:
    if conv.category not in a.settings.alerts.categories or not targets(a):
        return
    current = conv.attrs.get("alert")
    if isinstance(current, dict) and current.get("state") == "open":
        return
    questions = a.state(conv).get("questions") or []
    summary = (u.classification.explain() if u else "") + (f" — “{questions[-1][:200]}”" if questions else "")
    now = a.now().timestamp()
    await a.desk.update(conv.id, attrs={"alert": {
        "state": "open", "raised_at": now, "summary": summary,
        "targets": {t: {"attempts": 0, "due_at": now, "sent_at": None, "error": None} for t in targets(a)}}})
    await _set_open(a.store, [*await _open_ids(a.store), conv.id])
    log.warning("alert.raised", inbox=conv.inbox, conversation_id=conv.id, targets=targets(a))
    await deliver_due(a)


async def acknowledge(a: Automation, conv: Conversation, agent_id: int) -> Conversation:
    return await acknowledge_in(a.desk, a.store, conv, agent_id, a.now().timestamp())


async def acknowledge_in(desk: Desk, store: Store, conv: Conversation, agent_id: int, now: float) -> Conversation:
    """An agent took the incident: stop paging (from the inbox, with or without automation running here)."""
    alert = conv.attrs.get("alert")
    if not isinstance(alert, dict) or alert.get("state") != "open":
        return conv
    conv = await desk.update(conv.id, attrs={"alert": {"state": "acknowledged", "acknowledged_by": agent_id,
                                                        "acknowledged_at": now}})
    await _set_open(store, [i for i in await _open_ids(store) if i != conv.id])
    log.info("alert.acknowledged", inbox=conv.inbox, conversation_id=conv.id, agent_id=agent_id)
    return conv


async def deliver_due(a: Automation) -> None:
    """Send what is due for every open incident (run by the automation's sweep and when one is raised)."""
    async with a.alerts_lock:
        await _deliver_due(a)


async def _deliver_due(a: Automation) -> None:
    ids = await _open_ids(a.store)
    still: list[int] = []
    for conv_id in ids:
        conv = await a.store.get_conversation(conv_id)
        alert = conv.attrs.get("alert") if conv else None
        if conv is None or not isinstance(alert, dict) or alert.get("state") != "open":
            continue
        still.append(conv_id)
        now = a.now().timestamp()
        changed: dict[str, Any] = {}
        for name, t in dict(alert.get("targets") or {}).items():
            if float(t.get("due_at") or 0) > now:
                continue
            attempts = int(t.get("attempts") or 0) + 1
            try:
                await _send(a, name, conv, str(alert.get("summary") or ""))
            except Exception as exc:  # any failure of a target is recorded and retried, never fatal
                error = f"{type(exc).__name__}: {exc}"[:300]
                changed[name] = {**t, "attempts": attempts, "error": error, "due_at": now + backoff(attempts)}
                log.warning("alert.failed", inbox=conv.inbox, conversation_id=conv.id, target=name,
                            attempt=attempts, error=error)
            else:
                changed[name] = {**t, "attempts": attempts, "error": None, "sent_at": now,
                                 "due_at": now + a.settings.alerts.repeat_minutes * 60}
                log.info("alert.sent", inbox=conv.inbox, conversation_id=conv.id, target=name, attempt=attempts)
        if changed:
            await a.desk.update(conv.id, attrs={"alert": {"targets": changed}})
    if still != ids:
        await _set_open(a.store, still)


def signature_headers(secret: str | None, body: bytes, now: float) -> dict[str, str]:
    """The page's signature (none without a secret): HMAC-SHA256 over "<timestamp>.<body>", as Stripe and
    Slack sign theirs, so a receiver checks both who sent it and that it is not an old one replayed."""
    if not secret:
        return {}
    stamp = str(int(now))
    digest = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"X-Tpbridge-Timestamp": stamp, "X-Tpbridge-Signature": f"sha256={digest}"}


async def _send(a: Automation, target: str, conv: Conversation, summary: str) -> None:
    s = a.settings.alerts
    body = payload(a, conv, summary)
    if target == "webhook" and s.webhook_url:
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json", **signature_headers(s.webhook_secret, data, time.time())}
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http, \
                http.post(s.webhook_url, data=data, headers=headers) as resp:
            if resp.status >= 300:
                raise RuntimeError(f"webhook answered HTTP {resp.status}")
        return
    text = (f"[tpbridge] SECURITY incident, conversation {conv.id} ({conv.inbox}, {conv.language or '?'}), "
            f"priority {body['priority']}: {summary}\n{body['url']}\nAcknowledge it in the inbox to stop these alerts.")
    if target == "telegram" and s.telegram_chat:
        tg_inbox, chat = s.telegram_chat.split(":", 1)
        await _via_outbox(a, tg_inbox, chat, text, None)
    elif target == "email" and s.email:
        mail_inbox = s.email_inbox or next((name for name in a.core.adapters if name.startswith("email.")), None)
        if mail_inbox is None:
            raise RuntimeError("no e-mail inbox to send the alert through (set [automation.alerts] email_inbox)")
        await _via_outbox(a, mail_inbox, s.email, text, "[tpbridge] Security incidents")


async def _via_outbox(a: Automation, inbox: str, recipient: str, text: str, subject: str | None) -> None:
    """The alert as a message in the on-call's own conversation on that channel, delivered by the outbox
    (retried with backoff, its delivery state recorded and visible in the inbox like any reply).

    The first alert opens the conversation (within the channel's rules: Telegram needs the chat to have
    written to the bot once); later ones are replies in it.
    """
    from tpbridge.bridge.outreach import start_conversation

    key = f"automation:alerts:conversation:{inbox}:{recipient}"
    known = await a.store.kv_get(key)
    oncall = await a.store.get_conversation(int(known)) if known and known.isdigit() else None
    if oncall is None:
        started = await start_conversation(a.core, inbox=inbox, author=BOT, text=text, to=recipient, name="On-call",
                                           subject=subject)
        oncall = await a.desk.update(started.conversation.id, attrs={"oncall": True})
        await a.store.kv_set(key, str(oncall.id), None)
    else:
        await a.desk.reply(oncall.id, text, author=BOT, auto=True)
