"""Looking at processes from the outside, through ``/proc``: what a child really runs with."""

from __future__ import annotations

import contextlib
from pathlib import Path


def descendants(pid: int) -> list[int]:
    """Every live process descending from ``pid`` (children put in their own sessions included)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if fields[0] != "Z":
                    parents[int(entry.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        current = frontier.pop()
        kids = [p for p, parent in parents.items() if parent == current]
        found += kids
        frontier += kids
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not)."""
    with contextlib.suppress(OSError, IndexError):
        return (Path(f"/proc/{pid}") / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return False


def cmdline(pid: int) -> list[str]:
    """The argv the kernel holds for ``pid`` (empty once it is gone)."""
    with contextlib.suppress(OSError):
        return [a.decode(errors="replace") for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
    return []


def environ(pid: int) -> dict[str, str]:
    """The environment ``pid`` was started with, as the kernel holds it (root can read any process's)."""
    with contextlib.suppress(OSError):
        raw = Path(f"/proc/{pid}/environ").read_bytes()
        pairs = (item.decode(errors="replace").partition("=") for item in raw.split(b"\0") if item)
        return {name: value for name, _, value in pairs}
    return {}


def container_processes(docker_host: str, label: str) -> list[int]:
    """The host pids of every process in the running containers labelled ``label`` on that engine."""
    import docker

    client = docker.DockerClient(base_url=docker_host)
    try:
        pids: list[int] = []
        for c in client.api.containers(filters={"label": label}):
            top = client.api.top(c["Id"])
            column = top["Titles"].index("PID")
            pids += [int(row[column]) for row in top["Processes"]]
        return pids
    finally:
        client.close()
