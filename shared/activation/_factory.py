"""The runner's handler factory: one set of clients per process, one activation per event."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial
from pathlib import Path

from cloudevents.http import CloudEvent

from shared.accounting import BudgetGate, BudgetMetrics, LiveSpend, Spending, UsageBook
from shared.definitions import agent_store
from shared.executors import CliHost, executors
from shared.gateway import Gateway
from shared.hub import HubClient
from shared.limits import BehaviorLimits
from shared.logs import Redactor
from shared.mcp import McpHost, McpMetrics, ToolPins
from shared.operator import Steering
from shared.poller import CircuitBreaker, PollerOptions, Sealer, release_queued
from shared.runtime import Runtime
from shared.sandbox import AgentSandboxes
from shared.streams import Handler
from shared.transcripts import TranscriptStore

from ._activation import handle_activation
from ._deps import ActivationDeps
from ._providers import Providers


@asynccontextmanager
async def activation_handler(runtime: Runtime) -> AsyncIterator[Handler]:
    """Handler factory for ``RUNNER_HANDLER=functions.runner.activation:handler``.

    Raises:
        ConfigurationError: agent definitions are not configured.
    """
    settings = runtime.settings
    redis, keys = runtime.redis, runtime.keys
    async with AsyncExitStack() as stack:
        hub = await stack.enter_async_context(HubClient.from_settings(settings.hub))
        providers = Providers(settings.llm)
        stack.push_async_callback(providers.aclose)
        sandboxes = AgentSandboxes(settings.sandbox, registry=runtime.registry)
        stack.push_async_callback(sandboxes.aclose)

        async def report_failed(event: CloudEvent) -> None:
            await runtime.publisher.publish(keys.results, event)

        redactor = Redactor(settings.secrets())
        live = LiveSpend(redis, keys=keys)
        gate = BudgetGate(
            book=UsageBook(redis, keys=keys),
            hub=hub,
            redis=redis,
            keys=keys,
            live=live,
            metrics=BudgetMetrics.on(runtime.registry),
            where="runner",
        )
        mcp = McpHost(
            settings.mcp,
            pins=ToolPins(redis, keys=keys),
            redactor=redactor,
            metrics=McpMetrics(runtime.registry),
            lifetime_s=settings.runner.activation_timeout_s + 60,
        )
        stack.push_async_callback(mcp.aclose)
        socket = settings.clis.gateway_socket
        if socket is None:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="botburrow-gw-")))
            folder.chmod(0o711)  # a sandbox's user binds the socket inside; it cannot list the folder
            socket = folder / "gateway.sock"
        gateway = await stack.enter_async_context(
            Gateway(uds=str(socket), max_body_bytes=settings.gateway_max_body_bytes)
        )
        host = CliHost(settings=settings.clis, sandbox=settings.sandbox, gateway=gateway, upstream=providers.upstream)
        stack.push_async_callback(host.aclose)
        deps = ActivationDeps(
            settings=settings.runner,
            hub=hub,
            agents=agent_store(settings.agents, redis, prefix=keys.prefix),
            providers=providers,
            limits=BehaviorLimits(redis, prefix=keys.prefix),
            budget=gate,
            spending=Spending(gate=gate, live=live),
            transcripts=TranscriptStore(
                redis,
                keys=keys,
                ttl_s=settings.transcripts.ttl_s,
                max_bytes=settings.transcripts.max_bytes,
                redactor=redactor,
            ),
            mcp=mcp,
            breaker=CircuitBreaker(redis, prefix=keys.prefix),
            ledger=runtime.ledger,
            report_failed=report_failed,
            requeue=partial(release_queued, redis, keys),
            seal=Sealer(redis, keys, ttl_s=PollerOptions().queued_ttl_s),
            sandboxes=sandboxes,
            executors=executors(host),
            steering=Steering(redis, keys=keys),
            max_deliveries=settings.streams.max_deliveries,
        )
        yield partial(handle_activation, deps=deps)
