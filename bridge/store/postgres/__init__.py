"""The PostgreSQL store: several daemon instances on one database (psycopg 3, a connection pool)."""

from __future__ import annotations

from tpbridge.bridge.store.postgres.admin import AdminStore
from tpbridge.bridge.store.postgres.audit import AuditStore
from tpbridge.bridge.store.postgres.automation import AutomationStore
from tpbridge.bridge.store.postgres.base import is_postgres_url
from tpbridge.bridge.store.postgres.channel import ChannelStore
from tpbridge.bridge.store.postgres.conversations import ConversationStore
from tpbridge.bridge.store.postgres.credentials import CredentialStore
from tpbridge.bridge.store.postgres.delivery import DeliveryStore
from tpbridge.bridge.store.postgres.people import PeopleStore
from tpbridge.bridge.store.postgres.retention import RetentionStore
from tpbridge.bridge.store.protocol import StoreUnavailable


class PostgresStore(ChannelStore, DeliveryStore, ConversationStore, PeopleStore, AdminStore, AutomationStore,
                    AuditStore, RetentionStore, CredentialStore):
    """Implements bridge.store.protocol.Store on one PostgreSQL database, shared by several instances."""

    async def _closing(self) -> None:
        if self._batcher is not None:
            await self._batcher.close()
            self._batcher = None


__all__ = ["PostgresStore", "StoreUnavailable", "is_postgres_url"]
