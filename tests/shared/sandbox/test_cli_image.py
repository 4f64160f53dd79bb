"""``botburrow sandbox exec`` as an operator runs it, the offline image build, and the sandbox settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import docker
import pytest

from shared.errors import ConfigurationError
from shared.sandbox.image import ImageBuildError, build, is_static, rootfs
from shared.settings import SandboxBackendChoice, Settings
from tests.support import child_env, require

BOTBURROW = [sys.executable, "-m", "shared.cli"]


def botburrow(*args: str, docker_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = child_env(DOCKER_HOST=docker_url, RUNNER_SECRET_FOR_TEST="s3cr3t", **env)
    return subprocess.run([*BOTBURROW, *args], capture_output=True, text=True, timeout=60, env=environ, check=False)


def test_exec_shows_a_non_root_id_and_only_loopback(docker_url: str) -> None:
    done = botburrow("sandbox", "exec", "--", "sh", "-c", "id -u; cat /proc/net/dev; env", docker_url=docker_url)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "10001"
    faces = [ln.split(":")[0].strip() for ln in lines[3:] if ":" in ln and "=" not in ln]
    assert faces == ["lo"]
    assert "s3cr3t" not in done.stdout and "DOCKER_HOST" not in done.stdout


def test_exec_passes_the_exit_code_and_streams_stderr(docker_url: str) -> None:
    done = botburrow("sandbox", "exec", "--", "sh", "-c", "echo out; echo err >&2; exit 42", docker_url=docker_url)
    assert (done.returncode, done.stdout, done.stderr.strip().splitlines()[-1]) == (42, "out\n", "err")


def test_exec_timeout_kills_and_says_so(docker_url: str) -> None:
    done = botburrow(
        "sandbox", "exec", "--timeout", "1", "--", "sh", "-c", "echo a; sleep 20; echo b", docker_url=docker_url
    )
    assert done.returncode == 137
    assert done.stdout == "a\n" and "killed at the 1 s limit" in done.stderr


def test_exec_with_the_bwrap_backend(docker_url: str, bwrap_path: str) -> None:
    done = botburrow(
        "sandbox", "exec", "--backend", "bwrap", "--", "sh", "-c", "cat /proc/net/dev", docker_url=docker_url
    )
    assert done.returncode == 0, done.stderr
    assert [ln.split(":")[0].strip() for ln in done.stdout.splitlines()[2:]] == ["lo"]


def test_exec_without_a_command_or_an_engine_is_a_clear_error(tmp_path: Path) -> None:
    done = botburrow("sandbox", "exec", docker_url="unix:///nonexistent.sock")
    assert done.returncode == 2 and "give the command after --" in done.stderr
    done = botburrow("sandbox", "exec", "--backend", "docker", "--", "true", docker_url=f"unix://{tmp_path}/no.sock")
    assert done.returncode == 2 and "no Docker engine" in done.stderr


def test_offline_rootfs_needs_a_static_busybox() -> None:
    require(Path("/usr/bin/busybox").exists(), "busybox-static is not installed (run scripts/ensure-sandbox)")
    assert is_static(Path("/usr/bin/busybox").read_bytes())
    with pytest.raises(ImageBuildError, match="dynamically linked"):
        rootfs(Path("/bin/ls"))  # Debian's ls is dynamically linked
    with pytest.raises(ImageBuildError, match="not a 64-bit"):
        is_static(b"#!/bin/sh\n")


def test_offline_build_makes_a_working_image(docker_client: docker.DockerClient) -> None:
    tag = f"botburrow-sandbox-test:{os.getpid()}"
    try:
        build(docker_client, tag=tag, offline=True)
        out = docker_client.containers.run(
            tag, ["sh", "-c", "id -u; pwd; tar --help >/dev/null 2>&1 && echo tar"], remove=True
        )
        assert out.decode().split() == ["10001", "/workspace", "tar"]
    finally:
        docker_client.images.remove(tag, force=True)


def test_sandbox_settings_are_read_and_bad_ones_named() -> None:
    s = Settings.from_env(
        {
            "SANDBOX_BACKEND": "bwrap",
            "DOCKER_HOST": "tcp://10.0.0.2:2375",
            "SANDBOX_MEMORY_MB": "256",
            "SANDBOX_POOL_SIZE": "0",
        }
    ).sandbox
    assert s.backend is SandboxBackendChoice.BWRAP and s.docker_host == "tcp://10.0.0.2:2375"
    assert (s.memory_mb, s.pool_size, s.pids, s.image) == (256, 0, 128, "botburrow-sandbox:latest")
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env({"SANDBOX_BACKEND": "podman", "DOCKER_HOST": "/var/run/x", "SANDBOX_PIDS": "2"})
    for name in ("SANDBOX_BACKEND", "DOCKER_HOST", "SANDBOX_PIDS"):
        assert name in str(info.value)
