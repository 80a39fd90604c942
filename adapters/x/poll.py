"""Polling: mentions since the last seen id, DM events back to the last seen one.

The checkpoint (newest mention id, newest DM event id) is stored with the batch
in one transaction, so a crash between a poll and its commit re-reads the same
events and the store's dedupe drops them. The pause between polls follows what
X says is left of each endpoint's window: never a request it would refuse.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from tpbridge.adapters.base import ChannelState, Inbound, Quarantined, Rejected, Retry, Sink

from .convert import (
    DM_FIELDS,
    MEDIA_EXPANSION,
    MEDIA_FIELDS,
    TWEET_FIELDS,
    UNREADABLE,
    USER_FIELDS,
    dm_event_from_v2,
    dm_id,
    media_by_key,
    tweet_from_v2,
    users_by_id,
)
from .media import attach_media

if TYPE_CHECKING:
    from .adapter import XAdapter

MENTIONS = "GET /2/users/{id}/mentions"
DM_EVENTS = "GET /2/dm_events"
MAX_PAGES = 20  # per endpoint and poll; the rest comes on the next poll
MEDIA_DEADLINE = 60.0  # seconds to fetch the pictures of one poll


@dataclass(frozen=True, slots=True)
class Checkpoint:
    mention: str | None = None  # newest mention id seen: the next since_id
    dm: str | None = None  # newest DM event id seen: paging stops there

    @classmethod
    def parse(cls, raw: str | None) -> Checkpoint:
        if not raw:
            return cls()
        try:
            data = json.loads(raw)
            return cls(mention=data.get("mention"), dm=data.get("dm"))
        except (ValueError, AttributeError):
            return cls()

    def dumps(self) -> str:
        return json.dumps({"mention": self.mention, "dm": self.dm}, sort_keys=True)


def _newer(a: str | None, b: str | None) -> str | None:
    """The larger of two snowflake ids (ids grow with time)."""
    if a is None or b is None:
        return a or b
    return a if int(a) >= int(b) else b


class Poller:
    """One polling loop of an X inbox."""

    def __init__(self, adapter: XAdapter, sink: Sink) -> None:
        self.adapter = adapter
        self.sink = sink
        self.api = adapter.require_api()
        self.me = adapter.me_id
        self.log = adapter.log
        self.inbox = adapter.name

    async def run(self) -> None:
        """Poll until cancelled; a rate-limit answer pauses until the window resets."""
        checkpoint = Checkpoint.parse(await self.sink.last_checkpoint())
        self.sink.report(ChannelState.CONNECTED)
        while True:
            used: dict[str, int] = {}
            try:
                checkpoint = await self.poll_once(checkpoint, used)
            except Retry as exc:
                if exc.after is None:  # X unreachable or failing: the supervisor backs off and restarts us
                    self.sink.report(ChannelState.TRANSIENT_DISCONNECT, reason=exc.reason)
                    raise
                self.log.info("poll.rate_limited", wait=round(exc.after, 1))
                await asyncio.sleep(exc.after)
                continue
            await asyncio.sleep(self.next_delay(used))

    def next_delay(self, used: dict[str, int]) -> float:
        """The configured interval, or longer when the windows would not allow another poll."""
        now = time.time()
        waits = [self.api.limits.spacing(key, max(n, 1), now) for key, n in used.items()]
        return max([self.adapter.settings.poll_interval, *waits])

    async def poll_once(self, checkpoint: Checkpoint, used: dict[str, int]) -> Checkpoint:
        """One round: fetch, store with the new checkpoint in one ingest, return the new checkpoint."""
        mentions, newest_mention = await self._mentions(checkpoint.mention, used)
        dms, newest_dm = await self._dm_events(checkpoint.dm, used)
        batch = sorted(dms + mentions, key=lambda r: r.sent_at)
        batch = await attach_media(self.api, batch, self.log, deadline=MEDIA_DEADLINE)
        after = Checkpoint(mention=_newer(checkpoint.mention, newest_mention), dm=_newer(checkpoint.dm, newest_dm))
        if batch or after != checkpoint:
            result = await self.sink.ingest(batch, checkpoint=after.dumps())
            stored = sum(1 for m in result.message_ids if m is not None)
            if batch:
                self.log.info("poll.stored", received=len(batch), stored=stored)
        return after

    async def _call(self, key: str, used: dict[str, int], fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        await self.api.limits.gate(key)
        used[key] = used.get(key, 0) + 1
        return await self.api.call(key, fn, *args, **kwargs)

    async def _mentions(self, since: str | None, used: dict[str, int]) -> tuple[list[Inbound], str | None]:
        """Posts mentioning us newer than `since` (only the newest page on a first run)."""
        try:
            return await self._mentions_since(since, used)
        except Rejected as exc:
            if since is None:
                raise
            # X refuses a since_id too far back (the timeline holds the last 800 posts):
            # start over from the newest page rather than fail on every poll.
            self.log.warning("poll.since_rejected", since_id=since, reason=exc.reason)
            return await self._mentions_since(None, used)

    async def _mentions_since(self, since: str | None, used: dict[str, int]) -> tuple[list[Inbound], str | None]:
        client = self.api.client
        records: list[Inbound] = []
        newest: str | None = None
        token: str | None = None
        for _ in range(MAX_PAGES):
            body = await self._call(
                MENTIONS, used, client.get_users_mentions, self.me,
                user_auth=not self.adapter.settings.bearer_token,
                since_id=since, pagination_token=token, max_results=self.adapter.settings.page_size,
                tweet_fields=TWEET_FIELDS, expansions=["author_id", MEDIA_EXPANSION], user_fields=USER_FIELDS,
                media_fields=MEDIA_FIELDS,
            )
            meta = body.get("meta") or {}
            newest = _newer(newest, meta.get("newest_id"))
            users, media = users_by_id(body), media_by_key(body)
            for tweet in body.get("data") or []:
                if str(tweet.get("author_id")) == self.me:
                    continue  # our own replies in a thread: already stored as outbound
                try:
                    record = tweet_from_v2(self.inbox, tweet, users, media)
                except UNREADABLE as exc:  # one odd post must not stop the others (nor the poll)
                    await self._quarantine(f"tweet:{tweet.get('id')}", exc, tweet)
                    continue
                # Without a checkpoint this is history from before tpbridge: no automatic answers.
                records.append(record if since else replace(record, no_auto_reply=True))
            token = meta.get("next_token")
            if not token or since is None:
                break
        return records[::-1], newest  # X pages newest first; store oldest first

    async def _quarantine(self, external_id: str, exc: Exception, item: object) -> None:
        raw = json.dumps(item, ensure_ascii=False, default=str).encode()
        await self.sink.quarantine(Quarantined(self.inbox, external_id, f"unreadable item: {exc!r}"[:500], raw))
        self.adapter.log.warning("poll.quarantined", external_id=external_id, reason=repr(exc))

    async def _dm_events(self, last: str | None, used: dict[str, int]) -> tuple[list[Inbound], str | None]:
        """DM events newer than `last`; without a checkpoint, until one already stored.

        GET /2/dm_events has no since_id: pages come newest first and we stop at the
        first page that reaches what we have.
        """
        client = self.api.client
        records: list[Inbound] = []
        newest: str | None = None
        token: str | None = None
        pages = MAX_PAGES if last else self.adapter.settings.first_poll_dm_pages
        for _ in range(pages):
            body = await self._call(
                DM_EVENTS, used, client.get_direct_message_events,
                dm_event_fields=DM_FIELDS, event_types=["MessageCreate"], expansions=["sender_id", MEDIA_EXPANSION],
                user_fields=USER_FIELDS, media_fields=MEDIA_FIELDS, max_results=self.adapter.settings.page_size,
                pagination_token=token,
            )
            events = body.get("data") or []
            users, media = users_by_id(body), media_by_key(body)
            known = await self.sink.known([dm_id(str(e["id"])) for e in events])
            reached = False
            for event in events:
                eid = str(event["id"])
                newest = _newer(newest, eid)
                if last is not None and int(eid) <= int(last):
                    reached = True
                    continue
                if dm_id(eid) in known:
                    # Without a checkpoint a stored event marks where we were; with one, a
                    # stored event (our own reply) may sit above DMs not yet read.
                    reached = reached or last is None
                    continue
                if str(event.get("sender_id")) == self.me:
                    continue  # our own sent DM echoed back: never an inbound message
                try:
                    record = dm_event_from_v2(self.inbox, event, users, media)
                except UNREADABLE as exc:
                    await self._quarantine(f"dm:{eid}", exc, event)
                    continue
                if record is not None:
                    records.append(record if last else replace(record, no_auto_reply=True))
            token = (body.get("meta") or {}).get("next_token")
            if reached or not token:
                break
        return records[::-1], newest  # X pages newest first; store oldest first
