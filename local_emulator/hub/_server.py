"""The aiohttp app over a ``MockHub``, and a server that owns its socket with ``async with``."""

from __future__ import annotations

from types import TracebackType

from aiohttp import web

from ._api import HubApi
from ._control import Control
from ._middleware import api_middleware
from ._state import MockHub
from ._webhook import WebhookSender

HUB_KEY = web.AppKey("hub", MockHub)
WEBHOOK_KEY = web.AppKey("webhook", WebhookSender)


def create_app(hub: MockHub | None = None) -> web.Application:
    """The mock Hub as an aiohttp application: ``/api/v1`` (the contract) and ``/_mock`` (control)."""
    state = hub or MockHub()
    app = web.Application(middlewares=[api_middleware(state)])
    app[HUB_KEY] = state
    app.add_routes(HubApi(state).routes())
    app.add_routes(Control(state).routes())

    async def startup(app: web.Application) -> None:
        state.closing = False
        app[WEBHOOK_KEY] = WebhookSender(state)

    async def shutdown(app: web.Application) -> None:
        state.close()  # wake long-polls so the server need not wait them out

    async def cleanup(app: web.Application) -> None:
        await app[WEBHOOK_KEY].aclose()

    app.on_startup.append(startup)
    app.on_shutdown.append(shutdown)
    app.on_cleanup.append(cleanup)
    return app


class MockHubServer:
    """Serves a ``MockHub`` on ``host:port`` (port 0: a free one) while the ``async with`` lasts."""

    def __init__(self, hub: MockHub | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.hub = hub or MockHub()
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """The base URL (without ``/api/v1``)."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    async def start(self) -> MockHubServer:
        runner = web.AppRunner(create_app(self.hub), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, self._host, self._port).start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> MockHubServer:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
