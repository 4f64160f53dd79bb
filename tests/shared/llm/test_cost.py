"""Cost: exact arithmetic for all four usage kinds, name matching, the unknown-model rule."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from structlog.testing import capture_logs

from shared.errors import ConfigurationError
from shared.llm import Usage, cost_usd, load_price_table, price_table

SONNET_4 = "claude-sonnet-4-20250514"


def test_the_shipped_table_validates_and_is_dated() -> None:
    table = price_table()
    assert isinstance(table.as_of, date)
    assert table.as_of >= date(2026, 1, 1)
    assert table.source
    for name in ("claude-sonnet-4", "claude-opus-4", "claude-haiku-4-5", "gpt-4o", "gpt-4o-mini", "gpt-4.1", "o3"):
        assert name in table.models, name
    assert all(p.input > 0 and p.output > 0 for p in table.models.values())


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (Usage(input_tokens=1_000_000), Decimal("3")),
        (Usage(output_tokens=1_000_000), Decimal("15")),
        (Usage(cache_write_tokens=1_000_000), Decimal("3.75")),
        (Usage(cache_read_tokens=1_000_000), Decimal("0.30")),
        (Usage(1234, 567, 8900, 45678), Decimal("0.0592854")),
    ],
)
def test_each_usage_kind_is_priced_at_its_own_rate(usage: Usage, expected: Decimal) -> None:
    # (1234*3 + 567*15 + 8900*3.75 + 45678*0.30) / 1e6 = (3702 + 8505 + 33375 + 13703.4) / 1e6
    cost = cost_usd(SONNET_4, usage)
    assert cost.usd == expected
    assert cost.known is True
    assert cost.priced_as == "claude-sonnet-4"
    assert cost.as_of == price_table().as_of


def test_the_four_kinds_add_up() -> None:
    parts = [Usage(input_tokens=10), Usage(output_tokens=20), Usage(cache_write_tokens=30), Usage(cache_read_tokens=40)]
    total = sum((cost_usd("gpt-4o", u).usd for u in parts), Decimal(0))
    assert cost_usd("gpt-4o", Usage(10, 20, 30, 40)).usd == total == Decimal("0.00035")  # (25 + 200 + 75 + 50) / 1e6


@pytest.mark.parametrize(
    ("model", "entry"),
    [
        ("claude-sonnet-4-20250514", "claude-sonnet-4"),
        ("claude-sonnet-4-0", "claude-sonnet-4"),
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("claude-opus-4-1-20250805", "claude-opus-4-1"),
        ("claude-3-5-sonnet-latest", "claude-3-5-sonnet"),
        ("claude-haiku-4-5@20251001", "claude-haiku-4-5"),
        ("anthropic/claude-opus-4-5", "claude-opus-4-5"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("GPT-4.1-Mini", "gpt-4.1-mini"),
        ("o3-mini-2025-01-31", "o3-mini"),
    ],
)
def test_dated_names_aliases_and_vendor_prefixes_find_their_entry(model: str, entry: str) -> None:
    cost = cost_usd(model, Usage(1, 1, 1, 1))
    assert (cost.known, cost.priced_as) == (True, entry)


@pytest.mark.parametrize("model", ["claude-sonnet-4-7", "gpt-4o-mini-tts", "my-local-llama", "claude-sonnet"])
def test_a_name_that_only_starts_like_a_known_one_is_unknown(model: str) -> None:
    assert price_table().lookup(model) is None


def test_an_unknown_model_pays_the_highest_rate_of_each_kind_and_is_logged() -> None:
    table = price_table()
    highest = table.highest
    assert highest.input == max(p.input for p in table.models.values()) == Decimal("15")
    assert highest.output == Decimal("75")
    assert highest.cache_write == Decimal("18.75")
    assert highest.cache_read == Decimal("7.50")  # o1's cached input: the maximum comes per kind, not per model
    with capture_logs() as logs:
        cost = cost_usd("mystery-model-9", Usage(1_000_000, 1_000_000, 1_000_000, 1_000_000))
    assert cost.usd == Decimal("116.25")
    assert cost.known is False and cost.priced_as is None
    assert [e["event"] for e in logs] == ["llm.cost.unknown_model"]
    assert logs[0]["model"] == "mystery-model-9" and logs[0]["log_level"] == "warning"


def test_an_unknown_model_is_never_free_even_for_one_token_of_any_kind() -> None:
    for usage in (
        Usage(input_tokens=1),
        Usage(output_tokens=1),
        Usage(cache_write_tokens=1),
        Usage(cache_read_tokens=1),
    ):
        assert cost_usd("unheard-of", usage).usd > 0


def test_a_known_model_is_not_logged() -> None:
    with capture_logs() as logs:
        cost_usd("gpt-4o-mini", Usage(1, 1))
    assert logs == []


def test_a_custom_table_is_validated_and_used() -> None:
    table = load_price_table(
        '{"as_of": "2026-01-02", "source": "test", "currency": "USD", "unit": "per_million_tokens",'
        ' "models": {"m-1": {"input": 0.1, "output": 0.2, "cache_write": 0.3, "cache_read": 0.05}}}'
    )
    assert cost_usd("m-1", Usage(10, 10, 10, 10), table=table).usd == Decimal("0.0000065")
    assert cost_usd("m-2", Usage(10, 0, 0, 0), table=table).usd == Decimal("0.000001")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("not json", "invalid LLM price table"),
        (
            '{"as_of": "2026-01-02", "source": "s", "currency": "USD", "unit": "per_million_tokens", "models": {}}',
            "models",
        ),
        (
            '{"as_of": "yesterday", "source": "s", "currency": "USD", "unit": "per_million_tokens",'
            ' "models": {"m": {"input": 1, "output": 1, "cache_write": 1, "cache_read": 1}}}',
            "as_of",
        ),
        (
            '{"as_of": "2026-01-02", "source": "s", "currency": "USD", "unit": "per_million_tokens",'
            ' "models": {"m": {"input": -1, "output": 1, "cache_write": 1, "cache_read": 1}}}',
            "input",
        ),
        (
            '{"as_of": "2026-01-02", "source": "s", "currency": "USD", "unit": "per_million_tokens",'
            ' "models": {"m": {"input": 1, "output": 1, "cache_write": 1, "cache_read": 1},'
            ' "n": {"input": 1, "output": 1, "cache_write": 1, "cache_read": 1, "aliases": ["m"]}}}',
            "appears twice",
        ),
    ],
)
def test_a_broken_table_is_a_configuration_error_naming_the_field(text: str, problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem):
        load_price_table(text)
