"""Sandbox start, acquire and command times as Prometheus histograms."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from prometheus_client import CollectorRegistry, Histogram

from ._types import WORKSPACE, BackendName, ExecResult, OnOutput, Sandbox, SandboxSpec

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class SandboxMetrics:
    """``botburrow_sandbox_{start,acquire,exec}_seconds``, declared once on ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.start = Histogram(
            "botburrow_sandbox_start_seconds",
            "Time to start one sandbox (a cold start), by backend.",
            ["backend"],
            buckets=_BUCKETS,
            registry=registry,
        )
        self.acquire = Histogram(
            "botburrow_sandbox_acquire_seconds",
            "Time an activation waited for its sandbox, by backend and source (warm: from the pool).",
            ["backend", "source"],
            buckets=_BUCKETS,
            registry=registry,
        )
        self.exec = Histogram(
            "botburrow_sandbox_exec_seconds",
            "Wall-clock time of one command in a sandbox, by backend and outcome (ok, failed, timeout).",
            ["backend", "outcome"],
            buckets=_BUCKETS,
            registry=registry,
        )


class MeteredSandbox:
    """A sandbox whose commands are timed into ``SandboxMetrics.exec``; everything else passes through."""

    def __init__(self, inner: Sandbox, metrics: SandboxMetrics) -> None:
        self._inner = inner
        self._metrics = metrics

    @property
    def id(self) -> str:
        return self._inner.id

    @property
    def backend(self) -> BackendName:
        return self._inner.backend

    def bind(self, spec: SandboxSpec) -> None:
        self._inner.bind(spec)

    async def exec(
        self,
        argv: Sequence[str],
        *,
        timeout_s: float | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str = WORKSPACE,
        stdin: bytes | None = None,
        on_output: OnOutput | None = None,
    ) -> ExecResult:
        result = await self._inner.exec(argv, timeout_s=timeout_s, env=env, cwd=cwd, stdin=stdin, on_output=on_output)
        outcome = "timeout" if result.timed_out else "ok" if result.exit_code == 0 else "failed"
        self._metrics.exec.labels(backend=self.backend, outcome=outcome).observe(result.duration_s)
        return result

    async def put_archive(self, dest: str, data: bytes) -> None:
        await self._inner.put_archive(dest, data)

    async def get_archive(self, path: str) -> bytes:
        return await self._inner.get_archive(path)

    async def close(self) -> None:
        await self._inner.close()
