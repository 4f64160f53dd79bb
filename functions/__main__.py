"""``python -m functions FUNCTION [ARGS...]``: the container image's one entrypoint.

One image serves every function; the command picks which (the Knative Services and the
runner Deployment/ScaledJob in ``knative/`` and ``keda/`` pass it as ``args``)::

    poller              the poller's functions-framework target (ticks) on $PORT (Knative sets it; 8080)
    ingest              the ingest target (the Hub's webhook, Poller.ingest) on $PORT
    definitions         the definitions function's target on $PORT: the push webhook and the sync tick
    metrics             the metrics function's pump: consumes the results stream; probes and
                        /metrics on METRICS_PORT
    metrics-http        the metrics function's target on $PORT: the operator's routes and
                        controls, the web view (/ui), /metrics read from Redis at scrape
    runner [--once]     the runner's stream pump (--once: one activation, for a Job)

The poller, the definitions function and metrics-http run under gunicorn as functions-framework
runs them in production, one worker with threads (the handler owns an event loop per
process). A command in ``ASGI_TARGETS`` would run its ASGI app under uvicorn instead
(the handler on the server's loop, no thread hand-offs: ``shared.serving._asgi``); none
does yet (see there). ``server_argv`` is the one place these commands are built; the
emulator and the benchmarks start the functions with it too.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
USAGE = (
    "usage: python -m functions poller | ingest | definitions | metrics | metrics-http | runner"
    " [--once] [--idle-exit S]"
)
HTTP_TARGETS = {
    "poller": ("poller/main.py", "poller", 4),
    "ingest": ("poller/ingest.py", "ingest", 32),
    "definitions": ("definitions/main.py", "definitions", 4),
    "metrics-http": ("metrics/main.py", "metrics", 8),  # 4 event streams of the web view at most, and the rest
}
"""Command -> (its source under functions/, its functions-framework target, gunicorn threads)."""
ASGI_TARGETS: dict[str, str] = {}
"""Commands served by their ASGI app under uvicorn instead of gunicorn's threads.

Ingest's (``"ingest": "functions.poller.ingest:app"``) costs a third of the Flask
front's CPU per webhook, but the emulator's browser test
(``tests/browser/test_webview.py``) failed three times in four with it and passed
without it: until that is understood, every target keeps the Flask front here."""
GRACEFUL_S = 60


def server_argv(name: str, *, port: int | str, host: str = "0.0.0.0") -> list[str]:
    """The command serving the HTTP function ``name`` on ``host:port``, as the image runs it."""
    if name in ASGI_TARGETS:
        options = ["--host", host, "--port", str(port), "--lifespan", "on", "--no-access-log", "--log-level", "warning"]
        options += ["--loop", "uvloop", "--http", "httptools", "--timeout-graceful-shutdown", str(GRACEFUL_S)]
        # nothing reads the client's address or wants a Server header: each is work per request
        options += ["--no-proxy-headers", "--no-server-header"]
        return [sys.executable, "-m", "uvicorn", "--app-dir", str(HERE.parent), ASGI_TARGETS[name], *options]
    source, target, threads = HTTP_TARGETS[name]
    app = f'functions_framework:create_app(target="{target}", source="{HERE / source}")'
    # /dev/shm for gunicorn's heartbeat files: the root filesystem is read-only.
    options = ["--bind", f"{host}:{port}", "--workers", "1", "--threads", str(threads), "--worker-tmp-dir", "/dev/shm"]
    options += ["--timeout", "0", "--graceful-timeout", str(GRACEFUL_S)]
    return [sys.executable, "-m", "gunicorn", *options, app]


def main(argv: list[str] | None = None) -> int:
    """Exec the function asked for; 2 on a name that is not one."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in {*HTTP_TARGETS, "metrics", "runner"}:
        print(USAGE, file=sys.stderr)
        return 2
    name, rest = args[0], args[1:]
    if name in HTTP_TARGETS:
        command = server_argv(name, port=os.environ.get("PORT", "8080"))
        os.execv(command[0], command)
    os.execv(sys.executable, [sys.executable, "-m", f"functions.{name}", *rest])


if __name__ == "__main__":
    sys.exit(main())
