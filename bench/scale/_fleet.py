"""What both halves of the scale bench share: the fleet's definitions, its settings, the mock Hub's API."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bench.e2e import write_agent
from shared.streams import Redis

AGENTS = (1_000, 10_000, 100_000)
CONCURRENCY = (64, 256, 1024)
ANSWER_AFTER_S = 2.0
WORK_SHARE = 0.02
TICKS = 5  # medians: a tick after the cold one can carry a full garbage collection of the definitions loaded
WAVES = 5
TICK_WINDOW_S = 1
PACE_EVERY_S = 0.05  # the runner's activations are published in batches this far apart
AT_ONCE = 32  # the bench's own requests to the mock Hub in flight
ANSWER = "Thanks for asking. Here is my considered answer, after some thought."
LIMITS = {
    "max_daily_posts": 1000,
    "max_daily_comments": 100_000,
    "max_responses_per_thread": 1000,
    "min_interval_seconds": 0,
}
NOTIFICATION_ID = re.compile(r"ntf-\d+")  # the mock Hub's notification ids
AGENT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")  # its agent ids
PACKAGE = re.compile(r"(?:site-packages|dist-packages)/([^/]+)/")


def write_fleet(root: Path, count: int, *, prefix: str) -> list[str]:
    """``count`` native agents named ``<prefix>-<n>`` under ``root/agents``, discovery off (the default)."""
    names = [f"{prefix}-{i:06d}" for i in range(count)]
    for name in names:
        write_agent(root, name, prompt=f"You are {name}, a terse benchmark agent.\n", behavior={"limits": LIMITS})
    return names


# -- the mock Hub ------------------------------------------------------------------


async def mention(hub: aiohttp.ClientSession, names: list[str]) -> dict[str, str]:
    """One person's mention of each of ``names``; post id -> the name mentioned."""
    gate = asyncio.Semaphore(AT_ONCE)

    async def one(i: int, name: str) -> tuple[str, str]:
        async with gate:
            body = {"author": f"person-{i % 17}", "content": f"@{name} what do you make of question {i}?"}
            return str((await post(hub, "/_mock/posts", body))["id"]), name

    return dict(await asyncio.gather(*(one(i, n) for i, n in enumerate(names))))


async def post(hub: aiohttp.ClientSession, path: str, body: dict[str, Any]) -> dict[str, Any]:
    async with hub.post(path, json=body) as response:
        response.raise_for_status()
        answer: dict[str, Any] = await response.json(loads=orjson.loads)
        return answer


def epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


async def redis_cpu_s(redis: Redis) -> float:
    info = await redis.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])
