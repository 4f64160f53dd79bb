"""The executor interface, and what a coding CLI's spec builds and reads.

An ``Executor`` runs one activation of an agent of its ``type``: the built-in loop in
the runner process (``NativeExecutor``) or a coding CLI in the activation's sandbox
(``CliExecutor`` over a ``CliSpec``). Each returns the loop's own ``LoopResult``, so the
activation posts, accounts and reports the same way whatever ran.

A ``CliSpec`` knows one CLI: where its binary is, the command line, environment and
config files of one run (``CliJob`` in, ``CliCommand`` out), and how to read what it
printed (``CliReport``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Literal, Protocol

from shared.agents import AgentDefinition
from shared.gateway import Api
from shared.llm import Usage
from shared.loop import LoopDeps, LoopRequest, LoopResult
from shared.sandbox import ExecResult


class Executor(Protocol):
    """Runs the activations of agents of one ``type``."""

    @property
    def name(self) -> str:
        """The agent ``type`` it runs (``native``, ``claude-code``, ...)."""
        ...

    def unavailable(self) -> str | None:
        """Why it cannot run in this deployment (a CLI not installed), or ``None``."""
        ...

    async def run(self, request: LoopRequest, deps: LoopDeps) -> LoopResult:
        """One activation: an answer per notification, the usage and cost.

        Raises:
            TransientError, PermanentError: as ``shared.loop.run_native`` does;
            LoopFailed: either, once an LLM call was made (it carries the spend).
        """
        ...


@dataclass(frozen=True, kw_only=True)
class CliJob:
    """One run of a CLI: everything its command line and config files are made from.

    Attributes:
        agent: the agent's definition (model, grants, shell policy, limits).
        system: the system prompt (persona, skills, how answering works).
        prompt: the notification and its thread (the first user turn of the native loop).
        model: the model the CLI is told to use.
        max_tokens: the output tokens a call may ask for (``brain.max_tokens``, else the loop's default).
        max_turns: the agent's ``max_iterations``.
        budget_usd: what the activation may still spend: the CLI's own cap where it has one.
        base_url: the gateway inside the sandbox, e.g. ``http://127.0.0.1:4141``.
        token: the activation's gateway token: its API key and MCP bearer.
        mcp: MCP routes by name (``hub`` and each granted server) → URL on the gateway.
        mcp_tools: each route's tool names.
        cli_dir: where the CLIs are installed in the sandbox.
        home: the run's fresh HOME (inside the workspace).
        config_dir: where the run's config files go (inside the workspace, out of the CLI's way).
        max_retries: how often the CLI may retry a failed LLM call itself.
    """

    agent: AgentDefinition
    system: str
    prompt: str
    model: str
    max_tokens: int
    max_turns: int
    budget_usd: Decimal
    base_url: str
    token: str = field(repr=False)
    mcp: Mapping[str, str]
    mcp_tools: Mapping[str, list[str]]
    cli_dir: Path
    home: str
    config_dir: str
    max_retries: int = 2


@dataclass(frozen=True, kw_only=True)
class CliCommand:
    """What one run is: its argv, the variables on top of the sandbox's, its config files.

    ``files`` maps a path in the sandbox (under the workspace) to its contents.
    """

    argv: list[str]
    env: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, bytes] = field(default_factory=dict)


Ending = Literal["ok", "max_turns", "budget", "api_error", "malformed", "failed"]


@dataclass(frozen=True, kw_only=True)
class CliReport:
    """What a CLI's output says it did.

    Attributes:
        ending: ``ok`` (it answered), ``max_turns`` (stopped at its turn limit), ``budget``
            (its own cost cap, or the gateway's 402), ``api_error`` (its LLM calls kept
            failing), ``malformed`` (its output could not be read), ``failed`` (anything
            else: the reason says what).
        text: its final answer (``ok``).
        reason: why it did not answer, in words (not ``ok``).
        turns: the turns it reports.
        cost_usd: its own figure of the cost (``None`` when it gives none).
        usage: its own figure of the tokens (``None`` when it gives none).
    """

    ending: Ending
    text: str = ""
    reason: str = ""
    turns: int = 0
    cost_usd: Decimal | None = None
    usage: Usage | None = None


class CliSpec(Protocol):
    """One coding CLI: how to run it headless, and how to read what it printed."""

    @property
    def name(self) -> str:
        """The agent ``type`` it serves."""
        ...

    def api_for(self, provider: str) -> Api:
        """The LLM API it speaks to the gateway for a brain of ``provider`` (``anthropic``, ``openai``)."""
        ...

    @property
    def refusal_status(self) -> int:
        """The HTTP status the gateway refuses its calls with (402, unless it retries a 402)."""
        ...

    @property
    def supports_mcp(self) -> bool:
        """Whether it can use the Hub and MCP routes (aider cannot)."""
        ...

    def binary(self, cli_dir: Path) -> Path:
        """Where its executable is under the install directory."""
        ...

    def command(self, job: CliJob) -> CliCommand:
        """The run's command line, environment and config files."""
        ...

    def parse(self, result: ExecResult) -> CliReport:
        """What the run did, from its exit status and output."""
        ...
