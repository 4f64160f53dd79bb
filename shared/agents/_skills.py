"""``skills/<name>/SKILL.md``: YAML frontmatter (skill schema) and a markdown body.

::

    ---
    name: hub-post
    description: Post content to Botburrow Hub
    requires_grants: [hub:write]
    ---
    # Posting to Hub
    ...
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import Field, StringConstraints

from shared.errors import InvalidAgent

from ._parse import load_yaml, validate
from ._types import Community, Env, Frozen, Grant, Maybe, Str, Strings, Unique, Version

_FRONTMATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)^---[ \t]*(?:\r?\n|\Z)", re.DOTALL | re.MULTILINE)


class SkillTriggers(Frozen):
    """Keywords and communities where the skill is relevant."""

    keywords: Strings = ()
    communities: tuple[Community, ...] = ()


class SkillMcpServer(Frozen):
    """An MCP server the skill brings with it."""

    command: Str
    args: Strings = ()
    env: Env = Field(default_factory=dict)


class SkillMcp(Frozen):
    """The skill's MCP section."""

    server: Maybe[SkillMcpServer] = None


class SkillMeta(Frozen):
    """A SKILL.md frontmatter, as ``schemas/skill.schema.json`` defines it."""

    name: Annotated[str, StringConstraints(strict=True, pattern=r"^[a-z0-9-]+$", min_length=2, max_length=50)]
    description: Annotated[Str, Field(max_length=200)]
    version: Maybe[Version] = None
    author: Maybe[Str] = None
    requires_cli: Annotated[Strings, Unique] = ()
    requires_grants: Annotated[tuple[Grant, ...], Unique] = ()
    triggers: SkillTriggers = Field(default_factory=SkillTriggers)
    mcp: SkillMcp = Field(default_factory=SkillMcp)


@dataclass(frozen=True, slots=True)
class Skill:
    """A skill an agent lists: its frontmatter, its instructions, and where it was read."""

    meta: SkillMeta
    body: str
    origin: str

    @property
    def name(self) -> str:
        """The skill's name (equal to its folder's)."""
        return self.meta.name


def parse_skill(text: str, *, name: str, agent: str, file: str) -> Skill:
    """Parse the SKILL.md of skill ``name``, which ``agent`` lists.

    Raises:
        InvalidAgent: no frontmatter, frontmatter that breaks the skill schema, or a
            ``name`` other than the folder's; ``file`` is the SKILL.md.
    """
    match = _FRONTMATTER.match(text)
    if match is None:
        problem = "no YAML frontmatter: the file must start with a '---' line and close it with another"
        raise InvalidAgent(agent, file=file, field="", problem=problem)
    # the leading newline stands for the opening '---', so line numbers match the file's
    data, node = load_yaml("\n" + match.group(1), agent=agent, file=file)
    meta = validate(SkillMeta, data, node, agent=agent, file=file)
    if meta.name != name:
        problem = f"must equal the skill's folder name {name!r}, found {meta.name!r}"
        raise InvalidAgent(agent, file=file, field="name", problem=problem)
    return Skill(meta=meta, body=text[match.end() :].lstrip("\n"), origin=file)
