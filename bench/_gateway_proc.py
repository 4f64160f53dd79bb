"""The gateway in a process of its own, for ``bench gateway``: ``python -m bench._gateway_proc UPSTREAM REDIS_URL``.

It issues one lease for the upstream (the fake LLM), books spend in Redis as a runner
does, prints ``gateway <url> <token>`` once it answers, and runs until SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from decimal import Decimal

from shared.accounting import LiveSpend, Spending
from shared.gateway import Gateway, Upstream
from shared.logs import configure_logging
from shared.runtime import run_on_uvloop
from shared.streams import StreamKeys, connect

KEY = "sk-bench-0123456789"


async def main(upstream: str, redis_url: str) -> None:
    configure_logging(level="warning", json=False)
    redis = connect(redis_url)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    spending = Spending(live=LiveSpend(redis, keys=StreamKeys("bench-gateway")))
    async with Gateway() as gateway:
        lease = gateway.leases.issue(
            agent="bench",
            activation_id="bench",
            budget=spending.for_activation(agent_id="bench", cost_cap_usd=Decimal(10_000)),
            upstreams={"anthropic": Upstream(api="anthropic", base_url=upstream, api_key=KEY)},
        )
        print(f"gateway {gateway.url} {lease.token}", flush=True)
        await stop.wait()
    await redis.aclose()


if __name__ == "__main__":
    run_on_uvloop(main(sys.argv[1], sys.argv[2]))  # as the runner runs
