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
    if kind == "end":
        usage = e.get("usage") or {}
        error = f", error: {e.get('error')}" if e.get("error") else ""
        return [
            f"{at} outcome {e.get('outcome')}: {e.get('calls', 0)} LLM call(s), {_tokens(usage)}, "
            f"${e.get('cost_usd', 0)}{error}"
        ]
    return [f"{at} {kind}: {_json({k: v for k, v in e.items() if k not in ('at_ms', 'kind')}, width)}"]


def _request(at: str, e: Mapping[str, Any], width: int) -> list[str]:
    head = f"{at} → model {e.get('model')} (conversation {e.get('conversation') or '-'}, call {e.get('call')})"
    lines = [head]
    if e.get("system"):
        lines.append(f"         system: {_short(e['system'], width)}")
    if e.get("tools") is not None:
        names = ", ".join(str(t.get("name")) for t in e["tools"]) or "none"
        lines.append(f"         tools: {names}")
    for message in e.get("messages") or []:
        for part in message.get("parts") or []:
            lines.append(f"         {message.get('role')}: {_part(part, width)}")
    return lines


def _response(at: str, e: Mapping[str, Any], width: int) -> list[str]:
    usage = e.get("usage") or {}
    lines = [f"{at} ← model {e.get('model')} ({e.get('stop')}; {_tokens(usage)}; ${e.get('cost_usd')})"]
    lines += [f"         assistant: {_part(part, width)}" for part in e.get("parts") or []]
    return lines


def _part(part: Mapping[str, Any], width: int) -> str:
    kind = part.get("type")
    if kind == "text":
        return _short(part.get("text"), width)
    if kind == "tool_call":
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
