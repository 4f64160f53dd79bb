"""YAML into models, with every failure translated into one ``InvalidAgent``.

The error names the file and the dotted path of the field (``brain.top_p``,
``capabilities.mcp_servers.0.command``), says what is wrong in plain words, adds the
line when the field is in the file, and lists the other faulty fields, so one run of
``botburrow agents validate`` shows everything that needs fixing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from shared.errors import InvalidAgent

M = TypeVar("M", bound=BaseModel)

_MORE_SHOWN = 5
# libyaml's parser where PyYAML has it: a tenth of the pure-Python one's time, and a poller
# reads every definition of the fleet (100,000 of them) once per cache_ttl.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_PLAIN = {
    "extra_forbidden": "unknown key, not allowed by schema v1",
    "missing": "required, but missing",
}


def load_yaml(text: str, *, agent: str, file: str) -> tuple[Any, yaml.Node | None]:
    """Parse one YAML document into plain data and the node tree (for line numbers).

    Raises:
        InvalidAgent: the text is not YAML; names the line and column.
    """
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        return (loader.construct_document(node) if node is not None else None), node
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = f"not valid YAML{where}: {exc.problem or exc.context}"
        raise InvalidAgent(agent, file=file, field="", problem=problem) from exc
    except yaml.YAMLError as exc:
        raise InvalidAgent(agent, file=file, field="", problem=f"not valid YAML: {exc}") from exc
    finally:
        loader.dispose()


def validate(model: type[M], data: Any, node: yaml.Node | None, *, agent: str, file: str) -> M:
    """``data`` validated as ``model``.

    Raises:
        InvalidAgent: for the first error in schema order, naming the others.
    """
    if not isinstance(data, dict):
        found = "an empty file" if data is None else f"a {type(data).__name__}"
        raise InvalidAgent(agent, file=file, field="", problem=f"expected a mapping of keys to values, found {found}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = errors[0]
        path = field_path(first["loc"])
        problem = _plain(first)
        line = _line(node, _clean(first["loc"])) if first["type"] != "missing" else None
        if line is not None:
            problem += f" (line {line})"
        others = list(dict.fromkeys(field_path(e["loc"]) for e in errors[1:]))
        if others:
            shown = ", ".join(others[:_MORE_SHOWN]) + (", ..." if len(others) > _MORE_SHOWN else "")
            problem += f"; {len(others)} more problem{'s' if len(others) > 1 else ''}: {shown}"
        raise InvalidAgent(agent, file=file, field=path, problem=problem) from exc


def field_path(loc: Sequence[int | str]) -> str:
    """The dotted path of a pydantic error location (``capabilities.mcp_servers.0.command``)."""
    return ".".join(str(part) for part in _clean(loc))


def _clean(loc: Sequence[int | str]) -> list[int | str]:
    # pydantic puts the tag of the tagged union right after the item's index; the file has no such level
    return [
        p for i, p in enumerate(loc) if not (i >= 2 and loc[i - 2] == "mcp_servers" and isinstance(loc[i - 1], int))
    ]


def _plain(error: ErrorDetails) -> str:
    if error["type"] in _PLAIN:
        return _PLAIN[error["type"]]
    message = error["msg"].removeprefix("Value error, ")
    value = error.get("input")
    if error["type"] != "value_error" and isinstance(value, (str, int, float, bool)):
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        message += f", got {shown}"
    return message


def _line(node: yaml.Node | None, loc: Sequence[int | str]) -> int | None:
    """The 1-based line of the key (or item) a location points at, if the file has it."""
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            pair = next(((k, v) for k, v in node.value if getattr(k, "value", None) == part), None)
            if pair is None:
                return line
            line, node = pair[0].start_mark.line + 1, pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line
