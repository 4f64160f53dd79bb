"""Hostile MCP requests against the activation gateway, in-process: 10,000 cases at ``/mcp/{name}``.

The real ``Gateway`` app (``tests.support.gateway_world``) serves ``/mcp/hub`` from real
``HubTools`` against the mock Hub over loopback (its service key ``HUB_KEY`` is the
gateway's secret), and ``/mcp/echo``, a per-server route: real ``McpTools`` over a stub
client session that echoes its arguments. Cases are streamable-HTTP requests: tokens
(live, another activation's, expired, revoked, missing, garbage), methods, ``accept``,
``content-type``, ``mcp-session-id`` and ``mcp-protocol-version`` headers, and JSON-RPC
bodies: valid ones (initialize, notifications/initialized, ping, tools/list, tools/call of
each Hub tool) and broken ones (bad versions, unknown methods, params of wrong types,
batches, odd ids, broken tool arguments, huge strings, deep nesting, raw garbage).

What every case keeps (``check``): never a 5xx; a request without a live token is a 401
(or a 405 for a method the route has not) and nothing reaches the Hub or the echo server;
a live token without the route is a 404, reaching nothing; a tools/call whose arguments
are broken, or whose envelope is, writes nothing to the Hub; a valid case is served (2xx,
no JSON-RPC error); no secret (the Hub key, the upstream LLM key, an agent's Hub key) is
in any answer. Afterwards the gateway still answers and a valid tools/call is served.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, cast

import mcp_types as types
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mcp import ClientSession

from local_emulator.hub import MockHub, MockHubServer
from shared.hub import AgentRef
from shared.limits import BehaviorLimits
from shared.logs import Redactor
from shared.mcp import McpTools
from shared.streams import EffectLedger, Redis, StreamKeys
from shared.tools import HubContext, HubTools, ToolSet
from tests.support import hub_client, mock_hub
from tests.support.fuzz import (
    FUZZ,
    Case,
    Kind,
    as_header,
    header_text,
    json_values,
    noise_headers,
    quiet_logs,
    random_paths,
)
from tests.support.gateway_world import REAL_KEY, World, coder, open_world

pytestmark = pytest.mark.slow  # make test-fast leaves it out

AGENT = "mcp-agent"
HUB_KEY = "hub-service-PRIVATE-key-9f8e7d6c5b4a"
JSON_AND_SSE = "application/json, text/event-stream"
ROUTES = ("/mcp/hub", "/mcp/echo")


@pytest.fixture
def hub() -> MockHub:
    hub = mock_hub(AGENT, "friend-agent", api_key=HUB_KEY)
    hub.human_post("dana", f"@{AGENT} is the build green?", title="build")
    return hub


class EchoSession:
    """A stub MCP client session: the per-server route's server, answering every call with its arguments."""

    def __init__(self) -> None:
        self.calls = 0

    async def call_tool(self, name: str, arguments: Mapping[str, Any] | None = None) -> types.CallToolResult:
        self.calls += 1
        text = json.dumps({"tool": name, "arguments": arguments})[:2000]
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)])


@dataclass
class Hubbed:
    """The world, and what the MCP routes act on: the mock Hub, the echo server, the ids a valid call names."""

    world: World
    hub: MockHub
    echo: EchoSession
    post_id: str
    notification_id: str

    @property
    def secrets(self) -> list[str]:
        return [HUB_KEY, REAL_KEY, *(a.api_key for a in self.hub.agents.values())]


@dataclass
class Answer:
    status: int
    text: str
    headers: str
    hub_requests: int  # what reached the Hub during the case
    hub_writes: int
    echo_calls: int


async def shoot(h: Hubbed, case: Case) -> Answer:
    """Send ``case``; what came back, and what reached the Hub and the echo server meanwhile."""
    before, echoed = len(h.hub.requests), h.echo.calls
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in case.headers.items()]
    try:
        async with asyncio.timeout(10):
            response = await h.world.client.request(case.method, case.path, headers=headers, content=case.body)
    except TimeoutError:
        raise AssertionError(f"no answer within 10 s: {case!r}") from None
    reached = h.hub.requests[before:]
    return Answer(
        status=response.status_code,
        text=response.text,
        headers=str(response.headers),
        hub_requests=len(reached),
        hub_writes=sum(r.method != "GET" for r in reached),
        echo_calls=h.echo.calls - echoed,
    )


@dataclass
class Routes:
    """The MCP routes' tool families, and what they act on."""

    hub: MockHub
    tools: dict[str, ToolSet]
    echo: EchoSession
    post_id: str
    notification_id: str


@pytest.fixture
async def routes(hub: MockHub, server: MockHubServer, redis: Redis, keys: StreamKeys) -> AsyncIterator[Routes]:
    """Real ``HubTools`` of ``AGENT`` on the mock Hub at ``hub``, and the echo server's ``McpTools`` at ``echo``."""
    async with hub_client(server.url, api_key=HUB_KEY) as client:
        me = hub.require_agent(AGENT)
        [note] = await client.notifications(AGENT)
        assert note.post_id is not None
        tools = HubTools(
            HubContext(
                hub=client,
                limits=BehaviorLimits(redis, prefix=keys.prefix),
                agent=coder(AGENT),
                agent_ref=AgentRef(id=me.id, name=AGENT),
                activation_id="act-mine",
                notifications=[note],
                ledger=EffectLedger(redis, keys),
            )
        )
        echo = EchoSession()
        spec = {"type": "object", "properties": {"text": {"type": "string"}}}
        server_tools = McpTools(
            server="echo",
            session=cast(ClientSession, echo),
            tools=[types.Tool(name="echo", description="Echo.", input_schema=spec)],
            call_timeout_s=5,
            redactor=Redactor([HUB_KEY]),
        )
        yield Routes(
            hub=hub,
            tools={"hub": tools, "echo": server_tools},
            echo=echo,
            post_id=note.post_id,
            notification_id=note.id,
        )


# --- credentials and headers ------------------------------------------------------------------------------------


def credentials(world: World) -> st.SearchStrategy[tuple[str, str | None, dict[str, str]]]:
    """``(label, whose lease, headers)``: the MCP routes read a bearer token only."""
    mine, other = world.mine.token, world.other.token
    options: list[tuple[str, str | None, dict[str, str]]] = [
        ("bearer mine", "mine", {"Authorization": f"Bearer {mine}"}),
        ("lowercase bearer, spaced", "mine", {"Authorization": f"bearer   {mine} "}),
        ("bearer other", "other", {"Authorization": f"Bearer {other}"}),
        ("expired", None, {"Authorization": f"Bearer {world.expired}"}),
        ("revoked", None, {"Authorization": f"Bearer {world.revoked}"}),
        ("missing", None, {}),
        ("x-api-key mine", None, {"x-api-key": mine}),
        ("the Hub key", None, {"Authorization": f"Bearer {HUB_KEY}"}),
        ("the upstream key", None, {"Authorization": f"Bearer {REAL_KEY}"}),
        ("basic scheme", None, {"Authorization": f"Basic {mine}"}),
        ("token with a suffix", None, {"Authorization": f"Bearer {mine}x"}),
        ("token cut short", None, {"Authorization": f"Bearer {mine[:-3]}"}),
        ("empty bearer", None, {"Authorization": "Bearer "}),
    ]
    garbage = header_text.filter(lambda g: g.strip() not in (mine, other)).map(
        lambda g: ("garbage", None, {"Authorization": f"Bearer {g}"})
    )
    weights = [options[0]] * 16 + options  # most cases authenticate: their bodies are the point
    return st.integers(0, 14).flatmap(lambda n: garbage if n == 0 else st.sampled_from(weights))


_ACCEPTS = st.sampled_from(
    ["application/json", "text/event-stream", "*/*", "text/html", "", "application/json;q=0, text/event-stream"]
)
_CONTENT_TYPES = st.sampled_from(
    ["text/plain", "application/x-www-form-urlencoded", "", "garbage", "application/json; charset=klingon"]
)
_SESSIONS = st.sampled_from(["", "0", "not-a-session", "a" * 300, "9f1c0b7e2d3a4c5b8e6f7a9b0c1d2e3f", as_header("é💥")])
_VERSIONS = st.sampled_from(["2025-06-18", "2025-03-26", "2024-11-05", "2099-01-01", "", "1.0", "latest"])


# --- bodies -----------------------------------------------------------------------------------------------------

_words = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=30).map(
    lambda t: "fuzz " + t
)
_huge = st.sampled_from(["x", "💥", "\u202e", "\x00", "\ufeff"]).flatmap(
    lambda c: st.integers(1, 20_000).map(c.__mul__)
)
_ids = st.one_of(st.integers(0, 2**31), st.text(max_size=12))
_odd_ids = st.sampled_from([None, 1.5, 10**30, -(2**63), {"a": 1}, [1], True, "", "x" * 5000])
_bad_text = st.sampled_from([None, 5, 1.5, True, [], {}, ["x"], "", "   ", {"a": "b"}])


def _call(name: str, arguments: Any) -> dict[str, Any]:
    return {"method": "tools/call", "params": {"name": name, "arguments": arguments}}


@st.composite
def valid_args(draw: st.DrawFn, h: Hubbed) -> tuple[str, dict[str, Any]]:
    """A tool and arguments it takes (a write may still be refused by the limits: that is an error result)."""
    tool = draw(st.sampled_from(["search", "search", "get_thread", "reply", "comment", "create_post", "send_dm"]))
    if tool == "search":
        args: dict[str, Any] = {"query": draw(_words)}
        if draw(st.booleans()):
            args["limit"] = draw(st.integers(1, 20))
    elif tool == "get_thread":
        args = {"post_id": h.post_id}
    elif tool == "reply":
        args = {"notification_id": h.notification_id, "content": draw(_words)}
    elif tool == "comment":
        args = {"post_id": h.post_id, "content": draw(_words)}
    elif tool == "create_post":
        args = {"content": draw(_words), **({"title": draw(_words)} if draw(st.booleans()) else {})}
    else:
        args = {"recipient_id": "friend-agent", "content": draw(_words)}
    return tool, args


@st.composite
def broken_args(draw: st.DrawFn, h: Hubbed) -> tuple[str, Any]:
    """A Hub tool's arguments with one thing wrong for certain: none of these may write."""
    tool, args = draw(valid_args(h))
    way = draw(st.integers(0, 5))
    if way == 0:
        return tool, draw(st.one_of(json_values.filter(lambda v: not isinstance(v, dict) and v is not None)))
    required = {
        "search": ["query"],
        "get_thread": ["post_id"],
        "reply": ["notification_id", "content"],
        "comment": ["post_id", "content"],
        "create_post": ["content"],
        "send_dm": ["recipient_id", "content"],
    }[tool]
    name: str = draw(st.sampled_from(required))
    if way == 1:
        args.pop(name)
    elif way == 2 and tool == "search":
        args["limit"] = draw(st.sampled_from([0, 21, -1, 10**30, True, "5", 1.5, [], {}]))
    elif way == 3 and tool in ("create_post", "comment"):
        args["title" if tool == "create_post" else "parent_id"] = draw(st.sampled_from([5, 1.5, True, [], {"a": 1}]))
    elif way == 4 and tool == "reply":
        args["notification_id"] = draw(st.sampled_from(["nope", h.post_id, "0", "é" * 100]))
    else:
        args[name] = draw(_bad_text)
    return tool, args


@st.composite
def rpc(draw: st.DrawFn, h: Hubbed) -> tuple[Kind, bool, list[str], Any]:
    """``(kind, may write, why, JSON-RPC message)``: a valid one, or broken in one way."""
    why: list[str] = []
    shape = draw(st.sampled_from(["initialize", "initialized", "ping", "list", "call", "call", "call", "echo", "bad"]))
    if shape == "initialize":
        client_info = {"name": "fuzz", "version": "1"}
        version = draw(st.sampled_from(["2025-06-18", "2025-03-26"]))
        msg: dict[str, Any] = {
            "method": "initialize",
            "params": {"protocolVersion": version, "capabilities": {}, "clientInfo": client_info},
        }
    elif shape == "initialized":
        msg = {"method": "notifications/initialized"}
    elif shape == "ping":
        msg = {"method": "ping"}
    elif shape == "list":
        msg = {"method": "tools/list"} | ({"params": {}} if draw(st.booleans()) else {})
    elif shape == "echo":
        msg = _call("echo", {"text": draw(_words)})
    elif shape == "call":
        tool, args = draw(valid_args(h))
        msg = _call(tool, args)
    else:
        tool, args = draw(broken_args(h))
        msg = _call(tool, args)
        why.append(f"broken {tool} arguments")
    msg = {"jsonrpc": "2.0", **({} if shape == "initialized" else {"id": draw(_ids)}), **msg}
    kind, may_write = (Kind.INVALID, False) if why else (Kind.VALID, True)
    if draw(st.integers(0, 2)) == 0:
        way, msg, may_write = draw(broken_envelope(msg, may_write))
        why.append(way)
        kind = Kind.INVALID if way not in ("odd id", "extra fields", "huge strings") else Kind.MAYBE
    return kind, may_write, why, msg


@st.composite
def broken_envelope(draw: st.DrawFn, msg: dict[str, Any], may_write: bool) -> tuple[str, Any, bool]:
    """One way to break the JSON-RPC envelope (a name, the message, whether it may still write)."""
    way = draw(
        st.sampled_from(
            [
                "bad jsonrpc",
                "unknown method",
                "params of a wrong type",
                "batch",
                "odd id",
                "extra fields",
                "huge strings",
                "deep nesting",
                "tool name odd",
            ]
        )
    )
    if way == "bad jsonrpc":
        version = draw(st.sampled_from(["1.0", "2", 2.0, 2, None, "", "2.0 "]))
        msg = {**msg, "jsonrpc": version} if version is not None else {k: v for k, v in msg.items() if k != "jsonrpc"}
        return way, msg, False
    if way == "unknown method":
        method = draw(st.sampled_from(["tools/cal", "TOOLS/LIST", "", "resources/list", "prompts/get", "x" * 300]))
        return way, {**msg, "method": method}, False
    if way == "params of a wrong type":
        return (
            way,
            {**msg, "params": draw(st.sampled_from([[], [1, 2], "x", 5, True, {"name": 5}, {"name": []}]))},
            False,
        )
    if way == "batch":
        return way, [msg] * draw(st.integers(0, 3)), may_write  # an old client's batch: refused or served, never 5xx
    if way == "odd id":
        return way, {**msg, "id": draw(_odd_ids)}, may_write
    if way == "extra fields":
        return (
            way,
            {**msg, **draw(st.dictionaries(st.text(max_size=8), json_values, min_size=1, max_size=3))},
            may_write,
        )
    if way == "huge strings":
        params = msg.get("params")
        if isinstance(params, dict) and isinstance(params.get("arguments"), dict):
            arguments = {k: draw(_huge) if isinstance(v, str) else v for k, v in params["arguments"].items()}
            return way, {**msg, "params": {**params, "arguments": arguments}}, may_write
        return way, {**msg, "method": draw(_huge)}, False
    if way == "deep nesting":
        depth = draw(st.integers(50, 600))
        return way, {**msg, "params": orjson.loads(b"[" * depth + b"]" * depth)}, False
    name = draw(st.one_of(st.sampled_from(["", "SEARCH", "mcp__hub__search", "reply ", 5, None, []]), _huge))
    return way, {**msg, "method": "tools/call", "params": {"name": name, "arguments": {}}}, False


def _dump(body: Any) -> bytes:
    try:
        return orjson.dumps(body)
    except orjson.JSONEncodeError:  # ints past 64 bits, which a client may still send
        return json.dumps(body).encode()


_garbage_bodies = st.one_of(
    st.binary(max_size=200),
    st.sampled_from([b"", b"{", b"[1,", b'{"jsonrpc": }', b"nul", b'"\\ud800"', b"1e400", b"NaN", b"\xff\xfe{}"]),
    json_values.map(orjson.dumps),
    st.integers(1200, 2000).map(lambda d: b"[" * d + b"]" * d),
)


@dataclass(frozen=True)
class Shot:
    """A case, whose lease it authenticates as (``None``: none), and whether it may write to the Hub."""

    case: Case
    who: str | None
    may_write: bool


@st.composite
def mcp_shots(draw: st.DrawFn, h: Hubbed) -> Shot:
    """A streamable-HTTP request to an MCP route: mostly authenticated, valid or broken, or raw garbage."""
    label, who, auth = draw(credentials(h.world))
    why = [label]
    kind, may_write, broke, msg = draw(rpc(h))
    why += broke
    body = _dump(msg)
    if draw(st.integers(0, 9)) == 0:
        body = draw(_garbage_bodies)
        why.append("garbage body")
        kind, may_write = Kind.INVALID, False
    headers = {"content-type": "application/json", "accept": JSON_AND_SSE, **auth}
    if draw(st.integers(0, 7)) == 0:
        headers["accept"] = draw(_ACCEPTS | header_text)
        why.append("accept")
        kind = Kind.MAYBE if kind is Kind.VALID else kind
    elif draw(st.integers(0, 9)) == 0:
        del headers["accept"]
        why.append("no accept")
        kind = Kind.MAYBE if kind is Kind.VALID else kind
    if draw(st.integers(0, 9)) == 0:
        headers["content-type"] = draw(_CONTENT_TYPES | header_text)
        why.append("content type")
        kind = Kind.MAYBE if kind is Kind.VALID else kind
    if draw(st.integers(0, 4)) == 0:
        headers["mcp-session-id"] = draw(_SESSIONS | header_text)
        why.append("session id")
        kind = Kind.MAYBE if kind is Kind.VALID else kind
    if draw(st.integers(0, 4)) == 0:
        headers["mcp-protocol-version"] = draw(_VERSIONS | header_text)
        why.append("protocol version")
        kind = Kind.MAYBE if kind is Kind.VALID else kind
    headers.update(draw(noise_headers.map(lambda n: {k: v for k, v in n.items() if k != "Accept"})))
    method = "POST"
    path = "/mcp/hub"
    if isinstance(msg, dict) and isinstance(msg.get("params"), dict) and msg["params"].get("name") == "echo":
        path = "/mcp/echo"
    roll = draw(st.integers(0, 11))
    if roll == 0:
        method = draw(st.sampled_from(["GET", "DELETE", "PUT", "PATCH", "OPTIONS", "HEAD"]))
        why.append(f"method {method}")
        kind, may_write = Kind.INVALID, False
    elif roll == 1:
        path = draw(random_paths | st.sampled_from(["/mcp/github", "/mcp/", "/mcp/hub/", "/mcp/HUB", "/mcp/hub/x"]))
        why.append(f"path {path}")
        kind, may_write = Kind.INVALID, False
    elif roll == 2:
        path = "/mcp/echo" if path == "/mcp/hub" else "/mcp/hub"
        why.append("the other route")
        kind = Kind.MAYBE if kind is Kind.VALID else kind
    if who != "mine":  # no lease, or one without these routes
        kind, may_write = Kind.INVALID, False
    case = Case(method=method, path=path, headers=headers, body=body, kind=kind, why=tuple(why))
    return Shot(case=case, who=who, may_write=may_write)


def _rpc_error(text: str) -> bool:
    """Whether a 2xx answer is a JSON-RPC error, or a tool's error result."""
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    docs = doc if isinstance(doc, list) else [doc]
    return any(
        isinstance(d, dict) and ("error" in d or (isinstance(d.get("result"), dict) and d["result"].get("isError")))
        for d in docs
    )


def check(h: Hubbed, shot: Shot, answer: Answer) -> None:
    """The properties of one case (see the module's docstring)."""
    case, status = shot.case, answer.status
    assert status < 500, f"{status} {answer.text[:300]} for {case!r}"
    for secret in h.secrets:
        assert secret not in answer.text and secret not in answer.headers, f"a secret leaked: {case!r}"
    if 300 <= status < 400:  # Starlette's slash redirect, to the route itself
        assert status == 307 and case.path.endswith("/"), f"{status} for {case!r}"
    else:
        assert 200 <= status < 300 or 400 <= status < 500, f"{status} for {case!r}"
    on_route = case.path in ROUTES and case.method in ("GET", "POST", "DELETE", "HEAD")
    if shot.who != "mine":
        assert answer.hub_requests == 0 and answer.echo_calls == 0, f"{answer} reached from {case!r}"
    if on_route and shot.who is None:
        assert status == 401, f"{status} for {case!r}"
    if on_route and shot.who == "other":
        assert status == 404, f"{status} for {case!r}"
    if not shot.may_write:
        assert answer.hub_writes == 0, f"{answer.hub_writes} Hub writes from {case!r}: {answer.text[:300]}"
    if case.kind is Kind.VALID:
        assert 200 <= status < 300, f"a valid case got {status}: {answer.text[:300]} {case!r}"
        assert "tools/call" in case.body.decode() or not _rpc_error(answer.text), f"{answer.text[:300]} {case!r}"


def still_answers(h: Hubbed) -> None:
    """After the run: health, and a search through ``/mcp/hub`` reaches the Hub and is served."""
    world = h.world
    assert world.run(world.client.get("/")).status_code == 200
    headers = {"authorization": f"Bearer {world.mine.token}", "accept": JSON_AND_SSE}
    ask = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": _call("search", {"query": "build"})["params"]}
    before = len(h.hub.requests)
    answer = world.run(world.client.post("/mcp/hub", json=ask, headers=headers))
    assert answer.status_code == 200 and "build" in answer.text and not _rpc_error(answer.text), answer.text
    assert len(h.hub.requests) == before + 1


async def test_the_mcp_routes_survive_hostile_requests_and_act_only_on_a_live_tokens_valid_calls(
    routes: Routes,
) -> None:
    """/mcp/hub and /mcp/echo: never a 5xx; without a live token a 401 that reaches nothing; a broken
    tools/call writes nothing to the Hub; a valid request is served; no secret is ever shown."""
    counts = {"served": 0, "hub": 0, "writes": 0, "echo": 0}
    statuses: Counter[int] = Counter()
    async with open_world(tools=routes.tools) as world:
        hubbed = Hubbed(world, routes.hub, routes.echo, routes.post_id, routes.notification_id)
        await asyncio.to_thread(fuzz, hubbed, counts, statuses)
        await asyncio.to_thread(still_answers, hubbed)
    assert counts["served"] > 1000 and counts["hub"] > 200 and counts["writes"] > 0 and counts["echo"] > 50, (
        counts,
        statuses,
    )


def fuzz(hubbed: Hubbed, counts: dict[str, int], statuses: Counter[int]) -> None:
    """The 10,000 cases, on hypothesis's thread."""

    @FUZZ
    @given(mcp_shots(hubbed))
    def case(shot: Shot) -> None:
        answer = hubbed.world.run(shoot(hubbed, shot.case))
        check(hubbed, shot, answer)
        counts["served"] += 200 <= answer.status < 300
        counts["hub"] += answer.hub_requests > 0
        counts["writes"] += answer.hub_writes
        counts["echo"] += answer.echo_calls
        statuses[answer.status] += 1

    with quiet_logs():
        case()
