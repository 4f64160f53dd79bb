"""``python -m bench gateway``: what the activation gateway adds to an LLM call, measured beside the direct call.

The fake LLM and the gateway each run in a process of their own; this process makes the
calls with the real anthropic SDK (JSON answers), one direct and one through the gateway
per round, alternating which goes first, and reports the per-round difference:
``added_p50_ms`` and ``added_p99_ms``, and the gateway's CPU per call (its whole process,
metering and booking the spend in Redis included). Goal: added p50 at most 1 ms.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import anthropic

from bench._gateway_proc import KEY
from bench._harness import ROOT, percentile, process_cpu_seconds, redis_for_bench

MODEL = "claude-haiku-4-5"
ASK = {"model": MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": "hello"}]}


def _child(argv: list[str], prefix: str) -> tuple[subprocess.Popen[str], list[str]]:
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR") if k in os.environ}
    env["PYTHONPATH"] = str(ROOT)
    process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith(prefix):
        process.kill()
        raise RuntimeError(f"{argv[2]} did not start: {line!r}")
    return process, line.split()


async def _timed(client: anthropic.AsyncAnthropic) -> float:
    started = time.perf_counter()
    await client.messages.create(**ASK)  # type: ignore[call-overload]
    return time.perf_counter() - started


async def run(*, calls: int = 500, warmup: int = 50) -> dict[str, Any]:
    with redis_for_bench() as redis_url:
        fake, words = _child([sys.executable, "-m", "local_emulator.fake_llm", "--port", "0", "--api-key", KEY], "fake")
        upstream = words[-1]
        gateway, words = _child([sys.executable, "-m", "bench._gateway_proc", upstream, redis_url], "gateway")
        gateway_url, token = words[1], words[2]
        direct = anthropic.AsyncAnthropic(api_key=KEY, base_url=upstream, max_retries=0)
        via = anthropic.AsyncAnthropic(api_key=token, base_url=gateway_url, max_retries=0)
        try:
            for _ in range(warmup):
                await _timed(direct)
                await _timed(via)
            added: list[float] = []
            plain: list[float] = []
            cpu_before = process_cpu_seconds(gateway.pid)
            for i in range(calls):
                if i % 2:
                    a, b = await _timed(direct), await _timed(via)
                else:
                    b, a = await _timed(via), await _timed(direct)
                plain.append(a)
                added.append(b - a)
            cpu_s = process_cpu_seconds(gateway.pid) - cpu_before
        finally:
            await direct.close()
            await via.close()
            for child in (gateway, fake):
                child.terminate()
                child.wait(timeout=10)
    return {
        "calls": calls,
        "direct_p50_ms": round(percentile(plain, 50) * 1000, 3),
        "added_p50_ms": round(percentile(added, 50) * 1000, 3),
        "added_p99_ms": round(percentile(added, 99) * 1000, 3),
        "cpu_ms_per_call": round(cpu_s / calls * 1000, 3),
    }
