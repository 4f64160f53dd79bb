"""LLM providers behind one interface and one message shape, with retries and cost.

``make_provider`` turns an agent's ``brain`` settings into an ``LLMProvider``:
Anthropic through the ``anthropic`` SDK, or any OpenAI-compatible endpoint through
the ``openai`` SDK, wrapped in ``RetryingProvider``. Conversations are ``Message``
lists of ``Text``, ``ToolCall`` and ``ToolResult`` parts; each adapter translates them
to its provider's exact tool-use protocol and normalises usage into the four kinds
``cost_usd`` prices from the dated table in ``prices.json``.

Failures come only from the ``shared.errors`` tree::

    LLMUnavailable   429, 529, 5xx, timeouts, refused connections: retried with backoff,
                     then raised (transient: the activation can be retried later)
    LLMRejected      400, 401, 403, 404: the provider's message, never retried
    └── LLMSpendLimit  the account's spend limit or quota: never retried
"""

from ._anthropic import ANTHROPIC_BASE_URL, STREAM_ABOVE_TOKENS, AnthropicProvider, anthropic_usage
from ._cost import Cost, ModelPrice, PriceTable, cost_usd, load_price_table, price_table
from ._errors import LLMInterrupted, spent_by
from ._factory import GOOGLE_BASE_URL, OPENAI_BASE_URL, PROVIDERS, make_provider
from ._openai import OpenAICompatibleProvider, openai_usage
from ._retry import RetryingProvider, RetryPolicy
from ._types import (
    Completion,
    LLMProvider,
    Message,
    Part,
    Role,
    StopReason,
    Text,
    ToolCall,
    ToolResult,
    ToolSpec,
    Usage,
)

__all__ = [
    "ANTHROPIC_BASE_URL",
    "GOOGLE_BASE_URL",
    "OPENAI_BASE_URL",
    "PROVIDERS",
    "STREAM_ABOVE_TOKENS",
    "AnthropicProvider",
    "Completion",
    "Cost",
    "LLMInterrupted",
    "LLMProvider",
    "Message",
    "ModelPrice",
    "OpenAICompatibleProvider",
    "Part",
    "PriceTable",
    "RetryPolicy",
    "RetryingProvider",
    "Role",
    "StopReason",
    "Text",
    "ToolCall",
    "ToolResult",
    "ToolSpec",
    "Usage",
    "anthropic_usage",
    "cost_usd",
    "load_price_table",
    "make_provider",
    "openai_usage",
    "price_table",
    "spent_by",
]
