"""A transcript as a readable conversation: model turns, tool calls and results, Hub writes, cost.

One block per entry, headed by its time since the start; what it holds is indented
under the head. Texts keep their line breaks (up to ``_MAX_LINES`` lines and ``width``
characters). A native request repeats the assistant turn its conversation's previous
response showed: that echo is left out, and a tool result is named by its call.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

_PREVIEW = 400
_MAX_LINES = 8
_INDENT = " " * len("[   0.00s] ")


@dataclass
class _Seen:
    """What earlier entries showed: conversations answered, tool call id -> tool name."""

    answered: set[str] = field(default_factory=set)
    calls: dict[str, str] = field(default_factory=dict)


def render(entries: Iterable[Mapping[str, Any]], *, width: int = _PREVIEW) -> str:
    """The entries as text, one block per entry, long texts shown to ``width`` characters."""
    seen = _Seen()
    return "\n".join(line for entry in entries for line in _entry(entry, width, seen))


def _entry(e: Mapping[str, Any], width: int, seen: _Seen) -> list[str]:
    at = f"[{float(e.get('at_ms', 0)) / 1000:7.2f}s]"
    kind = e.get("kind")
    if kind == "begin":
        return [
            f"{at} activation {e.get('activation_id')} attempt {e.get('attempt')}: "
            f"{e.get('agent')} ({e.get('activation_kind')}), started {e.get('started')}"
        ]
    if kind == "llm_request":
        return _request(at, e, width, seen)
    if kind == "llm_response":
        seen.answered.add(str(e.get("conversation")))
        seen.calls.update(_call_names(e.get("parts") or []))
        return _response(at, e, width, seen)
    if kind == "llm_refused":
        return [f"{at} no call: {e.get('reason')}: {e.get('detail')}"]
    if kind == "tool":
        mark = "error" if e.get("is_error") else "ok"
        return [
            f"{at} tool {e.get('family')}/{e.get('name')} {_json(e.get('input'), width)} ({e.get('duration_ms')} ms)",
            *_labelled(f"→ {mark}: ", e.get("result"), width),
        ]
    if kind == "hub_write":
        return [f"{at} Hub {e.get('write')} ({e.get('step')}) → {e.get('hub_id')}"]
    if kind == "note":
        return [f"{at} note: {e.get('text')}"]
    if kind == "cli_run":
        why = f": {e.get('reason')}" if e.get("reason") else ""
        return [
            f"{at} {e.get('executor')} exited {e.get('exit_code')} after {e.get('duration_ms')} ms"
            f"{' (killed at the deadline)' if e.get('timed_out') else ''}: {e.get('ending')}{why}",
            f"{_INDENT}{e.get('llm_calls')} LLM call(s) metered ${e.get('metered_cost_usd')}; "
            f"the CLI's own figure ${e.get('cli_cost_usd')}, {e.get('turns')} turn(s)",
        ]
    if kind == "end":
        usage = e.get("usage") or {}
        error = f", error: {e.get('error')}" if e.get("error") else ""
        return [
            f"{at} outcome {e.get('outcome')}: {e.get('calls', 0)} LLM call(s), {_tokens(usage)}, "
            f"${e.get('cost_usd', 0)}{error}"
        ]
    return [f"{at} {kind}: {_json({k: v for k, v in e.items() if k not in ('at_ms', 'kind')}, width)}"]


def _request(at: str, e: Mapping[str, Any], width: int, seen: _Seen) -> list[str]:
    """A call of the native loop (its new messages, as parts), or one through the gateway.

    The gateway records what a CLI sent, in the provider's shape: the whole conversation
    every call, so only its last message is shown. A native request's assistant messages
    echo the previous response of its conversation, shown already.
    """
    via = " via the gateway" if e.get("via") == "gateway" else ""
    head = f"{at} → model {e.get('model')}{via} (conversation {e.get('conversation') or '-'}, call {e.get('call')})"
    lines = [head]
    if e.get("system"):
        lines += _labelled("system: ", _text(e["system"]), width)
    if e.get("tools") is not None:
        names = ", ".join(str(t.get("name") if isinstance(t, Mapping) else t) for t in e["tools"]) or "none"
        lines.append(f"{_INDENT}tools: {names}")
    messages = [m for m in e.get("messages") or [] if isinstance(m, Mapping)]
    if via:
        messages = messages[-1:]
    elif str(e.get("conversation")) in seen.answered:
        messages = [m for m in messages if m.get("role") != "assistant"]
    for message in messages:
        parts = message.get("parts")
        if parts is None:  # the provider's shape: content as text or as blocks
            content = message.get("content")
            parts = content if isinstance(content, list) else [{"type": "text", "text": content}]
        for part in parts:
            lines += _shown_part(f"{message.get('role')}: ", part, width, seen)
    return lines


def _text(value: Any) -> str:
    """A system prompt as text: a string, or the provider's list of text blocks."""
    if isinstance(value, list):
        return " ".join(str(b.get("text", "")) if isinstance(b, Mapping) else str(b) for b in value)
    return str(value)


def _response(at: str, e: Mapping[str, Any], width: int, seen: _Seen) -> list[str]:
    usage = e.get("usage") or {}
    lines = [f"{at} ← model {e.get('model')} ({e.get('stop')}; {_tokens(usage)}; ${e.get('cost_usd')})"]
    for part in e.get("parts") or []:
        lines += _shown_part("assistant: ", part, width, seen)
    return lines


def _call_names(parts: Iterable[Any]) -> dict[str, str]:
    """Tool call id -> tool name, of the calls among ``parts``."""
    return {
        str(p.get("id")): str(p.get("name"))
        for p in parts
        if isinstance(p, Mapping) and p.get("type") in ("tool_call", "tool_use") and p.get("id")
    }


def _shown_part(label: str, part: Any, width: int, seen: _Seen) -> list[str]:
    """One message part under ``label``: text with its line breaks, a call, a named result."""
    if not isinstance(part, Mapping):
        return _labelled(label, part, width)
    kind = part.get("type")
    if kind == "text":
        return _labelled(label, part.get("text"), width)
    if kind in ("tool_call", "tool_use"):
        return [f"{_INDENT}{label}calls {part.get('name')} {_json(part.get('input'), width)}"]
    if kind == "tool_result":
        mark = " (error)" if part.get("is_error") else ""
        name = seen.calls.get(str(part.get("call_id") or part.get("tool_use_id")))
        of = f" of {name}" if name else ""
        return _labelled(f"{label}result{of}{mark} ", _text(part.get("content")), width)
    return [f"{_INDENT}{label}{_json(part, width)}"]


def _labelled(label: str, value: Any, width: int) -> list[str]:
    """``value`` as lines under ``label``: its line breaks kept (blank runs dropped), cut to ``width`` characters."""
    lines = [" ".join(line.split()) for line in str(value or "").splitlines()]
    lines = [line for line in lines if line] or [""]
    shown, budget = [], width
    for line in lines[:_MAX_LINES]:
        if budget <= 0:
            break
        shown.append(line if len(line) <= budget else line[: max(budget - 1, 0)] + "…")
        budget -= len(line)
    if len(shown) < len(lines) and not shown[-1].endswith("…"):
        shown[-1] += " …"
    pad = _INDENT + " " * len(label)
    return [f"{_INDENT}{label}{shown[0]}", *(pad + line for line in shown[1:])]


def _tokens(usage: Mapping[str, Any]) -> str:
    return (
        f"in {usage.get('input_tokens', 0)}, out {usage.get('output_tokens', 0)}, "
        f"cache write {usage.get('cache_write_tokens', 0)}, read {usage.get('cache_read_tokens', 0)}"
    )


def _short(value: Any, width: int) -> str:
    flat = " ".join(str(value or "").split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _json(value: Any, width: int) -> str:
    return _short(orjson.dumps(value, default=str).decode(), width)
