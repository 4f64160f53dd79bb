"""Strict, offline validation of the Kubernetes manifests under ``knative/`` and ``keda/``.

Operators deploy with ``kubectl apply -k .`` and ``kn service create|apply``; this module
proves without a cluster that every manifest would be accepted on first apply, and that
it follows the project's rules. It is test infrastructure written as production code:
``validate_files(paths)`` and ``validate_tree(root)`` return a list of ``Problem`` (file,
document index, ``Kind/name``, a path such as ``spec.triggers[0].metadata.lagCount``, a
message, and the YAML line when known); an empty list means valid.

What is checked, and how
------------------------

YAML
    Every file is read as a stream of documents (``load_documents``). A key given twice
    in one mapping is an error: PyYAML keeps the last silently, ``kubectl`` refuses it.

Custom resources (KEDA, Knative Serving and Eventing)
    Against the CRDs published by the projects, read from ``../shared/k8s-schemas``
    (``Schemas.load``): the ``openAPIV3Schema`` of the version named in ``apiVersion``,
    validated with ``jsonschema`` after making it strict the way ``kubectl
    --validate=strict`` and the API server are (``strict_schema``):

    * every object node with ``properties`` gets ``additionalProperties: false`` unless
      it says ``x-kubernetes-preserve-unknown-fields: true`` or has its own
      ``additionalProperties``; a ``type: object`` node with neither properties nor
      either marker accepts no field at all (the API server would prune every one);
    * ``x-kubernetes-int-or-string: true`` accepts an integer or a string;
    * ``nullable: true`` also accepts ``null``; elsewhere ``null`` is an error (the API
      server would prune it silently; in a manifest it is an unfinished edit);
    * ``x-kubernetes-embedded-resource: true`` objects also accept ``apiVersion``,
      ``kind`` and ``metadata`` (an ObjectMeta subset);
    * the root always accepts ``apiVersion``, ``kind`` and ``metadata`` (Knative
      Eventing's CRDs leave them out, the API server adds them), and the root
      ``metadata`` (``type: object`` in every CRD) is validated as a real ObjectMeta
      with ``kubernetes-validate``'s strict schema, by validating it as the metadata of
      a ConfigMap;
    * ``x-kubernetes-list-type: set|map`` lists may not hold duplicate items or keys;
    * ``x-kubernetes-validations`` (CEL) rules are checked when they are in
      ``KNOWN_CEL_RULES`` (a Python translation of each); the others cannot be
      evaluated here and are listed in ``Schemas.unchecked_rules`` (a test keeps that
      list empty, so a new rule in a CRD update is noticed).

    The Knative ``Service`` is validated against ``knative-serving/service.yaml``, the
    published Service CRD: its ``spec`` is the Configuration's ``spec`` (``template``, a
    RevisionTemplateSpec whose ``spec`` is the Revision's: the pod spec subset Knative
    allows, so an unknown field in a container is caught) plus ``traffic`` (TrafficTarget:
    ``revisionName, configurationName, latestRevision, percent, tag, url``). No schema is
    assembled by hand: the CRD folder has it (``configuration.yaml`` has the same
    ``template``, ``route.yaml`` the same TrafficTarget), so nothing is left to guess.

    Knative's admission webhooks also decode with unknown fields disallowed, so for
    Knative kinds an extra key under a ``x-kubernetes-preserve-unknown-fields`` node
    (``spec.template.spec.affinity``, a Trigger's ``spec``) that the API server accepts
    may still be refused by the webhook: the validator follows the CRD there, and adds
    the webhook checks it knows (below).

Core kinds (Deployment, ConfigMap, NetworkPolicy, ...)
    With ``kubernetes-validate``'s strict schemas for ``KUBERNETES_VERSION`` (1.33, the
    oldest Kubernetes KEDA 2.20 is tested on: a field added later would be rejected by
    older clusters, so the oldest supported version is the strict choice). Its public
    ``validate`` reports the first error of a document only.

Kustomizations
    Keys from a small allow-list (``KUSTOMIZATION_KEYS``); every ``resources`` and
    ``components`` entry exists (a file, or a folder with its own kustomization), and so
    does every file a patch or generator names.

A few checks the API server, webhooks or controllers make at apply or run time
    ``metadata.name`` is present and a DNS name; label keys and values are well formed; a
    workload's selector matches its template's labels; containers have an image and
    distinct names; no two documents define the same object. Knative's webhook: the
    serving port is not one of queue-proxy's (``KNATIVE_RESERVED_PORTS``: 8008, 8012,
    8013, 8022, 9090, 9091), is named ``http1``, ``h2c`` or not at all, and is TCP; one
    port per container and, with several containers, exactly one with a port; no
    reserved environment variable (``PORT``, ``K_SERVICE``...) or container name;
    ``timeoutSeconds`` within ``max-revision-timeout-seconds`` (600).

KEDA triggers
    The trigger ``type`` is a scaler of ``keda/scalers-schema.json``; every ``metadata``
    key is one of that scaler's parameters readable from metadata (exact case; plus
    ``<name>FromEnv`` for those readable from the environment), not a deprecated one,
    within its ``allowedValue`` list; every value is a string; the parameters of a
    TriggerAuthentication are parameters the scaler reads from one.

Cross references (within the set validated together)
    ``authenticationRef`` names a TriggerAuthentication of the set; a ScaledObject's
    ``scaleTargetRef`` a Deployment of the set; ``serviceAccountName`` a ServiceAccount of
    the set; ConfigMap references (``envFrom``, ``configMapKeyRef`` and its key, volumes)
    a ConfigMap of the set or of a generator; Secret references a Secret of the set or
    one of ``EXTERNAL_SECRETS`` (created by the operator); ``<param>FromEnv`` an
    environment variable of the scale target; a PingSource's or Trigger's ``ref`` an
    object of the set.

Project rules (issue 7)
    * The runner (a container that runs ``python -m functions runner``,
      ``python -m functions.runner`` or ``botburrow-runner``, or a workload or container
      named ``runner``) is an ``apps/v1`` Deployment or a KEDA ScaledJob, never a Knative
      Service (activations outlast Knative's request timeout, and KEDA cannot scale a
      Knative Service).
    * A redis-streams trigger names a ``stream`` and a ``consumerGroup`` (without a
      group KEDA counts the whole stream). In lag mode (``lagCount`` given) ``lagCount``
      is a positive integer (``"0"`` silently switches to pending mode) and
      ``activationLagCount`` is exactly ``"0"``. Counts are decimal integers.
    * A ScaledObject targets a Deployment of the set, and for every stream it watches in
      lag mode also watches the same stream and group in pending mode: lag is 0 once the
      runners have taken everything, and without the pending trigger KEDA scales working
      runners to zero after ``cooldownPeriod``.
    * A Deployment that KEDA scales does not set ``spec.replicas``: every ``kubectl
      apply`` would reset the count KEDA chose (the Kubernetes HPA documentation).
    * Runner pools (issue 16): a ScaledObject's lag triggers watch exactly the activation
      streams its Deployment's ``RUNNER_MODE`` consumes (its container ``env``, else the
      settings ConfigMap, else ``hybrid``): a stream watched but not consumed starts
      runners for work they never take; one consumed but not watched never wakes a pool
      at zero. Every activation stream is consumed by some pool, or its work waits
      forever.
    * A Knative Service is cluster-local (the label ``networking.knative.dev/visibility:
      cluster-local`` on the Service) unless it is one of ``PUBLIC_SERVICES``, which the
      Hub reaches from outside and which must not be: the poller takes unauthenticated
      PingSource ticks, and what only the cluster calls should not face the internet.
    * Knative autoscaling annotations (``autoscaling.knative.dev/...``) are known keys
      with well-formed values, ``min-scale`` <= ``max-scale``; a PingSource ``schedule``
      is a five-field cron expression.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate  # type: ignore[import-untyped]
import yaml

from shared.events import Priority
from shared.settings import RunnerMode

__all__ = [
    "EXTERNAL_SECRETS",
    "KNOWN_CEL_RULES",
    "KUBERNETES_VERSION",
    "KUSTOMIZATION_KEYS",
    "OPTIONAL_MANIFESTS",
    "PROJECT_ROOT",
    "PUBLIC_SERVICES",
    "SCHEMA_DIR",
    "Document",
    "Problem",
    "Scaler",
    "Schemas",
    "SchemasNotFound",
    "default_schemas",
    "format_path",
    "kustomization_files",
    "load_documents",
    "strict_schema",
    "validate_documents",
    "validate_files",
    "validate_tree",
]

PROJECT_ROOT: Final = Path(__file__).resolve().parents[2]
SCHEMA_DIR: Final = PROJECT_ROOT.parent / "shared" / "k8s-schemas"
"""``../shared/k8s-schemas`` beside the checkout: the CRDs and KEDA's scaler schema."""

KUBERNETES_VERSION: Final = "1.33"
"""The core schemas' version: the oldest Kubernetes in KEDA 2.20's tested window (1.33-1.35)."""

EXTERNAL_SECRETS: Final = frozenset({"botburrow-secrets"})
"""Secrets the operator creates before applying; never in the repository."""

PUBLIC_SERVICES: Final = frozenset({"ingest", "definitions"})
"""Knative Services reached from outside the cluster (the Hub's webhook); every other one is cluster-local."""
VISIBILITY_LABEL: Final = "networking.knative.dev/visibility"
OPTIONAL_MANIFESTS: Final = frozenset({"knative/broker.yaml", "keda/scaledjob.yaml"})
"""Manifests kept beside the kustomizations but deliberately not listed in them."""

KUSTOMIZATION_KEYS: Final = frozenset(
    {
        "apiVersion",
        "kind",
        "resources",
        "namespace",
        "commonLabels",
        "labels",
        "images",
        "configMapGenerator",
        "secretGenerator",
        "patches",
        "components",
        "nameSuffix",
        "namePrefix",
    }
)

JsonPath = tuple[str | int, ...]
_KUSTOMIZE_GROUP: Final = "kustomize.config.k8s.io"
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_DNS_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_LABEL_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_DECIMAL = re.compile(r"(0|[1-9][0-9]*)")
_GO_DURATION = re.compile(r"([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+|0")
_FLOAT = re.compile(r"-?[0-9]+(\.[0-9]+)?")


class SchemasNotFound(FileNotFoundError):
    """The schema folder (``../shared/k8s-schemas``) is missing or incomplete."""


# -- paths and problems -----------------------------------------------------------------------


def format_path(path: Iterable[str | int]) -> str:
    """``("spec", "triggers", 0, "metadata", "lagCount")`` -> ``spec.triggers[0].metadata.lagCount``.

    Keys that are not plain identifiers (annotation and label keys) are quoted in brackets:
    ``metadata.annotations["autoscaling.knative.dev/min-scale"]``.
    """
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out


@dataclass(frozen=True)
class Problem:
    """One reason a manifest would be refused, or would not do what it should.

    ``index`` is the document's position in its file (0-based, empty documents counted);
    -1 for a problem with the file itself. ``resource`` is ``Kind/name`` when known.
    """

    file: Path
    index: int
    resource: str
    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else str(self.file)
        what = f" {self.resource}" if self.resource else ""
        at = f" {self.path}:" if self.path else ""
        return f"{where} (document {self.index}{what}){at} {self.message}"


# -- documents --------------------------------------------------------------------------------

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Document:
    """One YAML document of a manifest file, with the line of every path in it."""

    file: Path
    index: int
    body: Any
    lines: Mapping[JsonPath, int] = field(default_factory=dict, repr=False, compare=False)
    duplicate_keys: tuple[JsonPath, ...] = field(default=(), repr=False, compare=False)

    @property
    def api_version(self) -> str:
        value = self.body.get("apiVersion") if isinstance(self.body, dict) else None
        return value if isinstance(value, str) else ""

    @property
    def group(self) -> str:
        """The API group (``""`` for the core group ``v1``)."""
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        return self.api_version.rpartition("/")[2]

    @property
    def kind(self) -> str:
        value = self.body.get("kind") if isinstance(self.body, dict) else None
        return value if isinstance(value, str) else ""

    @property
    def metadata(self) -> Mapping[str, Any]:
        value = self.body.get("metadata") if isinstance(self.body, dict) else None
        return value if isinstance(value, dict) else {}

    @property
    def name(self) -> str:
        value = self.metadata.get("name")
        return value if isinstance(value, str) else ""

    @property
    def label(self) -> str:
        """``Kind/name`` for messages."""
        return f"{self.kind or '?'}/{self.name or '?'}"

    def line(self, path: JsonPath) -> int | None:
        """The line of ``path``, or of its nearest ancestor present in the file."""
        for end in range(len(path), -1, -1):
            found = self.lines.get(path[:end])
            if found is not None:
                return found
        return None

    def problem(self, path: JsonPath, message: str) -> Problem:
        return Problem(self.file, self.index, self.label, format_path(path), message, self.line(path))


def load_documents(path: Path) -> list[Document]:
    """The non-empty documents of a YAML file, in order, each with its index in the file.

    Raises ``yaml.YAMLError`` when the file is not valid YAML and ``OSError`` when it
    cannot be read.
    """
    text = path.read_text(encoding="utf-8")
    loader = _Loader(text)
    documents: list[Document] = []
    try:
        index = 0
        while loader.check_node():
            node = loader.get_node()
            body = loader.construct_document(node) if node is not None else None
            if node is not None and body is not None:
                lines: dict[JsonPath, int] = {}
                duplicates: list[JsonPath] = []
                _index_nodes(node, (), lines, duplicates, set())
                documents.append(Document(path, index, body, lines, tuple(duplicates)))
            index += 1
    finally:
        loader.dispose()
    return documents


def _index_nodes(
    node: yaml.Node, path: JsonPath, lines: dict[JsonPath, int], duplicates: list[JsonPath], active: set[int]
) -> None:
    """Record the line of every path under ``node`` and every key given twice in a mapping."""
    if id(node) in active:  # a recursive alias
        return
    lines.setdefault(path, node.start_mark.line + 1)
    active.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.value == "<<":
                continue
            key = str(key_node.value)
            child = (*path, key)
            if key in seen:
                duplicates.append(child)
            seen.add(key)
            lines[child] = key_node.start_mark.line + 1
            _index_nodes(value_node, child, lines, duplicates, active)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_nodes(item, (*path, i), lines, duplicates, active)
    active.discard(id(node))


# -- schemas ----------------------------------------------------------------------------------


def _min_le_max_replicas(spec: Any) -> bool:
    if not isinstance(spec, dict) or "minReplicaCount" not in spec:
        return True
    low, high = spec.get("minReplicaCount"), spec.get("maxReplicaCount", 100)
    return not (isinstance(low, int) and isinstance(high, int)) or low <= high


KNOWN_CEL_RULES: Final[Mapping[str, Callable[[Any], bool]]] = {
    # keda.sh ScaledObject .spec
    "!has(self.minReplicaCount) || self.minReplicaCount <= "
    "(has(self.maxReplicaCount) ? self.maxReplicaCount : 100)": _min_le_max_replicas,
}
"""CEL rules of the CRDs (``x-kubernetes-validations``), translated: rule text -> predicate."""


def strict_schema(node: Mapping[str, Any], *, root: bool = False) -> dict[str, Any]:
    """A copy of a CRD's structural schema that refuses what ``kubectl --validate=strict`` refuses.

    See the module docstring for the rules. Descriptions are dropped (they are most of
    the size). ``root`` marks the top of a resource: ``apiVersion``, ``kind`` and
    ``metadata`` are always accepted there (``metadata`` is checked separately).
    """
    out = {key: _strict_child(key, value) for key, value in node.items() if key != "description"}
    if out.get("x-kubernetes-int-or-string") is True:
        out.pop("anyOf", None)
        out["type"] = ["integer", "string"]
    if out.get("x-kubernetes-embedded-resource") is True:
        props = out.setdefault("properties", {})
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props.setdefault("metadata", _EMBEDDED_METADATA)
    if root:
        props = out.setdefault("properties", {})
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props["metadata"] = {"type": "object"}
        out.setdefault("type", "object")
    if out.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    is_object = out.get("type") == "object" or "properties" in out
    if is_object and out.get("x-kubernetes-preserve-unknown-fields") is not True and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def _strict_child(key: str, value: Any) -> Any:
    """``strict_schema`` applied to the sub-schemas of one keyword of a schema node."""
    if key == "properties":
        return {name: strict_schema(child) for name, child in value.items()}
    if key in ("items", "additionalProperties", "not") and isinstance(value, dict):
        return strict_schema(value)
    if key in ("anyOf", "oneOf", "allOf") and isinstance(value, list):
        return [strict_schema(child) for child in value]
    return value


_EMBEDDED_METADATA: Final[Mapping[str, Any]] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string"},
        "namespace": {"type": "string"},
        "generateName": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        "finalizers": {"type": "array", "items": {"type": "string"}},
        "ownerReferences": {"type": "array", "items": {"type": "object"}},
    },
}


def _list_type_keyword(validator: Any, list_type: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
    """``x-kubernetes-list-type``: no duplicate items in a set, no duplicate keys in a map."""
    if not isinstance(instance, list):
        return
    if list_type == "set":
        seen: list[Any] = []
        for i, item in enumerate(instance):
            if item in seen:
                yield jsonschema.ValidationError(f"duplicate entry {item!r} (the list is a set)", path=[i])
            seen.append(item)
    elif list_type == "map":
        keys = schema.get("x-kubernetes-list-map-keys") or []
        item_props = (schema.get("items") or {}).get("properties") or {}
        seen_keys: set[str] = set()
        for i, item in enumerate(instance):
            if not isinstance(item, dict):
                continue
            values = {k: item.get(k, (item_props.get(k) or {}).get("default")) for k in keys}
            marker = json.dumps(values, sort_keys=True)
            if marker in seen_keys:
                shown = ", ".join(f"{k}={v!r}" for k, v in values.items())
                yield jsonschema.ValidationError(f"duplicate entry ({shown}): entries must differ by key", path=[i])
            seen_keys.add(marker)


def _validations_keyword(validator: Any, rules: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
    """``x-kubernetes-validations``: the CEL rules this module knows (``KNOWN_CEL_RULES``)."""
    for rule in rules if isinstance(rules, list) else []:
        check = KNOWN_CEL_RULES.get(str(rule.get("rule", "")))
        if check is not None and not check(instance):
            yield jsonschema.ValidationError(str(rule.get("message") or f"fails the rule {rule.get('rule')}"))


_CrdValidator: Any = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    {"x-kubernetes-list-type": _list_type_keyword, "x-kubernetes-validations": _validations_keyword},
)


@dataclass(frozen=True)
class Scaler:
    """A KEDA scaler's parameters, from ``scalers-schema.json``."""

    type: str
    metadata_keys: frozenset[str]
    """Keys accepted in a trigger's ``metadata``: parameters readable from metadata, plus
    ``<name>FromEnv`` for those readable from the scale target's environment."""
    auth_keys: frozenset[str]
    """Parameters a TriggerAuthentication may provide."""
    allowed_values: Mapping[str, tuple[str, ...]]
    deprecated: Mapping[str, str]


@dataclass(frozen=True)
class Schemas:
    """The CRD schemas (made strict) and the KEDA scalers, indexed for validation."""

    crds: Mapping[tuple[str, str, str], Any]
    """(group, version, kind) -> a jsonschema validator of the strict schema."""
    scalers: Mapping[str, Scaler]
    unchecked_rules: tuple[str, ...] = ()
    """CEL rules found in the CRDs that ``KNOWN_CEL_RULES`` does not translate."""

    @classmethod
    def load(cls, folder: Path = SCHEMA_DIR) -> Schemas:
        """Read every ``*.yaml`` CRD under ``folder`` and ``keda/scalers-schema.json``."""
        scalers_file = folder / "keda" / "scalers-schema.json"
        crd_files = sorted(folder.glob("*/*.yaml"))
        if not folder.is_dir() or not scalers_file.is_file() or not crd_files:
            raise SchemasNotFound(f"no CRD schemas and scalers-schema.json under {folder}")
        crds: dict[tuple[str, str, str], Any] = {}
        unchecked: list[str] = []
        for path in crd_files:
            for crd in yaml.load_all(path.read_text(encoding="utf-8"), Loader=_Loader):
                if not isinstance(crd, dict) or crd.get("kind") != "CustomResourceDefinition":
                    continue
                spec = crd["spec"]
                for version in spec.get("versions", []):
                    schema = (version.get("schema") or {}).get("openAPIV3Schema")
                    if schema is None or not version.get("served", True):
                        continue
                    unchecked.extend(r for r in _cel_rules(schema) if r not in KNOWN_CEL_RULES)
                    key = (spec["group"], version["name"], spec["names"]["kind"])
                    crds[key] = _CrdValidator(strict_schema(schema, root=True))
        raw = json.loads(scalers_file.read_text(encoding="utf-8"))
        scalers = {s["type"]: _scaler(s) for s in raw["scalers"]}
        return cls(crds=crds, scalers=scalers, unchecked_rules=tuple(sorted(set(unchecked))))

    def crd(self, document: Document) -> Any | None:
        """The validator for a document's group, version and kind, if a CRD defines it."""
        return self.crds.get((document.group, document.version, document.kind))

    def defines_group(self, group: str) -> bool:
        return any(g == group for g, _, _ in self.crds)


def _cel_rules(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for rule in node.get("x-kubernetes-validations") or []:
            yield str(rule.get("rule", ""))
        for value in node.values():
            yield from _cel_rules(value)
    elif isinstance(node, list):
        for value in node:
            yield from _cel_rules(value)


def _scaler(raw: Mapping[str, Any]) -> Scaler:
    params: list[Mapping[str, Any]] = raw.get("parameters") or []
    metadata = {p["name"] for p in params if p.get("metadataVariableReadable")}
    metadata |= {f"{p['name']}FromEnv" for p in params if p.get("envVariableReadable")}
    return Scaler(
        type=raw["type"],
        metadata_keys=frozenset(metadata),
        auth_keys=frozenset(p["name"] for p in params if p.get("triggerAuthenticationVariableReadable")),
        allowed_values={p["name"]: tuple(map(str, p["allowedValue"])) for p in params if p.get("allowedValue")},
        deprecated={p["name"]: str(p["deprecated"]) for p in params if p.get("deprecated")},
    )


@functools.lru_cache(maxsize=4)
def default_schemas(folder: Path = SCHEMA_DIR) -> Schemas:
    """``Schemas.load(folder)``, once per process."""
    return Schemas.load(folder)


# -- schema errors ----------------------------------------------------------------------------


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _type_message(expected: Any, value: Any) -> str:
    wanted = " or ".join(expected) if isinstance(expected, list) else str(expected)
    message = f"must be {'an' if wanted[0] in 'aeiou' else 'a'} {wanted}, not the {_json_type(value)} {value!r}"
    if wanted == "string" and isinstance(value, bool | int | float):
        message += f' (quote it in YAML: "{json.dumps(value)}")'
    return message


def _suggestion(key: str, known: Iterable[str]) -> str:
    options = list(known)
    lowered = {k.lower(): k for k in options}
    match = lowered.get(key.lower()) or next(iter(difflib.get_close_matches(key, options, n=1, cutoff=0.75)), None)
    return f" (did you mean {match!r}?)" if match else ""


def _schema_problems(errors: Iterable[Any], prefix: JsonPath = ()) -> Iterator[tuple[JsonPath, str]]:
    """``jsonschema`` errors as (path, message), one per unknown field or missing key."""
    for error in errors:
        path = (*prefix, *error.absolute_path)
        schema = error.schema if isinstance(error.schema, dict) else {}
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = set(schema.get("properties") or {})
            patterns = list(schema.get("patternProperties") or {})
            for key in error.instance:
                if key not in known and not any(re.search(p, key) for p in patterns):
                    yield (*path, key), f"unknown field {key!r}{_suggestion(key, known)}"
        elif error.validator == "required" and isinstance(error.instance, dict):
            for key in error.validator_value:
                if key not in error.instance:
                    yield (*path, key), "required field is missing"
        elif error.validator == "type":
            yield path, _type_message(error.validator_value, error.instance)
        else:
            yield path, str(error.message)


# -- the checks -------------------------------------------------------------------------------


@dataclass
class _Inventory:
    """What the set of documents defines, for cross references."""

    documents: list[Document]
    by_kind: dict[tuple[str, str], dict[str, Document]] = field(default_factory=lambda: defaultdict(dict))
    generated: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    """Kind ("ConfigMap", "Secret") -> names made by kustomize generators (keys unknown)."""

    def __post_init__(self) -> None:
        for doc in self.documents:
            if doc.kind and doc.name:
                self.by_kind[(doc.group, doc.kind)].setdefault(doc.name, doc)
            if doc.kind == "Kustomization":
                for key, kind in (("configMapGenerator", "ConfigMap"), ("secretGenerator", "Secret")):
                    for gen in _list(doc.body.get(key)):
                        if isinstance(gen, dict) and isinstance(gen.get("name"), str):
                            self.generated[kind].add(gen["name"])

    def find(self, group: str, kind: str, name: str) -> Document | None:
        return self.by_kind.get((group, kind), {}).get(name)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _get(body: Any, path: JsonPath) -> Any:
    for part in path:
        if isinstance(part, int):
            body = body[part] if isinstance(body, list) and 0 <= part < len(body) else None
        else:
            body = body.get(part) if isinstance(body, dict) else None
    return body


def validate_files(
    paths: Iterable[Path], *, schemas: Schemas | None = None, cross_references: bool = True
) -> list[Problem]:
    """Every problem in the manifests ``paths``, validated together as one set.

    ``cross_references=False`` skips the checks that need the other documents (a file
    validated alone). ``schemas`` defaults to ``default_schemas()`` (raises
    ``SchemasNotFound`` when ``../shared/k8s-schemas`` is missing).
    """
    schemas = schemas or default_schemas()
    problems: list[Problem] = []
    documents: list[Document] = []
    for path in paths:
        try:
            documents.extend(load_documents(path))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else None
            problems.append(Problem(path, -1, "", "", f"not valid YAML: {exc}", line))
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(path, -1, "", "", f"cannot be read: {exc}"))
    problems.extend(validate_documents(documents, schemas=schemas, cross_references=cross_references))
    return _unique(problems)


def validate_documents(
    documents: Sequence[Document], *, schemas: Schemas | None = None, cross_references: bool = True
) -> list[Problem]:
    """``validate_files`` for documents already loaded."""
    schemas = schemas or default_schemas()
    inventory = _Inventory(list(documents))
    problems: list[Problem] = []
    for doc in documents:
        problems.extend(_check_document(doc, schemas))
        problems.extend(_check_project_rules(doc, inventory, schemas, cross_references))
    if cross_references:
        problems.extend(_check_duplicates(documents))
        problems.extend(_check_pools(inventory))
    return _unique(problems)


def validate_tree(root: Path = PROJECT_ROOT) -> list[Problem]:
    """The root ``kustomization.yaml`` and every YAML file under ``knative/`` and ``keda/``."""
    problems: list[Problem] = []
    files: list[Path] = []
    top = root / "kustomization.yaml"
    if top.is_file():
        files.append(top)
    else:
        problems.append(Problem(top, -1, "", "", "missing: `kubectl apply -k .` needs it"))
    for folder in ("knative", "keda"):
        if not (root / folder).is_dir():
            problems.append(Problem(root / folder, -1, "", "", "missing folder"))
            continue
        files.extend(sorted(p for p in (root / folder).rglob("*") if p.suffix in {".yaml", ".yml"}))
    return [*problems, *validate_files(files)]


def _unique(problems: Iterable[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))


# ... one document on its own


def _check_document(doc: Document, schemas: Schemas) -> Iterator[Problem]:
    for path in doc.duplicate_keys:
        yield doc.problem(path, "key given twice in one mapping (kubectl refuses it; PyYAML keeps the last)")
    if not isinstance(doc.body, dict):
        yield doc.problem((), f"a manifest document must be a mapping, not {_json_type(doc.body)}")
        return
    for key in ("apiVersion", "kind"):
        if not isinstance(doc.body.get(key), str) or not doc.body.get(key):
            yield doc.problem((key,), "required field is missing")
    if not doc.api_version or not doc.kind:
        return
    if doc.group == _KUSTOMIZE_GROUP:
        yield from _check_kustomization(doc)
        return
    validator = schemas.crd(doc)
    if validator is not None:
        for path, message in _schema_problems(validator.iter_errors(doc.body)):
            yield doc.problem(path, message)
        yield from _check_object_meta(doc)
    elif schemas.defines_group(doc.group):
        yield doc.problem(("apiVersion",), f"no CRD serves {doc.kind} in {doc.api_version}")
    else:
        yield from _check_core(doc)
    yield from _check_name(doc)
    yield from _check_labels(doc)
    yield from _check_workload(doc)


def _check_core(doc: Document) -> Iterator[Problem]:
    try:
        kubernetes_validate.validate(doc.body, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        for path, message in _schema_problems([exc]):
            yield doc.problem(path, message)
    except kubernetes_validate.SchemaNotFoundError:
        yield doc.problem(
            ("kind",),
            f"unknown kind {doc.kind} in {doc.api_version}: not a core kind of Kubernetes "
            f"{KUBERNETES_VERSION} nor a kind of the CRDs under {SCHEMA_DIR.name}/",
        )


def _check_object_meta(doc: Document) -> Iterator[Problem]:
    """The root ``metadata`` of a custom resource against the core ObjectMeta schema."""
    meta = doc.body.get("metadata")
    if not isinstance(meta, dict):
        yield doc.problem(("metadata",), "required field is missing" if meta is None else "must be an object")
        return
    try:
        kubernetes_validate.validate(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}, KUBERNETES_VERSION, strict=True
        )
    except kubernetes_validate.ValidationError as exc:
        for path, message in _schema_problems([exc]):
            yield doc.problem(path, message)


def _check_name(doc: Document) -> Iterator[Problem]:
    name = doc.metadata.get("name")
    if not isinstance(name, str) or not name:
        yield doc.problem(("metadata", "name"), "required: kubectl apply needs a name (generateName cannot be applied)")
        return
    label = doc.kind in {"Service", "Namespace"}
    pattern, limit, what = (_DNS_LABEL, 63, "DNS label") if label else (_DNS_SUBDOMAIN, 253, "DNS subdomain")
    if len(name) > limit or not pattern.fullmatch(name):
        yield doc.problem(("metadata", "name"), f"{name!r} is not a valid {what} (lowercase a-z, 0-9, '-')")


def _check_labels(doc: Document) -> Iterator[Problem]:
    for path in _label_maps(doc.body, ()):
        for key, value in _dict(_get(doc.body, path)).items():
            prefix, _, name = key.rpartition("/")
            if not _LABEL_NAME.fullmatch(name) or len(name) > 63 or (prefix and not _DNS_SUBDOMAIN.fullmatch(prefix)):
                yield doc.problem((*path, key), f"invalid label key {key!r}")
            if isinstance(value, str) and (len(value) > 63 or not _LABEL_VALUE.fullmatch(value)):
                yield doc.problem((*path, key), f"invalid label value {value!r} (at most 63 of A-Z a-z 0-9 - _ .)")


def _label_maps(node: Any, path: JsonPath) -> Iterator[JsonPath]:
    """Paths of every ``metadata.labels`` and ``matchLabels`` mapping in a document."""
    if isinstance(node, dict):
        for key, value in node.items():
            child = (*path, key)
            if (key == "labels" and path and path[-1] == "metadata") or key == "matchLabels":
                yield child
            else:
                yield from _label_maps(value, child)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _label_maps(value, (*path, i))


_POD_SPECS: Final[Mapping[tuple[str, str], JsonPath]] = {
    ("apps", "Deployment"): ("spec", "template", "spec"),
    ("apps", "StatefulSet"): ("spec", "template", "spec"),
    ("apps", "DaemonSet"): ("spec", "template", "spec"),
    ("apps", "ReplicaSet"): ("spec", "template", "spec"),
    ("batch", "Job"): ("spec", "template", "spec"),
    ("batch", "CronJob"): ("spec", "jobTemplate", "spec", "template", "spec"),
    ("", "Pod"): ("spec",),
    ("keda.sh", "ScaledJob"): ("spec", "jobTargetRef", "template", "spec"),
    ("serving.knative.dev", "Service"): ("spec", "template", "spec"),
    ("serving.knative.dev", "Configuration"): ("spec", "template", "spec"),
    ("serving.knative.dev", "Revision"): ("spec",),
}
"""Where each workload kind keeps its pod spec."""

_SELECTED: Final = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"})


def _containers(doc: Document) -> Iterator[tuple[JsonPath, dict[str, Any]]]:
    """(path, container) for every container and init container of a workload."""
    spec_path = _POD_SPECS.get((doc.group, doc.kind))
    if spec_path is None:
        return
    for field_name in ("initContainers", "containers"):
        for i, container in enumerate(_list(_get(doc.body, (*spec_path, field_name)))):
            if isinstance(container, dict):
                yield (*spec_path, field_name, i), container


def _check_workload(doc: Document) -> Iterator[Problem]:
    """What the API server checks beyond the schema: selector vs labels, images, names."""
    spec_path = _POD_SPECS.get((doc.group, doc.kind))
    if spec_path is None:
        return
    if doc.kind in _SELECTED and doc.group == "apps":
        selector = _dict(_get(doc.body, ("spec", "selector", "matchLabels")))
        labels = _dict(_get(doc.body, ("spec", "template", "metadata", "labels")))
        for key, value in selector.items():
            if labels.get(key) != value:
                yield doc.problem(
                    ("spec", "selector", "matchLabels", key),
                    f"`selector` does not match template `labels`: the template has no label {key}={value}",
                )
    names: set[str] = set()
    for path, container in _containers(doc):
        name = container.get("name")
        if isinstance(name, str):
            if name in names:
                yield doc.problem((*path, "name"), f"container name {name!r} used twice in the pod")
            names.add(name)
        if not container.get("image"):
            yield doc.problem((*path, "image"), "required: every container needs an image")


def _check_duplicates(documents: Sequence[Document]) -> Iterator[Problem]:
    seen: dict[tuple[str, str, str, str], Document] = {}
    for doc in documents:
        if not doc.kind or not doc.name or doc.group == _KUSTOMIZE_GROUP:
            continue
        key = (doc.group, doc.kind, str(doc.metadata.get("namespace") or ""), doc.name)
        first = seen.setdefault(key, doc)
        if first is not doc:
            where = f"{first.file.name} document {first.index}"
            yield doc.problem(("metadata", "name"), f"{doc.label} is already defined in {where}")


# ... kustomizations


def _check_kustomization(doc: Document) -> Iterator[Problem]:
    if (doc.kind, doc.version) not in {("Kustomization", "v1beta1"), ("Component", "v1alpha1")}:
        yield doc.problem(
            ("kind",), f"expected a Kustomization ({_KUSTOMIZE_GROUP}/v1beta1), not {doc.api_version} {doc.kind}"
        )
    for key in doc.body:
        if key not in KUSTOMIZATION_KEYS:
            yield doc.problem((key,), f"unknown kustomization field {key!r}{_suggestion(key, KUSTOMIZATION_KEYS)}")
    yield from _check_kustomization_entries(doc)
    yield from _check_kustomization_files(doc)


def _check_kustomization_entries(doc: Document) -> Iterator[Problem]:
    """Every ``resources`` and ``components`` entry exists, once."""
    folder = doc.file.parent
    for key in ("resources", "components"):
        entries = doc.body.get(key)
        if entries is not None and not isinstance(entries, list):
            yield doc.problem((key,), "must be a list of paths")
            continue
        seen: set[str] = set()
        for i, entry in enumerate(_list(entries)):
            if not isinstance(entry, str):
                yield doc.problem((key, i), _type_message("string", entry))
                continue
            if entry in seen:
                yield doc.problem((key, i), f"{entry!r} is listed twice")
            seen.add(entry)
            if "://" in entry:
                continue  # a remote base: not checkable offline
            target = folder / entry
            if target.is_dir():
                if not _kustomization_in(target):
                    yield doc.problem((key, i), f"{entry!r} is a folder without a kustomization.yaml")
            elif not target.is_file():
                yield doc.problem((key, i), f"{entry!r} does not exist (relative to {folder.name or folder}/)")


def _check_kustomization_files(doc: Document) -> Iterator[Problem]:
    """Every file a patch or a generator names exists."""
    folder = doc.file.parent
    for i, patch in enumerate(_list(doc.body.get("patches"))):
        path = _dict(patch).get("path")
        if isinstance(path, str) and not (folder / path).is_file():
            yield doc.problem(("patches", i, "path"), f"{path!r} does not exist")
    for key in ("configMapGenerator", "secretGenerator"):
        for i, gen in enumerate(_list(doc.body.get(key))):
            for source in ("files", "envs"):
                for j, entry in enumerate(_list(_dict(gen).get(source))):
                    file = str(entry).rpartition("=")[2]
                    if not (folder / file).is_file():
                        yield doc.problem((key, i, source, j), f"{file!r} does not exist")


def _kustomization_in(folder: Path) -> Path | None:
    for name in ("kustomization.yaml", "kustomization.yml", "Kustomization"):
        if (folder / name).is_file():
            return folder / name
    return None


def kustomization_files(path: Path) -> set[Path]:
    """Every manifest file a kustomization includes, following folders recursively.

    ``path`` is a kustomization file or a folder holding one. The kustomization files
    themselves are included. Entries that do not exist are skipped (``validate_files``
    reports them).
    """
    file = _kustomization_in(path) if path.is_dir() else path
    if file is None or not file.is_file():
        return set()
    found = {file.resolve()}
    for doc in load_documents(file):
        for entry in _list(_dict(doc.body).get("resources")) + _list(_dict(doc.body).get("components")):
            if not isinstance(entry, str) or "://" in entry:
                continue
            target = file.parent / entry
            if target.is_dir():
                found |= kustomization_files(target)
            elif target.is_file():
                found.add(target.resolve())
    return found


# ... project rules and cross references


def _check_project_rules(doc: Document, inventory: _Inventory, schemas: Schemas, refs: bool) -> Iterator[Problem]:
    if not isinstance(doc.body, dict):
        return
    yield from _check_runner(doc)
    if doc.group == "keda.sh" and doc.kind in {"ScaledObject", "ScaledJob"}:
        yield from _check_triggers(doc, inventory, schemas, refs)
        if doc.kind == "ScaledObject":
            yield from _check_lag_has_pending(doc)
            if refs:
                yield from _check_scale_target(doc, inventory)
    if doc.group == "serving.knative.dev":
        yield from _check_knative_annotations(doc)
        yield from _check_knative_pod_spec(doc)
        if doc.kind == "Service":
            yield from _check_visibility(doc)
    if doc.group == "sources.knative.dev" and doc.kind == "PingSource":
        yield from _check_schedule(doc)
    if refs:
        yield from _check_pod_references(doc, inventory)
        yield from _check_event_references(doc, inventory)
        if doc.group == "keda.sh" and doc.kind == "TriggerAuthentication":
            for i, ref in enumerate(_list(_get(doc.body, ("spec", "secretTargetRef")))):
                yield from _secret_ref(doc, ("spec", "secretTargetRef", i), _dict(ref), inventory)


_RUNNER_ARGV = re.compile(r"(^|\s)(-m\s+functions(\s+|\.)runner|\S*botburrow-runner)(\s|$)")
_RUNNER_NAME = re.compile(r"(^|-)runners?(-|$)")
_PROJECT_IMAGE = "botburrow-agents"


def _runs_runner(container: Mapping[str, Any]) -> bool:
    """Whether a container runs the runner's stream pump.

    The project image's entrypoint is ``python -m functions`` with ``runner`` as its
    default command, so ``args: ["runner", ...]`` (or no command at all) on that image
    runs the runner too.
    """
    command = [str(x) for x in _list(container.get("command"))]
    args = [str(x) for x in _list(container.get("args"))]
    if _RUNNER_ARGV.search(" ".join([*command, *args])):
        return True
    image = container.get("image")
    if isinstance(image, str) and _PROJECT_IMAGE in image and not command:
        return not args or args[0] == "runner"
    return False


def _check_runner(doc: Document) -> Iterator[Problem]:
    """The runner is an apps/v1 Deployment or a ScaledJob, never a Knative Service (or anything else)."""
    allowed = (doc.group, doc.kind) in {("apps", "Deployment"), ("keda.sh", "ScaledJob")}
    if allowed or (doc.group, doc.kind) not in _POD_SPECS:
        return
    if doc.group == "serving.knative.dev":
        why = (
            "an activation outlasts Knative's request timeout and KEDA cannot scale a Knative Service: "
            "the runner must be an apps/v1 Deployment scaled by KEDA or a KEDA ScaledJob"
        )
    else:
        why = f"the runner must be an apps/v1 Deployment scaled by KEDA or a KEDA ScaledJob, not a {doc.kind}"
    if _RUNNER_NAME.search(doc.name):
        yield doc.problem(("kind",), f"{doc.label} is the runner: {why}")
        return
    for path, container in _containers(doc):
        if _runs_runner(container) or _RUNNER_NAME.search(str(container.get("name", ""))):
            yield doc.problem(path, f"this container runs the runner: {why}")
            return


_INTEGER_KEYS: Final = ("lagCount", "pendingEntriesCount", "activationLagCount", "streamLength", "databaseIndex")
_CONNECTION_KEYS: Final = ("address", "addresses", "host", "hosts")


def _check_triggers(doc: Document, inventory: _Inventory, schemas: Schemas, refs: bool) -> Iterator[Problem]:
    for i, trigger in enumerate(_list(_get(doc.body, ("spec", "triggers")))):
        if not isinstance(trigger, dict):
            continue
        at: JsonPath = ("spec", "triggers", i)
        kind = trigger.get("type")
        scaler = schemas.scalers.get(kind) if isinstance(kind, str) else None
        if scaler is None:
            yield doc.problem((*at, "type"), f"unknown KEDA scaler {kind!r}{_suggestion(str(kind), schemas.scalers)}")
        metadata = _dict(trigger.get("metadata"))
        yield from _check_trigger_metadata(doc, at, metadata, scaler)
        auth = _dict(trigger.get("authenticationRef"))
        auth_doc: Document | None = None
        if refs and auth:
            auth_kind = str(auth.get("kind") or "TriggerAuthentication")
            auth_doc = inventory.find("keda.sh", auth_kind, str(auth.get("name")))
            if auth_doc is None:
                yield doc.problem((*at, "authenticationRef", "name"), f"no {auth_kind} {auth.get('name')!r} in the set")
            elif scaler is not None:
                yield from _check_auth_parameters(auth_doc, scaler)
        if kind == "redis-streams":
            yield from _check_redis_streams(doc, at, metadata, auth_doc if refs else None, refs and not auth)
        if refs:
            yield from _check_from_env(doc, at, metadata, inventory)


def _check_trigger_metadata(
    doc: Document, at: JsonPath, metadata: Mapping[str, Any], scaler: Scaler | None
) -> Iterator[Problem]:
    """Strings only; keys the scaler reads from metadata (exact case), not deprecated, allowed values."""
    for key, value in metadata.items():
        where = (*at, "metadata", key)
        if not isinstance(value, str):
            yield doc.problem(where, _type_message("string", value))
        if scaler is None:
            continue
        if key not in scaler.metadata_keys:
            hint = _suggestion(key, scaler.metadata_keys)
            if key in scaler.auth_keys:
                hint = " (it is read from a TriggerAuthentication only)"
            yield doc.problem(where, f"not a parameter of the {scaler.type} scaler{hint}: KEDA only logs it")
        elif key in scaler.deprecated:
            yield doc.problem(where, f"deprecated: {scaler.deprecated[key]}")
        allowed = scaler.allowed_values.get(key)
        if allowed and isinstance(value, str) and value not in allowed:
            yield doc.problem(where, f"{value!r} is not one of {', '.join(allowed)}")


def _check_auth_parameters(auth: Document, scaler: Scaler) -> Iterator[Problem]:
    for source in ("secretTargetRef", "env", "configMapTargetRef"):
        for j, ref in enumerate(_list(_get(auth.body, ("spec", source)))):
            param = _dict(ref).get("parameter")
            if isinstance(param, str) and param not in scaler.auth_keys:
                hint = _suggestion(param, scaler.auth_keys)
                yield auth.problem(
                    ("spec", source, j, "parameter"),
                    f"{param!r} is not a parameter the {scaler.type} scaler reads from a TriggerAuthentication{hint}",
                )


def _check_redis_streams(
    doc: Document, at: JsonPath, metadata: Mapping[str, Any], auth: Document | None, no_auth: bool
) -> Iterator[Problem]:
    for key in _INTEGER_KEYS:
        value = metadata.get(key)
        if isinstance(value, str) and not _DECIMAL.fullmatch(value):
            yield doc.problem((*at, "metadata", key), f"must be a decimal integer in a string, not {value!r}")
    if not metadata.get("stream"):
        yield doc.problem((*at, "metadata", "stream"), "required: the stream KEDA watches")
    if not metadata.get("consumerGroup"):
        yield doc.problem(
            (*at, "metadata", "consumerGroup"),
            "required: without a consumer group KEDA scales on the whole stream's length (XLEN), "
            "not on what the runners have yet to take",
        )
    if "lagCount" in metadata:
        if metadata.get("lagCount") == "0":
            yield doc.problem(
                (*at, "metadata", "lagCount"), 'lagCount "0" silently switches the trigger to pending mode'
            )
        if "activationLagCount" not in metadata:
            yield doc.problem(
                (*at, "metadata", "activationLagCount"),
                'required in lag mode: activationLagCount "0", so the first undelivered entry wakes a runner',
            )
        elif metadata.get("activationLagCount") != "0":
            yield doc.problem(
                (*at, "metadata", "activationLagCount"),
                f'must be "0" in lag mode (the first undelivered entry wakes a runner), '
                f"not {metadata.get('activationLagCount')!r}",
            )
    connection = {k for k in metadata if k.removesuffix("FromEnv") in _CONNECTION_KEYS}
    if auth is not None:
        for source in ("secretTargetRef", "env", "configMapTargetRef"):
            connection |= {str(_dict(r).get("parameter")) for r in _list(_get(auth.body, ("spec", source)))} & set(
                _CONNECTION_KEYS
            )
    if not connection and (auth is not None or no_auth):
        yield doc.problem(
            (*at, "metadata"),
            f"no Redis to connect to: set one of {', '.join(_CONNECTION_KEYS)} (or its FromEnv form, "
            "or a TriggerAuthentication parameter)",
        )


def _check_lag_has_pending(doc: Document) -> Iterator[Problem]:
    """Every (stream, group) watched in lag mode is also watched in pending mode."""
    lag: dict[tuple[str, str], int] = {}
    pending: set[tuple[str, str]] = set()
    for i, trigger in enumerate(_list(_get(doc.body, ("spec", "triggers")))):
        trigger = _dict(trigger)
        meta = _dict(trigger.get("metadata"))
        if trigger.get("type") != "redis-streams":
            continue
        if not meta.get("consumerGroup"):
            continue  # reported by _check_redis_streams
        key = (str(meta.get("stream")), str(meta.get("consumerGroup")))
        if meta.get("lagCount") not in (None, "0"):
            lag.setdefault(key, i)
        else:
            pending.add(key)
    for (stream, group), i in lag.items():
        if (stream, group) not in pending:
            yield doc.problem(
                ("spec", "triggers", i),
                f"stream {stream} (group {group}) has a lag trigger but no pending trigger: lag is 0 once the "
                "runners have taken everything, and KEDA would scale working runners to zero after cooldownPeriod",
            )


def _check_scale_target(doc: Document, inventory: _Inventory) -> Iterator[Problem]:
    ref = _dict(_get(doc.body, ("spec", "scaleTargetRef")))
    name = ref.get("name")
    kind = str(ref.get("kind") or "Deployment")
    group = str(ref.get("apiVersion") or "apps/v1").rpartition("/")[0]
    where = ("spec", "scaleTargetRef")
    if group == "serving.knative.dev":
        yield doc.problem(where, "KEDA cannot scale a Knative Service (it has no /scale subresource)")
        return
    if (group, kind) != ("apps", "Deployment"):
        yield doc.problem(where, f"must target an apps/v1 Deployment, not {group or 'v1'} {kind}")
        return
    target = inventory.find("apps", "Deployment", str(name))
    if target is None:
        yield doc.problem((*where, "name"), f"no Deployment {name!r} in the set")
        return
    if "replicas" in _dict(target.body.get("spec")):
        yield target.problem(
            ("spec", "replicas"),
            f"KEDA scales this Deployment ({doc.label}): remove spec.replicas, or every kubectl apply "
            "resets the count KEDA chose (and replicas: 0 stops running runners)",
        )


_KNATIVE_AUTOSCALING = "autoscaling.knative.dev/"
_KNATIVE_INTEGERS: Final = frozenset(
    {"min-scale", "minScale", "max-scale", "maxScale", "initial-scale", "initialScale", "activation-scale"}
)
_KNATIVE_DURATIONS: Final = frozenset(
    {"window", "scale-down-delay", "scaleDownDelay", "scale-to-zero-pod-retention-period"}
    | {"scaleToZeroPodRetentionPeriod"}
)
_KNATIVE_FLOATS: Final = frozenset(
    {"target", "target-utilization-percentage", "targetUtilizationPercentage", "target-burst-capacity"}
    | {"targetBurstCapacity", "panic-window-percentage", "panicWindowPercentage", "panic-threshold-percentage"}
    | {"panicThresholdPercentage"}
)
_KNATIVE_OTHERS: Final = frozenset({"class", "metric", "metric-aggregation-algorithm", "metricAggregationAlgorithm"})
_KNATIVE_KEYS: Final = _KNATIVE_INTEGERS | _KNATIVE_DURATIONS | _KNATIVE_FLOATS | _KNATIVE_OTHERS


def _check_knative_annotations(doc: Document) -> Iterator[Problem]:
    for path in (("metadata", "annotations"), ("spec", "template", "metadata", "annotations")):
        annotations = _dict(_get(doc.body, path))
        scale: dict[str, int] = {}
        for key, value in annotations.items():
            if not key.startswith(_KNATIVE_AUTOSCALING):
                continue
            name = key.removeprefix(_KNATIVE_AUTOSCALING)
            where = (*path, key)
            if name not in _KNATIVE_KEYS:
                hint = _suggestion(name, _KNATIVE_KEYS)
                yield doc.problem(where, f"unknown Knative autoscaling annotation{hint}: Knative ignores it")
            elif not isinstance(value, str):
                continue  # the schema reports it
            elif name in _KNATIVE_INTEGERS and not _DECIMAL.fullmatch(value):
                yield doc.problem(where, f"must be a non-negative integer, not {value!r}")
            elif name in _KNATIVE_DURATIONS and not _GO_DURATION.fullmatch(value):
                yield doc.problem(where, f"must be a duration such as '60s' or '2m', not {value!r}")
            elif name in _KNATIVE_FLOATS and not _FLOAT.fullmatch(value):
                yield doc.problem(where, f"must be a number, not {value!r}")
            if name in _KNATIVE_INTEGERS and isinstance(value, str) and _DECIMAL.fullmatch(value):
                scale[name.replace("Scale", "-scale")] = int(value)
        low, high = scale.get("min-scale"), scale.get("max-scale")
        if low is not None and high and low > high:
            yield doc.problem((*path, f"{_KNATIVE_AUTOSCALING}min-scale"), f"min-scale {low} > max-scale {high}")


def _check_visibility(doc: Document) -> Iterator[Problem]:
    """Cluster-local unless the Service is one the outside reaches (``PUBLIC_SERVICES``)."""
    visibility = _dict(_get(doc.body, ("metadata", "labels"))).get(VISIBILITY_LABEL)
    local = visibility == "cluster-local"
    if doc.name in PUBLIC_SERVICES and local:
        yield doc.problem(
            ("metadata", "labels", VISIBILITY_LABEL),
            f"{doc.label} takes pushes from outside the cluster (the Hub's webhook): it must not be cluster-local",
        )
    elif doc.name not in PUBLIC_SERVICES and not local:
        public = ", ".join(sorted(PUBLIC_SERVICES))
        yield doc.problem(
            ("metadata", "labels"),
            f"{doc.label} is only reached inside the cluster: label it {VISIBILITY_LABEL}: cluster-local "
            f"(only {public} faces the outside)",
        )


KNATIVE_RESERVED_PORTS: Final = frozenset({8008, 8012, 8013, 8022, 9090, 9091})
"""Ports of Knative's queue-proxy (and profiling) in every pod: the webhook refuses them as the user port."""
_KNATIVE_RESERVED_ENV: Final = frozenset({"PORT", "K_SERVICE", "K_CONFIGURATION", "K_REVISION"})
_KNATIVE_PORT_NAMES: Final = frozenset({"", "h2c", "http1"})
KNATIVE_MAX_TIMEOUT_S: Final = 600
"""``max-revision-timeout-seconds``' default: a longer ``timeoutSeconds`` is refused."""


def _check_knative_pod_spec(doc: Document) -> Iterator[Problem]:
    """What Knative's webhook refuses in a revision template, beyond its CRD schema."""
    spec_path = _POD_SPECS.get((doc.group, doc.kind))
    if spec_path is None:
        return
    spec = _dict(_get(doc.body, spec_path))
    timeout = spec.get("timeoutSeconds")
    if isinstance(timeout, int) and timeout > KNATIVE_MAX_TIMEOUT_S:
        yield doc.problem(
            (*spec_path, "timeoutSeconds"),
            f"{timeout} is above Knative's max-revision-timeout-seconds ({KNATIVE_MAX_TIMEOUT_S} unless the cluster "
            "raises it)",
        )
    containers = [(path, c) for path, c in _containers(doc) if path[-2] == "containers"]
    with_ports = [path for path, c in containers if _list(c.get("ports"))]
    if len(containers) > 1 and len(with_ports) != 1:
        yield doc.problem(
            (*spec_path, "containers"), "with several containers, exactly one (the serving one) must declare a port"
        )
    for path, container in containers:
        if container.get("name") == "queue-proxy":
            yield doc.problem((*path, "name"), "'queue-proxy' is a reserved container name")
        for i, env in enumerate(_list(container.get("env"))):
            if _dict(env).get("name") in _KNATIVE_RESERVED_ENV:
                yield doc.problem((*path, "env", i, "name"), f"{_dict(env).get('name')!r} is set by Knative (reserved)")
        ports = _list(container.get("ports"))
        if len(ports) > 1:
            yield doc.problem((*path, "ports"), "Knative allows a single container port")
        if ports:
            yield from _check_knative_port(doc, (*path, "ports", 0), _dict(ports[0]))


def _check_knative_port(doc: Document, at: JsonPath, port: Mapping[str, Any]) -> Iterator[Problem]:
    """The serving port: not one of queue-proxy's, named http1, h2c or not at all, TCP."""
    number, name, protocol = port.get("containerPort"), port.get("name", ""), port.get("protocol", "TCP")
    if number in KNATIVE_RESERVED_PORTS:
        reserved = ", ".join(map(str, sorted(KNATIVE_RESERVED_PORTS)))
        yield doc.problem(
            (*at, "containerPort"),
            f"{number} is reserved by Knative's queue-proxy ({reserved}): the webhook refuses it; "
            "serve on another port (8080 is Knative's default)",
        )
    if name not in _KNATIVE_PORT_NAMES:
        yield doc.problem((*at, "name"), f"Knative port names are 'http1', 'h2c' or none, not {name!r}")
    if protocol != "TCP":
        yield doc.problem((*at, "protocol"), f"Knative serves TCP only, not {protocol!r}")


_CRON_MACROS: Final = frozenset({"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"})


def _check_schedule(doc: Document) -> Iterator[Problem]:
    schedule = _get(doc.body, ("spec", "schedule"))
    if not isinstance(schedule, str):
        return
    fields = re.sub(r"^(CRON_TZ|TZ)=\S+\s+", "", schedule.strip()).split()
    if not (len(fields) == 5 or (len(fields) == 1 and (fields[0] in _CRON_MACROS or fields[0].startswith("@every ")))):
        yield doc.problem(("spec", "schedule"), f"{schedule!r} is not a five-field cron expression")


def _check_pod_references(doc: Document, inventory: _Inventory) -> Iterator[Problem]:
    spec_path = _POD_SPECS.get((doc.group, doc.kind))
    if spec_path is None:
        return
    account = _get(doc.body, (*spec_path, "serviceAccountName"))
    if isinstance(account, str) and account != "default" and inventory.find("", "ServiceAccount", account) is None:
        yield doc.problem((*spec_path, "serviceAccountName"), f"no ServiceAccount {account!r} in the set")
    for path, container in _containers(doc):
        yield from _container_references(doc, path, container, inventory)
    for i, volume in enumerate(_list(_get(doc.body, (*spec_path, "volumes")))):
        volume = _dict(volume)
        if "configMap" in volume:
            yield from _config_map_ref(
                doc, (*spec_path, "volumes", i, "configMap"), _dict(volume["configMap"]), inventory
            )
        if "secret" in volume:
            ref = {"name": _dict(volume["secret"]).get("secretName"), **_dict(volume["secret"])}
            yield from _secret_ref(doc, (*spec_path, "volumes", i, "secret"), ref, inventory)


def _container_references(
    doc: Document, path: JsonPath, container: Mapping[str, Any], inventory: _Inventory
) -> Iterator[Problem]:
    """The ConfigMaps and Secrets a container's ``envFrom`` and ``env[].valueFrom`` name."""
    for i, source in enumerate(_list(container.get("envFrom"))):
        source = _dict(source)
        if "configMapRef" in source:
            yield from _config_map_ref(
                doc, (*path, "envFrom", i, "configMapRef"), _dict(source["configMapRef"]), inventory
            )
        if "secretRef" in source:
            yield from _secret_ref(doc, (*path, "envFrom", i, "secretRef"), _dict(source["secretRef"]), inventory)
    for i, env in enumerate(_list(container.get("env"))):
        value_from = _dict(_dict(env).get("valueFrom"))
        at = (*path, "env", i, "valueFrom")
        if "configMapKeyRef" in value_from:
            ref = _dict(value_from["configMapKeyRef"])
            yield from _config_map_ref(doc, (*at, "configMapKeyRef"), ref, inventory, key_field="key")
        if "secretKeyRef" in value_from:
            yield from _secret_ref(doc, (*at, "secretKeyRef"), _dict(value_from["secretKeyRef"]), inventory)


def _config_map_ref(
    doc: Document, at: JsonPath, ref: Mapping[str, Any], inventory: _Inventory, key_field: str | None = None
) -> Iterator[Problem]:
    """A ConfigMap of the set (or of a generator), unless optional; with the key ``ref[key_field]``."""
    name = ref.get("name")
    if ref.get("optional") is True or name in inventory.generated["ConfigMap"]:
        return
    config_map = inventory.find("", "ConfigMap", str(name))
    if config_map is None:
        yield doc.problem((*at, "name"), f"no ConfigMap {name!r} in the set (mark it optional if it may be absent)")
        return
    if key_field is not None:
        key = ref.get(key_field)
        keys = set(_dict(config_map.body.get("data"))) | set(_dict(config_map.body.get("binaryData")))
        if key not in keys:
            yield doc.problem((*at, key_field), f"ConfigMap {name} has no key {key!r}{_suggestion(str(key), keys)}")


def _secret_ref(doc: Document, at: JsonPath, ref: Mapping[str, Any], inventory: _Inventory) -> Iterator[Problem]:
    name = ref.get("name")
    if ref.get("optional") is True or name in EXTERNAL_SECRETS or name in inventory.generated["Secret"]:
        return
    if inventory.find("", "Secret", str(name)) is None:
        known = ", ".join(sorted(EXTERNAL_SECRETS))
        yield doc.problem((*at, "name"), f"no Secret {name!r} in the set, and not one the operator creates ({known})")


def _environment(target: Document, inventory: _Inventory, container_name: str | None) -> set[str] | None:
    """The environment variable names the target's containers have; None when not knowable."""
    names: set[str] = set()
    for _, container in _containers(target):
        if container_name and container.get("name") != container_name:
            continue
        names |= {str(_dict(e).get("name")) for e in _list(container.get("env"))}
        for source in _list(container.get("envFrom")):
            source = _dict(source)
            prefix = str(source.get("prefix") or "")
            ref = _dict(source.get("configMapRef"))
            config_map = inventory.find("", "ConfigMap", str(ref.get("name"))) if ref else None
            if config_map is None:
                return None  # a Secret or a generated ConfigMap: its keys are not known here
            names |= {prefix + k for k in _dict(config_map.body.get("data"))}
    return names


def _check_from_env(
    doc: Document, at: JsonPath, metadata: Mapping[str, Any], inventory: _Inventory
) -> Iterator[Problem]:
    keys = [k for k in metadata if k.endswith("FromEnv")]
    if not keys:
        return
    if doc.kind == "ScaledJob":
        target: Document | None = doc
        container = _get(doc.body, ("spec", "envSourceContainerName"))
    else:
        target = inventory.find("apps", "Deployment", str(_get(doc.body, ("spec", "scaleTargetRef", "name"))))
        container = _get(doc.body, ("spec", "scaleTargetRef", "envSourceContainerName"))
    if target is None:
        return
    names = _environment(target, inventory, container if isinstance(container, str) else None)
    for key in keys:
        value = metadata[key]
        if names is not None and value not in names:
            yield doc.problem(
                (*at, "metadata", key), f"{target.label}'s containers have no environment variable {value!r}"
            )


def _check_event_references(doc: Document, inventory: _Inventory) -> Iterator[Problem]:
    """A PingSource's sink and a Trigger's broker and subscriber name objects of the set."""
    refs: list[JsonPath] = []
    if doc.group == "sources.knative.dev":
        refs.append(("spec", "sink", "ref"))
    if doc.group == "eventing.knative.dev" and doc.kind == "Trigger":
        refs.append(("spec", "subscriber", "ref"))
        broker = _get(doc.body, ("spec", "broker"))
        if isinstance(broker, str) and inventory.find("eventing.knative.dev", "Broker", broker) is None:
            yield doc.problem(("spec", "broker"), f"no Broker {broker!r} in the set")
    for path in refs:
        ref = _dict(_get(doc.body, path))
        if not ref:
            continue
        group = str(ref.get("apiVersion") or "").rpartition("/")[0]
        kind, name = str(ref.get("kind")), str(ref.get("name"))
        if inventory.find(group, kind, name) is None:
            yield doc.problem(path, f"no {kind} {name!r} ({ref.get('apiVersion')}) in the set")


# ... runner pools


def _check_pools(inventory: _Inventory) -> Iterator[Problem]:
    """Each pool's ScaledObject watches the streams its RUNNER_MODE consumes; every stream has a pool."""
    scaled = list(inventory.by_kind.get(("keda.sh", "ScaledObject"), {}).values())
    consumed: set[str] = set()
    prefix = "botburrow"
    for doc in scaled:
        target = inventory.find("apps", "Deployment", str(_get(doc.body, ("spec", "scaleTargetRef", "name"))))
        runner = next((c for _, c in _containers(target) if _runs_runner(c)), None) if target else None
        if target is None or runner is None:
            continue  # not a runner pool (a missing target is reported by _check_scale_target)
        settings = _settings_of(runner, inventory)
        prefix = settings.get("STREAM_PREFIX") or prefix
        raw_mode = settings.get("RUNNER_MODE") or RunnerMode.HYBRID.value
        try:
            mode = RunnerMode(raw_mode)
        except ValueError:
            yield target.problem(
                ("spec", "template"), f"RUNNER_MODE {raw_mode!r} is not one of {[m.value for m in RunnerMode]}"
            )
            continue
        streams = {f"{prefix}:activations:{p}" for p in mode.priorities}
        consumed |= streams
        lag = {
            str(_get(t, ("metadata", "stream")))
            for t in _list(_get(doc.body, ("spec", "triggers")))
            if "lagCount" in _dict(_get(t, ("metadata",)))
        }
        for stream in sorted(lag - streams):
            yield doc.problem(
                ("spec", "triggers"),
                f"watches {stream}, which {target.label} (RUNNER_MODE={mode.value}) does not consume: "
                "KEDA would start runners for work they never take",
            )
        for stream in sorted(streams - lag):
            yield doc.problem(
                ("spec", "triggers"),
                f"{target.label} (RUNNER_MODE={mode.value}) consumes {stream} but no lag trigger watches it: "
                "a backlog there never wakes the pool from zero",
            )
    if not consumed:
        return  # no pool resolved: nothing to say about coverage
    for priority in Priority:
        stream = f"{prefix}:activations:{priority.value}"
        if stream not in consumed:
            doc = scaled[0]
            yield doc.problem((), f"no runner pool consumes {stream}: its activations would wait forever")


def _settings_of(container: Mapping[str, Any], inventory: _Inventory) -> dict[str, str]:
    """The literal settings a container gets: its ConfigMap's (envFrom), then its own ``env`` values."""
    found: dict[str, str] = {}
    for source in _list(container.get("envFrom")):
        ref = _dict(_dict(source).get("configMapRef"))
        config_map = inventory.find("", "ConfigMap", str(ref.get("name"))) if ref else None
        if config_map is not None:
            found.update({str(k): str(v) for k, v in _dict(config_map.body.get("data")).items()})
    for entry in _list(container.get("env")):
        entry = _dict(entry)
        if isinstance(entry.get("value"), str):
            found[str(entry.get("name"))] = entry["value"]
    return found
