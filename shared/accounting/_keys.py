"""Redis keys of the accounting package, money in integer micro-dollars, and the redis-py boundary."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

MICRO = Decimal(1_000_000)
DAY_TTL_S = 40 * 24 * 3600
MONTH_TTL_S = 400 * 24 * 3600


@dataclass(frozen=True)
class AccountingKeys:
    """Key names under ``prefix`` (the streams prefix, ``botburrow`` by default)."""

    prefix: str = "botburrow"

    def usage_day(self, agent_id: str, at: datetime) -> str:
        """Hash of one agent's spend on the UTC day of ``at``."""
        return f"{self.prefix}:usage:{agent_id}:d:{utc(at):%Y-%m-%d}"

    def usage_month(self, agent_id: str, at: datetime) -> str:
        """Hash of one agent's spend in the UTC month of ``at``."""
        return f"{self.prefix}:usage:{agent_id}:m:{utc(at):%Y-%m}"

    def spend_day(self, agent_id: str, at: datetime) -> str:
        """Integer micro-USD runners booked for one agent on the UTC day of ``at``, call by call."""
        return f"{self.prefix}:spend:{agent_id}:d:{utc(at):%Y-%m-%d}"

    def spend_month(self, agent_id: str, at: datetime) -> str:
        """Integer micro-USD runners booked for one agent in the UTC month of ``at``, call by call."""
        return f"{self.prefix}:spend:{agent_id}:m:{utc(at):%Y-%m}"

    def budget(self, agent_id: str) -> str:
        """Hash of the Hub's last known budget health of one agent."""
        return f"{self.prefix}:budget:{agent_id}"

    @property
    def outbox(self) -> str:
        """Stream of consumption records waiting for ``POST /system/consumption``."""
        return f"{self.prefix}:consumption:outbox"

    @property
    def dead(self) -> str:
        """Stream of consumption records the Hub refused (4xx), with the reason."""
        return f"{self.prefix}:consumption:dead"

    @property
    def flush_lock(self) -> str:
        """Held by the one flusher sending the outbox at a time."""
        return f"{self.prefix}:consumption:flush-lock"


def utc(at: datetime) -> datetime:
    """``at`` in UTC; a naive time is refused (days and months are UTC days and months).

    Raises:
        ValueError: ``at`` has no timezone.
    """
    if at.tzinfo is None:
        raise ValueError("accounting times must be timezone-aware")
    return at.astimezone(UTC)


def to_micro(usd: float | Decimal | str) -> int:
    """Dollars as integer micro-dollars, rounded half up (floats through their shortest repr)."""
    value = usd if isinstance(usd, Decimal) else Decimal(str(usd))
    return int((value * MICRO).to_integral_value(rounding=ROUND_HALF_UP))


def from_micro(micro: int) -> Decimal:
    """Integer micro-dollars as exact ``Decimal`` dollars."""
    return Decimal(micro) / MICRO
