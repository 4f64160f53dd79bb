"""The soak benchmark at a small scale, so it keeps working: a minute of mixed work under faults."""

from __future__ import annotations

import pytest

from bench import soak

pytestmark = pytest.mark.slow


async def test_a_minute_of_faults_loses_nothing_and_answers_nothing_twice() -> None:
    """Runners killed, Redis SIGKILLed and restarted from its AOF, Hub 5xx and slow windows and
    LLM 429s while people keep mentioning agents: every mention is answered exactly once."""
    figures = await soak.run(minutes=1.0)

    assert figures["mentions"] >= 50
    assert (figures["lost"], figures["duplicates"]) == (0, 0), figures
    assert figures["fault_errors"] == []
    assert figures["faults"] == {"runner_kill": 1, "hub_5xx": 1, "llm_429": 1, "hub_slow": 1, "redis_restart": 1}
    assert figures["replies"] == figures["mentions"]
