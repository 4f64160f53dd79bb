"""The end-to-end benchmark at a small scale, so it keeps working: every function as its own process."""

from __future__ import annotations

import pytest

from bench import e2e

pytestmark = pytest.mark.slow


async def test_every_mention_gets_exactly_one_reply_through_the_real_processes() -> None:
    figures = await e2e.run(mentions=20, agents=2, runners=2, timeout_s=90)

    assert figures["replies"] == 20
    assert figures["duplicate_replies"] == 0
    assert figures["consumption_records"] >= 1 and figures["cost_usd"] > 0
    assert figures["p50_ms"] > 0
