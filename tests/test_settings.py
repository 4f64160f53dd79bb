"""Settings: built from the environment once, every problem named, secrets never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.errors import ConfigurationError
from shared.events import Priority
from shared.logs import Redactor
from shared.settings import AgentSourceSettings, RunnerMode, Secret, Settings, redact_url


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


def test_activation_settings_use_the_seed_names() -> None:
    settings = Settings.from_env(
        {
            "POLL_INTERVAL": "15",
            "RUNNER_MODE": "Notification",
            "ACTIVATION_TIMEOUT": "600",
            "MIN_ACTIVATION_INTERVAL": "120",
        }
    )
    assert settings.poller.poll_interval_s == 15
    assert settings.poller.min_activation_interval_s == 120
    assert settings.runner.mode is RunnerMode.NOTIFICATION
    assert settings.runner.activation_timeout_s == 600
    defaults = Settings.from_env({})
    assert defaults.runner.mode is RunnerMode.HYBRID
    assert defaults.hub.url == "http://127.0.0.1:8000"
    assert defaults.hub.api_key is None
    assert defaults.agents == AgentSourceSettings()


def test_bad_activation_and_hub_settings_are_named() -> None:
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env(
            {
                "RUNNER_MODE": "eager",
                "POLL_INTERVAL": "0",
                "HUB_URL": "hub.local",
                "AGENTS_DIR": "/no/such/dir",
                "HUB_AGENT_KEYS_FILE": "/no/such/file.json",
            }
        )
    message = str(info.value)
    assert "RUNNER_MODE='eager': must be one of notification, exploration, hybrid" in message
    assert "POLL_INTERVAL='0': must be at least 1" in message
    assert "HUB_URL='hub.local': must be an http:// or https:// URL" in message
    assert "AGENTS_DIR='/no/such/dir': is not a directory" in message
    assert "HUB_AGENT_KEYS_FILE='/no/such/file.json': is not a readable file" in message


def test_a_bucket_needs_all_four_r2_variables() -> None:
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env({"R2_BUCKET": "agents", "R2_SECRET_ACCESS_KEY": "r2-secret-value"})
    message = str(info.value)
    assert "R2_ENDPOINT, R2_ACCESS_KEY_ID missing" in message
    assert "r2-secret-value" not in message
    settings = Settings.from_env(
        {
            "R2_ENDPOINT": "https://acct.r2.cloudflarestorage.com/",
            "R2_ACCESS_KEY_ID": "r2-key-id",
            "R2_SECRET_ACCESS_KEY": "r2-secret-value",
            "R2_BUCKET": "agent-definitions",
            "R2_PREFIX": "prod",
        }
    )
    assert settings.agents.r2 is not None
    assert settings.agents.r2.endpoint == "https://acct.r2.cloudflarestorage.com"
    assert settings.agents.r2.secret_access_key.reveal() == "r2-secret-value"
    assert settings.agents.r2.prefix == "prod/"


def test_a_directory_and_a_bucket_together_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="choose one source of agent definitions"):
        Settings.from_env(
            {
                "AGENTS_DIR": str(tmp_path),
                "R2_ENDPOINT": "http://127.0.0.1:9000",
                "R2_ACCESS_KEY_ID": "id",
                "R2_SECRET_ACCESS_KEY": "secret",
                "R2_BUCKET": "agents",
            }
        )


def test_llm_keys_resolve_by_variable_name_but_never_the_hub_key() -> None:
    settings = Settings.from_env(
        {
            "ANTHROPIC_API_KEY": "sk-ant-value",
            "OPENAI_API_KEY": "sk-openai-value",
            "GROQ_API_KEY": "gsk-value",
            "HUB_API_KEY": "hub-service-key",
            "ANTHROPIC_BASE_URL": "http://127.0.0.1:9100",
        }
    )
    assert settings.llm.key("GROQ_API_KEY") == "gsk-value"
    assert settings.llm.key("ANTHROPIC_API_KEY") == "sk-ant-value"
    assert settings.llm.key("HUB_API_KEY") is None
    assert settings.llm.key("MISSING_API_KEY") is None
    assert settings.hub.api_key is not None and settings.hub.api_key.reveal() == "hub-service-key"
    assert settings.llm.anthropic_base_url == "http://127.0.0.1:9100"


def test_no_secret_shows_in_repr_and_all_reach_the_redactor() -> None:
    values = {
        "HUB_API_KEY": "hub-service-key",
        "ANTHROPIC_API_KEY": "sk-ant-value",
        "R2_ENDPOINT": "http://127.0.0.1:9000",
        "R2_ACCESS_KEY_ID": "r2-key-id",
        "R2_SECRET_ACCESS_KEY": "r2-secret-value",
        "R2_BUCKET": "agents",
        "REDIS_URL": "redis://:hunter22@redis:6379/0",
        "HUB_WEBHOOK_SECRET": "webhook-secret-value",
        "INGEST_TOKEN": "ingest-token-value",
        "EVENTS_TOKEN": "events-token-value",
        "OPERATOR_TOKEN": "operator-token-value",
    }
    settings = Settings.from_env(values)
    shown = repr(settings) + str(settings)
    for name, value in values.items():
        if name not in {"R2_ENDPOINT", "R2_BUCKET", "REDIS_URL"}:
            assert value not in shown, name
    assert "hunter22" not in shown
    assert sorted(settings.secrets()) == sorted(
        [
            *["hunter22", "hub-service-key", "sk-ant-value", "r2-key-id", "r2-secret-value"],
            *["webhook-secret-value", "ingest-token-value", "events-token-value", "operator-token-value"],
        ]
    )
    assert str(Secret("x")) == "Secret('***')"
