"""What a call costs: usage priced from the dated table in ``prices.json``.

The table gives USD per million tokens for the four usage kinds (input, output,
cache write, cache read) of each model. Model names are matched this way:

1. lower-cased, and a leading ``vendor/`` (gateway style, ``anthropic/claude-...``) dropped;
2. an exact table name or alias;
3. the longest table name (or alias) followed only by version suffixes: a date
   (``-20250514``, ``-2024-08-06``, ``@20250514``), ``-latest`` or ``-v2[:0]``.
   ``claude-sonnet-4-20250514`` is ``claude-sonnet-4``; ``claude-sonnet-4-7`` is unknown.

An unknown model is never free: each kind is charged at the highest rate any known
model has for it, and ``llm.cost.unknown_model`` is logged, so a missing price shows
up as overspend in the budget rather than as free tokens.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from importlib import resources
from typing import Any, Literal

import structlog
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from shared.errors import ConfigurationError

from ._types import Usage

log = structlog.get_logger(__name__)

_MILLION = Decimal(1_000_000)
_VERSION_SUFFIX = re.compile(r"(?:-\d{8}|-\d{4}-\d{2}-\d{2}|@\d{8}|-latest|-v\d+(?::\d+)?)+")
_NAME = re.compile(r"[a-z0-9][a-z0-9.\-]*")


class ModelPrice(BaseModel):
    """USD per million tokens of each usage kind for one model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: Decimal = Field(ge=0)
    output: Decimal = Field(ge=0)
    cache_write: Decimal = Field(ge=0)
    cache_read: Decimal = Field(ge=0)
    aliases: tuple[str, ...] = ()

    def charge(self, usage: Usage) -> Decimal:
        """The USD cost of ``usage`` at these rates."""
        total = (
            usage.input_tokens * self.input
            + usage.output_tokens * self.output
            + usage.cache_write_tokens * self.cache_write
            + usage.cache_read_tokens * self.cache_read
        )
        return total / _MILLION


class PriceTable(BaseModel):
    """The dated price table; ``lookup`` finds a model's entry by the matching rules."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    as_of: date
    source: str = Field(min_length=1)
    currency: Literal["USD"]
    unit: Literal["per_million_tokens"]
    matching: str = ""
    models: dict[str, ModelPrice] = Field(min_length=1)
    _index: dict[str, str] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _names_are_distinct(self) -> PriceTable:
        index: dict[str, str] = {}
        for name, price in self.models.items():
            for key in (name, *price.aliases):
                if not _NAME.fullmatch(key):
                    raise ValueError(f"model name {key!r} must be lower-case letters, digits, '.' and '-'")
                if key in index:
                    raise ValueError(f"model name {key!r} appears twice")
                index[key] = name
        self._index = index
        return self

    def lookup(self, model: str) -> tuple[str, ModelPrice] | None:
        """The table name and price for ``model``, or ``None`` when it is unknown."""
        name = model.strip().lower().rsplit("/", 1)[-1]
        if name in self._index:
            return self._entry(name)
        for key in sorted(self._index, key=len, reverse=True):
            if name.startswith(key) and _VERSION_SUFFIX.fullmatch(name[len(key) :]):
                return self._entry(key)
        return None

    @functools.cached_property
    def highest(self) -> ModelPrice:
        """Each kind's highest rate in the table: the price of an unknown model."""
        prices = self.models.values()
        return ModelPrice(
            input=max(p.input for p in prices),
            output=max(p.output for p in prices),
            cache_write=max(p.cache_write for p in prices),
            cache_read=max(p.cache_read for p in prices),
        )

    def _entry(self, key: str) -> tuple[str, ModelPrice]:
        name = self._index[key]
        return name, self.models[name]


@dataclass(frozen=True)
class Cost:
    """What one call (or a sum of usage) cost.

    ``known`` is false when the model was not in the table and the highest rates were
    charged; ``priced_as`` names the table entry used (``None`` when unknown).
    """

    usd: Decimal
    known: bool
    as_of: date
    priced_as: str | None


def load_price_table(text: str | bytes) -> PriceTable:
    """Parse and validate a price table (numbers are read as exact decimals).

    Raises:
        ConfigurationError: the text is not JSON or not a valid table; says which field.
    """
    try:
        raw: Any = json.loads(text, parse_float=Decimal)
        return PriceTable.model_validate(raw)
    except ValueError as exc:  # JSONDecodeError and ValidationError are both ValueErrors
        detail = exc.errors()[0] if isinstance(exc, ValidationError) else str(exc)
        raise ConfigurationError(f"invalid LLM price table: {detail}") from exc


@functools.cache
def price_table() -> PriceTable:
    """The table shipped in ``shared/llm/prices.json``, loaded and validated once."""
    return load_price_table(resources.files("shared.llm").joinpath("prices.json").read_bytes())


def cost_usd(model: str, usage: Usage, *, table: PriceTable | None = None) -> Cost:
    """The cost of ``usage`` on ``model``, from all four usage kinds.

    An unknown model is charged at the table's highest rate for each kind and logged.
    """
    table = table or price_table()
    found = table.lookup(model)
    if found is None:
        log.warning("llm.cost.unknown_model", model=model, as_of=table.as_of.isoformat(), charged="highest known rates")
        return Cost(usd=table.highest.charge(usage), known=False, as_of=table.as_of, priced_as=None)
    name, price = found
    return Cost(usd=price.charge(usage), known=True, as_of=table.as_of, priced_as=name)
