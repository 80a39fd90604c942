"""Everything one daemon holds, built in one place and handed down explicitly (no globals)."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field
from typing import Any

from tpbridge.adapters.base import Adapter
from tpbridge.bridge.attachments import AttachmentStore, open_attachments
from tpbridge.bridge.audit import Audit
from tpbridge.bridge.config import Config
from tpbridge.bridge.desk import Desk
from tpbridge.bridge.events import EventBus
from tpbridge.bridge.health import Health
from tpbridge.bridge.outbox import Outbox
from tpbridge.bridge.pipeline import InboxSink, Pipeline
from tpbridge.bridge.store import open_store
from tpbridge.bridge.store.protocol import Store


@dataclass
class Core:
    config: Config
    store: Store
    bus: EventBus
    files: AttachmentStore
    health: Health
    pipeline: Pipeline
    desk: Desk
    outbox: Outbox = field(default_factory=lambda: Outbox({}))
    adapters: dict[str, Adapter] = field(default_factory=dict)  # inbox name -> adapter
    sinks: dict[str, InboxSink] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)  # room for parts added later (automation)
    audit: Audit = field(init=False)
    # who this process is to other instances on the same store (leases: bridge/lease.py)
    instance: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}")

    def __post_init__(self) -> None:
        self.audit = Audit(self.store)

    @classmethod
    def build(cls, config: Config) -> Core:
        data_dir = config.data_dir
        codec = config.store.codec()
        store = open_store(config.store.url, config.base_dir, codec)
        bus = EventBus()
        files = open_attachments(config.attachments, data_dir, codec)
        health = Health()
        pipeline = Pipeline(store, bus, files, data_dir)
        core = cls(config, store, bus, files, health, pipeline, Desk(store, bus, files))
        # The outbox is built later (it needs the adapters); the desk reaches it through the core.
        core.desk.wake_outbox = lambda inbox: core.outbox.wake(inbox)
        return core

    @property
    def anonymous_inboxes(self) -> frozenset[str]:
        """Inboxes with `anonymous = true`: agents never see who wrote there."""
        return frozenset(c.name for c in self.config.enabled_channels if c.settings.anonymous)
