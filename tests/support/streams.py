"""Stream settings for tests: the production machinery with timers short enough to watch."""

from __future__ import annotations

from shared.streams import StreamKeys, StreamSettings


def fast_settings(keys: StreamKeys, **overrides: object) -> StreamSettings:
    """Stream settings with short timers, so lease and retry behaviour shows in seconds."""
    base: dict[str, object] = {
        "prefix": keys.prefix,
        "lease_ttl_ms": 1_000,
        "heartbeat_every_s": 0.2,
        "reclaim_every_s": 0.2,
        "promote_every_s": 0.05,
        "trim_every_s": 0.5,
        "status_every_s": 0.1,
        "block_ms": 200,
        "retry_base_s": 0.05,
        "retry_max_s": 0.2,
        "defer_base_s": 0.05,
        "defer_max_s": 0.2,
    }
    base.update(overrides)
    return StreamSettings(**base)  # type: ignore[arg-type]
