"""Per-inbox health; only transitions are logged.

Adapters push their connection state (connecting, connected, transient_disconnect) through
`Sink.report`. `bad_credentials` has one owner on each side: the supervisor when receiving
(`daemon.run_adapter`) and the outbox when sending (`outbox.InboxWorker`); adapters raise
`BadCredentials` and never report it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import structlog
from tpbridge.adapters.base import ChannelState

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class InboxHealth:
    state: ChannelState
    reason: str | None
    since: float


class Health:
    def __init__(self) -> None:
        self._inboxes: dict[str, InboxHealth] = {}

    def report(self, inbox: str, state: ChannelState, reason: str | None = None) -> None:
        current = self._inboxes.get(inbox)
        if current is not None and current.state == state and current.reason == reason:
            return
        self._inboxes[inbox] = InboxHealth(state, reason, time.time())
        level = "warning" if state in (ChannelState.BAD_CREDENTIALS, ChannelState.TRANSIENT_DISCONNECT) else "info"
        getattr(log, level)("channel.state", inbox=inbox, state=state.value, reason=reason)

    def get(self, inbox: str) -> InboxHealth | None:
        return self._inboxes.get(inbox)

    def snapshot(self) -> dict[str, dict[str, str | None]]:
        return {name: {"state": h.state.value, "reason": h.reason} for name, h in sorted(self._inboxes.items())}

    @property
    def ok(self) -> bool:
        return all(h.state is not ChannelState.BAD_CREDENTIALS for h in self._inboxes.values())
