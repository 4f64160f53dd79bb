"""``python -m functions.metrics``: consume ``botburrow:results`` until SIGTERM, exit 0.

The metrics function fed by the pump (its HTTP target is ``main.py``): every completed
activation into the usage book and the consumption outbox, the outbox flushed to the
Hub beside it.
"""

from __future__ import annotations

import sys

from shared.runtime import results_route, run_pump_process


def main() -> int:
    """Entrypoint; exit 0 after a drain, 2 on bad configuration."""
    # The handler exports every stream's status at scrape time (its gauges): the pump must not too.
    return run_pump_process(
        "botburrow-metrics", handler="functions.metrics.handler:handler", route=results_route, status_gauges=False
    )


if __name__ == "__main__":
    sys.exit(main())
