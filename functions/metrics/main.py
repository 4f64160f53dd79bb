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
import structlog
from cloudevents.http import CloudEvent

from shared.logs import configure_logging
from shared.serving import FunctionTarget, install_into_current_app, serve
from shared.settings import Settings

HANDLER = "functions.metrics.handler:handler"

settings = Settings.from_env()
if not structlog.is_configured():  # once per process: a host that configured it (a test session) keeps its own
    configure_logging(level=settings.log_level, json=settings.log_json, secrets=settings.secrets())
target = FunctionTarget.from_settings("metrics", settings, handler=HANDLER)
install_into_current_app(target)


@functions_framework.cloud_event
def metrics(event: CloudEvent) -> None:
    """Account one ``activation.completed``: usage aggregates, consumption outbox."""
    serve(target, event)
