"""Tool definitions pinned by hash: a server cannot change what a tool says it does behind an agent's back.

The first time an agent is offered a tool of a server, the hash of its name, description
and input schema is pinned (``{p}:mcp:pins:<agent>:<server>``). Later activations offer
the tool only while its definition hashes the same; a changed one (a "rug pull": a
description that now asks the model to send secrets somewhere) is refused, logged,
counted and kept (``{p}:mcp:seen:<agent>:<server>``) until an operator accepts it with
``botburrow mcp approve AGENT SERVER``, which pins what was last seen.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from shared.streams import Redis, StreamKeys, text, translated


def definition_hash(name: str, description: str, schema: Mapping[str, Any]) -> str:
    """A tool's identity: sha256 of its name, description and input schema (keys sorted)."""
    payload = orjson.dumps([name, description, schema], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(payload).hexdigest()


@dataclass(frozen=True, slots=True)
class Checked:
    """The outcome of a check: tool names offered, and those refused because they changed."""

    accepted: frozenset[str]
    changed: frozenset[str]


class ToolPins:
    """Pinned tool hashes per agent and server, in Redis."""

    def __init__(self, redis: Redis, *, keys: StreamKeys) -> None:
        self._redis = redis
        self._prefix = keys.prefix

    def _pins(self, agent: str, server: str) -> str:
        return f"{self._prefix}:mcp:pins:{agent}:{server}"

    def _seen(self, agent: str, server: str) -> str:
        return f"{self._prefix}:mcp:seen:{agent}:{server}"

    async def check(self, agent: str, server: str, tools: Mapping[str, str]) -> Checked:
        """Compare ``tools`` (name → hash) with the pins; pin the new ones, refuse the changed ones.

        Raises:
            StreamUnavailable: Redis failed.
        """
        pins_key, seen_key = self._pins(agent, server), self._seen(agent, server)
        async with translated("HGETALL mcp pins"):
            pinned = {text(k): text(v) for k, v in (await self._redis.hgetall(pins_key)).items()}
        new = {name: digest for name, digest in tools.items() if name not in pinned}
        changed = {name: digest for name, digest in tools.items() if name in pinned and pinned[name] != digest}
        async with translated("HSET mcp pins"), self._redis.pipeline(transaction=True) as pipe:
            if new:
                pipe.hset(pins_key, mapping=new)  # type: ignore[arg-type]
            pipe.hset(seen_key, mapping=tools)  # type: ignore[arg-type]
            await pipe.execute()
        return Checked(accepted=frozenset(tools) - frozenset(changed), changed=frozenset(changed))

    async def approve(self, agent: str, server: str) -> list[str]:
        """Pin what was last seen of ``server`` for ``agent``; the tools whose pin changed, sorted.

        Raises:
            StreamUnavailable: Redis failed.
        """
        pins_key, seen_key = self._pins(agent, server), self._seen(agent, server)
        async with translated("HGETALL mcp seen"):
            seen = {text(k): text(v) for k, v in (await self._redis.hgetall(seen_key)).items()}
            pinned = {text(k): text(v) for k, v in (await self._redis.hgetall(pins_key)).items()}
        moved = sorted(name for name, digest in seen.items() if pinned.get(name) != digest)
        if seen:
            async with translated("HSET mcp pins"):
                await self._redis.hset(pins_key, mapping=seen)  # type: ignore[arg-type]
        return moved

    async def pinned(self, agent: str, server: str) -> dict[str, str]:
        """The pins of ``server`` for ``agent`` (tool → hash)."""
        async with translated("HGETALL mcp pins"):
            return {text(k): text(v) for k, v in (await self._redis.hgetall(self._pins(agent, server))).items()}
