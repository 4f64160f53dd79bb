"""One activation, end to end: the runner's handler of ``com.botburrow.activation.requested``.

1. the agent's definition (``AgentNotFound``/``InvalidAgent``: dead letter, its notifications
   released, so the poller queues them again once the definition loads);
2. the executor of its ``type`` (``shared.executors``: the built-in loop, or a coding CLI
   in the sandbox through the gateway); a type none can run here is dead-lettered with
   the reason, never retried;
3. the budget (a refusal is the outcome ``budget_exhausted``, not a failure, and never
   trips the circuit breaker);
4. the notifications the event names, and those that joined it while it waited on its
   stream (sealed now, the same on every retry), that are still unread on the Hub (a
   retry after they were handled finds none, and posts nothing); for a discovery
   activation, the discovery feed's posts the agent should answer (``shared.discovery``:
   its interests, ``min_confidence``, ``respond_to_questions/_discussions``), each as a
   notification ``discovery:<post id>`` answered by a comment on that post. Nothing to
   answer ends the activation ``nothing_to_do`` before any LLM call;
5. the executor, which posts one reply per notification, idempotently;
6. the handled notifications marked read, the others released for the poller to queue
   again, the Hub told the agent was activated;
7. a ``com.botburrow.activation.completed`` event with usage and cost, published by
   the pump with the acknowledgement.

An activation that comes too soon after the agent's last writing one
(``min_interval_seconds``) is handed back to the pump with ``RetryLater`` before any LLM
call, and runs once the interval has passed; so is one whose agent an operator paused
(``shared.operator``), every ``PAUSED_RETRY_S`` until it is resumed. One an operator
cancelled ends ``cancelled`` as it starts, or at its next step (before each LLM call, or
each notification of a coding CLI): what it answered is marked read, nothing more is
posted, nothing is released to be queued again, and the breaker counts nothing. A
transient failure on the last delivery (``MAX_DELIVERIES``: the event is dead-lettered)
releases the notifications, so the poller queues them again once the breaker allows.

Every Hub write carries ``Idempotency-Key: <event id>:<step>``, so a retried
activation lands each effect once. An attempt that fails after spending tokens still
reports them: its ``completed`` event (outcome ``failed``) is published before the
error goes back to the pump for a retry.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Any

import structlog
from cloudevents.http import CloudEvent

from shared import tracing
from shared.agents import AgentDefinition
from shared.discovery import discover
from shared.errors import AgentNotFound, InvalidAgent, InvalidEvent, StreamUnavailable, TransientError
from shared.events import (
    ACTIVATION_REQUESTED,
    ActivationKind,
    ActivationRequested,
    Usage,
    activation_completed,
    parse_data,
)
from shared.executors import Executor
from shared.hub import AgentRef, Notification
from shared.loop import LoopDeps, LoopFailed, LoopRequest, LoopResult, reply_step
from shared.operator import PAUSED_RETRY_S
from shared.streams import Outcome, RetryLater, current_delivery
from shared.transcripts import Transcript

from ._deps import ActivationDeps

log = structlog.get_logger(__name__)

INBOX_PAGE = 200
"""Unread notifications asked for per activation (the mock Hub's default page is 50)."""


@dataclass(frozen=True, slots=True)
class _Attempt:
    event: CloudEvent
    request: ActivationRequested
    attempt: int
    started: float
    notification_ids: list[str]  # the event's own and those that joined it

    @property
    def event_id(self) -> str:
        return str(self.event["id"])


async def handle_activation(event: CloudEvent, deps: ActivationDeps) -> Outcome:
    """Run the activation ``event`` asks for; the completed event is the outcome.

    Raises:
        InvalidEvent: not an activation request, or its data does not parse.
        PermanentError: the agent is unknown, invalid, or of a type no executor here runs
            (``ExecutorUnavailable``).
        TransientError: the Hub, the LLM or Redis failed; the pump retries.
    """
    if event["type"] != ACTIVATION_REQUESTED:
        raise InvalidEvent("type", f"the runner handles {ACTIVATION_REQUESTED}, not {event['type']!r}")
    delivery = current_delivery()
    started = time.perf_counter()
    request = parse_data(event, ActivationRequested)
    try:
        agent = await deps.agents.get(request.agent_name)
    except (AgentNotFound, InvalidAgent):
        await _give_back(request, str(event["id"]), deps)
        raise
    executor = deps.executors.for_type(agent.config.type)
    joined: list[str] = []
    if request.kind is ActivationKind.INBOX:
        joined = await deps.seal(agent_id=request.agent_id, priority=request.priority, event_id=str(event["id"]))
    run = _Attempt(
        event=event,
        request=request,
        attempt=delivery.deliveries if delivery else 1,
        started=started,
        notification_ids=sorted({*request.notification_ids, *joined}),
    )
    transcript = None
    if deps.transcripts is not None:
        transcript = deps.transcripts.open(
            activation_id=run.event_id, attempt=run.attempt, agent=agent.name, kind=request.kind.value
        )
    try:
        events = await _attempt(run, agent, executor, deps, transcript)
    except BaseException as exc:
        _end(transcript, outcome=_why_not(exc), error=str(exc) or type(exc).__name__)
        if isinstance(exc, TransientError) and run.attempt >= deps.max_deliveries:
            # Dead-lettered now (a Hub or LLM outage outlasted the retries): the poller may
            # queue the notifications again at its next tick, once the breaker lets it.
            await _give_back(request, run.event_id, deps)
        raise
    else:
        _end(transcript, **(events[0].get_data() or {}))
        return events
    finally:
        await _flush(transcript)


async def _attempt(
    run: _Attempt, agent: AgentDefinition, executor: Executor, deps: ActivationDeps, transcript: Transcript | None
) -> list[CloudEvent]:
    request = run.request
    if await _cancelled_before_start(run, deps):
        return [_completed(run, outcome="cancelled", error="cancelled by an operator")]
    verdict = await deps.budget.check(request.agent_id)
    if not verdict.allowed:
        log.info("activation.budget_refused", agent_id=request.agent_id, reason=verdict.reason)
        await deps.requeue(run.notification_ids)  # answered once the budget allows, not in 30 min
        return [_completed(run, outcome="budget_exhausted", error=verdict.reason)]
    reasons: dict[str, str] = {}
    if request.kind is ActivationKind.DISCOVERY:
        found = await discover(deps.hub, agent, me=request.agent_name)
        notifications = [c.notification for c in found]
        reasons = {c.notification.id: c.why() for c in found}
    else:
        notifications = await _still_unread(run, deps)
    if not notifications:  # no LLM call: nothing unread, or nothing in the feed worth answering
        await deps.hub.mark_activated(request.agent_name, idempotency_key=f"{run.event_id}:activated")
        return [_completed(run, outcome="nothing_to_do")]
    # Too soon after the agent's last writing activation: wait, rather than pay the model for
    # answers every write of which would be refused (and then do it all again).
    wait_s = await deps.limits.wait_s(
        agent_id=agent.name, limits=agent.config.behavior.limits, activation_id=run.event_id
    )
    if wait_s > 0:
        raise RetryLater(wait_s, reason=f"min_interval_seconds: the agent may write again in {wait_s:.1f}s")
    try:
        result = await _execute(run, agent, executor, notifications, reasons, deps, transcript)
    except asyncio.CancelledError:
        raise  # lease lost or shutdown: not the agent's failure
    except Exception as exc:
        await _record_health(deps, request.agent_id, ok=False)
        if isinstance(exc, LoopFailed) and exc.usage_spent:
            await deps.report_failed(_completed(run, outcome="failed", error=str(exc.cause), spent=exc))
            raise exc.cause from exc
        raise
    cancelled = result.outcome == "cancelled"
    if request.kind is ActivationKind.INBOX:  # a discovery's notifications are feed posts, not the Hub's
        await deps.hub.mark_read(request.agent_name, result.handled, idempotency_key=f"{run.event_id}:read")
        left = [n.id for n in notifications if n.id not in set(result.handled)]
        if left and not cancelled:  # a cap or a minimum interval stopped the loop: the next poll queues them again
            await _release(deps, left)
    await deps.hub.mark_activated(request.agent_name, idempotency_key=f"{run.event_id}:activated")
    if not cancelled:  # an operator's stop says nothing of the agent's health
        await _record_health(deps, request.agent_id, ok=True)
    return [_completed(run, outcome=result.outcome, spent=result)]


# Bookkeeping after the executor has run: the replies are posted and the tokens spent.
# A Redis failure here must not raise, or the completed event (the usage the Hub is to
# be told of) is dropped, and the retry finds the notifications read: ``nothing_to_do``.


async def _record_health(deps: ActivationDeps, agent_id: str, *, ok: bool) -> None:
    """Tell the circuit breaker how the run went; a Redis failure only costs that one record."""
    try:
        await deps.breaker.record(agent_id, ok=ok)
    except StreamUnavailable as exc:
        log.warning("activation.breaker_unrecorded", agent_id=agent_id, ok=ok, error=str(exc))


async def _release(deps: ActivationDeps, notification_ids: list[str]) -> None:
    """Let the poller queue ``notification_ids`` again; if Redis fails, their markers expire instead."""
    try:
        await deps.requeue(notification_ids)
    except StreamUnavailable as exc:
        log.warning("activation.release_failed", notifications=len(notification_ids), error=str(exc))


async def _give_back(request: ActivationRequested, event_id: str, deps: ActivationDeps) -> None:
    """An inbox activation about to be dead-lettered: close it and release its notifications.

    Its agent has no usable definition, or an outage outlasted every delivery; its
    notifications stay unread on the Hub. Without this their queued markers (and the open
    activation new ones join) would keep them from the poller for ``queued_ttl_s`` (30
    minutes); with it the poller queues them at its first tick where the agent loads (it
    skips an invalid one at every tick) and its breaker allows.
    """
    if request.kind is not ActivationKind.INBOX:
        return
    try:
        joined = await deps.seal(agent_id=request.agent_id, priority=request.priority, event_id=event_id)
    except StreamUnavailable as exc:
        log.warning("activation.seal_failed", event_id=event_id, error=str(exc))
        joined = []
    await _release(deps, sorted({*request.notification_ids, *joined}))


async def _cancelled_before_start(run: _Attempt, deps: ActivationDeps) -> bool:
    """Whether an operator cancelled the activation; ``RetryLater`` when its agent is paused."""
    if deps.steering is None:
        return False
    if await deps.steering.is_cancelled(run.event_id):
        log.info("activation.cancelled", event_id=run.event_id, agent_id=run.request.agent_id)
        return True
    if await deps.steering.is_paused(run.request.agent_name):
        raise RetryLater(PAUSED_RETRY_S, reason="paused by an operator")
    return False


async def _still_unread(run: _Attempt, deps: ActivationDeps) -> list[Notification]:
    """The event's notifications that the Hub still lists as unread, in the Hub's order.

    One page of the inbox is read. A wanted notification not on it was read already, or
    is beyond the page (behind older unread ones of other activations). One that an
    earlier attempt answered is marked read now; the rest are released, so the poller
    queues them again if they are still unread.
    """
    if run.request.kind is not ActivationKind.INBOX:
        return []
    wanted = set(run.notification_ids)
    found = await deps.hub.notifications(run.request.agent_name, limit=INBOX_PAGE, only=wanted)
    unseen = sorted(wanted - {n.id for n in found})
    if unseen:
        log.info("activation.notifications_not_listed", event_id=run.event_id, count=len(unseen))
        done = await deps.ledger.done_among(run.event_id, [reply_step(n) for n in unseen])
        answered = [n for n in unseen if reply_step(n) in done]
        if answered:
            await deps.hub.mark_read(run.request.agent_name, answered, idempotency_key=f"{run.event_id}:read-unlisted")
        await deps.requeue([n for n in unseen if n not in answered])
    return found


async def _execute(
    run: _Attempt,
    agent: AgentDefinition,
    executor: Executor,
    notifications: list[Notification],
    reasons: dict[str, str],
    deps: ActivationDeps,
    transcript: Transcript | None,
) -> LoopResult:
    request = run.request
    loop_request = LoopRequest(
        agent=agent,
        agent_ref=AgentRef(id=request.agent_id, name=request.agent_name),
        activation_id=run.event_id,
        kind=request.kind,
        notifications=notifications,
        reasons=reasons,
        deadline=deps.clock() + deps.settings.activation_timeout_s,
        cost_cap_usd=Decimal(str(deps.settings.max_cost_usd)),
    )
    loop_deps = LoopDeps(
        llm=deps.providers.for_brain(agent.config.brain),
        hub=deps.hub,
        limits=deps.limits,
        ledger=deps.ledger,
        clock=deps.clock,
        sandboxes=deps.sandboxes,
        spending=deps.spending,
        transcript=transcript,
        mcp=deps.mcp,
        cancelled=partial(deps.steering.is_cancelled, run.event_id) if deps.steering is not None else None,
    )
    return await executor.run(loop_request, loop_deps)


def _why_not(exc: BaseException) -> str:
    """The ``end`` of an attempt that raised: handed back, cancelled, or failed."""
    if isinstance(exc, RetryLater):
        return "deferred"
    if isinstance(exc, asyncio.CancelledError):
        return "cancelled"
    return "failed"


def _end(transcript: Transcript | None, **data: Any) -> None:
    if transcript is None:
        return
    usage = data.get("usage") or {}
    transcript.add(
        "end",
        outcome=data.get("outcome"),
        error=data.get("error"),
        calls=sum(1 for e in transcript.entries if e["kind"] == "llm_response"),
        cost_usd=str(usage.get("cost_usd", 0)),
        usage={
            "input_tokens": usage.get("input_tokens", 0),
            "output_tokens": usage.get("output_tokens", 0),
            "cache_write_tokens": usage.get("cache_creation_input_tokens", 0),
            "cache_read_tokens": usage.get("cache_read_input_tokens", 0),
        },
    )


async def _flush(transcript: Transcript | None) -> None:
    if transcript is None:
        return
    try:
        await transcript.flush()
    except StreamUnavailable as exc:
        log.warning("activation.transcript_unwritten", error=str(exc))


def _completed(
    run: _Attempt, *, outcome: str, error: str | None = None, spent: LoopResult | LoopFailed | None = None
) -> CloudEvent:
    usage = None
    posts: list[str] = []
    comments: list[str] = []
    if spent is not None:
        u = spent.usage
        usage = Usage(
            model=spent.model or None,
            input_tokens=u.input_tokens,
            output_tokens=u.output_tokens,
            cache_creation_input_tokens=u.cache_write_tokens,
            cache_read_input_tokens=u.cache_read_tokens,
            cost_usd=float(spent.cost_usd),
        )
        posts, comments = list(spent.posts), [*spent.comments, *spent.dms]
    return activation_completed(
        activation_id=run.event_id,
        agent_id=run.request.agent_id,
        attempt=run.attempt,
        outcome=outcome,
        duration_ms=round((time.perf_counter() - run.started) * 1000),
        finished_at=datetime.now(UTC),
        usage=usage,
        posts=posts,
        comments=comments,
        error=error,
        traceparent=tracing.current() or run.event.get("traceparent"),
    )
