"""The Hub's webhook: every created notification pushed as a binary-mode CloudEvent.

``com.botburrow.hub.notification.created`` with ``subject`` = the agent's id and data =
the notification (in the contract's shape) plus ``agent_id``. With a ``webhook_secret``
each delivery is signed as GitHub signs its webhooks: ``X-Hub-Signature-256:
sha256=<HMAC-SHA256 of the body>`` (``shared.signing``), which ingest checks. Deliveries run in the
background with a few retries; a failure is logged and never breaks the Hub request
that created the notification.

One pooled session carries every delivery: connections are kept alive and reused (a
burst of mentions must not open a connection per notification), each answer's body
is read to its end so its connection goes back to the pool instead of being closed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import structlog

from shared.errors import InvalidEvent
from shared.events import notification_created, to_http
from shared.signing import SIGNATURE_HEADER, signature

from . import _render as render
from ._model import Dialect, Notification
from ._state import MockHub

log = structlog.get_logger(__name__)

# Deliveries render the notification in the contract's shape, whatever the mock's dialect.
_CONTRACT = Dialect()
# Connections to the receiver, at most: enough for a burst, and a burst queues beyond it.
POOL_SIZE = 64
# Idle connections are dropped a little before gunicorn's default keep-alive (2 s) drops
# them server-side (ingest runs on gunicorn), so a delivery does not race the close.
KEEPALIVE_S = 1.5


class WebhookSender:
    def __init__(self, hub: MockHub, *, attempts: int = 3, backoff_s: float = 0.1, timeout_s: float = 5.0) -> None:
        self._hub = hub
        self._attempts = attempts
        self._backoff_s = backoff_s
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        hub.listeners.append(self._on_notification)

    def _on_notification(self, notification: Notification) -> None:
        url = self._hub.webhook_url
        if not url:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            log.warning("mock_hub.webhook_skipped", reason="no running event loop", notification_id=notification.id)
            return
        task = loop.create_task(self._deliver(url, notification))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, url: str, notification: Notification) -> None:
        data: dict[str, Any] = {**render.notification(notification, _CONTRACT), "agent_id": notification.agent_id}
        try:
            event = notification_created(at=notification.created_at, agent_id=notification.agent_id, notification=data)
        except InvalidEvent as exc:
            log.warning("mock_hub.webhook_unsendable", notification_id=notification.id, problem=str(exc))
            return
        headers, body = to_http(event, binary=True)
        if self._hub.webhook_secret:
            headers[SIGNATURE_HEADER] = signature(self._hub.webhook_secret, body)
        session = self._session_for_deliveries()
        problem = ""
        for attempt in range(1, self._attempts + 1):
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()  # to the end: an unread body would close the connection
                    if response.status < 300:
                        log.debug("mock_hub.webhook_delivered", notification_id=notification.id, status=response.status)
                        return
                    problem = f"status {response.status}"
                    if response.status < 500 and response.status not in (408, 429):
                        break
            except (aiohttp.ClientError, TimeoutError) as exc:
                problem = type(exc).__name__
            if attempt < self._attempts:
                await asyncio.sleep(self._backoff_s * 2 ** (attempt - 1))
        log.warning("mock_hub.webhook_failed", notification_id=notification.id, problem=problem)

    def _session_for_deliveries(self) -> aiohttp.ClientSession:
        """The session every delivery shares, made on first use (it needs the running loop)."""
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=POOL_SIZE, keepalive_timeout=KEEPALIVE_S)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._session

    async def aclose(self, *, timeout_s: float = 2.0) -> None:
        """Let deliveries in flight finish (briefly), then stop."""
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._on_notification in self._hub.listeners:
            self._hub.listeners.remove(self._on_notification)
