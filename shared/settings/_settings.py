"""``Settings``: everything a botburrow process is configured with, built from the environment once."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass

from shared.errors import ConfigurationError
from shared.streams import StreamSettings

from . import _build as parts
from ._env import Env
from ._models import (
    URL_PASSWORD,
    AgentSourceSettings,
    CliSettings,
    DefinitionsSettings,
    HubSettings,
    LLMSettings,
    McpSettings,
    PollerSettings,
    PushAuthSettings,
    RunnerSettings,
    SandboxSettings,
    Secret,
    TranscriptSettings,
    redact_url,
)
from ._parsers import parse_format, parse_int, parse_level, parse_redis_url


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything a botburrow process is configured with."""

    redis_url: str = "redis://localhost:6379/0"
    streams: StreamSettings = field(default_factory=StreamSettings)
    runner: RunnerSettings = field(default_factory=RunnerSettings)
    poller: PollerSettings = field(default_factory=PollerSettings)
    hub: HubSettings = field(default_factory=HubSettings)
    push_auth: PushAuthSettings = field(default_factory=PushAuthSettings)
    agents: AgentSourceSettings = field(default_factory=AgentSourceSettings)
    definitions: DefinitionsSettings = field(default_factory=DefinitionsSettings)
    llm: LLMSettings = field(default_factory=LLMSettings)
    sandbox: SandboxSettings = field(default_factory=SandboxSettings)
    transcripts: TranscriptSettings = field(default_factory=TranscriptSettings)
    mcp: McpSettings = field(default_factory=McpSettings)
    clis: CliSettings = field(default_factory=CliSettings)
    metrics_port: int | None = 9090
    # The largest request body an HTTP target reads (413 past it, before auth or parsing):
    # a CloudEvent, a Hub or GitHub webhook, an operator's POST are all far below 1 MiB.
    max_body_bytes: int = 1024 * 1024
    # The activation gateway's: LLM requests carry whole conversations, images as base64 and
    # tool schemas; 32 MiB is the Anthropic Messages API's own request limit.
    gateway_max_body_bytes: int = 32 * 1024 * 1024
    log_level: str = "info"
    log_json: bool = True

    def __repr__(self) -> str:
        parts = [f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.name != "redis_url"]
        return f"Settings(redis_url={redact_url(self.redis_url)!r}, {', '.join(parts)})"

    def secrets(self) -> list[str]:
        """Secret values that must never appear in logs (for the log redactor)."""
        found = [s.reveal() for s in _secrets_in(self)]
        found += [p for source in self.definitions.sync_sources if (p := source.password())]
        match = URL_PASSWORD.search(self.redis_url)
        return [match.group(2), *found] if match else found

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``environ`` (default: the process environment).

        Raises:
            ConfigurationError: listing every variable that is malformed or out of range.
        """
        env = Env(os.environ if environ is None else environ)
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
        plain = Env({})
        cls._build(plain)
        # A bucket's other variables are only read once a bucket is given: give one.
        bucket = Env({name: "https://r2.invalid" if name == "R2_ENDPOINT" else "bucket" for name in parts.R2_REQUIRED})
        cls._build(bucket)
        return frozenset(plain.asked | bucket.asked)

    @classmethod
    def _build(cls, env: Env) -> Settings:
        return cls(
            redis_url=env.get("REDIS_URL", cls.redis_url, parse_redis_url),
            streams=parts.streams(env),
            runner=parts.runner(env),
            poller=parts.poller(env),
            hub=parts.hub(env),
            push_auth=parts.push_auth(env),
            agents=parts.agent_source(env),
            definitions=parts.definitions(env),
            llm=parts.llm(env),
            sandbox=parts.sandbox(env),
            transcripts=parts.transcripts(env),
            mcp=parts.mcp(env),
            clis=parts.clis(env),
            metrics_port=env.get("METRICS_PORT", cls.metrics_port or 0, parse_int(0)) or None,
            max_body_bytes=env.get("MAX_BODY_BYTES", cls.max_body_bytes, parse_int(1024)),
            gateway_max_body_bytes=env.get("GATEWAY_MAX_BODY_BYTES", cls.gateway_max_body_bytes, parse_int(1024)),
            log_level=env.get("LOG_LEVEL", cls.log_level, parse_level),
            log_json=env.get("LOG_FORMAT", "json", parse_format) == "json",
        )


def _secrets_in(value: object) -> list[Secret]:
    """Every ``Secret`` inside a settings dataclass, however deeply nested."""
    if isinstance(value, Secret):
        return [value] if value.reveal() else []
    if isinstance(value, Mapping):
        return [s for item in value.values() for s in _secrets_in(item)]
    if is_dataclass(value) and not isinstance(value, type):
        return [s for f in fields(value) for s in _secrets_in(getattr(value, f.name))]
    return []
