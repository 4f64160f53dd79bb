"""``Snapshots``: what the web view shows, read from Redis and the Hub in one pass.

=============  ===============================================================================
part           from
=============  ===============================================================================
agents         ``Operator.agents()`` (spend, budget, breaker, paused, last activation)
pipeline       ``stream_status`` of each activation stream (lag, pending) and of the results
               stream; runners: the consumers of the runners' group idle less than
               ``ACTIVE_CONSUMER_MS`` on any activation stream (``XINFO CONSUMERS``)
activations    the newest transcripts (``TranscriptStore``): outcome, cost; those without an
               ``end`` are in flight, their current step the kind of their last entry
threads        the posts the newest transcripts' model requests name (``on post <id>``),
               fetched from the Hub (``GET /posts/{id}?include_comments=true``), cached
               ``THREAD_CACHE_S``
series         spend per agent over the day (cumulative, from today's ended attempts) and
               outcomes per ``OUTCOME_BUCKET_S``
=============  ===============================================================================
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from shared.agents import AgentStore
from shared.errors import BotburrowError
from shared.hub import HubClient
from shared.operator import Operator, summarize
from shared.settings import HubSettings, RunnerMode
from shared.streams import Redis, StreamKeys, StreamSettings, stream_status, text, translated
from shared.transcripts import TranscriptStore

ACTIVE_CONSUMER_MS = 60_000
"""A runner consumer idle longer than this is not counted in its pool."""
RECENT = 60
"""How many of the newest transcripts a snapshot lists."""
THREADS = 8
"""How many threads (posts) a snapshot shows at most."""
THREAD_CACHE_S = 1.5
"""How long a thread fetched from the Hub is reused (every open page shares it)."""
OUTCOME_BUCKET_S = 600
"""The width of one bar of the outcomes plot."""
_POST_ID = re.compile(r"\bon post ([A-Za-z0-9_.\-]+)")
_MAX_CACHED = 500


class Snapshots:
    """Builds snapshots (see the module docstring); one per process, used on the target's loop.

    Args:
        hub: the Hub's settings (threads are fetched with its service key).
        streams: the groups to report on (the runners' on the activation streams, the results').
        clock: epoch seconds.
    """

    def __init__(self, *, hub: HubSettings, streams: StreamSettings, clock: Callable[[], float] = time.time) -> None:
        self._hub_settings = hub
        self._group = streams.group
        self._results_group = streams.results_group
        self._clock = clock
        self._posts_of: OrderedDict[str, tuple[str, tuple[str, ...]]] = OrderedDict()
        self._threads: dict[str, tuple[float, dict[str, Any] | None]] = {}

    async def snapshot(self, redis: Redis, keys: StreamKeys, *, agents: AgentStore | None) -> dict[str, Any]:
        """Everything the page shows, JSON-ready; ``agents`` the definitions (``None``: those the poller saw).

        Raises:
            StreamUnavailable: Redis failed (the Hub failing only blanks a thread).
        """
        operator = Operator(redis, keys=keys, agents=agents, clock=self._clock)
        store = TranscriptStore(redis, keys=keys, clock=self._clock)
        rows = await store.recent(limit=RECENT)
        ends = await store.heads_and_tails([(a, n) for a, n, _ in rows])
        activations = []
        for (_, _, started), recorded in zip(rows, ends, strict=True):
            if recorded is None:
                continue
            row = summarize(recorded, started=started).as_dict()
            row["step"] = str(recorded.entries[-1].get("kind", "")) if recorded.end is None else "end"
            activations.append(row)
        return {
            "at": datetime.fromtimestamp(self._clock(), UTC).isoformat(),
            "agents": [state.as_dict() for state in await operator.agents()],
            "pipeline": await self._pipeline(redis, keys),
            "activations": activations,
            "in_flight": [a for a in activations if a["outcome"] is None],
            "threads": await self._threads_of(store, activations),
            "series": self._series(activations),
        }

    async def _pipeline(self, redis: Redis, keys: StreamKeys) -> dict[str, Any]:
        streams: list[dict[str, Any]] = []
        reads: dict[str, set[str]] = {}  # runner consumer -> the priorities it reads
        for stream in (*keys.activation_streams, keys.results):
            group = self._results_group if stream == keys.results else self._group
            status = await stream_status(redis, stream, group)
            consumers = await self._active_consumers(redis, stream, group, known=status.consumers)
            if stream != keys.results:
                for consumer in consumers:
                    reads.setdefault(consumer, set()).add(stream.rsplit(":", 1)[1])
            streams.append({**dataclasses.asdict(status), "group": group, "consumers": consumers})
        return {"streams": streams, "runners": sorted(reads), "pools": _pools(reads)}

    async def _active_consumers(self, redis: Redis, stream: str, group: str, *, known: int) -> list[str]:
        """The group's consumers idle less than ``ACTIVE_CONSUMER_MS`` (none asked when ``known`` is 0)."""
        if not known:  # also when the stream or group does not exist yet: XINFO CONSUMERS would fail
            return []
        async with translated("XINFO CONSUMERS"):
            rows = await redis.xinfo_consumers(stream, group)
        return sorted(text(r["name"]) for r in rows if int(r.get("idle", 0)) < ACTIVE_CONSUMER_MS)

    async def _threads_of(self, store: TranscriptStore, activations: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The newest posts the activations' model requests name, each with the activations that worked on it."""
        order: list[str] = []
        worked: dict[str, list[str]] = {}
        agent_of: dict[str, str] = {}
        for row in activations:
            agent, post_ids = await self._post_ids(store, row["id"], row["agent"])
            for post_id in post_ids:
                if post_id not in worked:
                    order.append(post_id)
                    worked[post_id] = []
                    agent_of[post_id] = agent
                worked[post_id].append(row["id"])
            if len(order) >= THREADS:
                break
        order = order[:THREADS]
        fetched = await asyncio.gather(*(self._thread(p, agent_of[p]) for p in order))
        out = []
        for post_id, thread in zip(order, fetched, strict=True):
            out.append({"id": post_id, "post": thread, "activations": worked[post_id]})
        return out

    async def _post_ids(self, store: TranscriptStore, activation_id: str, agent: str) -> tuple[str, tuple[str, ...]]:
        """``(agent, post ids)`` an activation's model requests name; kept once its first request is recorded."""
        cached = self._posts_of.get(activation_id)
        if cached is not None:
            return cached
        recorded = await store.load(activation_id)
        if recorded is None:
            return agent, ()
        found: list[str] = []
        requested = False
        for entry in recorded.entries:
            if entry.get("kind") != "llm_request":
                continue
            requested = True
            for message in entry.get("messages") or []:
                for post_id in _POST_ID.findall(_text_of(message)):
                    if post_id not in found:
                        found.append(post_id)
        result = (agent, tuple(found))
        if requested:
            self._posts_of[activation_id] = result
            while len(self._posts_of) > _MAX_CACHED:
                self._posts_of.popitem(last=False)
        return result

    async def _thread(self, post_id: str, agent: str) -> dict[str, Any] | None:
        now = self._clock()
        cached = self._threads.get(post_id)
        if cached is not None and now - cached[0] < THREAD_CACHE_S:
            return cached[1]
        try:
            async with HubClient.from_settings(self._hub_settings) as hub:
                post = await hub.get_post(agent, post_id, include_comments=True)
            thread: dict[str, Any] | None = post.model_dump(mode="json")
        except BotburrowError:  # the Hub is down or the post is gone: shown as unavailable
            thread = None
        self._threads[post_id] = (now, thread)
        if len(self._threads) > _MAX_CACHED:
            self._threads.clear()
        return thread

    def _series(self, activations: list[dict[str, Any]]) -> dict[str, Any]:
        """Cumulative spend per agent over today, and outcome counts per bucket (oldest first)."""
        today = datetime.fromtimestamp(self._clock(), UTC).date().isoformat()
        ended = sorted((a for a in activations if a["finished_at"]), key=lambda a: str(a["finished_at"]))
        spend: dict[str, list[list[Any]]] = {}
        for row in ended:
            if not str(row["finished_at"]).startswith(today):
                continue
            points = spend.setdefault(row["agent"], [])
            total = (points[-1][1] if points else 0.0) + float(row["cost_usd"])
            points.append([row["finished_at"], round(total, 6)])
        buckets: dict[int, dict[str, int]] = {}
        for row in ended:
            at = datetime.fromisoformat(str(row["finished_at"])).timestamp()
            bucket = int(at // OUTCOME_BUCKET_S * OUTCOME_BUCKET_S)
            counts = buckets.setdefault(bucket, {})
            counts[str(row["outcome"])] = counts.get(str(row["outcome"]), 0) + 1
        outcomes = [{"at": datetime.fromtimestamp(b, UTC).isoformat(), "counts": buckets[b]} for b in sorted(buckets)]
        return {"spend": spend, "outcomes": outcomes, "bucket_s": OUTCOME_BUCKET_S}


def _pools(reads: dict[str, set[str]]) -> dict[str, list[str]]:
    """Runner consumers by pool: a pool is known by the streams its runners read (``RunnerMode.priorities``)."""
    by_streams = {frozenset(mode.priorities): mode.value for mode in RunnerMode}
    pools: dict[str, list[str]] = {mode.value: [] for mode in RunnerMode}
    for consumer, priorities in sorted(reads.items()):
        pools.setdefault(by_streams.get(frozenset(priorities), "other"), []).append(consumer)
    return pools


def _text_of(message: Any) -> str:
    """The text of one recorded message (a string, or ``parts``/``content`` with ``text``)."""
    if isinstance(message, str):
        return message
    if isinstance(message, dict):
        content = message.get("parts", message.get("content", message.get("text", "")))
        if isinstance(content, list):
            return "\n".join(_text_of(part) for part in content)
        return str(content)
    return str(message)
