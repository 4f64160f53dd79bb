"""Building a Hub client: from settings, refusing nonsense, and never showing a key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import structlog

from local_emulator.hub import MockHub, MockHubServer
from shared.errors import ConfigurationError, HubAuthError, HubUnavailable
from shared.hub import HubClient
from shared.settings import HubSettings, Secret
from tests.support import Sleeps, hub_client


async def test_from_settings_reads_the_per_agent_key_file(server: MockHubServer, hub: MockHub, tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"alice": hub.require_agent("alice").api_key}))
    settings = HubSettings(url=server.url, api_key=Secret(hub.api_key), agent_keys_file=keys, max_attempts=2)
    async with HubClient.from_settings(settings) as client:
        await client.create_post("alice", "with alice's key", idempotency_key="e:1")
        await client.create_post("bob", "with the service key", idempotency_key="e:2")
    assert [(r.auth, r.agent_id) for r in hub.requests] == [
        ("agent", hub.require_agent("alice").id),
        ("service", hub.require_agent("bob").id),
    ]


@pytest.mark.parametrize("content", ["not json sk-leak-7f3a", '["sk-leak-7f3a"]', '{"alice": ["sk-leak-7f3a"]}'])
def test_a_bad_key_file_is_a_configuration_error(tmp_path: Path, content: str) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text(content)
    with pytest.raises(ConfigurationError, match="HUB_AGENT_KEYS_FILE") as caught:
        HubClient.from_settings(HubSettings(agent_keys_file=keys))
    assert "sk-leak-7f3a" not in str(caught.value), "the file's content is not echoed"


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"base_url": "hub:8000", "api_key": "k"}, "http"),
        ({"base_url": "http://", "api_key": "k"}, "host"),
        ({"base_url": "http://hub", "api_key": None}, "service key"),
        ({"base_url": "http://hub", "api_key": "k", "max_attempts": 0}, "max_attempts"),
    ],
)
def test_unusable_settings_fail_at_construction(options: dict[str, object], problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem):
        HubClient(**options)  # type: ignore[arg-type]


async def test_repr_shows_no_key() -> None:
    async with HubClient(base_url="http://hub/", api_key="sk-service-secret", agent_keys={"a": "sk-agent"}) as client:
        text = repr(client)
    assert "sk-" not in text
    assert "http://hub/api/v1" in text


async def test_no_key_reaches_the_logs(server: MockHubServer, hub: MockHub) -> None:
    """Checked before the redactor: the client never hands a key to a log call in the first place."""
    hub.fail("/api/v1/posts", method="POST", status=503)
    hub.fail("/api/v1/health", status=500, times=10)
    alice_key = hub.require_agent("alice").api_key
    with structlog.testing.capture_logs() as logs:
        async with hub_client(server.url, agent_keys={"alice": alice_key}, sleep=Sleeps()) as client:
            await client.create_post("alice", "x", idempotency_key="e:1")
            with pytest.raises(HubUnavailable):
                await client.health()
        async with hub_client(server.url, api_key="sk-wrong-secret") as client:
            with pytest.raises(HubAuthError):
                await client.notifications("alice")
    assert {"hub.retry", "hub.gave_up", "hub.request"} <= {entry["event"] for entry in logs}
    for key in (alice_key, "sk-wrong-secret", hub.api_key):
        assert key not in repr(logs)
