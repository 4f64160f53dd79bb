"""The scale benchmark at a small scale, so it keeps working: two fleet sizes, one runner concurrency."""

from __future__ import annotations

import pytest

from bench import scale

pytestmark = pytest.mark.slow


async def test_every_tick_serves_every_agent_with_work_and_the_runner_answers_every_conversation() -> None:
    figures = await scale.run(agents=[200, 2000], concurrency=[16], answer_after_s=0.5, ticks=2, waves=5)

    assert figures["agents"] == [200, 2000]
    for size, with_work in (("200", 4), ("2000", 40)):
        tick = figures["ticks"][size]
        assert tick["agents_with_work"] == with_work
        assert tick["published"] == [with_work, with_work], "one activation per agent with work, every tick"
        assert figures["tick_cpu_ms_per_agent_with_work"][size] > 0 and figures["tick_wall_ms"][size] > 0
        redis = tick["redis"]
        assert redis["keys"] > 0 and redis["idle_bytes"] > 0 and redis["work_bytes"] > 0
    assert figures["tick_cost_growth"] > 0
    assert 0 < figures["redis_bytes_per_idle_agent"] < 2048

    [runner] = figures["runner"]
    assert runner["concurrency"] == 16 and runner["target_per_s"] == 32.0
    assert runner["conversations"] == runner["replies"] == 80, "every conversation answered"
    assert runner["errors"] == 0 and runner["outcomes"] == {"replied": 80}
    assert runner["most_in_flight"] == 16, "the runner held all its slots, and never more"
    assert runner["replies_per_s"] > 0 and runner["rss_mb"] >= runner["memory"]["idle_rss_mb"] > 0
