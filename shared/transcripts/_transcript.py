"""``Transcript``: what one attempt of an activation did, entry by entry, redacted and bounded.

Entries are plain JSON objects ``{"at_ms", "kind", ...}``; the kinds the runner writes:

================  ==================================================================
``begin``         agent, kind (inbox, discovery), attempt, started (ISO time)
``llm_request``   conversation, call, model, max_tokens; ``system`` and ``tools`` the
                  first time they are sent; ``messages``: those new since the previous
                  request of that conversation (the whole request is their sum)
``llm_response``  conversation, call, model, parts, stop, usage, cost_usd, duration_ms
``llm_refused``   conversation, reason, detail (the budget or cap that refused a call)
``tool``          family, name, input, result, is_error, duration_ms
``hub_write``     kind (comment, post, dm), step, hub_id
``note``          text (what went wrong on the side: an MCP server that did not start)
``end``           outcome, calls, usage, cost_usd, error
================  ==================================================================

Every string is redacted with the process's ``Redactor`` (no credential the settings
hold can appear) and cut to ``max_entry_chars``; once the transcript passes ``max_bytes``
one ``truncated`` entry says so and later entries are dropped, ``end`` excepted.
Entries are buffered and written by ``flush`` (the store's one round trip).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson

from shared.logs import Redactor
from shared.tools import cut

MAX_ENTRY_CHARS = 20_000
"""A string longer than this in one entry is cut (a tool result, a long message)."""

Writer = Callable[[list[bytes]], Awaitable[None]]


class Transcript:
    """One attempt's entries, redacted and bounded, written in batches by ``flush``."""

    def __init__(
        self,
        *,
        writer: Writer | None,
        redactor: Redactor,
        max_bytes: int,
        max_entry_chars: int = MAX_ENTRY_CHARS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._writer = writer
        self._redactor = redactor
        self._max_bytes = max_bytes
        self._max_chars = max_entry_chars
        self._clock = clock
        self._started = clock()
        self._pending: list[bytes] = []
        self._size = 0
        self._full = False
        self.entries: list[dict[str, Any]] = []
        """Every entry kept, as written (``botburrow try`` prints them)."""

    def add(self, kind: str, **data: Any) -> None:
        """Record one entry; redacted, cut, dropped once the transcript is full (``end`` excepted)."""
        if self._full and kind != "end":
            return
        entry = {"at_ms": round((self._clock() - self._started) * 1000, 1), "kind": kind, **self._clean(data)}
        raw = orjson.dumps(entry, default=str)
        if self._size + len(raw) > self._max_bytes and kind != "end":
            self._full = True
            entry = {"at_ms": entry["at_ms"], "kind": "truncated", "text": f"transcript over {self._max_bytes} bytes"}
            raw = orjson.dumps(entry)
        self._size += len(raw)
        self._pending.append(raw)
        self.entries.append(entry)

    async def flush(self) -> None:
        """Write what was added since the last flush.

        Raises:
            StreamUnavailable: Redis failed; the entries stay buffered for the next flush.
        """
        if self._writer is None:  # kept in memory only (entries)
            self._pending.clear()
            return
        if not self._pending:
            return
        batch = list(self._pending)
        await self._writer(batch)
        del self._pending[: len(batch)]

    def _clean(self, data: Mapping[str, Any]) -> Any:
        return _cut_strings(self._redactor.deep(dict(data)), self._max_chars)


def _cut_strings(value: Any, max_chars: int) -> Any:
    if isinstance(value, str):
        return cut(value, max_chars)
    if isinstance(value, dict):
        return {k: _cut_strings(v, max_chars) for k, v in value.items()}
    if isinstance(value, list):
        return [_cut_strings(v, max_chars) for v in value]
    return value
