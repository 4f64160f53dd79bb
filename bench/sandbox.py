"""``python -m bench sandbox``: how fast a sandbox is there, and how fast a command runs in it.

- ``cold_start``: ``DockerBackend.start`` of the default policy (create + start of a
  hardened container), the container removed after each run (not timed).
- ``warm_acquire``: ``WarmPool.acquire`` with an agent's env to bind, the pool filled
  beforehand (every run must be served warm: ``warm_misses`` says if one was not).
- ``exec``: ``true`` in a started container (the engine's exec round trip).
- ``bwrap_start``: a fresh bubblewrap sandbox until its first command (``true``) has
  run, since bwrap has nothing to start before a command; ``bwrap_exec`` is ``true``
  in an existing one.

Over ``runs`` runs each (at least 30), on the engine of ``DOCKER_HOST``.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CollectorRegistry

from bench._harness import percentile
from shared.logs import configure_logging
from shared.sandbox import BwrapBackend, DockerBackend, SandboxMetrics, SandboxSpec, WarmPool


async def _timed(runs: int, once: Callable[[], Awaitable[float]]) -> list[float]:
    return [await once() for _ in range(runs)]


def _ms(samples: list[float], q: float = 50) -> float:
    return round(percentile(samples, q) * 1000, 2)


async def run(*, runs: int = 30) -> dict[str, Any]:
    runs = max(30, runs)
    configure_logging(level="warning", json=False)  # stdout carries the JSON only
    spec = SandboxSpec()
    docker = DockerBackend(base_url=os.environ.get("DOCKER_HOST") or None, owner=f"bench-{os.getpid()}")
    try:
        await (await docker.start(spec)).close()  # the first start pays for the image's first use

        async def cold() -> float:
            t = time.perf_counter()
            sb = await docker.start(spec)
            elapsed = time.perf_counter() - t
            await sb.close()
            return elapsed

        cold_s = await _timed(runs, cold)

        registry = CollectorRegistry()
        pool = WarmPool(docker, size=1, metrics=SandboxMetrics(registry))

        async def warm() -> float:
            await pool.warm(spec)
            t = time.perf_counter()
            sb = await pool.acquire(SandboxSpec(env={"GITHUB_TOKEN": "bench"}))
            elapsed = time.perf_counter() - t
            await pool.release(sb)
            return elapsed

        warm_s = await _timed(runs, warm)
        await pool.aclose()
        misses = registry.get_sample_value(
            "botburrow_sandbox_acquire_seconds_count", {"backend": "docker", "source": "cold"}
        )

        sb = await docker.start(spec)
        exec_s = await _timed(runs, lambda: _exec_true(sb))
        await sb.close()
    finally:
        docker.prune()
        await docker.aclose()

    bwrap = BwrapBackend()

    async def bwrap_first() -> float:
        t = time.perf_counter()
        sb = await bwrap.start(spec)
        await sb.exec(["true"])
        elapsed = time.perf_counter() - t
        await sb.close()
        return elapsed

    bwrap_start_s = await _timed(runs, bwrap_first)
    bsb = await bwrap.start(spec)
    bwrap_exec_s = await _timed(runs, lambda: _exec_true(bsb))
    await bsb.close()
    await bwrap.aclose()

    return {
        "backend": "docker",
        "runs": runs,
        "cold_start_p50_ms": _ms(cold_s),
        "cold_start_p90_ms": _ms(cold_s, 90),
        "warm_acquire_p50_ms": _ms(warm_s),
        "warm_acquire_p90_ms": _ms(warm_s, 90),
        "warm_misses": int(misses or 0),
        "exec_p50_ms": _ms(exec_s),
        "exec_p90_ms": _ms(exec_s, 90),
        "bwrap_start_p50_ms": _ms(bwrap_start_s),
        "bwrap_exec_p50_ms": _ms(bwrap_exec_s),
        "cold_over_warm": round(statistics.median(cold_s) / max(statistics.median(warm_s), 1e-9), 1),
    }


async def _exec_true(sandbox: Any) -> float:
    t = time.perf_counter()
    result = await sandbox.exec(["true"])
    if result.exit_code != 0:
        raise RuntimeError(f"`true` failed in the sandbox: {result}")
    return time.perf_counter() - t
