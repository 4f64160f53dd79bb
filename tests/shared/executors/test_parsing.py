"""Each CLI's output read into a ``CliReport``: real recordings of Claude Code, OpenCode and Aider
(``recorded/``, made against the fake LLM), and Goose's documented ``--output-format json``
shape, since goose is on no registry reachable here and has never been run."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from shared.executors import Aider, ClaudeCode, Goose, OpenCode
from shared.executors._types import CliSpec
from shared.llm import Usage
from shared.sandbox import ExecResult

RECORDED = Path(__file__).with_name("recorded")


def ran(name: str, exit_code: int = 0, stderr: bytes = b"") -> ExecResult:
    return ExecResult(exit_code=exit_code, stdout=(RECORDED / name).read_bytes(), stderr=stderr)


def test_claude_codes_answer_and_its_own_figures() -> None:
    report = ClaudeCode().parse(ran("claude-ok.jsonl"))
    assert report.ending == "ok" and report.text.startswith("a Claude agent here.")
    assert report.turns == 1 and report.cost_usd == Decimal("0.032742")
    assert report.usage == Usage(input_tokens=10584, output_tokens=66)


@pytest.mark.parametrize(
    ("recording", "exit_code", "ending", "said"),
    [
        ("claude-max_turns.jsonl", 1, "max_turns", "max turns"),
        ("claude-refused.jsonl", 1, "budget", "402"),
        ("claude-storm.jsonl", 1, "api_error", "429"),
    ],
)
def test_claude_codes_endings(recording: str, exit_code: int, ending: str, said: str) -> None:
    report = ClaudeCode().parse(ran(recording, exit_code))
    assert (report.ending, report.text) == (ending, "")
    assert said in report.reason


def test_opencodes_steps_are_summed_and_its_last_text_is_the_answer() -> None:
    report = OpenCode().parse(ran("opencode-ok.jsonl"))
    assert report.ending == "ok" and report.text.startswith("OpenCode here.")
    assert report.usage == Usage(input_tokens=7545, output_tokens=31) and report.cost_usd == Decimal("0.0231")


def test_an_opencode_error_event_is_an_api_failure() -> None:
    report = OpenCode().parse(ran("opencode-unreachable.jsonl", 1))
    assert report.ending == "api_error" and "Cannot connect to API" in report.reason


def test_aiders_answer_lies_between_its_header_and_its_tokens_line() -> None:
    report = Aider().parse(ran("aider-ok.txt"))
    assert report.ending == "ok"
    assert report.text.startswith("Act as an expert code analyst.") and "Tokens:" not in report.text
    assert "Aider v" not in report.text and report.usage == Usage(input_tokens=117, output_tokens=41)
    assert report.cost_usd == Decimal("0.00097")


def test_aider_exiting_0_after_every_call_failed_is_not_an_answer() -> None:
    report = Aider().parse(ran("aider-unreachable.txt", 0))
    assert report.ending == "api_error" and "litellm.InternalServerError" in report.reason


def test_goose_json_gives_the_last_assistant_texts() -> None:
    report = Goose().parse(ran("goose-ok.json"))
    assert report.ending == "ok" and report.text == "Hello Dana, nothing on Rust yet." and report.turns == 2


@pytest.mark.parametrize("spec", [ClaudeCode(), OpenCode(), Aider(), Goose()], ids=lambda s: s.name)
def test_no_output_is_malformed_and_a_crash_says_how_it_ended(spec: CliSpec) -> None:
    assert spec.parse(ExecResult(exit_code=0, stdout=b"")).ending == "malformed"
    crashed = spec.parse(ExecResult(exit_code=132, stdout=b"", stderr=b"panic: Illegal instruction"))
    assert crashed.ending == "failed" and "132" in crashed.reason and "Illegal instruction" in crashed.reason


def test_a_truncated_claude_stream_without_its_result_line_is_malformed() -> None:
    whole = (RECORDED / "claude-ok.jsonl").read_bytes().splitlines()
    report = ClaudeCode().parse(ExecResult(exit_code=0, stdout=b"\n".join(whole[:-1]) + b'\n{"type": "res'))
    assert report.ending == "malformed"
