"""What this interpreter's environment holds, against what ``uv.lock`` says it should.

Run with the venv's Python (``make install`` does, after ``uv sync --locked``)::

    .venv/bin/python scripts/lock_check.py [--record FILE]

It walks the lock from the project with its ``dev`` extra, keeping the dependencies whose
markers hold here, and compares that with the installed distributions: a package missing,
one the lock does not name, or one at another version is reported by name, and the exit
status is 1. On success it prints how many packages matched and, with ``--record``, writes
them as ``name==version`` lines, so two installs can be compared by their records.

It reads the lock itself rather than asking uv, so it referees uv's work instead of
repeating it. Needs ``packaging`` (a dependency of pytest, so in every dev install).
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from collections import deque
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.markers import Marker

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "botburrow-agents"


def normalise(name: str) -> str:
    """A distribution name as PEP 503 compares it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _applies(dep: Mapping[str, Any]) -> bool:
    marker = dep.get("marker")
    return marker is None or Marker(marker).evaluate()


def _find(packages: Iterable[Mapping[str, Any]], dep: Mapping[str, Any]) -> Mapping[str, Any]:
    """The lock's entry a dependency points at (several versions of one name are told apart by version)."""
    name = normalise(dep["name"])
    found = [p for p in packages if normalise(p["name"]) == name and dep.get("version") in (None, p.get("version"))]
    if len(found) != 1:
        raise SystemExit(f"lock-check: uv.lock has {len(found)} entries for {dep['name']} {dep.get('version', '')}")
    return found[0]


def locked(lock: Mapping[str, Any], extras: Iterable[str] = ("dev",)) -> dict[str, str]:
    """``{name: version}`` of every package the lock installs here for the project with ``extras``."""
    packages = lock["package"]
    root = _find(packages, {"name": PROJECT})
    wanted: dict[str, str] = {}
    queue: deque[tuple[Mapping[str, Any], tuple[str, ...]]] = deque([(root, tuple(extras))])
    seen: set[tuple[str, str, tuple[str, ...]]] = set()
    while queue:
        package, with_extras = queue.popleft()
        key = (normalise(package["name"]), str(package.get("version")), with_extras)
        if key in seen:
            continue
        seen.add(key)
        wanted[key[0]] = key[1]
        deps = list(package.get("dependencies", []))
        for extra in with_extras:
            deps += package.get("optional-dependencies", {}).get(extra, [])
        for dep in deps:
            if _applies(dep):
                queue.append((_find(packages, dep), tuple(sorted(dep.get("extra", ())))))
    return wanted


def installed() -> dict[str, str]:
    """``{name: version}`` of every distribution this interpreter's environment holds."""
    return {normalise(d.metadata["Name"]): d.version for d in metadata.distributions()}


def differences(want: Mapping[str, str], have: Mapping[str, str]) -> list[str]:
    """One line per package that is missing, unexpected or at another version."""
    out = [f"{n}: the lock pins {want[n]}, not installed" for n in sorted(want.keys() - have.keys())]
    out += [f"{n}: {have[n]} installed, the lock does not name it" for n in sorted(have.keys() - want.keys())]
    out += [f"{n}: {have[n]} installed, the lock pins {v}" for n, v in sorted(want.items()) if have.get(n, v) != v]
    return out


def main(argv: list[str] | None = None) -> int:
    """Compare, report, record; 0 when the environment is the lock's."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lock", type=Path, default=ROOT / "uv.lock")
    parser.add_argument("--record", type=Path, help="write the installed versions here")
    args = parser.parse_args(argv)
    want = locked(tomllib.loads(args.lock.read_text()))
    have = installed()
    if problems := differences(want, have):
        print(f"lock-check: {sys.prefix} differs from {args.lock}:", *problems, sep="\n  ", file=sys.stderr)
        return 1
    if args.record:
        args.record.write_text("".join(f"{n}=={v}\n" for n, v in sorted(have.items())))
    where = f", recorded in {args.record}" if args.record else ""
    print(f"lock-check: {len(have)} packages installed, each at its uv.lock version{where}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
