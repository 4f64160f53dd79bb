"""The emulated KEDA + HPA: decisions on recorded figures against KEDA's formula, the
ScaledObject loader, and the figures read from a real redis-server.

Every expected replica count is worked out by hand in the comments next to it, from the
rules in ``local_emulator.keda``'s docstring. Time is passed in: nothing here sleeps.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from local_emulator.keda import (
    ACCEPTED_METADATA_KEYS,
    SCALE_DOWN_DEFAULT,
    SCALE_UP_DEFAULT,
    Autoscaler,
    Figures,
    ManifestError,
    ScalerConfig,
    ScalingPolicy,
    ScalingRules,
    Trigger,
    default_config,
    load_scaled_object,
    read_figures,
)
from shared.events import Priority
from shared.streams import Redis, StreamKeys
from tests.support import ROOT

HIGH = "botburrow:activations:high"
LAG = Trigger(stream=HIGH, consumer_group="runners", mode="lag", target=5, activation=0)
PENDING = Trigger(stream=HIGH, consumer_group="runners", mode="pending", target=5, activation=0)
FAST_UP = ScalingRules(stabilization_window_s=0, policies=(ScalingPolicy(type="Pods", value=100, period_s=15),))
"""A scale-up policy that never binds below 100 replicas, to see the bare formula."""


def config(**overrides: Any) -> ScalerConfig:
    """Lag + pending on one stream, targets 5, bounds 0..10, cooldown 30 s, scale-down window 60 s."""
    base: dict[str, Any] = {
        "triggers": (LAG, PENDING),
        "min_replicas": 0,
        "max_replicas": 10,
        "polling_interval_s": 5.0,
        "cooldown_s": 30.0,
        "scale_down": ScalingRules(stabilization_window_s=60, policies=SCALE_DOWN_DEFAULT.policies),
    }
    base.update(overrides)
    return ScalerConfig(**base)


def figures(lag: int, pending: int) -> Figures:
    return Figures(lag={HIGH: lag}, pending={HIGH: pending})


def run(scaler: Autoscaler, steps: Sequence[tuple[float, int, int]], *, current: int = 0) -> list[int]:
    """Feed (now, lag, pending) in order, applying each decision as the supervisor would."""
    out = []
    for now, lag, pending in steps:
        current = scaler.decide(figures(lag, pending), current=current, now=now).replicas
        out.append(current)
    return out


# -- activation (KEDA operator) ---------------------------------------------------------------


def test_first_undelivered_entry_wakes_one_runner() -> None:
    scaler = Autoscaler(config())
    idle = scaler.decide(figures(0, 0), current=0, now=0)
    assert (idle.replicas, idle.active) == (0, False)
    woken = scaler.decide(figures(1, 0), current=0, now=5)  # lag 1 > activationLagCount 0
    assert (woken.replicas, woken.active) == (1, True)
    assert "activated" in woken.reason and HIGH in woken.reason
    assert woken.metrics == {f"lag:{HIGH}": 1.0, f"pending:{HIGH}": 0.0}
    # Next poll, the HPA: lag ceil(1/5) = 1, pending ceil(0/5) = 0 -> max 1: stays 1.
    assert run(scaler, [(10, 1, 0)], current=1) == [1]


def test_activation_threshold_is_strictly_greater() -> None:
    only_lag = Trigger(stream=HIGH, consumer_group="runners", mode="lag", target=5, activation=10)
    scaler = Autoscaler(config(triggers=(only_lag,)))
    assert run(scaler, [(0, 10, 0), (5, 11, 0)]) == [0, 1]  # 10 > 10 is false; 11 > 10 is true


def test_pending_alone_cannot_wake_from_zero_but_leftover_pending_does() -> None:
    scaler = Autoscaler(config(triggers=(PENDING,)))
    # With no runner nothing is delivered, so nothing is pending: lag 12 is invisible to a pending trigger.
    assert run(scaler, [(0, 12, 0)]) == [0]
    # Entries a dead runner left pending do count (pending 2 > activationLagCount 0).
    assert run(scaler, [(5, 12, 2)]) == [1]


def test_min_replicas_wake_straight_to_the_minimum() -> None:
    scaler = Autoscaler(config(min_replicas=2))
    assert run(scaler, [(0, 50, 0)]) == [2]  # scaleFromZeroOrIdle: minReplicaCount when > 0


# -- scaling (HPA) ------------------------------------------------------------------------------


def test_growth_is_ceil_lag_over_lag_count_clamped_at_max() -> None:
    scaler = Autoscaler(config(scale_up=FAST_UP))
    got = run(
        scaler,
        [
            (0, 37, 0),  # activation: 0 -> 1
            (5, 37, 0),  # ratio 37/(5*1) = 7.4 outside tolerance -> ceil(37/5) = 8
            (10, 80, 8),  # lag ceil(80/5) = 16, pending ceil(8/5) = 2 -> 16, clamped to max 10
            (15, 200, 10),  # ceil(200/5) = 40 -> 10
        ],
    )
    assert got == [1, 8, 10, 10]
    last = scaler.decide(figures(80, 8), current=10, now=20)
    assert last.reason == f"lag 80 on {HIGH} / 5 -> 16, clamped to max 10"


def test_default_scale_up_policy_adds_four_pods_or_doubles_per_15_s() -> None:
    scaler = Autoscaler(config(max_replicas=100))
    got = run(
        scaler,
        [
            (0, 100, 0),  # activation: 0 -> 1
            (5, 100, 0),  # desired ceil(100/5) = 20; limit max(1+4, ceil(1*2)) = 5
            (10, 100, 0),  # +4 at t=5 is inside the 15 s period: start 1, limit 5 again
            (21, 100, 0),  # t=5 has left the period: start 5, limit max(9, 10) = 10
            (26, 100, 0),  # +5 at t=21 inside: start 5, limit 10
            (37, 100, 0),  # start 10, limit max(14, 20) = 20 = desired
        ],
    )
    assert got == [1, 5, 5, 10, 10, 20]


def test_pending_keeps_runners_while_lag_is_zero() -> None:
    scaler = Autoscaler(config())
    got = run(
        scaler,
        [
            (0, 0, 20),  # pending 20/(5*4) = 1.0 -> 4; lag 0 -> 0; max 4. Active: pending 20 > 0
            (5, 0, 20),
            (100, 0, 20),  # long past any cooldown, still active: nothing stops
            (105, 0, 0),  # inactive; last active 100, 100+30 < 105 is false: HPA wants 0 but the
            #               scale-down window holds the 4 recommended at t=100
            (131, 0, 0),  # 100+30 < 131: cooldown over -> 0
        ],
        current=4,
    )
    assert got == [4, 4, 4, 4, 0]


def test_tolerance_skips_changes_within_ten_percent() -> None:
    scaler = Autoscaler(config())
    at_edge = scaler.decide(figures(22, 0), current=4, now=0)  # 22/(5*4) = 1.10 <= 1 + 0.1: stays
    assert at_edge.replicas == 4
    assert "within tolerance" in at_edge.reason
    past_edge = scaler.decide(figures(23, 0), current=4, now=5)  # 23/20 = 1.15 -> ceil(23/5) = 5
    assert past_edge.replicas == 5
    # Downwards: 23/(5*5) = 0.92 >= 0.9 stays 5; pending 18/(5*5) = 0.72 -> ceil(3.6) = 4, but the
    # lag proposal (5) is the larger, and the HPA takes the largest.
    assert run(scaler, [(10, 23, 0), (15, 23, 18)], current=5) == [5, 5]


def test_scale_down_waits_for_the_stabilisation_window() -> None:
    scaler = Autoscaler(config())
    got = run(
        scaler,
        [
            (0, 40, 0),  # 40/(5*8) = 1.0 -> 8
            (5, 0, 10),  # desired ceil(10/5) = 2, but 8 was recommended within 60 s: held at 8
            (30, 0, 10),
            (55, 0, 10),  # t=0 is still inside (55-60, 55]
            (65, 0, 10),  # the window (5, 65] holds only 2s: 8 -> 2 (scale-down policy: -100 %/15 s)
        ],
        current=8,
    )
    assert got == [8, 8, 8, 8, 2]
    held = Autoscaler(config())
    held.decide(figures(40, 0), current=8, now=0)
    assert (
        "held at 8 by the scale-down (60s) stabilisation window" in held.decide(figures(0, 10), current=8, now=5).reason
    )


def test_cooldown_before_zero() -> None:
    scaler = Autoscaler(config())
    got = run(
        scaler,
        [
            (0, 3, 0),  # activation 0 -> 1
            (5, 0, 3),  # the runner took all three: lag 0, pending 3 still active; ceil(3/5) = 1
            (10, 0, 0),  # inactive; cooling down (last active 5): the HPA keeps its minimum of 1
            (35, 0, 0),  # 5 + 30 < 35 is false: still 1
            (40, 0, 0),  # 5 + 30 < 40: scale to zero
            (45, 0, 0),  # stays at zero: nothing active
        ],
    )
    assert got == [1, 1, 1, 1, 0, 0]
    cooling = Autoscaler(config())
    cooling.decide(figures(3, 0), current=0, now=0)
    assert "cooling down (25s to zero)" in cooling.decide(figures(0, 0), current=1, now=5).reason


def test_min_replicas_is_a_floor_and_never_zero() -> None:
    scaler = Autoscaler(config(min_replicas=2))
    got = run(
        scaler,
        [
            (0, 0, 0),  # inactive and below minReplicaCount: KEDA sets 2
            (5, 0, 0),  # HPA wants 0, raised to its minimum 2
            (1000, 0, 0),  # long past cooldownPeriod: KEDA only scales to zero when min is 0
            (1005, 1, 0),  # active: ceil(1/5) = 1, raised to 2
        ],
    )
    assert got == [2, 2, 2, 2]
    assert run(scaler, [(1010, 0, 0)], current=1) == [2]  # a runner died: back to the minimum


def test_never_active_target_goes_to_zero_after_initial_cooldown() -> None:
    assert run(Autoscaler(config()), [(0, 0, 0)], current=3) == [0]  # initialCooldownPeriod 0: at once
    scaler = Autoscaler(config(initial_cooldown_s=60))
    # HPA meanwhile: desired 0, held at 3 by the initial recommendation (3 at t=0) in the 60 s window.
    assert run(scaler, [(0, 0, 0), (59, 0, 0), (60, 0, 0)], current=3) == [3, 3, 0]


def test_value_metric_type_scales_the_ratio_by_current() -> None:
    value = Trigger(stream=HIGH, consumer_group="runners", mode="lag", target=5, metric_type="Value")
    scaler = Autoscaler(config(triggers=(value,), scale_up=FAST_UP))
    # Value targets: ratio 20/5 = 4 -> ceil(4 * 2) = 8 (AverageValue would say ceil(20/5) = 4).
    assert run(scaler, [(0, 20, 0)], current=2) == [8]


def test_disabled_scale_down_policy_leaves_it_to_keda() -> None:
    frozen = ScalingRules(stabilization_window_s=0, select_policy="Disabled", policies=SCALE_DOWN_DEFAULT.policies)
    scaler = Autoscaler(config(scale_down=frozen))
    # pending 5 -> 1 wanted, the HPA may not scale down; once inactive for 30 s KEDA still goes to 0.
    assert run(scaler, [(0, 0, 5), (5, 0, 0), (36, 0, 0)], current=5) == [5, 5, 0]


def test_above_max_is_brought_back_without_metrics() -> None:
    assert run(Autoscaler(config()), [(0, 1, 0)], current=14) == [10]


def test_default_config() -> None:
    cfg = default_config("demo")
    streams = [f"demo:activations:{p}" for p in ("high", "normal", "low")]
    assert [(t.stream, t.mode, t.target, t.activation) for t in cfg.triggers] == [
        (s, m, 5, 0) for s in streams for m in ("lag", "pending")
    ]
    assert {t.consumer_group for t in cfg.triggers} == {"runners"}
    assert (cfg.min_replicas, cfg.max_replicas, cfg.polling_interval_s, cfg.cooldown_s) == (0, 10, 1.0, 30.0)
    assert cfg.scale_down.stabilization_window_s == 30 and cfg.scale_up == SCALE_UP_DEFAULT


def test_config_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="min <= max"):
        config(min_replicas=11)
    with pytest.raises(ValueError, match="positive"):
        Trigger(stream=HIGH, consumer_group="runners", mode="lag", target=0)
    with pytest.raises(ValueError, match="two consumer groups"):
        config(triggers=(LAG, Trigger(stream=HIGH, consumer_group="other", mode="pending", target=5)))


# -- the manifest -----------------------------------------------------------------------------

MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: botburrow-runner
spec:
  replicas: 0
  selector:
    matchLabels: {app: botburrow-runner}
  template:
    metadata:
      labels: {app: botburrow-runner}
    spec:
      terminationGracePeriodSeconds: 900
      containers:
        - name: runner
          image: botburrow-agents:latest
          command: ["botburrow-runner"]
---
apiVersion: keda.sh/v1alpha1
kind: TriggerAuthentication
metadata:
  name: botburrow-redis
spec:
  secretTargetRef:
    - parameter: password
      name: botburrow
      key: redis-password
---
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: botburrow-runner
spec:
  scaleTargetRef:
    name: botburrow-runner
  pollingInterval: 10
  cooldownPeriod: 600
  minReplicaCount: 0
  maxReplicaCount: 20
  advanced:
    horizontalPodAutoscalerConfig:
      behavior:
        scaleDown:
          stabilizationWindowSeconds: 120
          tolerance: 50m
          policies:
            - type: Pods
              value: 2
              periodSeconds: 60
  triggers:
    - type: redis-streams
      name: high-lag
      authenticationRef: {name: botburrow-redis}
      metadata:
        addressFromEnv: REDIS_ADDRESS
        stream: botburrow:activations:high
        consumerGroup: runners
        lagCount: "5"
        activationLagCount: "0"
    - type: redis-streams
      name: high-pending
      authenticationRef: {name: botburrow-redis}
      metadata:
        addressFromEnv: REDIS_ADDRESS
        stream: botburrow:activations:high
        consumerGroup: runners
        pendingEntriesCount: "10"
    - type: redis-streams
      name: normal-lag
      authenticationRef: {name: botburrow-redis}
      metadata:
        address: redis.botburrow.svc:6379
        enableTLS: "false"
        databaseIndex: "0"
        stream: botburrow:activations:normal
        consumerGroup: runners
        lagCount: "5"
        activationLagCount: "2"
"""


def write(tmp_path: Path, documents: str | list[Any]) -> Path:
    path = tmp_path / "runner.yaml"
    path.write_text(documents if isinstance(documents, str) else yaml.safe_dump_all(documents, sort_keys=False))
    return path


def test_load_scaled_object(tmp_path: Path) -> None:
    cfg = load_scaled_object(write(tmp_path, MANIFEST), prefix="botburrow")
    assert cfg.triggers == (
        Trigger(stream=HIGH, consumer_group="runners", mode="lag", target=5, activation=0, name="high-lag"),
        Trigger(stream=HIGH, consumer_group="runners", mode="pending", target=10, activation=0, name="high-pending"),
        Trigger(
            stream="botburrow:activations:normal",
            consumer_group="runners",
            mode="lag",
            target=5,
            activation=2,
            name="normal-lag",
        ),
    )
    assert (cfg.min_replicas, cfg.max_replicas, cfg.polling_interval_s, cfg.cooldown_s) == (0, 20, 10.0, 600.0)
    assert cfg.initial_cooldown_s == 0
    assert cfg.scale_down == ScalingRules(
        stabilization_window_s=120, policies=(ScalingPolicy(type="Pods", value=2, period_s=60),), tolerance=0.05
    )
    assert cfg.scale_up == SCALE_UP_DEFAULT


def test_load_applies_keda_defaults(tmp_path: Path) -> None:
    docs = list(yaml.safe_load_all(MANIFEST))
    spec = docs[2]["spec"]
    for key in ("pollingInterval", "cooldownPeriod", "minReplicaCount", "maxReplicaCount", "advanced"):
        del spec[key]
    cfg = load_scaled_object(write(tmp_path, docs))
    assert (cfg.min_replicas, cfg.max_replicas, cfg.polling_interval_s, cfg.cooldown_s) == (0, 100, 30.0, 300.0)
    assert (cfg.scale_up, cfg.scale_down) == (SCALE_UP_DEFAULT, SCALE_DOWN_DEFAULT)


def test_load_follows_kedas_mode_rules(tmp_path: Path) -> None:
    docs = list(yaml.safe_load_all(MANIFEST))
    triggers = docs[2]["spec"]["triggers"]
    triggers[0]["metadata"]["pendingEntriesCount"] = "50"  # ignored: lagCount wins
    triggers[1]["metadata"].pop("pendingEntriesCount")  # pending mode with KEDA's default 5
    triggers[2]["metadata"]["lagCount"] = "0"  # KEDA: a zero lagCount means pending mode
    cfg = load_scaled_object(write(tmp_path, docs))
    assert [(t.mode, t.target) for t in cfg.triggers] == [("lag", 5), ("pending", 5), ("pending", 5)]


def _so(docs: list[Any]) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == "ScaledObject")


def _meta(docs: list[Any], i: int) -> dict[str, Any]:
    return _so(docs)["spec"]["triggers"][i]["metadata"]  # type: ignore[no-any-return]


BROKEN: dict[str, tuple[Callable[[list[Any]], object], str, str]] = {
    "numeric metadata value": (
        lambda d: _meta(d, 0).update(lagCount=5),
        "spec.triggers[0].metadata.lagCount",
        'lagCount: "5"',
    ),
    "boolean metadata value": (
        lambda d: _meta(d, 2).update(enableTLS=False),
        "spec.triggers[2].metadata.enableTLS",
        "string",
    ),
    "misspelt key": (
        lambda d: _meta(d, 0).update(lagcount=_meta(d, 0).pop("lagCount")),
        "spec.triggers[0].metadata.lagcount",
        "did you mean lagCount",
    ),
    "no such parameter": (
        lambda d: _meta(d, 1).update(activationPendingEntriesCount="0"),
        "spec.triggers[1].metadata.activationPendingEntriesCount",
        "not a parameter",
    ),
    "other trigger type": (
        lambda d: _so(d)["spec"]["triggers"][1].update(type="redis"),
        "spec.triggers[1].type",
        "redis-streams",
    ),
    "missing consumerGroup": (
        lambda d: _meta(d, 2).pop("consumerGroup"),
        "spec.triggers[2].metadata.consumerGroup",
        "missing",
    ),
    "missing stream": (lambda d: _meta(d, 0).pop("stream"), "spec.triggers[0].metadata.stream", "missing"),
    "not a number": (
        lambda d: _meta(d, 1).update(pendingEntriesCount="ten"),
        "spec.triggers[1].metadata.pendingEntriesCount",
        "integer",
    ),
    "misspelt spec field": (
        lambda d: _so(d)["spec"].update(cooldownperiod=_so(d)["spec"].pop("cooldownPeriod")),
        "spec.cooldownperiod",
        "did you mean cooldownPeriod",
    ),
    "idleReplicaCount": (lambda d: _so(d)["spec"].update(idleReplicaCount=0), "spec.idleReplicaCount", "not modelled"),
    "min above max": (lambda d: _so(d)["spec"].update(minReplicaCount=30), "spec.minReplicaCount", "maxReplicaCount"),
    "Utilization metric": (
        lambda d: _so(d)["spec"]["triggers"][0].update(metricType="Utilization"),
        "spec.triggers[0].metricType",
        "AverageValue",
    ),
    "bad policy": (
        lambda d: _so(d)["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]["policies"][
            0
        ].update(type="Replicas"),
        "spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown.policies[0].type",
        "Pods or Percent",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_load_names_the_broken_field(tmp_path: Path, case: str) -> None:
    breaks, field, words = BROKEN[case]
    docs = list(yaml.safe_load_all(MANIFEST))
    broken = copy.deepcopy(docs)
    breaks(broken)
    with pytest.raises(ValueError) as caught:
        load_scaled_object(write(tmp_path, broken))
    assert isinstance(caught.value, ManifestError)
    assert caught.value.field == field
    assert field in str(caught.value) and words in str(caught.value)


def test_load_checks_streams_against_the_runners_prefix(tmp_path: Path) -> None:
    path = write(tmp_path, MANIFEST)
    with pytest.raises(ManifestError) as caught:
        load_scaled_object(path, prefix="demo")
    assert caught.value.field == "spec.triggers[0].metadata.stream"
    assert load_scaled_object(path, prefix=None).triggers[0].stream == HIGH  # kept as written


def test_load_needs_exactly_one_scaled_object(tmp_path: Path) -> None:
    docs = list(yaml.safe_load_all(MANIFEST))
    with pytest.raises(ValueError, match="no ScaledObject"):
        load_scaled_object(write(tmp_path, docs[:2]))
    second = copy.deepcopy(docs[2])
    second["metadata"]["name"] = "botburrow-runner-jobs"
    path = write(tmp_path, [*docs, second])
    with pytest.raises(ValueError, match="several ScaledObjects"):
        load_scaled_object(path)
    assert load_scaled_object(path, name="botburrow-runner-jobs").max_replicas == 20


def test_accepted_metadata_keys_match_the_scaler_schema() -> None:
    schema_path = ROOT.parent / "shared" / "k8s-schemas" / "keda" / "scalers-schema.json"
    if not schema_path.exists():
        pytest.skip(f"{schema_path} is not here")
    scalers = json.loads(schema_path.read_text())["scalers"]
    params = next(s["parameters"] for s in scalers if s["type"] == "redis-streams")
    expected = {p["name"] for p in params if p.get("metadataVariableReadable")}
    expected |= {f"{p['name']}FromEnv" for p in params if p.get("envVariableReadable")}
    assert expected == ACCEPTED_METADATA_KEYS


# -- figures from a real redis-server ------------------------------------------------------------


async def test_read_figures_follows_the_group(redis: Redis, keys: StreamKeys) -> None:
    high, normal, low = (keys.activations(p) for p in (Priority.HIGH, Priority.NORMAL, Priority.LOW))
    cfg = default_config(keys.prefix)
    for stream in (high, normal):
        await redis.xgroup_create(stream, "runners", id="0", mkstream=True)
    for i in range(7):
        await redis.xadd(high, {"n": str(i)})
    for i in range(2):
        await redis.xadd(low, {"n": str(i)})  # low has entries but no group: the whole stream counts

    fig = await read_figures(redis, cfg)
    assert dict(fig.lag) == {high: 7, normal: 0, low: 2}
    assert dict(fig.pending) == {high: 0, normal: 0, low: 0}

    delivered: Any = await redis.xreadgroup("runners", "runner-1", {high: ">"}, count=3)  # RESP2: [[stream, entries]]
    ids = [entry_id for entry_id, _ in delivered[0][1]]
    fig = await read_figures(redis, cfg)
    assert (fig.lag[high], fig.pending[high]) == (4, 3)

    await redis.xack(high, "runners", *ids[:2])
    fig = await read_figures(redis, cfg)
    assert (fig.lag[high], fig.pending[high]) == (4, 1)

    # And what KEDA makes of these figures, from one runner: lag ceil(4/5) = 1, pending
    # ceil(1/5) = 1, low (lag 2, no group) ceil(2/5) = 1 -> 1.
    decision = Autoscaler(cfg).decide(fig, current=1, now=0)
    assert decision.replicas == 1 and decision.active
    assert decision.metrics[f"lag:{high}"] == 4 and decision.metrics[f"pending:{high}"] == 1


async def test_read_figures_missing_stream_and_null_lag(redis: Redis, keys: StreamKeys) -> None:
    cfg = default_config(keys.prefix)
    high = keys.activations(Priority.HIGH)
    fig = await read_figures(redis, cfg)  # no stream at all: lag 0, pending 0
    assert set(fig.lag.values()) == {0} and set(fig.pending.values()) == {0}

    await redis.xgroup_create(high, "runners", id="0", mkstream=True)
    ids = [await redis.xadd(high, {"n": str(i)}) for i in range(3)]
    await redis.xdel(high, ids[1])  # deleting an undelivered entry makes Redis report lag NULL
    groups = await redis.xinfo_groups(high)
    assert groups[0]["lag"] is None
    fig = await read_figures(redis, cfg)
    assert fig.lag[high] == 0
