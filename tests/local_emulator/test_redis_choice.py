"""Which Redis the emulator runs on, and that the embedded fallback carries the runtime's Lua and version check."""

from __future__ import annotations

import pytest

from local_emulator import _redis
from local_emulator.redis_server import RedisServerMissing
from shared.streams import connect, server_version


async def test_a_given_url_is_used_as_it_is() -> None:
    with _redis.redis_for_emulator("redis://example.invalid:6379/0") as choice:
        assert (choice.url, choice.kind) == ("redis://example.invalid:6379/0", "given")


async def test_without_redis_server_the_embedded_one_runs_scripts_and_passes_the_version_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def missing() -> str:
        raise RedisServerMissing("redis-server is not on PATH")

    monkeypatch.setattr(_redis, "find_redis_server", missing)
    with _redis.redis_for_emulator(None) as choice:
        assert choice.kind == "embedded" and "local use only" in choice.detail
        redis = connect(choice.url)
        try:
            script = redis.register_script("return redis.call('INCR', KEYS[1])")
            # The first call is EVALSHA of a script the server has not seen: NOSCRIPT, then SCRIPT LOAD.
            assert [await script(keys=["n"]), await script(keys=["n"])] == [1, 2]
            assert await server_version(redis) == (7, 0, 0), "no INFO: taken as the minimum"
        finally:
            await redis.aclose()


def test_a_redis_password_never_reaches_the_emulators_log_lines() -> None:
    from local_emulator._emulator import _without_password

    assert _without_password("redis://:s3cret@redis:6379/0") == "redis://:***@redis:6379/0"
    assert _without_password("redis://user:s3cret@redis:6379/0") == "redis://user:***@redis:6379/0"
    assert _without_password("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
