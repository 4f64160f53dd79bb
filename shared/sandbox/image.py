"""Build the sandbox image, with a registry or without one.

    python -m shared.sandbox.image [--offline] [--tag botburrow-sandbox:latest] [--busybox PATH]

With a registry, ``shared/sandbox/Dockerfile`` builds FROM ``debian:bookworm-slim``.
``--offline`` (for machines that reach no registry, such as CI here) first imports a
rootfs of the host's static busybox with ``docker import`` as
``botburrow-sandbox-rootfs:latest``, then builds the same Dockerfile FROM it: a shell
and the usual tools (``sh``, ``tar``, ``grep``, ``find``, ``sed``...) in about 2 MB.
The engine is the one ``DOCKER_HOST`` names (or the default socket). Prints the image
id and the seconds it took; exit 1 with the reason when the build fails.
"""

from __future__ import annotations

import argparse
import io
import os
import struct
import subprocess
import sys
import tarfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import docker
from docker.errors import BuildError, DockerException

from shared.errors import ConfigurationError
from shared.settings import Settings

DEFAULT_TAG = "botburrow-sandbox:latest"
ROOTFS_TAG = "botburrow-sandbox-rootfs:latest"
DEFAULT_BASE = "debian:bookworm-slim"
DOCKERFILE = Path(__file__).with_name("Dockerfile")
BUSYBOX_PATHS = ("/usr/bin/busybox", "/bin/busybox")
_PT_INTERP = 3


class ImageBuildError(Exception):
    """The image could not be built; the message says why."""


def build(
    client: docker.DockerClient, *, tag: str = DEFAULT_TAG, offline: bool = False, busybox: Path | None = None
) -> str:
    """Build the sandbox image as ``tag``; its id. ``offline`` imports the busybox rootfs first."""
    base = DEFAULT_BASE
    if offline:
        base = import_rootfs(client, busybox or find_busybox())
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        _add(tar, "Dockerfile", DOCKERFILE.read_bytes(), 0o644)
    context.seek(0)
    try:
        image, _ = client.images.build(
            fileobj=context,
            custom_context=True,
            tag=tag,
            buildargs={"BASE": base},
            pull=False,
            rm=True,
            forcerm=True,
        )
    except BuildError as exc:
        raise ImageBuildError(f"docker build FROM {base} failed: {exc.msg}") from exc
    except DockerException as exc:
        raise ImageBuildError(f"the Docker engine refused the build: {exc}") from exc
    return str(image.id)


def import_rootfs(client: docker.DockerClient, busybox: Path) -> str:
    """``docker import`` a rootfs of ``busybox`` (a static binary) and its applets; the tag."""
    data = rootfs(busybox)
    repository, tag = ROOTFS_TAG.rsplit(":", 1)
    api: Any = client.api
    try:
        api.import_image_from_data(data, repository=repository, tag=tag, changes=["ENV PATH=/bin"])
    except DockerException as exc:
        raise ImageBuildError(f"docker import of the rootfs failed: {exc}") from exc
    return ROOTFS_TAG


def rootfs(busybox: Path) -> bytes:
    """A tar of a minimal root filesystem: ``/bin/busybox``, a link per applet, ``/etc/passwd`` for root."""
    binary = busybox.read_bytes()
    if not is_static(binary):
        raise ImageBuildError(
            f"{busybox} is dynamically linked; the offline image needs a static busybox "
            "(apt-get install busybox-static)"
        )
    applets = _applets(busybox)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for d in ("bin", "etc", "tmp", "workspace", "proc", "sys", "dev"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755
            tar.addfile(info)
        _add(tar, "bin/busybox", binary, 0o755)
        for name in applets:
            if name != "busybox":
                link = tarfile.TarInfo(f"bin/{name}")
                link.type, link.linkname = tarfile.SYMTYPE, "busybox"
                tar.addfile(link)
        _add(tar, "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n", 0o644)
        _add(tar, "etc/group", b"root:x:0:\n", 0o644)
    return out.getvalue()


def is_static(elf: bytes) -> bool:
    """Whether a 64-bit little-endian ELF executable has no program interpreter (is static)."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2 or elf[5] != 1:
        raise ImageBuildError("busybox is not a 64-bit little-endian ELF executable")
    (phoff,) = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    return all(struct.unpack_from("<I", elf, phoff + i * phentsize)[0] != _PT_INTERP for i in range(phnum))


def find_busybox() -> Path:
    """The host's busybox, where Debian's ``busybox-static`` puts it."""
    for path in BUSYBOX_PATHS:
        if os.access(path, os.X_OK):
            return Path(path)
    raise ImageBuildError(f"no busybox in {', '.join(BUSYBOX_PATHS)} (apt-get install busybox-static)")


def _applets(busybox: Path) -> list[str]:
    listed = subprocess.run([str(busybox), "--list"], capture_output=True, text=True, check=False, timeout=10)
    if listed.returncode != 0:
        raise ImageBuildError(f"{busybox} --list failed: {listed.stderr.strip()}")
    return [a for a in listed.stdout.split() if a and "/" not in a]


def _add(tar: tarfile.TarFile, name: str, data: bytes, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))


def main(argv: Sequence[str] | None = None) -> int:
    """Build the image as the command line asks; 0 when built, 1 with the reason when not."""
    parser = argparse.ArgumentParser(prog="python -m shared.sandbox.image", description=__doc__.splitlines()[0])
    parser.add_argument("--tag", default=DEFAULT_TAG, help=f"image tag (default {DEFAULT_TAG})")
    parser.add_argument("--offline", action="store_true", help="build FROM an imported busybox rootfs (no registry)")
    parser.add_argument("--busybox", type=Path, help="the static busybox to import (default: the host's)")
    parser.add_argument("--docker-host", help="engine address (default: DOCKER_HOST, else the local socket)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        client = docker.DockerClient(base_url=args.docker_host or Settings.from_env().sandbox.docker_host)
        image_id = build(client, tag=args.tag, offline=args.offline, busybox=args.busybox)
    except (ImageBuildError, DockerException, ConfigurationError) as exc:
        print(f"sandbox image: {exc}", file=sys.stderr)
        return 1
    print(f"{args.tag} {image_id} built in {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
