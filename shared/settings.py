"""One settings object, built from the environment once, at the entrypoint.

Only ``Settings.from_env`` reads the environment; everything else takes settings (or
a part of them) as an argument. Every problem names the variable that caused it, all
of them at once, and ``repr`` never shows a secret.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from shared.errors import ConfigurationError
from shared.events import Priority
from shared.streams import DEFAULT_WEIGHTS, StreamSettings

T = TypeVar("T")
N = TypeVar("N", int, float)

_URL_PASSWORD = re.compile(r"(?<=://)([^:/@\s]*):([^@/\s]+)@")


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    return _URL_PASSWORD.sub(r"\1:***@", url)


@dataclass(frozen=True, kw_only=True)
class RunnerSettings:
    """The runner process: how many handlers at once, how long to drain, which handler.

    ``handler`` is ``module:attribute`` of a handler factory (see ``shared.runtime``).
    """

    concurrency: int = 16
    grace_period_s: float = 30.0
    handler: str = "functions.runner.noop:handler"
    consumer: str | None = None


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything a botburrow process is configured with."""

    redis_url: str = "redis://localhost:6379/0"
    streams: StreamSettings = field(default_factory=StreamSettings)
    runner: RunnerSettings = field(default_factory=RunnerSettings)
    metrics_port: int | None = 9090
    log_level: str = "info"
    log_json: bool = True

    def __repr__(self) -> str:
        parts = [f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.name != "redis_url"]
        return f"Settings(redis_url={redact_url(self.redis_url)!r}, {', '.join(parts)})"

    def secrets(self) -> list[str]:
        """Secret values that must never appear in logs (for the log redactor)."""
        match = _URL_PASSWORD.search(self.redis_url)
        return [match.group(2)] if match else []

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``environ`` (default: the process environment).

        Raises:
            ConfigurationError: listing every variable that is malformed or out of range.
        """
        env = _Env(os.environ if environ is None else environ)
        d = StreamSettings()
        streams_kw: dict[str, Any] = {
            "prefix": env.get("STREAM_PREFIX", d.prefix, _name),
            "max_deliveries": env.get("MAX_DELIVERIES", d.max_deliveries, _int(1)),
            "lease_ttl_ms": env.get("LEASE_TTL_MS", d.lease_ttl_ms, _int(100)),
            "heartbeat_every_s": env.get("HEARTBEAT_EVERY_S", d.heartbeat_every_s, _float(0.01)),
            "reclaim_every_s": env.get("RECLAIM_EVERY_S", d.reclaim_every_s, _float(0.01)),
            "retry_base_s": env.get("RETRY_BASE_S", d.retry_base_s, _float(0.0)),
            "retry_max_s": env.get("RETRY_MAX_S", d.retry_max_s, _float(0.0)),
            "defer_base_s": env.get("DEFER_BASE_S", d.defer_base_s, _float(0.0)),
            "weights": env.get("PRIORITY_WEIGHTS", DEFAULT_WEIGHTS, _weights),
        }
        r = RunnerSettings()
        runner = RunnerSettings(
            concurrency=env.get("RUNNER_CONCURRENCY", r.concurrency, _int(1)),
            grace_period_s=env.get("RUNNER_GRACE_PERIOD_S", r.grace_period_s, _float(0.0)),
            handler=env.get("RUNNER_HANDLER", r.handler, _import_path),
            consumer=env.get("RUNNER_CONSUMER", r.consumer, _name),
        )
        port = env.get("METRICS_PORT", cls.metrics_port or 0, _int(0))
        redis_url = env.get("REDIS_URL", cls.redis_url, _redis_url)
        log_level = env.get("LOG_LEVEL", cls.log_level, _level)
        log_json = env.get("LOG_FORMAT", "json", _format) == "json"
        try:
            streams = StreamSettings(**streams_kw)
        except ValueError as exc:
            env.problems.append(f"LEASE_TTL_MS / HEARTBEAT_EVERY_S / PRIORITY_WEIGHTS: {exc}")
            streams = StreamSettings()
        if env.problems:
            raise ConfigurationError("invalid settings:\n  " + "\n  ".join(env.problems))
        return cls(
            redis_url=redis_url,
            streams=streams,
            runner=runner,
            metrics_port=port or None,
            log_level=log_level,
            log_json=log_json,
        )


class _Env:
    """Reads variables, collecting every problem instead of stopping at the first."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self.problems: list[str] = []

    def get(self, name: str, default: T, parse: Callable[[str], T]) -> T:
        raw = self._environ.get(name)
        if raw is None or raw.strip() == "":
            return default
        try:
            return parse(raw.strip())
        except ValueError as exc:
            shown = redact_url(raw) if "URL" in name else raw
            self.problems.append(f"{name}={shown!r}: {exc}")
            return default


def _bounded(convert: Callable[[str], N], minimum: N, *, kind: str) -> Callable[[str], N]:
    def parse(raw: str) -> N:
        try:
            value = convert(raw)
        except ValueError:
            raise ValueError(f"must be {kind}") from None
        if value < minimum:
            raise ValueError(f"must be at least {minimum:g}")
        return value

    return parse


def _int(minimum: int) -> Callable[[str], int]:
    return _bounded(int, minimum, kind="a whole number")


def _float(minimum: float) -> Callable[[str], float]:
    return _bounded(float, minimum, kind="a number")


def _name(raw: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.:-]+", raw):
        raise ValueError("use letters, digits and _ . : - only")
    return raw


def _redis_url(raw: str) -> str:
    if not re.match(r"^(redis|rediss|unix)://", raw):
        raise ValueError("must start with redis://, rediss:// or unix://")
    return raw


def _import_path(raw: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", raw):
        raise ValueError("must be module.path:attribute")
    return raw


def _level(raw: str) -> str:
    if raw.lower() not in {"debug", "info", "warning", "error"}:
        raise ValueError("must be debug, info, warning or error")
    return raw.lower()


def _format(raw: str) -> str:
    if raw.lower() not in {"json", "console"}:
        raise ValueError("must be json or console")
    return raw.lower()


def _weights(raw: str) -> dict[Priority, int]:
    """``high=6,normal=3,low=1``."""
    weights: dict[Priority, int] = {}
    for part in raw.split(","):
        name, sep, value = part.partition("=")
        try:
            priority = Priority(name.strip())
        except ValueError:
            raise ValueError(f"unknown priority {name.strip()!r} (use high, normal, low)") from None
        if not sep or not value.strip().isdigit():
            raise ValueError(f"weight of {priority.value} must be a whole number")
        weights[priority] = int(value)
    if set(weights) != set(Priority):
        raise ValueError("give a weight for each of high, normal and low")
    return weights
