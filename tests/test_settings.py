"""Settings: built from the environment once, every problem named, secrets never shown."""

from __future__ import annotations

import pytest

from shared.errors import ConfigurationError
from shared.events import Priority
from shared.logs import Redactor
from shared.settings import Settings, redact_url


def test_defaults_need_no_environment() -> None:
    settings = Settings.from_env({})
    assert settings.redis_url == "redis://localhost:6379/0"
    assert settings.streams.prefix == "botburrow"
    assert settings.streams.max_deliveries == 5
    assert settings.runner.concurrency == 16
    assert settings.metrics_port == 9090


def test_values_are_read_and_converted() -> None:
    settings = Settings.from_env(
        {
            "REDIS_URL": "redis://:hunter22@redis:6379/2",
            "STREAM_PREFIX": "staging",
            "MAX_DELIVERIES": "3",
            "LEASE_TTL_MS": "20000",
            "PRIORITY_WEIGHTS": "high=8, normal=2, low=1",
            "RUNNER_CONCURRENCY": "4",
            "METRICS_PORT": "0",
            "LOG_FORMAT": "console",
        }
    )
    assert settings.streams.prefix == "staging"
    assert settings.streams.max_deliveries == 3
    assert settings.streams.lease_ttl_ms == 20_000
    assert settings.streams.weights == {Priority.HIGH: 8, Priority.NORMAL: 2, Priority.LOW: 1}
    assert settings.runner.concurrency == 4
    assert settings.metrics_port is None
    assert not settings.log_json


def test_every_bad_variable_is_named_at_once() -> None:
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env(
            {
                "MAX_DELIVERIES": "many",
                "RUNNER_GRACE_PERIOD_S": "-1",
                "PRIORITY_WEIGHTS": "urgent=1",
                "RUNNER_HANDLER": "not a path",
                "LOG_LEVEL": "loud",
            }
        )
    message = str(info.value)
    assert "MAX_DELIVERIES='many': must be a whole number" in message
    assert "RUNNER_GRACE_PERIOD_S='-1': must be at least 0" in message
    assert "PRIORITY_WEIGHTS='urgent=1': unknown priority 'urgent'" in message
    assert "RUNNER_HANDLER='not a path': must be module.path:attribute" in message
    assert "LOG_LEVEL='loud'" in message


def test_inconsistent_timers_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="heartbeat_every_s must be positive and at most half"):
        Settings.from_env({"LEASE_TTL_MS": "1000", "HEARTBEAT_EVERY_S": "0.9"})


def test_the_redis_password_never_shows() -> None:
    settings = Settings.from_env({"REDIS_URL": "redis://app:hunter22@redis:6379/0"})
    assert "hunter22" not in repr(settings)
    assert "redis://app:***@redis:6379/0" in repr(settings)
    assert settings.secrets() == ["hunter22"]
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env({"REDIS_URL": "http://app:hunter22@redis"})
    assert "hunter22" not in str(info.value)


def test_log_redactor_masks_by_name_by_url_and_by_value() -> None:
    redact = Redactor(["s3cr3t-value"])
    event = redact(
        None,
        "info",
        {
            "event": "x",
            "api_key": "sk-live-123",
            "url": "redis://u:pw123@host/0",
            "note": "token s3cr3t-value leaked",
            "fencing_token": 7,
        },
    )
    assert event["api_key"] == "***"
    assert event["url"] == "redis://u:***@host/0"
    assert event["note"] == "token *** leaked"
    assert event["fencing_token"] == 7, "not every key with 'token' in it is a secret"
    assert redact_url("rediss://:pw@h:1") == "rediss://:***@h:1"
