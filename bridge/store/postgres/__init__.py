"""The PostgreSQL store: several daemon instances on one database (psycopg 3, a connection pool)."""

from __future__ import annotations

from tpbridge.bridge.store.postgres import encryption
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
from tpbridge.bridge.store.sqlite.encryption import SEALED, Progress


class PostgresStore(ChannelStore, DeliveryStore, ConversationStore, PeopleStore, AdminStore, AutomationStore,
                    AuditStore, RetentionStore, CredentialStore, WindowStore):
    """Implements bridge.store.protocol.Store on one PostgreSQL database, shared by several instances."""

    # Encryption at rest (bridge/crypto.py): the re-seal pass of a rotation or of turning it on (encryption.py)
    async def reseal_pending(self) -> bool:
        if self.codec is None:
            return False
        return await self._read(encryption.pending)

    async def reseal_step(self, limit: int = 500) -> Progress:
        codec = self.codec
        assert codec is not None
        return await self._tx(lambda c: encryption.step(c, codec, limit))

    async def reseal_finish(self) -> None:
        """Mark the pass done, then VACUUM the sealed tables so that their old row versions' space is reused
        (PostgreSQL keeps them until then; VACUUM FULL, in a quiet hour, rewrites the files)."""
        await self._tx(encryption.finish)
        async with self._pool.connection() as conn:  # autocommit: VACUUM runs outside a transaction
            for table, _pk, _cols in SEALED:
                await conn.execute(f"VACUUM {table}")
            await conn.execute("VACUUM message_search")
            await conn.execute("VACUUM kv")

    async def _closing(self) -> None:
        if self._batcher is not None:
            await self._batcher.close()
            self._batcher = None


__all__ = ["PostgresStore", "StoreUnavailable", "is_postgres_url"]
