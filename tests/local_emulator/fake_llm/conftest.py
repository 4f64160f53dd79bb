from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDictProxy

from local_emulator.fake_llm import FakeLLMServer

ANTHROPIC_HEADERS = {"x-api-key": "test-key", "anthropic-version": "2023-06-01"}
OPENAI_HEADERS = {"Authorization": "Bearer test-key"}


@pytest.fixture
async def fake() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer() as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def post(
    http: aiohttp.ClientSession, url: str, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, Any, CIMultiDictProxy[str]]:
    """POST ``body`` as JSON; the status, the decoded JSON (or text) and the headers."""
    if headers is None:
        headers = ANTHROPIC_HEADERS if url.endswith("/v1/messages") else OPENAI_HEADERS
    async with http.post(url, json=body, headers=headers) as response:
        text = await response.text()
        try:
            data: Any = await response.json(content_type=None)
        except ValueError:
            data = text
        return response.status, data, response.headers
