"""A function's target built the way its server builds it, served over real HTTP on loopback.

Two fronts (``Front``): ``flask``, the functions-framework app (``create_app``) under
werkzeug's threaded server, and ``asgi``, the module's ``app`` (``shared.serving.asgi_app``)
under uvicorn with its lifespan, as ``python -m functions ingest`` runs it.
"""

from __future__ import annotations

import importlib.util
import socket
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import functions_framework
import httpx
import pytest
import uvicorn
from werkzeug.serving import make_server

from shared.serving import AsgiTarget, FunctionTarget

Front = Literal["flask", "asgi"]
FRONTS: tuple[Front, ...] = ("flask", "asgi")


class Served:
    """A target's app on 127.0.0.1 over real HTTP (Flask or ASGI), and its target."""

    def __init__(self, app: Any, target: FunctionTarget, *, token: str = "", front: Front = "flask") -> None:
        self.app = app
        self.target = target
        self.front = front
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._uvicorn: uvicorn.Server | None = None
        if front == "asgi":
            listener = socket.socket()
            listener.bind(("127.0.0.1", 0))
            self.url = f"http://127.0.0.1:{listener.getsockname()[1]}"
            config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
            self._uvicorn = uvicorn.Server(config)
            self._thread = threading.Thread(target=self._uvicorn.run, kwargs={"sockets": [listener]}, daemon=True)
            self._thread.start()
            deadline = time.monotonic() + 10
            while not self._uvicorn.started and self._thread.is_alive() and time.monotonic() < deadline:
                time.sleep(0.01)
            assert self._uvicorn.started, "uvicorn did not start within 10 s"
            return
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def client(self, *, authenticated: bool = True) -> httpx.AsyncClient:
        """A client of the target; ``authenticated`` sends the target's bearer token on every request."""
        headers = self.headers if authenticated else {}
        return httpx.AsyncClient(base_url=self.url, timeout=10, headers=headers)

    def close(self) -> None:
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True  # drains, then the lifespan's shutdown closes the target's clients
        else:
            self._server.shutdown()
        self._thread.join(10)
        self.target.close()


def serve_target(
    monkeypatch: pytest.MonkeyPatch,
    *,
    target: str,
    source: str,
    env: Mapping[str, Any],
    token: str = "",
    front: Front = "flask",
) -> Served:
    """Set ``env`` (restored after the test), build ``target`` from ``source`` as its server does, serve it.

    ``token``: the bearer token its clients send (the target's push credential).
    ``front``: ``flask`` (functions-framework's ``create_app``) or ``asgi`` (the module's ``app``).
    """
    # functions-framework writes these two itself; set them here so they are restored.
    full = {"FUNCTION_TARGET": target, "FUNCTION_SIGNATURE_TYPE": "cloudevent", **env}
    for name, value in full.items():
        monkeypatch.setenv(name, value)
    if front == "asgi":
        module = _load(source)
        assert isinstance(module.app, AsgiTarget), f"{source} has no ASGI app"
        return Served(module.app, module.target, token=token, front=front)
    app = functions_framework.create_app(target=target, source=source, signature_type="cloudevent")  # type: ignore[no-untyped-call]
    return Served(app, sys.modules[Path(source).stem].target, token=token)


def _load(source: str) -> Any:
    """Execute ``source`` afresh (its settings read now), as uvicorn imports it in a new process."""
    spec = importlib.util.spec_from_file_location(f"_asgi_{Path(source).stem}", source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
