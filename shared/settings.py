"""One settings object, built from the environment once, at the entrypoint.

Only ``Settings.from_env`` reads the environment; everything else takes settings (or
a part of them) as an argument. Every problem names the variable that caused it, all
of them at once, and ``repr`` never shows a secret.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import TypeVar

from shared.errors import ConfigurationError
from shared.events import Priority
from shared.streams import DEFAULT_WEIGHTS, StreamSettings

T = TypeVar("T")
N = TypeVar("N", int, float)

_URL_PASSWORD = re.compile(r"(?<=://)([^:/@\s]*):([^@/\s]+)@")


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    return _URL_PASSWORD.sub(r"\1:***@", url)


@dataclass(frozen=True)
class Secret:
    """A value that must never be shown: ``repr`` and ``str`` print ``***``.

    Call ``reveal()`` at the one place that hands the value to a client.
    """

    _value: str = field(repr=False)

    def reveal(self) -> str:
        """The secret value itself."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


class RunnerMode(enum.StrEnum):
    """Which activations a runner takes (and the poller produces)."""

    NOTIFICATION = "notification"  # inbox work only: mentions, replies, DMs
    EXPLORATION = "exploration"  # discovery only: stale agents looking for something to say
    HYBRID = "hybrid"  # both


@dataclass(frozen=True, kw_only=True)
class RunnerSettings:
    """The runner process: how many handlers at once, how long to drain, which handler.

    ``handler`` is ``module:attribute`` of a handler factory (see ``shared.runtime``).
    ``activation_timeout_s`` is the deadline of one activation, LLM calls and tools included;
    ``max_cost_usd`` caps what one activation may spend (checked before every LLM call).
    """

    concurrency: int = 16
    grace_period_s: float = 30.0
    handler: str = "functions.runner.activation:handler"
    consumer: str | None = None
    mode: RunnerMode = RunnerMode.HYBRID
    activation_timeout_s: float = 300.0
    max_cost_usd: float = 0.50


@dataclass(frozen=True, kw_only=True)
class PollerSettings:
    """The poller: how often it asks the Hub, how often one agent may be activated."""

    poll_interval_s: float = 30.0
    min_activation_interval_s: float = 900.0


@dataclass(frozen=True, kw_only=True)
class HubSettings:
    """Where the Hub is and how to talk to it.

    ``api_key`` is the service key, sent with ``agent_id``; ``agent_keys_file`` names a
    JSON object of per-agent keys (``{"agent-name": "botburrow_agent_..."}``), used
    instead of the service key for the agents it lists.
    """

    url: str = "http://127.0.0.1:8000"
    api_key: Secret | None = None
    agent_keys_file: Path | None = None
    timeout_s: float = 30.0
    max_attempts: int = 5


@dataclass(frozen=True, kw_only=True)
class R2Settings:
    """An S3-compatible bucket (Cloudflare R2, MinIO, S3) holding the agent definitions."""

    endpoint: str
    access_key_id: Secret
    secret_access_key: Secret
    bucket: str
    prefix: str = ""


@dataclass(frozen=True, kw_only=True)
class AgentSourceSettings:
    """Where agent definitions come from: a directory (``AGENTS_DIR``) or a bucket (``R2_*``).

    Neither set means "not configured": the process that needs agents says so at start.
    """

    agents_dir: Path | None = None
    r2: R2Settings | None = None


@dataclass(frozen=True, kw_only=True)
class LLMSettings:
    """LLM providers: API keys by variable name, base URL overrides, timeouts and retries.

    ``api_keys`` holds every ``*_API_KEY`` variable of the environment except
    ``HUB_API_KEY``, so an agent's ``brain.api_key_env`` resolves through ``key()``
    without any other module reading the environment.
    """

    api_keys: Mapping[str, Secret] = field(default_factory=dict)
    anthropic_base_url: str | None = None
    openai_base_url: str | None = None
    timeout_s: float = 120.0
    max_attempts: int = 4

    def key(self, env_name: str) -> str | None:
        """The value of the API key variable ``env_name``, or ``None`` when unset."""
        secret = self.api_keys.get(env_name)
        return secret.reveal() if secret else None


class SandboxBackendChoice(enum.StrEnum):
    """Which sandbox backend runs commands."""

    AUTO = "auto"  # docker when its engine answers, else bwrap when installed
    DOCKER = "docker"
    BWRAP = "bwrap"


DEFAULT_SANDBOX_CREDENTIALS: tuple[str, ...] = ("GITHUB_TOKEN", "BRAVE_API_KEY")


@dataclass(frozen=True, kw_only=True)
class SandboxSettings:
    """The sandbox policy and where sandboxes run (``shared.sandbox``).

    ``credentials`` are the variables (named by ``SANDBOX_CREDENTIALS``) the runner may
    pass into a sandbox; an agent gets only those its grants name
    (``shared.sandbox.GRANT_CREDENTIALS``). The limits apply to every sandbox.
    """

    backend: SandboxBackendChoice = SandboxBackendChoice.AUTO
    docker_host: str = "unix:///var/run/docker.sock"
    image: str = "botburrow-sandbox:latest"
    memory_mb: int = 512
    cpus: float = 1.0
    pids: int = 128
    workspace_mb: int = 64
    pool_size: int = 2
    credentials: Mapping[str, Secret] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything a botburrow process is configured with."""

    redis_url: str = "redis://localhost:6379/0"
    streams: StreamSettings = field(default_factory=StreamSettings)
    runner: RunnerSettings = field(default_factory=RunnerSettings)
    poller: PollerSettings = field(default_factory=PollerSettings)
    hub: HubSettings = field(default_factory=HubSettings)
    agents: AgentSourceSettings = field(default_factory=AgentSourceSettings)
    llm: LLMSettings = field(default_factory=LLMSettings)
    sandbox: SandboxSettings = field(default_factory=SandboxSettings)
    metrics_port: int | None = 9090
    log_level: str = "info"
    log_json: bool = True

    def __repr__(self) -> str:
        parts = [f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.name != "redis_url"]
        return f"Settings(redis_url={redact_url(self.redis_url)!r}, {', '.join(parts)})"

    def secrets(self) -> list[str]:
        """Secret values that must never appear in logs (for the log redactor)."""
        found = [s.reveal() for s in _secrets_in(self)]
        match = _URL_PASSWORD.search(self.redis_url)
        return [match.group(2), *found] if match else found

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``environ`` (default: the process environment).

        Raises:
            ConfigurationError: listing every variable that is malformed or out of range.
        """
        env = _Env(os.environ if environ is None else environ)
        settings = cls._build(env)
        if env.problems:
            raise ConfigurationError("invalid settings:\n  " + "\n  ".join(env.problems))
        return settings

    @classmethod
    def variables(cls) -> frozenset[str]:
        """Every variable ``from_env`` reads by name, whatever else is set.

        Besides these it reads any ``*_API_KEY`` (``LLMSettings.api_keys``); the names in
        ``SANDBOX_CREDENTIALS`` are among these with their defaults. The deployment
        manifests are checked against this list, both ways.
        """
        plain = _Env({})
        cls._build(plain)
        # A bucket's other variables are only read once a bucket is given: give one.
        bucket = _Env({name: "https://r2.invalid" if name == "R2_ENDPOINT" else "bucket" for name in _R2_REQUIRED})
        cls._build(bucket)
        return frozenset(plain.asked | bucket.asked)

    @classmethod
    def _build(cls, env: _Env) -> Settings:
        return cls(
            redis_url=env.get("REDIS_URL", cls.redis_url, _redis_url),
            streams=_streams(env),
            runner=_runner(env),
            poller=_poller(env),
            hub=_hub(env),
            agents=_agent_source(env),
            llm=_llm(env),
            sandbox=_sandbox(env),
            metrics_port=env.get("METRICS_PORT", cls.metrics_port or 0, _int(0)) or None,
            log_level=env.get("LOG_LEVEL", cls.log_level, _level),
            log_json=env.get("LOG_FORMAT", "json", _format) == "json",
        )


def _streams(env: _Env) -> StreamSettings:
    d = StreamSettings()
    try:
        return StreamSettings(
            prefix=env.get("STREAM_PREFIX", d.prefix, _name),
            max_deliveries=env.get("MAX_DELIVERIES", d.max_deliveries, _int(1)),
            lease_ttl_ms=env.get("LEASE_TTL_MS", d.lease_ttl_ms, _int(100)),
            heartbeat_every_s=env.get("HEARTBEAT_EVERY_S", d.heartbeat_every_s, _float(0.01)),
            reclaim_every_s=env.get("RECLAIM_EVERY_S", d.reclaim_every_s, _float(0.01)),
            retry_base_s=env.get("RETRY_BASE_S", d.retry_base_s, _float(0.0)),
            retry_max_s=env.get("RETRY_MAX_S", d.retry_max_s, _float(0.0)),
            defer_base_s=env.get("DEFER_BASE_S", d.defer_base_s, _float(0.0)),
            defer_max_s=env.get("DEFER_MAX_S", d.defer_max_s, _float(0.0)),
            weights=env.get("PRIORITY_WEIGHTS", DEFAULT_WEIGHTS, _weights),
        )
    except ValueError as exc:
        env.problems.append(f"LEASE_TTL_MS / HEARTBEAT_EVERY_S / PRIORITY_WEIGHTS: {exc}")
        return d


def _runner(env: _Env) -> RunnerSettings:
    d = RunnerSettings()
    return RunnerSettings(
        concurrency=env.get("RUNNER_CONCURRENCY", d.concurrency, _int(1)),
        grace_period_s=env.get("RUNNER_GRACE_PERIOD_S", d.grace_period_s, _float(0.0)),
        handler=env.get("RUNNER_HANDLER", d.handler, _import_path),
        consumer=env.get("RUNNER_CONSUMER", d.consumer, _name),
        mode=env.get("RUNNER_MODE", d.mode, _choice(RunnerMode)),
        activation_timeout_s=env.get("ACTIVATION_TIMEOUT", d.activation_timeout_s, _float(1.0)),
        max_cost_usd=env.get("ACTIVATION_MAX_COST_USD", d.max_cost_usd, _float(0.0)),
    )


def _poller(env: _Env) -> PollerSettings:
    d = PollerSettings()
    return PollerSettings(
        poll_interval_s=env.get("POLL_INTERVAL", d.poll_interval_s, _float(1.0)),
        min_activation_interval_s=env.get("MIN_ACTIVATION_INTERVAL", d.min_activation_interval_s, _float(0.0)),
    )


def _hub(env: _Env) -> HubSettings:
    d = HubSettings()
    return HubSettings(
        url=env.get("HUB_URL", d.url, _http_url),
        api_key=env.secret("HUB_API_KEY"),
        agent_keys_file=env.get("HUB_AGENT_KEYS_FILE", d.agent_keys_file, _existing_file),
        timeout_s=env.get("HUB_TIMEOUT_S", d.timeout_s, _float(0.1)),
        max_attempts=env.get("HUB_MAX_ATTEMPTS", d.max_attempts, _int(1)),
    )


_R2_REQUIRED = ("R2_ENDPOINT", "R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY", "R2_BUCKET")


def _agent_source(env: _Env) -> AgentSourceSettings:
    agents_dir = env.get("AGENTS_DIR", None, _existing_dir)
    given = [name for name in _R2_REQUIRED if env.has(name)]
    if not given:
        return AgentSourceSettings(agents_dir=agents_dir)
    missing = [name for name in _R2_REQUIRED if name not in given]
    if missing:
        env.problems.append(f"{', '.join(given)} set but {', '.join(missing)} missing: a bucket needs all four")
        return AgentSourceSettings(agents_dir=agents_dir)
    if agents_dir is not None:
        env.problems.append("AGENTS_DIR and R2_BUCKET are both set: choose one source of agent definitions")
    r2 = R2Settings(
        endpoint=env.get("R2_ENDPOINT", "", _http_url),
        access_key_id=env.secret("R2_ACCESS_KEY_ID") or Secret(""),
        secret_access_key=env.secret("R2_SECRET_ACCESS_KEY") or Secret(""),
        bucket=env.get("R2_BUCKET", "", _bucket),
        prefix=env.get("R2_PREFIX", "", _prefix),
    )
    return AgentSourceSettings(r2=r2)


def _llm(env: _Env) -> LLMSettings:
    d = LLMSettings()
    keys = {name: secret for name in env.names() if _API_KEY_NAME.fullmatch(name) and (secret := env.secret(name))}
    return LLMSettings(
        api_keys=keys,
        anthropic_base_url=env.get("ANTHROPIC_BASE_URL", None, _http_url),
        openai_base_url=env.get("OPENAI_BASE_URL", None, _http_url),
        timeout_s=env.get("LLM_TIMEOUT_S", d.timeout_s, _float(0.1)),
        max_attempts=env.get("LLM_MAX_ATTEMPTS", d.max_attempts, _int(1)),
    )


def _sandbox(env: _Env) -> SandboxSettings:
    d = SandboxSettings()
    names = env.get("SANDBOX_CREDENTIALS", DEFAULT_SANDBOX_CREDENTIALS, _names)
    return SandboxSettings(
        backend=env.get("SANDBOX_BACKEND", d.backend, _choice(SandboxBackendChoice)),
        docker_host=env.get("DOCKER_HOST", d.docker_host, _docker_host),
        image=env.get("SANDBOX_IMAGE", d.image, _image),
        memory_mb=env.get("SANDBOX_MEMORY_MB", d.memory_mb, _int(16)),
        cpus=env.get("SANDBOX_CPUS", d.cpus, _float(0.01)),
        pids=env.get("SANDBOX_PIDS", d.pids, _int(8)),
        workspace_mb=env.get("SANDBOX_WORKSPACE_MB", d.workspace_mb, _int(1)),
        pool_size=env.get("SANDBOX_POOL_SIZE", d.pool_size, _int(0)),
        credentials={name: secret for name in names if (secret := env.secret(name))},
    )


# Every *_API_KEY but the Hub's: an agent's brain.api_key_env can name any of these,
# and its api_base decides where the key is sent, so the Hub key must not be among them.
_API_KEY_NAME = re.compile(r"(?!HUB_API_KEY$)[A-Z][A-Z0-9_]*_API_KEY")


def _secrets_in(value: object) -> list[Secret]:
    """Every ``Secret`` inside a settings dataclass, however deeply nested."""
    if isinstance(value, Secret):
        return [value] if value.reveal() else []
    if isinstance(value, Mapping):
        return [s for item in value.values() for s in _secrets_in(item)]
    if is_dataclass(value) and not isinstance(value, type):
        return [s for f in fields(value) for s in _secrets_in(getattr(value, f.name))]
    return []


class _Env:
    """Reads variables, collecting every problem instead of stopping at the first."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self.problems: list[str] = []
        self.asked: set[str] = set()  # every name looked up: Settings.variables()

    def names(self) -> list[str]:
        return sorted(self._environ)

    def has(self, name: str) -> bool:
        self.asked.add(name)
        return bool(self._environ.get(name, "").strip())

    def secret(self, name: str) -> Secret | None:
        """A secret variable; never echoed in an error."""
        self.asked.add(name)
        raw = self._environ.get(name, "").strip()
        return Secret(raw) if raw else None

    def get(self, name: str, default: T, parse: Callable[[str], T]) -> T:
        self.asked.add(name)
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


def _names(raw: str) -> tuple[str, ...]:
    """``GITHUB_TOKEN,BRAVE_API_KEY``: environment variable names."""
    names = tuple(n.strip() for n in raw.split(",") if n.strip())
    bad = [n for n in names if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", n)]
    if bad:
        raise ValueError(f"not variable names: {', '.join(bad)}")
    return names


def _docker_host(raw: str) -> str:
    if not re.match(r"^(unix|tcp|ssh|npipe)://", raw):
        raise ValueError("must start with unix://, tcp://, ssh:// or npipe://")
    return raw


def _image(raw: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9._/:@-]*", raw):
        raise ValueError("is not an image reference")
    return raw


def _redis_url(raw: str) -> str:
    if not re.match(r"^(redis|rediss|unix)://", raw):
        raise ValueError("must start with redis://, rediss:// or unix://")
    return raw


def _http_url(raw: str) -> str:
    if not re.match(r"^https?://[^/\s]+", raw):
        raise ValueError("must be an http:// or https:// URL")
    return raw.rstrip("/")


def _existing_dir(raw: str) -> Path:
    path = Path(raw).expanduser()
    if not path.is_dir():
        raise ValueError("is not a directory")
    return path


def _existing_file(raw: str) -> Path:
    path = Path(raw).expanduser()
    if not path.is_file():
        raise ValueError("is not a readable file")
    return path


def _bucket(raw: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", raw):
        raise ValueError("is not a valid bucket name")
    return raw


def _prefix(raw: str) -> str:
    if raw.startswith("/") or ".." in raw.split("/"):
        raise ValueError("must be a relative key prefix without '..'")
    return raw if raw.endswith("/") else raw + "/"


def _import_path(raw: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", raw):
        raise ValueError("must be module.path:attribute")
    return raw


E = TypeVar("E", bound=enum.StrEnum)


def _choice(kind: type[E]) -> Callable[[str], E]:
    def parse(raw: str) -> E:
        try:
            return kind(raw.lower())
        except ValueError:
            raise ValueError(f"must be one of {', '.join(m.value for m in kind)}") from None

    return parse


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
