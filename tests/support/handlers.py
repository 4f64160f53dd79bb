"""The handler kit: handlers the tests run in-process, and factories that real runner processes
load by name (``RUNNER_HANDLER=tests.support.handlers:<factory>``)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import structlog
from cloudevents.http import CloudEvent

from functions.runner import noop
from shared.errors import AgentNotFound, HubUnavailable, InvalidEvent
from shared.runtime import Runtime
from shared.streams import Handler, Outcome, RetryLater

SEEN: list[dict[str, Any]] = []
"""The log context each event handled by ``recording`` saw (it runs in the test process)."""


def recorder() -> tuple[list[CloudEvent], Callable[[CloudEvent], Awaitable[Any]]]:
    """A handler that keeps every event it is given, and the list it keeps them in."""
    seen: list[CloudEvent] = []

    async def handle(event: CloudEvent) -> None:
        seen.append(event)

    return seen, handle


async def _raise_as_asked(event: CloudEvent) -> Outcome:
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
    yield _raise_as_asked


@asynccontextmanager
async def broken(runtime: Runtime) -> AsyncIterator[Handler]:
    """A factory that cannot start."""
    raise RuntimeError("cannot build the handler")
    yield _raise_as_asked  # type: ignore[unreachable]  # pragma: no cover (a factory must be a generator)


@asynccontextmanager
async def slow(runtime: Runtime) -> AsyncIterator[Handler]:
    """Records starts and finishes in Redis (``<prefix>:test:started``, ``…:finished``); works
    ``TEST_HANDLER_SLEEP_S`` seconds (default 1) per event."""
    sleep_s = float(os.environ.get("TEST_HANDLER_SLEEP_S", "1"))
    prefix = runtime.keys.prefix

    async def handle(event: CloudEvent) -> Outcome:
        await runtime.redis.rpush(f"{prefix}:test:started", str(event["id"]))
        await asyncio.sleep(sleep_s)
        await runtime.redis.rpush(f"{prefix}:test:finished", str(event["id"]))
        return await noop.handle(event)

    yield handle


@asynccontextmanager
async def mcp_replier(runtime: Runtime) -> AsyncIterator[Handler]:
    """A coding CLI's part, played in a real runner process: per activation a gateway lease over the
    agent's Hub tools, and an MCP client that replies to each notification through ``/mcp/hub``.

    With ``TEST_STALL_AFTER_REPLY=1`` it hangs once the reply is posted, before the pump can
    acknowledge the entry (the test SIGKILLs the process there).
    """
    # Imported here: only processes that load this factory pay for them.
    from decimal import Decimal

    from shared.accounting import Spending
    from shared.definitions import agent_store
    from shared.events import ActivationRequested, parse_data
    from shared.gateway import Gateway
    from shared.hub import AgentRef, HubClient
    from shared.limits import BehaviorLimits
    from shared.tools import HubContext, HubTools
    from tests.support.mcp_client import mcp_session, result_text

    stall = os.environ.get("TEST_STALL_AFTER_REPLY") == "1"
    settings = runtime.settings
    async with HubClient.from_settings(settings.hub) as hub, Gateway() as gateway:
        agents = agent_store(settings.agents, runtime.redis, prefix=runtime.keys.prefix)

        async def handle(event: CloudEvent) -> Outcome:
            request = parse_data(event, ActivationRequested)
            agent = await agents.get(request.agent_name)
            activation_id = str(event["id"])
            notes = await hub.notifications(request.agent_name, only=set(request.notification_ids))
            tools = HubTools(
                HubContext(
                    hub=hub,
                    limits=BehaviorLimits(runtime.redis, prefix=runtime.keys.prefix),
                    agent=agent,
                    agent_ref=AgentRef(id=request.agent_id, name=request.agent_name),
                    activation_id=activation_id,
                    notifications=notes,
                    ledger=runtime.ledger,
                )
            )
            lease = gateway.leases.issue(
                agent=agent.name,
                activation_id=activation_id,
                budget=Spending().for_activation(agent_id=request.agent_id, cost_cap_usd=Decimal(1)),
                upstreams={},
                tools={"hub": tools},
            )
            try:
                async with mcp_session(f"{gateway.url}/mcp/hub", lease.token) as session:
                    for note in notes:
                        said = await session.call_tool(
                            "reply", {"notification_id": note.id, "content": "Done, via MCP."}
                        )
                        await runtime.redis.rpush(f"{runtime.keys.prefix}:test:replied", result_text(said))
            finally:
                gateway.leases.revoke(lease.token)
            if stall:
                await asyncio.sleep(3600)
            return await noop.handle(event)

        yield handle
