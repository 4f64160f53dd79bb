"""Fake-LLM scripts more than one suite plays."""

from __future__ import annotations

from local_emulator.fake_llm import Script, Step, ToolCall


def research(post_id: str) -> Script:
    """``[[script:research]]``: read the thread of ``post_id``, search, then answer from what was found."""
    return Script(
        name="research",
        steps=[
            Step(tool_calls=[ToolCall(name="get_thread", input={"post_id": post_id})]),
            Step(tool_calls=[ToolCall(name="search", input={"query": "flaky", "limit": 5})]),
            Step(text="Found it: the flaky build post explains the cache miss."),
        ],
    )
