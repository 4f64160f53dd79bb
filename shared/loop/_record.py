"""What the loop writes into the activation's transcript.

Requests as the model sees them, answers, refusals, tool calls and Hub writes. Every
function does nothing without a transcript.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Protocol

import structlog

from shared.accounting import Refused
from shared.errors import StreamUnavailable
from shared.llm import Completion, Message, ToolSpec
from shared.tools import ToolUse
from shared.transcripts import Transcript, messages_json, part_json, tools_json, usage_json

log = structlog.get_logger(__name__)


class Talk(Protocol):
    """A conversation as the recorder needs it."""

    scope: str
    messages: list[Message]
    recorded: int
    calls: int


def request(
    transcript: Transcript | None,
    talk: Talk,
    model: str,
    system: str,
    specs: list[ToolSpec],
    max_tokens: int,
    briefed: bool,
) -> bool:
    """The request as the model will see it: what is new since this conversation's last one.

    The system prompt and the tools go in once per activation; returns whether they are in.
    """
    if transcript is None:
        return briefed
    briefing: dict[str, object] = {} if briefed else {"system": system, "tools": tools_json(specs)}
    transcript.add(
        "llm_request",
        conversation=talk.scope,
        call=talk.calls,
        model=model,
        max_tokens=max_tokens,
        messages=messages_json(talk.messages[talk.recorded :]),
        **briefing,
    )
    talk.recorded = len(talk.messages)
    return True


def response(
    transcript: Transcript | None,
    scope: str,
    call: int,
    model: str,
    completion: Completion,
    cost: Decimal,
    started: float,
) -> None:
    """The model's answer (``started``: ``time.perf_counter()`` when the call began)."""
    if transcript is None:
        return
    transcript.add(
        "llm_response",
        conversation=scope,
        call=call,
        model=model,
        parts=[part_json(p) for p in completion.parts],
        stop=completion.stop,
        usage=usage_json(completion.usage),
        cost_usd=str(cost),
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
    )


def refused(transcript: Transcript | None, scope: str, why: Refused) -> None:
    """A call the budget or the cost cap refused before it started."""
    if transcript is not None:
        transcript.add("llm_refused", conversation=scope, reason=why.reason, detail=why.detail)


def note(transcript: Transcript | None, text: str) -> None:
    """Something that went wrong on the side (an MCP server that did not start) and why."""
    if transcript is not None:
        transcript.add("note", text=text)


def tool(transcript: Transcript, use: ToolUse) -> None:
    """A tool call as the toolbox ran it (a ``Toolbox`` observer)."""
    transcript.add(
        "tool",
        family=use.family,
        name=use.call.name,
        input=use.call.input,
        result=use.result.content,
        is_error=use.result.is_error,
        duration_ms=use.duration_ms,
    )


def write(transcript: Transcript, kind: str, step: str, hub_id: str) -> None:
    """A Hub write that landed (a ``HubContext.on_write``)."""
    transcript.add("hub_write", write=kind, step=step, hub_id=hub_id)


async def flush(transcript: Transcript | None) -> None:
    """Write the transcript so far; a Redis hiccup keeps it buffered for the next flush."""
    if transcript is None:
        return
    try:
        await transcript.flush()
    except StreamUnavailable as exc:
        log.warning("loop.transcript_unwritten", error=str(exc))
