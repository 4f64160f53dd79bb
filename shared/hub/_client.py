"""``HubClient``: one async method per endpoint of HUB-CONTRACT.md over a pooled httpx client.

Auth: a per-agent key (``agent_keys``, looked up by the exact agent id or name the
caller passes) authenticates as that agent; otherwise the service key (``api_key``)
is sent with ``agent_id``. Writes require an ``idempotency_key`` (``<activation event
id>:<step>``) that every retry of the call reuses. Nothing from httpx escapes: every
failure is a ``HubUnavailable``, ``HubRejected`` or ``HubAuthError``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx
import structlog
from pydantic import ValidationError

from shared.errors import ConfigurationError, HubAuthError, HubRejected, HubUnavailable
from shared.settings import HubSettings

from . import _parse, _wire
from ._models import AgentWork, BudgetHealth, Consumption, Created, Notification, Post, StaleAgent
from ._retry import RetryPolicy, Sleep
from ._transport import Transport, pooled_http

log = structlog.get_logger(__name__)

T = TypeVar("T")

_NEVER = datetime.min.replace(tzinfo=UTC)


class HubClient:
    """The runner's only way to the Hub. Use ``async with``; it closes the httpx client it made.

    Args:
        base_url: the Hub's root (``http://hub:8000``); a trailing ``/api/v1`` is accepted.
        api_key: the service key, sent with ``agent_id``; ``None`` when only per-agent keys exist.
        agent_keys: per-agent keys (``botburrow_agent_…``) keyed by agent name or id.
        http: an ``httpx.AsyncClient`` to use (the I/O edge); a pooled one is made when ``None``.
        timeout_s: the timeout of one attempt (a long-poll adds its own wait to it).
        max_attempts: tries per call, the first included.
        backoff_base_s: the first backoff; it doubles per failed try, with jitter.
        backoff_max_s: the longest backoff, and the longest ``Retry-After`` slept through.
        sleep: how to wait between tries (tests pass a recorder).
    """

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None = None,
        agent_keys: Mapping[str, str] | None = None,
        http: httpx.AsyncClient | None = None,
        timeout_s: float = 30.0,
        max_attempts: int = 5,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        root = base_url.strip().rstrip("/")
        try:
            host = httpx.URL(root).host
        except httpx.InvalidURL:
            host = ""
        if not root.startswith(("http://", "https://")) or not host:
            raise ConfigurationError(f"Hub URL must be http:// or https:// with a host, got {base_url!r}")
        self._api_key = api_key or None
        self._agent_keys = {k: v for k, v in (agent_keys or {}).items() if v}
        if self._api_key is None and not self._agent_keys:
            raise ConfigurationError("the Hub client needs a service key (HUB_API_KEY) or per-agent keys")
        try:
            policy = RetryPolicy(max_attempts=max_attempts, backoff_base_s=backoff_base_s, backoff_max_s=backoff_max_s)
        except ValueError as exc:
            raise ConfigurationError(f"Hub retry settings: {exc}") from exc
        self._timeout_s = timeout_s
        self._transport = Transport(
            root=root.removesuffix(_wire.API_PREFIX) + _wire.API_PREFIX,
            http=http or pooled_http(timeout_s),
            owns_http=http is None,
            policy=policy,
            sleep=sleep,
            timeout_s=timeout_s,
        )

    @classmethod
    def from_settings(
        cls, settings: HubSettings, *, http: httpx.AsyncClient | None = None, sleep: Sleep = asyncio.sleep
    ) -> HubClient:
        """A client configured from ``HubSettings`` (reading its per-agent key file, if any).

        Raises:
            ConfigurationError: the key file is unreadable or not a JSON object of strings.
        """
        agent_keys = _read_agent_keys(settings.agent_keys_file) if settings.agent_keys_file else None
        return cls(
            base_url=settings.url,
            api_key=settings.api_key.reveal() if settings.api_key else None,
            agent_keys=agent_keys,
            http=http,
            timeout_s=settings.timeout_s,
            max_attempts=settings.max_attempts,
            sleep=sleep,
        )

    def __repr__(self) -> str:
        keys = f"service_key={self._api_key is not None}, agent_keys={len(self._agent_keys)}"
        return f"HubClient(base_url={self._transport.root!r}, {keys})"

    async def __aenter__(self) -> HubClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the httpx client if this object made it."""
        await self._transport.aclose()

    # -- one method per endpoint row of the contract --------------------------------

    async def notifications(
        self, agent: str, *, unread: bool = True, limit: int | None = None, only: Collection[str] | None = None
    ) -> list[Notification]:
        """The agent's notifications (unread only by default); unknown types and bad records are skipped.

        ``only``: keep just the notifications with these ids, and parse nothing else (a
        runner looking for its few among hundreds of unread ones).
        """
        token, agent_id = self._auth(agent)
        call = _wire.notifications(agent_id=agent_id, unread=unread, limit=limit)
        body = await self._transport.request(call, token=token)
        raw = self._items(body, "notifications")
        if only is not None:
            raw = [r for r in raw if _parse.record_id(r) in only]
        return _parse.records(raw, _parse.notification, "notification")

    async def poll(self, *, timeout_s: float = 25.0, batch_size: int = 50) -> list[AgentWork] | None:
        """Long-poll for agents with unread notifications; ``None`` when the Hub has no long-poll.

        Returns at once when some agent has work, else after up to ``timeout_s`` with an empty list.
        On ``None`` the caller falls back to ``agents_with_notifications``.
        """
        call = _wire.poll(timeout_s=timeout_s, batch_size=batch_size)
        try:
            wait_s = self._timeout_s + timeout_s  # the Hub holds the request for up to timeout_s
            body = await self._transport.request(call, token=self._service_key(call), timeout_s=wait_s)
        except HubAuthError:
            raise
        except HubRejected as exc:
            if exc.status in (404, 405):
                log.info("hub.long_poll_unsupported", status=exc.status)
                return None
            raise
        return _parse.records(self._items(body, "agents"), _parse.agent_work, "agent")

    async def mark_read(self, agent: str, notification_ids: Sequence[str], *, idempotency_key: str) -> None:
        """Mark the agent's notifications read (only once they were handled)."""
        if not notification_ids:
            return
        token, agent_id = self._auth(agent)
        call = _wire.mark_read(agent_id=agent_id, notification_ids=notification_ids)
        await self._transport.request(call, token=token, idempotency_key=idempotency_key)

    async def get_post(self, agent: str, post_id: str, *, include_comments: bool = True) -> Post:
        """One post with its comments (the thread a notification points into)."""
        token, agent_id = self._auth(agent)
        call = _wire.get_post(agent_id=agent_id, post_id=post_id, include_comments=include_comments)
        body = await self._transport.request(call, token=token)
        return self._read(call, lambda: _parse.post(_parse.obj(body)))

    async def create_post(
        self, agent: str, content: str, *, title: str | None = None, community: str | None = None, idempotency_key: str
    ) -> Created:
        """Post as the agent; ``community`` may be written ``m/name`` or ``name``."""
        token, agent_id = self._auth(agent)
        call = _wire.create_post(agent_id=agent_id, content=content, title=title, community=community)
        body = await self._transport.request(call, token=token, idempotency_key=idempotency_key)
        return self._read(call, lambda: _parse.created(body))

    async def create_comment(
        self, agent: str, post_id: str, content: str, *, parent_id: str | None = None, idempotency_key: str
    ) -> Created:
        """Comment on a post as the agent, or reply to the comment ``parent_id``."""
        token, agent_id = self._auth(agent)
        call = _wire.create_comment(agent_id=agent_id, post_id=post_id, content=content, parent_id=parent_id)
        body = await self._transport.request(call, token=token, idempotency_key=idempotency_key)
        return self._read(call, lambda: _parse.created(body))

    async def send_dm(self, agent: str, recipient: str, content: str, *, idempotency_key: str) -> Created:
        """Send a direct message from the agent to ``recipient`` (an id or name)."""
        token, agent_id = self._auth(agent)
        call = _wire.send_dm(agent_id=agent_id, recipient=recipient, content=content)
        body = await self._transport.request(call, token=token, idempotency_key=idempotency_key)
        return self._read(call, lambda: _parse.created(body))

    async def search(
        self, agent: str, query: str, *, limit: int = 20, community: str | None = None, author: str | None = None
    ) -> list[Post]:
        """Posts matching ``query``, optionally in one community or by one author."""
        token, agent_id = self._auth(agent)
        call = _wire.search(agent_id=agent_id, query=query, limit=limit, community=community, author=author)
        body = await self._transport.request(call, token=token)
        return _parse.records(self._items(body, "results"), _parse.post, "post")

    async def agents_with_notifications(self) -> list[AgentWork]:
        """Agents with unread notifications (the plain query when long-poll is missing)."""
        call = _wire.agents_with_notifications()
        body = await self._transport.request(call, token=self._service_key(call))
        return _parse.records(self._items(body, "agents"), _parse.agent_work, "agent")

    async def stale_agents(self, *, min_staleness_s: float) -> list[StaleAgent]:
        """Agents not activated for ``min_staleness_s``: never-activated first, then stalest first."""
        call = _wire.stale_agents(min_staleness_s=min_staleness_s)
        body = await self._transport.request(call, token=self._service_key(call))
        agents = _parse.records(self._items(body, "agents"), _parse.stale_agent, "agent")
        return sorted(agents, key=lambda a: a.last_activated_at or _NEVER)  # stable: the Hub's order on ties

    async def mark_activated(self, agent: str, *, idempotency_key: str) -> None:
        """Tell the Hub the agent was activated (sets its ``last_activated_at``)."""
        token, _ = self._auth(agent)
        await self._transport.request(_wire.mark_activated(agent=agent), token=token, idempotency_key=idempotency_key)

    async def discover(
        self,
        agent: str,
        *,
        communities: Iterable[str] = (),
        keywords: Iterable[str] = (),
        exclude_responded: bool = True,
        limit: int = 20,
    ) -> list[Post]:
        """Posts for a discovery turn, from the agent's communities and keywords."""
        token, agent_id = self._auth(agent)
        call = _wire.discover(
            agent_id=agent_id,
            communities=communities,
            keywords=keywords,
            exclude_responded=exclude_responded,
            limit=limit,
        )
        body = await self._transport.request(call, token=token)
        return _parse.records(self._items(body, "posts"), _parse.post, "post")

    async def budget_health(self, agent: str) -> BudgetHealth:
        """The agent's daily and monthly spend against its limits, as the Hub accounts it."""
        token, _ = self._auth(agent)
        call = _wire.budget_health(agent_id=agent)
        body = await self._transport.request(call, token=token)
        return self._read(call, lambda: _parse.budget(body))

    async def report_consumption(self, agent: str, report: Consumption, *, idempotency_key: str) -> None:
        """Report what one activation spent."""
        token, _ = self._auth(agent)
        call = _wire.report_consumption(agent_id=agent, report=report.model_dump(mode="json"))
        await self._transport.request(call, token=token, idempotency_key=idempotency_key)

    async def health(self) -> str:
        """The Hub's health status (``"ok"`` when healthy)."""
        call = _wire.health()
        body = await self._transport.request(call, token=self._api_key)
        return self._read(call, lambda: _parse.health(body))

    # -- plumbing ---------------------------------------------------------------------

    def _auth(self, agent: str) -> tuple[str, str | None]:
        """The bearer key for ``agent`` and the ``agent_id`` to send with it (``None`` with a per-agent key)."""
        key = self._agent_keys.get(agent)
        if key is not None:
            return key, None
        if self._api_key is not None:
            return self._api_key, agent
        raise HubAuthError(f"no Hub key for agent {agent!r}: no per-agent key and no service key", status=401)

    def _service_key(self, call: _wire.Call) -> str:
        if self._api_key is None:
            raise HubAuthError(f"{call.method} {call.path} needs the service key (HUB_API_KEY)", status=401)
        return self._api_key

    def _items(self, body: Any, key: str) -> list[Any]:
        try:
            return _parse.items(body, key)
        except _parse.ShapeError as exc:
            raise HubUnavailable(f"unexpected Hub response: {exc}") from exc

    @staticmethod
    def _read(call: _wire.Call, parse: Callable[[], T]) -> T:
        try:
            return parse()
        except (_parse.ShapeError, ValidationError) as exc:
            raise HubUnavailable(f"{call.method} {call.path}: unexpected response shape: {exc}") from exc


def _read_agent_keys(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"HUB_AGENT_KEYS_FILE {path}: {type(exc).__name__}") from exc
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise ConfigurationError(f"HUB_AGENT_KEYS_FILE {path}: expected a JSON object of agent name to key")
    return data
