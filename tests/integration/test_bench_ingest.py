"""The ingest benchmark at a small scale, so it keeps working: real processes, a tick holding the poller."""

from __future__ import annotations

import pytest

from bench import ingest

pytestmark = pytest.mark.slow


async def test_signed_webhooks_are_published_while_the_tick_holds_the_poller_and_forged_ones_refused() -> None:
    figures = await ingest.run(webhooks=20, rate=50.0, tick_window_s=12)

    assert figures["published"] == figures["webhooks"] == 20
    assert figures["statuses"] == {"200": 20}
    assert figures["during_tick"] is True
    assert (figures["unsigned_status"], figures["forged_status"]) == (401, 401)
    assert figures["poller_concurrency"] == 1 and figures["ingest_concurrency"] > 1
    assert 0 < figures["p50_ms"] <= figures["p99_ms"] < 2000, "measured, not asserted tightly (a shared machine)"
