"""Scale: the poller's tick over 1,000 to 100,000 agents, and one runner holding N conversations.

Poller, for each fleet size (``--agents``): that many agent definitions in a directory
(``AGENTS_DIR``: the poller loads them through ``shared.definitions.agent_store``, as in
production), the mock Hub registering the same directory (``--agents DIR``), a private
redis-server (or ``REDIS_URL`` and a fresh prefix) and the poller's functions-framework
target, as processes on loopback. Every agent is stale (never activated). Before each
tick a fresh slice of ``work_share`` (2 %) of them gets a person's mention, and the
previous slice's notifications are gone (``/_mock/reset``, as if their runners had
answered). The other agents are *idle*: stale, nothing unread, and
``behavior.discovery`` at its default, off, so the tick's discovery pass reads each of
their definitions and queues nothing. (With discovery on, a stale agent would be
discovery work, not idle: this measures what idle agents cost.) A tick is a ``ping``
with ``window_s`` 1 POSTed to the target (the discovery pass, then one long-poll round,
or as many as fit the second); its CPU is the target's processes' threads' (schedstat,
to the nanosecond), its wall time from the POST to its last activation on a stream
(``answered_ms``: to the POST's answer, at least the window). The first tick loads
every definition (``cold_tick_*``), an idle one follows (nobody has work: what the
fleet alone costs), then ``ticks`` with work are measured (medians), each of which must
publish one activation per agent with work.
Redis: after the last tick, ``MEMORY USAGE`` of every key under the run's prefix; keys
naming an agent that had work or one of its notifications, and the activation streams,
are work; everything else (the id to name map, the lease's fence...) is charged to the
idle agents.

Runner, for each ``--concurrency`` N: one ``python -m functions.runner`` with
``RUNNER_CONCURRENCY=N``, the mock Hub and the fake LLM, whose every answer takes
``answer_after_s`` (2 s, a ``--script`` step's ``delay_s``). ``waves`` times N agents
each get one mention; their activations (one each, naming the mention) are published at
the ideal rate, N / ``answer_after_s`` a second, so the runner holds N conversations
once the first answers are due. ``replies_per_s`` is the rate of the middle half of the
replies (the Hub's timestamps): the offered rate if the runner keeps up, its capacity
if a backlog builds. ``errors`` counts dead letters, outcomes other than ``replied``,
failed attempts in the runner's log and mentions left unanswered; ``most_in_flight`` is
the most activations that ran at once (from their durations), so a pool or semaphore
that caps concurrency shows. ``rss_mb`` is the runner's peak resident memory;
``memory`` has its RSS at rest (after one conversation) and the growth per conversation
held, and with ``trace_memory`` a second run per N (two waves, under tracemalloc: its
speed is not a figure) that compares snapshots of the runner at rest and holding N
conversations, by package.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ._fleet import AGENTS, ANSWER_AFTER_S, CONCURRENCY, TICKS, WAVES, WORK_SHARE, write_fleet
from ._runner import runner_at
from ._ticks import poller_at

__all__ = ["run", "write_fleet"]


async def run(
    *,
    agents: Sequence[int] = AGENTS,
    concurrency: Sequence[int] = CONCURRENCY,
    answer_after_s: float = ANSWER_AFTER_S,
    work_share: float = WORK_SHARE,
    ticks: int = TICKS,
    waves: int = WAVES,
    trace_memory: bool = False,
) -> dict[str, Any]:
    """Measure every fleet size in ``agents``, then every runner concurrency in ``concurrency``."""
    if not agents and not concurrency:
        raise ValueError("nothing to measure: give --agents or --concurrency")
    if ticks < 1 or waves < 1 or not 0 < work_share < 1 or answer_after_s <= 0:
        raise ValueError("ticks and waves must be at least 1, work_share within (0, 1), answer_after_s above 0")
    load_before = os.getloadavg()
    sizes = [await poller_at(n, work_share=work_share, ticks=ticks) for n in agents]
    runners = []
    for n in concurrency:
        measured = await runner_at(n, answer_after_s=answer_after_s, waves=waves)
        if trace_memory:
            traced = await runner_at(n, answer_after_s=answer_after_s, waves=min(waves, 2), traced=True)
            measured.traced = traced.traced
        runners.append(measured)
    by_size = {str(s.agents): s for s in sizes}
    growth = None
    if sizes and sizes[0].cpu_ms_per_agent_with_work > 0:
        growth = round(sizes[-1].cpu_ms_per_agent_with_work / sizes[0].cpu_ms_per_agent_with_work, 2)
    return {
        "agents": list(agents),
        "tick_cpu_ms_per_agent_with_work": {k: s.cpu_ms_per_agent_with_work for k, s in by_size.items()},
        "tick_wall_ms": {k: s.wall_ms for k, s in by_size.items()},
        "tick_cost_growth": growth,
        "redis_bytes_per_idle_agent": sizes[-1].redis_bytes_per_idle_agent if sizes else None,
        "runner": [r.figures() for r in runners],
        "ticks": {k: s.figures() for k, s in by_size.items()},
        "work_share": work_share,
        "answer_after_s": answer_after_s,
        "load_average": [round(x, 2) for x in (*load_before, *os.getloadavg())],
    }
