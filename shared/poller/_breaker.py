"""The per-agent circuit breaker, kept in Redis so every poller and runner shares it.

::

    closed ──5 consecutive failures──► open (60 s) ──time passes──► half-open
      ▲                                  ▲                            │ one probe allowed
      └────────── a success ─────────────┼──── the probe fails ◄──────┘
                                          (backoff doubles, up to 1 h)

The runner calls ``record`` once per activation; the poller calls ``allow`` before it
publishes one. A budget refusal is an outcome, not a failure: it is never recorded.
A half-open probe that never reports (its activation was lost) frees the probe slot
after ``probe_timeout_s``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from shared.streams import Redis, translated

from . import _scripts

log = structlog.get_logger(__name__)

FAILURE_THRESHOLD = 5
BASE_BACKOFF_S = 60.0
MAX_BACKOFF_S = 3600.0
_BACKOFF = frozenset({"open", "half_open"})


class CircuitBreaker:
    """Per-agent breaker state in the hash ``{prefix}:breaker:{agent}``.

    Args:
        redis: the Redis client.
        prefix: the key prefix (``botburrow``).
        clock: epoch seconds.
        failure_threshold: consecutive failures that open the breaker.
        base_backoff_s: how long the first opening lasts.
        max_backoff_s: the longest opening; each failed probe doubles it up to this.
        probe_timeout_s: after this, a half-open probe that never reported is given up on.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str,
        clock: Callable[[], float] = time.time,
        failure_threshold: int = FAILURE_THRESHOLD,
        base_backoff_s: float = BASE_BACKOFF_S,
        max_backoff_s: float = MAX_BACKOFF_S,
        probe_timeout_s: float = 900.0,
    ) -> None:
        if failure_threshold < 1 or base_backoff_s <= 0 or max_backoff_s < base_backoff_s:
            raise ValueError("breaker needs threshold >= 1 and 0 < base_backoff_s <= max_backoff_s")
        self._prefix = prefix
        self._clock = clock
        self._threshold = failure_threshold
        self._base_s = base_backoff_s
        self._max_s = max_backoff_s
        self._probe_timeout_s = probe_timeout_s
        self._redis = redis
        self._allow = _scripts.register(redis, _scripts.ALLOW)
        self._record = _scripts.register(redis, _scripts.RECORD)

    def key(self, agent_id: str) -> str:
        """The hash holding the breaker state of ``agent_id``."""
        return f"{self._prefix}:breaker:{agent_id}"

    async def allow(self, agent_id: str) -> bool:
        """Whether an activation of ``agent_id`` may start now.

        Closed: always. Open: not until its backoff has passed; then exactly one caller
        gets the half-open probe (atomically) and the others are refused until it reports.

        Raises:
            StreamUnavailable: Redis failed.
        """
        answer = await _scripts.run(
            self._allow, [self.key(agent_id)], [self._clock(), self._probe_timeout_s], what="breaker allow"
        )
        if int(answer) == 2:
            log.info("breaker.half_open_probe", agent_id=agent_id)
        return int(answer) != 0

    async def record(self, agent_id: str, *, ok: bool) -> None:
        """Record the outcome of one activation of ``agent_id``.

        A success closes the breaker and resets its count; a failure counts, opens it at
        the threshold, and re-opens it with a doubled backoff when it was the probe.

        Raises:
            StreamUnavailable: Redis failed.
        """
        ttl_s = int(self._max_s * 4)
        args = ["1" if ok else "0", self._clock(), self._threshold, self._base_s, self._max_s, ttl_s]
        state = await _scripts.run(self._record, [self.key(agent_id)], args, what="breaker record")
        if not ok:
            log.info("breaker.failure", agent_id=agent_id, state=_scripts_text(state))

    async def in_backoff(self, *, max_agents: int = 10_000) -> dict[str, bool]:
        """Agent -> whether its breaker is open or half-open, for every agent with a breaker hash.

        An agent whose last activation succeeded has no hash (closed) and is not listed.
        Bounded by ``max_agents`` hashes, for a scrape that must stay quick.

        Raises:
            StreamUnavailable: Redis failed.
        """
        head = self.key("")
        async with translated("SCAN breakers"):
            names = []
            async for key in self._redis.scan_iter(match=f"{head}*", count=500):
                names.append(_scripts_text(key))
                if len(names) >= max_agents:
                    break
            pipe = self._redis.pipeline(transaction=False)
            for name in names:
                pipe.hget(name, "state")
            states = await pipe.execute()
        return {
            name.removeprefix(head): _scripts_text(state or "closed") in _BACKOFF
            for name, state in zip(names, states, strict=True)
        }

    async def reset(self, agent_id: str) -> bool:
        """Close the breaker of ``agent_id`` and forget its failures (an operator's ``breaker reset``).

        Returns whether there was state to forget.

        Raises:
            StreamUnavailable: Redis failed.
        """
        async with translated("breaker reset"):
            removed = int(await self._redis.delete(self.key(agent_id)))
        log.info("breaker.reset", agent_id=agent_id, had_state=bool(removed))
        return bool(removed)

    async def state(self, agent_id: str) -> dict[str, str]:
        """The raw breaker hash of ``agent_id`` (empty when closed with no failures)."""
        async with translated("breaker state"):
            raw = await self._redis.hgetall(self.key(agent_id))
        return {_scripts_text(k): _scripts_text(v) for k, v in raw.items()}


def _scripts_text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
