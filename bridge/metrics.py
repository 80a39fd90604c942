"""Prometheus metrics: counters fed by the event bus (synchronously, in publish), gauges read at scrape time."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from tpbridge.bridge.events import MESSAGE_CREATED, MESSAGE_UPDATED, Event, EventBus
from tpbridge.bridge.health import Health
from tpbridge.bridge.model import Delivery, Direction


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.received = Counter("tpbridge_messages_received", "Messages received from channels",
                                ["inbox"], registry=self.registry)
        self.replies = Counter("tpbridge_replies_queued", "Replies and automatic messages queued",
                               ["inbox", "author"], registry=self.registry)
        self.delivered = Counter("tpbridge_replies_delivered", "Replies whose delivery ended",
                                 ["inbox", "result"], registry=self.registry)
        self.channel_up = Gauge("tpbridge_channel_up", "1 when the inbox's channel is connected",
                                ["inbox", "state"], registry=self.registry)
        self._children: dict[tuple[Counter, tuple[str, ...]], Any] = {}

    def _inc(self, counter: Counter, *labels: str) -> None:
        """counter.labels(...).inc(), with the labelled child kept: labels() is slow for every message."""
        if (child := self._children.get((counter, labels))) is None:
            child = self._children[(counter, labels)] = counter.labels(*labels)
        child.inc()

    def follow(self, bus: EventBus) -> None:
        bus.listen(self.observe)

    def observe(self, event: Event) -> None:
        msg = event.message
        if msg is None:
            return
        if event.kind == MESSAGE_CREATED:
            if msg.direction is Direction.IN:
                self._inc(self.received, event.inbox)
            elif not msg.private:
                self._inc(self.replies, event.inbox, msg.author.kind.value)
        elif event.kind == MESSAGE_UPDATED and msg.delivery in (Delivery.SENT, Delivery.FAILED):
            self._inc(self.delivered, event.inbox, msg.delivery.value)

    def render(self, health: Health) -> bytes:
        self.channel_up.clear()
        for inbox, h in health.snapshot().items():
            self.channel_up.labels(inbox, h["state"]).set(1 if h["state"] == "connected" else 0)
        return generate_latest(self.registry)
