"""One agent's definition, read from a source and validated: ``load_agent``.

What makes an agent invalid (``InvalidAgent``, naming the file at fault):

* ``config.yaml`` that is not YAML, breaks schema v1, or whose ``name`` differs from
  its folder's name (field ``name``);
* no ``system-prompt.md``, or one that is blank: an agent without a persona cannot act;
* a file of the definition larger than ``MAX_FILE_BYTES`` (1 MiB), refused unread;
* a listed skill whose ``SKILL.md`` exists but is malformed: someone shipped a broken
  file, and every agent that uses it says so until it is fixed.

A listed skill that does not exist is a warning, not an error: the agent loads, the
name is kept in ``AgentDefinition.missing_skills`` and logged. Skills are published
apart from agents and shared by many of them, so a skill renamed or not yet synced
must not silence every agent that lists it; the agent still answers, without it.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from shared.errors import AgentNotFound, InvalidAgent

from ._honoured import not_honoured
from ._models import AgentConfig
from ._names import agent_path, is_agent_name, skill_path
from ._parse import load_yaml, validate
from ._skills import Skill, parse_skill
from ._sources import MAX_FILE_BYTES, FileTooLarge, Source

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class AgentDefinition:
    """Everything the runner needs to activate one agent.

    Attributes:
        config: ``config.yaml``, schema defaults applied.
        system_prompt: the text of ``system-prompt.md``.
        skills: the listed skills that were found, in the config's order.
        missing_skills: listed skills with no ``SKILL.md`` (a warning, see the module).
        origin: where the agent's folder is (a path or an ``s3://`` URL).
    """

    config: AgentConfig
    system_prompt: str
    skills: tuple[Skill, ...]
    missing_skills: tuple[str, ...]
    origin: str

    @property
    def name(self) -> str:
        """The agent's name (equal to its folder's)."""
        return self.config.name

    @property
    def cache_ttl_s(self) -> int:
        """How long the definition may be served from cache, in seconds."""
        return self.config.cache_ttl


def parse_config(text: str, *, name: str, file: str) -> AgentConfig:
    """Validate the text of agent ``name``'s ``config.yaml`` against schema v1.

    Raises:
        InvalidAgent: naming ``file`` and the field at fault.
    """
    data, node = load_yaml(text, agent=name, file=file)
    config = validate(AgentConfig, data, node, agent=name, file=file)
    if config.name != name:
        problem = f"must equal the agent's folder name {name!r}, found {config.name!r}"
        raise InvalidAgent(name, file=file, field="name", problem=problem)
    if config.type == "custom":
        problem = (
            "'custom' is not supported: botburrow-agents runs native, claude-code, opencode, aider and goose "
            "agents (schema v1 names custom, and defines nothing that could run it)"
        )
        raise InvalidAgent(name, file=file, field="type", problem=problem)
    return config


def load_agent(source: Source, name: str) -> AgentDefinition:
    """Read and validate agent ``name`` from ``source`` (blocking).

    The name is checked before any path is built from it.

    Raises:
        AgentNotFound: ``name`` is not a possible agent name, or has no ``config.yaml``.
        InvalidAgent: the definition does not pass (see the module docstring).
        TransientError: the source could not be reached (a bucket, not a directory).
        ConfigurationError: the source refused access or does not exist.
    """
    if not is_agent_name(name):
        raise AgentNotFound(name)
    text = _read(source, name, agent_path(name, "config.yaml"))
    if text is None:
        raise AgentNotFound(name)
    config = parse_config(text, name=name, file=source.locate(agent_path(name, "config.yaml")))
    for field, reason in not_honoured(config):
        log.warning("agents.field_not_honoured", agent=name, field=field, reason=reason)
    prompt_path = agent_path(name, "system-prompt.md")
    prompt = _read(source, name, prompt_path)
    if prompt is None or not prompt.strip():
        problem = "missing: every agent needs a system-prompt.md" if prompt is None else "is empty"
        raise InvalidAgent(name, file=source.locate(prompt_path), field="", problem=problem)
    skills: list[Skill] = []
    missing: list[str] = []
    for skill in config.capabilities.skills:
        skill_text = _read(source, name, skill_path(skill))
        if skill_text is None:
            missing.append(skill)
            log.warning("agents.skill_missing", agent=name, skill=skill, file=source.locate(skill_path(skill)))
            continue
        skills.append(parse_skill(skill_text, name=skill, agent=name, file=source.locate(skill_path(skill))))
    return AgentDefinition(
        config=config,
        system_prompt=prompt,
        skills=tuple(skills),
        missing_skills=tuple(missing),
        origin=source.locate(f"agents/{name}"),
    )


def _read(source: Source, name: str, path: str) -> str | None:
    try:
        return source.read_text(path)
    except UnicodeDecodeError as exc:
        raise InvalidAgent(name, file=source.locate(path), field="", problem="not UTF-8 text") from exc
    except FileTooLarge as exc:
        problem = f"larger than the {MAX_FILE_BYTES // 1024} KiB a definition file may be"
        raise InvalidAgent(name, file=source.locate(path), field="", problem=problem) from exc
    except OSError as exc:
        problem = f"cannot be read: {exc.strerror or exc}"
        raise InvalidAgent(name, file=source.locate(path), field="", problem=problem) from exc
