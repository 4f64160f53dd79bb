"""Knative's queue-proxy, emulated: each Service takes at most ``containerConcurrency`` requests at once.

In a Knative pod every request passes the queue-proxy sidecar, whose breaker lets at most
``containerConcurrency`` requests reach the container and holds the others. Its facts
(knative/serving, ``cmd/queue`` ``buildBreaker`` and ``pkg/queue`` ``Breaker``):

- ``containerConcurrency: 0`` (the default) means no breaker: any number at once;
- otherwise up to ``containerConcurrency`` in flight and ``10 * containerConcurrency``
  waiting (in arrival order); a request beyond both is answered ``503`` at once
  ("pending request queue full"), never queued.

Here one ``QueueProxy`` listens on a Service's address and forwards to the function's
process on a private port, with the same rules, so the class of problem Knative's limit
causes (a minute-long tick holding a one-at-a-time Service while a webhook waits) shows
on one machine. Each Service's ``containerConcurrency`` is read from the Knative
manifests (``service_concurrency``), so the emulator and the cluster cannot drift apart.
What the kubelet and Prometheus reach on the pod itself, not through the queue-proxy
(``GET /healthz``, ``/readyz``, ``/metrics``), is forwarded without waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import structlog
import yaml
from aiohttp import web

log = structlog.get_logger("botburrow.emulator")

QUEUE_DEPTH_FACTOR = 10
"""Requests that may wait per unit of ``containerConcurrency`` (Knative's queue-proxy)."""
UNQUEUED = frozenset({"/healthz", "/readyz", "/metrics"})
# Hop-by-hop headers (RFC 9110) and what aiohttp recomputes: never copied across the proxy.
_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "host"}
    | {"content-length", "content-encoding"}
)


def service_concurrency(folder: Path) -> dict[str, int]:
    """Each Knative Service's ``containerConcurrency`` in the manifests under ``folder`` (0 when unset).

    Raises:
        ValueError: a manifest is not YAML, or a value is not a non-negative integer (naming the file).
    """
    found: dict[str, int] = {}
    for path in sorted(folder.glob("*.y*ml")):
        try:
            documents = list(yaml.safe_load_all(path.read_text()))
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: not YAML: {exc}") from exc
        for doc in documents:
            if not isinstance(doc, dict) or doc.get("kind") != "Service":
                continue
            if not str(doc.get("apiVersion", "")).startswith("serving.knative.dev/"):
                continue
            name = str(doc["metadata"]["name"])
            value = doc.get("spec", {}).get("template", {}).get("spec", {}).get("containerConcurrency", 0)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{path}: Service {name}: containerConcurrency {value!r} is not an integer >= 0")
            found[name] = value
    return found


@dataclass
class Counts:
    """What one proxy saw: requests in flight and waiting now, the most at once, refusals."""

    in_flight: int = 0
    waiting: int = 0
    max_in_flight: int = 0
    max_waiting: int = 0
    refused: int = 0


class QueueProxy:
    """One Service's queue-proxy on ``host:port``, forwarding to ``upstream``; use ``async with``.

    Args:
        name: the Service's name, for logs.
        upstream: the function's own address, ``http://127.0.0.1:PORT``.
        concurrency: ``containerConcurrency``; 0 means unlimited.
        port: where to listen (0: a free port, see ``url``).
        queue_depth: how many may wait; Knative's ``10 * concurrency`` when ``None``.
    """

    def __init__(
        self,
        *,
        name: str,
        upstream: str,
        concurrency: int,
        port: int = 0,
        host: str = "127.0.0.1",
        queue_depth: int | None = None,
        timeout_s: float = 600.0,
    ) -> None:
        self.name = name
        self.upstream = upstream.rstrip("/")
        self.concurrency = concurrency
        self.queue_depth = QUEUE_DEPTH_FACTOR * concurrency if queue_depth is None else queue_depth
        self.counts = Counts()
        self._host, self._port = host, port
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._slots = asyncio.Semaphore(concurrency) if concurrency > 0 else None
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.url = ""

    async def __aenter__(self) -> QueueProxy:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=1.5), timeout=self._timeout, auto_decompress=False
        )
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://{self._host}:{port}/"
        limit = self.concurrency or "unlimited"
        log.info("emulator.queue_proxy", service=self.name, url=self.url, container_concurrency=limit)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self._slots is None or (request.method == "GET" and request.path in UNQUEUED):
            return await self._forward(request)
        counts = self.counts
        if self._slots.locked():  # every slot taken: wait in line, if there is room in it
            if counts.waiting >= self.queue_depth:
                counts.refused += 1
                log.warning("emulator.queue_full", service=self.name, waiting=counts.waiting)
                return web.json_response({"error": "overloaded", "problem": "pending request queue full"}, status=503)
            counts.waiting += 1
            counts.max_waiting = max(counts.max_waiting, counts.waiting)
            try:
                await self._slots.acquire()
            finally:
                counts.waiting -= 1
        else:
            await self._slots.acquire()  # a free slot: at once
        counts.in_flight += 1
        counts.max_in_flight = max(counts.max_in_flight, counts.in_flight)
        try:
            return await self._forward(request)
        finally:
            counts.in_flight -= 1
            self._slots.release()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None, "QueueProxy used outside async with"
        headers = _end_to_end(request.headers)
        body = await request.read()
        try:
            async with self._session.request(
                request.method,
                self.upstream + request.path_qs,
                headers=headers,
                data=body,
                allow_redirects=False,  # a redirect is the client's to follow, as through Knative
            ) as answer:
                if answer.content_type == "text/event-stream":  # server-sent events: passed on as they come
                    return await _relay(request, answer)
                payload = await answer.read()
                return web.Response(status=answer.status, body=payload, headers=_end_to_end(answer.headers))
        except (aiohttp.ClientError, TimeoutError) as exc:
            # Knative answers 502 when the container cannot be reached.
            log.warning("emulator.upstream_failed", service=self.name, error=type(exc).__name__)
            return web.json_response({"error": "upstream_unreachable", "service": self.name}, status=502)


async def _relay(request: web.Request, answer: aiohttp.ClientResponse) -> web.StreamResponse:
    """Copy a streamed answer chunk by chunk (Knative's queue-proxy does not buffer them either)."""
    relayed = web.StreamResponse(status=answer.status, headers=_end_to_end(answer.headers))
    relayed.headers.pop("Content-Length", None)
    await relayed.prepare(request)
    with contextlib.suppress(ConnectionResetError, aiohttp.ClientError):
        async for chunk in answer.content.iter_any():
            await relayed.write(chunk)
    return relayed


def _end_to_end(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in _HOP}


def private_port(host: str = "127.0.0.1") -> int:
    """A free port for a function's own process, behind its queue-proxy."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
