"""Done-markers: effects that land at most once however often an event is delivered.

An effect is keyed by the event id and a step name. For effects that are Redis
commands, the marker is checked and set in the same ``MULTI`` as the effect, under
``WATCH``, so the two land together or not at all. With a delivery's fencing token,
the effect also lands only while this runner still holds the agent's lease.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from redis import exceptions as redis_errors

from shared.errors import LeaseLost

from ._delivery import Delivery
from ._keys import StreamKeys
from ._redis import Pipeline, Redis, text, translated
from ._tasks import TurnBatch

DEFAULT_MARKER_TTL_S = 7 * 24 * 3600


class EffectLedger:
    """Records which effects of which events have landed."""

    def __init__(self, redis: Redis, keys: StreamKeys, *, marker_ttl_s: int = DEFAULT_MARKER_TTL_S) -> None:
        self._redis = redis
        self._keys = keys
        self._ttl_s = marker_ttl_s
        self._markers = TurnBatch(self._write_markers)

    async def is_done(self, event_id: str, step: str) -> bool:
        """Whether the effect ``step`` of ``event_id`` has landed."""
        async with translated("EXISTS done-marker"):
            return bool(await self._redis.exists(self._keys.done(event_id, step)))

    async def done_among(self, event_id: str, steps: Sequence[str]) -> set[str]:
        """Which of ``steps`` of ``event_id`` have landed, in one round trip."""
        if not steps:
            return set()
        async with translated("MGET done-markers"):
            markers = await self._redis.mget([self._keys.done(event_id, step) for step in steps])
        return {step for step, marker in zip(steps, markers, strict=True) if marker is not None}

    async def mark_done(self, event_id: str, step: str, value: str = "1") -> None:
        """Record an effect that landed elsewhere (a Hub write sent with an Idempotency-Key).

        Markers set in the same event-loop turn (replies posted side by side) share one
        round trip (``TurnBatch``); each caller returns once its marker is written.
        """
        await self._markers((self._keys.done(event_id, step), value))

    async def _write_markers(self, markers: list[tuple[str, str]]) -> list[None]:
        async with translated("SET done-marker"):
            if len(markers) == 1:
                [(key, value)] = markers
                await self._redis.set(key, value, ex=self._ttl_s)
            else:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for key, value in markers:
                        pipe.set(key, value, ex=self._ttl_s)
                    await pipe.execute()
        return [None] * len(markers)

    async def once(
        self,
        event_id: str,
        step: str,
        effect: Callable[[Pipeline], object],
        *,
        delivery: Delivery | None = None,
    ) -> bool:
        """Apply ``effect`` (commands queued on the pipeline it is given) at most once.

        Returns True if the effect landed now, False if it had landed before.

        Raises:
            LeaseLost: ``delivery`` holds a lease that is no longer this runner's.
            StreamUnavailable: Redis failed; whether the effect landed is then unknown,
                and retrying is safe.
        """
        marker = self._keys.done(event_id, step)
        fence = delivery.lease_key if delivery is not None and delivery.fencing_token is not None else None
        async with translated(f"effect {step}"), self._redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(marker, *([fence] if fence else []))
                    if await pipe.exists(marker):
                        return False
                    if fence is not None and delivery is not None:
                        holder = await pipe.get(fence)
                        if holder is None or text(holder) != delivery.lease_value:
                            raise LeaseLost(f"lease {fence} is no longer held with token {delivery.fencing_token}")
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.set(marker, "1", ex=self._ttl_s)
                    effect(pipe)
                    await pipe.execute()
                    return True
                except redis_errors.WatchError:
                    continue
