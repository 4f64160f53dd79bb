"""The functions as functions-framework targets, started the documented way."""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import flask
import functions_framework
import httpx
import orjson
import pytest

from local_emulator.hub import MockHubServer
from shared import tracing
from shared.events import ACTIVATION_COMPLETED, ActivationKind, activation_requested, from_fields, to_http
from shared.streams import Redis, StreamKeys
from tests.support import ROOT, child_env, eventually, free_port

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
CLI = Path(sys.executable).parent / "functions-framework"


@pytest.mark.slow
async def test_the_runner_target_serves_a_binary_cloudevent_over_http(
    redis: Redis, redis_url: str, keys: StreamKeys, server: MockHubServer, tmp_path: Path
) -> None:
    port = free_port()
    env = child_env(
        REDIS_URL=redis_url,
        STREAM_PREFIX=keys.prefix,
        HUB_URL=server.url,
        HUB_API_KEY="botburrow-local",
        RUNNER_HANDLER="functions.runner.noop:handler",
        EVENTS_TOKEN="events-token-7",
        LOG_LEVEL="info",
        LOG_FORMAT="json",
    )
    command = [str(CLI), "--source", "functions/runner/main.py", "--target", "runner", "--signature-type"]
    command += ["cloudevent", "--host", "127.0.0.1", "--port", str(port)]
    log = tmp_path / "runner.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=sink, stderr=sink)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:

            async def alive() -> bool:
                try:
                    return (await http.get("/healthz")).status_code == 200
                except httpx.TransportError:
                    assert process.poll() is None, log.read_text()
                    return False

            await eventually(alive, timeout_s=20)
            event = activation_requested(
                agent_id="agent-7",
                agent_name="alice",
                kind=ActivationKind.INBOX,
                requested_at=datetime.now(UTC),
                notification_ids=["n-7"],
                traceparent=TRACEPARENT,
            )
            headers, body = to_http(event, binary=True)
            unsigned = await http.post("/", headers=headers, content=body)
            assert unsigned.status_code == 401, unsigned.text
            headers["Authorization"] = "Bearer events-token-7"
            response = await http.post("/", headers=headers, content=body)
            assert response.status_code == 200, response.text
            assert response.json()["id"] == event["id"]
            assert (await http.get("/readyz")).status_code == 200
            exposition = (await http.get("/metrics")).text
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        finally:
            process.kill()
    published = [from_fields(fields) for _id, fields in await redis.xrange(keys.results)]
    assert [e["type"] for e in published] == [ACTIVATION_COMPLETED]
    assert response.json()["outcome"] == [published[0]["id"]]
    assert 'botburrow_activations_total{outcome="noop"} 1.0' in exposition
    lines = [orjson.loads(line) for line in log.read_bytes().splitlines() if line.startswith(b"{")]
    finished = [line for line in lines if line.get("event") == "activation.finished"]
    assert len(finished) == 1, log.read_text()
    assert finished[0]["event_id"] == event["id"]
    assert finished[0]["agent_id"] == "agent-7"
    # the activation's own span, in the trace of the event that asked for it
    assert tracing.trace_id(finished[0]["traceparent"]) == tracing.trace_id(TRACEPARENT)
    assert "botburrow-local" not in log.read_text() and "events-token-7" not in log.read_text()


TARGETS = [
    ("runner", "runner/main.py", "EVENTS_TOKEN"),
    ("poller", "poller/main.py", None),  # PingSource ticks: no credential (shared.serving's ``ticks``)
    ("ingest", "poller/ingest.py", "INGEST_TOKEN"),
    ("metrics", "metrics/main.py", "EVENTS_TOKEN"),
]


@pytest.mark.parametrize(("name", "source", "token_variable"), TARGETS)
def test_every_function_main_is_a_cloudevent_target_with_probes_and_its_auth(
    name: str, source: str, token_variable: str | None, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    """Building the app imports the handler factory and adds the probes and the auth check; nothing starts yet."""
    for variable, value in {
        "REDIS_URL": redis_url,
        "HUB_API_KEY": "botburrow-local",
        "LOG_FORMAT": "console",
        "LOG_LEVEL": "debug",
        "FUNCTION_TARGET": name,
        "FUNCTION_SIGNATURE_TYPE": "cloudevent",
        **({token_variable: "PRIVATE-TOKEN"} if token_variable else {}),
    }.items():
        monkeypatch.setenv(variable, value)
    app = functions_framework.create_app(target=name, source=str(ROOT / "functions" / source))
    assert isinstance(app, flask.Flask)
    client = app.test_client()
    assert client.get("/healthz").get_json() == {"status": "ok", "function": name}
    bearer = {"authorization": "Bearer PRIVATE-TOKEN"} if token_variable else {}
    if token_variable:
        refused = client.post("/", data=b"PRIVATE", headers={"content-type": "text/plain"})
        assert refused.status_code == 401 and b"PRIVATE" not in refused.data, "authenticated before parsing"
        assert refused.get_json()["error"] == "unauthenticated"
    rejected = client.post("/", data=b"PRIVATE", headers={"content-type": "text/plain", **bearer})
    assert rejected.status_code == 400 and b"PRIVATE" not in rejected.data
    assert rejected.get_json()["field"] == "specversion"
