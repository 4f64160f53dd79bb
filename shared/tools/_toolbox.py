"""``ToolSet`` (a family of tools) and ``Toolbox`` (what one conversation may call, and the one path a call takes)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from shared.llm import ToolCall, ToolResult, ToolSpec

from ._errors import ToolInputError
from ._output import cut

log = structlog.get_logger("botburrow.tools")


class ToolSet(Protocol):
    """A family of tools: the Hub's, the workspace's, one MCP server's.

    ``call`` returns the text the model reads, or raises ``ToolInputError`` with what to tell
    it; anything else it raises is not the model's to see and propagates.
    """

    @property
    def family(self) -> str:
        """Names the family in logs and metrics (``hub``, ``workspace``, ``mcp:github``)."""
        ...

    def specs(self) -> Sequence[ToolSpec]:
        """The tools offered now (a set may offer fewer later, never others)."""
        ...

    async def call(self, name: str, args: Mapping[str, Any], *, scope: str) -> str:
        """Run tool ``name`` of this family; ``scope`` names the conversation (see ``Toolbox.run``)."""
        ...


@dataclass(frozen=True, slots=True)
class ToolUse:
    """One call as the toolbox ran it: for transcripts and metrics."""

    family: str | None  # None: no family offers the tool
    call: ToolCall
    result: ToolResult
    duration_ms: float


ToolObserver = Callable[[ToolUse], None]


class Toolbox:
    """The tools of one activation, from several families, behind one call path.

    ``run`` looks the tool up, calls its family, turns a ``ToolInputError`` into an
    ``is_error`` result, cuts every result to ``max_output_chars`` and logs the call (its
    family, name, outcome and size; never its arguments). A tool name offered by two
    families is a configuration error. ``observer`` sees every call once it has run (its
    arguments included: a transcript redacts them).
    """

    def __init__(
        self, families: Iterable[ToolSet], *, max_output_chars: int, observer: ToolObserver | None = None
    ) -> None:
        self._families = list(families)
        self._max = max_output_chars
        self._observer = observer

    def specs(self) -> list[ToolSpec]:
        """Every tool offered, family by family."""
        return [spec for _family, spec in self._offered()]

    @property
    def names(self) -> frozenset[str]:
        """The names of the tools offered now."""
        return frozenset(spec.name for _family, spec in self._offered())

    async def run(self, call: ToolCall, *, scope: str = "") -> ToolResult:
        """Run one tool call; ``scope`` (the conversation's notification id) names the writes it makes.

        Raises:
            Whatever a family raises that is not a ``ToolInputError`` (``HubUnavailable``,
            ``SandboxUnavailable``, ``HubAuthError``...): the activation decides.
        """
        started = time.perf_counter()
        offered = {spec.name: family for family, spec in self._offered()}
        family = offered.get(call.name)
        try:
            if family is None:
                available = ", ".join(sorted(offered)) or "none"
                raise ToolInputError(f"unknown tool {call.name!r}; available: {available}")
            text, is_error = await family.call(call.name, call.input, scope=scope), False
        except ToolInputError as exc:
            text, is_error = f"error: {exc}", True
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        name = family.family if family else None
        log.debug(
            "tool.called",
            family=name,
            tool=call.name[:100],
            is_error=is_error,
            chars=len(text),
            duration_ms=duration_ms,
        )
        result = ToolResult(call.id, cut(text, self._max), is_error=is_error)
        if self._observer is not None:
            self._observer(ToolUse(family=name, call=call, result=result, duration_ms=duration_ms))
        return result

    def _offered(self) -> list[tuple[ToolSet, ToolSpec]]:
        seen: dict[str, str] = {}
        out: list[tuple[ToolSet, ToolSpec]] = []
        for family in self._families:
            for spec in family.specs():
                if spec.name in seen:
                    raise ValueError(f"tool {spec.name!r} is offered by both {seen[spec.name]} and {family.family}")
                seen[spec.name] = family.family
                out.append((family, spec))
        return out
