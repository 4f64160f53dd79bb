"""The real manifests under ``knative/`` and ``keda/``: valid on first apply, and the validator
would notice if they were broken.

Each broken copy is made here by editing the loaded document in memory and writing it to
``tmp_path`` under the same file name; the rest of the set is the real files, so cross
references still resolve.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from local_emulator.__main__ import find_scaled_object
from local_emulator._pools import load_pools
from shared.events import Priority
from shared.settings import RunnerMode
from shared.streams import StreamKeys
from tests.deploy.validator import (
    OPTIONAL_MANIFESTS,
    VISIBILITY_LABEL,
    Problem,
    Schemas,
    default_schemas,
    kustomization_files,
    load_documents,
    validate_files,
    validate_tree,
)
from tests.support import ROOT, require

SCHEMAS = ROOT.parent / "shared" / "k8s-schemas"
FOLDERS = ("knative", "keda")
STREAMS = {"botburrow:activations:high", "botburrow:activations:normal", "botburrow:activations:low"}


def manifest_files() -> list[Path]:
    """The root kustomization and every YAML file under knative/ and keda/."""
    files = [ROOT / "kustomization.yaml"] if (ROOT / "kustomization.yaml").is_file() else []
    for folder in FOLDERS:
        files.extend(sorted(p for p in (ROOT / folder).rglob("*") if p.suffix in {".yaml", ".yml"}))
    return files


def relative(path: Path) -> str:
    return path.resolve().relative_to(ROOT).as_posix()


@pytest.fixture(scope="module")
def schemas() -> Schemas:
    require(SCHEMAS.is_dir(), f"the CRD schemas are missing: {SCHEMAS}")
    return default_schemas(SCHEMAS)


def listing(problems: list[Problem]) -> str:
    return "\n".join(map(str, problems)) or "(none)"


# -- the real files ---------------------------------------------------------------------------


def test_the_manifests_exist() -> None:
    expected = {
        "kustomization.yaml",
        "knative/kustomization.yaml",
        "knative/poller.yaml",
        "knative/ingest.yaml",
        "knative/pingsource.yaml",
        "keda/kustomization.yaml",
        "keda/runner.yaml",
        "keda/scaledobject.yaml",
    }
    assert expected <= {relative(p) for p in manifest_files()}


def test_every_manifest_validates(schemas: Schemas) -> None:
    problems = validate_tree(ROOT)
    assert problems == [], f"{len(problems)} problem(s):\n{listing(problems)}"


def test_the_kustomizations_list_every_manifest_but_the_optional_ones() -> None:
    listed = {relative(p) for p in kustomization_files(ROOT)}
    present = {relative(p) for p in manifest_files()}
    assert listed <= present, f"listed but not under knative/ or keda/: {sorted(listed - present)}"
    assert present - listed <= OPTIONAL_MANIFESTS, f"never applied by `kubectl apply -k .`: {present - listed}"
    assert not listed & OPTIONAL_MANIFESTS, f"optional manifests must not be in a kustomization: {listed}"


# -- broken copies are rejected ---------------------------------------------------------------


def find(documents: list[dict[str, Any]], kind: str, api_group: str | None = None) -> dict[str, Any]:
    for document in documents:
        if document.get("kind") == kind and (api_group is None or document["apiVersion"].startswith(api_group)):
            return document
    raise AssertionError(f"no {kind} document")


def lag_trigger(documents: list[dict[str, Any]]) -> tuple[dict[str, Any], int, dict[str, Any]]:
    scaled = find(documents, "ScaledObject")
    for i, trigger in enumerate(scaled["spec"]["triggers"]):
        if "lagCount" in trigger.get("metadata", {}):
            return scaled, i, trigger["metadata"]
    raise AssertionError("the ScaledObject has no lag trigger")


def unknown_field_in_scaled_object_spec(documents: list[dict[str, Any]]) -> str:
    find(documents, "ScaledObject")["spec"]["bogusField"] = 1
    return "spec.bogusField"


def unknown_field_in_poller_container(documents: list[dict[str, Any]]) -> str:
    find(documents, "Service", "serving.knative.dev")["spec"]["template"]["spec"]["containers"][0]["bogusField"] = 1
    return "spec.template.spec.containers[0].bogusField"


def unknown_field_in_runner_pod_spec(documents: list[dict[str, Any]]) -> str:
    find(documents, "Deployment")["spec"]["template"]["spec"]["bogusField"] = 1
    return "spec.template.spec.bogusField"


def numeric_lag_count(documents: list[dict[str, Any]]) -> str:
    _, i, metadata = lag_trigger(documents)
    metadata["lagCount"] = int(metadata["lagCount"])
    return f"spec.triggers[{i}].metadata.lagCount"


def misspelt_consumer_group(documents: list[dict[str, Any]]) -> str:
    _, i, metadata = lag_trigger(documents)
    metadata["consumergroup"] = metadata.pop("consumerGroup")
    return f"spec.triggers[{i}].metadata.consumergroup"


def runner_as_knative_service(documents: list[dict[str, Any]]) -> str:
    deployment = find(documents, "Deployment")
    template = deployment["spec"]["template"]
    service = {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": copy.deepcopy(deployment["metadata"]),
        "spec": {
            "template": {
                "metadata": copy.deepcopy(template.get("metadata", {})),
                "spec": {"containers": copy.deepcopy(template["spec"]["containers"])},
            }
        },
    }
    documents[documents.index(deployment)] = service
    return "kind"


def service(documents: list[dict[str, Any]]) -> dict[str, Any]:
    return find(documents, "Service", "serving.knative.dev")


def poller_not_cluster_local(documents: list[dict[str, Any]]) -> str:
    del service(documents)["metadata"]["labels"][VISIBILITY_LABEL]
    return "metadata.labels"


def metrics_public(documents: list[dict[str, Any]]) -> str:
    service(documents)["metadata"]["labels"][VISIBILITY_LABEL] = "public"
    return "metadata.labels"


def ingest_cluster_local(documents: list[dict[str, Any]]) -> str:
    service(documents)["metadata"]["labels"][VISIBILITY_LABEL] = "cluster-local"
    return f'metadata.labels["{VISIBILITY_LABEL}"]'


BROKEN: list[tuple[str, Callable[[list[dict[str, Any]]], str], str]] = [
    ("keda/scaledobject.yaml", unknown_field_in_scaled_object_spec, "unknown field 'bogusField'"),
    ("knative/poller.yaml", unknown_field_in_poller_container, "unknown field 'bogusField'"),
    ("keda/runner.yaml", unknown_field_in_runner_pod_spec, "unknown field 'bogusField'"),
    ("keda/scaledobject.yaml", numeric_lag_count, "must be a string, not the integer"),
    ("keda/scaledobject.yaml", misspelt_consumer_group, "not a parameter of the redis-streams scaler"),
    ("keda/runner.yaml", runner_as_knative_service, "the runner must be an apps/v1 Deployment"),
    ("knative/poller.yaml", poller_not_cluster_local, "is only reached inside the cluster"),
    ("knative/metrics.yaml", metrics_public, "is only reached inside the cluster"),
    ("knative/ingest.yaml", ingest_cluster_local, "it must not be cluster-local"),
]


@pytest.mark.parametrize(("name", "mutate", "message"), BROKEN, ids=[m.__name__ for _, m, _ in BROKEN])
def test_a_broken_copy_is_rejected(
    tmp_path: Path, schemas: Schemas, name: str, mutate: Callable[[list[dict[str, Any]]], str], message: str
) -> None:
    original = ROOT / name
    documents = [copy.deepcopy(d.body) for d in load_documents(original)]
    path = mutate(documents)
    broken = tmp_path / original.name
    broken.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    others = [p for p in manifest_files() if p.resolve() != original.resolve()]

    problems = validate_files([*others, broken], schemas=schemas)

    found = [p for p in problems if p.file == broken and p.path == path and message in p.message]
    assert found, f"expected {path}: ...{message}... in {broken.name}; got:\n{listing(problems)}"


def every_document() -> list[tuple[str, int]]:
    """(file, document index) of every manifest document; unreadable files are left to
    ``test_every_manifest_validates`` (this runs at collection)."""
    found: list[tuple[str, int]] = []
    for file in manifest_files():
        try:
            found.extend((relative(file), d.index) for d in load_documents(file))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
    return found


@pytest.mark.parametrize(("name", "index"), every_document())
def test_an_unknown_top_level_field_is_rejected_in_every_document(
    tmp_path: Path, schemas: Schemas, name: str, index: int
) -> None:
    # At the root: every kind's root is closed (some specs, like a Knative Trigger's, are
    # x-kubernetes-preserve-unknown-fields in their CRD).
    original = ROOT / name
    documents = load_documents(original)
    bodies = [copy.deepcopy(d.body) for d in documents]
    position = next(i for i, d in enumerate(documents) if d.index == index)
    bodies[position]["bogusField"] = 1
    broken = tmp_path / original.name
    broken.write_text(yaml.safe_dump_all(bodies, sort_keys=False))

    problems = validate_files([broken], schemas=schemas, cross_references=False)

    found = [p for p in problems if p.index == position and p.path == "bogusField" and "bogusField" in p.message]
    assert found, listing(problems)


# -- the local emulator reads the same ScaledObject -------------------------------------------


def test_the_emulator_reads_its_pools_from_the_real_manifests() -> None:
    pools = {p.name: p for p in load_pools(ROOT / "keda", prefix="botburrow")}
    assert {name: p.mode for name, p in pools.items()} == {
        "runner-notification": "notification",
        "runner-exploration": "exploration",
    }
    keys = StreamKeys(prefix="botburrow")
    assert {keys.activations(p) for p in Priority} == STREAMS
    for name, pool in pools.items():
        config = pool.scaler
        own = {keys.activations(Priority(p)) for p in RunnerMode(pool.mode).priorities}
        assert {t.stream for t in config.triggers} == own, name
        assert {t.consumer_group for t in config.triggers} == {"runners"}
        lag = {t.stream for t in config.triggers if t.mode == "lag" and t.activation == 0}
        assert lag == own, "every stream of a pool needs a lag trigger with activationLagCount 0"
    assert set().union(*({t.stream for t in p.scaler.triggers} for p in pools.values())) == STREAMS


def test_the_emulator_finds_the_scaled_object() -> None:
    found = find_scaled_object()
    assert found is not None
    assert found.resolve() == (ROOT / "keda" / "scaledobject.yaml").resolve()
