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
from tpbridge.bridge.store.postgres.windows import WindowStore
from tpbridge.bridge.store.protocol import StoreUnavailable


class PostgresStore(ChannelStore, DeliveryStore, ConversationStore, PeopleStore, AdminStore, AutomationStore,
                    AuditStore, RetentionStore, CredentialStore, WindowStore):
    """Implements bridge.store.protocol.Store on one PostgreSQL database, shared by several instances."""

    # Encryption at rest (bridge/crypto.py) is the SQLite store's for now: open_store refuses a key with a
    # postgresql:// URL, so there is never anything to re-seal here.
    async def reseal_pending(self) -> bool:
        return False

    async def reseal_step(self, limit: int = 500) -> None:
        raise NotImplementedError("store.encryption_key: encryption at rest is not available on PostgreSQL yet")

    async def reseal_finish(self) -> None:
        return None

    async def _closing(self) -> None:
        if self._batcher is not None:
            await self._batcher.close()
            self._batcher = None


__all__ = ["PostgresStore", "StoreUnavailable", "is_postgres_url"]
