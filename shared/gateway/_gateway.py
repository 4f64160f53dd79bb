"""``Gateway``: the activation gateway, an HTTP service in the runner process.

Routes (``Leases`` decide who may use them; each activation's token dies with it):

=========================  =========================================================
``GET|HEAD /``             health (the CLIs look before they call)
``POST /v1/messages``      the Anthropic Messages API, JSON and SSE (``_llm``)
``POST /v1/chat/completions``  OpenAI chat completions, JSON and SSE
``/mcp/{name}``            MCP over streamable HTTP: ``hub`` and each granted server (``_mcp``)
=========================  =========================================================

It runs uvicorn inside the runner's event loop (the runner keeps its own signal
handling) on loopback, on a port of its own choosing unless given one, and, with
``uds``, on a unix socket too: the one a coding CLI's sandbox (no network) has mounted
and reaches through a forwarder inside it (``shared.executors``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from types import TracebackType

import aiohttp
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from ._leases import Leases
from ._limit import DEFAULT_MAX_BODY_BYTES, BodyLimit
from ._llm import LlmRoutes, health
from ._mcp import McpRoutes


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: the runner process owns SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Gateway:
    """The gateway's app and server; ``async with`` starts it, ``url`` is where it answers.

    Args:
        leases: the tokens it accepts (``Gateway.leases`` issues them).
        host: where it listens (loopback by default).
        port: its port (0: a free one).
        http: the session that forwards LLM calls (a pooled one is made at ``start`` when ``None``).
        uds: a unix socket path to answer on as well (made world-connectable: the token is
            what admits a caller; a stale socket file there is replaced).
        max_body_bytes: the longest request body any route reads (``GATEWAY_MAX_BODY_BYTES``;
            413 past it, see ``_limit``).
    """

    def __init__(
        self,
        *,
        leases: Leases | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        http: aiohttp.ClientSession | None = None,
        uds: str | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self.leases = leases if leases is not None else Leases()  # an empty one is falsy (len 0)
        self.uds = uds
        self._host = host
        self._port = port
        self._http = http
        self._owned_http = http is None
        self._llm = LlmRoutes(self.leases, http)
        self._mcp = McpRoutes(self.leases)
        llm = self._llm
        self.app = Starlette(
            routes=[
                Route("/", health, methods=["GET", "HEAD"]),
                Route("/v1/messages", llm.anthropic, methods=["POST"]),
                Route("/v1/chat/completions", llm.openai, methods=["POST"]),
                Route("/mcp/{name}", self._mcp, methods=["GET", "POST", "DELETE"]),
            ],
            lifespan=self._lifespan,
            middleware=[Middleware(BodyLimit, max_bytes=max_body_bytes)],
        )
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.port = port

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:40123``."""
        return f"http://{self._host}:{self.port}"

    @asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        async with self._mcp.lifespan():
            yield

    async def start(self) -> Gateway:
        """Listen; returns once the gateway answers."""
        if self._http is None:
            self._http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, connect=30, sock_read=600),
                connector=aiohttp.TCPConnector(limit=200),
                auto_decompress=False,  # bytes pass through as the provider sent them
            )
            self._llm.http = self._http
        config = uvicorn.Config(
            self.app, host=self._host, port=self._port, log_level="warning", access_log=False, lifespan="on"
        )
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=self._sockets()), name="gateway")
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises why it could not start
                raise RuntimeError("the gateway stopped before it started")
            await asyncio.sleep(0.01)
        self.port = int(self._server.servers[0].sockets[0].getsockname()[1])
        return self

    def _sockets(self) -> list[socket.socket]:
        """The listening sockets: TCP on ``host:port``, and the unix socket ``uds``."""
        tcp = socket.socket(socket.AF_INET6 if ":" in self._host else socket.AF_INET, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tcp.bind((self._host, self._port))
        sockets = [tcp]
        if self.uds is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.uds)
            unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            unix.bind(self.uds)
            os.chmod(self.uds, 0o666)  # the sandbox's user connects; its token admits it
            sockets.append(unix)
        return sockets

    async def stop(self) -> None:
        """Stop answering, finish what runs, close the forwarding client."""
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
            self._server = self._task = None
            if self.uds is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.uds)
        if self._owned_http and self._http is not None:
            await self._http.close()
            self._http = None

    async def __aenter__(self) -> Gateway:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
