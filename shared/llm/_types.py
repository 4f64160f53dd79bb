"""The one internal message shape every provider adapter translates to and from.

A conversation is a list of ``Message``: ``user`` turns hold ``Text`` and
``ToolResult`` parts, ``assistant`` turns hold ``Text`` and ``ToolCall`` parts.
Each ``ToolCall`` an assistant turn makes is answered by a ``ToolResult`` with the
same id in the next user turn; the adapters turn that into each provider's exact
protocol (Anthropic ``tool_use``/``tool_result`` blocks, OpenAI ``tool_calls`` and
``role: tool`` messages).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Role = Literal["user", "assistant"]
StopReason = Literal["end_turn", "tool_use", "max_tokens"]


@dataclass(frozen=True)
class Text:
    """Plain text, from the model or for it."""

    text: str


@dataclass(frozen=True)
class ToolCall:
    """The model asks for a tool to run with ``input``; ``id`` pairs it with its result."""

    id: str
    name: str
    input: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ToolResult:
    """What a tool returned for the call ``call_id``; ``is_error`` when it failed."""

    call_id: str
    content: str
    is_error: bool = False


Part = Text | ToolCall | ToolResult

_ALLOWED: dict[str, tuple[type, ...]] = {"user": (Text, ToolResult), "assistant": (Text, ToolCall)}


@dataclass(frozen=True)
class Message:
    """One turn of the conversation.

    Raises:
        ValueError: a part that this role cannot hold (a ``ToolCall`` in a user turn,
            a ``ToolResult`` in an assistant turn) or an unknown role.
    """

    role: Role
    parts: tuple[Part, ...]

    def __post_init__(self) -> None:
        if self.role not in _ALLOWED:
            raise ValueError(f"unknown role {self.role!r}")
        parts = tuple(self.parts)
        object.__setattr__(self, "parts", parts)
        for part in parts:
            if not isinstance(part, _ALLOWED[self.role]):
                raise ValueError(f"a {self.role} message cannot hold {type(part).__name__}")

    @classmethod
    def user(cls, *parts: Part | str) -> Message:
        """A user turn; strings become ``Text``."""
        return cls("user", tuple(Text(p) if isinstance(p, str) else p for p in parts))

    @classmethod
    def assistant(cls, *parts: Part | str) -> Message:
        """An assistant turn; strings become ``Text``."""
        return cls("assistant", tuple(Text(p) if isinstance(p, str) else p for p in parts))

    @property
    def text(self) -> str:
        """The text parts joined together."""
        return "".join(p.text for p in self.parts if isinstance(p, Text))

    @property
    def tool_calls(self) -> list[ToolCall]:
        """The tool calls in this turn, in order."""
        return [p for p in self.parts if isinstance(p, ToolCall)]


@dataclass(frozen=True)
class ToolSpec:
    """A tool offered to the model: its name, what it does, a JSON Schema for its input."""

    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(frozen=True)
class Usage:
    """Tokens one or more calls used, normalised across providers.

    ``input_tokens`` counts only the input billed at the full rate: cache writes and
    cache reads are counted apart, so the four kinds never overlap and each is priced
    once.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
        )

    @property
    def total_tokens(self) -> int:
        """All four kinds together."""
        return self.input_tokens + self.output_tokens + self.cache_write_tokens + self.cache_read_tokens


@dataclass(frozen=True)
class Completion:
    """One model response: its parts, why it stopped, what it used, which model answered."""

    parts: tuple[Part, ...]
    stop: StopReason
    usage: Usage
    model: str

    @property
    def text(self) -> str:
        """The text parts joined together."""
        return "".join(p.text for p in self.parts if isinstance(p, Text))

    @property
    def tool_calls(self) -> list[ToolCall]:
        """The tool calls the model made, in order."""
        return [p for p in self.parts if isinstance(p, ToolCall)]

    def as_message(self) -> Message:
        """This response as the assistant turn to append to the conversation."""
        return Message("assistant", self.parts)


class LLMProvider(Protocol):
    """A chat model behind one interface, whatever the vendor.

    ``complete`` raises only from the ``shared.errors`` tree: ``LLMUnavailable``
    (retry later), ``LLMRejected`` (do not), ``LLMSpendLimit`` (do not, and stop
    spending).
    """

    async def complete(
        self,
        *,
        model: str,
        system: str,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] = (),
        max_tokens: int,
        temperature: float | None = None,
    ) -> Completion:
        """Ask the model for the next assistant turn."""
        ...

    async def aclose(self) -> None:
        """Release the connections this provider holds."""
        ...
