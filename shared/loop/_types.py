"""What the loop takes and gives: its dependencies, one activation's request, the result."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal, Protocol

from shared.accounting import Spending
from shared.agents import AgentConfig, AgentDefinition
from shared.events import ActivationKind
from shared.hub import AgentRef, HubClient, Notification
from shared.limits import BehaviorLimits
from shared.llm import LLMProvider, Usage
from shared.mcp import McpHost
from shared.sandbox import Sandbox
from shared.tools import DoneMarkers
from shared.transcripts import Transcript

Outcome = Literal[
    "replied",
    "no_response",
    "limit_refused",
    "max_iterations",
    "deadline",
    "cost_cap",
    "budget_exhausted",
    "cancelled",
]
NO_RESPONSE = "NO_RESPONSE"
"""The whole final answer of a model that judged no response is needed: nothing is posted."""


class Sandboxes(Protocol):
    """Where an activation's workspace comes from (``shared.sandbox.AgentSandboxes`` is one)."""

    async def acquire(self, config: AgentConfig) -> Sandbox:
        """A fresh sandbox shaped by the agent's grants (raises ``SandboxUnavailable``)."""
        ...

    async def release(self, sandbox: Sandbox) -> None:
        """Destroy it: the activation is over."""
        ...


@dataclass(frozen=True, kw_only=True)
class LoopDeps:
    """What the loop uses, and nothing else.

    Attributes:
        llm: the agent's provider.
        hub: the Hub client (writes carry ``Idempotency-Key: <activation id>:<step>``).
        limits: the agent's behaviour limits, reserved before every Hub write.
        clock: seconds, on the same scale as ``LoopRequest.deadline``.
        ledger: done-markers (``reply:<notification id>``) so a retried activation does not ask
            the model again about a notification it answered; ``None`` relies on the Hub's
            idempotency window alone.
        max_tool_output_chars: longer tool results are cut to this and say so.
        max_thread_chars: each thread shown in the first user turn is cut to this.
        default_max_tokens: ``max_tokens`` per call when ``brain.max_tokens`` is unset.
        max_conversations: notifications answered at once (each its own conversation),
            under the activation's shared caps.
        sandboxes: where the workspace tools run (``shell.enabled`` or a ``filesystem``
            grant offers them); ``None`` offers none. One sandbox per activation, started
            at its first workspace tool call and destroyed when the activation ends.
        spending: the budget every LLM call is admitted by and booked in (the agent's daily
            and monthly budget, live spend); the default checks the cost cap alone.
        transcript: where the activation's requests, responses, tool calls and Hub writes
            are recorded (``None``: nowhere).
        mcp: starts the MCP servers ``capabilities.mcp_servers`` and the grants allow, for
            the activation; their tools join the Hub's and the workspace's (``None``: none).
        cancelled: asked before each step (each LLM call; each notification of a coding CLI):
            True stops the activation there with the outcome ``cancelled`` (an operator's
            ``activations cancel``); ``None``: never.
    """

    llm: LLMProvider
    hub: HubClient
    limits: BehaviorLimits
    clock: Callable[[], float]
    ledger: DoneMarkers | None = None
    max_tool_output_chars: int = 4_000
    max_thread_chars: int = 6_000
    default_max_tokens: int = 1_024
    max_conversations: int = 8
    sandboxes: Sandboxes | None = None
    spending: Spending = field(default_factory=Spending)
    transcript: Transcript | None = None
    mcp: McpHost | None = None
    cancelled: Callable[[], Awaitable[bool]] | None = None


@dataclass(frozen=True, kw_only=True)
class LoopRequest:
    """One activation's input.

    Attributes:
        agent: the agent's definition.
        agent_ref: who the agent is on the Hub (its id and/or name).
        activation_id: the activation event's id; the stem of every idempotency key.
        kind: inbox or discovery.
        notifications: already filtered: only these may be answered.
        deadline: a ``clock()`` value after which no LLM call starts.
        cost_cap_usd: no LLM call starts that could take the activation's cost past this.
        reasons: for a discovery activation, why each of its notifications (a feed post as
            ``discovery:<post id>``, answered by a comment on it) was chosen; shown to the model.
    """

    agent: AgentDefinition
    agent_ref: AgentRef
    activation_id: str
    kind: ActivationKind
    notifications: list[Notification]
    deadline: float
    cost_cap_usd: Decimal
    reasons: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class LoopResult:
    """What the activation did.

    Attributes:
        outcome: ``replied``, ``no_response``, ``limit_refused``, ``max_iterations``,
            ``deadline``, ``cost_cap`` or ``budget_exhausted`` (the agent's daily or monthly
            budget refused a call).
        posts: Hub ids of the posts created (this attempt).
        comments: Hub ids of the comments created (this attempt).
        dms: Hub ids of the DMs sent (this attempt).
        usage: tokens summed over the LLM calls.
        cost_usd: their cost from ``shared.llm.cost_usd``.
        model: the model that answered (``brain.model`` when no call was made).
        steps: LLM calls made.
        handled: notification ids answered, judged to need no answer, or that can never be
            answered (a spent daily or thread limit, a post gone): they may be marked read.
        refusals: the limits that refused writes, by name, in order.
    """

    outcome: Outcome
    posts: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    dms: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    cost_usd: Decimal = Decimal(0)
    model: str = ""
    steps: int = 0
    handled: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)


class LoopFailed(Exception):
    """The loop failed after it had spent tokens; carries what was spent and written.

    The activation reports the spend (consumption is owed for failed activations too)
    and hands ``cause`` (a ``TransientError`` or ``PermanentError``) to the pump.
    """

    def __init__(
        self,
        cause: Exception,
        *,
        usage: Usage,
        cost_usd: Decimal,
        model: str,
        steps: int,
        posts: list[str],
        comments: list[str],
        dms: list[str],
    ) -> None:
        super().__init__(f"the loop failed after {steps} LLM call(s): {cause}")
        self.cause = cause
        self.usage = usage
        self.cost_usd = cost_usd
        self.model = model
        self.steps = steps
        self.posts = list(posts)
        self.comments = list(comments)
        self.dms = list(dms)

    @property
    def usage_spent(self) -> bool:
        """Whether any LLM call was made (and so tokens are owed)."""
        return self.steps > 0
