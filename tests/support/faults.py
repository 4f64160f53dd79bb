"""What the fault tests share: the integration ``System`` (real poller, runner and metrics on
redis-server, the mock Hub, the fake LLM), and the checks every fault test ends with.

Import the ``system`` fixture from here (``from tests.support.faults import system  # noqa: F401``)
and give it a module-level ``system_overrides`` fixture with the timings the test shrinks.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from shared import events as ev
from shared.poller import CircuitBreaker
from shared.streams import StreamKeys, StreamSettings
from tests.integration.conftest import LLM_KEY, System, native_agent, system
from tests.support.streams import fast_settings

__all__ = ["LLM_KEY", "BreakerWatch", "System", "completed", "consumption_keys", "native_agent", "system"]


async def completed(world: System, agent_id: str) -> list[ev.ActivationCompleted]:
    """The completed events of ``agent_id`` on the results stream, in order."""
    found = [ev.data_of(e) for e in await world.results() if e["subject"] == agent_id]
    return [c for c in found if isinstance(c, ev.ActivationCompleted)]


def consumption_keys(world: System) -> Counter[str | None]:
    """Idempotency keys of the consumption POSTs the Hub answered 201 (one per reported attempt)."""
    return Counter(
        r.idempotency_key
        for r in world.hub.requests
        if r.method == "POST" and r.path.endswith("/system/consumption") and r.status == 201
    )


class BreakerWatch:
    """Samples an agent's breaker hash while a fault lasts: the most failures it counted, every state seen."""

    def __init__(self, world: System, agent_id: str) -> None:
        self.breaker = CircuitBreaker(world.redis, prefix=world.keys.prefix)
        self.agent_id = agent_id
        self.max_failures = 0
        self.states: set[str] = set()

    async def sample(self) -> bool:
        state: dict[str, Any] = await self.breaker.state(self.agent_id)
        self.max_failures = max(self.max_failures, int(state.get("failures", 0)))
        self.states.add(str(state.get("state", "closed")))
        return False  # for ``eventually``-style loops that only sample


def faults_stream_settings(keys: StreamKeys) -> StreamSettings:
    """Pump retries 0.4 s doubling to 1.5 s (the defaults' proportions to the shrunk Hub and LLM
    timeouts), and no trimming: the tests read the results stream after the metrics function
    consumed it (the kit trims every 0.5 s, which raced the reading and lost earlier attempts' events)."""
    return fast_settings(keys, retry_base_s=0.4, retry_max_s=1.5, trim_every_s=3600.0)
