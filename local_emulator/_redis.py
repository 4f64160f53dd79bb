"""Which Redis the emulator runs on: ``REDIS_URL``, else a private redis-server, else an embedded one.

The embedded one is fakeredis in TCP server mode, on a thread of the emulator process:
enough to try the system on a machine without redis-server, never a substitute for a
real Redis (its streams and Lua are an emulation; the test suite runs on redis-server).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import structlog

from .redis_server import RedisServer, RedisServerMissing, find_redis_server

log = structlog.get_logger("botburrow.emulator")

EMBEDDED_WARNING = (
    "no REDIS_URL and no redis-server >= 7.0 on PATH: using an embedded Redis emulation "
    "(fakeredis), for local use only; install redis-server for the real thing"
)


@dataclass(frozen=True)
class RedisChoice:
    url: str
    kind: str  # "given" (REDIS_URL), "redis-server", or "embedded"
    detail: str = ""


@contextlib.contextmanager
def redis_for_emulator(given_url: str | None) -> Iterator[RedisChoice]:
    """The Redis to use, started (and stopped on exit) when the emulator owns it."""
    if given_url:
        yield RedisChoice(given_url, "given")
        return
    try:
        executable = find_redis_server()
    except RedisServerMissing as missing:
        with _embedded() as url:
            log.warning("emulator.embedded_redis", reason=str(missing))
            yield RedisChoice(url, "embedded", EMBEDDED_WARNING)
        return
    with RedisServer(executable=executable) as server:
        yield RedisChoice(server.url, "redis-server", executable)


@contextlib.contextmanager
def _embedded() -> Iterator[str]:
    # A dev dependency: only this fallback needs it.
    from fakeredis import TcpFakeServer
    from fakeredis._clients._tcp_server import TCPFakeRequestHandler
    from redis.exceptions import ResponseError

    class ErrorKeepsConnection(TCPFakeRequestHandler):
        """The TCP handler, but an error reply leaves the connection open.

        fakeredis 2.x closes a TCP connection after any error reply, NOSCRIPT included, so
        a client never gets to SCRIPT LOAD; here an error reply is just a reply.
        """

        def setup(self) -> None:
            super().setup()
            read = self.current_client.read_response

            def read_response(*args: Any, **kwargs: Any) -> Any:
                try:
                    return read(*args, **kwargs)
                except ResponseError as exc:
                    return exc  # the handler writes it as an error reply and reads on

            self.current_client.read_response = read_response  # type: ignore[method-assign]

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    # Version 7.0: the features the runtime gates on a newer server stay off.
    server = TcpFakeServer(("127.0.0.1", port), server_type="redis", server_version=(7, 0))
    server.RequestHandlerClass = ErrorKeepsConnection
    thread = threading.Thread(target=server.serve_forever, name="embedded-redis", daemon=True)
    thread.start()
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
