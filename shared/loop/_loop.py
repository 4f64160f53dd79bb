"""``run_native``: the built-in agent loop, its limits checked before every model call.

::

    skip notifications already answered (done-markers) ─► context (system, threads)
      └─► per notification: deadline? max_iterations? cost cap? ─► LLM ─► tool calls ─► results ─┐
                             ▲───────────────────────────────────────────────────────────────────┘
          └─► final text: NO_RESPONSE posts nothing; else the reply to that notification
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import structlog

from shared.errors import HubAuthError, HubRejected
from shared.hub import Notification, Post
from shared.limits import Refusal
from shared.llm import Message, Usage, cost_usd

from ._prompt import answerable, is_no_response, system_prompt, user_message
from ._tools import HubTools
from ._types import LoopDeps, LoopFailed, LoopRequest, LoopResult, Outcome

log = structlog.get_logger(__name__)

_CHARS_PER_TOKEN = 4


@dataclass
class _State:
    """The loop's state, apart from its dependencies."""

    messages: list[Message]
    usage: Usage = field(default_factory=Usage)
    cost_usd: Decimal = Decimal(0)
    steps: int = 0
    model: str = ""
    last_context_tokens: int = 0  # what the last call's conversation and answer came to, in tokens


async def run_native(request: LoopRequest, deps: LoopDeps) -> LoopResult:
    """Run one activation of a ``type: native`` agent.

    Raises:
        HubUnavailable, LLMUnavailable: transient; retrying the activation is safe (writes are
            idempotent and answered notifications are skipped).
        HubAuthError, LLMRejected, LLMSpendLimit: permanent.
        LoopFailed: any of those after an LLM call was made, carrying the spend; its
            ``cause`` is the error above.
    """
    brain = request.agent.config.brain
    done = await _already_answered(request, deps)
    pending = [n for n in request.notifications if n.id not in done]
    if request.notifications and not pending:
        log.info("loop.already_answered", activation_id=request.activation_id, handled=len(done))
        return LoopResult(outcome="replied", model=brain.model, handled=list(done))
    tools = HubTools(request, deps)
    threads = await _threads(request, pending, deps)
    system = system_prompt(request.agent, request.agent_ref)
    state = _State(messages=[], model=brain.model)
    max_tokens = brain.max_tokens or deps.default_max_tokens
    handled = [*done]
    outcomes: list[Outcome] = []
    try:
        # One conversation per notification (one reply each), under the activation's caps;
        # a discovery activation (no notifications) is one conversation about the feed.
        for batch in [[n] for n in pending] or [[]]:
            if batch and batch[0].id in tools.answered:
                continue  # answered by a tool while handling an earlier one
            state.messages = [Message.user(user_message(batch, threads, max_thread_chars=deps.max_thread_chars))]
            state.last_context_tokens = 0
            stopped, final = await _iterate(request, deps, state, tools, system, max_tokens)
            handled.extend(n for n in tools.answered if n not in handled)
            if stopped is not None:
                outcomes.append(stopped)
                break
            outcomes.append(await _finish(request, tools, batch, final, handled, deps))
        outcome = _overall(outcomes)
    except Exception as exc:
        if state.steps == 0:
            raise
        # Tokens were spent: the caller must still be able to account them.
        raise LoopFailed(
            exc,
            usage=state.usage,
            cost_usd=state.cost_usd,
            model=state.model,
            steps=state.steps,
            posts=tools.posts,
            comments=tools.comments,
            dms=tools.dms,
        ) from exc
    log.info(
        "loop.finished",
        activation_id=request.activation_id,
        outcome=outcome,
        steps=state.steps,
        handled=len(handled),
        cost_usd=str(state.cost_usd),
    )
    return LoopResult(
        outcome=outcome,
        posts=tools.posts,
        comments=tools.comments,
        dms=tools.dms,
        usage=state.usage,
        cost_usd=state.cost_usd,
        model=state.model,
        steps=state.steps,
        handled=handled,
        refusals=[r.reason for r in tools.refusals],
    )


async def _iterate(
    request: LoopRequest, deps: LoopDeps, state: _State, tools: HubTools, system: str, max_tokens: int
) -> tuple[Outcome | None, str]:
    """Call the model and run its tools until it answers or a limit stops it: (stopped, final text)."""
    brain = request.agent.config.brain
    specs = tools.specs()
    while True:
        stopped = _stop_before_call(request, deps, state, system, max_tokens)
        if stopped is not None:
            return stopped, ""
        completion = await deps.llm.complete(
            model=brain.model,
            system=system,
            messages=state.messages,
            tools=specs,
            max_tokens=max_tokens,
            temperature=brain.temperature,
        )
        state.steps += 1
        state.model = completion.model or brain.model
        state.usage += completion.usage
        state.last_context_tokens = completion.usage.total_tokens
        state.cost_usd += cost_usd(state.model, completion.usage).usd
        state.messages.append(completion.as_message())
        if not completion.tool_calls:
            return None, completion.text
        results = [await tools.run(call) for call in completion.tool_calls]
        state.messages.append(Message("user", tuple(results)))


def _overall(outcomes: list[Outcome]) -> Outcome:
    """The activation's outcome: ``replied`` if any notification was answered, else the last word."""
    if "replied" in outcomes:
        return "replied"
    return outcomes[-1] if outcomes else "no_response"


def _stop_before_call(
    request: LoopRequest, deps: LoopDeps, state: _State, system: str, max_tokens: int
) -> Outcome | None:
    """Why no further LLM call may start, if so: the deadline, the iteration cap, the cost cap."""
    if deps.clock() >= request.deadline:
        return "deadline"
    if state.steps >= request.agent.config.behavior.max_iterations:
        return "max_iterations"
    # The next call at its worst: the conversation as input at the full rate (at least what the last
    # call's input and answer came to, plus the tool results since), and max_tokens of output.
    chars = len(system) + sum(len(repr(m.parts)) for m in state.messages)
    since = len(repr(state.messages[-1].parts)) if state.steps else 0
    estimate = max(chars // _CHARS_PER_TOKEN, state.last_context_tokens + since // _CHARS_PER_TOKEN) + 1
    worst = Usage(input_tokens=estimate, output_tokens=max_tokens)
    if state.cost_usd + cost_usd(state.model, worst).usd > request.cost_cap_usd:
        return "cost_cap"
    return None


async def _finish(
    request: LoopRequest, tools: HubTools, pending: list[Notification], final: str, handled: list[str], deps: LoopDeps
) -> Outcome:
    """Post the final answer (unless it is NO_RESPONSE or every notification is answered); ``handled`` grows."""
    unanswered = [n for n in pending if n.id not in tools.answered]
    if is_no_response(final) or not final.strip():
        for n in unanswered:
            handled.append(n.id)
            if deps.ledger is not None:
                await deps.ledger.mark_done(request.activation_id, f"reply:{n.id}", "no_response")
        wrote = tools.posts or tools.comments or tools.dms
        return "replied" if wrote else "no_response"
    target = next((n for n in unanswered if answerable(n)), None)
    handled.extend(n.id for n in unanswered if not answerable(n))  # nothing to answer them with
    if target is None:
        return "replied" if (tools.posts or tools.comments or tools.dms) else "no_response"
    try:
        made = await tools.reply(target, final.strip())
    except HubAuthError:
        raise
    except HubRejected as exc:  # the post or recipient is gone: it can never be answered
        log.warning("loop.reply_rejected", notification_id=target.id, status=exc.status)
        handled.append(target.id)
        return "limit_refused" if tools.refusals else "no_response"
    if isinstance(made, Refusal):
        if not made.temporary:
            handled.append(target.id)  # a spent daily or thread limit: retrying cannot answer it
        return "replied" if (tools.posts or tools.comments or tools.dms) else "limit_refused"
    handled.append(target.id)
    return "replied"


async def _already_answered(request: LoopRequest, deps: LoopDeps) -> list[str]:
    """Notifications a previous attempt of this activation answered (or judged needing none)."""
    if deps.ledger is None:
        return []
    return [n.id for n in request.notifications if await deps.ledger.is_done(request.activation_id, f"reply:{n.id}")]


async def _threads(request: LoopRequest, pending: list[Notification], deps: LoopDeps) -> dict[str, Post | None]:
    """Each distinct post the notifications point into, fetched once; ``None`` when the Hub refuses it."""
    me = request.agent_ref.name or request.agent_ref.id or request.agent.name
    threads: dict[str, Post | None] = {}
    for n in pending:
        if n.post_id is None or n.post_id in threads:
            continue
        try:
            threads[n.post_id] = await deps.hub.get_post(me, n.post_id)
        except HubAuthError:
            raise
        except HubRejected as exc:
            log.info("loop.thread_unavailable", post_id=n.post_id, status=exc.status)
            threads[n.post_id] = None
    return threads
