"""Publishing events onto streams, one at a time or pipelined in batches."""

from __future__ import annotations

from collections.abc import Iterable

from cloudevents.http import CloudEvent

from shared.events import to_fields

from ._redis import Redis, translated


class Publisher:
    """XADDs CloudEvents in the Redis binding of ``shared.events``.

    Streams are never capped at publish time: ``MAXLEN`` would trim entries the group
    has not been given yet. Acknowledged history is trimmed by the pumps instead.
    """

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def publish(self, stream: str, event: CloudEvent) -> str:
        """Append ``event`` to ``stream``; returns the entry id."""
        async with translated(f"XADD {stream}"):
            entry_id = await self._redis.xadd(stream, to_fields(event))  # type: ignore[arg-type]
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    async def publish_many(self, items: Iterable[tuple[str, CloudEvent]]) -> list[str]:
        """Append many events in one pipeline (one round trip); returns the entry ids in order."""
        pipe = self._redis.pipeline(transaction=False)
        for stream, event in items:
            pipe.xadd(stream, to_fields(event))  # type: ignore[arg-type]
        async with translated("XADD batch"):
            ids = await pipe.execute()
        return [i.decode() if isinstance(i, bytes) else str(i) for i in ids]
