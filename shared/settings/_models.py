"""The parts of the settings: one frozen dataclass per concern, secrets wrapped so they never show."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

URL_PASSWORD = re.compile(r"(?<=://)([^:/@\s]*):([^@/\s]+)@")


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    return URL_PASSWORD.sub(r"\1:***@", url)


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
    """Which activation streams a runner pool consumes (the poller always produces both kinds).

    Inbox activations travel on the ``high`` and ``normal`` streams, discovery on ``low``
    (``shared.poller``), so a pool is a set of priorities: ``priorities``.
    """

    NOTIFICATION = "notification"  # inbox work only: mentions, replies, DMs
    EXPLORATION = "exploration"  # discovery only: stale agents looking for something to say
    HYBRID = "hybrid"  # both

    @property
    def priorities(self) -> tuple[str, ...]:
        """The activation priorities (stream suffixes) this pool consumes, highest first."""
        return _POOL_PRIORITIES[self]


_POOL_PRIORITIES = {
    RunnerMode.NOTIFICATION: ("high", "normal"),
    RunnerMode.EXPLORATION: ("low",),
    RunnerMode.HYBRID: ("high", "normal", "low"),
}


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


class McpSandboxChoice(enum.StrEnum):
    """Where stdio MCP servers run."""

    BWRAP = "bwrap"  # each in a bubblewrap sandbox (the default)
    DOCKER = "docker"  # each in a container on DOCKER_HOST, from MCP_IMAGE (in a Kubernetes pod)
    NONE = "none"  # as plain child processes: for machines without bubblewrap, never in production


MCP_CREDENTIALS: tuple[str, ...] = (
    "BRAVE_API_KEY",
    "GITHUB_TOKEN_READ",
    "GITHUB_TOKEN_WRITE",
    "POSTGRES_URL_READ",
    "POSTGRES_URL_WRITE",
)
"""The settings the built-in MCP servers' credentials come from (``shared.mcp`` catalog), one per grant."""


@dataclass(frozen=True, kw_only=True)
class McpSettings:
    """MCP servers: where the built-ins are installed, how they run, and the credentials grants unlock.

    ``credentials`` holds the variables of ``MCP_CREDENTIALS`` that are set
    (``GITHUB_TOKEN_READ``, ``GITHUB_TOKEN_WRITE``, ``BRAVE_API_KEY``, ``POSTGRES_URL_READ``,
    ``POSTGRES_URL_WRITE``); each reaches only the server process its grant starts.
    ``http_servers`` (``MCP_HTTP_SERVERS``, a secret: JSON ``{"name": {"url": ..., "token":
    ...}}``) are streamable-HTTP servers an agent may name. With ``sandbox`` ``docker`` the
    servers run from ``image`` (``MCP_IMAGE``) on the engine at ``docker_host`` (``DOCKER_HOST``).
    """

    servers_dir: Path = Path("/opt/mcp-servers")
    sandbox: McpSandboxChoice = McpSandboxChoice.BWRAP
    image: str = "botburrow-mcp:latest"
    docker_host: str = "unix:///var/run/docker.sock"
    start_timeout_s: float = 30.0
    call_timeout_s: float = 60.0
    credentials: Mapping[str, Secret] = field(default_factory=dict)
    http_servers: Secret | None = None


@dataclass(frozen=True, kw_only=True)
class TranscriptSettings:
    """How long activation transcripts are kept, and how large one may grow."""

    ttl_s: int = 7 * 24 * 3600
    max_bytes: int = 1_048_576


@dataclass(frozen=True, kw_only=True)
class PollerSettings:
    """The poller: how often it asks the Hub, how often one agent may be activated."""

    poll_interval_s: float = 30.0
    min_activation_interval_s: float = 900.0


@dataclass(frozen=True, kw_only=True)
class PushAuthSettings:
    """The credentials a pushed event must carry (``shared.serving``'s auth policies).

    ``hub_webhook_secret`` (``HUB_WEBHOOK_SECRET``) is the secret the Hub signs its
    webhook deliveries with (``X-Hub-Signature-256``, ``shared.signing``);
    ``ingest_token`` (``INGEST_TOKEN``) a bearer token an operator's curl may present to
    the ingest target instead; ``events_token`` (``EVENTS_TOKEN``) the bearer token the
    runner's and metrics function's HTTP CloudEvent targets require; ``operator_token``
    (``OPERATOR_TOKEN``) the bearer token of the metrics function's operator routes
    (``/api/agents``, ``/agents/{name}/pause``, ...). ``None`` is not "open": a target
    whose credential is unset refuses every push.
    """

    hub_webhook_secret: Secret | None = None
    ingest_token: Secret | None = None
    events_token: Secret | None = None
    operator_token: Secret | None = None


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


class SyncSourceKind(enum.StrEnum):
    """How a sync source is read."""

    GIT = "git"  # any URL git can clone (or a local path), shallow, with the git binary
    GITHUB = "github"  # github:owner/repo, through the GitHub contents API


@dataclass(frozen=True, kw_only=True)
class SyncSource:
    """One place the skill sync copies ``agents/`` and ``skills/`` from (an item of ``SYNC_SOURCES``).

    ``location`` is the git URL or path (``GIT``) or ``owner/repo`` (``GITHUB``); ``ref`` a
    branch, tag or commit (None: the default branch). ``repr`` and ``str`` hide any password
    a URL carries.
    """

    kind: SyncSourceKind
    location: str
    ref: str | None = None

    def __str__(self) -> str:
        where = self.location if self.kind is SyncSourceKind.GIT else f"github:{self.location}"
        return redact_url(where) + (f"@{self.ref}" if self.ref else "")

    def __repr__(self) -> str:
        return f"SyncSource({str(self)!r})"

    def password(self) -> str | None:
        """The password in a git URL (``https://user:token@host/...``), for the log redactor."""
        match = URL_PASSWORD.search(self.location) if self.kind is SyncSourceKind.GIT else None
        return match.group(2) if match else None


@dataclass(frozen=True, kw_only=True)
class DefinitionsSettings:
    """Definitions that follow their repository: the invalidation webhook and the skill sync.

    ``webhook_secret`` (``DEFINITIONS_WEBHOOK_SECRET``) signs a repository's push webhook
    (GitHub's ``X-Hub-Signature-256``); without it the webhook refuses every request.
    ``sync_sources`` (``SYNC_SOURCES``) are copied into the bucket (``R2_*``) on each sync
    tick; ``github_api_url`` (``SYNC_GITHUB_API_URL``) and ``github_token``
    (``SYNC_GITHUB_TOKEN``) are how ``github:`` sources are read; ``git_timeout_s``
    (``SYNC_GIT_TIMEOUT_S``) bounds each git command and each GitHub request.
    """

    webhook_secret: Secret | None = None
    sync_sources: tuple[SyncSource, ...] = ()
    github_api_url: str = "https://api.github.com"
    github_token: Secret | None = None
    git_timeout_s: float = 120.0


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


@dataclass(frozen=True, kw_only=True)
class SandboxSettings:
    """The sandbox policy and where sandboxes run (``shared.sandbox``); the limits apply to every sandbox.

    No credential is ever passed into a sandbox: grants' credentials go to MCP servers only.
    """

    backend: SandboxBackendChoice = SandboxBackendChoice.AUTO
    docker_host: str = "unix:///var/run/docker.sock"
    image: str = "botburrow-sandbox:latest"
    memory_mb: int = 512
    cpus: float = 1.0
    pids: int = 128
    workspace_mb: int = 64
    pool_size: int = 2


@dataclass(frozen=True, kw_only=True)
class CliSettings:
    """The coding CLIs (``shared.executors``): where they are installed, how their sandboxes are built.

    ``dir`` (``CLI_DIR``) holds the installs (``make clis``: ``node_modules/`` with Claude
    Code's and OpenCode's linux-x64 builds, ``aider/.venv``); under bubblewrap it is
    mounted read-only in every CLI sandbox at ``/opt/botburrow/clis``, where the CLI image
    (``CLI_IMAGE``, what a Docker backend runs them in) has them too. ``gateway_socket``
    (``GATEWAY_SOCKET``) is where the runner's gateway answers the sandboxes (a temporary
    directory's when unset; in a pod, a volume the Docker engine's container shares).
    ``memory_mb`` (``CLI_MEMORY_MB``) is a Docker CLI sandbox's memory;
    ``address_space_mb`` (``CLI_ADDRESS_SPACE_MB``) a bubblewrap one's address space, far
    above what the CLIs use because Bun reserves gigabytes it never touches (Claude Code
    crashes under 512 MB, OpenCode under 4 GB). ``max_retries`` (``CLI_MAX_RETRIES``) is how
    often a CLI retries a failed LLM call itself, where it can be told.
    """

    dir: Path = Path("/opt/botburrow/clis")
    image: str = "botburrow-agent:latest"
    gateway_socket: Path | None = None
    memory_mb: int = 1024
    address_space_mb: int = 16384
    pids: int = 512
    max_retries: int = 2
