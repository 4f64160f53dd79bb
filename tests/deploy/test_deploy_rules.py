"""What the manifests promise about this system: setting names, timings, scaling, and the README's commands."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from functions.__main__ import ASGI_TARGETS, HTTP_TARGETS
from shared.settings import RunnerMode, Settings
from tests.support import ROOT

MANIFESTS = sorted([*(ROOT / "knative").glob("*.yaml"), *(ROOT / "keda").glob("*.yaml")])
API_KEY = re.compile(r"[A-Z][A-Z0-9_]*_API_KEY")
NOT_DEPLOYED = {
    "AGENTS_DIR": "agent definitions from a directory are for local runs; a cluster reads the bucket (R2_*)",
    "HUB_AGENT_KEYS_FILE": "per-agent Hub keys are a file an operator mounts when they have them",
    "EVENTS_TOKEN": "the runner's and metrics' HTTP targets are not deployed: the cluster feeds both from the streams",
}


def documents() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in MANIFESTS:
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict):
                yield path, doc


def one(kind: str, name: str | None = None, file: str | None = None) -> dict[str, Any]:
    found = [
        d
        for p, d in documents()
        if d.get("kind") == kind
        and (name is None or d["metadata"]["name"] == name)
        and (file is None or p.name == file)
    ]
    assert len(found) == 1, f"{kind} {name or ''} in {file or 'the manifests'}: {len(found)} found"
    return found[0]


def pod_specs() -> Iterator[tuple[str, dict[str, Any]]]:
    """Every pod template: Knative Services', the Deployment's, the ScaledJob's."""
    for _, d in documents():
        kind, spec = d.get("kind"), d.get("spec", {})
        if (kind == "Service" and d["apiVersion"].startswith("serving.knative.dev/")) or kind == "Deployment":
            yield d["metadata"]["name"], spec["template"]["spec"]
        elif kind == "ScaledJob":
            yield f"{d['metadata']['name']}-job", spec["jobTargetRef"]["template"]["spec"]


def settings_data() -> dict[str, str]:
    return dict(one("ConfigMap", "botburrow-settings")["data"])


def env_names(pod: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for container in pod.get("containers", []):
        names |= {e["name"] for e in container.get("env", [])}
        for source in container.get("envFrom", []):
            ref = source.get("configMapRef", {}).get("name")
            assert ref == "botburrow-settings", f"envFrom {source} is not the settings ConfigMap"
            names |= set(settings_data())
    return names


@pytest.fixture(autouse=True)
def _manifests_exist() -> None:
    assert MANIFESTS, "knative/ and keda/ hold no manifests"


def test_every_variable_in_the_manifests_is_one_the_settings_read() -> None:
    known = Settings.variables()
    for name, pod in pod_specs():
        unknown = {v for v in env_names(pod) if v not in known and not API_KEY.fullmatch(v)}
        assert not unknown, f"{name} sets variables no setting reads: {sorted(unknown)}"
    data = settings_data()
    assert all(isinstance(v, str) for v in data.values()), "ConfigMap values must be strings"


def test_every_setting_is_deployed_or_left_out_on_purpose() -> None:
    deployed = set().union(*(env_names(pod) for _, pod in pod_specs()))
    missing = Settings.variables() - deployed - set(NOT_DEPLOYED)
    assert not missing, f"settings no manifest sets: {sorted(missing)}"
    assert not set(NOT_DEPLOYED) & deployed, "a variable left out on purpose is deployed after all"


def test_the_configmap_holds_valid_settings() -> None:
    data = {k: v for k, v in settings_data().items() if k != "DOCKER_HOST" or v}
    settings = Settings.from_env({**data, "REDIS_URL": "redis://redis:6379/0"})  # raises on any bad value
    assert settings.runner.grace_period_s >= settings.runner.activation_timeout_s
    assert settings.sandbox.docker_host == "tcp://127.0.0.1:2375"


POOLS = {"runner-notification": RunnerMode.NOTIFICATION, "runner-exploration": RunnerMode.EXPLORATION}


def runner_env(deployment: dict[str, Any]) -> dict[str, str]:
    [runner] = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "runner"]
    return {e["name"]: e["value"] for e in runner.get("env", []) if "value" in e}


def test_the_runner_pod_outlives_its_drain() -> None:
    settings = Settings.from_env(settings_data())
    for name in POOLS:
        deployment = one("Deployment", name)["spec"]["template"]["spec"]
        grace = deployment["terminationGracePeriodSeconds"]
        assert grace >= settings.runner.grace_period_s + 30 > settings.runner.activation_timeout_s, name
    job = one("ScaledJob", "runner")["spec"]["jobTargetRef"]
    assert job["activeDeadlineSeconds"] > settings.runner.activation_timeout_s
    assert job["template"]["spec"]["restartPolicy"] == "Never"
    [runner] = [c for c in job["template"]["spec"]["containers"] if c["name"] == "runner"]
    assert runner["args"] == ["runner", "--once"]


def test_each_pool_sets_its_own_mode_and_the_pools_differ_in_nothing_else() -> None:
    """RUNNER_MODE is per pool, never in the shared ConfigMap (one value there would stop one kind of work)."""
    assert "RUNNER_MODE" not in settings_data()
    bodies = {}
    for name, mode in POOLS.items():
        deployment = one("Deployment", name)
        assert runner_env(deployment)["RUNNER_MODE"] == mode.value
        text = yaml.safe_dump(deployment).replace(name, "POOL").replace(f"value: {mode.value}", "value: MODE")
        bodies[name] = text.replace(f"# {mode.value}", "")
    assert len(set(bodies.values())) == 1, "the runner pools' Deployments drifted apart"


def test_each_pool_scales_on_exactly_the_streams_it_consumes_and_every_stream_has_a_pool() -> None:
    concurrency = settings_data()["RUNNER_CONCURRENCY"]
    consumed: set[str] = set()
    for name, mode in POOLS.items():
        scaled = one("ScaledObject", name)["spec"]
        assert scaled["scaleTargetRef"]["name"] == name
        triggers = scaled["triggers"]
        lag = {t["metadata"]["stream"] for t in triggers if "lagCount" in t["metadata"]}
        pending = {t["metadata"]["stream"] for t in triggers if "pendingEntriesCount" in t["metadata"]}
        streams = {f"botburrow:activations:{p}" for p in mode.priorities}
        assert lag == pending == streams, name
        consumed |= streams
        for t in triggers:
            assert t["metadata"]["consumerGroup"] == "runners"
            assert t["authenticationRef"]["name"] == "redis-auth"
        # pending alone never adds pods: one per RUNNER_CONCURRENCY activations in flight
        assert {t["metadata"]["pendingEntriesCount"] for t in triggers if "pendingEntriesCount" in t["metadata"]} == {
            concurrency
        }
    assert consumed == {f"botburrow:activations:{p}" for p in ("high", "normal", "low")}


def test_the_poller_is_one_warm_replica_taking_one_request_at_a_time() -> None:
    poller = one("Service", "poller")["spec"]["template"]
    annotations = poller["metadata"]["annotations"]
    assert annotations["autoscaling.knative.dev/max-scale"] == "1"
    assert annotations["autoscaling.knative.dev/min-scale"] == "1"
    assert poller["spec"]["containerConcurrency"] == 1
    ping = one("PingSource", "poller-tick")["spec"]
    assert ping["schedule"] == "* * * * *"
    window = yaml.safe_load(ping["data"])["window_s"]
    assert 30 <= window < 60 and window < poller["spec"]["timeoutSeconds"]
    assert ping["sink"]["ref"]["name"] == "poller"


def test_the_webhook_goes_to_ingest_which_takes_many_at_once_and_is_authenticated() -> None:
    ingest = one("Service", "ingest")
    template = ingest["spec"]["template"]
    assert template["spec"]["containerConcurrency"] >= 10, "a tick's minute never holds a webhook"
    _, _, threads = HTTP_TARGETS["ingest"]
    if "ingest" not in ASGI_TARGETS:  # under uvicorn, one loop takes as many as Knative lets in
        assert threads >= template["spec"]["containerConcurrency"], "gunicorn serves as many at once as Knative lets in"
    [container] = template["spec"]["containers"]
    assert container["args"] == ["ingest"]
    env = {e["name"]: e for e in container["env"]}
    assert env["HUB_WEBHOOK_SECRET"]["valueFrom"]["secretKeyRef"]["name"] == "botburrow-secrets"
    assert env["INGEST_TOKEN"]["valueFrom"]["secretKeyRef"]["optional"] is True
    assert "networking.knative.dev/visibility" not in ingest["metadata"]["labels"], "the Hub reaches it"
    trigger = one("Trigger", "hub-notifications")
    assert trigger["spec"]["subscriber"]["ref"]["name"] == "ingest"
    for name in ("poller", "metrics"):
        labels = one("Service", name)["metadata"]["labels"]
        assert labels["networking.knative.dev/visibility"] == "cluster-local", name


def test_every_function_is_probed_on_healthz_and_readyz() -> None:
    for name, pod in pod_specs():
        for container in pod["containers"]:
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
            assert container["securityContext"]["runAsNonRoot"] is True, name
            assert "limits" in container["resources"], name


README_COMMAND = re.compile(r"^(?:kubectl|kn) .*$", re.M)


def test_the_readme_deploy_commands_name_files_that_exist() -> None:
    readme = (ROOT / "README.md").read_text()
    deploy = readme[readme.index("## Deploy") :]
    deploy = deploy[: deploy.index("\n## ", 4)]
    commands = README_COMMAND.findall(deploy)
    assert any(c.startswith("kubectl apply -k .") for c in commands)
    services = {d["metadata"]["name"] for _, d in documents() if d.get("kind") == "Service"}
    kn = [c for c in commands if c.startswith("kn service")]
    assert {re.search(r"kn service (?:create|apply) (\S+)", c).group(1) for c in kn} == services  # type: ignore[union-attr]
    for command in commands:
        for file in re.findall(r"(?:-f |--filename )(\S+\.yaml)", command):
            assert (ROOT / file).is_file(), f"README names {file}, which does not exist"


def test_the_definitions_function_is_public_warm_ticked_and_keeps_its_secrets_in_the_secret() -> None:
    service = one("Service", "definitions")
    assert "networking.knative.dev/visibility" not in service["metadata"].get("labels", {}), "GitHub must reach it"
    template = service["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    assert annotations["autoscaling.knative.dev/min-scale"] == annotations["autoscaling.knative.dev/max-scale"] == "1"
    [container] = template["spec"]["containers"]
    assert container["args"] == ["definitions"]
    env = {e["name"]: e for e in container["env"]}
    for name in ("DEFINITIONS_WEBHOOK_SECRET", "SYNC_GITHUB_TOKEN", "R2_SECRET_ACCESS_KEY", "REDIS_URL"):
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "botburrow-secrets", name
        assert name not in settings_data(), f"{name} is a secret: never in the ConfigMap"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert any(m["mountPath"] == "/tmp" for m in container["volumeMounts"]), "git checks sources out in /tmp"
    ping = one("PingSource", "definitions-sync")["spec"]
    assert ping["sink"]["ref"] == {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "definitions"}
    assert ping["schedule"] == "*/5 * * * *"
