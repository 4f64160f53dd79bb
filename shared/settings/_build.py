"""One builder per part of the settings, from an ``Env``."""

from __future__ import annotations

import re

from shared.streams import DEFAULT_WEIGHTS, StreamSettings

from ._env import Env
from ._models import (
    MCP_CREDENTIALS,
    AgentSourceSettings,
    CliSettings,
    DefinitionsSettings,
    HubSettings,
    LLMSettings,
    McpSandboxChoice,
    McpSettings,
    PollerSettings,
    PushAuthSettings,
    R2Settings,
    RunnerMode,
    RunnerSettings,
    SandboxBackendChoice,
    SandboxSettings,
    Secret,
    TranscriptSettings,
)
from ._parsers import (
    parse_absolute,
    parse_bucket,
    parse_choice,
    parse_dir,
    parse_docker_host,
    parse_file,
    parse_float,
    parse_http_url,
    parse_image,
    parse_import_path,
    parse_int,
    parse_name,
    parse_prefix,
    parse_sync_sources,
    parse_weights,
)


def streams(env: Env) -> StreamSettings:
    d = StreamSettings()
    try:
        return StreamSettings(
            prefix=env.get("STREAM_PREFIX", d.prefix, parse_name),
            max_deliveries=env.get("MAX_DELIVERIES", d.max_deliveries, parse_int(1)),
            lease_ttl_ms=env.get("LEASE_TTL_MS", d.lease_ttl_ms, parse_int(100)),
            heartbeat_every_s=env.get("HEARTBEAT_EVERY_S", d.heartbeat_every_s, parse_float(0.01)),
            reclaim_every_s=env.get("RECLAIM_EVERY_S", d.reclaim_every_s, parse_float(0.01)),
            retry_base_s=env.get("RETRY_BASE_S", d.retry_base_s, parse_float(0.0)),
            retry_max_s=env.get("RETRY_MAX_S", d.retry_max_s, parse_float(0.0)),
            defer_base_s=env.get("DEFER_BASE_S", d.defer_base_s, parse_float(0.0)),
            defer_max_s=env.get("DEFER_MAX_S", d.defer_max_s, parse_float(0.0)),
            weights=env.get("PRIORITY_WEIGHTS", DEFAULT_WEIGHTS, parse_weights),
        )
    except ValueError as exc:
        env.problems.append(f"LEASE_TTL_MS / HEARTBEAT_EVERY_S / PRIORITY_WEIGHTS: {exc}")
        return d


def runner(env: Env) -> RunnerSettings:
    d = RunnerSettings()
    return RunnerSettings(
        concurrency=env.get("RUNNER_CONCURRENCY", d.concurrency, parse_int(1)),
        grace_period_s=env.get("RUNNER_GRACE_PERIOD_S", d.grace_period_s, parse_float(0.0)),
        handler=env.get("RUNNER_HANDLER", d.handler, parse_import_path),
        consumer=env.get("RUNNER_CONSUMER", d.consumer, parse_name),
        mode=env.get("RUNNER_MODE", d.mode, parse_choice(RunnerMode)),
        activation_timeout_s=env.get("ACTIVATION_TIMEOUT", d.activation_timeout_s, parse_float(1.0)),
        max_cost_usd=env.get("ACTIVATION_MAX_COST_USD", d.max_cost_usd, parse_float(0.0)),
    )


def transcripts(env: Env) -> TranscriptSettings:
    d = TranscriptSettings()
    return TranscriptSettings(
        ttl_s=env.get("TRANSCRIPT_TTL_S", d.ttl_s, parse_int(60)),
        max_bytes=env.get("TRANSCRIPT_MAX_BYTES", d.max_bytes, parse_int(4096)),
    )


def poller(env: Env) -> PollerSettings:
    d = PollerSettings()
    return PollerSettings(
        poll_interval_s=env.get("POLL_INTERVAL", d.poll_interval_s, parse_float(1.0)),
        min_activation_interval_s=env.get("MIN_ACTIVATION_INTERVAL", d.min_activation_interval_s, parse_float(0.0)),
    )


def hub(env: Env) -> HubSettings:
    d = HubSettings()
    return HubSettings(
        url=env.get("HUB_URL", d.url, parse_http_url),
        api_key=env.secret("HUB_API_KEY"),
        agent_keys_file=env.get("HUB_AGENT_KEYS_FILE", d.agent_keys_file, parse_file),
        timeout_s=env.get("HUB_TIMEOUT_S", d.timeout_s, parse_float(0.1)),
        max_attempts=env.get("HUB_MAX_ATTEMPTS", d.max_attempts, parse_int(1)),
    )


def push_auth(env: Env) -> PushAuthSettings:
    return PushAuthSettings(
        hub_webhook_secret=env.secret("HUB_WEBHOOK_SECRET"),
        ingest_token=env.secret("INGEST_TOKEN"),
        events_token=env.secret("EVENTS_TOKEN"),
        operator_token=env.secret("OPERATOR_TOKEN"),
    )


R2_REQUIRED = ("R2_ENDPOINT", "R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY", "R2_BUCKET")


def agent_source(env: Env) -> AgentSourceSettings:
    agents_dir = env.get("AGENTS_DIR", None, parse_dir)
    given = [name for name in R2_REQUIRED if env.has(name)]
    if not given:
        return AgentSourceSettings(agents_dir=agents_dir)
    missing = [name for name in R2_REQUIRED if name not in given]
    if missing:
        env.problems.append(f"{', '.join(given)} set but {', '.join(missing)} missing: a bucket needs all four")
        return AgentSourceSettings(agents_dir=agents_dir)
    if agents_dir is not None:
        env.problems.append("AGENTS_DIR and R2_BUCKET are both set: choose one source of agent definitions")
    r2 = R2Settings(
        endpoint=env.get("R2_ENDPOINT", "", parse_http_url),
        access_key_id=env.secret("R2_ACCESS_KEY_ID") or Secret(""),
        secret_access_key=env.secret("R2_SECRET_ACCESS_KEY") or Secret(""),
        bucket=env.get("R2_BUCKET", "", parse_bucket),
        prefix=env.get("R2_PREFIX", "", parse_prefix),
    )
    return AgentSourceSettings(r2=r2)


def definitions(env: Env) -> DefinitionsSettings:
    d = DefinitionsSettings()
    return DefinitionsSettings(
        webhook_secret=env.secret("DEFINITIONS_WEBHOOK_SECRET"),
        sync_sources=env.get("SYNC_SOURCES", d.sync_sources, parse_sync_sources),
        github_api_url=env.get("SYNC_GITHUB_API_URL", d.github_api_url, parse_http_url),
        github_token=env.secret("SYNC_GITHUB_TOKEN"),
        git_timeout_s=env.get("SYNC_GIT_TIMEOUT_S", d.git_timeout_s, parse_float(1.0)),
    )


def llm(env: Env) -> LLMSettings:
    d = LLMSettings()
    keys = {name: secret for name in env.names() if _API_KEY_NAME.fullmatch(name) and (secret := env.secret(name))}
    return LLMSettings(
        api_keys=keys,
        anthropic_base_url=env.get("ANTHROPIC_BASE_URL", None, parse_http_url),
        openai_base_url=env.get("OPENAI_BASE_URL", None, parse_http_url),
        timeout_s=env.get("LLM_TIMEOUT_S", d.timeout_s, parse_float(0.1)),
        max_attempts=env.get("LLM_MAX_ATTEMPTS", d.max_attempts, parse_int(1)),
    )


def sandbox(env: Env) -> SandboxSettings:
    d = SandboxSettings()
    return SandboxSettings(
        backend=env.get("SANDBOX_BACKEND", d.backend, parse_choice(SandboxBackendChoice)),
        docker_host=env.get("DOCKER_HOST", d.docker_host, parse_docker_host),
        image=env.get("SANDBOX_IMAGE", d.image, parse_image),
        memory_mb=env.get("SANDBOX_MEMORY_MB", d.memory_mb, parse_int(16)),
        cpus=env.get("SANDBOX_CPUS", d.cpus, parse_float(0.01)),
        pids=env.get("SANDBOX_PIDS", d.pids, parse_int(8)),
        workspace_mb=env.get("SANDBOX_WORKSPACE_MB", d.workspace_mb, parse_int(1)),
        pool_size=env.get("SANDBOX_POOL_SIZE", d.pool_size, parse_int(0)),
    )


def clis(env: Env) -> CliSettings:
    d = CliSettings()
    return CliSettings(
        dir=env.get("CLI_DIR", d.dir, parse_absolute),
        image=env.get("CLI_IMAGE", d.image, parse_image),
        gateway_socket=env.get("GATEWAY_SOCKET", d.gateway_socket, parse_absolute),
        memory_mb=env.get("CLI_MEMORY_MB", d.memory_mb, parse_int(256)),
        address_space_mb=env.get("CLI_ADDRESS_SPACE_MB", d.address_space_mb, parse_int(1024)),
        pids=env.get("CLI_PIDS", d.pids, parse_int(16)),
        max_retries=env.get("CLI_MAX_RETRIES", d.max_retries, parse_int(0)),
    )


def mcp(env: Env) -> McpSettings:
    d = McpSettings()
    return McpSettings(
        servers_dir=env.get("MCP_SERVERS_DIR", d.servers_dir, parse_absolute),
        sandbox=env.get("MCP_SANDBOX", d.sandbox, parse_choice(McpSandboxChoice)),
        image=env.get("MCP_IMAGE", d.image, parse_image),
        docker_host=env.get("DOCKER_HOST", d.docker_host, parse_docker_host),
        start_timeout_s=env.get("MCP_START_TIMEOUT_S", d.start_timeout_s, parse_float(0.1)),
        call_timeout_s=env.get("MCP_CALL_TIMEOUT_S", d.call_timeout_s, parse_float(0.1)),
        credentials={name: secret for name in MCP_CREDENTIALS if (secret := env.secret(name))},
        http_servers=env.secret("MCP_HTTP_SERVERS"),
    )


# Every *_API_KEY but the Hub's and the MCP servers': an agent's brain.api_key_env can name
# any of these, and its api_base decides where the key is sent, so neither may be among them.
_API_KEY_NAME = re.compile(r"(?!HUB_API_KEY$|BRAVE_API_KEY$)[A-Z][A-Z0-9_]*_API_KEY")
