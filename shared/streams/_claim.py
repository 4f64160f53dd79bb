"""Claiming entries: weighted batches across priorities, and reclaim from the dead."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from ._entries import Entry, parse_entry
from ._redis import Redis, Scripts, translated


class WeightedTurns:
    """Smooth weighted round-robin: shares claim slots between streams by weight.

    State carries over between calls, so the shares hold even when only one slot is
    free at a time; a zero weight means "only when the others have nothing".
    """

    def __init__(self, weights: Mapping[str, int]) -> None:
        self._weights = {s: w for s, w in weights.items() if w > 0}
        self._total = sum(self._weights.values())
        self._current = dict.fromkeys(self._weights, 0)

    def allot(self, slots: int, among: Sequence[str] | None = None) -> dict[str, int]:
        """Split ``slots`` between the streams (or the subset ``among``)."""
        names = [s for s in (among or self._weights) if s in self._weights]
        counts = dict.fromkeys(names, 0)
        if not names:
            return counts
        total = sum(self._weights[s] for s in names)
        for _ in range(slots):
            for s in names:
                self._current[s] += self._weights[s]
            best = max(names, key=self._current.__getitem__)
            self._current[best] -= total
            counts[best] += 1
        return counts


class Claimer:
    """Reads new entries for one consumer and takes over entries of dead consumers."""

    def __init__(
        self,
        redis: Redis,
        scripts: Scripts,
        *,
        streams: Sequence[str],
        weights: Mapping[str, int],
        group: str,
        consumer: str,
        block_ms: int,
    ) -> None:
        self._redis = redis
        self._scripts = scripts
        self._streams = tuple(streams)
        self._turns = WeightedTurns(weights)
        self._group = group
        self._consumer = consumer
        self._block_ms = block_ms
        self._idle: set[str] = set()

    async def claim(self, slots: int) -> list[Entry]:
        """Up to ``slots`` new entries (a few more if a blocking read finds several streams).

        Slots are shared by weight between the streams that had entries at the last
        read, so a flood on one priority cannot starve the others; a stream found empty
        is only probed for one entry (in the same round trip) until it has work again.
        Slots a stream leaves unused go to the streams that filled theirs. When every
        stream is empty the read blocks (up to ``block_ms``) on all of them.
        """
        if slots <= 0:
            return []
        active = [s for s in self._streams if s not in self._idle] or list(self._streams)
        counts = self._turns.allot(slots, among=active)
        for stream in self._streams:
            if stream not in active:
                counts[stream] = 1
        got = await self._read({s: n for s, n in counts.items() if n > 0})
        returned = Counter(e.stream for e in got)
        self._idle = {s for s in self._streams if s in counts and returned[s] == 0}
        short = slots - len(got)
        if short > 0 and got:
            full = [s for s, n in counts.items() if n > 0 and returned[s] == n]
            if full:
                extra = self._turns.allot(short, among=full)
                got += await self._read({s: n for s, n in extra.items() if n > 0})
        if not got:
            per_stream = max(1, -(-slots // len(self._streams)))
            got = await self._read(dict.fromkeys(self._streams, per_stream), block_ms=self._block_ms)
            self._idle = set(self._streams) - {e.stream for e in got}
        return got

    async def _read(self, counts: Mapping[str, int], block_ms: int | None = None) -> list[Entry]:
        if not counts:
            return []
        async with translated("XREADGROUP"):
            if block_ms is None:
                pipe = self._redis.pipeline(transaction=False)
                for stream, n in counts.items():
                    pipe.xreadgroup(self._group, self._consumer, {stream: ">"}, count=n)  # no BLOCK: a peek
                replies: list[Any] = await pipe.execute()
            else:
                n = max(counts.values())
                streams: dict[Any, Any] = dict.fromkeys(counts, ">")
                replies = [await self._redis.xreadgroup(self._group, self._consumer, streams, count=n, block=block_ms)]
        entries: list[Entry] = []
        for reply in replies:
            for stream_name, items in reply or ():
                stream = stream_name.decode() if isinstance(stream_name, bytes) else stream_name
                entries.extend(parse_entry(stream, entry_id, fields, 1) for entry_id, fields in items)
        return entries

    async def reclaim(self, slots: int, *, min_idle_ms: int) -> list[Entry]:
        """Take over up to ``slots`` entries idle for ``min_idle_ms`` or more.

        Each entry comes with its delivery count and ``previous_owner``, the consumer
        that went silent: its agent leases may be taken over with the entries.
        """
        entries: list[Entry] = []
        for stream in self._streams:
            if len(entries) >= slots:
                break
            args = [self._group, self._consumer, min_idle_ms, slots - len(entries)]
            items, owners, counts = await self._scripts.call("reclaim", [stream], args)
            for (entry_id, flat), owner, count in zip(items, owners, counts, strict=True):
                fields = dict(zip(flat[::2], flat[1::2], strict=True))
                entries.append(parse_entry(stream, entry_id, fields, int(count), owner.decode()))
        return entries
