"""The one tool path: lookup, errors for the model, errors for the activation, size, name clashes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from shared.errors import HubUnavailable
from shared.llm import ToolCall, ToolSpec
from shared.tools import Toolbox, ToolInputError, args, cut


class Family:
    """A tool family that answers from a table and raises what it is told to."""

    def __init__(self, family: str, *names: str) -> None:
        self.family = family
        self._names = names
        self.calls: list[tuple[str, dict[str, Any], str]] = []

    def specs(self) -> Sequence[ToolSpec]:
        return [ToolSpec(n, f"the {n} tool", {"type": "object", "properties": {}}) for n in self._names]

    async def call(self, name: str, arguments: Mapping[str, Any], *, scope: str) -> str:
        self.calls.append((name, dict(arguments), scope))
        if arguments.get("bad"):
            raise ToolInputError("bad is not allowed here")
        if arguments.get("down"):
            raise HubUnavailable("the Hub is down", status=503)
        return str(arguments.get("say", f"{self.family}.{name} ran"))


async def test_a_call_goes_to_the_family_offering_it_with_its_scope() -> None:
    hub, work = Family("hub", "search"), Family("workspace", "read_file")
    box = Toolbox([hub, work], max_output_chars=1000)
    assert [s.name for s in box.specs()] == ["search", "read_file"] and box.names == {"search", "read_file"}
    result = await box.run(ToolCall("c1", "read_file", {"path": "a"}), scope="n-1")
    assert (result.call_id, result.content, result.is_error) == ("c1", "workspace.read_file ran", False)
    assert work.calls == [("read_file", {"path": "a"}, "n-1")] and hub.calls == []


async def test_an_unknown_tool_is_an_error_result_naming_the_tools_there_are() -> None:
    box = Toolbox([Family("hub", "search", "get_thread")], max_output_chars=1000)
    result = await box.run(ToolCall("c1", "rm_rf", {}))
    assert result.is_error and result.content == "error: unknown tool 'rm_rf'; available: get_thread, search"
    empty = await Toolbox([], max_output_chars=1000).run(ToolCall("c2", "x", {}))
    assert empty.content.endswith("available: none")


async def test_a_tool_input_error_goes_to_the_model_and_anything_else_to_the_activation() -> None:
    box = Toolbox([Family("hub", "search")], max_output_chars=1000)
    refused = await box.run(ToolCall("c1", "search", {"bad": True}))
    assert refused.is_error and refused.content == "error: bad is not allowed here"
    with pytest.raises(HubUnavailable):
        await box.run(ToolCall("c2", "search", {"down": True}))


async def test_every_result_is_cut_to_the_toolbox_size_and_says_so() -> None:
    box = Toolbox([Family("hub", "search")], max_output_chars=100)
    result = await box.run(ToolCall("c1", "search", {"say": "x" * 5000}))
    assert len(result.content) == 100 and result.content.endswith("[cut: 5000 characters in all]")
    assert cut("short", 100) == "short"


def test_two_families_offering_one_name_is_a_configuration_error() -> None:
    box = Toolbox([Family("hub", "search"), Family("mcp:brave", "search")], max_output_chars=100)
    with pytest.raises(ValueError, match="'search' is offered by both hub and mcp:brave"):
        box.specs()


@pytest.mark.parametrize(
    ("check", "given", "message"),
    [
        (lambda a: args.text(a, "q"), {}, "q is required (a non-empty string)"),
        (lambda a: args.text(a, "q"), {"q": "   "}, "q is required (a non-empty string)"),
        (lambda a: args.text(a, "q"), {"q": 3}, "q is required (a non-empty string)"),
        (lambda a: args.optional_text(a, "t"), {"t": 3}, "t must be a string"),
        (lambda a: args.any_text(a, "c"), {"c": None}, "c is required (a string)"),
        (lambda a: args.integer(a, "n", default=1, low=1, high=5), {"n": 6}, "n must be an integer from 1 to 5"),
        (lambda a: args.integer(a, "n", default=1, low=1), {"n": True}, "n must be an integer at least 1"),
        (lambda a: args.integer(a, "n", default=1, low=1), {"n": "2"}, "n must be an integer at least 1"),
        (lambda a: args.flag(a, "f"), {"f": "yes"}, "f must be true or false"),
        (lambda a: args.strings(a, "argv"), {"argv": ["ls", 1]}, "argv is required: a non-empty array of strings"),
        (lambda a: args.strings(a, "argv"), {"argv": []}, "argv is required: a non-empty array of strings"),
    ],
)
def test_argument_errors_name_the_argument_and_what_it_should_be(
    check: Any, given: dict[str, Any], message: str
) -> None:
    with pytest.raises(ToolInputError) as caught:
        check(given)
    assert str(caught.value) == message


def test_arguments_in_the_expected_shape_come_back_typed() -> None:
    given: dict[str, Any] = {"q": "rust", "n": 3.0, "f": True, "argv": ["git", "status"], "blank": " ", "empty": ""}
    assert args.text(given, "q") == "rust" and args.text(given, "blank", blank=True) == " "
    assert args.text(given, "missing", default=".") == "."
    assert args.integer(given, "n", default=1, low=1) == 3 and args.integer(given, "x", default=7, low=1) == 7
    assert args.flag(given, "f") is True and args.flag(given, "x") is False
    assert args.strings(given, "argv") == ["git", "status"]
    assert args.optional_text(given, "empty") is None and args.optional_text(given, "q") == "rust"
    assert args.any_text(given, "empty") == ""
