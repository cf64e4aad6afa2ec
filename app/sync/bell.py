"""What the engine and the API need to wake workers. Redis is only a doorbell: the pending links in
the database are the work, so a lost ring costs latency, never data (the sweeper rings again).

The bells themselves (arq and in-process) live in app.workers.bell, beside the jobs they queue.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Protocol


class Bell(Protocol):
    async def ring(self, connection_id: uuid.UUID, *, trigger: str, run_id: uuid.UUID | None = None) -> None: ...

    async def ring_at(self, connection_id: uuid.UUID, when: datetime) -> None:
        """Ring once more when the soonest back-off ends, instead of waiting for the sweeper."""

    async def ring_webhooks(self, connection_id: uuid.UUID) -> None:
        """Process the connection's stored webhook events (app.webhooks.processing)."""
