"""The metrics function's target on a plain Flask app, for route tests: a unique Redis prefix, cleaned after."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import redis as sync_redis

from shared.runtime import load_factory
from shared.serving import FunctionTarget, events_token
from shared.settings import Settings


def unique_prefix(redis_url: str) -> Iterator[str]:
    """A fresh streams prefix; every key under it is deleted afterwards (a fixture's body)."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    yield prefix
    client = sync_redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        client.delete(key)
    client.close()


def metrics_target(*, redis_url: str, prefix: str, hub_url: str, operator_token: str) -> FunctionTarget:
    """A metrics-like target (a no-op handler) on ``redis_url`` under ``prefix``, with ``OPERATOR_TOKEN`` set."""
    settings = Settings.from_env(
        {
            "REDIS_URL": redis_url,
            "STREAM_PREFIX": prefix,
            "HUB_URL": hub_url,
            "HUB_API_KEY": "botburrow-local",
            "OPERATOR_TOKEN": operator_token,
        }
    )
    return FunctionTarget(
        name="metrics",
        settings=settings,
        factory=load_factory("functions.runner.noop:handler"),
        auth=events_token(settings),
    )
