"""One settings object, built from the environment once, at the entrypoint.

Only ``Settings.from_env`` reads the environment; everything else takes settings (or
a part of them) as an argument. Every problem names the variable that caused it, all
of them at once, and ``repr`` never shows a secret. ``Settings.variables()`` lists every
variable read, so the deployment manifests can be checked against it both ways.

The parts: ``_models`` (one dataclass per concern), ``_build`` (one builder per part),
``_parsers`` (one parser per kind of value), ``_env`` (reading, collecting problems).
"""

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
    SyncSource,
    SyncSourceKind,
    TranscriptSettings,
    redact_url,
)
from ._settings import Settings

__all__ = [
    "MCP_CREDENTIALS",
    "AgentSourceSettings",
    "CliSettings",
    "DefinitionsSettings",
    "HubSettings",
    "LLMSettings",
    "McpSandboxChoice",
    "McpSettings",
    "PollerSettings",
    "PushAuthSettings",
    "R2Settings",
    "RunnerMode",
    "RunnerSettings",
    "SandboxBackendChoice",
    "SandboxSettings",
    "Secret",
    "Settings",
    "SyncSource",
    "SyncSourceKind",
    "TranscriptSettings",
    "redact_url",
]
