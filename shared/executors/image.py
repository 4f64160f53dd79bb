"""Build the coding CLIs' sandbox image offline, from this host's own installs.

    python -m shared.executors.image [--clis DIR] [--tag botburrow-agent:latest] [--docker-host URL] [--force]

A Docker CLI sandbox runs ``CLI_IMAGE``, which holds the CLIs at ``/opt/botburrow/clis``
and the forwarder at ``/opt/botburrow/forward.py`` (``shared.executors._workspace``).
With a registry, ``clis/Dockerfile`` builds it. Where none is reachable, this
``docker import``-s a root filesystem of the installed CLIs ``DIR`` (``make clis``) moved
to ``/opt/botburrow/clis``, the forwarder, the host's ``python3`` (the forwarder's, and
the one ``DIR/aider/.venv`` was made on) with its standard library, ``bash`` (Claude
Code's shell tool), ``env``, ``git``, ``tar`` (files in and out), a static busybox as ``sh`` (the sandbox's init), and
every shared library they load (as ``ldd`` lists them), with a user 10001 and a
``/workspace`` it owns.

Labelled with a digest of what went into it; an image whose label matches is kept
(``--force`` rebuilds). Prints the tag, the image id, its size and the seconds it took;
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
from shared.settings import Settings

from . import CLI_SPECS
from ._workspace import CLI_DIR, FORWARD_SOURCE, FORWARDER

DEFAULT_TAG = "botburrow-agent:latest"
DIGEST_LABEL = "dev.botburrow.agent.digest"
_VERSION = "1"  # of this builder: a change to what goes in must change it
_PROGRAMS = ("python3", "bash", "env", "git", "tar", "cat", "ls")
BUSYBOX_PATHS = ("/usr/bin/busybox", "/bin/busybox")


def collect(clis: Path) -> Tree:
    """Everything the CLIs installed in ``clis`` need to run, as host paths."""
    installed = [spec.binary(clis) for spec in CLI_SPECS if spec.binary(clis).exists()]
    if not installed:
        raise ImageBuildError(f"{clis} holds no installed CLI (run make clis)")
    tree = Tree()
    tree.add_tree(clis)
    tree.add(FORWARD_SOURCE)
    programs = [found for name in _PROGRAMS if (found := shutil.which(name, path=PATH))]
    for program in programs:
        if Path(program).name == "python3":
            tree.add_python(program)
        else:
            tree.add(program)
    tree.add_libraries([*programs, *(str(p) for p in installed if _elf(p))])
    tree.add(busybox())
    for top in ("/bin", "/lib", "/lib64", "/sbin"):  # merged-usr links: /bin/sh is the sandbox's init
        if os.path.islink(top):
            tree.add(top)
    return tree


def busybox() -> str:
    """The host's static busybox, the image's ``sh``: the sandbox's init needs ``read -t``, which dash lacks."""
    found = next((p for p in BUSYBOX_PATHS if os.path.isfile(p)), None)
    if found is None:
        raise ImageBuildError("busybox is not on this host (apt-get install busybox-static; make sandbox does)")
    return os.path.realpath(found)


def build(client: docker.DockerClient, clis: Path, *, tag: str = DEFAULT_TAG, force: bool = False) -> tuple[str, bool]:
    """``tag`` built from the host for ``clis`` (an absolute directory); its id, and whether it was (re)built."""
    tree = collect(clis)
    locks = [(clis / n).read_bytes() if (clis / n).is_file() else b"-" for n in ("package-lock.json", "aider/uv.lock")]
    moves = {str(clis): CLI_DIR, str(FORWARD_SOURCE): FORWARDER, busybox(): "/usr/bin/sh"}
    digest = tree.digest(_VERSION.encode(), *locks)
    return import_image(client, tree, moves, tag=tag, label=DIGEST_LABEL, digest=digest, force=force)


def _elf(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"\x7fELF"


def main(argv: Sequence[str] | None = None) -> int:
    """Build the image as the command line asks; 0 when it is there, 1 with the reason when not."""
    parser = argparse.ArgumentParser(prog="python -m shared.executors.image", description=__doc__.splitlines()[0])
    parser.add_argument("--clis", type=Path, help="the installed CLIs (default: CLI_DIR)")
    parser.add_argument("--tag", help="image tag (default: CLI_IMAGE, else botburrow-agent:latest)")
    parser.add_argument("--docker-host", help="engine address (default: DOCKER_HOST, else the local socket)")
    parser.add_argument("--force", action="store_true", help="rebuild even when the image is up to date")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        settings = Settings.from_env()
        clis = (args.clis or settings.clis.dir).absolute()
        tag = args.tag or settings.clis.image
        client = docker.DockerClient(base_url=args.docker_host or settings.sandbox.docker_host)
        image_id, built = build(client, clis, tag=tag, force=args.force)
        api: Any = client.api
        info = api.inspect_image(tag)
    except (ImageBuildError, DockerException, ConfigurationError, OSError) as exc:
        print(f"agent image: {exc}", file=sys.stderr)
        return 1
    what = "built" if built else "up to date, checked"
    size_mb = int(info.get("Size", 0)) / 1e6
    print(f"{tag} {image_id} {size_mb:.0f} MB {what} in {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    os.umask(0o022)
    sys.exit(main())
