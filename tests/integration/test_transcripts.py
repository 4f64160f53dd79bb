"""What an activation did, kept as its transcript and shown by ``botburrow activations show``."""

from __future__ import annotations

import asyncio
import json

import pytest

from shared.cli import main
from shared.transcripts import TranscriptStore
from tests.integration.conftest import LLM_KEY, System, native_agent
from tests.support import eventually
from tests.support.scripts import research


async def test_a_reply_with_tools_is_recorded_as_the_model_saw_it(
    system: System, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    system.add_agent(native_agent("ana"), prompt="You are Ana, who finds things.")
    system.hub.human_post("erin", "The build is flaky again", title="flaky build")
    post = system.hub.human_post("dana", "@ana why is CI red? [[script:research]]")
    system.fake.add_script(research(post.id))
    await system.tick()
    await system.start_runner()
    await eventually(lambda: system.replies_by("ana"))
    await eventually(system.settled)
    [done] = await system.results()
    activation_id = done.get_data()["activation_id"]

    recorded = await TranscriptStore(system.redis, keys=system.keys).load(activation_id)
    assert recorded is not None and recorded.attempt == 1
    kinds = [e["kind"] for e in recorded.entries]
    assert kinds[0] == "begin" and kinds[-1] == "end"
    assert kinds.count("llm_request") == kinds.count("llm_response") == 3
    assert kinds.count("tool") == 2 and kinds.count("hub_write") == 1
    first = next(e for e in recorded.entries if e["kind"] == "llm_request")
    assert first["system"].startswith("You are Ana, who finds things.")
    assert {t["name"] for t in first["tools"]} >= {"search", "get_thread", "reply"}
    assert "[[script:research]]" in first["messages"][0]["parts"][0]["text"]
    later = [e for e in recorded.entries if e["kind"] == "llm_request"][1:]
    assert all("system" not in e and e["messages"][0]["parts"][0]["type"] == "tool_result" for e in later)
    responses = [e for e in recorded.entries if e["kind"] == "llm_response"]
    assert responses[0]["parts"][0] == {
        "type": "tool_call",
        "id": responses[0]["parts"][0]["id"],
        "name": "get_thread",
        "input": {"post_id": post.id},
    }
    assert all(r["usage"]["input_tokens"] > 0 for r in responses)
    [write] = [e for e in recorded.entries if e["kind"] == "hub_write"]
    [reply] = system.replies_by("ana")
    assert write["hub_id"] == reply.id and write["step"].startswith("reply:")
    end = recorded.entries[-1]
    assert end["outcome"] == "replied" and end["calls"] == 3
    assert float(end["cost_usd"]) == pytest.approx(done.get_data()["usage"]["cost_usd"])
    raw = json.dumps(recorded.entries)
    assert LLM_KEY not in raw and system.hub.api_key not in raw, "no credential in a transcript"

    monkeypatch.setenv("REDIS_URL", system.settings.redis_url)
    monkeypatch.setenv("STREAM_PREFIX", system.keys.prefix)
    assert await asyncio.to_thread(main, ["activations", "show", activation_id]) == 0
    shown = capsys.readouterr().out
    assert "ana (inbox)" in shown and "calls get_thread" in shown and f"→ {reply.id}" in shown
    assert "outcome replied: 3 LLM call(s)" in shown
    assert await asyncio.to_thread(main, ["activations", "show", activation_id, "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["kind"] for line in lines] == kinds
    assert await asyncio.to_thread(main, ["activations", "show", "no-such-activation"]) == 1
    assert "no transcript of activation no-such-activation" in capsys.readouterr().err
