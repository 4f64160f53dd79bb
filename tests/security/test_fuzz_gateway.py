"""Hostile requests against the activation gateway, in-process: 10,000 cases per route family.

The real ``Gateway`` app (its body limit, its token check, its LLM and MCP routes) is
driven through ``httpx.ASGITransport`` on the test's event loop; its LLM calls go over
loopback to the real fake LLM (``local_emulator.fake_llm``), which validates a request
the way each provider does and holds the one key the gateway has (``REAL_KEY``).
Hypothesis runs on a worker thread and hands each case to the loop.

What every case keeps (``check_llm``): never a 5xx (the fake upstream is healthy, so no
502/503/504 is honest either: an unreachable or failing provider is the only reason for
one); a refused request (bad token, wrong method or path, not a JSON object, a field the
gateway reads of the wrong type, a call the budget refuses) is never forwarded and never
booked; a forwarded one answers what the provider answered, and is booked on the lease
whose token it carried, and only when that answer was a 2xx; no reservation is left in
flight; the upstream key never appears in an answer. Afterwards the gateway still answers.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.logs import Redactor
from shared.transcripts import Transcript
from tests.support.fuzz import (
    FUZZ,
    METHODS,
    Case,
    Kind,
    header_text,
    json_values,
    noise_headers,
    quiet_logs,
    random_paths,
)
from tests.support.gateway_world import REAL_KEY, World, open_world

pytestmark = pytest.mark.slow  # make test-fast leaves it out

ANTHROPIC, OPENAI = "/v1/messages", "/v1/chat/completions"
LLM_ROUTES = (ANTHROPIC, OPENAI)


@dataclass(frozen=True)
class Shot:
    """A case and whose lease it authenticates as on its route (``None``: none, it must get a 401)."""

    case: Case
    who: str | None
    api: str | None = None  # the LLM route's API, ``None`` elsewhere


@dataclass
class Answer:
    status: int
    headers: httpx.Headers
    text: str
    forwarded: list[int | None]  # the statuses the fake gave to what reached it
    calls: dict[str, int] = field(default_factory=dict)  # booked calls per lease, after
    in_flight: dict[str, int] = field(default_factory=dict)


async def shoot(world: World, case: Case) -> Answer:
    """Send ``case``; what came back, what reached the fake, and what each lease booked."""
    world.fake.reset()
    world.mine.transcript = Transcript(writer=None, redactor=Redactor([REAL_KEY]), max_bytes=1 << 22)
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in case.headers.items()]
    response = await world.client.request(case.method, case.path, headers=headers, content=case.body)
    leases = world.leases()
    return Answer(
        status=response.status_code,
        headers=response.headers,
        text=response.text,
        forwarded=[r.status for r in world.fake.requests],
        calls={name: lease.budget.calls for name, lease in leases.items()},
        in_flight={name: lease.budget.in_flight for name, lease in leases.items()},
    )


# --- credentials ------------------------------------------------------------------------------------------------


def credentials(world: World, api: str) -> st.SearchStrategy[tuple[str, str | None, dict[str, str]]]:
    """``(label, whose lease, headers)``: whose is what the gateway must find for ``api``'s route."""
    mine, other = world.mine.token, world.other.token
    anthropic = api == "anthropic"
    options: list[tuple[str, str | None, dict[str, str]]] = [
        ("bearer mine", "mine", {"Authorization": f"Bearer {mine}"}),
        ("lowercase bearer, spaced", "mine", {"Authorization": f"bearer   {mine} "}),
        ("x-api-key mine", "mine" if anthropic else None, {"x-api-key": mine}),
        ("bearer other", "other", {"Authorization": f"Bearer {other}"}),
        ("x-api-key other", "other" if anthropic else None, {"x-api-key": other}),
        ("empty x-api-key, bearer mine", "mine", {"x-api-key": "", "Authorization": f"Bearer {mine}"}),
        (
            "x-api-key wins over bearer",
            None if anthropic else "mine",
            {"x-api-key": "nope", "Authorization": f"Bearer {mine}"},
        ),
        ("expired", None, {"Authorization": f"Bearer {world.expired}"}),
        (
            "revoked",
            None,
            {"x-api-key" if anthropic else "Authorization": world.revoked if anthropic else f"Bearer {world.revoked}"},
        ),
        ("missing", None, {}),
        ("the upstream key itself", None, {"Authorization": f"Bearer {REAL_KEY}"}),
        ("basic scheme", None, {"Authorization": f"Basic {mine}"}),
        ("token with a suffix", None, {"Authorization": f"Bearer {mine}x"}),
        ("token cut short", None, {"x-api-key": mine[:-3]} if anthropic else {"Authorization": f"Bearer {mine[:-3]}"}),
        ("empty bearer", None, {"Authorization": "Bearer "}),
    ]
    garbage = header_text.filter(lambda g: g.strip() not in (mine, other)).map(
        lambda g: ("garbage", None, {"Authorization": f"Bearer {g}"} if len(g) % 2 else {"x-api-key": g or "x"})
    )
    weights = [options[0]] * 12 + [options[3]] * 4 + options  # most cases authenticate: their bodies are the point
    return (
        st.integers(0, 9)
        .flatmap(lambda n: garbage if n == 0 else st.sampled_from(weights))
        .map(lambda c: c if c[0] != "garbage" or anthropic or "x-api-key" not in c[2] else (c[0], None, c[2]))
    )


# --- bodies -----------------------------------------------------------------------------------------------------

_words = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=0, max_size=30).map(
    lambda t: "say " + t
)
_tool_names = st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True)


@st.composite
def anthropic_body(draw: st.DrawFn) -> dict[str, Any]:
    """A Messages request the provider serves."""
    content = draw(
        st.one_of(_words, st.lists(_words.map(lambda t: {"type": "text", "text": t}), min_size=1, max_size=2))
    )
    messages: list[dict[str, Any]] = [{"role": "user", "content": content}]
    if draw(st.booleans()):
        messages += [{"role": "assistant", "content": draw(_words)}, {"role": "user", "content": draw(_words)}]
    body: dict[str, Any] = {
        "model": draw(st.sampled_from(["claude-haiku-4-5", "claude-sonnet-4-5"])),
        "max_tokens": draw(st.integers(1, 4096)),
        "messages": messages,
    }
    if draw(st.booleans()):
        body["stream"] = draw(st.booleans())
    if draw(st.booleans()):
        body["system"] = draw(_words)
    if draw(st.booleans()):
        names = draw(st.lists(_tool_names, min_size=1, max_size=3, unique=True))
        body["tools"] = [
            {"name": n, "description": "d", "input_schema": {"type": "object", "properties": {}}} for n in names
        ]
    if draw(st.booleans()):
        body["temperature"] = draw(st.floats(0, 1))
    return body


@st.composite
def openai_body(draw: st.DrawFn) -> dict[str, Any]:
    """A chat-completions request the provider serves."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": draw(_words)}]
    if draw(st.booleans()):
        messages.insert(0, {"role": "system", "content": draw(_words)})
    body: dict[str, Any] = {"model": draw(st.sampled_from(["gpt-4o-mini", "gpt-4o"])), "messages": messages}
    if draw(st.booleans()):
        body["max_tokens" if draw(st.booleans()) else "max_completion_tokens"] = draw(st.integers(1, 4096))
    if draw(st.booleans()):
        body["stream"] = draw(st.booleans())
        if body["stream"] and draw(st.booleans()):
            body["stream_options"] = {"include_usage": draw(st.booleans())}
    if draw(st.booleans()):
        names = draw(st.lists(_tool_names, min_size=1, max_size=3, unique=True))
        body["tools"] = [
            {"type": "function", "function": {"name": n, "parameters": {"type": "object", "properties": {}}}}
            for n in names
        ]
    return body


_not_list = json_values.filter(lambda v: not isinstance(v, list))
_not_dict = json_values.filter(lambda v: not isinstance(v, dict))
_not_bool = st.sampled_from(["true", 1, 0, None, [], {}, "false", 1.0, [True]])
_bad_blocks = st.one_of(
    _not_dict,
    st.sampled_from(
        [
            {"type": 5},
            {"type": ["text"]},
            {"type": {"a": 1}},
            {"type": "text", "text": 5},
            {"type": "text", "text": ""},
            {"type": "text"},
            {"type": "image"},
            {"type": "tool_result"},
            {"type": "tool_result", "tool_use_id": ["x"]},
            {"type": "tool_use", "id": 1, "name": 2, "input": 3},
            {"type": "text", "text": "x", "cache_control": "now"},
            {"type": "text", "text": "x", "cache_control": {"type": ["ephemeral"], "ttl": []}},
        ]
    ),
)
_huge = st.sampled_from(["x", "💥", "é", "\u202e", "\x00", "\ufeff"]).flatmap(
    lambda c: st.integers(1, 20_000).map(lambda n: c * n)
)


def _first_message(body: dict[str, Any]) -> dict[str, Any]:
    messages = body.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[0], dict):
        return messages[0]
    body["messages"] = [{"role": "user"}]
    return body["messages"][0]


@st.composite
def broken(draw: st.DrawFn, api: str, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:  # noqa: C901 (one branch per way)
    """One way to break ``body`` (a name for it, the body): wrong types everywhere, huge and odd strings."""
    way = draw(
        st.sampled_from(
            [
                "messages not a list",
                "message not an object",
                "content of a wrong type",
                "content blocks of wrong types",
                "role of a wrong type",
                "tools not a list",
                "tool not an object",
                "tool fields of wrong types",
                "stream of a wrong type",
                "stream_options of a wrong type",
                "max_tokens out of range",
                "model missing or odd",
                "system of a wrong type",
                "temperature of a wrong type",
                "huge or odd strings",
                "extra fields",
                "deep nesting",
                "tool_choice odd",
            ]
        )
    )
    if way == "messages not a list":
        body["messages"] = draw(_not_list)
    elif way == "message not an object":
        messages = body.get("messages")
        body["messages"] = [*(messages if isinstance(messages, list) else []), draw(_not_dict)]
    elif way == "content of a wrong type":
        _first_message(body)["content"] = draw(
            st.one_of(_not_list.filter(lambda v: not isinstance(v, str)), st.just([]))
        )
    elif way == "content blocks of wrong types":
        _first_message(body)["content"] = draw(st.lists(_bad_blocks, min_size=1, max_size=3))
    elif way == "role of a wrong type":
        _first_message(body)["role"] = draw(
            st.sampled_from([None, 5, ["user"], {"r": 1}, "tool", "system", "", "USER"])
        )
    elif way == "tools not a list":
        body["tools"] = draw(st.one_of(_not_list, st.sampled_from(["get_weather", {"name": "x"}, 7, True])))
    elif way == "tool not an object":
        tools = body.get("tools")
        body["tools"] = [*(tools if isinstance(tools, list) else []), draw(_not_dict)]
    elif way == "tool fields of wrong types":
        tool = draw(
            st.sampled_from(
                [
                    {"name": 5},
                    {"name": ["a"], "input_schema": []},
                    {"name": "a", "input_schema": "object"},
                    {"type": "function", "function": "get_x"},
                    {"type": "function", "function": ["get_x"]},
                    {"type": "function", "function": {"name": {"n": 1}}},
                    {"type": "function", "function": {"name": "a", "parameters": "x"}},
                    {"function": None, "name": None},
                    {"type": ["function"], "function": {}},
                    {},
                ]
            )
        )
        body["tools"] = [tool]
    elif way == "stream of a wrong type":
        body["stream"] = draw(_not_bool)
    elif way == "stream_options of a wrong type":
        body["stream"] = draw(st.sampled_from([True, True, False, "yes"]))
        body["stream_options"] = draw(
            st.one_of(
                st.sampled_from([[], [1], "x", 5, True, {"include_usage": "yes"}, None, [["include_usage", True]]]),
                json_values,
            )
        )
    elif way == "max_tokens out of range":
        value = draw(st.sampled_from([-1, 0, -(10**6), 10**12, 10**30, "100", 1.5, True, None, [], {}, 2**63 - 1]))
        body["max_completion_tokens" if api == "openai" and draw(st.booleans()) else "max_tokens"] = value
    elif way == "model missing or odd":
        if draw(st.booleans()):
            body.pop("model", None)
        else:
            body["model"] = draw(
                st.one_of(st.sampled_from(["", "gpt-99", "claude-9", 5, None, [], {"a": 1}, True]), _huge)
            )
    elif way == "system of a wrong type":
        body["system"] = draw(st.sampled_from([5, [], [{"type": 5}], {}, [{"type": "text", "text": 3}], [1, 2], ""]))
    elif way == "temperature of a wrong type":
        body["temperature"] = draw(st.sampled_from(["hot", 5, -1, [], {}, None, 1e308]))
    elif way == "huge or odd strings":
        _first_message(body)["content"] = draw(_huge)
    elif way == "extra fields":
        extra = draw(st.dictionaries(st.text(max_size=12), json_values, min_size=1, max_size=3))
        body.update(extra)
    elif way == "deep nesting":
        depth = draw(st.integers(50, 600))
        body["metadata"] = orjson.loads(b"[" * depth + b"]" * depth)
    elif way == "tool_choice odd":
        body["tool_choice"] = draw(
            st.sampled_from(["any", 5, [], {"type": 5}, {"type": "tool", "name": []}, "required"])
        )
    return way, body


def _dump(body: Any) -> bytes:
    """JSON as a client would send it (ints past 64 bits too, which orjson refuses to write)."""
    try:
        return orjson.dumps(body)
    except orjson.JSONEncodeError:
        return json.dumps(body).encode()


_garbage_bodies = st.one_of(
    st.binary(max_size=200),
    st.sampled_from(
        [b"", b"{", b"[1,", b'{"a": }', b"nul", b'"\\ud800"', b"1e400", b"NaN", b"\xff\xfe{}", b'{"model": "x"', b" "]
    ),
    _not_dict.map(orjson.dumps),
    st.integers(1200, 2000).map(lambda d: b"[" * d + b"]" * d),
)
_CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "text/plain",
        "application/x-www-form-urlencoded",
        "",
        "garbage",
        "application/json; charset=klingon",
    ]
)
_QUERIES = st.sampled_from(["", "", "", "?beta=true", "?x=%00", "?a=1&a=2", "?%ff=%zz", "?" + "q" * 3000, "?é=💥"])


@st.composite
def llm_shots(draw: st.DrawFn, world: World) -> Shot:
    """A request to an LLM route: mostly authenticated, valid or broken in one or two ways, or raw garbage."""
    route = draw(st.sampled_from(LLM_ROUTES))
    api = "anthropic" if route == ANTHROPIC else "openai"
    label, who, auth = draw(credentials(world, api))
    why = [label]
    kind = Kind.VALID
    body_api = api if draw(st.integers(0, 9)) else ("openai" if api == "anthropic" else "anthropic")
    if body_api != api:
        why.append(f"a {body_api} body")
        kind = Kind.MAYBE
    doc = draw(anthropic_body() if body_api == "anthropic" else openai_body())
    raw: bytes | None = None
    shape = draw(st.integers(0, 9))
    if shape < 4:
        for _ in range(draw(st.integers(1, 2))):
            way, doc = draw(broken(api, doc))
            why.append(way)
        kind = Kind.MAYBE
    elif shape == 5:
        raw = draw(_garbage_bodies)
        why.append("garbage body")
        kind = Kind.MAYBE  # a JSON object among the garbage is the provider's to judge
    body = raw if raw is not None else _dump(doc)
    headers: dict[str, str] = {"content-type": "application/json", **auth}
    if api == "anthropic":
        headers["anthropic-version"] = "2023-06-01"
    if draw(st.integers(0, 7)) == 0:
        headers["content-type"] = draw(_CONTENT_TYPES | header_text)
        why.append("content type")
        kind = Kind.MAYBE if kind is Kind.VALID else kind
    if api == "anthropic" and draw(st.integers(0, 9)) == 0:
        headers["anthropic-version"] = draw(header_text)
        why.append("anthropic-version")
        kind = Kind.MAYBE if kind is Kind.VALID else kind
    headers.update(draw(noise_headers.map(lambda h: {k: v for k, v in h.items() if k != "Accept"})))
    method, path = "POST", route + draw(_QUERIES)
    roll = draw(st.integers(0, 11))
    if roll == 0:
        method = draw(st.sampled_from(METHODS))
        why.append(f"method {method}")
        kind = Kind.INVALID
    elif roll == 1:
        path = draw(random_paths | st.sampled_from([route + "/", route + "/x", route.upper(), "/v1", "/v1/complete"]))
        why.append(f"path {path}")
        kind = Kind.INVALID
    if who is None or (who == "other" and api == "openai"):  # no lease, or a lease without this provider
        kind = Kind.INVALID
    case = Case(method=method, path=path, headers=headers, body=body, kind=kind, why=tuple(why))
    return Shot(case=case, who=who, api=api)


def _route_of(case: Case) -> str:
    return case.path.split("?", 1)[0]


def check_llm(shot: Shot, answer: Answer, before: dict[str, int]) -> None:
    """The properties of one case (see the module's docstring)."""
    case, status = shot.case, answer.status
    assert status < 500, f"{status} {answer.text[:300]} for {case!r}"
    assert REAL_KEY not in answer.text and REAL_KEY not in str(answer.headers), f"the upstream key leaked: {case!r}"
    assert all(n == 0 for n in answer.in_flight.values()), f"a reservation left in flight by {case!r}"
    on_route = case.method == "POST" and _route_of(case) in LLM_ROUTES
    if 300 <= status < 400:  # Starlette's slash redirect, to the route itself
        assert status == 307 and answer.headers["location"].rstrip("/").endswith(_route_of(case).rstrip("/")), case
    else:
        assert 200 <= status < 300 or 400 <= status < 500, f"{status} for {case!r}"
    forwarded = answer.forwarded
    assert len(forwarded) <= 1, f"forwarded {len(forwarded)} times: {case!r}"
    if not on_route or shot.who is None:
        assert not forwarded, f"an unauthenticated or off-route request was forwarded: {case!r}"
    if on_route and shot.who is None:
        assert status == 401, f"{status} for {case!r}"
    if on_route and shot.who == "other" and shot.api == "openai":
        assert status == 400 and not forwarded, f"{status} for {case!r} (that agent has no OpenAI provider)"
    if forwarded and forwarded[0] is not None:
        assert status == forwarded[0], f"answered {status}, the provider said {forwarded[0]}: {case!r}"
    if case.kind is Kind.VALID:
        assert 200 <= status < 300 and len(forwarded) == 1, f"a valid case got {status}: {answer.text[:300]} {case!r}"
    for name, calls in answer.calls.items():
        booked = calls - before[name]
        expected = 1 if name == shot.who and forwarded and 200 <= status < 300 else 0
        assert booked == expected, f"{booked} calls booked on {name} for {status}: {case!r}"


def still_answers(world: World) -> None:
    """After the run: health, and a valid call on each LLM route is served and booked."""
    assert world.run(world.client.get("/")).status_code == 200
    token = {"Authorization": f"Bearer {world.mine.token}"}
    ask = {"model": "claude-haiku-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "still there?"}]}
    calls = world.mine.budget.calls
    served = world.run(world.client.post(ANTHROPIC, json=ask, headers={**token, "anthropic-version": "2023-06-01"}))
    assert served.status_code == 200, served.text
    chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "still there?"}]}
    assert world.run(world.client.post(OPENAI, json=chat, headers=token)).status_code == 200
    assert world.mine.budget.calls == calls + 2


async def test_the_llm_routes_survive_hostile_requests_and_forward_and_book_only_authenticated_ones() -> None:
    """/v1/messages and /v1/chat/completions: never a 5xx; only a live token's request reaches the provider,
    booked on that lease only when the provider served it; the upstream key is never shown."""
    counts = {"served": 0, "forwarded": 0}

    async with open_world() as world:

        @FUZZ
        @given(llm_shots(world))
        def case(shot: Shot) -> None:
            before = {name: lease.budget.calls for name, lease in world.leases().items()}
            answer = world.run(shoot(world, shot.case))
            check_llm(shot, answer, before)
            counts["forwarded"] += bool(answer.forwarded)
            counts["served"] += 200 <= answer.status < 300 and bool(answer.forwarded)

        with quiet_logs():
            await asyncio.to_thread(case)
        await asyncio.to_thread(still_answers, world)
    assert counts["served"] > 1000 and counts["forwarded"] > counts["served"], counts
