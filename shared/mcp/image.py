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
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import docker
from docker.errors import DockerException

from shared.errors import ConfigurationError
from shared.sandbox.rootfs import PATH, ImageBuildError, Tree, import_image
from shared.sandbox.rootfs import write_rootfs as _write_rootfs
from shared.settings import Settings

from ._docker import IMAGE_SERVERS_DIR

DEFAULT_TAG = "botburrow-mcp:latest"
DIGEST_LABEL = "dev.botburrow.mcp.digest"
_VERSION = "2"  # of this builder: a change to what goes in must change it
_EXTRA = ("/etc/ssl/certs/ca-certificates.crt", "/usr/lib/ssl", "/usr/share/git-core/templates")

__all__ = ["DEFAULT_TAG", "ImageBuildError", "Tree", "build", "collect", "digest", "main", "write_rootfs"]


def collect(servers: Path) -> Tree:
    """Everything the servers in ``servers`` need to run, as host paths."""
    node = shutil.which("node", path=PATH)
    git = shutil.which("git", path=PATH)
    python = _venv_python(servers)
    if node is None or git is None:
        raise ImageBuildError("node and git must be on this host (make mcp-servers installs them)")
    tree = Tree()
    tree.add_tree(servers)
    tree.add(node)
    tree.add(git)
    tree.add_python(python)
    for extra in _EXTRA:
        if os.path.exists(extra):
            tree.add_tree(Path(extra)) if os.path.isdir(extra) else tree.add(extra)
    tree.add_libraries([node, git, python])
    return tree


def digest(servers: Path, tree: Tree) -> str:
    """What the image is made of: this builder's version, the servers' locks, every file's path, size and mtime."""
    locks = [
        (servers / n).read_bytes() if (servers / n).is_file() else b"-"
        for n in ("package-lock.json", "uv.lock", "postgres.mjs")
    ]
    return tree.digest(_VERSION.encode(), *locks)


def write_rootfs(tree: Tree, out: Any, servers: Path) -> None:
    """The tar of ``tree``, ``servers`` moved to ``IMAGE_SERVERS_DIR`` (``shared.sandbox.rootfs``)."""
    _write_rootfs(tree, out, {str(servers): str(IMAGE_SERVERS_DIR)})


def build(
    client: docker.DockerClient, servers: Path, *, tag: str = DEFAULT_TAG, force: bool = False
) -> tuple[str, bool]:
    """``tag`` built from the host for ``servers`` (an absolute directory); its id, and whether it was (re)built."""
    check_servers(servers)
    tree = collect(servers)
    moves = {str(servers): str(IMAGE_SERVERS_DIR)}
    return import_image(client, tree, moves, tag=tag, label=DIGEST_LABEL, digest=digest(servers, tree), force=force)


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
