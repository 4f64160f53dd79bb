r"""The metrics function as a functions-framework CloudEvent target: one completed activation per POST.

The handler factory is the metrics function's (``HANDLER``), the same the pump would feed::

    functions-framework --source functions/metrics/main.py --target metrics --signature-type cloudevent --port 8080
    gunicorn --bind :8080 --threads 8 --timeout 0 --graceful-timeout 60 \
      'functions_framework:create_app(target="metrics", source="functions/metrics/main.py")'

A POST must carry ``Authorization: Bearer <EVENTS_TOKEN>`` (else 401, before parsing).
Besides ``POST /`` (binary or structured CloudEvent): ``GET /healthz``, ``/readyz``,
``/metrics``, and the operator's routes (``GET /api/agents``, ``/api/agents/<name>``,
``/api/audit``; ``POST /agents/<name>/pause|resume|breaker/reset``,
``/activations/<id>/cancel``), each wanting ``Authorization: Bearer <OPERATOR_TOKEN>``
(``shared.serving.install_operator_routes``), and the live web view under ``/ui``
(``shared.webview``: the same token, or a session a one-time login link opened).
Settings come from the environment once, here (see ``shared.settings``).
"""

from __future__ import annotations

import flask
import functions_framework
from cloudevents.http import CloudEvent

from shared.serving import events_token, install_operator_routes, serve, start_target
from shared.webview import install_webview_routes

HANDLER = "functions.metrics.handler:handler"

target = start_target("metrics", handler=HANDLER, auth=events_token)


@functions_framework.cloud_event
def metrics(event: CloudEvent) -> None:
    """Account one ``activation.completed``: usage aggregates, consumption outbox."""
    serve(target, event)


if flask.has_app_context():
    install_operator_routes(flask.current_app, target)
    install_webview_routes(flask.current_app, target)
