"""``TranscriptStore``: transcripts in Redis, kept ``ttl_s`` (7 days by default), listed newest first."""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from shared.logs import Redactor
from shared.streams import Redis, StreamKeys, text, translated

from ._keys import TranscriptKeys
from ._query import ActivationSummary
from ._transcript import Transcript

DEFAULT_TTL_S = 7 * 24 * 3600
DEFAULT_MAX_BYTES = 1_048_576
_PAGE = 200


@dataclass(frozen=True, kw_only=True)
class Recorded:
    """One attempt's transcript as stored: its id, attempt and entries in order."""

    activation_id: str
    attempt: int
    entries: list[dict[str, Any]] = field(default_factory=list)

    @property
    def begin(self) -> dict[str, Any]:
        """The ``begin`` entry (agent, kind, started), or an empty one."""
        return next((e for e in self.entries if e.get("kind") == "begin"), {})

    @property
    def end(self) -> dict[str, Any] | None:
        """The ``end`` entry (outcome, usage, cost), or ``None`` for an attempt that never ended."""
        return next((e for e in reversed(self.entries) if e.get("kind") == "end"), None)


class TranscriptStore:
    """Opens transcripts for attempts and reads them back.

    Args:
        redis: the client (bytes replies).
        keys: the stream keys; transcript keys share their prefix.
        ttl_s: how long a transcript is kept after its last write.
        max_bytes: the most one attempt's transcript holds.
        redactor: masks every secret of the process's settings.
        clock: seconds since the epoch.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        keys: StreamKeys,
        ttl_s: int = DEFAULT_TTL_S,
        max_bytes: int = DEFAULT_MAX_BYTES,
        redactor: Redactor | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis
        self._keys = TranscriptKeys(keys.prefix)
        self._ttl_s = ttl_s
        self._max_bytes = max_bytes
        self._redactor = redactor or Redactor()
        self._clock = clock

    def open(self, *, activation_id: str, attempt: int, agent: str, kind: str) -> Transcript:
        """A transcript for one attempt, its ``begin`` entry added (written at the first ``flush``)."""
        member = f"{activation_id}:{attempt}"
        key = self._keys.entries(activation_id, attempt)
        started = self._clock()
        indexed = False

        async def write(batch: list[bytes]) -> None:
            nonlocal indexed
            async with translated("RPUSH transcript"), self._redis.pipeline(transaction=False) as pipe:
                pipe.rpush(key, *batch)
                pipe.expire(key, self._ttl_s)
                if not indexed:
                    attempts = self._keys.attempts(activation_id)
                    pipe.hset(attempts, str(attempt), repr(started))
                    pipe.expire(attempts, self._ttl_s)
                    pipe.zadd(self._keys.index, {member: started})
                    pipe.zremrangebyscore(self._keys.index, "-inf", started - self._ttl_s)
                await pipe.execute()
            indexed = True

        transcript = Transcript(writer=write, redactor=self._redactor, max_bytes=self._max_bytes)
        transcript.add(
            "begin",
            activation_id=activation_id,
            attempt=attempt,
            agent=agent,
            activation_kind=kind,
            started=datetime.fromtimestamp(started, UTC).isoformat(),
        )
        return transcript

    async def load(self, activation_id: str, attempt: int | None = None) -> Recorded | None:
        """One attempt's transcript (the latest attempt when ``attempt`` is ``None``), or ``None``.

        Raises:
            StreamUnavailable: Redis failed.
        """
        attempts = await self.attempts(activation_id) if attempt is None else [attempt]
        if not attempts:
            return None
        chosen = attempts[-1]
        async with translated("LRANGE transcript"):
            raw = await self._redis.lrange(self._keys.entries(activation_id, chosen), 0, -1)
        if not raw:
            return None
        return Recorded(activation_id=activation_id, attempt=chosen, entries=[orjson.loads(r) for r in raw])

    async def heads_and_tails(self, attempts: list[tuple[str, int]]) -> list[Recorded | None]:
        """Each attempt's first and last entries only (its ``begin``, and its ``end`` once ended), in one round trip.

        For listings: a transcript may hold a megabyte, its two ends a few hundred bytes.

        Raises:
            StreamUnavailable: Redis failed.
        """
        if not attempts:
            return []
        async with translated("LRANGE transcript ends"), self._redis.pipeline(transaction=False) as pipe:
            for activation_id, attempt in attempts:
                key = self._keys.entries(activation_id, attempt)
                pipe.lindex(key, 0)
                pipe.lindex(key, -1)
            raw = await pipe.execute()
        out: list[Recorded | None] = []
        for index, (activation_id, attempt) in enumerate(attempts):
            first, last = raw[2 * index], raw[2 * index + 1]
            entries = [orjson.loads(first)] if first is not None else []
            if last is not None and len(entries) == 1 and last != first:
                entries.append(orjson.loads(last))
            out.append(Recorded(activation_id=activation_id, attempt=attempt, entries=entries) if entries else None)
        return out

    async def attempts(self, activation_id: str) -> list[int]:
        """The attempts of ``activation_id`` that have a transcript, oldest first.

        Raises:
            StreamUnavailable: Redis failed.
        """
        async with translated("HKEYS transcript attempts"):
            keys = await self._redis.hkeys(self._keys.attempts(activation_id))
        return sorted(int(text(k)) for k in keys if text(k).isdigit())

    async def recent(self, *, limit: int = 50) -> list[tuple[str, int, float]]:
        """``(activation id, attempt, started)`` of the newest transcripts, newest first.

        Raises:
            StreamUnavailable: Redis failed.
        """
        async with translated("ZRANGE transcripts"):
            rows = await self._redis.zrevrange(self._keys.index, 0, max(limit, 1) - 1, withscores=True)
        out: list[tuple[str, int, float]] = []
        for row in rows:
            member, score = row[0], row[1]
            activation_id, _, attempt = text(member).rpartition(":")
            out.append((activation_id, int(attempt), float(score)))
        return out

    async def list(
        self,
        *,
        agent: str | None = None,
        outcome: str | None = None,
        since: datetime | None = None,
        limit: int = 50,
        max_scanned: int = 10_000,
    ) -> builtins.list[ActivationSummary]:
        """Attempts started at or after ``since``, newest first, of ``agent`` with ``outcome``, at most ``limit``.

        ``agent`` matches the agent's name as its transcript recorded it; ``outcome`` the
        ``end`` entry's (``running`` matches attempts with no ``end`` yet). The index is read
        a page at a time, at most ``max_scanned`` members, so a rare filter stays bounded.

        Raises:
            StreamUnavailable: Redis failed.
            ValueError: ``limit`` is below 1.
        """
        if limit < 1:
            raise ValueError(f"limit={limit}: at least one line")
        low: float | str = since.timestamp() if since is not None else "-inf"
        found: builtins.list[ActivationSummary] = []
        offset = 0
        while len(found) < limit and offset < max_scanned:
            async with translated("ZREVRANGEBYSCORE transcripts"):
                rows = await self._redis.zrevrangebyscore(
                    self._keys.index, "+inf", low, start=offset, num=_PAGE, withscores=True
                )
            if not rows:
                break
            offset += len(rows)
            for summary in await self._summaries([(text(row[0]), float(row[1])) for row in rows]):
                if agent is not None and summary.agent != agent:
                    continue
                if outcome is not None and (summary.outcome or "running") != outcome:
                    continue
                found.append(summary)
        return found[:limit]

    async def _summaries(self, rows: Sequence[tuple[str, float]]) -> builtins.list[ActivationSummary]:
        """Each member's summary, from its first and last entries (one round trip)."""
        async with translated("LINDEX transcripts"), self._redis.pipeline(transaction=False) as pipe:
            for member, _ in rows:
                activation_id, _, attempt = member.rpartition(":")
                key = self._keys.entries(activation_id, int(attempt) if attempt.isdigit() else 0)
                pipe.lindex(key, 0)
                pipe.lindex(key, -1)
            replies = await pipe.execute()
        out = []
        for i, (member, started_s) in enumerate(rows):
            first, last = replies[2 * i], replies[2 * i + 1]
            if first is None:  # expired: the index outlives its entries by up to a write
                continue
            out.append(
                ActivationSummary.of(
                    member=member, started_s=started_s, begin=orjson.loads(first), end=orjson.loads(last)
                )
            )
        return out
