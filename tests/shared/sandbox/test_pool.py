"""The warm pool over the real Docker engine, its metrics, and the grants that shape a sandbox."""

from __future__ import annotations

import docker
import pytest
from prometheus_client import CollectorRegistry

from shared.agents import parse_config
from shared.sandbox._docker import LABEL, DockerBackend
from shared.sandbox._grants import has_network_grant, spec_for
from shared.sandbox._metrics import SandboxMetrics
from shared.sandbox._pool import WarmPool
from shared.sandbox._types import SandboxSpec
from tests.support import eventually


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def containers(client: docker.DockerClient, backend: DockerBackend) -> set[str]:
    found = client.api.containers(all=True, filters={"label": f"{LABEL}={backend._owner}"})
    return {c["Id"] for c in found}


async def test_warm_acquire_binds_env_and_refills(docker_backend: DockerBackend, registry: CollectorRegistry) -> None:
    pool = WarmPool(docker_backend, size=2, metrics=SandboxMetrics(registry))
    await pool.warm(SandboxSpec())
    assert pool.ready(SandboxSpec()) == 2
    # Another agent's command limit and output size are no part of the shape: still served warm.
    sb = await pool.acquire(SandboxSpec(env={"GITHUB_TOKEN": "for-this-agent"}, timeout_s=0.5, max_output_bytes=2000))
    try:
        env = (await sb.exec(["env"])).stdout.decode()
        assert "GITHUB_TOKEN=for-this-agent" in env
        assert sample(registry, "botburrow_sandbox_acquire_seconds_count", backend="docker", source="warm") == 1
        assert sample(registry, "botburrow_sandbox_exec_seconds_count", backend="docker", outcome="ok") == 1
        assert (await sb.exec(["sleep", "5"])).timed_out  # the agent's limit, bound at acquire
        assert len((await sb.exec(["head", "-c", "5000", "/dev/zero"])).stdout) == 2000
        await eventually(lambda: pool.ready(SandboxSpec()) == 2)
    finally:
        await pool.release(sb)
        await pool.aclose()


async def test_a_sandbox_is_never_handed_out_twice(
    docker_backend: DockerBackend, docker_client: docker.DockerClient
) -> None:
    pool = WarmPool(docker_backend, size=1)
    await pool.warm(SandboxSpec())
    seen: list[str] = []
    for _ in range(4):
        sb = await pool.acquire(SandboxSpec())
        seen.append(sb.id)
        await sb.exec(["touch", "/workspace/used"])
        await pool.release(sb)
        assert sb.id not in containers(docker_client, docker_backend)  # destroyed, not returned
    await pool.aclose()
    assert len(set(seen)) == 4
    assert containers(docker_client, docker_backend) == set()  # aclose removed the waiting one


async def test_shapes_are_pooled_apart_and_size_zero_is_cold(
    docker_backend: DockerBackend, registry: CollectorRegistry
) -> None:
    pool = WarmPool(docker_backend, size=1, metrics=SandboxMetrics(registry))
    await pool.warm(SandboxSpec())
    networked = await pool.acquire(SandboxSpec(network=True))
    await pool.release(networked)
    assert sample(registry, "botburrow_sandbox_acquire_seconds_count", backend="docker", source="cold") == 1
    assert pool.ready(SandboxSpec()) == 1  # the default shape's sandbox was not taken
    await pool.aclose()

    cold = WarmPool(docker_backend, size=0)
    sb = await cold.acquire(SandboxSpec())
    await cold.release(sb)
    assert cold.ready(SandboxSpec()) == 0
    await cold.aclose()


async def test_timeouts_are_counted_by_outcome(docker_backend: DockerBackend, registry: CollectorRegistry) -> None:
    pool = WarmPool(docker_backend, size=0, metrics=SandboxMetrics(registry))
    sb = await pool.acquire(SandboxSpec())
    try:
        await sb.exec(["sleep", "5"], timeout_s=0.3)
        await sb.exec(["false"])
    finally:
        await pool.release(sb)
        await pool.aclose()
    assert sample(registry, "botburrow_sandbox_exec_seconds_count", backend="docker", outcome="timeout") == 1
    assert sample(registry, "botburrow_sandbox_exec_seconds_count", backend="docker", outcome="failed") == 1
    assert sample(registry, "botburrow_sandbox_start_seconds_count", backend="docker") == 1


def _config(grants: list[str], timeout: int = 120) -> str:
    return (
        "name: coder-one\ntype: native\nbrain: {model: claude-sonnet-4-5}\n"
        f"capabilities:\n  grants: {grants}\n  shell: {{enabled: true, timeout_seconds: {timeout}}}\n"
    )


@pytest.mark.parametrize(
    ("grants", "network"),
    [
        ([], False),
        (["hub:read", "hub:write"], False),
        (["github:read"], True),
        (["brave:search", "hub:read"], True),
        (["network:outbound"], True),
        (["filesystem:write"], False),
    ],
)
def test_grants_shape_the_sandbox_network_and_never_bring_a_credential(grants: list[str], network: bool) -> None:
    spec = spec_for(
        parse_config(_config(grants, timeout=45), name="coder-one", file="config.yaml"), SandboxSpec(memory_mb=256)
    )
    assert spec.network is network
    assert dict(spec.env) == {}, "a grant's credential goes to its MCP server only"
    assert spec.timeout_s == 45 and spec.memory_mb == 256
    assert has_network_grant(grants) is network
