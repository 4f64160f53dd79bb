"""KEDA and the HPA, emulated: when to start and stop runner processes, by KEDA's own rules.

In a cluster two controllers size the runner Deployment. The KEDA operator polls the
``redis-streams`` scalers every ``pollingInterval`` and decides 0 <-> 1 (activation);
between 1 and ``maxReplicaCount`` the HorizontalPodAutoscaler that KEDA creates does the
sizing, from the same figures served as external metrics. The emulator has no cluster,
so ``Autoscaler.decide`` plays both, on the figures KEDA itself reads (``read_figures``:
``XINFO GROUPS`` of the ``runners`` group), with the parameters of the ScaledObject in
``keda/`` (``load_scaled_object``) so the emulator and the cluster cannot drift apart.
The supervisor that starts runners and SIGTERMs them lives in ``_emulator``.

Rules implemented, and where they come from
-------------------------------------------

Scaler (kedacore/keda ``pkg/scalers/redis_streams_scaler.go``, typed-config version;
docs ``keda.sh/docs/2.17/scalers/redis-streams``):

* Mode: with ``consumerGroup`` and a non-zero ``lagCount`` the metric is the group's
  lag (``XINFO GROUPS`` ``lag``, Redis 7); with ``consumerGroup`` and no ``lagCount``
  (or ``lagCount: "0"``!) it is the pending count with target ``pendingEntriesCount``
  (default 5). When both are given, ``lagCount`` wins and ``pendingEntriesCount`` is
  ignored. Without ``consumerGroup`` KEDA would scale on ``XLEN``; the emulator refuses
  that (it never matches what runners do).
* Activity: a trigger is active when its metric > ``activationLagCount`` (default 0).
  There is no ``activationPendingEntriesCount``: the scaler compares *every* mode's
  metric with ``activationLagCount``, so a pending trigger is active as soon as
  anything is pending (and that key is rejected as unknown, as the schema has no such
  parameter). Pending alone cannot wake a Deployment at zero in practice because with
  no runner nothing gets delivered, so nothing is pending; the exception is entries a
  dead runner left pending, which do wake one runner (that then reclaims them). This
  is why the docs say only the lag configuration "supports scaling down to 0".
* Figures: a missing stream is lag 0; a stream without the group is lag = ``XLEN``
  (the whole stream counts, PLATFORM-NOTES); a NULL lag (after ``XDEL`` of an
  undelivered entry) is read as 0 (go-redis gives 0 or -1 depending on its version;
  both give the same decisions: inactive, and ceil(<=0 / target) = 0). Pending of a
  missing group is 0 (KEDA's ``XPENDING`` would fail; the groups are created up front).

Operator (kedacore/keda ``pkg/scaling/executor/scale_scaledobjects.go`` ``RequestScale``,
``scaleFromZeroOrIdle``, ``scaleToZeroOrIdle``; docs ``reference/scaledobject-spec``):

* Any trigger active: ``LastActiveTime`` = now; if replicas == 0, scale to
  ``minReplicaCount`` if > 0 else 1. Otherwise the HPA sizes.
* No trigger active, replicas > 0 and ``minReplicaCount`` == 0: scale to 0 once
  ``LastActiveTime + cooldownPeriod < now`` (strictly), or, if no trigger was ever
  active, once ``initialCooldownPeriod`` has passed since creation (default 0: at once).
* No trigger active and replicas < ``minReplicaCount``: scale to ``minReplicaCount``.
  So KEDA only ever goes to zero when ``minReplicaCount`` is 0.
* Defaults: pollingInterval 30 s, cooldownPeriod 300 s, initialCooldownPeriod 0,
  minReplicaCount 0, maxReplicaCount 100. The HPA's own bounds are
  ``[max(1, minReplicaCount), maxReplicaCount]`` (``GetHPAMinReplicas``).

HPA (kubernetes ``pkg/controller/podautoscaler/horizontal.go`` ``reconcileAutoscaler``
and ``normalizeDesiredReplicasWithBehaviors``; ``replica_calculator.go``;
``pkg/apis/autoscaling/v2/defaults.go``; kube-controller-manager flags):

* Replicas 0: the HPA does nothing ("scaling is disabled"). Replicas above the max or
  below the min are brought back to it directly, without looking at metrics.
* Per trigger (KEDA's metrics are external metrics of target type ``AverageValue``
  unless the trigger says ``metricType: Value``): AverageValue:
  ``ratio = metric / (target * current)``, proposal ``ceil(metric / target)``; Value:
  ``ratio = metric / target``, proposal ``ceil(ratio * current)``. The proposal is
  ``current`` when ``1 - tolerance_down <= ratio <= 1 + tolerance_up`` (tolerance 0.1
  unless ``behavior.scale{Up,Down}.tolerance`` says otherwise). Desired = max over
  triggers.
* Stabilisation: every evaluation records its (unstabilised) desired count; the
  result is ``current`` raised to the *lowest* recommendation of the scale-up window
  (default 0 s) and lowered to the *highest* of the scale-down window (default 300 s).
  The first evaluation records the current count (``recordInitialRecommendation``).
* Rate policies (default scale up: max(+4 pods, +100 %) per 15 s; scale down: -100 %
  per 15 s, i.e. unlimited), measured from the count at the start of each policy's
  period (current - added + removed by the HPA within it); ``selectPolicy`` Max/Min/
  Disabled. Then clamped to the HPA bounds in the direction of the change.

Simplifications (on purpose)
----------------------------

* One ``decide`` per ``pollingInterval`` plays both controllers; in a cluster the HPA
  runs every 15 s (``--horizontal-pod-autoscaler-sync-period``) on metrics fetched when
  it asks. All windows and periods use the timestamps passed in, so only the
  granularity differs. In the tick where KEDA changes the count, the HPA waits for the
  next one (it would see the new count anyway).
* ``current`` is taken as both the spec and the ready count (no pod readiness).
* Not modelled, and refused by ``load_scaled_object`` rather than silently ignored:
  ``idleReplicaCount`` and ``advanced.scalingModifiers`` (they change the arithmetic).
  Accepted and ignored: ``fallback`` (scaler errors only), connection metadata
  (``address``, TLS, ``databaseIndex``...: the emulator reads its own Redis),
  ``authenticationRef``, ``useCachedMetrics``, pause annotations.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import yaml
from redis import exceptions as redis_errors

from shared.errors import ConfigurationError
from shared.events import Priority
from shared.streams import Redis, StreamKeys, text, translated

Mode = Literal["lag", "pending"]
MetricType = Literal["AverageValue", "Value"]
SelectPolicy = Literal["Max", "Min", "Disabled"]
PolicyType = Literal["Pods", "Percent"]

DEFAULT_TOLERANCE = 0.1
"""``--horizontal-pod-autoscaler-tolerance``: ratios within 10 % of 1 change nothing."""

DEFAULT_PENDING_ENTRIES_COUNT = 5
"""KEDA's default ``pendingEntriesCount`` (and ``lagCount``) when the key is absent."""

# The redis-streams scaler's parameters as in ../shared/k8s-schemas/keda/scalers-schema.json,
# hard-coded because that file is not shipped with a deployment. Metadata may hold the
# parameters marked ``metadataVariableReadable``, plus ``<name>FromEnv`` for those marked
# ``envVariableReadable``; the rest (cert, key, keyPassword, ca, tls) only come from a
# TriggerAuthentication. tests/local_emulator/test_keda.py checks this against the schema.
ENV_READABLE_KEYS: frozenset[str] = frozenset(
    {
        "address",
        "addresses",
        "username",
        "password",
        "sentinelUsername",
        "sentinelPassword",
        "sentinelMaster",
        "host",
        "hosts",
        "port",
        "ports",
    }
)
METADATA_KEYS: frozenset[str] = ENV_READABLE_KEYS | {
    "pendingEntriesCount",
    "streamLength",
    "lagCount",
    "stream",
    "consumerGroup",
    "databaseIndex",
    "unsafeSsl",
    "activationLagCount",
    "enableTLS",
}
ACCEPTED_METADATA_KEYS: frozenset[str] = METADATA_KEYS | {f"{k}FromEnv" for k in ENV_READABLE_KEYS}
_INTEGER_KEYS = ("lagCount", "pendingEntriesCount", "activationLagCount", "streamLength", "databaseIndex")

_SPEC_KEYS = frozenset(
    {
        "scaleTargetRef",
        "pollingInterval",
        "cooldownPeriod",
        "initialCooldownPeriod",
        "idleReplicaCount",
        "minReplicaCount",
        "maxReplicaCount",
        "fallback",
        "advanced",
        "triggers",
    }
)
_TRIGGER_KEYS = frozenset({"type", "name", "metadata", "metricType", "authenticationRef", "useCachedMetrics"})
_ADVANCED_KEYS = frozenset({"restoreToOriginalReplicaCount", "horizontalPodAutoscalerConfig", "scalingModifiers"})
_RULES_KEYS = frozenset({"stabilizationWindowSeconds", "selectPolicy", "policies", "tolerance"})
_POLICY_KEYS = frozenset({"type", "value", "periodSeconds"})


# -- configuration ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Trigger:
    """One ``redis-streams`` trigger, reduced to what decides scaling.

    Attributes:
        stream: full Redis key, e.g. ``botburrow:activations:high``.
        consumer_group: the group whose lag or pending count is the metric (``runners``).
        mode: ``lag`` (``lagCount``) or ``pending`` (``pendingEntriesCount``).
        target: ``lagCount`` or ``pendingEntriesCount``: the metric one replica absorbs.
        activation: ``activationLagCount`` (KEDA default 0); KEDA applies it to both
            modes (there is no ``activationPendingEntriesCount``).
        metric_type: the HPA target type; KEDA's default is ``AverageValue``.
        name: the trigger's ``name`` in the manifest, if any (for messages).
    """

    stream: str
    consumer_group: str
    mode: Mode
    target: int
    activation: int = 0
    metric_type: MetricType = "AverageValue"
    name: str = ""

    def __post_init__(self) -> None:
        if not self.stream or not self.consumer_group:
            raise ValueError("a trigger needs a stream and a consumer group")
        if self.mode not in ("lag", "pending"):
            raise ValueError(f"trigger mode must be 'lag' or 'pending', not {self.mode!r}")
        if self.metric_type not in ("AverageValue", "Value"):
            raise ValueError(f"metric type must be 'AverageValue' or 'Value', not {self.metric_type!r}")
        if self.target <= 0:  # the HPA refuses a non-positive target
            raise ValueError(f"trigger target must be positive, not {self.target}")

    @property
    def label(self) -> str:
        """Key of this trigger's metric in ``Decision.metrics``: ``lag:<stream>``."""
        return f"{self.mode}:{self.stream}"


@dataclass(frozen=True, kw_only=True)
class ScalingPolicy:
    """One HPA scaling policy: at most ``value`` pods or percent per ``period_s``."""

    type: PolicyType
    value: int
    period_s: float

    def __post_init__(self) -> None:
        if self.type not in ("Pods", "Percent"):
            raise ValueError(f"policy type must be 'Pods' or 'Percent', not {self.type!r}")
        if self.value <= 0 or not 0 < self.period_s <= 1800:
            raise ValueError("policy value must be positive and periodSeconds in 1..1800")


@dataclass(frozen=True, kw_only=True)
class ScalingRules:
    """The HPA behaviour of one direction (``behavior.scaleUp`` or ``behavior.scaleDown``)."""

    stabilization_window_s: float
    select_policy: SelectPolicy = "Max"
    policies: tuple[ScalingPolicy, ...]
    tolerance: float = DEFAULT_TOLERANCE

    def __post_init__(self) -> None:
        if not 0 <= self.stabilization_window_s <= 3600:
            raise ValueError("stabilizationWindowSeconds must be in 0..3600")
        if self.select_policy not in ("Max", "Min", "Disabled"):
            raise ValueError(f"selectPolicy must be Max, Min or Disabled, not {self.select_policy!r}")
        if self.tolerance < 0:
            raise ValueError("tolerance must not be negative")

    @property
    def longest_period_s(self) -> float:
        return max((p.period_s for p in self.policies), default=0.0)


SCALE_UP_DEFAULT = ScalingRules(
    stabilization_window_s=0,
    policies=(ScalingPolicy(type="Pods", value=4, period_s=15), ScalingPolicy(type="Percent", value=100, period_s=15)),
)
"""Kubernetes' default: no stabilisation, at most +4 pods or +100 % (whichever is more) per 15 s."""

SCALE_DOWN_DEFAULT = ScalingRules(
    stabilization_window_s=300, policies=(ScalingPolicy(type="Percent", value=100, period_s=15),)
)
"""Kubernetes' default: the highest recommendation of the last 300 s; no rate limit to speak of."""


@dataclass(frozen=True, kw_only=True)
class ScalerConfig:
    """What KEDA and its HPA are told: triggers, bounds, timers and HPA behaviour.

    Defaults are KEDA's and Kubernetes' for anything a manifest leaves out.

    Attributes:
        triggers: the redis-streams triggers (a stream has one consumer group).
        min_replicas / max_replicas: ``minReplicaCount`` / ``maxReplicaCount``.
        polling_interval_s: ``pollingInterval``: how often ``decide`` is meant to run.
        cooldown_s: ``cooldownPeriod``: inactivity before scaling to zero.
        initial_cooldown_s: ``initialCooldownPeriod``: grace after creation (first
            ``decide``) before a never-active target may go to zero.
        scale_up / scale_down: the HPA behaviour (``spec.advanced.
            horizontalPodAutoscalerConfig.behavior``): stabilisation windows, rate
            policies, tolerances.
    """

    triggers: tuple[Trigger, ...]
    min_replicas: int = 0
    max_replicas: int = 100
    polling_interval_s: float = 30.0
    cooldown_s: float = 300.0
    initial_cooldown_s: float = 0.0
    scale_up: ScalingRules = SCALE_UP_DEFAULT
    scale_down: ScalingRules = SCALE_DOWN_DEFAULT

    def __post_init__(self) -> None:
        if not self.triggers:
            raise ValueError("a ScaledObject needs at least one trigger")
        if self.min_replicas < 0 or self.max_replicas < 1 or self.min_replicas > self.max_replicas:
            raise ValueError(
                f"replica bounds must satisfy 0 <= min <= max and max >= 1 "
                f"(min {self.min_replicas}, max {self.max_replicas})"
            )
        if self.polling_interval_s <= 0 or self.cooldown_s < 0 or self.initial_cooldown_s < 0:
            raise ValueError("pollingInterval must be positive; cooldown periods must not be negative")
        groups: dict[str, str] = {}
        for t in self.triggers:
            if groups.setdefault(t.stream, t.consumer_group) != t.consumer_group:
                raise ValueError(f"stream {t.stream} has triggers on two consumer groups; the emulator reads one")

    @property
    def streams(self) -> dict[str, str]:
        """Stream -> consumer group, in trigger order."""
        return {t.stream: t.consumer_group for t in self.triggers}


def default_config(prefix: str = "botburrow", *, group: str = "runners") -> ScalerConfig:
    """The emulator's scaler when ``keda/`` has no ScaledObject.

    Per priority stream (high, normal, low): a lag trigger (``lagCount`` 5,
    ``activationLagCount`` 0), which wakes runners from zero on the first undelivered
    entry, and a pending trigger (``pendingEntriesCount`` 5, KEDA's default), which
    keeps them alive while activations run (lag is 0 once everything is delivered).
    Bounds 0..10. The timers are shorter than KEDA's so a laptop session shows scaling
    within seconds and a mention from zero runners within one: pollingInterval 1 s,
    cooldownPeriod 30 s and a 30 s scale-down
    stabilisation window (KEDA: 30 s, 300 s; Kubernetes: 300 s). Scale-up rate policies
    and the tolerance are Kubernetes' defaults.
    """
    keys = StreamKeys(prefix=prefix)
    triggers: list[Trigger] = []
    for priority in Priority:
        stream = keys.activations(priority)
        triggers.append(Trigger(stream=stream, consumer_group=group, mode="lag", target=5, activation=0))
        triggers.append(
            Trigger(stream=stream, consumer_group=group, mode="pending", target=DEFAULT_PENDING_ENTRIES_COUNT)
        )
    return ScalerConfig(
        triggers=tuple(triggers),
        min_replicas=0,
        max_replicas=10,
        polling_interval_s=1.0,
        cooldown_s=30.0,
        scale_down=ScalingRules(stabilization_window_s=30, policies=SCALE_DOWN_DEFAULT.policies),
    )


# -- the manifest ---------------------------------------------------------------------------


class ManifestError(ValueError):
    """A ScaledObject the emulator cannot follow; ``field`` is the path of the culprit."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def load_scaled_object(path: Path, *, prefix: str | None = None, name: str | None = None) -> ScalerConfig:
    """Read the ScaledObject in ``path`` (a file of one or more YAML documents).

    The document of ``kind: ScaledObject`` is used (``name`` picks one when the file
    holds several). Everything KEDA would read is checked as strictly as KEDA and the
    API server would, and a little more, because a mistake here silently makes the
    emulator and the cluster scale differently: metadata values must be strings,
    metadata keys must be parameters of the redis-streams scaler (``lagcount`` is not
    ``lagCount``: KEDA only logs it and uses its default), the trigger type must be
    ``redis-streams`` and ``consumerGroup`` must be set. Each problem is a
    ``ManifestError`` (a ``ValueError``) naming the field, e.g.
    ``spec.triggers[0].metadata.lagCount``.

    Stream names are taken from the manifest as they are: they are what KEDA reads. When
    ``prefix`` is given (the runners' ``STREAM_PREFIX``), every stream must lie under it
    (``<prefix>:``); otherwise KEDA would watch streams nobody writes to, so that is an
    error too rather than a rewrite.
    """
    try:
        documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    except yaml.YAMLError as exc:
        raise ManifestError(str(path), f"not valid YAML: {exc}") from exc
    found = [d for d in documents if isinstance(d, dict) and d.get("kind") == "ScaledObject"]
    if name is not None:
        found = [d for d in found if _dict(d.get("metadata"), "metadata").get("name") == name]
    if not found:
        raise ManifestError("kind", f"no ScaledObject{f' named {name}' if name else ''} in {path}")
    if len(found) > 1:
        names = ", ".join(str(_dict(d.get("metadata"), "metadata").get("name")) for d in found)
        raise ManifestError("kind", f"{path} holds several ScaledObjects ({names}); choose one by name")
    return parse_scaled_object(found[0], prefix=prefix)


def parse_scaled_object(document: Mapping[str, Any], *, prefix: str | None = None) -> ScalerConfig:
    """``load_scaled_object`` for a document already parsed (see there)."""
    api = document.get("apiVersion")
    if not isinstance(api, str) or not api.startswith("keda.sh/"):
        raise ManifestError("apiVersion", f"expected keda.sh/v1alpha1, found {api!r}")
    spec = _dict(document.get("spec"), "spec")
    _known(spec, _SPEC_KEYS, "spec")
    for unsupported in ("idleReplicaCount",):
        if unsupported in spec:
            raise ManifestError(f"spec.{unsupported}", "not modelled by the emulator; remove it or extend keda.py")
    advanced = _dict(spec.get("advanced", {}), "spec.advanced")
    _known(advanced, _ADVANCED_KEYS, "spec.advanced")
    if "scalingModifiers" in advanced:
        raise ManifestError("spec.advanced.scalingModifiers", "not modelled by the emulator")
    hpa = _dict(advanced.get("horizontalPodAutoscalerConfig", {}), "spec.advanced.horizontalPodAutoscalerConfig")
    _known(hpa, frozenset({"name", "behavior"}), "spec.advanced.horizontalPodAutoscalerConfig")
    where = "spec.advanced.horizontalPodAutoscalerConfig.behavior"
    behavior = _dict(hpa.get("behavior", {}), where)
    _known(behavior, frozenset({"scaleUp", "scaleDown"}), where)

    raw_triggers = spec.get("triggers")
    if not isinstance(raw_triggers, list) or not raw_triggers:
        raise ManifestError("spec.triggers", "must be a non-empty list")
    triggers = tuple(_trigger(t, f"spec.triggers[{i}]", prefix) for i, t in enumerate(raw_triggers))

    minimum = _int(spec, "minReplicaCount", "spec", default=0, least=0)
    maximum = _int(spec, "maxReplicaCount", "spec", default=100, least=1)
    if minimum > maximum:
        raise ManifestError("spec.minReplicaCount", f"must be <= maxReplicaCount ({minimum} > {maximum})")
    try:
        return ScalerConfig(
            triggers=triggers,
            min_replicas=minimum,
            max_replicas=maximum,
            polling_interval_s=float(_int(spec, "pollingInterval", "spec", default=30, least=1)),
            cooldown_s=float(_int(spec, "cooldownPeriod", "spec", default=300, least=0)),
            initial_cooldown_s=float(_int(spec, "initialCooldownPeriod", "spec", default=0, least=0)),
            scale_up=_rules(behavior.get("scaleUp"), f"{where}.scaleUp", SCALE_UP_DEFAULT),
            scale_down=_rules(behavior.get("scaleDown"), f"{where}.scaleDown", SCALE_DOWN_DEFAULT),
        )
    except ManifestError:
        raise
    except ValueError as exc:
        raise ManifestError("spec.triggers", str(exc)) from exc


def _trigger(raw: object, where: str, prefix: str | None) -> Trigger:
    t = _dict(raw, where)
    _known(t, _TRIGGER_KEYS, where)
    if t.get("type") != "redis-streams":
        raise ManifestError(f"{where}.type", f"{t.get('type')!r}: the emulator models redis-streams triggers only")
    metric_type = t.get("metricType", "AverageValue")
    if metric_type not in ("AverageValue", "Value"):
        raise ManifestError(
            f"{where}.metricType", f"{metric_type!r}: KEDA's external metrics take AverageValue or Value"
        )
    meta = _dict(t.get("metadata"), f"{where}.metadata")
    for key, value in meta.items():
        if not isinstance(value, str):
            raise ManifestError(
                f"{where}.metadata.{key}", f'KEDA requires string values: write {key}: "{_plain(value)}"'
            )
        if key not in ACCEPTED_METADATA_KEYS:
            close = difflib.get_close_matches(str(key), ACCEPTED_METADATA_KEYS, n=1, cutoff=0.6)
            close += [k for k in ACCEPTED_METADATA_KEYS if k.lower() == str(key).lower() and k not in close]
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ManifestError(f"{where}.metadata.{key}", f"not a parameter of the redis-streams scaler{hint}")
    numbers = {k: _metadata_int(meta[k], f"{where}.metadata.{k}") for k in _INTEGER_KEYS if k in meta}
    stream = meta.get("stream", "")
    if not stream:
        raise ManifestError(f"{where}.metadata.stream", "missing: KEDA needs the stream name")
    if prefix is not None and not stream.startswith(f"{prefix}:"):
        raise ManifestError(
            f"{where}.metadata.stream",
            f"{stream!r} is not under the runners' prefix {prefix!r}: KEDA would watch a stream nobody writes to",
        )
    group = meta.get("consumerGroup", "")
    if not group:
        raise ManifestError(
            f"{where}.metadata.consumerGroup",
            "missing: without a group KEDA scales on stream length, which the runners never shrink",
        )
    lag_count = numbers.get("lagCount", 0)
    # KEDA: lag mode when lagCount is set and non-zero; otherwise pending mode.
    mode: Mode = "lag" if lag_count != 0 else "pending"
    target = lag_count if mode == "lag" else numbers.get("pendingEntriesCount", DEFAULT_PENDING_ENTRIES_COUNT)
    if target <= 0:
        key = "lagCount" if mode == "lag" else "pendingEntriesCount"
        raise ManifestError(f"{where}.metadata.{key}", f"must be positive (the HPA target), not {target}")
    return Trigger(
        stream=stream,
        consumer_group=group,
        mode=mode,
        target=target,
        activation=numbers.get("activationLagCount", 0),
        metric_type=cast(MetricType, metric_type),
        name=str(t.get("name", "")),
    )


def _rules(raw: object, where: str, default: ScalingRules) -> ScalingRules:
    """HPA scaling rules, with Kubernetes' defaults filled in field by field."""
    if raw is None:
        return default
    r = _dict(raw, where)
    _known(r, _RULES_KEYS, where)
    window = _int(r, "stabilizationWindowSeconds", where, default=int(default.stabilization_window_s), least=0)
    if window > 3600:
        raise ManifestError(f"{where}.stabilizationWindowSeconds", "must be at most 3600")
    select = r.get("selectPolicy", default.select_policy)
    if select not in ("Max", "Min", "Disabled"):
        raise ManifestError(f"{where}.selectPolicy", f"{select!r}: must be Max, Min or Disabled")
    policies = default.policies
    if "policies" in r:
        raw_policies = r["policies"]
        if not isinstance(raw_policies, list):
            raise ManifestError(f"{where}.policies", "must be a list")
        policies = tuple(_policy(p, f"{where}.policies[{i}]") for i, p in enumerate(raw_policies)) or policies
    tolerance = default.tolerance
    if "tolerance" in r:
        tolerance = _quantity(r["tolerance"], f"{where}.tolerance")
    return ScalingRules(
        stabilization_window_s=float(window),
        select_policy=cast(SelectPolicy, select),
        policies=policies,
        tolerance=tolerance,
    )


def _policy(raw: object, where: str) -> ScalingPolicy:
    p = _dict(raw, where)
    _known(p, _POLICY_KEYS, where)
    kind = p.get("type")
    if kind not in ("Pods", "Percent"):
        raise ManifestError(f"{where}.type", f"{kind!r}: must be Pods or Percent")
    value = _int(p, "value", where, default=None, least=1)
    period = _int(p, "periodSeconds", where, default=None, least=1)
    if period > 1800:
        raise ManifestError(f"{where}.periodSeconds", "must be at most 1800")
    return ScalingPolicy(type=cast(PolicyType, kind), value=value, period_s=float(period))


def _dict(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ManifestError(where, f"must be a mapping, found {type(value).__name__}")
    return value


def _known(mapping: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    """Unknown fields are an error: the API server's strict validation would refuse them too."""
    for key in mapping:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ManifestError(f"{where}.{key}", f"unknown field{hint}")


def _int(mapping: Mapping[str, Any], key: str, where: str, *, default: int | None, least: int) -> int:
    if key not in mapping:
        if default is None:
            raise ManifestError(f"{where}.{key}", "missing")
        return default
    value = mapping[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ManifestError(f"{where}.{key}", f"must be an integer, found {value!r}")
    if value < least:
        raise ManifestError(f"{where}.{key}", f"must be at least {least}, found {value}")
    return value


def _metadata_int(value: str, where: str) -> int:
    try:
        return int(value.strip(), 10)
    except ValueError:
        raise ManifestError(where, f"{value!r} is not an integer") from None


_QUANTITY = re.compile(r"^\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))(m?)\s*$")


def _quantity(value: object, where: str) -> float:
    """A Kubernetes quantity as used for tolerances: ``0.05``, ``"0.05"`` or ``"50m"``."""
    if isinstance(value, bool):
        raise ManifestError(where, f'must be a quantity such as "0.05" or "50m", found {value!r}')
    if isinstance(value, int | float):
        number = float(value)
    else:
        match = _QUANTITY.match(str(value))
        if not match:
            raise ManifestError(where, f'must be a quantity such as "0.05" or "50m", found {value!r}')
        number = float(match[1]) / (1000 if match[2] else 1)
    if number < 0:
        raise ManifestError(where, "must not be negative")
    return number


def _plain(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


# -- the figures -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """What the scaler read, per stream: the group's lag and its pending count."""

    lag: Mapping[str, int]
    pending: Mapping[str, int]

    def value(self, trigger: Trigger) -> int:
        """The metric of ``trigger`` (0 for a stream not read)."""
        source = self.lag if trigger.mode == "lag" else self.pending
        return int(source.get(trigger.stream, 0))


async def read_figures(redis: Redis, config: ScalerConfig) -> Figures:
    """Lag and pending of each trigger's group, as KEDA's redis-streams scaler reads them.

    One pipeline (one round trip) of ``XINFO GROUPS`` and ``XLEN`` per stream. A
    missing stream is lag 0; a stream without the group counts whole (``XLEN``), as
    KEDA does; a NULL lag reads 0. Redis failures become ``StreamUnavailable``.
    """
    streams = config.streams
    async with translated("XINFO GROUPS (keda)"):
        pipe = redis.pipeline(transaction=False)
        for stream in streams:
            pipe.xinfo_groups(stream)
            pipe.xlen(stream)
        replies = await pipe.execute(raise_on_error=False)
        lag: dict[str, int] = {}
        pending: dict[str, int] = {}
        for (stream, group), groups, length in zip(streams.items(), replies[::2], replies[1::2], strict=True):
            if isinstance(groups, redis_errors.ResponseError):
                if "no such key" not in str(groups).lower():
                    raise groups
                lag[stream], pending[stream] = 0, 0
                continue
            if isinstance(length, BaseException):
                raise length
            mine = next((g for g in groups if text(g.get("name")) == group), None)
            if mine is None:
                lag[stream], pending[stream] = int(length), 0
                continue
            if "lag" not in mine:
                raise ConfigurationError("XINFO GROUPS has no lag field: KEDA's lag trigger needs Redis 7.0 or later")
            lag[stream] = int(mine["lag"]) if mine["lag"] is not None else 0
            pending[stream] = int(mine["pending"])
    return Figures(lag=lag, pending=pending)


# -- the decision ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """How many runners there should be, and why.

    Attributes:
        replicas: the count to scale to (equal to ``current`` when nothing changes).
        active: whether any trigger was active (KEDA's ``Active`` condition).
        reason: one line for logs and the status panel.
        metrics: per trigger (``Trigger.label``), the metric value used.
    """

    replicas: int
    active: bool
    reason: str
    metrics: Mapping[str, float]


@dataclass
class Autoscaler:
    """KEDA's operator and the HPA for one ScaledObject; state persists between calls.

    Call ``decide`` every ``config.polling_interval_s`` with the figures just read, the
    number of runners now running (not counting those draining) and a monotonic clock.

    Attributes:
        config: the ScaledObject.
        created_at: time of the first ``decide`` (the ScaledObject's creation).
        last_active: KEDA's ``status.lastActiveTime``: last time any trigger was active.
        recommendations: the HPA's (time, desired replicas) history for stabilisation.
        scale_up_events / scale_down_events: (time, replicas added/removed) by the HPA,
            for the rate policies.
    """

    config: ScalerConfig
    created_at: float | None = None
    last_active: float | None = None
    recommendations: list[tuple[float, int]] = field(default_factory=list)
    scale_up_events: list[tuple[float, int]] = field(default_factory=list)
    scale_down_events: list[tuple[float, int]] = field(default_factory=list)

    def decide(self, figures: Figures, *, current: int, now: float) -> Decision:
        """The operator's step (activation, cooldown, min), then, if it left the count alone, the HPA's."""
        if current < 0:
            raise ValueError(f"current replicas cannot be negative ({current})")
        cfg = self.config
        if self.created_at is None:
            self.created_at = now
            self.recommendations.append((now, current))  # the HPA's recordInitialRecommendation
        metrics = {t.label: float(figures.value(t)) for t in cfg.triggers}
        active = [t for t in cfg.triggers if metrics[t.label] > t.activation]
        note = ""

        if active:
            self.last_active = now
            if current == 0:
                to = cfg.min_replicas if cfg.min_replicas > 0 else 1
                return Decision(to, True, f"activated by {_describe_activity(active, metrics)}: 0 -> {to}", metrics)
        elif current > 0 and cfg.min_replicas == 0:
            if self._cooled_down(now):
                if self.last_active is None:
                    since = f"no trigger active since start, initialCooldownPeriod {cfg.initial_cooldown_s:g}s"
                else:
                    since = f"inactive for {now - self.last_active:.0f}s, cooldownPeriod {cfg.cooldown_s:g}s"
                return Decision(0, False, f"cooldown over ({since}): {current} -> 0", metrics)
            note = f"; inactive, cooling down ({self._cooldown_left(now):.0f}s to zero)"
        elif current < cfg.min_replicas:
            return Decision(
                cfg.min_replicas, False, f"inactive, below minReplicaCount: {current} -> {cfg.min_replicas}", metrics
            )
        if current == 0:
            return Decision(0, False, "idle: no trigger active", metrics)

        replicas, reason = self._hpa(metrics, current, now)
        return Decision(replicas, bool(active), reason + note, metrics)

    # -- KEDA operator ---------------------------------------------------------------------------

    def _cooled_down(self, now: float) -> bool:
        """``scaleToZeroOrIdle``: cooldown since the last activity, or initial cooldown since creation."""
        if self.last_active is None:
            created = now if self.created_at is None else self.created_at
            return now - created >= self.config.initial_cooldown_s
        return self.last_active + self.config.cooldown_s < now

    def _cooldown_left(self, now: float) -> float:
        if self.last_active is None:
            end = (now if self.created_at is None else self.created_at) + self.config.initial_cooldown_s
        else:
            end = self.last_active + self.config.cooldown_s
        return max(end - now, 0.0)

    # -- HPA ---------------------------------------------------------------------------------------

    def _hpa(self, metrics: Mapping[str, float], current: int, now: float) -> tuple[int, str]:
        cfg = self.config
        low, high = max(1, cfg.min_replicas), cfg.max_replicas
        if current > high:
            self._record_scale(current, high, now)
            return high, f"above maxReplicaCount: {current} -> {high}"
        if current < low:
            self._record_scale(current, low, now)
            return low, f"below the HPA minimum: {current} -> {low}"

        proposals = [(self._proposal(t, metrics[t.label], current), t) for t in cfg.triggers]
        (desired, raw, ratio), top = max(proposals, key=lambda p: p[0][0])
        value = metrics[top.label]
        reason = f"{top.mode} {value:g} on {top.stream} / {top.target}"
        if desired == current and raw != current:
            reason += f": ratio {ratio:.2f} within tolerance, stays {current}"
        else:
            reason += f" -> {desired}"

        stabilized, window = self._stabilize(desired, current, now)
        if stabilized != desired:
            reason += f", held at {stabilized} by the {window} stabilisation window"
        final, limit = self._limit(stabilized, current, now)
        if final != stabilized:
            reason += f", {limit}"
        if final != current:
            self._record_scale(current, final, now)
        return final, reason

    def _proposal(self, trigger: Trigger, value: float, current: int) -> tuple[int, int, float]:
        """(replicas proposed, before tolerance, usage ratio) for one metric (``replica_calculator.go``)."""
        target = float(trigger.target)
        if trigger.metric_type == "AverageValue":  # GetExternalPerPodMetricReplicas
            ratio = value / (target * current)
            raw = math.ceil(value / target)
        else:  # GetExternalMetricReplicas
            ratio = value / target
            raw = math.ceil(ratio * current)
        within = 1.0 - self.config.scale_down.tolerance <= ratio <= 1.0 + self.config.scale_up.tolerance
        return (current if within else raw), raw, ratio

    def _stabilize(self, desired: int, current: int, now: float) -> tuple[int, str]:
        """``stabilizeRecommendationWithBehaviors``: clamp between the windows' lowest/highest recommendations."""
        up_window = self.config.scale_up.stabilization_window_s
        down_window = self.config.scale_down.stabilization_window_s
        up = down = desired
        for at, recommendation in self.recommendations:
            if at > now - up_window:
                up = min(up, recommendation)
            if at > now - down_window:
                down = max(down, recommendation)
        stabilized = min(max(current, up), down)  # current, raised to `up`, then lowered to `down`
        held = f"scale-down ({down_window:g}s)" if stabilized > desired else f"scale-up ({up_window:g}s)"
        oldest = now - max(up_window, down_window)
        self.recommendations = [(at, r) for at, r in self.recommendations if at >= oldest]
        self.recommendations.append((now, desired))
        return stabilized, held

    def _limit(self, desired: int, current: int, now: float) -> tuple[int, str]:
        """``convertDesiredReplicasWithBehaviorRate``: rate policies, then the HPA's bounds."""
        cfg = self.config
        low, high = max(1, cfg.min_replicas), cfg.max_replicas
        if desired > current:
            limit = max(self._period_limit(cfg.scale_up, current, now, up=True), current)
            allowed, why = (
                (limit, f"scale-up policy allows {limit}") if high > limit else (high, f"clamped to max {high}")
            )
            if desired > allowed:
                return allowed, why
        elif desired < current:
            limit = min(self._period_limit(cfg.scale_down, current, now, up=False), current)
            allowed, why = (
                (limit, f"scale-down policy allows {limit}") if low < limit else (low, f"raised to min {low}")
            )
            if desired < allowed:
                return allowed, why
        return desired, ""

    def _period_limit(self, rules: ScalingRules, current: int, now: float, *, up: bool) -> int:
        """``calculateScale{Up,Down}Limit...``: what each policy allows from its period's start; Max/Min picks."""
        if rules.select_policy == "Disabled":
            return current
        proposals: list[int] = []
        for policy in rules.policies:
            added = _changes_since(self.scale_up_events, now - policy.period_s)
            removed = _changes_since(self.scale_down_events, now - policy.period_s)
            start = current - added + removed
            if up:
                step = start + policy.value if policy.type == "Pods" else math.ceil(start * (1 + policy.value / 100))
            else:
                step = start - policy.value if policy.type == "Pods" else int(start * (1 - policy.value / 100))
            proposals.append(step)
        if not proposals:
            return current
        # Max picks the policy allowing the biggest change: the highest count up, the lowest down.
        return max(proposals) if up == (rules.select_policy == "Max") else min(proposals)

    def _record_scale(self, before: int, after: int, now: float) -> None:
        """``storeScaleEvent``: remember the HPA's own changes for the rate policies."""
        keep = now - max(self.config.scale_up.longest_period_s, self.config.scale_down.longest_period_s)
        self.scale_up_events = [(at, n) for at, n in self.scale_up_events if at >= keep]
        self.scale_down_events = [(at, n) for at, n in self.scale_down_events if at >= keep]
        if after > before:
            self.scale_up_events.append((now, after - before))
        elif after < before:
            self.scale_down_events.append((now, before - after))


def _changes_since(events: Iterable[tuple[float, int]], cutoff: float) -> int:
    return sum(n for at, n in events if at > cutoff)


def _describe_activity(triggers: Sequence[Trigger], metrics: Mapping[str, float]) -> str:
    return ", ".join(f"{t.mode} {metrics[t.label]:g} > {t.activation} on {t.stream}" for t in triggers)
