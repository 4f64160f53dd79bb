"""What the manifests promise about this system: setting names, timings, scaling, and the README's commands."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from functions.__main__ import HTTP_TARGETS
from shared.settings import Settings
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


def test_the_runner_pod_outlives_its_drain() -> None:
    settings = Settings.from_env(settings_data())
    deployment = one("Deployment", "runner")["spec"]["template"]["spec"]
    grace = deployment["terminationGracePeriodSeconds"]
    assert grace >= settings.runner.grace_period_s + 30 > settings.runner.activation_timeout_s
    job = one("ScaledJob", "runner")["spec"]["jobTargetRef"]
    assert job["activeDeadlineSeconds"] > settings.runner.activation_timeout_s
    assert job["template"]["spec"]["restartPolicy"] == "Never"
    [runner] = [c for c in job["template"]["spec"]["containers"] if c["name"] == "runner"]
    assert runner["args"] == ["runner", "--once"]


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
    _, threads = HTTP_TARGETS["ingest"]
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


def test_scaling_triggers_cover_every_priority_in_lag_and_pending_modes() -> None:
    triggers = one("ScaledObject", "runner")["spec"]["triggers"]
    lag = {t["metadata"]["stream"] for t in triggers if "lagCount" in t["metadata"]}
    pending = {t["metadata"]["stream"] for t in triggers if "pendingEntriesCount" in t["metadata"]}
    streams = {f"botburrow:activations:{p}" for p in ("high", "normal", "low")}
    assert lag == pending == streams
    for t in triggers:
        assert t["metadata"]["consumerGroup"] == "runners"
        assert t["authenticationRef"]["name"] == "redis-auth"
    # pending alone never adds pods: one per RUNNER_CONCURRENCY activations in flight
    concurrency = settings_data()["RUNNER_CONCURRENCY"]
    assert {t["metadata"]["pendingEntriesCount"] for t in triggers if "pendingEntriesCount" in t["metadata"]} == {
        concurrency
    }


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
