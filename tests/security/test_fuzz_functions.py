"""10,000 hostile requests per functions-framework target, in process, against the real app, Redis and mock Hub.

Each target is built the way functions-framework builds it (``tests.support.served``) and
driven through Flask's test client from a worker thread (the test's loop keeps serving the
mock Hub). Every case is checked by ``fuzz.check_answer``: never a 5xx or an escaping
exception, a broken case refused with a 4xx, nothing published on the watched streams
but by a case served 2xx, and that exactly what it should; the app still answers after.
"""

from __future__ import annotations

import asyncio
import http.client
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from cloudevents.http import CloudEvent
from hypothesis import assume, given
from hypothesis import strategies as st

from local_emulator.hub import DEFAULT_API_KEY, MockHub, MockHubServer
from shared.events import (
    ACTIVATION_COMPLETED,
    ACTIVATION_REQUESTED,
    Priority,
    activation_completed,
    notification_created,
    ping,
)
from shared.signing import SIGNATURE_HEADER, signature
from shared.streams import Redis, StreamKeys
from tests.shared.poller.conftest import AGENTS, write_agent
from tests.support import ROOT
from tests.support.fuzz import (
    FUZZ,
    Case,
    Credential,
    Kind,
    Watched,
    cases,
    check_answer,
    header_text,
    quiet_logs,
    raw_requests,
)
from tests.support.served import FRONTS, Front, Served, serve_target

pytestmark = pytest.mark.slow  # make test-fast leaves it out

FUNCTIONS = ROOT / "functions"
EVENTS_TOKEN = "PRIVATE-EVENTS-TOKEN"
INGEST_TOKEN = "PRIVATE-INGEST-TOKEN"
HUB_SECRET = "PRIVATE-HUB-SECRET"
OPERATOR_TOKEN = "PRIVATE-OPERATOR-TOKEN"
DEFINITIONS_SECRET = "PRIVATE-DEFINITIONS-SECRET"
NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
SECRETS = (EVENTS_TOKEN, INGEST_TOKEN, HUB_SECRET, OPERATOR_TOKEN, DEFINITIONS_SECRET)

ids = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=24)
not_objects = st.sampled_from([[1], "text", 7, True, [], 1.5])


@pytest.fixture
def hub_agents() -> list[str]:
    return [*AGENTS, "ghost"]


ServeFn = Callable[..., Served]


@pytest.fixture
def serve(
    monkeypatch: pytest.MonkeyPatch, redis_url: str, keys: StreamKeys, server: MockHubServer
) -> Iterator[ServeFn]:
    started: list[Served] = []

    def start(source: str, target: str, *, front: Front = "flask", **env: str) -> Served:
        full = {
            "REDIS_URL": redis_url,
            "STREAM_PREFIX": keys.prefix,
            "HUB_URL": server.url,
            "HUB_API_KEY": DEFAULT_API_KEY,
            "LOG_LEVEL": "warning",
            "LOG_FORMAT": "console",
            **env,
        }
        served = serve_target(monkeypatch, target=target, source=str(FUNCTIONS / source), env=full, front=front)
        started.append(served)
        return served

    yield start
    for served in started:
        served.close()


def watched(redis_url: str, keys: StreamKeys) -> Watched:
    return Watched(redis_url, [*(keys.activations(p) for p in Priority), keys.results, keys.dlq])


def send(served: Served, case: Case) -> tuple[int, Any]:
    """``case`` to the target: Flask's test client, or real HTTP to the ASGI front."""
    if served.front == "asgi":
        status, content = _over_the_wire(served, case)
        text, parsed = content.decode("utf-8", "replace"), _json_or_none(content)
    else:
        response = served.app.test_client().open(case.path, method=case.method, headers=case.headers, data=case.body)
        status, text, parsed = response.status_code, response.get_data(as_text=True), response.get_json(silent=True)
    for secret in SECRETS:
        assert secret not in text, f"a secret echoed for {case!r}"
    return status, parsed


def _over_the_wire(served: Served, case: Case) -> tuple[int, bytes]:
    """``case`` sent by ``http.client`` (which checks only what HTTP forbids); one a client cannot send is skipped."""
    connection = http.client.HTTPConnection(served.url.removeprefix("http://"), timeout=10)
    try:
        try:
            connection.putrequest(case.method, case.path, skip_accept_encoding=True)
            for name, value in case.headers.items():
                connection.putheader(_wire(name), _wire(value))
            connection.putheader("Content-Length", str(len(case.body)))
            connection.endheaders(case.body)
        except (ValueError, http.client.InvalidURL):
            assume(False)  # not a request anything can put on the wire
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def _wire(text: str) -> bytes:
    """A header as bytes on the wire: latin-1 where it can be (as Flask's test client sends it), else UTF-8."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode()


def _json_or_none(content: bytes) -> Any:
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return None


def still_answers(served: Served) -> None:
    for path in ("/healthz", "/readyz"):
        assert send(served, Case(kind=Kind.MAYBE, method="GET", path=path, headers={}, body=b""))[0] == 200


async def fuzz(run: Callable[[], None], served: Served) -> None:
    """Run the hypothesis loop on a worker thread (this loop serves the mock Hub meanwhile), then the probes."""
    with quiet_logs():
        await asyncio.to_thread(run)
    await asyncio.to_thread(still_answers, served)


async def test_the_runner_target_survives_hostile_requests_and_publishes_only_what_valid_ones_ask(
    serve: ServeFn, redis_url: str, keys: StreamKeys
) -> None:
    """Runner (EVENTS_TOKEN): each case served publishes one completed activation; nothing else publishes."""
    served = serve(
        "runner/main.py", "runner", RUNNER_HANDLER="functions.runner.noop:handler", EVENTS_TOKEN=EVENTS_TOKEN
    )
    streams = watched(redis_url, keys)
    events = st.builds(
        lambda t, s, d, subject: CloudEvent({"type": t, "source": s, **({"subject": subject} if subject else {})}, d),
        ids,
        ids.map(lambda s: "/" + s),
        st.dictionaries(st.text(max_size=8), st.integers(-1000, 1000) | st.text(max_size=8), max_size=3),
        st.none() | ids,
    )
    credential = Credential(token=EVENTS_TOKEN)
    served_ok = 0

    @FUZZ
    @given(
        st.one_of(
            cases(events, credential=credential, invalid_data=st.nothing()), raw_requests(["/", "/healthz", "/metrics"])
        )
    )
    def case(case: Case) -> None:
        nonlocal served_ok
        before = streams.total()
        status, body = send(served, case)
        published = streams.total() - before
        check_answer(case, status, published)
        if case.method == "POST" and case.path == "/" and 200 <= status < 300:
            served_ok += 1
            assert published == 1, case
            entry = streams.last(keys.results)
            assert ACTIVATION_COMPLETED.encode() in entry[b"type"]
            assert body["outcome"] and body["id"], case

    await fuzz(case, served)
    assert served_ok > 500, f"only {served_ok} valid cases reached the handler"
    streams.close()


@pytest.mark.parametrize("front", FRONTS)
async def test_ingest_survives_hostile_requests_and_queues_only_signed_or_tokened_notifications(
    serve: ServeFn, redis_url: str, keys: StreamKeys, hub: MockHub, tmp_path: Path, front: Front
) -> None:
    """Ingest (HMAC or INGEST_TOKEN): only valid, authenticated notifications queue, at most one activation each."""
    for name, behavior in AGENTS.items():
        write_agent(tmp_path, name, behavior)
        hub.add_notification(name, "dm", content="psst")
    served = serve(
        "poller/ingest.py",
        "ingest",
        front=front,
        HUB_WEBHOOK_SECRET=HUB_SECRET,
        INGEST_TOKEN=INGEST_TOKEN,
        AGENTS_DIR=str(tmp_path),
    )
    streams = watched(redis_url, keys)
    agents = st.sampled_from([*AGENTS, "ghost", "nobody"])
    events = st.builds(
        lambda agent, note: notification_created(at=NOW, agent_id=agent, notification=note),
        agents,
        st.fixed_dictionaries({}, optional={"type": st.sampled_from(["dm", "mention", "reply", "zzz"]), "id": ids}),
    )
    credential = Credential(token=INGEST_TOKEN, secret=HUB_SECRET)
    queued = 0

    @FUZZ
    @given(st.one_of(cases(events, credential=credential, invalid_data=not_objects), raw_requests(["/", "/healthz"])))
    def case(case: Case) -> None:
        nonlocal queued
        before = streams.total()
        status, _body = send(served, case)
        published = streams.total() - before
        check_answer(case, status, published)
        assert published <= 1, case
        if published:
            queued += 1
            assert case.kind in (Kind.VALID, Kind.MAYBE), case
            entry = next(streams.last(s) for s in (keys.activations(p) for p in Priority) if streams.length(s))
            assert ACTIVATION_REQUESTED.encode() in entry[b"type"]

    await fuzz(case, served)
    assert queued >= 1, "no valid notification ever queued an activation"
    streams.close()


async def test_the_poller_target_survives_hostile_requests_and_ticks_only_on_valid_pings(
    serve: ServeFn, redis: Redis, redis_url: str, keys: StreamKeys, tmp_path: Path
) -> None:
    """Poller (open: ticks): every valid ping is served, no broken one; with the lease held elsewhere none publishes."""
    for name, behavior in AGENTS.items():
        write_agent(tmp_path, name, behavior)
    served = serve("poller/main.py", "poller", AGENTS_DIR=str(tmp_path))
    # Another poller holds the lease: a valid tick is served at once and publishes nothing (a second tick is a no-op).
    await redis.set(f"{keys.prefix}:poller:lease", "1:someone-else", px=600_000)
    streams = watched(redis_url, keys)
    events = st.builds(lambda w: ping(at=NOW, window_s=w), st.none() | st.integers(1, 10_000))
    invalid = st.sampled_from([{"window_s": 0}, {"window_s": -3}, {"window_s": "soon"}, [1], "x", 5])

    @FUZZ
    @given(st.one_of(cases(events, credential=Credential(), invalid_data=invalid), raw_requests(["/", "/healthz"])))
    def case(case: Case) -> None:
        before = streams.total()
        status, _body = send(served, case)
        check_answer(case, status, streams.total() - before, may_publish=False)

    await fuzz(case, served)
    streams.close()


OPERATOR_PATHS = [
    "/",
    "/api/agents",
    "/api/agents/alice",
    "/api/agents/..%2f..",
    "/api/audit?limit=5",
    "/api/audit?limit=-1",
    "/api/audit?limit=99999999999999999999",
    "/agents/alice/pause",
    "/agents/alice/resume",
    "/agents/ghost/breaker/reset",
    "/agents/%00/pause",
    "/activations/nope/cancel",
    "/ui",
    "/ui/",
    "/ui/login?token=x",
    "/ui/login-link",
    "/ui/static/app.js",
    "/ui/static/..%2fsecret",
    "/ui/api/snapshot",
    "/ui/api/activations/x",
    "/ui/activations/x",
    "/ui/api/agents/alice/pause",
    "/ui/api/agents/alice/explode",
]


async def test_the_metrics_target_survives_hostile_events_operator_and_ui_requests(
    serve: ServeFn, redis_url: str, keys: StreamKeys, tmp_path: Path
) -> None:
    """Metrics (EVENTS_TOKEN; operator routes and /ui behind OPERATOR_TOKEN): never a 5xx, nothing queued."""
    for name, behavior in AGENTS.items():
        write_agent(tmp_path, name, behavior)
    served = serve(
        "metrics/main.py", "metrics", EVENTS_TOKEN=EVENTS_TOKEN, OPERATOR_TOKEN=OPERATOR_TOKEN, AGENTS_DIR=str(tmp_path)
    )
    streams = watched(redis_url, keys)
    events = st.builds(
        lambda a, agent, outcome, ms: activation_completed(
            activation_id=a, agent_id=agent, attempt=1, outcome=outcome, duration_ms=ms, finished_at=NOW
        ),
        ids,
        st.sampled_from(list(AGENTS)),
        st.sampled_from(["replied", "noop", "failed"]),
        st.integers(0, 10**9),
    )
    invalid = st.one_of(
        not_objects,
        st.sampled_from([{}, {"activation_id": "a", "agent_id": "b", "outcome": "x", "duration_ms": -1}]),
        st.just({"activation_id": "", "agent_id": "b", "outcome": "x", "duration_ms": 1}),
    )
    operator = st.sampled_from(OPERATOR_PATHS).flatmap(
        lambda path: st.builds(
            lambda method, auth, body: Case(
                method=method, path=path, headers=auth, body=body, kind=Kind.MAYBE, why=("operator",)
            ),
            st.sampled_from(["GET", "POST", "DELETE"]),
            st.sampled_from(
                [{}, {"Authorization": f"Bearer {OPERATOR_TOKEN}"}, {"Authorization": f"Bearer {EVENTS_TOKEN}"}]
            ).flatmap(
                lambda auth: st.dictionaries(
                    st.sampled_from(["X-Operator", "Cookie", "Accept"]),
                    header_text,
                    max_size=2,
                ).map(lambda extra: {**auth, **extra})
            ),
            st.binary(max_size=64),
        )
    )

    @FUZZ
    @given(
        st.one_of(
            cases(events, credential=Credential(token=EVENTS_TOKEN), invalid_data=invalid, paths=OPERATOR_PATHS),
            raw_requests(OPERATOR_PATHS),
            operator,
        )
    )
    def case(case: Case) -> None:
        before = streams.total()
        status, _body = send(served, case)
        check_answer(case, status, streams.total() - before, may_publish=False)
        # An operator route in its own method wants OPERATOR_TOKEN; another POST is the CloudEvent catch-all's.
        reads = case.method == "GET" and case.path.startswith("/api/")
        controls = case.method == "POST" and case.path.startswith(("/agents/", "/activations/"))
        if (reads or controls) and OPERATOR_TOKEN not in str(case.headers):
            assert status in (400, 401, 404, 405), f"{status} for {case!r}"  # 400: a POST the catch-all parsed

    await fuzz(case, served)
    streams.close()


@st.composite
def webhook_cases(draw: st.DrawFn) -> tuple[Case, bool]:
    """A push to ``/webhook`` and whether its signature is good (only then may anything change)."""
    body = draw(
        st.one_of(
            st.builds(
                lambda files: {"ref": "refs/heads/main", "commits": [{"added": [], "modified": files, "removed": []}]},
                st.lists(
                    st.sampled_from(["agents/nova/config.yaml", "agents/../x", "/etc/passwd", "a"])
                    | st.text(max_size=20),
                    max_size=3,
                ),
            ),
            st.just({"all": True}),
            st.dictionaries(
                st.text(max_size=8),
                st.integers(-1000, 1000) | st.text(max_size=8) | st.lists(st.integers(-9, 9), max_size=2),
                max_size=3,
            ),
            st.lists(st.integers(-9, 9), max_size=3),
        ).map(lambda v: orjson.dumps(v))
        | st.binary(max_size=64)
    )
    signed = draw(st.sampled_from(["good", "good", "other body", "truncated", "sha1", "none", "other secret"]))
    sig = {
        "good": signature(DEFINITIONS_SECRET, body),
        "other body": signature(DEFINITIONS_SECRET, body + b"x"),
        "truncated": signature(DEFINITIONS_SECRET, body)[:-4],
        "sha1": signature(DEFINITIONS_SECRET, body).replace("sha256=", "sha1="),
        "none": "",
        "other secret": signature("guess", body),
    }[signed]
    headers = {
        "Content-Type": draw(
            st.sampled_from(["application/json", "application/x-www-form-urlencoded", "text/plain", ""])
        ),
        "X-GitHub-Event": draw(
            st.sampled_from(["push", "ping", "release", "", "PUSH", "💥".encode().decode("latin-1")])
        ),
    }
    if sig:
        headers[SIGNATURE_HEADER] = sig
    method = draw(st.sampled_from(["POST"] * 6 + ["GET", "PUT"]))
    case = Case(method=method, path="/webhook", headers=headers, body=body, kind=Kind.MAYBE, why=(signed,))
    return case, signed == "good" and method == "POST"


async def test_the_definitions_target_survives_hostile_ticks_and_webhooks(
    serve: ServeFn, redis: Redis, redis_url: str, keys: StreamKeys
) -> None:
    """Definitions: POST / takes valid pings only; /webhook changes versions only for a good signature, never a 5xx."""
    served = serve("definitions/main.py", "definitions", DEFINITIONS_WEBHOOK_SECRET=DEFINITIONS_SECRET)
    streams = watched(redis_url, keys)
    import redis as sync_redis

    versions_key = f"{keys.prefix}:agents:versions"
    plain = sync_redis.Redis.from_url(redis_url)
    events = st.builds(lambda w: ping(at=NOW, window_s=w), st.none() | st.integers(1, 100))
    invalid = st.nothing()  # the sync tick reads no data: a ping's data cannot make it invalid
    ticks = cases(events, credential=Credential(), invalid_data=invalid, paths=["/", "/webhook"]).map(
        lambda c: (c, False)
    )

    @FUZZ
    @given(st.one_of(ticks, webhook_cases(), raw_requests(["/", "/webhook", "/healthz"]).map(lambda c: (c, False))))
    def case(drawn: tuple[Case, bool]) -> None:
        case, may_change = drawn
        before, versions = streams.total(), plain.hgetall(versions_key)
        status, _body = send(served, case)
        check_answer(case, status, streams.total() - before, may_publish=False)
        if not may_change:
            assert plain.hgetall(versions_key) == versions, f"versions changed by {case!r} ({status})"
        if case.path == "/webhook" and case.method == "POST" and not may_change:
            assert status == 401, f"{status} for {case!r}"

    await fuzz(case, served)
    plain.close()
    streams.close()
