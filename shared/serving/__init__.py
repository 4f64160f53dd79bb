r"""Every function as a functions-framework CloudEvent target over HTTP, beside the pump.

Why the Flask mode of functions-framework (3.10), not its ``aio`` (ASGI) mode: the
ASGI wrapper discards the handler's return value, answers every error it does not
expect with a bare 500, puts the CloudEvents SDK's exception text in its 400, and
has no place for routes of our own (its CloudEvent route is a POST catch-all). The
Flask mode runs the target's source inside the app context of the app it builds, so
``main.py`` adds ``/healthz``, ``/readyz``, ``/metrics``, an auth check (``_auth``:
one policy per target), a strict CloudEvent guard and error handlers to that very app
(``install_into_current_app``). The decorated handler stays a plain sync function; it
hands the async handler to a private event loop on a daemon thread (``FunctionTarget``),
which owns the Redis and Hub clients, so every gunicorn thread shares them and requests run concurrently::

    request thread ─► guard (401 by the target's auth policy, then 400 naming the attribute)
        ─► @cloud_event def runner(event) ─► serve(target, event)
        ─► loop thread: with_log_context(with_activation_metrics(handler))
        ─► outcome events XADDed to <prefix>:results (as the pump's settle does) ─► 200 JSON

Run a target (see each ``functions/<name>/main.py`` for its name)::

    functions-framework --source functions/runner/main.py --target runner --signature-type cloudevent
    # or, to give long activations their drain time on SIGTERM (the CLI's gunicorn allows 30 s):
    gunicorn --bind :8080 --threads 16 --timeout 0 --graceful-timeout 330 \
      'functions_framework:create_app(target="runner", source="functions/runner/main.py")'
"""

from shared.observability import Readiness

from ._asgi import AsgiTarget, asgi_app
from ._auth import AuthPolicy, PushAuth, events_token, hub_webhook, operator_token, sync_ticks, ticks
from ._core import Served
from ._flask import install, install_into_current_app, serve, start_target
from ._operator import OPERATOR_HEADER, install_operator_routes
from ._target import FunctionTarget

__all__ = [
    "OPERATOR_HEADER",
    "AsgiTarget",
    "AuthPolicy",
    "FunctionTarget",
    "PushAuth",
    "Readiness",
    "Served",
    "asgi_app",
    "events_token",
    "hub_webhook",
    "install",
    "install_into_current_app",
    "install_operator_routes",
    "operator_token",
    "serve",
    "start_target",
    "sync_ticks",
    "ticks",
]
