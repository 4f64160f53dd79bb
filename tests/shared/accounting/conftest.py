from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry

from local_emulator.hub import MockHubServer
from shared.accounting import AccountingMetrics, ConsumptionOutbox, UsageBook
from shared.hub import HubClient
from shared.streams import Redis, StreamKeys
from tests.support import hub_client


@pytest.fixture
async def client(server: MockHubServer) -> AsyncIterator[HubClient]:
    """One try per call, so a fault the test injects reaches the code under test."""
    async with hub_client(server.url, max_attempts=1) as client:
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
