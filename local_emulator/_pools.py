"""Runner pools, emulated: one Deployment and its KEDA ScaledObject each, scaled on its own streams.

In a cluster each pool (``keda/runner.yaml``: ``runner-notification``, ``runner-exploration``)
is a Deployment whose ``RUNNER_MODE`` picks the activation streams it consumes, sized by its
own ScaledObject (``keda/scaledobject.yaml``) from the figures of those streams only. Here a
``Pool`` is that pair: its runner processes (``python -m functions.runner`` with the pool's
``RUNNER_MODE``), one ready standby whose imports are done, and an ``Autoscaler`` fed with
the pool's own triggers. ``pause`` is KEDA's ``autoscaling.keda.sh/paused-replicas: "0"``:
the pool's runners drain and none start, while its streams keep what arrives.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
import yaml

from shared.streams import Redis

from ._children import Child
from .keda import Autoscaler, Decision, Figures, ManifestError, ScalerConfig, parse_scaled_object, read_figures

log = structlog.get_logger("botburrow.emulator")

HYBRID = "hybrid"


@dataclass(frozen=True, kw_only=True)
class PoolSpec:
    """One pool: the Deployment's name, its ``RUNNER_MODE``, its ScaledObject's parameters."""

    name: str
    mode: str
    scaler: ScalerConfig


def load_pools(path: Path, *, prefix: str | None = None) -> list[PoolSpec]:
    """Every ScaledObject under ``path`` (a folder of manifests, or one file) as a pool.

    A pool's mode is the ``RUNNER_MODE`` value its Deployment (the ScaledObject's
    ``scaleTargetRef.name``) gives its runner container; ``hybrid`` when the Deployment
    is not among the files or sets none (a ScaledObject alone scales a pool of every
    stream).

    Raises:
        ManifestError: a file is not YAML, a ScaledObject is malformed, or none is there.
    """
    files = sorted(path.glob("*.y*ml")) if path.is_dir() else [path]
    documents: list[dict[str, Any]] = []
    for file in files:
        try:
            documents += [d for d in yaml.safe_load_all(file.read_text()) if isinstance(d, dict)]
        except yaml.YAMLError as exc:
            raise ManifestError(str(file), f"not valid YAML: {exc}") from exc
    deployments = {_name(d): d for d in documents if d.get("kind") == "Deployment"}
    pools = []
    for document in documents:
        if document.get("kind") != "ScaledObject":
            continue
        target = str(((document.get("spec") or {}).get("scaleTargetRef") or {}).get("name") or _name(document))
        pools.append(
            PoolSpec(
                name=target,
                mode=_runner_mode(deployments.get(target)),
                scaler=parse_scaled_object(document, prefix=prefix),
            )
        )
    if not pools:
        raise ManifestError("kind", f"no ScaledObject in {path}")
    return pools


def _name(document: Mapping[str, Any]) -> str:
    return str((document.get("metadata") or {}).get("name") or "")


def _runner_mode(deployment: Mapping[str, Any] | None) -> str:
    if deployment is None:
        return HYBRID
    containers = (((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
    for container in containers:
        for entry in container.get("env") or []:
            if entry.get("name") == "RUNNER_MODE" and isinstance(entry.get("value"), str):
                return str(entry["value"])
    return HYBRID


ChildFactory = Callable[[str, list[str], Mapping[str, str]], Child]
"""Makes a child process: (name, argv, extra environment)."""


class Pool:
    """One pool's runner processes and its autoscaler; ``step`` is one KEDA polling interval."""

    def __init__(self, spec: PoolSpec, *, make_child: ChildFactory, grace_s: float) -> None:
        self.spec = spec
        self.autoscaler = Autoscaler(spec.scaler)
        self.runners: list[Child] = []
        self.draining: list[tuple[Child, asyncio.Task[int | None]]] = []
        self.standby: Child | None = None  # the next runner, imports done (``local_emulator._pod``)
        self.last_decision: Decision | None = None
        self.last_figures: Figures | None = None  # what KEDA read last; the status view shows it
        self.paused = False
        self._make_child = make_child
        self._grace_s = grace_s
        self._seq = 0

    @property
    def name(self) -> str:
        return self.spec.name

    async def start(self) -> None:
        """Start the standby runner: scaling from zero then costs a polling interval, not the imports."""
        await self._new_standby()

    async def step(self, redis: Redis) -> None:
        """Read the pool's figures as KEDA does, decide, start or SIGTERM runners."""
        self._reap()
        if self.standby is not None and not self.standby.running:
            log.warning("emulator.standby_exited", child=self.standby.name, log=str(self.standby.log_path))
            await self._new_standby()
        try:
            figures = await read_figures(redis, self.spec.scaler)
        except Exception as exc:  # Redis hiccup: KEDA keeps the current count too
            log.warning("emulator.keda_read_failed", pool=self.name, error=str(exc))
            return
        self.last_figures = figures
        if self.paused:
            await self.scale_to(0, reason="paused (autoscaling.keda.sh/paused-replicas: 0)")
            return
        decision = self.autoscaler.decide(figures, current=len(self.runners), now=time.monotonic())
        self.last_decision = decision
        try:
            await self.scale_to(decision.replicas, reason=decision.reason)
        except OSError as exc:  # a child that cannot start, or a standby gone: try again next time
            log.warning("emulator.scale_failed", pool=self.name, error=repr(exc))

    def pause(self) -> None:
        """Stop the pool as KEDA's paused-replicas "0" would: its runners drain at the next step."""
        self.paused = True
        log.info("emulator.pool_paused", pool=self.name)

    def resume(self) -> None:
        """Let the autoscaler size the pool again."""
        self.paused = False
        log.info("emulator.pool_resumed", pool=self.name)

    async def scale_to(self, replicas: int, *, reason: str = "") -> None:
        """Start runner pumps, or SIGTERM the newest ones (they drain in the background)."""
        current = len(self.runners)
        if replicas == current:
            return
        log.info("emulator.scale", pool=self.name, runners=f"{current} -> {replicas}", reason=reason)
        while len(self.runners) < replicas:
            child = self.standby if self.standby is not None and self.standby.running else None
            self.standby = None
            if child is None:
                child = await self._new_runner(standby=False)
            else:
                await child.go()
            self.runners.append(child)
        if self.standby is None:
            await self._new_standby()
        while len(self.runners) > replicas:
            child = self.runners.pop()
            self.draining.append((child, asyncio.create_task(child.stop(grace_s=self._grace_s))))

    async def stop(self) -> None:
        """Drain every runner (SIGTERM, the grace period) and stop the standby."""
        if self.standby is not None:
            await self.standby.stop(grace_s=1.0)
            self.standby = None
        stopping = [r.stop(grace_s=self._grace_s) for r in self.runners] + [t for _, t in self.draining]
        await asyncio.gather(*stopping, return_exceptions=True)
        self.runners.clear()
        self.draining.clear()

    async def _new_runner(self, *, standby: bool) -> Child:
        self._seq += 1
        module = "local_emulator._pod" if standby else "functions.runner"
        child = self._make_child(
            f"{self.name}-{self._seq}", [sys.executable, "-m", module], {"RUNNER_MODE": self.spec.mode}
        )
        child.standby = standby
        await child.start()
        return child

    async def _new_standby(self) -> None:
        self.standby = await self._new_runner(standby=True)

    def _reap(self) -> None:
        """Forget drained runners; replace pumps that died on their own (as a Deployment would)."""
        self.draining = [(c, t) for c, t in self.draining if not t.done()]
        for child in [c for c in self.runners if not c.running]:
            log.warning("emulator.runner_exited", child=child.name, code=child.process and child.process.returncode)
            self.runners.remove(child)
