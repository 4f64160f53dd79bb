r"""The poller as a functions-framework CloudEvent target: a PingSource tick or a pushed notification.

The handler factory is the poller's (``HANDLER``), the same the pump would feed::

    functions-framework --source functions/poller/main.py --target poller --signature-type cloudevent --port 8080
    gunicorn --bind :8080 --threads 4 --timeout 0 --graceful-timeout 60 \
      'functions_framework:create_app(target="poller", source="functions/poller/main.py")'

Besides ``POST /`` (binary or structured CloudEvent): ``GET /healthz``, ``/readyz``,
``/metrics``. Settings come from the environment once, here (see ``shared.settings``).
"""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from shared.serving import serve, start_target

HANDLER = "functions.poller.handlers:handler"

target = start_target("poller", handler=HANDLER)


@functions_framework.cloud_event
def poller(event: CloudEvent) -> None:
    """Handle one ``ping`` (a tick) or ``notification.created`` (ingest); activations go on the streams."""
    serve(target, event)
