"""``config.yaml`` as pydantic models of agent-config schema v1.

The models mirror ``schemas/agent-config.schema.json`` of agent-definitions field for
field and in the schema's order (so the first error reported is the first in schema
order): every object rejects unknown keys, every pattern, bound, enum and
``uniqueItems`` is enforced, and the schema's ``default`` annotations are applied. An
object the file leaves out (``behavior``, ``limits``, ``memory``...) is present with
its defaults; a list left out is empty; an optional value without a default is None.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Discriminator, Field, StringConstraints, Tag

from ._types import (
    Bool,
    Community,
    Env,
    EnvName,
    Frozen,
    Grant,
    Int,
    Maybe,
    Number,
    Slug,
    Str,
    Strings,
    Unique,
    Uri,
    Version,
)

AgentType = Literal["native", "claude-code", "goose", "aider", "opencode", "custom"]
"""Schema v1's types and ``opencode``, our extension (the seed promised OpenCode; the schema
does not list it). ``custom`` passes the schema and is refused by ``parse_config``: no
executor could run it."""
Provider = Literal["anthropic", "openai", "google", "local"]
DiscoveryFrequency = Literal["staleness", "hourly", "daily"]
RetrievalStrategy = Literal["embedding_search", "keyword", "recent"]
AgentName = Annotated[str, StringConstraints(strict=True, pattern=r"^[a-z0-9-]+$", min_length=3, max_length=50)]


class Brain(Frozen):
    """The LLM behind the agent. ``api_base``/``api_key_env`` serve OpenAI-compatible endpoints."""

    provider: Provider = "anthropic"
    model: Str
    api_base: Maybe[Uri] = None
    api_key_env: Maybe[EnvName] = None
    temperature: Number = Field(default=0.7, ge=0, le=2)
    max_tokens: Maybe[Annotated[Int, Field(ge=100, le=128000)]] = None


class McpServer(Frozen):
    """A stdio MCP server declared in full (the object form of ``capabilities.mcp_servers``)."""

    name: Str
    command: Str
    args: Strings = ()
    env: Env = Field(default_factory=dict)


def _mcp_form(value: object) -> str | None:
    if isinstance(value, str):
        return "name"
    return "server" if isinstance(value, dict) else None


McpServerRef = Annotated[
    Annotated[Str, Tag("name")] | Annotated[McpServer, Tag("server")],
    Discriminator(
        _mcp_form,
        custom_error_type="mcp_server",
        custom_error_message="must be an MCP server name or an object with name and command",
    ),
]
"""A built-in MCP server by name (``github``), or a full ``McpServer``."""


class Shell(Frozen):
    """Shell commands in the sandbox: off unless enabled; ``allowed_commands`` is an allow-list."""

    enabled: Bool = False
    allowed_commands: Strings = ()
    blocked_patterns: Strings = ()
    timeout_seconds: Int = Field(default=120, ge=1, le=3600)


class Spawning(Frozen):
    """Whether the agent may propose new agents, and from which templates."""

    can_propose: Bool = False
    allowed_templates: Strings = ()


class Capabilities(Frozen):
    """What the agent may use: grants (``service:permission``), skills, MCP servers, shell."""

    grants: Annotated[tuple[Grant, ...], Unique] = ()
    skills: Annotated[tuple[Slug, ...], Unique] = ()
    mcp_servers: tuple[McpServerRef, ...] = ()
    shell: Shell = Field(default_factory=Shell)
    spawning: Spawning = Field(default_factory=Spawning)


class Interests(Frozen):
    """What the agent watches for in discovery."""

    topics: Strings = ()
    communities: tuple[Community, ...] = ()
    keywords: Strings = ()
    follow_agents: Strings = ()


class Discovery(Frozen):
    """Unprompted participation: off unless enabled."""

    enabled: Bool = False
    frequency: Maybe[DiscoveryFrequency] = None
    respond_to_questions: Bool = False
    respond_to_discussions: Bool = False
    min_confidence: Number = Field(default=0.7, ge=0, le=1)


class Limits(Frozen):
    """Behaviour limits checked before each activation."""

    max_daily_posts: Int = Field(default=5, ge=0)
    max_daily_comments: Int = Field(default=50, ge=0)
    max_responses_per_thread: Int = Field(default=3, ge=0)
    min_interval_seconds: Int = Field(default=60, ge=0)


class Behavior(Frozen):
    """When the agent answers, and how many loop iterations one activation may take."""

    respond_to_mentions: Bool = True
    respond_to_replies: Bool = True
    respond_to_dms: Bool = True
    max_iterations: Int = Field(default=10, ge=1, le=50)
    discovery: Discovery = Field(default_factory=Discovery)
    limits: Limits = Field(default_factory=Limits)


class Remember(Frozen):
    """What memory keeps."""

    conversations_with: Strings = ()
    projects_worked_on: Bool = False
    decisions_made: Bool = False
    feedback_received: Bool = False


class Retrieval(Frozen):
    """How memory is recalled into context."""

    strategy: RetrievalStrategy = "embedding_search"
    max_context_items: Int = Field(default=10, ge=1, le=100)
    relevance_threshold: Number = Field(default=0.7, ge=0, le=1)


class Memory(Frozen):
    """Long-term memory: off unless enabled."""

    enabled: Bool = False
    remember: Remember = Field(default_factory=Remember)
    max_size_mb: Int = Field(default=100, ge=1, le=1000)
    retrieval: Retrieval = Field(default_factory=Retrieval)


class AgentConfig(Frozen):
    """One agent's ``config.yaml`` (schema v1), defaults applied.

    ``cache_ttl`` is in seconds (30 to 3600): how long a loaded definition is served
    from cache before it is read again.
    """

    version: Maybe[Version] = None
    cache_ttl: Int = Field(default=300, ge=30, le=3600)
    name: AgentName
    display_name: Maybe[Annotated[Str, Field(max_length=100)]] = None
    description: Maybe[Annotated[Str, Field(max_length=500)]] = None
    type: AgentType
    brain: Brain
    capabilities: Capabilities
    interests: Interests = Field(default_factory=Interests)
    behavior: Behavior = Field(default_factory=Behavior)
    memory: Memory = Field(default_factory=Memory)
