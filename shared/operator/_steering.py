"""``Steering``: what the poller and the runner ask of the operator's controls.

The poller asks ``is_paused`` before queueing an agent's work; the runner asks it before
an activation's first LLM call (a paused agent's activation is handed back with
``RetryLater(PAUSED_RETRY_S)``), and asks ``is_cancelled`` as the activation starts and
before each step (each LLM call of the native loop, each notification of a coding CLI).
"""

from __future__ import annotations

from shared.streams import Redis, SameTurn, StreamKeys, translated

from ._keys import OperatorKeys

PAUSED_RETRY_S = 30.0
"""How long a paused agent's activation waits on its stream before it is tried again."""


class Steering:
    """Reads the paused agents and cancelled activations (``{p}:paused``, ``{p}:cancel:<id>``)."""

    def __init__(self, redis: Redis, *, keys: StreamKeys) -> None:
        self._redis = redis
        self._keys = OperatorKeys(keys.prefix)
        self._cancelled = SameTurn(self._read_cancelled)

    async def is_paused(self, name: str) -> bool:
        """Whether the agent ``name`` is paused.

        Raises:
            StreamUnavailable: Redis failed.
        """
        async with translated("HEXISTS paused"):
            return bool(await self._redis.hexists(self._keys.paused, name))

    async def is_cancelled(self, activation_id: str) -> bool:
        """Whether an operator cancelled ``activation_id``.

        The conversations of an activation asking in the same event-loop turn share one
        read, sent after all of them asked (``SameTurn``).

        Raises:
            StreamUnavailable: Redis failed.
        """
        return await self._cancelled(activation_id)

    async def _read_cancelled(self, activation_id: str) -> bool:
        async with translated("EXISTS cancel"):
            return bool(await self._redis.exists(self._keys.cancel(activation_id)))
