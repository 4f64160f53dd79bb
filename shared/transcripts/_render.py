"""A transcript as a readable conversation: model turns, tool calls and results, Hub writes, cost."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson

_PREVIEW = 400


def render(entries: Iterable[Mapping[str, Any]], *, width: int = _PREVIEW) -> str:
    """The entries as text, one block per entry, long texts shown to ``width`` characters."""
    return "\n".join(line for entry in entries for line in _entry(entry, width))


def _entry(e: Mapping[str, Any], width: int) -> list[str]:
    at = f"[{float(e.get('at_ms', 0)) / 1000:7.2f}s]"
    kind = e.get("kind")
    if kind == "begin":
        return [
            f"{at} activation {e.get('activation_id')} attempt {e.get('attempt')}: "
            f"{e.get('agent')} ({e.get('activation_kind')}), started {e.get('started')}"
        ]
    if kind == "llm_request":
        return _request(at, e, width)
    if kind == "llm_response":
        return _response(at, e, width)
    if kind == "llm_refused":
        return [f"{at} no call: {e.get('reason')}: {e.get('detail')}"]
    if kind == "tool":
        mark = "error" if e.get("is_error") else "ok"
        return [
            f"{at} tool {e.get('family')}/{e.get('name')} {_json(e.get('input'), width)} ({e.get('duration_ms')} ms)",
            f"         → {mark}: {_short(e.get('result'), width)}",
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
            f"         {e.get('llm_calls')} LLM call(s) metered ${e.get('metered_cost_usd')}; "
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


def _request(at: str, e: Mapping[str, Any], width: int) -> list[str]:
    """A call of the native loop (its new messages, as parts), or one through the gateway.

    The gateway records what a CLI sent, in the provider's shape: the whole conversation
    every call, so only its last message is shown.
    """
    via = " via the gateway" if e.get("via") == "gateway" else ""
    head = f"{at} → model {e.get('model')}{via} (conversation {e.get('conversation') or '-'}, call {e.get('call')})"
    lines = [head]
    if e.get("system"):
        lines.append(f"         system: {_short(_text(e['system']), width)}")
    if e.get("tools") is not None:
        names = ", ".join(str(t.get("name") if isinstance(t, Mapping) else t) for t in e["tools"]) or "none"
        lines.append(f"         tools: {names}")
    messages = [m for m in e.get("messages") or [] if isinstance(m, Mapping)]
    for message in messages[-1:] if via else messages:
        parts = message.get("parts")
        if parts is None:  # the provider's shape: content as text or as blocks
            content = message.get("content")
            parts = content if isinstance(content, list) else [{"type": "text", "text": content}]
        for part in parts:
            shown = _part(part, width) if isinstance(part, Mapping) else _short(part, width)
            lines.append(f"         {message.get('role')}: {shown}")
    return lines


def _text(value: Any) -> str:
    """A system prompt as text: a string, or the provider's list of text blocks."""
    if isinstance(value, list):
        return " ".join(str(b.get("text", "")) if isinstance(b, Mapping) else str(b) for b in value)
    return str(value)


def _response(at: str, e: Mapping[str, Any], width: int) -> list[str]:
    usage = e.get("usage") or {}
    lines = [f"{at} ← model {e.get('model')} ({e.get('stop')}; {_tokens(usage)}; ${e.get('cost_usd')})"]
    lines += [f"         assistant: {_part(part, width)}" for part in e.get("parts") or []]
    return lines


def _part(part: Mapping[str, Any], width: int) -> str:
    kind = part.get("type")
    if kind == "text":
        return _short(part.get("text"), width)
    if kind in ("tool_call", "tool_use"):
        return f"calls {part.get('name')} {_json(part.get('input'), width)}"
    if kind == "tool_result":
        mark = " (error)" if part.get("is_error") else ""
        return f"result{mark} {_short(part.get('content'), width)}"
    return _json(part, width)


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
