"""The no-op handler: acknowledges every event with a ``noop`` outcome.

It exercises the whole production path (lease, heartbeat, settle, outcome
publication) without doing any work, which is what the dispatch benchmark measures.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from cloudevents.http import CloudEvent

from shared.events import activation_completed
from shared.runtime import Runtime
from shared.streams import Handler, Outcome, current_delivery


async def handle(event: CloudEvent) -> Outcome:
    """Do nothing; report a completed activation with no usage."""
    delivery = current_delivery()
    return [
        activation_completed(
            activation_id=str(event["id"]),
            agent_id=str(event.get("subject") or "-"),
            attempt=delivery.deliveries if delivery else 1,
            outcome="noop",
            duration_ms=0,
            finished_at=datetime.now(UTC),
        )
    ]


@asynccontextmanager
async def handler(runtime: Runtime) -> AsyncIterator[Handler]:
    """Handler factory for ``RUNNER_HANDLER=functions.runner.noop:handler``."""
    yield handle
