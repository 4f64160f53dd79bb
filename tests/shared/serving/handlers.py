"""Handler factories for the serving tests (``RUNNER_HANDLER=tests.shared.serving.handlers:...``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from cloudevents.http import CloudEvent

from functions.runner import noop
from shared.errors import AgentNotFound, HubUnavailable, InvalidEvent
from shared.runtime import Runtime
from shared.streams import Handler, Outcome, RetryLater

SEEN: list[dict[str, Any]] = []
"""The log context each handled event saw (the handler runs in the test process)."""


async def _handle(event: CloudEvent) -> Outcome:
    SEEN.append(dict(structlog.contextvars.get_contextvars()))
    data = event.get_data()
    what = data.get("raise") if isinstance(data, dict) else None
    if what == "permanent":
        raise AgentNotFound("ghost")
    if what == "transient":
        raise HubUnavailable("hub said 503", status=503, retry_after_s=6.2)
    if what == "retry":
        raise RetryLater(3, "agent busy")
    if what == "invalid":
        raise InvalidEvent("data.agent_id", "field required")
    if what == "crash":
        raise RuntimeError("internal detail: db password hunter2")
    return await noop.handle(event)


@asynccontextmanager
async def recording(runtime: Runtime) -> AsyncIterator[Handler]:
    """Records the log context, raises what ``data.raise`` asks for, else acts as the no-op handler."""
    yield _handle


@asynccontextmanager
async def broken(runtime: Runtime) -> AsyncIterator[Handler]:
    """A factory that cannot start."""
    raise RuntimeError("cannot build the handler")
    yield _handle  # pragma: no cover
