"""Images made offline from this host's own files: a root filesystem tar, ``docker import``-ed.

Where no registry is reachable, an image cannot start ``FROM`` anything; what it needs is
taken from the host instead: programs, the shared libraries ``ldd`` says they load, whole
directories (installed servers or CLIs, a Python's standard library), some of them moved
to another path in the image. ``Tree`` gathers the host paths; ``write_rootfs`` writes
the tar (with a user ``SANDBOX_UID``, ``/tmp`` and a ``/workspace`` it owns);
``import_image`` imports it under a tag, labelled with a digest of what went in, and
keeps an image whose label already matches. ``shared.mcp.image`` (the MCP servers' image)
and ``shared.executors.image`` (the coding CLIs') are built this way.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from docker.errors import DockerException, ImageNotFound

from ._types import SANDBOX_UID, WORKSPACE

PATH = "/usr/local/bin:/usr/bin:/bin"
_LDD_LINE = re.compile(r"(?:=>\s*)?(/\S+)\s+\(0x")
SKIPPED_STDLIB = frozenset({"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "config-3.11"})


class ImageBuildError(Exception):
    """The image could not be built; the message says why."""


class Tree:
    """The paths of a root filesystem taken from the host: files, directories, and every symlink met on the way."""

    def __init__(self) -> None:
        self.paths: dict[str, None] = {}

    def add(self, path: str | Path) -> None:
        """``path`` as the host has it, following each symlink along it (the link is kept too)."""
        parts = Path(os.path.abspath(path)).parts
        current = Path("/")
        for i, part in enumerate(parts[1:], start=1):
            step = current / part
            if step.is_symlink():
                self.paths[str(step)] = None
                target = Path(os.path.normpath(current / os.readlink(step)))
                self.add(target.joinpath(*parts[i + 1 :]))
                return
            current = step
        if not current.exists():
            raise ImageBuildError(f"{current} is not on this host")
        self.paths[str(current)] = None

    def add_tree(self, top: Path, *, skip: Iterable[str] = ()) -> None:
        """``top`` and everything under it (links inside are kept as links, and what they name added)."""
        self.add(top)
        top = Path(os.path.realpath(top))
        skipped = set(skip)
        for root, dirs, files in os.walk(top):
            dirs[:] = [d for d in dirs if d not in skipped]
            for name in [*dirs, *files]:
                path = Path(root) / name
                self.paths[str(path)] = None
                if path.is_symlink() and path.exists():
                    self.add(path)

    def add_python(self, python: str) -> None:
        """The interpreter ``python`` and its standard library (without its tests and GUI)."""
        self.add(python)
        real = Path(os.path.realpath(python))
        stdlib = real.parent.parent / "lib" / real.name
        if not stdlib.is_dir():
            raise ImageBuildError(f"the standard library of {python} is not at {stdlib}")
        self.add_tree(stdlib, skip=SKIPPED_STDLIB)

    def add_libraries(self, programs: Iterable[str]) -> None:
        """Every shared library ``programs`` and the shared objects already in the tree load."""
        objects = [os.path.realpath(p) for p in programs]
        objects += [p for p in list(self.paths) if _shared_object(p)]
        held = {os.path.basename(p) for p in self.paths}
        for library in _libraries(objects, held=held):
            self.add(library)

    def digest(self, *extra: bytes) -> str:
        """What the tree is: ``extra`` (a builder's version, locks), every path's size and mtime."""
        h = hashlib.sha256()
        for part in extra:
            h.update(part)
        for path in sorted(self.paths):
            st = os.lstat(path)
            h.update(f"{path}\0{st.st_size}\0{int(st.st_mtime)}\n".encode())
        return h.hexdigest()[:32]


def write_rootfs(tree: Tree, out: Any, moves: Mapping[str, str]) -> None:
    """The tar of ``tree``; each host directory of ``moves`` (a real path) under its image path.

    With ``/etc/passwd`` and ``/etc/group`` for user 10001, ``/tmp`` and a ``/workspace`` it owns.
    """
    with tarfile.open(fileobj=out, mode="w") as tar:
        rootfs = _Rootfs(tar, tree, {os.path.realpath(k): v for k, v in moves.items()})
        for name, mode, uid in (("tmp", 0o1777, 0), (WORKSPACE.lstrip("/"), 0o700, SANDBOX_UID), ("etc", 0o755, 0)):
            rootfs.directory(name, mode, uid)
        for path in sorted(tree.paths):
            rootfs.add(path)
        _file(
            tar,
            "etc/passwd",
            f"root:x:0:0:root:/root:/bin/sh\nsandbox:x:{SANDBOX_UID}:{SANDBOX_UID}::{WORKSPACE}:/bin/sh\n",
        )
        _file(tar, "etc/group", f"root:x:0:\nsandbox:x:{SANDBOX_UID}:\n")


def import_image(
    client: Any, tree: Tree, moves: Mapping[str, str], *, tag: str, label: str, digest: str, force: bool = False
) -> tuple[str, bool]:
    """``tag`` imported from ``tree`` (user 10001, workdir ``/workspace``); its id, and whether it was (re)built.

    An image of ``tag`` whose ``label`` is ``digest`` already is kept unless ``force``.
    """
    api: Any = client.api
    if not force:
        try:
            found = api.inspect_image(tag)
        except ImageNotFound:
            found = None
        if found is not None and (found.get("Config") or {}).get("Labels", {}).get(label) == digest:
            return str(found["Id"]), False
    repository, _, version = tag.rpartition(":") if ":" in tag.rsplit("/", 1)[-1] else (tag, "", "latest")
    changes = [
        f"ENV PATH={PATH}",
        f"LABEL {label}={digest}",
        f"USER {SANDBOX_UID}:{SANDBOX_UID}",
        f"WORKDIR {WORKSPACE}",
    ]
    with tempfile.NamedTemporaryFile(prefix="botburrow-rootfs-", suffix=".tar") as out:
        write_rootfs(tree, out, moves)
        out.flush()
        try:
            api.import_image_from_file(out.name, repository=repository, tag=version, changes=changes)
        except DockerException as exc:
            raise ImageBuildError(f"docker import of the rootfs failed: {exc}") from exc
    return str(api.inspect_image(tag)["Id"]), True


class _Rootfs:
    """Entries of the tar, each host path under its name in the image, directories made once."""

    def __init__(self, tar: tarfile.TarFile, tree: Tree, moves: Mapping[str, str]) -> None:
        self._tar = tar
        self._tree = tree
        self._moves = moves
        self._made: set[str] = set()

    def directory(self, name: str, mode: int = 0o755, uid: int = 0) -> None:
        if name not in self._made:
            self._made.add(name)
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.uid, info.gid = tarfile.DIRTYPE, mode, uid, uid
            self._tar.addfile(info)

    def add(self, path: str) -> None:
        """``path`` as it is on the host (a file, a directory, a link), under its image name."""
        if any(path != moved and moved.startswith(path + "/") for moved in self._moves):
            return  # a directory above a moved one: it moves
        name = self._name(path)
        for parent in reversed(Path("/" + name).parents[:-1]):
            if not (str(parent) in self._tree.paths and os.path.islink(parent)):  # a link is an entry of its own
                self.directory(str(parent).lstrip("/"))
        if name in self._made:
            return
        info = self._tar.gettarinfo(path, arcname=name)
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        if info.isdir():
            self._made.add(name)
        if info.isreg():  # a hard link to a file added before is a link entry, without data
            with open(path, "rb") as f:
                self._tar.addfile(info, f)
        else:
            self._tar.addfile(info)

    def _name(self, path: str) -> str:
        for moved, inside in self._moves.items():
            if path == moved or path.startswith(moved + "/"):
                path = inside + path[len(moved) :]
                break
        return path.lstrip("/")


def _libraries(objects: Sequence[str], *, held: set[str]) -> list[str]:
    """Every shared library the ELF ``objects`` load, and their loader, as ``ldd`` resolves them.

    One ``ldd`` cannot find is reported, unless a file of its name is ``held`` already (a
    wheel's own ``.libs``, found at run time through its ``$ORIGIN``).
    """
    found: dict[str, None] = {}
    for start in range(0, len(objects), 200):
        listed = subprocess.run(
            ["ldd", *objects[start : start + 200]],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
            env={"PATH": PATH},
        )
        for line in listed.stdout.splitlines():
            match = _LDD_LINE.search(line)
            if match and not line.startswith("/"):
                found[match.group(1)] = None
            elif "=> not found" in line and line.split("=>")[0].strip() not in held:
                print(f"image: a library is missing on this host, left out: {line.strip()}", file=sys.stderr)
    return list(found)


def _shared_object(path: str) -> bool:
    name = os.path.basename(path)
    return (name.endswith((".so", ".node")) or ".so." in name) and os.path.isfile(path) and not os.path.islink(path)


def _file(tar: tarfile.TarFile, name: str, text: str) -> None:
    data = text.encode()
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    tar.addfile(info, io.BytesIO(data))
