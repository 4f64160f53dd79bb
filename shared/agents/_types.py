"""Field types that make pydantic judge values exactly as JSON Schema (draft 2020-12) does.

pydantic's lax mode would turn ``"10"`` into 10 and ``true`` into 1; JSON Schema
accepts neither, so strings, booleans and numbers here are strict. Two details of
JSON Schema are kept on purpose: an ``integer`` may be written ``10.0``, and a
``number`` may be an integer. An optional field may be left out, but not given
``null`` (the schema has no nullable field).
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from typing import Annotated, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Strict, StrictBool, StringConstraints

T = TypeVar("T")
S = TypeVar("S", bound=Sequence[Hashable])


class Frozen(BaseModel):
    """A schema object: unknown keys are rejected, and the parsed value is immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _integral(value: object) -> object:
    # JSON Schema counts 10.0 as an integer; pydantic's strict int does not.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _not_null(value: object) -> object:
    if value is None:
        raise ValueError("must not be null: leave the key out instead")
    return value


def _unique(items: S) -> S:
    seen: set[Hashable] = set()
    for item in items:
        if item in seen:
            raise ValueError(f"items must be unique, {item!r} appears more than once")
        seen.add(item)
    return items


# RFC 3986: a scheme, then only unreserved, reserved and percent-encoded characters, one '#' at most.
_URI_CHAR = r"(?:[A-Za-z0-9\-._~:/?\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})"
_URI = re.compile(rf"[A-Za-z][A-Za-z0-9+.\-]*:{_URI_CHAR}*(?:#{_URI_CHAR}*)?")


def _uri(value: str) -> str:
    if _URI.fullmatch(value) is None:
        raise ValueError("must be an absolute URI such as https://api.example.com/v1")
    return value


Str = Annotated[str, Strict()]
Bool = StrictBool
Int = Annotated[int, BeforeValidator(_integral), Strict()]
Number = Annotated[float, Strict()]
Uri = Annotated[str, Strict(), AfterValidator(_uri)]
Maybe = Annotated[T | None, BeforeValidator(_not_null)]
"""An optional field: absent means None, but an explicit ``null`` is rejected."""

Unique = AfterValidator(_unique)
"""``uniqueItems: true`` for a tuple of hashable items."""

Slug = Annotated[str, Strict(), StringConstraints(pattern=r"^[a-z0-9-]+$")]
Grant = Annotated[str, Strict(), StringConstraints(pattern=r"^[a-z0-9-]+:[a-z0-9-]+(:[a-z0-9-]+)?$")]
Community = Annotated[str, Strict(), StringConstraints(pattern=r"^m/[a-z0-9-]+$")]
Version = Annotated[str, Strict(), StringConstraints(pattern=r"^\d+\.\d+\.\d+$")]
EnvName = Annotated[str, Strict(), StringConstraints(pattern=r"^[A-Z][A-Z0-9_]*$")]
Strings = tuple[Str, ...]
Env = dict[Str, Str]
