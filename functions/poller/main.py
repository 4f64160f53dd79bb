r"""The poller as a functions-framework CloudEvent target: PingSource ticks, one at a time.

The handler factory is the poller's (``HANDLER``: ticks only; pushed notifications go to
the ingest target, ``ingest.py``, so they never wait behind a tick)::

    functions-framework --source functions/poller/main.py --target poller --signature-type cloudevent --port 8080
    gunicorn --bind :8080 --threads 4 --timeout 0 --graceful-timeout 60 \
      'functions_framework:create_app(target="poller", source="functions/poller/main.py")'

Ticks carry no credential (a PingSource cannot add one): the Service is cluster-local
and takes nothing but ticks (``shared.serving`` ``ticks`` says why that is sound).
Besides ``POST /`` (binary or structured CloudEvent): ``GET /healthz``, ``/readyz``,
``/metrics``. Settings come from the environment once, here (see ``shared.settings``).
"""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from shared.serving import serve, start_target, ticks

HANDLER = "functions.poller.handlers:tick_handler"

target = start_target("poller", handler=HANDLER, auth=ticks)


@functions_framework.cloud_event
def poller(event: CloudEvent) -> None:
    """Handle one ``ping``: a tick, polling the Hub for most of its window under the poller lease."""
    serve(target, event)
