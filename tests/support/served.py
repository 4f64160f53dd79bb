"""A function's target built the way functions-framework builds it, served over real HTTP on loopback."""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import flask
import functions_framework
import httpx
import pytest
from werkzeug.serving import make_server

from shared.serving import FunctionTarget


class Served:
    """A functions-framework app on 127.0.0.1 over real HTTP, and its target."""

    def __init__(self, app: flask.Flask, target: FunctionTarget, *, token: str = "") -> None:
        self.app = app
        self.target = target
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def client(self, *, authenticated: bool = True) -> httpx.AsyncClient:
        """A client of the target; ``authenticated`` sends the target's bearer token on every request."""
        headers = self.headers if authenticated else {}
        return httpx.AsyncClient(base_url=self.url, timeout=10, headers=headers)

    def close(self) -> None:
        self._server.shutdown()
        self._thread.join(5)
        self.target.close()


def serve_target(
    monkeypatch: pytest.MonkeyPatch, *, target: str, source: str, env: Mapping[str, Any], token: str = ""
) -> Served:
    """Set ``env`` (restored after the test), build ``target`` from ``source`` as functions-framework does, serve it.

    ``token``: the bearer token its clients send (the target's push credential).
    """
    # functions-framework writes these two itself; set them here so they are restored.
    full = {"FUNCTION_TARGET": target, "FUNCTION_SIGNATURE_TYPE": "cloudevent", **env}
    for name, value in full.items():
        monkeypatch.setenv(name, value)
    app = functions_framework.create_app(target=target, source=source, signature_type="cloudevent")  # type: ignore[no-untyped-call]
    return Served(app, sys.modules[Path(source).stem].target, token=token)
