"""The floor of one reply: the parts a reply must use, each timed alone in a process of its own.

``bench e2e`` runs this after its measurement, against the same mock Hub, fake LLM and
redis-server, so ``our_cpu_ms_per_reply / floor_cpu_ms_per_reply`` compares two figures
taken on the same machine in the same minute. What a reply cannot do without:

- one LLM call through the Anthropic SDK (``AsyncAnthropic`` over its aiohttp client, no
  retries): the very request a runner made last in the run (its system prompt, the
  thread, the tools it offered), fetched from the fake LLM and replayed as it was;
- the thread read and the comment through our ``HubClient`` (the only client the Hub has);
- the Redis round trips of one activation, with nothing around them: published
  (``XADD``), claimed (``XREADGROUP``), settled with its outcome (``XACK`` and ``XADD`` in
  one ``MULTI``), the outcome read by the metrics function (``XREADGROUP``) and acked
  (``XACK``). An activation may answer several mentions: ``e2e`` spreads this part over
  the replies of the activations it made.

Each part runs ``--calls`` times in sequence after a warm-up; the process's own CPU
(``time.process_time``, user + system) per call is the part's floor. Prints one JSON line:
``{"llm_call_ms", "hub_read_ms", "hub_comment_ms", "redis_activation_ms", "calls"}``::

    python -m bench.floor --hub URL --llm URL --redis URL --agent NAME --post ID [--calls 300]
"""

from __future__ import annotations

import argparse
import inspect
import secrets
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anthropic
import httpx
import orjson
import uvloop
from redis.asyncio import Redis

from shared.hub import HubClient

WARM_UP_CALLS = 20
ROUND_TRIPS = 5
"""Of one activation: publish, claim, settle (one MULTI), the metrics function's read and ack."""


async def cpu_ms_per_call(calls: int, once: Callable[[int], Awaitable[object]]) -> float:
    """CPU milliseconds of this process per ``once(i)``, after a warm-up."""
    for i in range(WARM_UP_CALLS):
        await once(-1 - i)
    started = time.process_time()
    for i in range(calls):
        await once(i)
    return round((time.process_time() - started) * 1000 / calls, 3)


async def measure(
    *, hub_url: str, llm_url: str, redis_url: str, agent: str, post_id: str, calls: int
) -> dict[str, float]:
    llm = anthropic.AsyncAnthropic(
        api_key="sk-bench-fake", base_url=llm_url, max_retries=0, http_client=anthropic.DefaultAioHttpClient()
    )
    request = await runners_request(llm_url)
    async with HubClient(base_url=hub_url, api_key="botburrow-local") as hub:

        async def ask(_: int) -> object:
            return await llm.messages.create(**request)

        async def read(_: int) -> object:
            return await hub.get_post(agent, post_id)

        async def comment(i: int) -> object:
            key = f"floor-{secrets.token_hex(8)}-{i}"
            return await hub.create_comment(agent, post_id, f"floor reply {i}", idempotency_key=key)

        figures = {
            "llm_call_ms": await cpu_ms_per_call(calls, ask),
            "hub_read_ms": await cpu_ms_per_call(calls, read),
            "hub_comment_ms": await cpu_ms_per_call(calls, comment),
        }
    await llm.close()
    figures["redis_activation_ms"] = await redis_activation_ms(redis_url, calls)
    return {**figures, "calls": calls}


async def runners_request(llm_url: str) -> dict[str, Any]:
    """The last Messages API request a runner made (the fake LLM keeps it), to replay as it was sent."""
    async with httpx.AsyncClient(base_url=llm_url) as http:
        answer = await http.get("/_fake/requests/last", params={"api": "anthropic"})
    answer.raise_for_status()
    body: dict[str, Any] = answer.json()["body"]
    body.pop("stream", None)  # a plain request, as the runner makes at this max_tokens
    known = inspect.signature(anthropic.resources.AsyncMessages.create).parameters
    extra = {k: body.pop(k) for k in list(body) if k not in known}  # as the runner sends temperature
    return {**body, "extra_body": extra} if extra else body


async def redis_activation_ms(redis_url: str, calls: int) -> float:
    """CPU per activation of its Redis round trips alone, on a scratch pair of streams."""
    redis = Redis.from_url(redis_url)
    tag = secrets.token_hex(4)
    requests, results = f"floor:{tag}:requests", f"floor:{tag}:results"
    try:
        for stream in (requests, results):
            await redis.xgroup_create(stream, "g", id="0", mkstream=True)
        fields = {"id": "x" * 36, "type": "com.botburrow.activation.requested", "data": "{" + "x" * 400 + "}"}

        async def activation(_: int) -> object:
            await redis.xadd(requests, fields)  # type: ignore[arg-type]
            claimed: Any = await redis.xreadgroup("g", "runner", {requests: ">"}, count=1)
            entry_id = claimed[0][1][0][0]
            async with redis.pipeline(transaction=True) as settle:
                settle.xack(requests, "g", entry_id)
                settle.xadd(results, fields)  # type: ignore[arg-type]
                await settle.execute()
            outcome: Any = await redis.xreadgroup("g", "metrics", {results: ">"}, count=1)
            return await redis.xack(results, "g", outcome[0][1][0][0])

        return await cpu_ms_per_call(calls, activation)
    finally:
        await redis.delete(requests, results)
        await redis.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.floor")
    parser.add_argument("--hub", required=True)
    parser.add_argument("--llm", required=True)
    parser.add_argument("--redis", required=True)
    parser.add_argument("--agent", required=True)
    parser.add_argument("--post", required=True)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args(argv)
    figures = uvloop.run(  # as the runner runs
        measure(
            hub_url=args.hub,
            llm_url=args.llm,
            redis_url=args.redis,
            agent=args.agent,
            post_id=args.post,
            calls=args.calls,
        )
    )
    print(orjson.dumps(figures).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
