"""Agent definitions: schema v1 models, loading from a directory or a bucket, a per-agent cache.

The agent-definitions layout is ``agents/<name>/config.yaml`` + ``system-prompt.md``
and ``skills/<name>/SKILL.md``. A ``Source`` reads it from a local directory
(``DirectorySource``: a checkout root, or a folder of agent folders) or an
S3-compatible bucket (``S3Source``, with ``s3_client`` for R2). ``AgentStore`` loads
and caches definitions per agent for their ``cache_ttl``::

    store = AgentStore(DirectorySource(Path("agent-definitions")))
    agent = await store.get("claude-coder-1")     # AgentNotFound / InvalidAgent
    report = await store.load_all()               # LoadReport(agents, invalid)

Errors are ``shared.errors.AgentNotFound`` and ``InvalidAgent`` (which names the file
and the dotted field at fault); a bucket that cannot be reached raises
``TransientError``, one that refuses access ``ConfigurationError``.

``AgentStore(source, versions=...)`` also follows version counters shared by every
process (``shared.definitions.DefinitionVersions``), so an invalidation reaches them all.
"""

from ._configured import configured_source
from ._loader import AgentDefinition, load_agent, parse_config
from ._models import (
    AgentConfig,
    AgentType,
    Behavior,
    Brain,
    Capabilities,
    Discovery,
    Interests,
    Limits,
    McpServer,
    Memory,
    Provider,
    Remember,
    Retrieval,
    Shell,
    Spawning,
)
from ._names import NAME_RULE, is_agent_name, is_skill_name
from ._report import LoadReport
from ._s3 import S3Source, s3_client, s3_translated
from ._skills import Skill, SkillMeta, parse_skill
from ._sources import MAX_FILE_BYTES, DirectorySource, FileTooLarge, Source, agent_names, read_capped
from ._store import AgentStore, Versions, validate_directory

__all__ = [
    "MAX_FILE_BYTES",
    "NAME_RULE",
    "AgentConfig",
    "AgentDefinition",
    "AgentStore",
    "AgentType",
    "Behavior",
    "Brain",
    "Capabilities",
    "DirectorySource",
    "Discovery",
    "FileTooLarge",
    "Interests",
    "Limits",
    "LoadReport",
    "McpServer",
    "Memory",
    "Provider",
    "Remember",
    "Retrieval",
    "S3Source",
    "Shell",
    "Skill",
    "SkillMeta",
    "Source",
    "Spawning",
    "Versions",
    "agent_names",
    "configured_source",
    "is_agent_name",
    "is_skill_name",
    "load_agent",
    "parse_config",
    "parse_skill",
    "read_capped",
    "s3_client",
    "s3_translated",
    "validate_directory",
]
