r"""The metrics function as a functions-framework CloudEvent target: one completed activation per POST.

The handler factory is the metrics function's (``HANDLER``), the same the pump would feed::

    functions-framework --source functions/metrics/main.py --target metrics --signature-type cloudevent --port 8080
    gunicorn --bind :8080 --threads 8 --timeout 0 --graceful-timeout 60 \
      'functions_framework:create_app(target="metrics", source="functions/metrics/main.py")'

Besides ``POST /`` (binary or structured CloudEvent): ``GET /healthz``, ``/readyz``,
``/metrics``. Settings come from the environment once, here (see ``shared.settings``).
"""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from shared.serving import serve, start_target

HANDLER = "functions.metrics.handler:handler"

target = start_target("metrics", handler=HANDLER)


@functions_framework.cloud_event
def metrics(event: CloudEvent) -> None:
    """Account one ``activation.completed``: usage aggregates, consumption outbox."""
    serve(target, event)
