"""``DefinitionVersions``: one Redis hash that tells every process which definitions changed.

``<prefix>:agents:versions`` holds a counter per agent name and one under ``*`` for
"all agents". Bumping a counter (``HINCRBY``) is the invalidation; every ``AgentStore``
built with these versions reads its agent's counter and ``*`` with one ``HMGET`` per
``get`` (one for all the agents of a ``get_many``) and reloads when either moved. A
process that was down, busy or partitioned when the bump happened still sees it on its
next load: nothing is lost the way a missed pub/sub message would be. The counters never expire (a few bytes per agent).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from shared.agents import AgentStore, configured_source
from shared.settings import AgentSourceSettings
from shared.streams import Redis, translated

ALL = "*"
"""The field whose bump invalidates every agent."""


class DefinitionVersions:
    """The version counters under ``<prefix>:agents:versions`` (``shared.agents.Versions``)."""

    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self._redis = redis
        self.key = f"{prefix}:agents:versions"

    async def read(self, name: str) -> tuple[int, int]:
        """Agent ``name``'s counter and the ``*`` counter (0 when never bumped).

        Raises:
            StreamUnavailable: Redis failed.
        """
        async with translated("HMGET agents:versions"):
            of_name, of_all = await self._redis.hmget(self.key, [name, ALL])
        return int(of_name or 0), int(of_all or 0)

    async def read_many(self, names: Sequence[str]) -> tuple[list[int], int]:
        """The counters of agents ``names`` (in order) and the ``*`` counter, with one ``HMGET``.

        Raises:
            StreamUnavailable: Redis failed.
        """
        async with translated("HMGET agents:versions"):
            *of_names, of_all = await self._redis.hmget(self.key, [*names, ALL])
        return [int(v or 0) for v in of_names], int(of_all or 0)

    async def bump(self, names: Iterable[str] = (), *, everything: bool = False) -> None:
        """Invalidate agents ``names`` (and every agent when ``everything``) in every process.

        Raises:
            StreamUnavailable: Redis failed; nothing may have been bumped.
        """
        fields = sorted({*names, *([ALL] if everything else [])})
        if not fields:
            return
        async with translated("HINCRBY agents:versions"), self._redis.pipeline(transaction=True) as pipe:
            for field in fields:
                pipe.hincrby(self.key, field, 1)
            await pipe.execute()


def agent_store(settings: AgentSourceSettings, redis: Redis, *, prefix: str) -> AgentStore:
    """The ``AgentStore`` a process with Redis uses: the configured source, following the versions.

    Raises:
        ConfigurationError: agent definitions are not configured.
    """
    return AgentStore(configured_source(settings), versions=DefinitionVersions(redis, prefix=prefix))
