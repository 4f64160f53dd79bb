"""Runner processes killed with SIGKILL at random while events flow: nothing lost, nothing twice.

The same harness as ``python -m bench recovery``, with short timers so it runs in CI.
"""

from __future__ import annotations

import pytest

from bench import recovery


@pytest.mark.slow
async def test_random_sigkills_lose_nothing_and_repeat_no_effect(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    result = await recovery.run(
        events=60,
        kills=5,
        agents=8,
        publish_s=8.0,
        kill_every_s=(0.8, 2.0),
        work_s=(0.1, 0.8),
        extra_env={"LEASE_TTL_MS": "2000", "HEARTBEAT_EVERY_S": "0.4", "RECLAIM_EVERY_S": "0.4"},
        drain_timeout_s=60,
        seed=20261124,
    )
    assert result["kills"] == 5
    assert result["interrupted_events"] > 0, "some kills really did interrupt running events"
    assert result["lost"] == 0
    assert result["duplicate_effects"] == 0
    assert result["deadlettered"] == 0
    assert result["runner_exit_codes"] == [0, 0], "the survivors drained and exited cleanly"
    # A dead runner's work restarts once its lease ttl (2 s) has passed, plus a reclaim tick or
    # three. The slack is for a loaded two-core machine (4.4 s seen so); an ignored LEASE_TTL_MS
    # (10 s by default) or a reclaim that never comes still fails it. The figure: bench recovery.
    assert result["max_recovery_s"] <= 2.0 + 3 * 0.4 + 2.5
