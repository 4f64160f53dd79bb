"""Completed activations for accounting tests."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.events import ActivationCompleted, Usage

T0 = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)


def completed(
    agent_id: str,
    *,
    activation_id: str = "act-1",
    cost_usd: float = 0.0,
    input_tokens: int = 0,
    output_tokens: int = 0,
    cache_write: int = 0,
    cache_read: int = 0,
    outcome: str = "replied",
    model: str = "claude-sonnet-4-5",
    duration_ms: int = 1500,
) -> ActivationCompleted:
    return ActivationCompleted(
        activation_id=activation_id,
        agent_id=agent_id,
        outcome=outcome,
        duration_ms=duration_ms,
        usage=Usage(
            model=model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_creation_input_tokens=cache_write,
            cache_read_input_tokens=cache_read,
            cost_usd=cost_usd,
        ),
    )
