"""``run_native``: the built-in agent loop, its limits checked before every model call.

::

    skip notifications already answered (done-markers) ─► context (system, threads)
      └─► per notification, up to ``max_conversations`` at once:
            deadline? max_iterations? cost cap? ─► LLM ─► tool calls ─► results ─┐
            ▲────────────────────────────────────────────────────────────────────┘
          └─► final text: NO_RESPONSE posts nothing; else the reply to that notification

The caps are the activation's, shared by its conversations: a call counts against
``max_iterations`` and, at its worst case, against the cost cap from the moment it
starts, so conversations running side by side can never overshoot either together.
Each conversation names its own tool writes (``<notification id>:comment:1``), so a
retried activation writes the same keys whatever order its conversations ran in.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from functools import partial

import structlog

from shared.accounting import COST_CAP, Admission, CallBudget, Refused
from shared.hub import Notification
from shared.llm import Message, Usage, cost_usd, spent_by
from shared.sandbox import Sandbox, WorkspaceTools
from shared.tools import Toolbox, ToolSet
from shared.transcripts import Transcript

from . import _record as record
from ._answer import already_answered, fetch_threads, hub_tools, post_final
from ._prompt import system_prompt, user_message
from ._types import LoopDeps, LoopFailed, LoopRequest, LoopResult, Outcome

log = structlog.get_logger(__name__)

_CHARS_PER_TOKEN = 4


@dataclass
class _State:
    """The activation's calls, shared by its conversations.

    Its budget (spend, tokens, calls answered) and the iterations taken by calls in flight.
    """

    budget: CallBudget
    transcript: Transcript | None = None
    calls_in_flight: int = 0
    briefed: bool = False  # the system prompt and tools are in the transcript

    @property
    def steps(self) -> int:
        """LLM calls answered."""
        return self.budget.calls

    @property
    def model(self) -> str:
        return self.budget.model


class _Tools:
    """The activation's tools: the Hub's, and the workspace's when it has a sandbox source, in one toolbox."""

    def __init__(self, request: LoopRequest, deps: LoopDeps) -> None:
        transcript = deps.transcript
        self.hub = hub_tools(request, deps)
        families: list[ToolSet] = [self.hub]
        self._opened: list[Sandbox] = []
        self._deps = deps
        if deps.sandboxes is not None:
            sandboxes, config = deps.sandboxes, request.agent.config

            async def open_sandbox() -> Sandbox:
                sandbox = await sandboxes.acquire(config)
                self._opened.append(sandbox)
                return sandbox

            workspace = WorkspaceTools(config.capabilities, open_sandbox, max_output_chars=deps.max_tool_output_chars)
            if workspace.names:
                families.append(workspace)
        self._families = families
        self._stack = AsyncExitStack()
        self._observer = None if transcript is None else partial(record.tool, transcript)
        self.box = Toolbox(families, max_output_chars=deps.max_tool_output_chars, observer=self._observer)

    async def start_mcp(self, request: LoopRequest) -> None:
        """Start the agent's MCP servers (``deps.mcp``); their tools join the toolbox."""
        deps = self._deps
        if deps.mcp is None or not request.agent.config.capabilities.mcp_servers:
            return
        transcript = deps.transcript

        def note(text: str) -> None:
            record.note(transcript, text)

        families = await self._stack.enter_async_context(deps.mcp.open(request.agent, note=note))
        self._families.extend(families)
        self.box = Toolbox(self._families, max_output_chars=deps.max_tool_output_chars, observer=self._observer)

    async def aclose(self) -> None:
        """Stop the MCP servers, and destroy the activation's sandbox if a tool started one."""
        try:
            await self._stack.aclose()
        finally:
            if self._deps.sandboxes is not None:
                for sandbox in self._opened:
                    await self._deps.sandboxes.release(sandbox)
            self._opened.clear()


@dataclass
class _Conversation:
    """One notification's exchange with the model (a discovered post's, for discovery)."""

    scope: str  # names its tool writes: the notification id
    messages: list[Message]
    last_context_tokens: int = 0  # what its last call's conversation and answer came to, in tokens
    recorded: int = 0  # its messages already in the transcript
    calls: int = 0


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
    done = await already_answered(request, deps)
    pending = [n for n in request.notifications if n.id not in done]
    if request.notifications and not pending:
        log.info("loop.already_answered", activation_id=request.activation_id, handled=len(done))
        return LoopResult(outcome="replied", model=brain.model, handled=list(done))
    if not pending:  # nothing to answer: no tools started, no LLM call
        return LoopResult(outcome="no_response", model=brain.model)
    toolbox = _Tools(request, deps)
    tools = toolbox.hub
    threads = await fetch_threads(request, pending, deps)
    system = system_prompt(request, threads)
    agent_id = request.agent_ref.id or request.agent.name
    budget = deps.spending.for_activation(agent_id=agent_id, cost_cap_usd=request.cost_cap_usd)
    state = _State(budget=budget, transcript=deps.transcript)
    state.budget.model = brain.model
    max_tokens = brain.max_tokens or deps.default_max_tokens
    handled: dict[str, None] = dict.fromkeys(done)  # an ordered set: conversations add to it side by side
    room = asyncio.Semaphore(max(1, deps.max_conversations))

    async def converse(batch: list[Notification]) -> Outcome | None:
        async with room:
            if batch and tools.taken(batch[0].id):
                return None  # answered by a tool of another conversation
            text = user_message(batch, threads, max_thread_chars=deps.max_thread_chars, reasons=request.reasons)
            talk = _Conversation(scope=batch[0].id if batch else "", messages=[Message.user(text)])
            stopped, final = await _iterate(request, deps, state, talk, toolbox, system, max_tokens)
            handled.update(dict.fromkeys(tools.answered))
            if stopped is not None:
                return stopped
            return await post_final(request, tools, batch, final, handled, deps)

    try:
        await toolbox.start_mcp(request)
        # One conversation per notification (one reply each), under the activation's caps; a
        # discovery activation's notifications are the feed posts it chose (``LoopRequest.reasons``).
        # Nothing to answer is no conversation at all: no LLM call.
        results = await asyncio.gather(*(converse([n]) for n in pending), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise failures[0]  # the others finished first: what they spent and wrote is counted
        outcome = _overall([r for r in results if isinstance(r, str)])
    except Exception as exc:
        if state.steps == 0:
            raise
        # Tokens were spent: the caller must still be able to account them.
        raise LoopFailed(
            exc,
            usage=state.budget.usage,
            cost_usd=state.budget.spent_usd,
            model=state.model,
            steps=state.steps,
            posts=tools.posts,
            comments=tools.comments,
            dms=tools.dms,
        ) from exc
    finally:
        await toolbox.aclose()
        await record.flush(state.transcript)
    log.info(
        "loop.finished",
        activation_id=request.activation_id,
        outcome=outcome,
        steps=state.steps,
        handled=len(handled),
        cost_usd=str(state.budget.spent_usd),
    )
    return LoopResult(
        outcome=outcome,
        posts=tools.posts,
        comments=tools.comments,
        dms=tools.dms,
        usage=state.budget.usage,
        cost_usd=state.budget.spent_usd,
        model=state.model,
        steps=state.steps,
        handled=list(handled),
        refusals=[r.reason for r in tools.refusals],
    )


async def _iterate(
    request: LoopRequest,
    deps: LoopDeps,
    state: _State,
    talk: _Conversation,
    tools: _Tools,
    system: str,
    max_tokens: int,
) -> tuple[Outcome | None, str]:
    """Call the model and run its tools until it answers or a limit stops it: (stopped, final text)."""
    brain = request.agent.config.brain
    specs = tools.box.specs()
    while True:
        stopped, admission = await _admit(request, deps, state, talk, system, max_tokens)
        if admission is None:
            return stopped, ""
        talk.calls += 1
        state.briefed = record.request(state.transcript, talk, brain.model, system, specs, max_tokens, state.briefed)
        started = time.perf_counter()
        try:
            completion = await deps.llm.complete(
                model=brain.model,
                system=system,
                messages=talk.messages,
                tools=specs,
                max_tokens=max_tokens,
                temperature=brain.temperature,
            )
        except BaseException as exc:
            partial = spent_by(exc)
            if partial.total_tokens:  # a stream cut mid-answer was billed: it counts as a call that spent
                await state.budget.settle(admission, model=brain.model, usage=partial)
            else:
                state.budget.release(admission)
            raise
        finally:
            state.calls_in_flight -= 1
        model = completion.model or brain.model
        cost = await state.budget.settle(admission, model=model, usage=completion.usage)
        talk.last_context_tokens = completion.usage.total_tokens
        talk.messages.append(completion.as_message())
        talk.recorded = len(talk.messages)
        record.response(state.transcript, talk.scope, talk.calls, model, completion, cost, started)
        if not completion.tool_calls:
            return None, completion.text
        results = [await tools.box.run(call, scope=talk.scope) for call in completion.tool_calls]
        talk.messages.append(Message("user", tuple(results)))
        await record.flush(state.transcript)


def _overall(outcomes: list[Outcome]) -> Outcome:
    """The activation's outcome: ``cancelled``, else ``replied`` if any was answered, else the last word."""
    if "cancelled" in outcomes:
        return "cancelled"
    if "replied" in outcomes:
        return "replied"
    return outcomes[-1] if outcomes else "no_response"


async def _admit(
    request: LoopRequest, deps: LoopDeps, state: _State, talk: _Conversation, system: str, max_tokens: int
) -> tuple[Outcome | None, Admission | None]:
    """Whether the next LLM call may start: its admission, or why not.

    Refused when an operator cancelled the activation, at the deadline, the iteration cap,
    the activation's cost cap, or by the agent's daily or monthly budget. An admitted call
    holds an iteration (``calls_in_flight``, which the caller gives back) and its worst-case
    cost in the budget until it settles.
    """
    if deps.cancelled is not None and await deps.cancelled():
        log.info("loop.cancelled", activation_id=request.activation_id)
        return "cancelled", None
    if deps.clock() >= request.deadline:
        return "deadline", None
    if state.steps + state.calls_in_flight >= request.agent.config.behavior.max_iterations:
        return "max_iterations", None
    # The next call at its worst: the conversation as input at the full rate (at least what the last
    # call's input and answer came to, plus the tool results since), and max_tokens of output.
    chars = len(system) + sum(len(repr(m.parts)) for m in talk.messages)
    since = len(repr(talk.messages[-1].parts)) if len(talk.messages) > 1 else 0
    estimate = max(chars // _CHARS_PER_TOKEN, talk.last_context_tokens + since // _CHARS_PER_TOKEN) + 1
    worst = cost_usd(state.model, Usage(input_tokens=estimate, output_tokens=max_tokens)).usd
    state.calls_in_flight += 1  # held while the budget is asked, so side-by-side calls cannot pass the cap
    try:
        admitted = await state.budget.admit(worst_usd=worst)
    except BaseException:
        state.calls_in_flight -= 1
        raise
    if isinstance(admitted, Refused):
        state.calls_in_flight -= 1
        log.info("loop.call_refused", activation_id=request.activation_id, reason=admitted.reason)
        record.refused(state.transcript, talk.scope, admitted)
        return ("cost_cap" if admitted.reason == COST_CAP else "budget_exhausted"), None
    return None, admitted
