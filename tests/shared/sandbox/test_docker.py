"""The Docker backend against the real engine: the security battery, archives, output.

Every test starts real containers from the sandbox image (``scripts/ensure-sandbox``).
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import tarfile
import time
import uuid
from collections.abc import AsyncIterator

import docker
import pytest

from shared.sandbox._docker import LABEL, DockerBackend, DockerSandbox, alive, process_tag
from shared.sandbox._types import SANDBOX_UID, SandboxFailed, SandboxSpec, SandboxUnavailable
from tests.shared.sandbox.conftest import interfaces, sh
from tests.support import eventually


@pytest.fixture
async def sandbox(docker_backend: DockerBackend) -> AsyncIterator[DockerSandbox]:
    sb = await docker_backend.start(SandboxSpec(env={"GRANTED_TOKEN": "granted-value"}))
    yield sb
    await sb.close()


async def test_no_network_interface_but_loopback(sandbox: DockerSandbox) -> None:
    code, out, _ = await sh(sandbox, "cat /proc/net/dev")
    assert code == 0
    assert interfaces(out) == {"lo"}


async def test_a_network_grant_gives_an_interface(docker_backend: DockerBackend) -> None:
    sb = await docker_backend.start(SandboxSpec(network=True))
    try:
        _, out, _ = await sh(sb, "cat /proc/net/dev")
    finally:
        await sb.close()
    assert "lo" in interfaces(out) and len(interfaces(out)) > 1


async def test_runner_secrets_are_absent_granted_ones_present(
    docker_backend: DockerBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = f"runner-secret-{uuid.uuid4().hex}"
    monkeypatch.setenv("ANTHROPIC_API_KEY", secret)
    monkeypatch.setenv("HUB_API_KEY", secret)
    sb = await docker_backend.start(SandboxSpec(env={"GITHUB_TOKEN": "granted-value"}))
    try:
        _, env, _ = await sh(sb, "env")
        # Every process's environment, the container's init included.
        _, environs, _ = await sh(sb, "cat /proc/[0-9]*/environ | tr '\\0' '\\n'")
        _, extra, _ = await sh(sb, "env", env={"PER_CALL": "yes"})
    finally:
        await sb.close()
    assert secret not in env and secret not in environs
    assert "ANTHROPIC_API_KEY" not in env and "HUB_API_KEY" not in env
    assert "GITHUB_TOKEN=granted-value" in env
    assert "PER_CALL=yes" in extra and "PER_CALL" not in env
    assert "PATH=/usr/local/bin:/usr/bin:/bin" in env


async def test_init_holds_no_credential(sandbox: DockerSandbox) -> None:
    _, init_env, _ = await sh(sandbox, "tr '\\0' '\\n' < /proc/1/environ")
    assert "GRANTED_TOKEN" not in init_env


async def test_not_root(sandbox: DockerSandbox) -> None:
    _, out, _ = await sh(sandbox, "id -u; id -g; id -G")
    assert out.split() == [str(SANDBOX_UID)] * 3


async def test_root_filesystem_read_only_workspace_writable(sandbox: DockerSandbox) -> None:
    for path in ("/x", "/etc/x", "/bin/x", "/workspace/../x"):
        code, _, err = await sh(sandbox, f"touch {path}")
        assert code != 0, path
        assert "Read-only file system" in err or "Permission denied" in err
    code, _, _ = await sh(sandbox, "echo hi > /workspace/ok && cat /workspace/ok")
    assert code == 0


async def test_no_docker_socket(sandbox: DockerSandbox) -> None:
    _code, out, _ = await sh(sandbox, "ls -la /var/run/docker.sock /run/docker.sock 2>&1; find / -type s 2>/dev/null")
    assert "No such file" in out
    assert ".sock" not in out.replace("docker.sock: No such file", "")


async def test_capabilities_empty_no_new_privileges_seccomp(sandbox: DockerSandbox) -> None:
    _, status, _ = await sh(sandbox, "cat /proc/self/status")
    fields = dict(re.findall(r"^(\w+):\s+(\S+)", status, re.M))
    for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(fields[cap], 16) == 0, cap
    assert fields["NoNewPrivs"] == "1"
    assert fields["Seccomp"] == "2"  # the engine's default profile, in filter mode


async def test_fork_bomb_stopped_by_pids_limit(
    docker_backend: DockerBackend, docker_client: docker.DockerClient
) -> None:
    sb = await docker_backend.start(SandboxSpec(pids=48))
    seen: list[int] = []

    async def filled() -> bool:
        seen.append(len((await asyncio.to_thread(docker_client.api.top, sb.id))["Processes"]))
        return seen[-1] >= 40

    try:
        # awk's system() survives a failed fork (a shell would exit), so this bomb never stops by itself.
        bomb = asyncio.create_task(sb.exec(["awk", 'BEGIN { while (1) system("sleep 60 &") }'], timeout_s=4))
        await eventually(filled, timeout_s=3.5, every_s=0.1)  # it reaches the limit...
        result = await bomb
        after = await sb.exec(["sh", "-c", "echo alive; ps -o args"])
    finally:
        await sb.close()
    assert max(seen) <= 48, seen  # ...and never passes it
    assert result.timed_out and result.exit_code == 137
    lines = after.stdout.decode().splitlines()
    assert lines[0] == "alive"
    assert not [p for p in lines if "sleep 60" in p or "awk" in p]  # the bomb's processes are gone


async def test_memory_bomb_killed_runner_unharmed(docker_backend: DockerBackend) -> None:
    sb = await docker_backend.start(SandboxSpec(memory_mb=64))
    try:
        # A 200 MB shell variable: well past the 64 MiB limit (swap included).
        bomb = await sb.exec(["sh", "-c", "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived"], timeout_s=30)
        after = await sb.exec(["echo", "alive"])
    finally:
        await sb.close()
    assert bomb.exit_code == 137 and not bomb.timed_out
    assert b"survived" not in bomb.stdout
    assert after.stdout == b"alive\n"


async def test_disk_fill_stopped_by_workspace_size(docker_backend: DockerBackend) -> None:
    sb = await docker_backend.start(SandboxSpec(workspace_mb=8))
    try:
        fill = await sb.exec(["dd", "if=/dev/zero", "of=/workspace/big", "bs=1M", "count=64"])
        size = await sb.exec(["stat", "-c", "%s", "/workspace/big"])
    finally:
        await sb.close()
    assert fill.exit_code != 0
    assert b"No space left on device" in fill.stderr
    assert int(size.stdout) <= 8 * 1024 * 1024


async def test_wall_clock_limit_kills_the_whole_tree(sandbox: DockerSandbox) -> None:
    started = time.monotonic()
    result = await sandbox.exec(["sh", "-c", "sleep 300 & setsid sleep 301 & (sleep 302 &); sleep 303"], timeout_s=1)
    elapsed = time.monotonic() - started
    assert result.timed_out and result.exit_code == 137
    assert elapsed < 5
    _, ps, _ = await sh(sandbox, "ps -o args")
    assert not re.search(r"sleep 30[0-3]", ps), ps
    assert (await sandbox.exec(["true"])).ok  # the sandbox lives on


async def test_argv_is_not_shell_interpreted(sandbox: DockerSandbox) -> None:
    result = await sandbox.exec(["echo", "$(id)", ";", "`whoami`", "&&", "x"])
    assert result.stdout == b"$(id) ; `whoami` && x\n"


async def test_exit_code_stdin_and_output_limit(docker_backend: DockerBackend) -> None:
    sb = await docker_backend.start(SandboxSpec(max_output_bytes=1000))
    chunks: list[tuple[str, int]] = []
    try:
        code = await sb.exec(["sh", "-c", "echo out; echo err >&2; exit 7"])
        piped = await sb.exec(["wc", "-c"], stdin=b"x" * 5000)
        big = await sb.exec(["head", "-c", "3000000", "/dev/zero"], on_output=lambda s, c: chunks.append((s, len(c))))
    finally:
        await sb.close()
    assert (code.exit_code, code.stdout, code.stderr) == (7, b"out\n", b"err\n")
    assert piped.stdout.strip() == b"5000"
    assert len(big.stdout) == 1000 and big.truncated and big.exit_code == 0
    assert sum(n for _, n in chunks) == 3_000_000 and {s for s, _ in chunks} == {"stdout"}


async def test_archives_in_and_out(sandbox: DockerSandbox) -> None:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        body = b"hello from the runner\n"
        info = tarfile.TarInfo("dir/a.txt")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    await sandbox.put_archive("/workspace", data.getvalue())
    assert (await sandbox.exec(["cat", "dir/a.txt"])).stdout == b"hello from the runner\n"
    _, owner, _ = await sh(sandbox, "stat -c %u dir/a.txt")
    assert owner.strip() == str(SANDBOX_UID)
    with tarfile.open(fileobj=io.BytesIO(await sandbox.get_archive("/workspace/dir"))) as out:
        assert sorted(out.getnames()) == ["dir", "dir/a.txt"]
        member = out.extractfile("dir/a.txt")
        assert member is not None and member.read() == b"hello from the runner\n"
    with pytest.raises(SandboxFailed, match="missing"):
        await sandbox.get_archive("/workspace/missing")


async def test_closed_sandbox_is_removed(docker_backend: DockerBackend, docker_client: docker.DockerClient) -> None:
    sb = await docker_backend.start(SandboxSpec())
    await sb.close()
    await sb.close()  # idempotent
    with pytest.raises(docker.errors.NotFound):
        docker_client.containers.get(sb.id)
    with pytest.raises(SandboxFailed, match="closed"):
        await sb.exec(["true"])


async def test_missing_image_is_unavailable_and_names_it(docker_backend: DockerBackend) -> None:
    # Missing, so pulled: no registry answers here, and the error says both.
    with pytest.raises(SandboxUnavailable, match=r"'no-such-image:1' is not on the engine .* could not be pulled"):
        await docker_backend.start(SandboxSpec(image="no-such-image:1"))


async def test_no_engine_is_unavailable(tmp_path: os.PathLike[str]) -> None:
    backend = DockerBackend(base_url=f"unix://{tmp_path}/absent.sock")
    assert not backend.available()
    with pytest.raises(SandboxUnavailable):
        await backend.start(SandboxSpec())
    await backend.aclose()


async def test_a_command_that_kills_everything_stops_its_sandbox_with_a_clear_error(
    sandbox: DockerSandbox, docker_client: docker.DockerClient
) -> None:
    # The init runs as the sandbox user, so `kill -9 -1` reaches it: the container stops (a moment later).
    await sandbox.exec(["sh", "-c", "kill -9 -1"])
    await eventually(lambda: not docker_client.api.inspect_container(sandbox.id)["State"]["Running"], timeout_s=10)
    with pytest.raises(SandboxFailed, match="has stopped: a command killed every process in it"):
        await sandbox.exec(["true"])


async def test_commands_in_one_sandbox_run_one_at_a_time(sandbox: DockerSandbox) -> None:
    script = "echo start >> /workspace/log; sleep 0.3; echo end >> /workspace/log"
    await asyncio.gather(*(sandbox.exec(["sh", "-c", script]) for _ in range(3)))
    log = (await sandbox.exec(["cat", "/workspace/log"])).stdout.decode().split()
    assert log == ["start", "end"] * 3


async def test_the_containers_of_a_dead_runner_are_reaped_by_the_next(
    docker_url: str, docker_client: docker.DockerClient
) -> None:
    """A runner SIGKILLed leaves its containers; the next backend on the host removes them
    before its first start, and only them: a live process's containers stay."""
    owner = f"test-reap-{os.getpid()}"
    live = DockerBackend(base_url=docker_url, owner=owner, process=process_tag(os.getppid()))
    dead = DockerBackend(base_url=docker_url, owner=owner, process="4194305:1")  # above any pid_max
    fresh = DockerBackend(base_url=docker_url, owner=owner)
    try:
        kept = await live.start(SandboxSpec())
        orphan = await dead.start(SandboxSpec())
        assert {c.id for c in docker_client.containers.list(filters={"label": f"{LABEL}={owner}"})} == {
            kept.id,
            orphan.id,
        }
        mine = await fresh.start(SandboxSpec())
        left = {c.id for c in docker_client.containers.list(all=True, filters={"label": f"{LABEL}={owner}"})}
        assert left == {kept.id, mine.id}, "the dead process's container is gone, the live ones stay"
        assert (await mine.exec(["true"])).ok
    finally:
        for backend in (live, dead, fresh):
            backend.prune()
            await backend.aclose()


def test_a_process_tag_names_one_process() -> None:
    here = process_tag()
    assert here.startswith(f"{os.getpid()}:") and alive(here)
    assert not alive(f"{os.getpid()}:0"), "the same pid with another start time is another process"
    assert process_tag(4194305) == "" and not alive("4194305:1") and not alive("garbage")
