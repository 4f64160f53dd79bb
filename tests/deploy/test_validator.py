"""The manifest validator itself, on small documents written here.

Each test asserts the path and the message of the problem it expects, so a validator
that accepted everything (or refused everything) would fail it.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from tests.deploy.validator import (
    Problem,
    Schemas,
    default_schemas,
    format_path,
    kustomization_files,
    load_documents,
    strict_schema,
    validate_files,
)
from tests.support import ROOT, require

SCHEMAS = ROOT.parent / "shared" / "k8s-schemas"

RUNNER_DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: runner
  labels: {app.kubernetes.io/name: runner}
spec:
  selector:
    matchLabels: {app.kubernetes.io/name: runner}
  template:
    metadata:
      labels: {app.kubernetes.io/name: runner}
    spec:
      containers:
        - name: runner
          image: ghcr.io/botburrow/botburrow-agents:0.1.0
          args: ["runner"]
"""

TRIGGER_AUTH = """
apiVersion: keda.sh/v1alpha1
kind: TriggerAuthentication
metadata:
  name: redis-auth
spec:
  secretTargetRef:
    - parameter: password
      name: botburrow-secrets
      key: REDIS_PASSWORD
"""

SCALED_OBJECT = """
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: runner
spec:
  scaleTargetRef:
    name: runner
  minReplicaCount: 0
  maxReplicaCount: 10
  advanced:
    horizontalPodAutoscalerConfig:
      behavior:
        scaleDown:
          stabilizationWindowSeconds: 120
          policies:
            - {type: Percent, value: 50, periodSeconds: 60}
  triggers:
    - type: redis-streams
      authenticationRef: {name: redis-auth}
      metadata:
        address: redis:6379
        stream: "botburrow:activations:high"
        consumerGroup: runners
        lagCount: "10"
        activationLagCount: "0"
    - type: redis-streams
      authenticationRef: {name: redis-auth}
      metadata:
        {address: "redis:6379", stream: "botburrow:activations:normal", consumerGroup: runners, lagCount: "10",
         activationLagCount: "0"}
    - type: redis-streams
      authenticationRef: {name: redis-auth}
      metadata:
        {address: "redis:6379", stream: "botburrow:activations:normal", consumerGroup: runners,
         pendingEntriesCount: "16"}
    - type: redis-streams
      authenticationRef: {name: redis-auth}
      metadata:
        {address: "redis:6379", stream: "botburrow:activations:low", consumerGroup: runners, lagCount: "10",
         activationLagCount: "0"}
    - type: redis-streams
      authenticationRef: {name: redis-auth}
      metadata:
        {address: "redis:6379", stream: "botburrow:activations:low", consumerGroup: runners,
         pendingEntriesCount: "16"}
    - type: redis-streams
      authenticationRef: {name: redis-auth}
      metadata:
        address: redis:6379
        stream: "botburrow:activations:high"
        consumerGroup: runners
        pendingEntriesCount: "16"
"""

KNATIVE_SERVICE = """
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: poller
  labels:
    networking.knative.dev/visibility: cluster-local
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/min-scale: "1"
        autoscaling.knative.dev/max-scale: "1"
    spec:
      containerConcurrency: 1
      containers:
        - name: poller
          image: ghcr.io/botburrow/botburrow-agents:0.1.0
          args: ["poller"]
          ports:
            - {name: http1, containerPort: 8080}
"""


@pytest.fixture(scope="module")
def schemas() -> Schemas:
    require(SCHEMAS.is_dir(), f"the CRD schemas are missing: {SCHEMAS}")
    return default_schemas(SCHEMAS)


@pytest.fixture
def check(tmp_path: Path, schemas: Schemas):
    """Write each YAML text to its own file and validate them together."""

    def run(*texts: str, refs: bool = True) -> list[Problem]:
        paths = []
        for i, text in enumerate(texts):
            path = tmp_path / f"m{i}.yaml"
            path.write_text(textwrap.dedent(text))
            paths.append(path)
        return validate_files(paths, schemas=schemas, cross_references=refs)

    return run


def edit(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, "\n".join(map(str, problems))
    return problems[0]


def at(problems: list[Problem], path: str) -> Problem:
    found = [p for p in problems if p.path == path]
    assert found, f"no problem at {path}:\n" + "\n".join(map(str, problems))
    return found[0]


# -- valid documents --------------------------------------------------------------------------


def test_a_valid_scaled_object_with_its_deployment_and_authentication_passes(check) -> None:
    assert check(SCALED_OBJECT, RUNNER_DEPLOYMENT, TRIGGER_AUTH) == []


def test_a_valid_knative_service_passes(check) -> None:
    assert check(KNATIVE_SERVICE) == []


def test_the_crd_schemas_have_no_rule_left_unchecked(schemas: Schemas) -> None:
    # A CEL rule the validator cannot evaluate would be silently skipped: translate it
    # in KNOWN_CEL_RULES when a CRD update brings one.
    assert schemas.unchecked_rules == ()


# -- strict schemas: unknown fields -----------------------------------------------------------


def test_an_unknown_field_at_the_top_of_spec_is_rejected(check) -> None:
    text = edit(SCALED_OBJECT, "  minReplicaCount: 0", "  minReplicaCount: 0\n  bogus: 1")
    problem = only(check(text, RUNNER_DEPLOYMENT, TRIGGER_AUTH))
    assert (problem.path, problem.message) == ("spec.bogus", "unknown field 'bogus'")
    assert problem.resource == "ScaledObject/runner"
    assert problem.index == 0
    assert problem.line == 10  # the line of "bogus: 1" (the text starts with an empty line)


def test_an_unknown_field_deep_in_a_crd_is_rejected(check) -> None:
    text = edit(SCALED_OBJECT, "stabilizationWindowSeconds: 120", "stabilizationWindowSeconds: 120\n          bogus: 1")
    problem = only(check(text, RUNNER_DEPLOYMENT, TRIGGER_AUTH))
    assert problem.path == "spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown.bogus"
    assert problem.message == "unknown field 'bogus'"


def test_a_misspelt_field_gets_a_suggestion(check) -> None:
    text = edit(SCALED_OBJECT, "minReplicaCount: 0", "minReplicacount: 0")
    problem = only(check(text, RUNNER_DEPLOYMENT, TRIGGER_AUTH))
    assert problem.path == "spec.minReplicacount"
    assert problem.message == "unknown field 'minReplicacount' (did you mean 'minReplicaCount'?)"


def test_an_unknown_field_in_a_knative_container_is_rejected(check) -> None:
    text = edit(KNATIVE_SERVICE, 'args: ["poller"]', 'args: ["poller"]\n          terminationGracePeriodSeconds: 30')
    problem = only(check(text))
    assert problem.path == "spec.template.spec.containers[0].terminationGracePeriodSeconds"
    assert problem.message.startswith("unknown field 'terminationGracePeriodSeconds'")


def test_an_unknown_field_in_a_custom_resources_metadata_is_rejected(check) -> None:
    text = edit(KNATIVE_SERVICE, "  name: poller", "  name: poller\n  label: {a: b}")
    problem = only(check(text))
    assert problem.path == "metadata.label"
    assert problem.message.startswith("unknown field 'label'")


def test_a_deployment_with_an_unknown_field_is_rejected_by_the_core_schema(check) -> None:
    text = edit(RUNNER_DEPLOYMENT, "      containers:", "      terminationGracePeriod: 30\n      containers:")
    problem = only(check(text))
    assert problem.path == "spec.template.spec.terminationGracePeriod"
    assert problem.message.startswith("unknown field 'terminationGracePeriod'")
    assert problem.message.endswith("(did you mean 'terminationGracePeriodSeconds'?)")


def test_a_string_where_the_core_schema_wants_an_integer_is_rejected(check) -> None:
    text = edit(RUNNER_DEPLOYMENT, "      containers:", '      terminationGracePeriodSeconds: "30"\n      containers:')
    problem = only(check(text))
    assert problem.path == "spec.template.spec.terminationGracePeriodSeconds"
    assert problem.message == "must be an integer or null, not the string '30'"  # the core schemas allow null


def test_an_unknown_kind_is_rejected(check) -> None:
    text = edit(RUNNER_DEPLOYMENT, "kind: Deployment", "kind: Deployement")
    assert only(check(text)).message.startswith("unknown kind Deployement in apps/v1")


def test_an_unserved_crd_version_is_rejected(check) -> None:
    text = edit(SCALED_OBJECT, "keda.sh/v1alpha1", "keda.sh/v1")
    assert at(check(text, refs=False), "apiVersion").message == "no CRD serves ScaledObject in keda.sh/v1"


# -- strict schemas: what is allowed ----------------------------------------------------------


@pytest.mark.parametrize("port", ["8080", "http1"])
@pytest.mark.parametrize("cpu", ["1", '"250m"'])
def test_int_or_string_fields_accept_both(check, port: str, cpu: str) -> None:
    text = edit(
        KNATIVE_SERVICE,
        "          ports:",
        f"          readinessProbe: {{httpGet: {{path: /readyz, port: {port}}}}}\n"
        f"          resources: {{requests: {{cpu: {cpu}}}}}\n"
        "          ports:",
    )
    assert check(text) == []


def test_int_or_string_fields_refuse_other_types(check) -> None:
    text = edit(KNATIVE_SERVICE, "          ports:", "          resources: {requests: {cpu: [1]}}\n          ports:")
    problem = only(check(text))
    assert problem.path == "spec.template.spec.containers[0].resources.requests.cpu"
    assert problem.message == "must be an integer or string, not the array [1]"


def test_a_quantity_in_a_crd_accepts_an_integer_and_a_string(check) -> None:
    for tolerance in ("1", '"0.05"'):
        text = edit(
            SCALED_OBJECT,
            "stabilizationWindowSeconds: 120",
            f"stabilizationWindowSeconds: 120\n          tolerance: {tolerance}",
        )
        assert check(text, RUNNER_DEPLOYMENT, TRIGGER_AUTH) == []


def test_preserve_unknown_fields_nodes_accept_extra_keys(check) -> None:
    # spec.template.spec.affinity is x-kubernetes-preserve-unknown-fields in Knative's CRD
    # (the webhook checks it), and so is spec.template.metadata (with properties).
    text = edit(
        KNATIVE_SERVICE,
        "      containerConcurrency: 1",
        "      containerConcurrency: 1\n      affinity: {anything: {goes: [1, 2]}}",
    )
    text = edit(text, "    metadata:\n      annotations:", "    metadata:\n      extra: 1\n      annotations:")
    assert check(text) == []
    # ... where the same key in a node without the marker is refused
    refused = edit(KNATIVE_SERVICE, "      containerConcurrency: 1", "      containerConcurrency: 1\n      anything: 1")
    assert only(check(refused)).path == "spec.template.spec.anything"


def test_a_list_map_refuses_duplicate_keys(check) -> None:
    text = edit(
        KNATIVE_SERVICE,
        "          ports:",
        "          env: [{name: A, value: x}, {name: A, value: y}]\n          ports:",
    )
    problem = only(check(text))
    assert problem.path == "spec.template.spec.containers[0].env[1]"
    assert problem.message == "duplicate entry (name='A'): entries must differ by key"


def test_the_min_max_cel_rule_of_the_scaled_object_is_checked(check) -> None:
    text = edit(SCALED_OBJECT, "minReplicaCount: 0", "minReplicaCount: 11")
    problem = only(check(text, RUNNER_DEPLOYMENT, TRIGGER_AUTH))
    assert (problem.path, problem.message) == ("spec", "minReplicaCount must be less than or equal to maxReplicaCount")


def test_strict_schema_closes_objects_but_not_preserved_or_open_maps() -> None:
    schema = strict_schema(
        {
            "type": "object",
            "properties": {
                "closed": {"type": "object", "properties": {"a": {"type": "string"}}},
                "kept": {"type": "object", "x-kubernetes-preserve-unknown-fields": True, "properties": {}},
                "map": {"type": "object", "additionalProperties": {"type": "string"}},
                "ios": {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]},
            },
        },
        root=True,
    )
    props = schema["properties"]
    assert schema["additionalProperties"] is False
    assert props["closed"]["additionalProperties"] is False
    assert "additionalProperties" not in props["kept"]
    assert props["map"]["additionalProperties"] == {"type": "string"}
    assert props["ios"]["type"] == ["integer", "string"]
    assert "anyOf" not in props["ios"]
    assert set(props) >= {"apiVersion", "kind", "metadata"}


# -- KEDA triggers ----------------------------------------------------------------------------


def test_a_numeric_metadata_value_is_rejected(check) -> None:
    text = edit(SCALED_OBJECT, 'lagCount: "10"', "lagCount: 10")
    problem = only(check(text, RUNNER_DEPLOYMENT, TRIGGER_AUTH))
    assert problem.path == "spec.triggers[0].metadata.lagCount"
    assert problem.message == 'must be a string, not the integer 10 (quote it in YAML: "10")'


def test_a_boolean_metadata_value_is_rejected(check) -> None:
    text = edit(SCALED_OBJECT, "address: redis:6379", "address: redis:6379\n        enableTLS: false")
    problem = only(check(text, RUNNER_DEPLOYMENT, TRIGGER_AUTH))
    assert problem.path == "spec.triggers[0].metadata.enableTLS"
    assert problem.message.startswith("must be a string, not the boolean False")


def test_a_misspelt_trigger_key_is_rejected(check) -> None:
    text = edit(SCALED_OBJECT, 'lagCount: "10"', 'lagcount: "10"')
    problems = check(text, RUNNER_DEPLOYMENT, TRIGGER_AUTH)
    problem = at(problems, "spec.triggers[0].metadata.lagcount")
    assert problem.message == (
        "not a parameter of the redis-streams scaler (did you mean 'lagCount'?): KEDA only logs it"
    )


def test_a_key_only_a_trigger_authentication_may_give_is_rejected_in_metadata(check) -> None:
    text = edit(SCALED_OBJECT, "address: redis:6379", "address: redis:6379\n        tls: enable")
    problem = at(check(text, RUNNER_DEPLOYMENT, TRIGGER_AUTH), "spec.triggers[0].metadata.tls")
    assert "read from a TriggerAuthentication only" in problem.message


def test_an_unknown_trigger_type_is_rejected(check) -> None:
    text = edit(SCALED_OBJECT, "- type: redis-streams", "- type: redis-stream")
    problem = at(check(text, RUNNER_DEPLOYMENT, TRIGGER_AUTH), "spec.triggers[0].type")
    assert problem.message.startswith("unknown KEDA scaler 'redis-stream' (did you mean 'redis-streams'")


def test_an_authentication_ref_must_name_a_trigger_authentication_of_the_set(check) -> None:
    problems = check(SCALED_OBJECT, RUNNER_DEPLOYMENT)
    assert [(p.path, p.message) for p in problems] == [
        (f"spec.triggers[{i}].authenticationRef.name", "no TriggerAuthentication 'redis-auth' in the set")
        for i in range(6)
    ]


def test_a_trigger_authentication_parameter_must_be_one_the_scaler_reads(check) -> None:
    auth = edit(TRIGGER_AUTH, "parameter: password", "parameter: Password")
    problem = only(check(SCALED_OBJECT, RUNNER_DEPLOYMENT, auth))
    assert problem.resource == "TriggerAuthentication/redis-auth"
    assert problem.path == "spec.secretTargetRef[0].parameter"
    assert problem.message.endswith("(did you mean 'password'?)")


def test_a_secret_must_be_in_the_set_or_created_by_the_operator(check) -> None:
    auth = edit(TRIGGER_AUTH, "name: botburrow-secrets", "name: botburrow-secret")
    problem = only(check(SCALED_OBJECT, RUNNER_DEPLOYMENT, auth))
    assert problem.path == "spec.secretTargetRef[0].name"
    assert problem.message.startswith("no Secret 'botburrow-secret' in the set")


# -- project rules ----------------------------------------------------------------------------


def test_a_runner_named_so_is_rejected_as_a_knative_service(check) -> None:
    text = edit(edit(KNATIVE_SERVICE, "name: poller", "name: runner"), '["poller"]', '["runner"]')
    problem = at(check(text), "kind")
    assert problem.message.startswith("Service/runner is the runner: an activation outlasts Knative's request timeout")
    assert "must be an apps/v1 Deployment scaled by KEDA or a KEDA ScaledJob" in problem.message


@pytest.mark.parametrize(
    "command",
    [
        'command: ["python", "-m", "functions.runner"]',
        'command: ["python", "-m", "functions", "runner"]',
        'command: ["botburrow-runner"]',
        'args: ["runner", "--once"]',
    ],
)
def test_a_container_running_the_runner_is_rejected_in_a_knative_service(check, command: str) -> None:
    text = edit(KNATIVE_SERVICE, 'args: ["poller"]', command)
    problem = only(check(text))
    assert problem.path == "spec.template.spec.containers[0]"
    assert problem.message.startswith("this container runs the runner: an activation outlasts")


def test_the_poller_is_not_mistaken_for_the_runner(check) -> None:
    assert check(KNATIVE_SERVICE) == []
    assert check(edit(KNATIVE_SERVICE, 'args: ["poller"]', 'command: ["python", "-m", "functions", "poller"]')) == []


def test_lag_mode_needs_activation_lag_count_zero(check) -> None:
    text = edit(SCALED_OBJECT, 'activationLagCount: "0"', 'activationLagCount: "1"')
    problem = only(check(text, RUNNER_DEPLOYMENT, TRIGGER_AUTH))
    assert problem.path == "spec.triggers[0].metadata.activationLagCount"
    assert problem.message.startswith('must be "0" in lag mode')
    missing = edit(SCALED_OBJECT, '        activationLagCount: "0"\n', "")
    problem = only(check(missing, RUNNER_DEPLOYMENT, TRIGGER_AUTH))
    assert problem.path == "spec.triggers[0].metadata.activationLagCount"
    assert problem.message.startswith("required in lag mode")


def test_lag_mode_needs_a_consumer_group(check) -> None:
    text = edit(SCALED_OBJECT, "        consumerGroup: runners\n        lagCount", "        lagCount")
    problem = only(check(text, RUNNER_DEPLOYMENT, TRIGGER_AUTH))
    assert problem.path == "spec.triggers[0].metadata.consumerGroup"
    assert problem.message.startswith("required: without a consumer group KEDA scales on the whole stream")


def test_lag_count_zero_is_rejected(check) -> None:
    text = edit(SCALED_OBJECT, 'lagCount: "10"', 'lagCount: "0"')
    problems = check(text, RUNNER_DEPLOYMENT, TRIGGER_AUTH)
    assert at(problems, "spec.triggers[0].metadata.lagCount").message.endswith("switches the trigger to pending mode")


def test_a_count_must_be_a_decimal_integer(check) -> None:
    text = edit(SCALED_OBJECT, 'lagCount: "10"', 'lagCount: "ten"')
    problem = only(check(text, RUNNER_DEPLOYMENT, TRIGGER_AUTH))
    assert (problem.path, problem.message) == (
        "spec.triggers[0].metadata.lagCount",
        "must be a decimal integer in a string, not 'ten'",
    )


def test_a_lag_trigger_without_a_pending_trigger_is_rejected(check) -> None:
    lag_only, pending = SCALED_OBJECT.rsplit("    - type: redis-streams", 1)
    high_pending = 'activations:high"\n        consumerGroup: runners\n        pendingEntriesCount'
    assert high_pending in pending and high_pending not in lag_only
    text = lag_only
    problem = only(check(text, RUNNER_DEPLOYMENT, TRIGGER_AUTH))
    assert problem.path == "spec.triggers[0]"
    assert "has a lag trigger but no pending trigger" in problem.message


def test_a_scaled_object_must_target_a_deployment_of_the_set(check) -> None:
    text = edit(SCALED_OBJECT, "    name: runner", "    name: runners")
    problem = only(check(text, RUNNER_DEPLOYMENT, TRIGGER_AUTH))
    assert (problem.path, problem.message) == ("spec.scaleTargetRef.name", "no Deployment 'runners' in the set")


def test_a_scaled_object_cannot_target_a_knative_service(check) -> None:
    text = edit(
        SCALED_OBJECT, "    name: runner", "    name: poller\n    apiVersion: serving.knative.dev/v1\n    kind: Service"
    )
    problem = only(check(text, KNATIVE_SERVICE, TRIGGER_AUTH))
    assert problem.path == "spec.scaleTargetRef"
    assert problem.message == "KEDA cannot scale a Knative Service (it has no /scale subresource)"


def test_a_deployment_scaled_by_keda_must_not_set_replicas(check) -> None:
    deployment = edit(RUNNER_DEPLOYMENT, "spec:\n  selector:", "spec:\n  replicas: 0\n  selector:")
    problem = only(check(SCALED_OBJECT, deployment, TRIGGER_AUTH))
    assert (problem.resource, problem.path) == ("Deployment/runner", "spec.replicas")
    assert problem.message.startswith("KEDA scales this Deployment (ScaledObject/runner): remove spec.replicas")


POOL = "            - {name: RUNNER_MODE, value: %s}\n"


def pool(mode: str, name: str) -> tuple[str, str]:
    """A runner Deployment of ``mode`` named ``name`` and its ScaledObject watching ``streams``."""
    deployment = RUNNER_DEPLOYMENT.replace("name: runner\n", f"name: {name}\n", 1)
    deployment = deployment.replace('args: ["runner"]\n', 'args: ["runner"]\n          env:\n' + POOL % mode)
    scaled = SCALED_OBJECT.replace("  name: runner\n", f"  name: {name}\n", 1).replace(
        "    name: runner\n", f"    name: {name}\n", 1
    )
    return deployment, scaled


def only_triggers(scaled: str, *streams: str) -> str:
    """``scaled`` with the triggers on other streams than ``streams`` removed."""
    head, *triggers = scaled.split("    - type: redis-streams")
    kept = [t for t in triggers if any(f"botburrow:activations:{s}" in t for s in streams)]
    return head + "".join("    - type: redis-streams" + t for t in kept)


def test_two_pools_each_watching_its_own_streams_pass(check) -> None:
    inbox, inbox_scaler = pool("notification", "runner-notification")
    explore, explore_scaler = pool("exploration", "runner-exploration")
    assert (
        check(
            inbox,
            only_triggers(inbox_scaler, "high", "normal"),
            explore,
            only_triggers(explore_scaler, "low"),
            TRIGGER_AUTH,
        )
        == []
    )


def test_a_pool_watching_a_stream_its_runners_do_not_consume_is_rejected(check) -> None:
    inbox, inbox_scaler = pool("notification", "runner-notification")
    watched, uncovered = check(inbox, inbox_scaler, TRIGGER_AUTH)
    assert (watched.resource, watched.path) == ("ScaledObject/runner-notification", "spec.triggers")
    assert watched.message.startswith(
        "watches botburrow:activations:low, which Deployment/runner-notification (RUNNER_MODE=notification) "
        "does not consume"
    )
    assert uncovered.message.startswith("no runner pool consumes botburrow:activations:low")


def test_a_stream_no_pool_consumes_is_rejected(check) -> None:
    inbox, inbox_scaler = pool("notification", "runner-notification")
    problem = only(check(inbox, only_triggers(inbox_scaler, "high", "normal"), TRIGGER_AUTH))
    assert problem.message == "no runner pool consumes botburrow:activations:low: its activations would wait forever"


def test_a_pool_not_watching_a_stream_it_consumes_is_rejected(check) -> None:
    explore, explore_scaler = pool("hybrid", "runner-all")
    problems = check(explore, only_triggers(explore_scaler, "high", "low"), TRIGGER_AUTH)
    assert [p.message for p in problems] == [
        "Deployment/runner-all (RUNNER_MODE=hybrid) consumes botburrow:activations:normal but no lag trigger "
        "watches it: a backlog there never wakes the pool from zero"
    ]


def test_a_knative_reserved_port_is_rejected(check) -> None:
    text = edit(KNATIVE_SERVICE, "containerPort: 8080", "containerPort: 9090")
    problem = only(check(text))
    assert problem.path == "spec.template.spec.containers[0].ports[0].containerPort"
    assert problem.message.startswith("9090 is reserved by Knative's queue-proxy")


def test_a_misspelt_knative_autoscaling_annotation_is_rejected(check) -> None:
    text = edit(KNATIVE_SERVICE, "autoscaling.knative.dev/max-scale", "autoscaling.knative.dev/max_scale")
    problem = only(check(text))
    assert problem.path == 'spec.template.metadata.annotations["autoscaling.knative.dev/max_scale"]'
    assert problem.message == "unknown Knative autoscaling annotation (did you mean 'max-scale'?): Knative ignores it"


def test_an_unquoted_annotation_value_is_rejected(check) -> None:
    text = edit(KNATIVE_SERVICE, 'max-scale: "1"', "max-scale: 1")
    problem = only(check(text))
    assert problem.path == 'spec.template.metadata.annotations["autoscaling.knative.dev/max-scale"]'
    assert problem.message.startswith("must be a string, not the integer 1")


def test_a_selector_must_match_the_template_labels(check) -> None:
    text = edit(
        RUNNER_DEPLOYMENT, "    matchLabels: {app.kubernetes.io/name: runner}", "    matchLabels: {app: runner}"
    )
    problem = only(check(text))
    assert problem.path == "spec.selector.matchLabels.app"
    assert problem.message.startswith("`selector` does not match template `labels`")


def test_a_config_map_key_reference_must_exist(check) -> None:
    config_map = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {LOG_LEVEL: info}\n"
    ref = "env: [{name: LOG_LEVEL, valueFrom: {configMapKeyRef: {name: settings, key: LOG_LEVL}}}]"
    text = edit(RUNNER_DEPLOYMENT, 'args: ["runner"]', f'args: ["runner"]\n          {ref}')
    problem = only(check(text, config_map))
    assert problem.path == "spec.template.spec.containers[0].env[0].valueFrom.configMapKeyRef.key"
    assert problem.message == "ConfigMap settings has no key 'LOG_LEVL' (did you mean 'LOG_LEVEL'?)"


def test_the_same_object_twice_is_rejected(check) -> None:
    problem = only(check(RUNNER_DEPLOYMENT, RUNNER_DEPLOYMENT))
    assert problem.path == "metadata.name"
    assert problem.message == "Deployment/runner is already defined in m0.yaml document 0"


# -- YAML and kustomizations ------------------------------------------------------------------


def test_a_key_given_twice_is_rejected(check) -> None:
    text = edit(RUNNER_DEPLOYMENT, "  name: runner\n", "  name: runner\n  name: worker\n")
    problem = at(check(text), "metadata.name")
    assert problem.message.startswith("key given twice in one mapping")


def test_invalid_yaml_is_a_problem_of_the_file(check) -> None:
    problem = only(check("apiVersion: v1\nkind: [ConfigMap\n"))
    assert problem.index == -1
    assert problem.message.startswith("not valid YAML")


def test_documents_keep_their_index_and_lines(tmp_path: Path) -> None:
    path = tmp_path / "two.yaml"
    path.write_text("---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\nkind: Secret\n")
    documents = load_documents(path)
    assert [(d.index, d.kind) for d in documents] == [(1, "ConfigMap"), (2, "Secret")]
    assert documents[0].line(("metadata", "name")) == 6
    assert documents[0].line(("metadata", "name", "deeper")) == 6


def test_a_kustomization_with_a_missing_resource_is_rejected(tmp_path: Path, schemas: Schemas) -> None:
    (tmp_path / "here.yaml").write_text("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: botburrow}\n")
    (tmp_path / "base").mkdir()
    kustomization = tmp_path / "kustomization.yaml"
    kustomization.write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
        "  - here.yaml\n  - missing.yaml\n  - base\n"
    )
    problems = validate_files([kustomization], schemas=schemas)
    assert [(p.path, p.message) for p in problems] == [
        ("resources[1]", "'missing.yaml' does not exist (relative to " + tmp_path.name + "/)"),
        ("resources[2]", "'base' is a folder without a kustomization.yaml"),
    ]


def test_a_kustomization_with_an_unknown_key_is_rejected(tmp_path: Path, schemas: Schemas) -> None:
    kustomization = tmp_path / "kustomization.yaml"
    kustomization.write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespaces: botburrow\nresources: []\n"
    )
    problem = only(validate_files([kustomization], schemas=schemas))
    assert (problem.path, problem.message) == (
        "namespaces",
        "unknown kustomization field 'namespaces' (did you mean 'namespace'?)",
    )


def test_kustomization_files_follows_folders(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.yaml").write_text("{}\n")
    (tmp_path / "sub" / "kustomization.yaml").write_text("resources: [a.yaml]\n")
    (tmp_path / "kustomization.yaml").write_text("resources: [sub]\n")
    assert kustomization_files(tmp_path) == {
        (tmp_path / "kustomization.yaml").resolve(),
        (tmp_path / "sub" / "kustomization.yaml").resolve(),
        (tmp_path / "sub" / "a.yaml").resolve(),
    }


def test_format_path_quotes_keys_that_are_not_identifiers() -> None:
    assert format_path(("spec", "triggers", 0, "metadata", "lagCount")) == "spec.triggers[0].metadata.lagCount"
    assert format_path(("metadata", "labels", "app.kubernetes.io/name")) == 'metadata.labels["app.kubernetes.io/name"]'
    assert format_path(()) == ""


def test_the_knative_service_crd_is_the_configuration_template_plus_route_traffic() -> None:
    # The validator uses knative-serving/service.yaml as published; this pins what it is.
    require(SCHEMAS.is_dir(), f"the CRD schemas are missing: {SCHEMAS}")

    def spec(name: str) -> dict:
        crd = yaml.safe_load((SCHEMAS / "knative-serving" / name).read_text())
        return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]

    service, configuration, route = spec("service.yaml"), spec("configuration.yaml"), spec("route.yaml")
    assert set(service) == {"template", "traffic"}
    assert service["template"] == configuration["template"]
    assert service["traffic"]["items"]["properties"] == route["traffic"]["items"]["properties"]
    assert set(service["traffic"]["items"]["properties"]) == {
        "revisionName",
        "configurationName",
        "latestRevision",
        "percent",
        "tag",
        "url",
    }


def test_an_internal_knative_service_must_be_cluster_local_and_the_public_one_must_not(check) -> None:
    public = edit(KNATIVE_SERVICE, "    networking.knative.dev/visibility: cluster-local\n", "")
    problem = only(check(public))
    assert (problem.resource, problem.path) == ("Service/poller", "metadata.labels")
    assert "label it networking.knative.dev/visibility: cluster-local" in problem.message
    ingest = edit(KNATIVE_SERVICE, "  name: poller\n", "  name: ingest\n")
    problem = only(check(ingest))
    assert problem.path == 'metadata.labels["networking.knative.dev/visibility"]'
    assert "must not be cluster-local" in problem.message
    assert check(edit(public, "  name: poller\n", "  name: ingest\n")) == []
