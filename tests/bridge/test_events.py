"""The event bus: a quiet moment does not end a subscriber's stream; remote events reach only screens."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from tpbridge.bridge.events import MESSAGE_CREATED, Event, EventBus
from tpbridge.bridge.model import Conversation, Status


def event(remote: bool = False) -> Event:
    now = datetime.now(UTC)
    conv = Conversation(id=1, inbox="webchat.site", channel="webchat", contact_id=1, identity_id=1,
                        status=Status.OPEN, subject=None, priority=1, category=None, language=None, assignee_id=None,
                        team=None, labels=(), thread_key=None, unread=0, last_message_text=None, last_message_at=None,
                        created_at=now, last_activity_at=now)
    return Event(MESSAGE_CREATED, conv, remote=remote)


async def test_a_timeout_waiting_for_an_event_leaves_the_subscription_usable() -> None:
    bus = EventBus()
    with bus.subscribe() as sub:
        with pytest.raises(TimeoutError):
            await sub.get(0.01)  # an SSE heartbeat's wait with nothing happening
        bus.publish(sent := event())
        assert await sub.get(1) is sent


async def test_remote_events_reach_screens_but_not_what_acts_on_events() -> None:
    bus = EventBus()
    counted: list[Event] = []
    bus.listen(counted.append)
    with bus.subscribe() as acts, bus.subscribe(remote=True) as screen:
        bus.publish(remote := event(remote=True))
        assert await screen.get(1) is remote
        assert acts.queue.empty() and counted == []  # automation and metrics ran where it happened
