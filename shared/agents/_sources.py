"""Where agent definitions are read from: the ``Source`` protocol and a local directory.

Every source speaks in logical paths of the agent-definitions layout
(``agents/<name>/config.yaml``, ``agents/<name>/system-prompt.md``,
``skills/<name>/SKILL.md``) and maps them to its own storage. Sources are synchronous
and blocking; ``AgentStore`` calls them through ``asyncio.to_thread``.

A directory may be laid out two ways:

* the root of an agent-definitions checkout: it holds ``agents/`` (and usually
  ``skills/``, ``schemas/``, ``templates/``);
* a folder whose subfolders are agents. Skills are then taken from a ``skills/``
  folder inside it if there is one, else from a ``skills/`` beside it (so pointing at
  a checkout's ``agents/`` folder finds the checkout's skills), else there are none.

Hidden folders, folders without a ``config.yaml``, and (in a folder of agents)
``skills/``, ``templates/`` and ``schemas/`` are not agents.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from shared.errors import ConfigurationError

from ._names import split_path

_NOT_AGENTS = frozenset({"skills", "templates", "schemas"})

MAX_FILE_BYTES = 1024 * 1024
"""The most a definition file (``config.yaml``, ``system-prompt.md``, ``SKILL.md``) may be.

A prompt that size is already a quarter of a large context window; a larger file is a
mistake or an attack, and parsing megabytes of YAML would hold a worker thread for seconds
at every load."""


class FileTooLarge(OSError):
    """A definition file larger than ``MAX_FILE_BYTES``: refused before it is read whole."""

    def __init__(self, where: str, size: int | None = None) -> None:
        found = f"{size} bytes" if size is not None else f"more than {MAX_FILE_BYTES} bytes"
        super().__init__(f"{where} is {found}: larger than the {MAX_FILE_BYTES // 1024} KiB a definition file may be")


def read_capped(path: Path, where: str) -> bytes:
    """The bytes of ``path``, at most ``MAX_FILE_BYTES`` of them.

    Raises:
        FileTooLarge: the file is larger.
        OSError: it cannot be read (``FileNotFoundError`` when it does not exist).
    """
    with path.open("rb") as file:
        data = file.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise FileTooLarge(where)
    return data


class Source(Protocol):
    """Read access to one set of agent definitions, in the agent-definitions layout."""

    def agent_names(self) -> list[str]:
        """Sorted names of the folders under ``agents/`` that hold a ``config.yaml``.

        Names are listed as found, not validated: the loader reports a folder whose name
        breaks schema v1 as an invalid agent.
        """
        ...

    def read_text(self, path: str) -> str | None:
        """The UTF-8 text at a logical path, or None when there is no such file.

        Raises:
            ValueError: the path is unsafe (see ``split_path``), or the bytes are not UTF-8.
            FileTooLarge: the file is larger than ``MAX_FILE_BYTES`` (it is not read whole).
            OSError: the file exists but cannot be read.
        """
        ...

    def locate(self, path: str) -> str:
        """Where a logical path lives (a file path or ``s3://`` URL), for messages."""
        ...


class DirectorySource:
    """Agent definitions in a local directory (a git checkout, or a folder of agents)."""

    def __init__(self, path: Path) -> None:
        """Open ``path`` in whichever of the two layouts it has.

        Raises:
            ConfigurationError: ``path`` is not a directory.
        """
        if not path.is_dir():
            raise ConfigurationError(f"agents directory {str(path)!r} does not exist or is not a directory")
        root = path.resolve()
        nested = root / "agents"
        self.checkout = nested.is_dir() and not (nested / "config.yaml").is_file()
        if self.checkout:
            self._agents = nested.resolve()
            skills: Path | None = root / "skills"
        else:
            self._agents = root
            skills = next((p for p in (root / "skills", root.parent / "skills") if p.is_dir()), None)
        self._skills = skills.resolve() if skills is not None and skills.is_dir() else None

    def __repr__(self) -> str:
        return f"DirectorySource(agents={str(self._agents)!r}, skills={str(self._skills) if self._skills else None!r})"

    def agent_names(self) -> list[str]:
        """Sorted names of the agent folders (see the module docstring for what is skipped)."""
        names = []
        for entry in self._agents.iterdir():
            if entry.name.startswith(".") or (not self.checkout and entry.name in _NOT_AGENTS):
                continue
            if entry.is_dir() and (entry / "config.yaml").is_file():
                names.append(entry.name)
        return sorted(names)

    def read_text(self, path: str) -> str | None:
        """The text of a file of the layout, or None when it does not exist.

        A file reached through a symlink that leads outside its ``agents/`` or
        ``skills/`` folder is refused with ``PermissionError``.
        """
        base, parts = self._base(path)
        if base is None:
            return None
        target = base.joinpath(*parts).resolve()
        if not target.is_relative_to(base):
            raise PermissionError(f"{self.locate(path)} leads outside {base}")
        try:
            data = read_capped(target, self.locate(path))
        except (FileNotFoundError, NotADirectoryError):
            return None
        return data.decode("utf-8")

    def locate(self, path: str) -> str:
        """The file path a logical path maps to."""
        base, parts = self._base(path)
        return str((base or self._agents.parent / "skills").joinpath(*parts))

    def _base(self, path: str) -> tuple[Path | None, list[str]]:
        top, *rest = split_path(path)
        if top == "agents":
            return self._agents, rest
        if top == "skills":
            return self._skills, rest
        raise ValueError(f"not a path of the agent-definitions layout: {path!r}")


def agent_names(path: Path) -> list[str]:
    """Sorted names of the agent folders in ``path`` (a checkout root or a folder of agents).

    Raises:
        ConfigurationError: ``path`` is not a directory.
    """
    return DirectorySource(path).agent_names()
