"""The SQLite store (the embedded default): WAL, one writer with group commit."""

from __future__ import annotations

from tpbridge.bridge.store.sqlite.admin import AdminStore
from tpbridge.bridge.store.sqlite.audit import AuditStore
from tpbridge.bridge.store.sqlite.automation import AutomationStore
from tpbridge.bridge.store.sqlite.base import path_from_url
from tpbridge.bridge.store.sqlite.channel import ChannelStore
from tpbridge.bridge.store.sqlite.conversations import ConversationStore
from tpbridge.bridge.store.sqlite.credentials import CredentialStore
from tpbridge.bridge.store.sqlite.delivery import DeliveryStore
from tpbridge.bridge.store.sqlite.instances import SingleInstance
from tpbridge.bridge.store.sqlite.keys import EncryptionStore
from tpbridge.bridge.store.sqlite.people import PeopleStore
from tpbridge.bridge.store.sqlite.retention import RetentionStore


class SqliteStore(ChannelStore, DeliveryStore, ConversationStore, PeopleStore, AdminStore, AutomationStore,
                  AuditStore, RetentionStore, SingleInstance, CredentialStore, EncryptionStore):
    """Implements bridge.store.protocol.Store on one SQLite file."""


__all__ = ["SqliteStore", "path_from_url"]
