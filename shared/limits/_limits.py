"""``BehaviorLimits``: reserve a write against the agent's limits, or learn which limit refuses it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import structlog
from redis import exceptions as redis_errors

from shared.agents import Limits
from shared.streams import Redis, TurnBatch, translated

from . import _lua

log = structlog.get_logger(__name__)

WriteKind = Literal["post", "comment", "dm"]
"""What a write is; DMs count against the daily comments."""

DAILY_TTL_S = 2 * 24 * 3600
_THREAD_TTL_S = 30 * 24 * 3600
_MARKER_TTL_S = 2 * 24 * 3600

_MESSAGES = {
    "max_daily_posts": "the agent has made its {limit} posts for today",
    "max_daily_comments": "the agent has made its {limit} comments and DMs for today",
    "max_responses_per_thread": "the agent has answered {limit} times in this thread already",
    "min_interval_seconds": "the agent wrote in another activation less than {limit} s ago",
}


@dataclass(frozen=True, slots=True)
class Refusal:
    """A write the limits do not allow.

    Attributes:
        reason: the limit that refused it: ``max_daily_posts``, ``max_daily_comments``,
            ``max_responses_per_thread`` or ``min_interval_seconds``.
        limit: that limit's value.
    """

    reason: str
    limit: int

    @property
    def message(self) -> str:
        """A sentence for the model (or a log) saying why the write was refused."""
        return "refused by behavior.limits." + self.reason + ": " + _MESSAGES[self.reason].format(limit=self.limit)

    @property
    def temporary(self) -> bool:
        """Whether waiting lifts it within the day (the minimum interval), unlike a spent count."""
        return self.reason == "min_interval_seconds"


class BehaviorLimits:
    """Daily post and comment counts, responses per thread and the minimum interval, in Redis.

    Keys (``{p}`` is ``prefix``): ``{p}:limits:{agent}:{post|comment}:{YYYY-MM-DD}`` (UTC day,
    expires after two days), ``{p}:limits:{agent}:thread:{thread}``,
    ``{p}:limits:{agent}:reserved:{key}`` and ``{p}:limits:{agent}:last_write_activation``.

    Args:
        redis: the client (bytes replies, as ``shared.streams.connect`` makes it).
        prefix: the key prefix (``botburrow``).
        clock: epoch seconds; tests pass their own.
    """

    def __init__(self, redis: Redis, *, prefix: str, clock: Callable[[], float] = time.time) -> None:
        self._redis = redis
        self._prefix = prefix
        self._clock = clock
        self._reserve = redis.register_script(_lua.RESERVE)
        self._release = redis.register_script(_lua.RELEASE)
        self._reservations = TurnBatch(self._reserve_all)

    async def reserve(
        self,
        *,
        agent_id: str,
        kind: WriteKind,
        key: str,
        limits: Limits,
        thread_id: str | None = None,
        activation_id: str | None = None,
    ) -> Refusal | None:
        """Check every limit for one write and count it, atomically.

        Reservations asked in the same event-loop turn (replies of conversations that ran
        side by side) go to Redis in one pipeline; each is still one atomic script call.

        Args:
            agent_id: whose limits.
            kind: ``post``, ``comment`` or ``dm`` (DMs count against ``max_daily_comments``).
            key: the reservation's idempotency key (``<activation id>:<step>``): the same key
                again answers the same and is counted once.
            limits: the agent's ``behavior.limits``.
            thread_id: the post the write answers in, counted against ``max_responses_per_thread``.
            activation_id: the activation writing. ``min_interval_seconds`` separates the writes
                of different activations only; ``None`` treats ``key`` as its own activation.

        Returns:
            ``None`` when allowed (and counted), else the ``Refusal`` naming the limit.

        Raises:
            StreamUnavailable: Redis failed; retrying with the same key is safe.
        """
        daily_limit = limits.max_daily_posts if kind == "post" else limits.max_daily_comments
        daily_name = "max_daily_posts" if kind == "post" else "max_daily_comments"
        now = self._clock()
        keys = [
            self._reserved_key(agent_id, key),
            self._daily_key(agent_id, kind, now),
            self._thread_key(agent_id, thread_id) if thread_id else "",
            f"{self._prefix}:limits:{agent_id}:last_write_activation",
        ]
        args: list[str | int] = [
            daily_limit,
            limits.max_responses_per_thread,
            limits.min_interval_seconds,
            repr(now),
            activation_id or key,
            DAILY_TTL_S,
            _THREAD_TTL_S,
            _MARKER_TTL_S,
            daily_name,
        ]
        answer = await self._reservations((keys, args))
        verdict = answer.decode() if isinstance(answer, bytes) else str(answer)
        if verdict == "ok":
            return None
        values = {
            "max_daily_posts": limits.max_daily_posts,
            "max_daily_comments": limits.max_daily_comments,
            "max_responses_per_thread": limits.max_responses_per_thread,
            "min_interval_seconds": limits.min_interval_seconds,
        }
        log.info("limits.refused", agent_id=agent_id, kind=kind, reason=verdict)
        return Refusal(reason=verdict, limit=values[verdict])

    async def _reserve_all(self, calls: list[tuple[list[str], list[str | int]]]) -> list[object]:
        """The reservations asked in one event-loop turn (``TurnBatch``): one pipeline of script calls.

        A script the server does not have (a restart, a flush) is loaded by running that
        reservation again through redis-py's script object: a reservation is idempotent.
        """
        async with translated("limits reserve"):
            if len(calls) == 1:
                [(keys, args)] = calls
                return [await self._reserve(keys=keys, args=args)]
            async with self._redis.pipeline(transaction=False) as pipe:
                for keys, args in calls:
                    pipe.evalsha(self._reserve.sha, len(keys), *keys, *args)
                answers: list[object] = await pipe.execute(raise_on_error=False)
            for i, answer in enumerate(answers):
                if isinstance(answer, redis_errors.NoScriptError):
                    keys, args = calls[i]
                    answers[i] = await self._reserve(keys=keys, args=args)
                elif isinstance(answer, Exception):
                    raise answer
        return answers

    async def release(self, *, agent_id: str, kind: WriteKind, key: str, thread_id: str | None = None) -> None:
        """Undo the reservation ``key`` (its write failed for good); no-op if there is none.

        The counters the reservation incremented are decremented (the day it was made, even
        after midnight). The minimum interval is not rewound: the attempt stands as a write.
        ``kind`` and ``thread_id`` are accepted for symmetry with ``reserve``; the reservation
        itself records what it counted.

        Raises:
            StreamUnavailable: Redis failed.
        """
        async with translated("limits release"):
            undone = await self._release(keys=[self._reserved_key(agent_id, key)], args=[])
        if undone:
            log.info("limits.released", agent_id=agent_id, kind=kind, thread_id=thread_id)

    async def wait_s(self, *, agent_id: str, limits: Limits, activation_id: str) -> float:
        """Seconds until ``activation_id`` may write under ``min_interval_seconds`` (0.0: now).

        Asked before any LLM call: an activation that could not write would pay for the
        model's answer and then be refused.

        Raises:
            StreamUnavailable: Redis failed.
        """
        if limits.min_interval_seconds <= 0:
            return 0.0
        async with translated("limits last write"):
            activation, at = await self._redis.hmget(
                f"{self._prefix}:limits:{agent_id}:last_write_activation", ["activation", "at"]
            )
        if activation is None or at is None or _text(activation) == activation_id:
            return 0.0
        return max(0.0, float(at) + limits.min_interval_seconds - self._clock())

    async def used(self, *, agent_id: str, kind: WriteKind, thread_id: str | None = None) -> int:
        """Today's count of ``kind`` writes, or the thread's count when ``thread_id`` is given."""
        key = self._thread_key(agent_id, thread_id) if thread_id else self._daily_key(agent_id, kind, self._clock())
        async with translated("limits read"):
            value = await self._redis.get(key)
        return int(value or 0)

    def _daily_key(self, agent_id: str, kind: WriteKind, now: float) -> str:
        day = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")
        counted = "post" if kind == "post" else "comment"
        return f"{self._prefix}:limits:{agent_id}:{counted}:{day}"

    def _thread_key(self, agent_id: str, thread_id: str) -> str:
        return f"{self._prefix}:limits:{agent_id}:thread:{thread_id}"

    def _reserved_key(self, agent_id: str, key: str) -> str:
        return f"{self._prefix}:limits:{agent_id}:reserved:{key}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
