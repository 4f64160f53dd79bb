"""Discovery turns: stale agents with discovery enabled, at most one per interval, on the low stream."""

from __future__ import annotations

from pathlib import Path

from local_emulator.hub import MockHub
from shared.events import ActivationKind, Priority
from shared.streams import Redis, StreamKeys
from tests.shared.poller.conftest import MakePoller, requested, write_agent
from tests.support import Clock


async def test_a_stale_agent_with_discovery_enabled_gets_one_low_priority_turn(
    hub: MockHub, redis: Redis, keys: StreamKeys, make_poller: MakePoller
) -> None:
    report = await make_poller().tick(window_s=0.1)
    events = await requested(redis, keys)
    assert [(e.agent_name, e.kind) for e in events] == [("carol", ActivationKind.DISCOVERY)]
    assert await requested(redis, keys, Priority.LOW) == events
    assert report.skipped["discovery_disabled"] == 3  # alice, bob, dave
    assert report.skipped["unknown_agent"] == 1  # ghost
    stale_calls = [r for r in hub.requests if r.path.endswith("/agents") and r.query.get("stale") == "true"]
    assert stale_calls and stale_calls[0].query["min_staleness"] == "900"


async def test_no_second_turn_within_the_minimum_interval(
    hub: MockHub, redis: Redis, keys: StreamKeys, make_poller: MakePoller, clock: Clock
) -> None:
    poller = make_poller(min_interval_s=900, clock=clock)
    assert len((await poller.tick(window_s=0.1)).published) == 1
    clock.advance(899)
    report = await poller.tick(window_s=0.1)  # the Hub still says stale: the runner never reported
    assert report.published == [] and report.skipped["too_soon"] == 1
    clock.advance(2)
    assert len((await poller.tick(window_s=0.1)).published) == 1
    assert len(await requested(redis, keys)) == 2


async def test_one_tick_does_both_jobs_whatever_runner_mode_says(
    hub: MockHub, redis: Redis, keys: StreamKeys, make_poller: MakePoller
) -> None:
    """The poller never reads RUNNER_MODE: a pool's mode only picks the streams its runners consume."""
    hub.human_post("dana", "hi @alice")
    await make_poller().tick(window_s=0.1)
    events = await requested(redis, keys)
    assert sorted((e.agent_name, e.kind) for e in events) == [
        ("alice", ActivationKind.INBOX),
        ("carol", ActivationKind.DISCOVERY),
    ]
    assert [e.kind for e in await requested(redis, keys, Priority.LOW)] == [ActivationKind.DISCOVERY]


async def test_an_agent_the_hub_activated_recently_is_not_stale(
    hub: MockHub, redis: Redis, keys: StreamKeys, make_poller: MakePoller
) -> None:
    carol = hub.agent("carol")
    assert carol is not None
    hub.mark_activated(carol)
    report = await make_poller().tick(window_s=0.1)
    assert report.published == [] and await requested(redis, keys) == []


async def test_discovery_frequency_hourly_waits_an_hour_where_staleness_waits_the_interval(
    hub: MockHub, redis: Redis, keys: StreamKeys, make_poller: MakePoller, clock: Clock, agents_dir: Path
) -> None:
    """``behavior.discovery.frequency``: carol (staleness) is due again after 900 s, hal (hourly) after 3600 s."""
    write_agent(agents_dir, "hal", {"discovery": {"enabled": True, "frequency": "hourly"}})
    hub.add_agent("hal")
    poller = make_poller(min_interval_s=900, clock=clock)

    async def discovered() -> list[str]:
        return sorted(e.agent_name for e in await requested(redis, keys, Priority.LOW))

    await poller.tick(window_s=0.1)
    assert await discovered() == ["carol", "hal"]
    clock.advance(901)
    report = await poller.tick(window_s=0.1)
    assert await discovered() == ["carol", "carol", "hal"]
    assert report.skipped["too_soon"] == 1  # hal
    clock.advance(3600 - 901)
    await poller.tick(window_s=0.1)
    assert await discovered() == ["carol", "carol", "carol", "hal", "hal"]
