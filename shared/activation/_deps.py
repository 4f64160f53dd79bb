"""What an activation uses, built once per process and shared by every activation."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from cloudevents.http import CloudEvent

from shared.accounting import Spending
from shared.agents import AgentStore
from shared.events import Priority
from shared.executors import Executors, executors
from shared.hub import HubClient
from shared.limits import BehaviorLimits
from shared.loop import Sandboxes
from shared.mcp import McpHost
from shared.operator import Steering
from shared.poller import BudgetCheck
from shared.settings import RunnerSettings
from shared.streams import EffectLedger
from shared.transcripts import TranscriptStore

from ._providers import Providers


class BreakerRecord(Protocol):
    """Where activation failures are counted (``shared.poller.CircuitBreaker``)."""

    async def record(self, agent_id: str, *, ok: bool) -> None:
        """Count one finished activation of ``agent_id``: a success, or a failure."""
        ...


class SealActivation(Protocol):
    """Closes an inbox activation to newcomers (``shared.poller.Sealer``)."""

    async def __call__(self, *, agent_id: str, priority: Priority, event_id: str) -> list[str]:
        """The ids of the notifications that joined the activation ``event_id`` while it waited."""
        ...


@dataclass(frozen=True, kw_only=True)
class ActivationDeps:
    """The clients and policies of one runner process.

    ``report_failed`` publishes the ``completed`` event of an attempt that failed after
    spending tokens (the pump publishes outcomes only with an acknowledgement);
    ``requeue`` lets the poller queue again the notifications an activation left
    unanswered (``shared.poller.release_queued``); ``seal`` gives the notifications
    that joined an inbox activation while it waited on its stream; ``sandboxes`` gives
    an activation whose agent uses a workspace tool its sandbox (``None``: no workspace
    tools are offered); ``spending`` admits and books every LLM call (the agent's
    budget and the live spend book); ``transcripts`` keeps what each attempt did; ``mcp``
    starts each activation's MCP servers; ``executors`` run each agent ``type`` (the
    default: the built-in loop only); ``steering`` gives the operator's pauses and
    cancellations (``None``: none are honoured); ``max_deliveries`` is the pump's
    (``MAX_DELIVERIES``): a transient failure on the last delivery releases the
    notifications for the poller, since the event is dead-lettered.
    """

    settings: RunnerSettings
    hub: HubClient
    agents: AgentStore
    providers: Providers
    limits: BehaviorLimits
    budget: BudgetCheck
    breaker: BreakerRecord
    ledger: EffectLedger
    report_failed: Callable[[CloudEvent], Awaitable[object]]
    requeue: Callable[[list[str]], Awaitable[None]]
    seal: SealActivation
    sandboxes: Sandboxes | None = None
    spending: Spending = field(default_factory=Spending)
    transcripts: TranscriptStore | None = None
    mcp: McpHost | None = None
    executors: Executors = field(default_factory=lambda: executors(None))
    steering: Steering | None = None
    max_deliveries: int = 5
    clock: Callable[[], float] = time.monotonic
