"""What both benchmarks need: a Redis to use, runner processes to start, stop and read."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

from local_emulator.redis_server import RedisServer
from shared import events as ev
from shared.streams import Publisher, Redis, StreamKeys

ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
WARM_UP = "warm-up"


@contextlib.contextmanager
def redis_for_bench() -> Iterator[str]:
    """``REDIS_URL`` when set, else a private redis-server for the duration."""
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    with RedisServer() as server:
        yield server.url


def fresh_prefix(kind: str) -> str:
    return f"bench-{kind}-{uuid.uuid4().hex[:8]}"


class Runner:
    """One ``python -m functions.runner`` child process."""

    def __init__(self, *, redis_url: str, prefix: str, handler: str, extra_env: Mapping[str, str] | None = None):
        # A minimal environment: the caller's settings variables must not leak into a measurement.
        env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR") if k in os.environ}
        env.update(
            REDIS_URL=redis_url,
            STREAM_PREFIX=prefix,
            RUNNER_HANDLER=handler,
            METRICS_PORT="0",
            LOG_LEVEL=os.environ.get("BENCH_LOG_LEVEL", "warning"),
            PYTHONPATH=str(ROOT),
        )
        env.update(extra_env or {})
        self.process = subprocess.Popen(
            [sys.executable, "-m", "functions.runner"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.pid)

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(sig)

    def stop(self, timeout_s: float = 60) -> int:
        """SIGTERM and wait; returns the exit code (the runner drains and exits 0)."""
        self.signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.process.wait()


async def warm_up(redis: Redis, keys: StreamKeys, *, count: int = 1, timeout_s: float = 30) -> None:
    """Publish ``count`` warm-up activations and wait until their outcomes are published.

    A runner that has answered one event is consuming; it has also paid its one-off
    costs (imports, script loads, first allocations) before anything is measured.
    """
    now = datetime.now(UTC)
    stream = keys.activations(ev.Priority.NORMAL)
    before = await redis.xlen(keys.results)
    warm = [
        ev.activation_requested(
            agent_id=f"warm-{i}",
            agent_name=f"warm-{i}",
            kind=ev.ActivationKind.INBOX,
            requested_at=now,
            notification_ids=[f"warm-{uuid.uuid4().hex}"],
            reason=WARM_UP,
        )
        for i in range(count)
    ]
    await Publisher(redis).publish_many([(stream, e) for e in warm])
    deadline = time.monotonic() + timeout_s
    while await redis.xlen(keys.results) < before + count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"runners did not answer {count} warm-up event(s) within {timeout_s}s")
        await asyncio.sleep(0.02)


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def threads_cpu_s(pids: list[int]) -> float:
    """CPU seconds the live threads of processes ``pids`` have used, to the nanosecond.

    From each thread's ``schedstat``; ``/proc/<pid>/stat`` counts in clock ticks (10 ms),
    too coarse for a tick of a few dozen milliseconds. A thread that has exited is not
    counted: for processes whose threads live as long as they do (event loops, pools).
    """
    total_ns = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{pid}/task").iterdir():
                with contextlib.suppress(OSError, ValueError, IndexError):
                    total_ns += int((task / "schedstat").read_text().split()[0])
    return total_ns / 1e9


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]
