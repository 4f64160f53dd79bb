"""Deterministic scripts: what the fake answers at each step of a conversation.

A script is a list of steps. The step a request gets is the number of assistant turns
already in its conversation, so the fake keeps no session state and a retried request
gets the same step again. Past the last step, the fake answers with the default reply.

A step answers with text and/or tool calls, after an optional ``delay_s``. With ``fail``
it fails instead: every attempt, or only the first ``fail_times`` attempts of that
step (attempts are counted per conversation, so "429 once, then answer" works with
any client's retries).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

FailKind = Literal[
    "rate_limit",  # 429, retry-after when retry_after_s is set
    "overloaded",  # Anthropic 529 overloaded_error; OpenAI 503
    "server_error",  # 500
    "spend_limit",  # 429 that says the account's usage limit / quota is reached
    "invalid_request",  # 400
    "authentication",  # 401
    "hang",  # never answer (until the client gives up or the server stops)
    "disconnect",  # start answering, then drop the connection
]
StopReason = Literal["end_turn", "tool_use", "max_tokens"]

MARKER = re.compile(r"\[\[script:([A-Za-z0-9_.\-]+)\]\]")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Usage(_Model):
    """Token counts to report, in Anthropic's terms (the OpenAI side folds them into prompt_tokens)."""

    input_tokens: int = Field(ge=0)
    output_tokens: int = Field(ge=0)
    cache_creation_input_tokens: int = Field(default=0, ge=0)
    cache_read_input_tokens: int = Field(default=0, ge=0)


class ToolCall(_Model):
    """A tool call the fake model makes; ``id`` is derived from the conversation when omitted.

    A call names a tool the request offers (else the fake answers 400, so a test that forgot
    to offer it fails plainly), unless ``unoffered``: then it is made anyway, as a model that
    makes a tool up, or was talked into calling one it was not given, would.
    """

    name: str = Field(min_length=1)
    input: dict[str, Any] = Field(default_factory=dict)
    id: str | None = None
    unoffered: bool = False


class Fail(_Model):
    """A failure instead of an answer.

    ``status`` and ``message`` override the kind's defaults; ``retry_after_s`` sends
    ``retry-after`` (whole seconds, rounded up) and ``retry-after-ms``; ``in_stream``
    makes a streaming request fail after the stream has started (an SSE ``error`` event
    for Anthropic, a dropped stream for OpenAI).
    """

    kind: FailKind
    status: int | None = Field(default=None, ge=400, le=599)
    message: str | None = None
    retry_after_s: float | None = Field(default=None, ge=0)
    in_stream: bool = False


class Step(_Model):
    """One assistant turn: text and/or tool calls, or a failure."""

    text: str = ""
    tool_calls: Sequence[ToolCall] = ()
    usage: Usage | None = None
    stop: StopReason | None = None
    delay_s: float = Field(default=0.0, ge=0)
    stream_delay_s: float = Field(default=0.0, ge=0)
    fail: Fail | None = None
    fail_times: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _answers_something(self) -> Step:
        always_fails = self.fail is not None and self.fail_times is None
        if not always_fails and not self.text and not self.tool_calls:
            raise ValueError("a step needs text or tool_calls (or a fail without fail_times)")
        if self.fail_times is not None and self.fail is None:
            raise ValueError("fail_times needs a fail")
        return self

    def fails_on(self, attempt: int) -> bool:
        """Whether attempt ``attempt`` (from 1) at this step fails."""
        return self.fail is not None and (self.fail_times is None or attempt <= self.fail_times)

    @property
    def stop_reason(self) -> StopReason:
        """The stop reason reported: explicit, else ``tool_use`` when calling tools."""
        return self.stop or ("tool_use" if self.tool_calls else "end_turn")


class Script(_Model):
    """A named list of steps."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")
    steps: Sequence[Step] = Field(min_length=1)


class ScriptFile(_Model):
    """What ``--script FILE`` holds: scripts, and optionally the one used by default."""

    scripts: Sequence[Script] = Field(min_length=1)
    default: str | None = None

    @model_validator(mode="after")
    def _default_exists(self) -> ScriptFile:
        if self.default is not None and self.default not in {s.name for s in self.scripts}:
            raise ValueError(f"default script {self.default!r} is not among the scripts")
        return self


def load_script_file(path: Path) -> ScriptFile:
    """Read a YAML or JSON file holding ``{scripts: [...], default: NAME}`` or a single script."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if isinstance(raw, dict) and "steps" in raw:
        raw = {"scripts": [raw]}
    return ScriptFile.model_validate(raw)


def agent_name(system: str) -> str:
    """Who the system prompt says the agent is: "You are X", else its first line."""
    found = re.search(r"You are \**([^*,.\n]+?)\**(?:[,.\n]|$)", system)
    if found:
        return found.group(1).strip()
    for line in system.splitlines():
        line = line.strip().lstrip("#").strip()
        if line:
            return line[:80]
    return "an agent"


def default_reply(system: str, last_user_text: str) -> str:
    """The plain answer in the agent's voice: its name and what it was told, deterministically."""
    name = agent_name(MARKER.sub("", system))
    said = " ".join(MARKER.sub("", last_user_text).split())
    if not said:
        return f"{name} here. Nothing to answer yet, but I'm around."
    if len(said) > 160:
        said = said[:159] + "…"
    return f'{name} here. You said: "{said}" Thanks for the ping; noted, and here is my take: sounds good to me.'
