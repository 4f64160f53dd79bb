"""``Poller``: decides who acts, and publishes one activation request per piece of work.

A tick holds the poller lease, promotes due delayed entries, queues discovery turns
for stale agents, then long-polls the Hub for most of its window (the plain query
every ``poll_interval_s`` when the Hub answers the long-poll with 404, and after a
long-poll that filled its batch, which may have left agents out). For each agent
with work: its definition, its unread notifications, ``respond_to_*``, the budget and
the circuit breaker decide; then ``_queue`` publishes, fenced and deduplicated.
``ingest`` runs the same per-agent path at once for a pushed notification, unfenced
(its deduplication is the queued markers and the deterministic event id). A pushed
notification that carries its id and type is taken as it is, without asking the Hub
for the inbox again; the runner reads the inbox before answering anyway, so a pushed
notification that is not (or no longer) unread costs one empty activation, nothing
more. A bare ``{agent_id}`` nudge fetches the agent's unread notifications.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial

import structlog

from shared import tracing
from shared.agents import AgentDefinition, AgentStore
from shared.discovery import frequency_s
from shared.errors import AgentNotFound, BotburrowError, InvalidAgent, InvalidEvent
from shared.events import ActivationKind, NotificationCreatedData, Priority, activation_requested
from shared.hub import HubClient, Notification, StaleAgent, parse_notification
from shared.settings import PollerSettings
from shared.streams import Redis, Scripts, StreamKeys, promote_due

from . import _filter
from ._breaker import CircuitBreaker
from ._lease import PollerLease
from ._queue import ActivationQueue, Published
from ._sources import WorkSource
from ._types import BudgetCheck, PollerOptions, TickReport

log = structlog.get_logger(__name__)

_AGENT_CONCURRENCY = 16
_DEFINITIONS_AT_ONCE = 500  # stale agents whose definitions are fetched together (one version read)


class Poller:
    """The tick and ingest of ARCHITECTURE.md's poller function (see the module docstring).

    ``unrunnable`` says why agents of a ``type`` cannot run in this deployment (``None``:
    they can: ``shared.executors.availability``); such an agent is passed over, its
    notifications left unread and unqueued, and ``on_unrunnable`` is told once per agent
    and process (a log line and a metric, not a dead letter per mention).

    ``paused`` says whether an operator paused the agent of a name (``shared.operator.Steering``;
    ``None``: none is): such an agent's work is not queued (``paused`` in the report), its
    notifications left unread, to be queued at the first poll after it is resumed.
    """

    def __init__(
        self,
        *,
        redis: Redis,
        keys: StreamKeys,
        hub: HubClient,
        agents: AgentStore,
        breaker: CircuitBreaker,
        budget: BudgetCheck,
        settings: PollerSettings,
        options: PollerOptions | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        unrunnable: Callable[[str], str | None] | None = None,
        on_unrunnable: Callable[[AgentDefinition, str], None] | None = None,
        paused: Callable[[str], Awaitable[bool]] | None = None,
    ) -> None:
        self._options = options or PollerOptions()
        self._unrunnable = unrunnable
        self._on_unrunnable = on_unrunnable
        self._paused = paused
        self._reported: set[str] = set()
        self._redis = redis
        self._keys = keys
        self._hub = hub
        self._agents = agents
        self._breaker = breaker
        self._budget = budget
        self._settings = settings
        self._clock = clock
        self._sleep = sleep
        self.lease = PollerLease(
            redis, prefix=keys.prefix, holder=self._options.holder, ttl_s=self._options.lease_ttl_s
        )
        self.queue = ActivationQueue(
            redis,
            keys,
            lease_key=self.lease.key,
            queued_ttl_s=self._options.queued_ttl_s,
            max_notifications=self._options.max_notifications,
        )
        self._work = WorkSource(redis, prefix=keys.prefix, hub=hub, options=self._options)
        self._scripts = Scripts(redis)
        self._limit = asyncio.Semaphore(_AGENT_CONCURRENCY)

    async def tick(self, *, window_s: float) -> TickReport:
        """One scheduled tick of at most ``window_s`` seconds; publishes only while leader.

        Raises:
            StreamUnavailable: Redis failed (the lease could not be taken).
        """
        report = TickReport()
        started = self._clock()
        async with self.lease.held() as lease_value:
            if lease_value is None:
                report.leader = False
                log.info("poller.not_leader", holder=self.lease.holder)
                return report
            report.promoted = await promote_due(self._redis, self._scripts, self._keys.activation_streams)
            # Both jobs, always: which runners take which kind is each pool's RUNNER_MODE.
            await self._guarded(partial(self._discover, lease_value, report), report, what="discovery")
            deadline = started + window_s - min(self._options.tail_s, window_s / 10)
            await self._poll_loop(lease_value, deadline, report)
        log.info(
            "poller.tick",
            polled=report.polled,
            published=len(report.published),
            marked_read=report.marked_read,
            skipped=dict(report.skipped),
            long_poll=report.long_poll,
            lease_lost=report.lease_lost,
        )
        return report

    async def ingest(self, data: NotificationCreatedData) -> list[str]:
        """Queue the activation a pushed notification (or ``{agent_id}`` nudge) calls for.

        Returns the ids of the events that will answer it: the one published, or the
        agent's open activation it joined (none when the work was already queued, is
        unwanted, or the agent is over budget or its breaker is open).

        Raises:
            InvalidEvent: the notification names no agent.
            HubUnavailable, StreamUnavailable: retry later.
        """
        if not data.agent_id:
            raise InvalidEvent("data.agent_id", "a pushed notification must name its agent")
        report = TickReport()
        name = await self._work.name_of(data.agent_id)
        if name is None:
            report.skipped["unknown_agent"] += 1
            log.info("poller.ingest_unknown_agent", agent_id=data.agent_id)
            return []
        pushed = parse_notification(data.model_dump(exclude={"agent_id"})) if data.id and data.type else None
        await self._inbox(data.agent_id, name, None, report, pushed=[pushed] if pushed else None)
        return [*report.published, *report.joined]

    # -- inbox --------------------------------------------------------------------

    async def _poll_loop(self, lease_value: str, deadline: float, report: TickReport) -> None:
        first = True
        while first or self._clock() < deadline:
            first = False
            before = len(report.published)
            try:
                work = await self._work.agents_with_work(remaining_s=max(0.0, deadline - self._clock()))
            except BotburrowError as exc:
                log.warning("poller.poll_failed", error=type(exc).__name__, detail=str(exc))
                report.skipped["poll_failed"] += 1
                work = []
            report.long_poll = self._work.long_poll
            report.polled += len(work)
            await asyncio.gather(
                *(
                    self._guarded(partial(self._inbox, w.id, w.name, lease_value, report), report, what=w.id)
                    for w in work
                )
            )
            if report.lease_lost:
                return
            if len(report.published) == before or not self._work.long_poll:
                pause_s = self._options.idle_wait_s if self._work.long_poll else self._settings.poll_interval_s
                pause_s = min(pause_s, deadline - self._clock())
                if pause_s <= 0:
                    return
                await self._sleep(pause_s)

    async def _inbox(
        self,
        agent_id: str,
        name: str,
        lease_value: str | None,
        report: TickReport,
        *,
        pushed: list[Notification] | None = None,
    ) -> None:
        """Queue one activation for the agent's wanted notifications (``pushed``, else its unread inbox)."""
        definition = await self._definition(name, report)
        if definition is None or await self._is_paused(name, report):
            return
        inbox = pushed if pushed is not None else await self._hub.notifications(agent_id)
        parts = _filter.split(definition.config.behavior, inbox)
        if parts.unwanted:
            ids = [n.id for n in parts.unwanted]
            await self._hub.mark_read(agent_id, ids, idempotency_key=_filter.read_key(agent_id, ids))
            report.marked_read += len(ids)
            log.info("poller.marked_read", agent_id=agent_id, count=len(ids))
        if not parts.wanted:
            return
        if pushed is not None:
            notes = list(parts.wanted)  # the publication's script refuses one already queued anyway
        else:  # an inbox holds queued and new ones: keep the new
            fresh = set(await self.queue.unqueued([n.id for n in parts.wanted]))
            notes = [n for n in parts.wanted if n.id in fresh]
        if not notes:
            report.skipped["already_queued"] += 1
            return
        await self._queue(agent_id, name, notes, definition, lease_value, report)

    async def _queue(
        self,
        agent_id: str,
        name: str,
        notes: list[Notification],
        definition: AgentDefinition,
        lease_value: str | None,
        report: TickReport,
    ) -> None:
        """Join ``notes`` to the agent's open activation, else publish new ones (budget and breaker allowing)."""
        # Each notification takes at least one LLM call, and an activation makes at most
        # max_iterations: more in one event would only be read, fetched and released again.
        cap = min(self._options.max_notifications or len(notes), definition.config.behavior.max_iterations)
        chunks = [notes[start : start + cap] for start in range(0, len(notes), cap)]
        # Joining an activation already queued needs no budget or breaker check: it passed
        # them, and the runner checks the budget again as it starts.
        left = []
        for chunk in chunks:
            if not await self._publish_inbox(agent_id, name, chunk, lease_value, report, cap=cap, join_only=True):
                left.append(chunk)
            if report.lease_lost:
                return
        if not left or not await self._may_activate(agent_id, report):
            return
        for chunk in left:
            await self._publish_inbox(agent_id, name, chunk, lease_value, report, cap=cap)
            if report.lease_lost:
                return

    async def _publish_inbox(
        self,
        agent_id: str,
        name: str,
        notes: list[Notification],
        lease_value: str | None,
        report: TickReport,
        *,
        cap: int,
        join_only: bool = False,
    ) -> bool:
        """One inbox activation for ``notes``, or them joining the agent's open one; False: not joined."""
        now_s = self._clock()
        ids = sorted(n.id for n in notes)
        types = sorted({n.type.value for n in notes})
        priority = _filter.priority_of(notes)
        event = activation_requested(
            agent_id=agent_id,
            agent_name=name,
            kind=ActivationKind.INBOX,
            requested_at=datetime.fromtimestamp(now_s, UTC),
            notification_ids=ids,
            priority=priority,
            reason="inbox: " + ",".join(types),
            traceparent=tracing.current(),  # the webhook's or the tick's trace
        )
        result = await self.queue.publish(
            event,
            priority=priority,
            now_s=now_s,
            notification_ids=ids,
            lease_value=lease_value,
            max_notifications=cap,
            join_only=join_only,
        )
        if result.status is Published.NOT_JOINED:
            return False
        if result.status is Published.JOINED:
            report.joined.append(result.joined)
            log.info("poller.joined", event_id=result.joined, agent_id=agent_id, notifications=len(ids))
            return True
        self._count(result.status, str(event["id"]), agent_id, report)
        return True

    # -- discovery ----------------------------------------------------------------

    async def _discover(self, lease_value: str, report: TickReport) -> None:
        staleness_s = self._settings.min_activation_interval_s
        stale_agents = await self._work.stale(min_staleness_s=staleness_s)
        for first in range(0, len(stale_agents), _DEFINITIONS_AT_ONCE):
            chunk = stale_agents[first : first + _DEFINITIONS_AT_ONCE]
            # The whole fleet can be stale: its definitions in batches (one version read each),
            # most of them only to find discovery off.
            found = await self._agents.get_many([s.name for s in chunk])
            for stale, definition in zip(chunk, found, strict=True):
                await self._discover_one(stale, self._usable(stale.name, definition, report), lease_value, report)
                if report.lease_lost:
                    return

    async def _discover_one(
        self, stale: StaleAgent, definition: AgentDefinition | None, lease_value: str, report: TickReport
    ) -> None:
        """Queue a discovery turn for ``stale`` if it has discovery on and nothing holds it back."""
        if definition is None:
            return
        if not definition.config.behavior.discovery.enabled:
            report.skipped["discovery_disabled"] += 1
            return
        if await self._is_paused(stale.name, report):
            return
        # behavior.discovery.frequency: staleness (MIN_ACTIVATION_INTERVAL), hourly or daily.
        interval_s = frequency_s(definition, staleness_s=self._settings.min_activation_interval_s)
        now_s = self._clock()
        seen = [await self.queue.last_activated(stale.id)]
        if stale.last_activated_at is not None:
            seen.append(stale.last_activated_at.timestamp())
        last_s = max((s for s in seen if s is not None), default=None)
        if last_s is not None and now_s - last_s < interval_s:
            report.skipped["too_soon"] += 1
            return
        if not await self._may_activate(stale.id, report):
            return
        window_s = max(interval_s, 1.0)
        event = activation_requested(
            agent_id=stale.id,
            agent_name=stale.name,
            kind=ActivationKind.DISCOVERY,
            requested_at=datetime.fromtimestamp(now_s, UTC),
            window_start=datetime.fromtimestamp(math.floor(now_s / window_s) * window_s, UTC),
            priority=Priority.LOW,
            reason="discovery",
            traceparent=tracing.current(),  # the tick's trace
        )
        result = await self.queue.publish(
            event, priority=Priority.LOW, now_s=now_s, lease_value=lease_value, min_interval_s=interval_s
        )
        self._count(result.status, str(event["id"]), stale.id, report)

    # -- shared steps -------------------------------------------------------------

    async def _definition(self, name: str, report: TickReport) -> AgentDefinition | None:
        try:
            found: AgentDefinition | AgentNotFound | InvalidAgent = await self._agents.get(name)
        except (AgentNotFound, InvalidAgent) as exc:
            found = exc
        return self._usable(name, found, report)

    def _usable(
        self, name: str, found: AgentDefinition | AgentNotFound | InvalidAgent, report: TickReport
    ) -> AgentDefinition | None:
        """The definition the store ``found`` for ``name``, if it is one this deployment can run."""
        if isinstance(found, AgentNotFound):
            report.skipped["unknown_agent"] += 1
            log.info("poller.unknown_agent", agent=name)
            return None
        if isinstance(found, InvalidAgent):
            report.skipped["invalid_agent"] += 1
            log.warning("poller.invalid_agent", agent=name, file=found.file, field=found.field, problem=found.problem)
            return None
        why = self._unrunnable(found.config.type) if self._unrunnable is not None else None
        if why is None:
            return found
        report.skipped["executor_unavailable"] += 1
        if name not in self._reported:
            self._reported.add(name)
            log.warning("poller.executor_unavailable", agent=name, type=found.config.type, reason=why)
            if self._on_unrunnable is not None:
                self._on_unrunnable(found, why)
        return None

    async def _is_paused(self, name: str, report: TickReport) -> bool:
        if self._paused is None or not await self._paused(name):
            return False
        report.skipped["paused"] += 1
        log.info("poller.paused", agent=name)
        return True

    async def _may_activate(self, agent_id: str, report: TickReport) -> bool:
        verdict = await self._budget.check(agent_id)
        if not verdict.allowed:  # an outcome, never a breaker failure
            report.skipped["budget_refused"] += 1
            log.info("poller.budget_refused", agent_id=agent_id, reason=verdict.reason)
            return False
        if not await self._breaker.allow(agent_id):
            report.skipped["breaker_open"] += 1
            log.info("poller.breaker_open", agent_id=agent_id)
            return False
        return True

    @staticmethod
    def _count(status: Published, event_id: str, agent_id: str, report: TickReport) -> None:
        if status is Published.PUBLISHED:
            report.published.append(event_id)
            log.info("poller.published", event_id=event_id, agent_id=agent_id)
        elif status is Published.LEASE_LOST:
            report.lease_lost = True
            report.skipped["lease_lost"] += 1
            log.warning("poller.lease_lost", event_id=event_id, agent_id=agent_id)
        else:
            report.skipped[status.name.lower()] += 1

    async def _guarded(self, step: Callable[[], Awaitable[None]], report: TickReport, *, what: str) -> None:
        """Run one agent's step; its failure is logged and never stops the others.

        ``step`` makes the coroutine only once a slot is free: a tick cancelled while steps wait
        for one leaves no coroutine that was never awaited.
        """
        async with self._limit:
            try:
                await step()
            except BotburrowError as exc:
                report.skipped["error"] += 1
                log.warning("poller.step_failed", step=what, error=type(exc).__name__, detail=str(exc))
