from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry

from local_emulator.hub import DEFAULT_API_KEY, MockHubServer
from shared.accounting import AccountingMetrics, ConsumptionOutbox, UsageBook
from shared.hub import HubClient
from shared.streams import Redis, StreamKeys


async def _no_sleep(_delay_s: float) -> None:
    return None


@pytest.fixture
async def client(server: MockHubServer) -> AsyncIterator[HubClient]:
    """One try per call, so a fault the test injects reaches the code under test."""
    async with HubClient(
        base_url=server.url, api_key=DEFAULT_API_KEY, max_attempts=1, timeout_s=5.0, sleep=_no_sleep
    ) as client:
        yield client


@pytest.fixture
def accounting_metrics(registry: CollectorRegistry) -> AccountingMetrics:
    return AccountingMetrics(registry)


@pytest.fixture
def outbox(redis: Redis, keys: StreamKeys, accounting_metrics: AccountingMetrics) -> ConsumptionOutbox:
    return ConsumptionOutbox(redis, keys=keys, metrics=accounting_metrics)


@pytest.fixture
def book(redis: Redis, keys: StreamKeys, outbox: ConsumptionOutbox, accounting_metrics: AccountingMetrics) -> UsageBook:
    return UsageBook(redis, keys=keys, outbox=outbox, metrics=accounting_metrics)
