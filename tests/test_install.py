"""What is installed is what ``uv.lock`` pins, and a lock that no longer matches is a clear error."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

from tests.support import ROOT, child_env, require

LOCK = ROOT / "uv.lock"


def _lock_check() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lock_check", ROOT / "scripts" / "lock_check.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lock_check = _lock_check()


def _uv() -> str:
    """The uv ``make install`` used (``.tools/bin/uv``, or one on PATH)."""
    found = [p for p in (ROOT / ".tools" / "bin" / "uv", shutil.which("uv")) if p and Path(p).is_file()]
    require(bool(found), "uv is not installed (make install puts it in .tools/)")
    return str(found[0])


def test_this_environment_is_exactly_the_lock() -> None:
    want = lock_check.locked(tomllib.loads(LOCK.read_text()))
    assert lock_check.differences(want, lock_check.installed()) == []
    # The dev tools are pinned like everything else: the versions that lint this code.
    assert {"mypy", "ruff", "pytest"} <= want.keys()


def test_the_lock_walk_follows_extras_markers_and_versions() -> None:
    lock = tomllib.loads(
        """
        version = 1
        [[package]]
        name = "botburrow-agents"
        version = "0.1.0"
        source = { editable = "." }
        dependencies = [
            { name = "Web_Lib", extra = ["fast"] },
            { name = "winonly", marker = "sys_platform == 'win32'" },
            { name = "split", version = "1.0", marker = "python_full_version < '3.0'" },
            { name = "split", version = "2.0", marker = "python_full_version >= '3.0'" },
        ]
        [package.optional-dependencies]
        dev = [{ name = "tool" }]
        [[package]]
        name = "web-lib"
        version = "3.1"
        dependencies = [{ name = "core" }]
        [package.optional-dependencies]
        fast = [{ name = "speedups" }]
        slow = [{ name = "never" }]
        [[package]]
        name = "core"
        version = "1.2"
        [[package]]
        name = "speedups"
        version = "0.9"
        [[package]]
        name = "never"
        version = "6.6"
        [[package]]
        name = "winonly"
        version = "1"
        [[package]]
        name = "split"
        version = "1.0"
        [[package]]
        name = "split"
        version = "2.0"
        [[package]]
        name = "tool"
        version = "7"
        """
    )
    assert lock_check.locked(lock) == {
        "botburrow-agents": "0.1.0",
        "web-lib": "3.1",
        "core": "1.2",
        "speedups": "0.9",
        "split": "2.0",
        "tool": "7",
    }
    assert "tool" not in lock_check.locked(lock, extras=())


def test_every_difference_is_named() -> None:
    want = {"a": "1.0", "b": "2.0", "c": "3.0"}
    have = {"a": "1.0", "b": "2.1", "d": "4.0"}
    assert lock_check.differences(want, have) == [
        "c: the lock pins 3.0, not installed",
        "d: 4.0 installed, the lock does not name it",
        "b: 2.1 installed, the lock pins 2.0",
    ]


def test_uv_itself_is_pinned_by_version_and_hash() -> None:
    required = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"]["required-version"]
    pins = (ROOT / "scripts" / "uv-requirements.txt").read_text()
    assert re.search(rf"^uv{re.escape(required)} \\$", pins, re.M), "scripts/uv-requirements.txt matches pyproject"
    assert len(re.findall(r"--hash=sha256:[0-9a-f]{64}", pins)) >= 10, "a hash for each platform's wheel"


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """The files ``scripts/install`` reads, in a folder of their own."""
    for name in ("pyproject.toml", "uv.lock", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "scripts", tmp_path / "scripts", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def _install(checkout: Path) -> subprocess.CompletedProcess[str]:
    uv = Path(_uv())
    env = child_env(VENV=str(checkout / ".venv"), TOOLS=str(uv.parent.parent), PATH=f"{uv.parent}:/usr/bin:/bin")
    return subprocess.run(
        ["bash", "scripts/install"], cwd=checkout, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_a_lock_that_no_longer_matches_pyproject_is_refused_before_installing(checkout: Path) -> None:
    assert subprocess.run([_uv(), "lock", "--check", "--offline"], cwd=checkout, capture_output=True).returncode == 0
    pyproject = checkout / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"pyyaml>=6,<7",', '"pyyaml>=6,<7",\n    "tabulate>=0.9",'))
    done = _install(checkout)
    assert done.returncode == 1
    assert "uv.lock does not match pyproject.toml's dependencies: run make lock" in done.stderr
    assert not (checkout / ".venv").exists(), "nothing was resolved or installed"


def test_a_missing_lock_is_refused(checkout: Path) -> None:
    (checkout / "uv.lock").unlink()
    done = _install(checkout)
    assert done.returncode == 1
    assert "uv.lock is missing: run make lock and commit it" in done.stderr
    assert not (checkout / ".venv").exists()


def test_the_record_of_an_install_is_the_lock(tmp_path: Path) -> None:
    record = tmp_path / "installed.txt"
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "lock_check.py"), "--record", str(record)],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    recorded = dict(line.split("==") for line in record.read_text().splitlines())
    assert recorded == lock_check.locked(tomllib.loads(LOCK.read_text()))
    assert f"lock-check: {len(recorded)} packages installed, each at its uv.lock version" in done.stderr
