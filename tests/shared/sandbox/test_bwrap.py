"""The bubblewrap backend with the real bwrap: the security battery, archives, output, lifecycle.

Run as root (CI), commands run as ``SANDBOX_UID``; otherwise as the test's own user.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import os
import shutil
import statistics
import tarfile
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from shared.sandbox._bwrap import BwrapBackend, BwrapSandbox
from shared.sandbox._types import SANDBOX_UID, WORKSPACE, SandboxFailed, SandboxSpec, SandboxUnavailable
from tests.shared.sandbox.conftest import interfaces, sh
from tests.support import eventually

AS_ROOT = os.geteuid() == 0


@pytest.fixture
def root(bwrap_path: str) -> Iterator[Path]:
    """A directory for this test's workspaces, searchable by the sandbox user; it must end empty."""
    path = Path(tempfile.mkdtemp(prefix="bwrap-test-"))
    path.chmod(0o711)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def backend(bwrap_path: str, root: Path) -> AsyncIterator[BwrapBackend]:
    backend = BwrapBackend(bwrap=bwrap_path, root=root)
    yield backend
    await backend.aclose()


@pytest.fixture
async def sandbox(backend: BwrapBackend) -> AsyncIterator[BwrapSandbox]:
    sb = await backend.start(SandboxSpec(env={"GRANTED_TOKEN": "granted-value"}, timeout_s=10))
    yield sb
    await sb.close()


def host_cmdlines() -> list[bytes]:
    """The command line of every process on the host (those that vanish meanwhile are skipped)."""
    lines = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            with contextlib.suppress(OSError):  # it ended meanwhile
                lines.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" "))
    return lines


def unique_sleep(seconds: int) -> str:
    """A ``sleep`` duration no other test (or parallel run) uses, to find its processes on the host."""
    return f"{seconds}.{uuid.uuid4().int % 10**6:06d}"


def running_on_host(nap: str) -> int:
    """How many processes on the host run ``sleep nap``."""
    return sum(c.split() == [b"sleep", nap.encode()] for c in host_cmdlines())


def tar_of(files: dict[str, bytes], *, symlinks: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (symlinks or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return buf.getvalue()


def untar(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        out = {}
        for member in tar.getmembers():
            f = tar.extractfile(member)
            out[member.name] = f.read() if f is not None else b""
        return out


# --- isolation -------------------------------------------------------------------------------


async def test_no_network_interface_but_loopback(sandbox: BwrapSandbox) -> None:
    code, out, _ = await sh(sandbox, "cat /proc/net/dev")
    assert code == 0
    assert interfaces(out) == {"lo"}


async def test_a_network_grant_shares_the_hosts_interfaces(backend: BwrapBackend) -> None:
    sb = await backend.start(SandboxSpec(network=True))
    try:
        _, out, _ = await sh(sb, "cat /proc/net/dev")
        _, resolv, _ = await sh(sb, "test -r /etc/resolv.conf && echo readable")
    finally:
        await sb.close()
    host = interfaces(Path("/proc/net/dev").read_text())
    assert interfaces(out) == host
    assert len(host) > 1
    assert resolv.strip() == ("readable" if os.path.exists("/etc/resolv.conf") else "")


async def test_runner_secrets_are_absent_granted_ones_present(
    backend: BwrapBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = f"runner-secret-{uuid.uuid4().hex}"
    monkeypatch.setenv("ANTHROPIC_API_KEY", secret)
    monkeypatch.setenv("HUB_API_KEY", secret)
    sb = await backend.start(SandboxSpec(env={"GITHUB_TOKEN": "granted-value"}))
    try:
        _, env, _ = await sh(sb, "env")
        # The sandbox's init (bwrap), this command, and every process it can see.
        _, environs, _ = await sh(sb, "cat /proc/1/environ /proc/self/environ /proc/[0-9]*/environ | tr '\\0' '\\n'")
        _, init_env, _ = await sh(sb, "tr '\\0' '\\n' < /proc/1/environ")
        _, extra, _ = await sh(sb, "env", env={"PER_CALL": "yes"})
    finally:
        await sb.close()
    assert secret not in env and secret not in environs
    assert "ANTHROPIC_API_KEY" not in environs and "HUB_API_KEY" not in environs
    assert "GITHUB_TOKEN=granted-value" in env
    assert "GITHUB_TOKEN" not in init_env
    assert "PER_CALL=yes" in extra and "PER_CALL" not in env
    assert "PATH=/usr/local/bin:/usr/bin:/bin" in env
    assert "HOME=/workspace" in env


async def test_granted_values_are_on_no_host_command_line(backend: BwrapBackend) -> None:
    granted = f"granted-{uuid.uuid4().hex}"
    sb = await backend.start(SandboxSpec(env={"GITHUB_TOKEN": granted}))
    try:
        nap = unique_sleep(2)
        running = asyncio.create_task(sb.exec(["sleep", nap], env={"PER_CALL": granted + "-call"}))
        await eventually(lambda: running_on_host(nap), timeout_s=2)
        lines = host_cmdlines()
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
    finally:
        await sb.close()
    assert any(b"bwrap" in c for c in lines)
    assert not [c for c in lines if granted.encode() in c]


async def test_commands_do_not_run_as_root(sandbox: BwrapSandbox) -> None:
    _, out, _ = await sh(sandbox, "id -u; id -g; id -G")
    uid, gid, groups = out.split("\n")[:3]
    expected = SANDBOX_UID if AS_ROOT else os.getuid()
    assert int(uid) == expected != 0
    assert int(gid) != 0 and groups.split() == [gid]


async def test_root_filesystem_read_only_workspace_writable(sandbox: BwrapSandbox) -> None:
    for target in ("touch /usr/x", "touch /etc/x", "mkdir /x", "touch /bin/x", "rm /etc/passwd"):
        code, _, err = await sh(sandbox, target)
        assert code != 0, target
        if target in ("touch /etc/x", "mkdir /x"):  # the sandbox user owns / and /etc: only read-only stops it
            assert "Read-only file system" in err
    code, out, _ = await sh(sandbox, "touch /workspace/ok /tmp/ok && ls /workspace && ls /tmp")
    assert code == 0 and out.split() == ["ok", "ok"]


async def test_host_filesystem_and_docker_socket_are_absent(sandbox: BwrapSandbox) -> None:
    paths = ["/var/run/docker.sock", "/run/docker.sock", "/var", "/run", "/home", "/root"]
    paths += ["/etc/shadow", "/etc/hostname", "/etc/ssh", "/etc/ssl/private"]
    docker_host = os.environ.get("DOCKER_HOST", "")
    if docker_host.startswith("unix://"):
        paths.append(docker_host.removeprefix("unix://"))
    for path in paths:
        result = await sandbox.exec(["sh", "-c", 'test -e "$1" || test -L "$1"', "sh", path])
        assert result.exit_code == 1, f"{path} is visible in the sandbox"
    _, etc, _ = await sh(sandbox, "ls -A /etc")
    assert set(etc.split()) <= {"passwd", "group", "ld.so.cache", "alternatives"}
    _, hostname, _ = await sh(sandbox, "cat /proc/sys/kernel/hostname")
    assert hostname.strip() == "sandbox"


async def test_capabilities_empty_no_new_privileges_no_user_namespaces(sandbox: BwrapSandbox) -> None:
    _, status, _ = await sh(sandbox, "cat /proc/self/status")
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    for cap in ("CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb"):
        assert int(fields[cap].strip(), 16) == 0, cap
    assert fields["NoNewPrivs"].strip() == "1"
    if shutil.which("unshare", path="/usr/bin:/bin"):
        code, _, _ = await sh(sandbox, "unshare -U true")
        assert code != 0, "a nested user namespace could be made"


# --- limits ----------------------------------------------------------------------------------


async def test_fork_bomb_stopped_by_the_process_limit(backend: BwrapBackend) -> None:
    sb = await backend.start(SandboxSpec(pids=32, timeout_s=5))
    try:
        script = "n=0; while [ $n -lt 200 ]; do sleep 30 & n=$((n+1)); done; echo started=$n"
        result = await sb.exec(["sh", "-c", script])
        after = await sb.exec(["echo", "alive"])
    finally:
        await sb.close()
    assert not result.ok
    assert b"started=200" not in result.stdout
    assert b"fork" in result.stderr.lower() or b"resource temporarily unavailable" in result.stderr.lower()
    assert result.duration_s < 3
    assert after.ok and after.stdout == b"alive\n"


async def test_the_process_limit_counts_one_sandbox_only(backend: BwrapBackend) -> None:
    """``RLIMIT_NPROC`` is set inside each sandbox's user namespace: another's processes do not count."""
    busy = await backend.start(SandboxSpec(pids=64, timeout_s=5))
    other = await backend.start(SandboxSpec(pids=32, timeout_s=5))
    try:
        nap = unique_sleep(3)
        holding = asyncio.create_task(busy.exec(["sh", "-c", f"for i in $(seq 40); do sleep {nap} & done; wait"]))
        await eventually(lambda: running_on_host(nap) >= 40, timeout_s=3)
        code, out, err = await sh(other, "for i in $(seq 20); do sleep 0.1 & done; wait; echo ok")
        holding.cancel()
        with pytest.raises(asyncio.CancelledError):
            await holding
    finally:
        await busy.close()
        await other.close()
    assert (code, out) == (0, "ok\n"), err


async def test_memory_bomb_fails_and_the_runner_is_unharmed(backend: BwrapBackend) -> None:
    sb = await backend.start(SandboxSpec(memory_mb=64, timeout_s=10))
    try:
        shell = await sb.exec(["sh", "-c", "head -c 300m /dev/zero | tail >/dev/null"])
        python = await sb.exec(["python3", "-c", "b = bytearray(256 * 1024 * 1024)"])
        after = await sb.exec(["echo", "alive"])
    finally:
        await sb.close()
    assert not shell.ok
    if os.path.exists("/usr/bin/python3"):
        assert not python.ok and b"MemoryError" in python.stderr
    assert after.ok and after.stdout == b"alive\n"


async def test_disk_fill_stopped_by_the_file_size_limit(backend: BwrapBackend) -> None:
    sb = await backend.start(SandboxSpec(workspace_mb=8, timeout_s=10))
    try:
        result = await sb.exec(["dd", "if=/dev/zero", "of=/workspace/big", "bs=1M", "count=64"])
        size = os.path.getsize(os.path.join(sb.id, "big"))
        code, _, _ = await sh(sb, "dd if=/dev/zero of=/tmp/a bs=1M count=6 && dd if=/dev/zero of=/tmp/b bs=1M count=6")
    finally:
        await sb.close()
    assert not result.ok
    assert size <= 8 * 1024 * 1024
    assert code != 0, "/tmp is larger than workspace_mb"


async def test_wall_clock_limit_kills_the_whole_tree(sandbox: BwrapSandbox) -> None:
    started = time.monotonic()
    naps = [unique_sleep(300 + i) for i in range(3)]
    script = "sleep {} & setsid sleep {} & sleep {}".format(*naps)
    running = asyncio.create_task(sandbox.exec(["sh", "-c", script], timeout_s=1.5))
    await eventually(lambda: all(running_on_host(nap) for nap in naps), timeout_s=1)
    result = await running
    elapsed = time.monotonic() - started
    assert result.timed_out and not result.ok
    assert result.exit_code == 137
    assert 1 <= elapsed < 4
    assert not any(running_on_host(nap) for nap in naps)
    after = await sandbox.exec(["echo", "alive"])
    assert after.ok


async def test_cpu_time_is_limited(backend: BwrapBackend) -> None:
    sb = await backend.start(SandboxSpec(cpus=0.5, timeout_s=2))
    try:
        code, _, _ = await sh(sb, "ulimit -t")
        _, as_kb, _ = await sh(sb, "ulimit -v")
        _, core, _ = await sh(sb, "ulimit -c")
    finally:
        await sb.close()
    assert code == 0
    assert int(as_kb) == 512 * 1024
    assert int(core) == 0


async def test_limits_hold_without_prlimit(backend: BwrapBackend) -> None:
    """Where no ``prlimit`` is found the limits are set on bwrap itself."""
    host = await backend._probe()
    backend._host = dataclasses.replace(host, prlimit=None)
    sb = await backend.start(SandboxSpec(memory_mb=64, workspace_mb=8, timeout_s=10))
    try:
        _, limits, _ = await sh(sb, "ulimit -v; ulimit -f; ulimit -c")
        fill = await sb.exec(["dd", "if=/dev/zero", "of=/workspace/big", "bs=1M", "count=64"])
        after = await sb.exec(["echo", "alive"])
    finally:
        await sb.close()
    assert limits.split() == [str(64 * 1024), str(8 * 1024 * 2), "0"]
    assert not fill.ok
    assert after.ok


def test_on_uvloop_as_the_runner_runs(bwrap_path: str, root: Path) -> None:
    """The runner's loop is uvloop, whose ``subprocess_exec`` takes no ``user=``: commands
    and spawned servers still start, as the sandbox user, with the limits (prlimit or not)."""
    import uvloop

    async def body() -> tuple[str, bytes, str]:
        backend = BwrapBackend(bwrap=bwrap_path, root=root)
        sb = await backend.start(SandboxSpec(memory_mb=64, timeout_s=10))
        try:
            _, ids, _ = await sh(sb, "id -u; id -G")
            proc = await sb.spawn(["sh", "-c", "id -u; ulimit -v"], lifetime_s=10)
            spawned, _ = await proc.communicate()
            backend._host = dataclasses.replace(await backend._probe(), prlimit=None)
            _, fallback, _ = await sh(sb, "id -u; ulimit -v")
        finally:
            await sb.close()
            await backend.aclose()
        return ids, spawned, fallback

    ids, spawned, fallback = uvloop.run(body())
    expected = str(SANDBOX_UID if AS_ROOT else os.getuid())
    assert ids.split("\n")[0] == expected and ids.split("\n")[1].split() != ["0"]
    assert spawned.decode().split() == [expected, str(64 * 1024)]
    assert fallback.split() == [expected, str(64 * 1024)]


# --- commands --------------------------------------------------------------------------------


async def test_argv_is_not_shell_interpreted(sandbox: BwrapSandbox) -> None:
    result = await sandbox.exec(["echo", "$(id)", ";", "`id`", "&&", "*"])
    assert result.stdout == b"$(id) ; `id` && *\n"


async def test_exit_codes_stdin_and_missing_commands(sandbox: BwrapSandbox) -> None:
    assert (await sandbox.exec(["sh", "-c", "exit 7"])).exit_code == 7
    assert (await sandbox.exec(["sh", "-c", "kill -TERM $$"])).exit_code == 128 + 15
    assert (await sandbox.exec(["no-such-command"])).exit_code == 127
    result = await sandbox.exec(["cat"], stdin=b"fed through stdin")
    assert result.ok and result.stdout == b"fed through stdin"
    assert (await sandbox.exec(["cat"])).stdout == b""  # no stdin: /dev/null, not a hang
    await sandbox.exec(["mkdir", "sub"])
    code, out, _ = await sh(sandbox, "pwd", cwd="sub")
    assert (code, out) == (0, "/workspace/sub\n")


async def test_output_is_capped_and_streamed(backend: BwrapBackend) -> None:
    sb = await backend.start(SandboxSpec(max_output_bytes=1000, timeout_s=10))
    chunks: list[tuple[str, bytes]] = []
    try:
        result = await sb.exec(
            ["sh", "-c", "head -c 5000000 /dev/zero; echo oops >&2"], on_output=lambda s, c: chunks.append((s, c))
        )
    finally:
        await sb.close()
    assert result.ok
    assert result.stdout == b"\0" * 1000 and result.truncated
    assert result.stderr == b"oops\n"
    assert chunks and {s for s, _ in chunks} == {"stdout", "stderr"}
    assert b"".join(c for s, c in chunks if s == "stdout")[:1000] == result.stdout


async def test_bind_replaces_the_per_command_parts(sandbox: BwrapSandbox) -> None:
    sandbox.bind(SandboxSpec(env={"AGENT_TOKEN": "bound"}))
    _, env, _ = await sh(sandbox, "env")
    assert "AGENT_TOKEN=bound" in env and "GRANTED_TOKEN" not in env
    sandbox.bind(SandboxSpec(timeout_s=0.5, max_output_bytes=3))
    assert (await sandbox.exec(["echo", "12345"])).stdout == b"123"
    assert (await sandbox.exec(["sleep", "5"])).timed_out
    with pytest.raises(SandboxFailed, match="shape"):
        sandbox.bind(SandboxSpec(network=True))


async def test_commands_in_one_sandbox_run_one_at_a_time(sandbox: BwrapSandbox) -> None:
    script = "echo $(date +%s%N) >> /workspace/log; sleep 0.3; echo $(date +%s%N) >> /workspace/log"
    await asyncio.gather(*(sandbox.exec(["sh", "-c", script]) for _ in range(2)))
    stamps = [int(x) for x in Path(sandbox.id, "log").read_text().split()]
    assert stamps == sorted(stamps) and len(stamps) == 4


async def test_bad_requests_are_refused(sandbox: BwrapSandbox) -> None:
    with pytest.raises(SandboxFailed):
        await sandbox.exec([])
    with pytest.raises(SandboxFailed):
        await sandbox.exec(["echo", "a\0b"])
    with pytest.raises(SandboxFailed):
        await sandbox.exec(["true"], env={"A=B": "x"})
    with pytest.raises(SandboxFailed):
        await sandbox.exec(["true"], timeout_s=0)


# --- archives --------------------------------------------------------------------------------


async def test_archives_in_and_out(sandbox: BwrapSandbox) -> None:
    await sandbox.put_archive(WORKSPACE, tar_of({"dir/hello.txt": b"hello\n", "top.txt": b"top"}))
    code, out, _ = await sh(sandbox, "cat /workspace/dir/hello.txt; echo more >> dir/hello.txt")
    assert (code, out) == (0, "hello\n")
    assert untar(await sandbox.get_archive("dir/hello.txt")) == {"hello.txt": b"hello\nmore\n"}
    files = untar(await sandbox.get_archive("/workspace/dir"))
    assert files["dir/hello.txt"] == b"hello\nmore\n"
    assert "workspace/top.txt" in untar(await sandbox.get_archive(WORKSPACE))
    await sandbox.put_archive("dir", tar_of({"nested.txt": b"n"}))
    assert (await sandbox.exec(["cat", "dir/nested.txt"])).stdout == b"n"
    if AS_ROOT:
        for path in ("dir", "dir/hello.txt", "dir/nested.txt", "top.txt"):
            assert os.lstat(os.path.join(sandbox.id, path)).st_uid == SANDBOX_UID, path
    with pytest.raises(SandboxFailed, match="does not exist"):
        await sandbox.get_archive("missing")
    with pytest.raises(SandboxFailed, match="not a directory"):
        await sandbox.put_archive("top.txt", tar_of({"x": b"x"}))


async def test_archive_paths_cannot_leave_the_workspace(sandbox: BwrapSandbox, root: Path) -> None:
    await sh(sandbox, "ln -s /etc /workspace/out; ln -s .. /workspace/up; ln -s / /workspace/slash; mkdir d")
    data = tar_of({"x": b"x"})
    for path in ("..", "../x", "/etc", "/etc/passwd", "/workspace/../etc", "/tmp", "out", "out/passwd", "up", "slash"):
        with pytest.raises(SandboxFailed, match="outside"):
            await sandbox.get_archive(path)
        with pytest.raises(SandboxFailed, match="outside"):
            await sandbox.put_archive(path, data)
    for evil in (
        tar_of({"../evil": b"x"}),
        tar_of({"d/../../evil": b"x"}),
        tar_of({"out/evil": b"x"}),
        tar_of({}, symlinks={"link": "/etc/passwd"}),
        tar_of({}, symlinks={"link": "../../evil"}),
    ):
        with pytest.raises(SandboxFailed, match="refused"):
            await sandbox.put_archive(WORKSPACE, evil)
    leftovers = {p.name for p in Path(sandbox.id).parent.iterdir()}
    assert leftovers == {"workspace", "passwd", "group"}
    assert not os.path.exists("/etc/evil")
    with pytest.raises(SandboxFailed):
        await sandbox.put_archive(WORKSPACE, b"not a tar archive")


# --- lifecycle -------------------------------------------------------------------------------


async def test_close_deletes_the_workspace_and_is_idempotent(backend: BwrapBackend, root: Path) -> None:
    sb = await backend.start(SandboxSpec())
    workspace = Path(sb.id)
    assert workspace.is_dir() and workspace.parent.parent == root
    assert workspace.stat().st_mode & 0o777 == 0o700
    if AS_ROOT:
        assert workspace.stat().st_uid == SANDBOX_UID
    await sh(sb, "mkdir -p a/b && touch a/b/f && chmod 0 a/b a")  # even what the sandbox locked
    await sb.close()
    assert not workspace.exists()
    assert list(root.iterdir()) == []
    await sb.close()
    with pytest.raises(SandboxFailed, match="closed"):
        await sb.exec(["true"])
    with pytest.raises(SandboxFailed, match="closed"):
        await sb.get_archive(".")


async def test_close_kills_the_running_command(backend: BwrapBackend) -> None:
    sb = await backend.start(SandboxSpec(timeout_s=30))
    naps = [unique_sleep(303), unique_sleep(304)]
    running = asyncio.create_task(sb.exec(["sh", "-c", "sleep {} & sleep {}".format(*naps)]))
    await eventually(lambda: running_on_host(naps[1]), timeout_s=2)
    started = time.monotonic()
    await sb.close()
    result = await running
    assert time.monotonic() - started < 3
    assert not result.ok and result.exit_code == 137
    assert not any(running_on_host(nap) for nap in naps)
    assert not Path(sb.id).exists()


async def test_missing_bwrap_is_unavailable_and_says_so(root: Path) -> None:
    backend = BwrapBackend(bwrap="/nonexistent/bwrap", root=root)
    assert not backend.available()
    with pytest.raises(SandboxUnavailable, match="/nonexistent/bwrap"):
        await backend.start(SandboxSpec())
    assert list(root.iterdir()) == []


async def test_exec_latency(sandbox: BwrapSandbox) -> None:
    times = []
    for _ in range(30):
        result = await sandbox.exec(["true"])
        assert result.ok
        times.append(result.duration_s)
    p50 = statistics.median(times)
    print(f"bwrap exec latency of `true`: p50 {p50 * 1000:.1f} ms, max {max(times) * 1000:.1f} ms")
    assert p50 < 0.5
