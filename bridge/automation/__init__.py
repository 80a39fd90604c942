"""Support automation: FAQ bot, language, classification, routing, queue, hours, surveys, reports.

Automation consumes events and acts through the Desk like an agent; it sends nothing itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tpbridge.bridge.core import Core


class Automation:
    def __init__(self, core: Core) -> None:
        self.core = core

    async def run(self) -> None:
        """Consume the event bus until cancelled (run under the daemon's supervisor)."""
