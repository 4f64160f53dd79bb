"""Transcripts in Redis: redacted, bounded, in order, per attempt, expiring."""

from __future__ import annotations

import orjson

from shared.logs import Redactor
from shared.streams import Redis, StreamKeys
from shared.transcripts import TranscriptStore, render

SECRET = "sk-live-do-not-store-0123456789"


def store(redis: Redis, keys: StreamKeys, **options: int) -> TranscriptStore:
    return TranscriptStore(redis, keys=keys, redactor=Redactor([SECRET]), **options)  # type: ignore[arg-type]


async def test_entries_come_back_in_order_per_attempt(redis: Redis, keys: StreamKeys) -> None:
    transcripts = store(redis, keys)
    first = transcripts.open(activation_id="act-1", attempt=1, agent="ana", kind="inbox")
    first.add("note", text="one")
    await first.flush()
    first.add("note", text="two")
    first.add("end", outcome="failed", error="boom")
    await first.flush()
    second = transcripts.open(activation_id="act-1", attempt=2, agent="ana", kind="inbox")
    second.add("end", outcome="replied")
    await second.flush()

    assert await transcripts.attempts("act-1") == [1, 2]
    latest = await transcripts.load("act-1")
    assert latest is not None and latest.attempt == 2 and latest.end == {**latest.entries[-1]}
    earlier = await transcripts.load("act-1", 1)
    assert earlier is not None
    assert [e["kind"] for e in earlier.entries] == ["begin", "note", "note", "end"]
    assert [e.get("text") for e in earlier.entries[1:3]] == ["one", "two"]
    assert earlier.begin["agent"] == "ana" and earlier.begin["activation_kind"] == "inbox"
    assert earlier.end is not None and earlier.end["error"] == "boom"
    assert await transcripts.load("act-404") is None
    assert [(a, n) for a, n, _ in await transcripts.recent(limit=5)] == [("act-1", 2), ("act-1", 1)]


async def test_no_secret_is_stored_whatever_carries_it(redis: Redis, keys: StreamKeys) -> None:
    transcripts = store(redis, keys)
    t = transcripts.open(activation_id="act-2", attempt=1, agent="ana", kind="inbox")
    t.add(
        "tool",
        name="fetch",
        input={"url": f"https://x.test/?key={SECRET}", "headers": {"Authorization": "Bearer abc"}, "api_key": "k"},
        result=f"the server echoed {SECRET}",
    )
    t.add("note", text=f"redis://user:hunter2@redis:6379 and {SECRET}")
    await t.flush()
    raw = b"".join(await redis.lrange(f"{keys.prefix}:transcript:act-2:1", 0, -1))
    assert SECRET.encode() not in raw and b"hunter2" not in raw and b"Bearer abc" not in raw
    recorded = await transcripts.load("act-2")
    assert recorded is not None
    tool = recorded.entries[1]
    assert tool["input"]["api_key"] == "***" and tool["input"]["headers"]["Authorization"] == "***"
    assert tool["result"] == "the server echoed ***"


async def test_a_transcript_is_bounded_yet_always_ends(redis: Redis, keys: StreamKeys) -> None:
    transcripts = store(redis, keys, max_bytes=4096)
    t = transcripts.open(activation_id="act-3", attempt=1, agent="ana", kind="inbox")
    t.add("note", text="x" * 1_000)
    t.add("note", text="y" * 50_000)  # cut to the entry limit, and still past the transcript's bound
    for i in range(100):
        t.add("note", text=f"line {i} " * 10)
    t.add("end", outcome="replied")
    await t.flush()
    recorded = await transcripts.load("act-3")
    assert recorded is not None
    kinds = [e["kind"] for e in recorded.entries]
    assert kinds == ["begin", "note", "truncated", "end"], "nothing after the bound but the end"
    total = sum(len(orjson.dumps(e)) for e in recorded.entries)
    assert total < 4096 + 200  # the bound, and the end entry after it


async def test_transcripts_expire_with_their_ttl(redis: Redis, keys: StreamKeys) -> None:
    t = store(redis, keys, ttl_s=120).open(activation_id="act-4", attempt=1, agent="ana", kind="discovery")
    await t.flush()
    assert 0 < await redis.ttl(f"{keys.prefix}:transcript:act-4:1") <= 120
    assert 0 < await redis.ttl(f"{keys.prefix}:transcript:act-4:attempts") <= 120


def test_render_reads_as_a_conversation() -> None:
    entries = [
        {"at_ms": 0, "kind": "begin", "activation_id": "a1", "attempt": 1, "agent": "ana", "activation_kind": "inbox"},
        {
            "at_ms": 1,
            "kind": "llm_request",
            "model": "m",
            "conversation": "n1",
            "call": 1,
            "system": "You are Ana.",
            "tools": [{"name": "search"}],
            "messages": [{"role": "user", "parts": [{"type": "text", "text": "hi @ana"}]}],
        },
        {
            "at_ms": 900,
            "kind": "llm_response",
            "model": "m",
            "stop": "tool_use",
            "usage": {"input_tokens": 10, "output_tokens": 2},
            "cost_usd": "0.0001",
            "parts": [{"type": "tool_call", "name": "search", "input": {"query": "x"}}],
        },
        {"at_ms": 910, "kind": "tool", "family": "hub", "name": "search", "input": {"query": "x"}, "result": "none"},
        {"at_ms": 950, "kind": "hub_write", "write": "comment", "step": "reply:n1", "hub_id": "c9"},
        {"at_ms": 960, "kind": "end", "outcome": "replied", "calls": 1, "usage": {}, "cost_usd": "0.0001"},
    ]
    text = render(entries)
    for expected in (
        "activation a1 attempt 1: ana (inbox)",
        "system: You are Ana.",
        "tools: search",
        "user: hi @ana",
        "assistant: calls search",
        "tool hub/search",
        "Hub comment (reply:n1) → c9",
        "outcome replied",
    ):
        assert expected in text, expected


def test_render_keeps_line_breaks_names_tool_results_and_drops_the_assistants_echo() -> None:
    call = {"type": "tool_call", "id": "c1", "name": "fetch", "input": {"url": "https://x.test"}}
    entries = [
        {
            "at_ms": 1,
            "kind": "llm_request",
            "model": "m",
            "conversation": "n1",
            "call": 1,
            "messages": [{"role": "user", "parts": [{"type": "text", "text": "Bob wrote:\n\n> summarise it?"}]}],
        },
        {"at_ms": 900, "kind": "llm_response", "model": "m", "conversation": "n1", "stop": "tool_use", "parts": [call]},
        {
            "at_ms": 950,
            "kind": "llm_request",
            "model": "m",
            "conversation": "n1",
            "call": 2,
            "messages": [
                {"role": "assistant", "parts": [call]},
                {"role": "user", "parts": [{"type": "tool_result", "call_id": "c1", "content": "the page"}]},
            ],
        },
    ]
    lines = render(entries).splitlines()
    assert lines[1:3] == ["           user: Bob wrote:", "                 > summarise it?"]
    assert sum("calls fetch" in line for line in lines) == 1, "the request's echo of the response is not repeated"
    assert lines[-1] == "           user: result of fetch the page"
    long = render([{"at_ms": 0, "kind": "tool", "name": "t", "result": "\n".join(f"line {n}" for n in range(20))}])
    assert long.splitlines()[-1].endswith("line 7 …"), "a long result is cut to a few lines"
