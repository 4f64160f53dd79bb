"""What the sources hold, validated: the files of every valid agent and skill, and what was rejected.

A *unit* is one agent (``agents/<name>/``) or one skill (``skills/<name>/``): it is
uploaded whole or not at all. Each source is a local folder by now (a checkout, or what
the GitHub API gave). A unit found in two sources is taken from the first that has it.

Validation uses the project's own parsers, so what the sync lets into the bucket is
exactly what the runners will load: each skill's ``SKILL.md`` against the skill schema
first (``parse_skill``), then each agent with ``load_agent`` over the same folder with
the rejected skills taken out (an agent that lists a broken skill is not held back by
it: the bucket keeps the skill's last good version, or the agent runs without it, as
the loader does for a missing skill). A rejected unit is never uploaded, and what the
bucket holds of it is left as it is, since its source still has it.

Files: every regular file of a unit, hidden names and symlinks skipped.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from shared.agents import (
    MAX_FILE_BYTES,
    NAME_RULE,
    DirectorySource,
    FileTooLarge,
    is_agent_name,
    is_skill_name,
    load_agent,
    parse_skill,
    read_capped,
)
from shared.errors import AgentNotFound, InvalidAgent

from ._report import Rejected


@dataclass
class Tree:
    """The files to be in the bucket, by logical path, and the units that were rejected."""

    files: dict[str, bytes] = field(default_factory=dict)
    rejected: list[Rejected] = field(default_factory=list)
    units: set[str] = field(default_factory=set)  # every unit seen, valid or not ("agents/<name>")

    @property
    def rejected_units(self) -> set[str]:
        """The units whose objects the bucket keeps as they are."""
        return {r.unit for r in self.rejected}

    def add_source(self, root: Path, *, label: str) -> None:
        """Validate the units of the checkout at ``root`` that no earlier source had (blocking).

        A symlink where a folder of the layout should be (``agents/``, ``skills/``, one
        agent's or skill's folder) is rejected by name and removed from the temporary
        checkout: nothing is validated or uploaded through a link that may lead out of it.
        """
        self._links(root, label)
        for name in _folders(root / "skills"):
            self._skill(root, name, label)
        if (root / "agents").is_dir():
            source = DirectorySource(root)
            for name in source.agent_names():
                self._agent(root, source, name, label)

    def _links(self, root: Path, label: str) -> None:
        links = [root / top for top in ("agents", "skills")]
        links += [
            p
            for top in ("agents", "skills")
            if (root / top).is_dir() and not (root / top).is_symlink()
            for p in sorted((root / top).iterdir())
            if p.is_symlink()
        ]
        for link in links:
            if not link.is_symlink():
                continue
            unit = link.relative_to(root).as_posix()
            problem = f"a symlink (to {str(link.readlink())!r}): the sync follows no link out of the checkout"
            if unit not in self.units:
                self.units.add(unit)
                self.rejected.append(Rejected(unit=unit, source=label, file=unit, field="", problem=problem))
            link.unlink()

    def _skill(self, root: Path, name: str, label: str) -> None:
        unit = f"skills/{name}"
        if unit in self.units:
            return
        self.units.add(unit)
        folder, file = root / "skills" / name, f"{unit}/SKILL.md"
        problem: tuple[str, str] | None = None
        if not is_skill_name(name):
            problem = ("name", "a skill's folder name must be 2 to 50 characters of a-z, 0-9 and '-'")
        elif not (folder / "SKILL.md").is_file() or (folder / "SKILL.md").is_symlink():
            problem = ("", "missing: every skill needs a SKILL.md")
        else:
            try:
                text = read_capped(folder / "SKILL.md", file).decode("utf-8")
                parse_skill(text, name=name, agent=name, file=file)
            except UnicodeDecodeError:
                problem = ("", "not UTF-8 text")
            except FileTooLarge:
                problem = ("", f"larger than the {MAX_FILE_BYTES // 1024} KiB a definition file may be")
            except InvalidAgent as exc:
                problem = (exc.field, exc.problem)
        if problem is not None:
            self.rejected.append(Rejected(unit=unit, source=label, file=file, field=problem[0], problem=problem[1]))
            shutil.rmtree(folder)  # the agents below are validated as the bucket will serve them: without it
            return
        self._take(root, unit)

    def _agent(self, root: Path, source: DirectorySource, name: str, label: str) -> None:
        unit = f"agents/{name}"
        if unit in self.units or (root / unit).is_symlink():
            return
        self.units.add(unit)
        try:
            if not is_agent_name(name):
                raise InvalidAgent(name, file=unit, field="name", problem=f"an agent's folder name must be {NAME_RULE}")
            load_agent(source, name)
        except AgentNotFound:
            return
        except InvalidAgent as exc:
            file = _relative(exc.file, root)
            self.rejected.append(Rejected(unit=unit, source=label, file=file, field=exc.field, problem=exc.problem))
            return
        self._take(root, unit)

    def _take(self, root: Path, unit: str) -> None:
        base = root / unit
        for path in sorted(base.rglob("*")):
            relative = path.relative_to(base)
            if any(part.startswith(".") for part in relative.parts) or path.is_symlink() or not path.is_file():
                continue
            if any(p.is_symlink() for p in path.parents if p.is_relative_to(base)):
                continue
            self.files[f"{unit}/{relative.as_posix()}"] = path.read_bytes()


def _folders(parent: Path) -> list[str]:
    if not parent.is_dir() or parent.is_symlink():
        return []
    return sorted(p.name for p in parent.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith("."))


def _relative(file: str, root: Path) -> str:
    """A file the loader names, as a path of the layout (``agents/<name>/config.yaml``)."""
    try:
        return Path(file).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return file
