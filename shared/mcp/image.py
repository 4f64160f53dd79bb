"""Build an MCP servers image offline, from this host's own node, Python and git.

    python -m shared.mcp.image [--servers DIR] [--tag botburrow-mcp:latest] [--docker-host URL]

``MCP_SANDBOX=docker`` runs each stdio server in a container of ``MCP_IMAGE``, which holds
them in ``/opt/mcp-servers`` (``node /opt/mcp-servers/node_modules/...``,
``/opt/mcp-servers/.venv/bin/python -m mcp_server_git``). With a registry, the functions
image is that image. Where none is reachable, this ``docker import``-s a root filesystem
holding the installed servers ``DIR`` (``make mcp-servers``) at ``/opt/mcp-servers``, the
host's ``node``, the Python ``DIR/.venv`` was made on (with its standard library),
``git``, every shared library they and the servers' native modules load (as ``ldd``
lists them), CA certificates, a user 10001 and a ``/workspace`` it owns.

The image is labelled with a digest of what went into it; an image whose label matches
is kept (``--force`` rebuilds). Prints the tag, the image id and the seconds it took;
exit 1 with the reason when it cannot be built.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import docker
from docker.errors import DockerException, ImageNotFound

from shared.errors import ConfigurationError
from shared.sandbox import SANDBOX_UID, WORKSPACE
from shared.settings import Settings

from ._docker import IMAGE_SERVERS_DIR

DEFAULT_TAG = "botburrow-mcp:latest"
DIGEST_LABEL = "dev.botburrow.mcp.digest"
_VERSION = "2"  # of this builder: a change to what goes in must change it
_LDD_LINE = re.compile(r"(?:=>\s*)?(/\S+)\s+\(0x")
_SKIPPED_STDLIB = frozenset({"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "config-3.11"})
_EXTRA = ("/etc/ssl/certs/ca-certificates.crt", "/usr/lib/ssl", "/usr/share/git-core/templates")
PATH = "/usr/local/bin:/usr/bin:/bin"


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


def collect(servers: Path) -> Tree:
    """Everything the servers in ``servers`` need to run, as host paths."""
    node = shutil.which("node", path=PATH)
    git = shutil.which("git", path=PATH)
    python = _venv_python(servers)
    if node is None or git is None:
        raise ImageBuildError("node and git must be on this host (make mcp-servers installs them)")
    tree = Tree()
    tree.add_tree(servers)
    for program in (node, git, python):
        tree.add(program)
    stdlib = Path(os.path.realpath(python)).parent.parent / "lib" / Path(os.path.realpath(python)).name
    if not stdlib.is_dir():
        raise ImageBuildError(f"the standard library of {python} is not at {stdlib}")
    tree.add_tree(stdlib, skip=_SKIPPED_STDLIB)
    for extra in _EXTRA:
        if os.path.exists(extra):
            tree.add_tree(Path(extra)) if os.path.isdir(extra) else tree.add(extra)
    objects = [node, git, os.path.realpath(python)]
    objects += [p for p in list(tree.paths) if _shared_object(p)]
    for library in _libraries(objects):
        tree.add(library)
    return tree


def digest(servers: Path, tree: Tree) -> str:
    """What the image is made of: this builder's version, the servers' locks, every file's path, size and mtime."""
    h = hashlib.sha256(_VERSION.encode())
    for name in ("package-lock.json", "uv.lock", "postgres.mjs"):
        lock = servers / name
        h.update(lock.read_bytes() if lock.is_file() else b"-")
    for path in sorted(tree.paths):
        st = os.lstat(path)
        h.update(f"{path}\0{st.st_size}\0{int(st.st_mtime)}\n".encode())
    return h.hexdigest()[:32]


def write_rootfs(tree: Tree, out: Any, servers: Path) -> None:
    """The tar of ``tree``, ``servers`` moved to ``IMAGE_SERVERS_DIR``.

    With ``/etc/passwd`` and ``/etc/group`` for user 10001, ``/tmp`` and a ``/workspace`` it owns.
    """
    with tarfile.open(fileobj=out, mode="w") as tar:
        rootfs = _Rootfs(tar, tree, os.path.realpath(servers))
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


class _Rootfs:
    """Entries of the tar, each host path under its name in the image, directories made once."""

    def __init__(self, tar: tarfile.TarFile, tree: Tree, servers: str) -> None:
        self._tar = tar
        self._tree = tree
        self._servers = servers
        self._made: set[str] = set()

    def directory(self, name: str, mode: int = 0o755, uid: int = 0) -> None:
        if name not in self._made:
            self._made.add(name)
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.uid, info.gid = tarfile.DIRTYPE, mode, uid, uid
            self._tar.addfile(info)

    def add(self, path: str) -> None:
        """``path`` as it is on the host (a file, a directory, a link), under its image name."""
        if path != self._servers and self._servers.startswith(path + "/"):
            return  # a directory above the servers: they move
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
        if path == self._servers or path.startswith(self._servers + "/"):
            path = str(IMAGE_SERVERS_DIR) + path[len(self._servers) :]
        return path.lstrip("/")


def build(
    client: docker.DockerClient, servers: Path, *, tag: str = DEFAULT_TAG, force: bool = False
) -> tuple[str, bool]:
    """``tag`` built from the host for ``servers`` (an absolute directory); its id, and whether it was (re)built."""
    check_servers(servers)
    tree = collect(servers)
    wanted = digest(servers, tree)
    api: Any = client.api
    if not force:
        try:
            found = api.inspect_image(tag)
        except ImageNotFound:
            found = None
        if found is not None and (found.get("Config") or {}).get("Labels", {}).get(DIGEST_LABEL) == wanted:
            return str(found["Id"]), False
    repository, _, version = tag.rpartition(":") if ":" in tag.rsplit("/", 1)[-1] else (tag, "", "latest")
    changes = [
        f"ENV PATH={PATH}",
        f"LABEL {DIGEST_LABEL}={wanted}",
        f"USER {SANDBOX_UID}:{SANDBOX_UID}",
        f"WORKDIR {WORKSPACE}",
    ]
    with tempfile.NamedTemporaryFile(prefix="botburrow-mcp-rootfs-", suffix=".tar") as out:
        write_rootfs(tree, out, servers)
        out.flush()
        try:
            api.import_image_from_file(out.name, repository=repository, tag=version, changes=changes)
        except DockerException as exc:
            raise ImageBuildError(f"docker import of the MCP rootfs failed: {exc}") from exc
    return str(api.inspect_image(tag)["Id"]), True


def check_servers(servers: Path) -> None:
    """Raise ``ImageBuildError`` unless ``servers`` is an absolute directory of installed servers."""
    if not servers.is_absolute() or not (servers / "node_modules").is_dir() or not (servers / ".venv").is_dir():
        raise ImageBuildError(f"{servers} holds no installed servers (run make mcp-servers)")


def _venv_python(servers: Path) -> str:
    """The Python ``servers/.venv`` was made on (its ``pyvenv.cfg`` ``home``)."""
    cfg = servers / ".venv" / "pyvenv.cfg"
    try:
        home = next(line.split("=", 1)[1].strip() for line in cfg.read_text().splitlines() if line.startswith("home"))
    except (OSError, StopIteration) as exc:
        raise ImageBuildError(f"cannot read the Python of {cfg}: {exc}") from exc
    python = Path(home) / "python3"
    if not python.exists():
        raise ImageBuildError(f"{python} (the Python of {servers / '.venv'}) is not on this host")
    return str(python)


def _libraries(objects: Sequence[str]) -> list[str]:
    """Every shared library the ELF ``objects`` load, and their loader, as ``ldd`` resolves them."""
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
            elif "=> not found" in line:
                print(f"MCP image: a library is missing on this host, left out: {line.strip()}", file=sys.stderr)
    return list(found)


def _shared_object(path: str) -> bool:
    name = os.path.basename(path)
    return (name.endswith((".so", ".node")) or ".so." in name) and os.path.isfile(path) and not os.path.islink(path)


def _file(tar: tarfile.TarFile, name: str, text: str) -> None:
    data = text.encode()
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    tar.addfile(info, io.BytesIO(data))


def main(argv: Sequence[str] | None = None) -> int:
    """Build the image as the command line asks; 0 when it is there, 1 with the reason when not."""
    parser = argparse.ArgumentParser(prog="python -m shared.mcp.image", description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=Path, help="the installed servers (default: MCP_SERVERS_DIR)")
    parser.add_argument("--tag", help="image tag (default: MCP_IMAGE, else botburrow-mcp:latest)")
    parser.add_argument("--docker-host", help="engine address (default: DOCKER_HOST, else the local socket)")
    parser.add_argument("--force", action="store_true", help="rebuild even when the image is up to date")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        settings = Settings.from_env().mcp
        servers = (args.servers or settings.servers_dir).absolute()
        check_servers(servers)
        client = docker.DockerClient(base_url=args.docker_host or settings.docker_host)
        image_id, built = build(client, servers, tag=args.tag or settings.image, force=args.force)
    except (ImageBuildError, DockerException, ConfigurationError) as exc:
        print(f"MCP image: {exc}", file=sys.stderr)
        return 1
    what = "built" if built else "up to date, checked"
    print(f"{args.tag or settings.image} {image_id} {what} in {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
