"""``python -m functions FUNCTION [ARGS...]``: the container image's one entrypoint.

One image serves every function; the command picks which (the Knative Services and the
runner Deployment/ScaledJob in ``knative/`` and ``keda/`` pass it as ``args``)::

    poller              the poller's functions-framework target on $PORT (Knative sets it; 8080)
    definitions         the definitions function's target on $PORT: the push webhook and the sync tick
    metrics             the metrics function: consumes the results stream; probes and
                        /metrics on METRICS_PORT
    runner [--once]     the runner's stream pump (--once: one activation, for a Job)

The poller and the definitions function run under gunicorn as functions-framework runs
them in production, one worker with threads (a handler owns an event loop per process).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
USAGE = "usage: python -m functions poller | definitions | metrics | runner [--once] [--idle-exit S]"
HTTP_TARGETS = frozenset({"poller", "definitions"})


def main(argv: list[str] | None = None) -> int:
    """Exec the function asked for; 2 on a name that is not one."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in {*HTTP_TARGETS, "metrics", "runner"}:
        print(USAGE, file=sys.stderr)
        return 2
    name, rest = args[0], args[1:]
    if name in HTTP_TARGETS:
        port = os.environ.get("PORT", "8080")
        app = f'functions_framework:create_app(target="{name}", source="{HERE / name / "main.py"}")'
        # /dev/shm for gunicorn's heartbeat files: the root filesystem is read-only.
        options = ["--bind", f":{port}", "--workers", "1", "--threads", "4", "--worker-tmp-dir", "/dev/shm"]
        options += ["--timeout", "0", "--graceful-timeout", "60"]
        os.execv(sys.executable, [sys.executable, "-m", "gunicorn", *options, app])
    os.execv(sys.executable, [sys.executable, "-m", f"functions.{name}", *rest])


if __name__ == "__main__":
    sys.exit(main())
