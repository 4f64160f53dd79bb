"""``CliExecutor``: one activation of a coding-CLI agent, its CLI run in the sandbox through the gateway.

::

    skip notifications already answered (done-markers) ─► threads, system prompt
      └─► the activation's budget, Hub tools and MCP servers ─► a gateway lease (its token)
          └─► one sandbox: no network, no credential, the CLIs and the gateway's socket mounted
              └─► per notification: the CLI (forwarder ─► gateway), under the activation's deadline
                    ├─ answered through mcp__hub__reply: nothing more to post
                    ├─ its final text: posted as the reply (same key and done-marker as native)
                    └─ max turns, budget, refused by the gateway: the outcome; errors raise
      └─► lease revoked, sandbox destroyed, MCP servers stopped

What is billed is what the gateway metered (the lease's ``CallBudget``); the CLI's own
figure goes into the transcript, and a disagreement beyond rounding is logged.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from decimal import Decimal
from typing import Any

import structlog

from shared.accounting import COST_CAP, CallBudget
from shared.errors import LLMUnavailable, PermanentError
from shared.gateway import Lease, route_tools
from shared.hub import Notification, Post
from shared.loop import (
    LoopDeps,
    LoopFailed,
    LoopRequest,
    LoopResult,
    Outcome,
    already_answered,
    fetch_threads,
    hub_tools,
    post_final,
    system_prompt,
    user_message,
)
from shared.sandbox import ExecResult, Sandbox
from shared.tools import HubTools, ToolSet

from ._host import CliHost
from ._types import CliJob, CliReport, CliSpec
from ._workspace import CONFIG_DIR, HOME, forwarded, setup_archive

log = structlog.get_logger(__name__)

_STOPS: frozenset[Outcome] = frozenset({"max_iterations", "deadline", "cost_cap", "budget_exhausted", "cancelled"})
ROUNDING_USD = Decimal("0.000001")
"""A CLI's own cost and the gateway's may differ by this much, 1%, or half the last digit the CLI printed."""


class CliFailed(PermanentError):
    """The CLI ran and did not answer: it exited non-zero, printed what cannot be read, or hung."""


class CliExecutor:
    """Runs the activations of one coding CLI's agents (``spec.name``)."""

    def __init__(self, spec: CliSpec, host: CliHost) -> None:
        self.spec = spec
        self._host = host

    @property
    def name(self) -> str:
        return self.spec.name

    def unavailable(self) -> str | None:
        return self._host.unavailable(self.spec)

    async def run(self, request: LoopRequest, deps: LoopDeps) -> LoopResult:
        """One activation; see the module's diagram.

        Raises:
            LLMUnavailable: the CLI's LLM calls kept failing (transient; the pump retries).
            CliFailed: the CLI exited non-zero, printed malformed output, or ran past the deadline.
            SandboxUnavailable: no sandbox could be started.
            LoopFailed: any of those once an LLM call was made, carrying the spend.
        """
        brain = request.agent.config.brain
        done = await already_answered(request, deps)
        pending = [n for n in request.notifications if n.id not in done]
        if request.notifications and not pending:
            log.info("cli.already_answered", activation_id=request.activation_id, handled=len(done))
            return LoopResult(outcome="replied", model=brain.model, handled=list(done))
        if not pending:  # nothing to answer: no sandbox, no CLI, no LLM call
            return LoopResult(outcome="no_response", model=brain.model)
        hub = hub_tools(request, deps)
        threads = await fetch_threads(request, pending, deps)
        budget = deps.spending.for_activation(
            agent_id=request.agent_ref.id or request.agent.name, cost_cap_usd=request.cost_cap_usd
        )
        budget.model = brain.model
        run = _Run(self.spec, self._host, request, deps, hub, threads, budget)
        try:
            outcome = await run.all(pending)
        except Exception as exc:
            if budget.calls == 0:
                raise
            raise LoopFailed(
                exc,
                usage=budget.usage,
                cost_usd=budget.spent_usd,
                model=budget.model,
                steps=budget.calls,
                posts=hub.posts,
                comments=hub.comments,
                dms=hub.dms,
            ) from exc
        log.info(
            "cli.finished",
            executor=self.spec.name,
            activation_id=request.activation_id,
            outcome=outcome,
            calls=budget.calls,
            handled=len(run.handled),
            cost_usd=str(budget.spent_usd),
        )
        return LoopResult(
            outcome=outcome,
            posts=hub.posts,
            comments=hub.comments,
            dms=hub.dms,
            usage=budget.usage,
            cost_usd=budget.spent_usd,
            model=budget.model,
            steps=budget.calls,
            handled=[*done, *(n for n in run.handled if n not in done)],
            refusals=[r.reason for r in hub.refusals],
        )


class _Run:
    """One activation's CLI runs: its lease, its sandbox, one run per notification."""

    def __init__(
        self,
        spec: CliSpec,
        host: CliHost,
        request: LoopRequest,
        deps: LoopDeps,
        hub: HubTools,
        threads: dict[str, Post | None],
        budget: CallBudget,
    ) -> None:
        self.spec, self.host, self.request, self.deps = spec, host, request, deps
        self.hub, self.threads, self.budget = hub, threads, budget
        self.handled: dict[str, None] = {}
        self.system = system_prompt(request, threads)

    async def all(self, pending: list[Notification]) -> Outcome:
        request, deps = self.request, self.deps
        async with AsyncExitStack() as stack:
            routes: dict[str, ToolSet] = {}
            if self.spec.supports_mcp:
                routes["hub"] = self.hub
                if deps.mcp is not None and request.agent.config.capabilities.mcp_servers:
                    opened = await stack.enter_async_context(deps.mcp.open(request.agent, note=self._note))
                    routes.update((family.server, family) for family in opened)
            elif request.agent.config.capabilities.mcp_servers:
                self._note(f"{self.spec.name} cannot use MCP servers: {request.agent.config.capabilities.mcp_servers}")
            brain = request.agent.config.brain
            api = self.spec.api_for(brain.provider)
            lease = self.host.gateway.leases.issue(
                agent=request.agent.name,
                activation_id=request.activation_id,
                budget=self.budget,
                upstreams={api: self.host.upstream(brain, api)},
                tools=routes,
                transcript=deps.transcript,
                ttl_s=max(60.0, request.deadline - deps.clock() + 60.0),
                refusal_status=self.spec.refusal_status,
            )
            stack.callback(self.host.gateway.leases.revoke, lease.token)
            sandbox = await self.host.start(timeout_s=max(1.0, request.deadline - deps.clock()))
            stack.push_async_callback(sandbox.close)
            outcomes: list[Outcome] = []
            for batch in [[n] for n in pending]:
                if batch and self.hub.taken(batch[0].id):
                    continue
                if deps.cancelled is not None and await deps.cancelled():  # an operator's cancel
                    outcomes.append("cancelled")
                    break
                outcome = await self._one(sandbox, lease, routes, batch)
                self.handled.update(dict.fromkeys(self.hub.answered))
                outcomes.append(outcome)
                if outcome in _STOPS:
                    break
        if "cancelled" in outcomes:
            return "cancelled"
        if "replied" in outcomes:
            return "replied"
        return outcomes[-1] if outcomes else "no_response"

    async def _one(
        self, sandbox: Sandbox, lease: Lease, routes: dict[str, ToolSet], batch: list[Notification]
    ) -> Outcome:
        request, deps, budget = self.request, self.deps, self.budget
        remaining = request.deadline - deps.clock()
        if remaining <= 0:
            return "deadline"
        left_usd = request.cost_cap_usd - budget.spent_usd
        if left_usd <= 0:
            return "cost_cap"
        job = CliJob(
            agent=request.agent,
            system=self.system,
            prompt=user_message(batch, self.threads, max_thread_chars=deps.max_thread_chars, reasons=request.reasons),
            model=request.agent.config.brain.model,
            max_tokens=request.agent.config.brain.max_tokens or deps.default_max_tokens,
            max_turns=request.agent.config.behavior.max_iterations,
            budget_usd=left_usd,
            base_url=self.host.base_url,
            token=lease.token,
            mcp={name: f"{self.host.base_url}/mcp/{name}" for name in routes},
            mcp_tools={name: route_tools(family) for name, family in routes.items()},
            cli_dir=self.host.cli_dir_inside,
            home=HOME,
            config_dir=CONFIG_DIR,
            max_retries=self.host.settings.max_retries,
        )
        command = self.spec.command(job)
        await sandbox.put_archive("/workspace", setup_archive(command.files))
        refused_before, calls_before, spent_before = len(lease.refusals), budget.calls, budget.spent_usd
        result = await sandbox.exec(forwarded(command.argv), env=command.env, timeout_s=remaining)
        report = self.spec.parse(result)
        self._record(result, report, calls=budget.calls - calls_before, metered=budget.spent_usd - spent_before)
        if result.timed_out:
            raise CliFailed(f"{self.spec.name} ran past the activation's deadline ({remaining:.0f}s) and was killed")
        refused = lease.refusals[refused_before:]
        if refused:
            return "cost_cap" if refused[-1] == COST_CAP else "budget_exhausted"
        if report.ending == "ok":
            return await post_final(request, self.hub, batch, report.text, self.handled, deps)
        if report.ending == "max_turns":
            return "max_iterations"
        if report.ending == "budget":
            return "cost_cap"
        if report.ending == "api_error":
            raise LLMUnavailable(f"{self.spec.name}'s LLM calls failed: {report.reason}")
        raise CliFailed(report.reason)

    def _record(self, result: ExecResult, report: CliReport, *, calls: int, metered: Decimal) -> None:
        """The run in the transcript (the CLI's own figures beside the gateway's), and a cost disagreement logged."""
        data: dict[str, Any] = {
            "executor": self.spec.name,
            "exit_code": result.exit_code,
            "timed_out": result.timed_out,
            "duration_ms": round(result.duration_s * 1000),
            "ending": report.ending,
            "reason": report.reason or None,
            "turns": report.turns,
            "llm_calls": calls,
            "metered_cost_usd": str(metered),
            "cli_cost_usd": None if report.cost_usd is None else str(report.cost_usd),
        }
        if report.usage is not None:
            u = report.usage
            data["cli_usage"] = {
                "input_tokens": u.input_tokens,
                "output_tokens": u.output_tokens,
                "cache_write_tokens": u.cache_write_tokens,
                "cache_read_tokens": u.cache_read_tokens,
            }
        if self.deps.transcript is not None:
            self.deps.transcript.add("cli_run", **data)
        if report.cost_usd is not None and abs(report.cost_usd - metered) > _tolerance(report.cost_usd, metered):
            log.warning(
                "cli.cost_disagrees",
                executor=self.spec.name,
                activation_id=self.request.activation_id,
                cli_cost_usd=str(report.cost_usd),
                metered_cost_usd=str(metered),
            )

    def _note(self, text: str) -> None:
        if self.deps.transcript is not None:
            self.deps.transcript.add("note", text=text)


def _tolerance(cli: Decimal, metered: Decimal) -> Decimal:
    """How far the CLI's figure may be from the gateway's and still agree: rounding, not a difference.

    Half a unit of the last digit the CLI gave (aider prints ``$0.02``), 1% of the metered
    cost, or ``ROUNDING_USD``, whichever is most.
    """
    exponent = cli.as_tuple().exponent
    printed = Decimal(5).scaleb(exponent - 1) if isinstance(exponent, int) else ROUNDING_USD
    return max(ROUNDING_USD, metered / 100, printed)
