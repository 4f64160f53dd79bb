"""``python -m local_emulator`` (``make run``): the whole system on this machine until Ctrl-C or SIGTERM.

Options override the defaults; the functions read the usual settings from the
environment (``shared.settings``), which the emulator fills in for the parts it runs.
Exit status: 0 after a clean stop, 2 for bad options (a port taken, a broken manifest),
1 when a service fails to start.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import tempfile
from pathlib import Path

import structlog

from shared.logs import configure_logging

from ._children import PortTaken
from ._emulator import DEMO_AGENTS, ROOT, Emulator, Options, Ports
from ._pools import PoolSpec, load_pools
from ._redis import redis_for_emulator
from ._status import show_status
from .keda import default_config
from .queue_proxy import service_concurrency

log = structlog.get_logger("botburrow.emulator")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m local_emulator",
        description="Run botburrow locally: Redis, mock Hub, fake LLM, poller, runners scaled as KEDA would, metrics.",
    )
    p.add_argument(
        "--agents", type=Path, default=None, help="agent definitions (default: AGENTS_DIR, else the demo set)"
    )
    p.add_argument(
        "--port-base",
        type=int,
        default=8080,
        help="functions at BASE+1..3, ingest at BASE+5, definitions at BASE+6, fake LLM at BASE+4 (8080)",
    )
    for name in ("hub", "poller", "ingest", "runner", "metrics", "definitions", "llm"):
        p.add_argument(f"--{name}-port", type=int, default=None, help=f"port of the {name} (overrides --port-base)")
    p.add_argument("--poll-interval", type=float, default=None, help="seconds between ticks (POLL_INTERVAL, 30)")
    p.add_argument(
        "--keda",
        type=Path,
        default=None,
        help="ScaledObject manifests, a file or a folder: one runner pool each (default: keda/)",
    )
    p.add_argument(
        "--knative",
        type=Path,
        default=ROOT / "knative",
        help="Knative manifests whose containerConcurrency each function's queue-proxy enforces (default: knative/)",
    )
    p.add_argument("--grace", type=float, default=None, help="drain grace of a runner (RUNNER_GRACE_PERIOD_S, 30)")
    p.add_argument("--logs", type=Path, default=None, help="where each service's output goes (default: a temp dir)")
    p.add_argument("--status", choices=["auto", "tty", "plain", "off"], default="auto", help="live status view")
    return p


def find_scaled_object(folder: Path = ROOT / "keda") -> Path | None:
    """The first YAML file in ``folder`` holding a ``kind: ScaledObject`` document."""
    if not folder.is_dir():
        return None
    for path in sorted(folder.glob("*.y*ml")):
        with contextlib.suppress(OSError, UnicodeDecodeError):
            if "kind: ScaledObject" in path.read_text():
                return path
    return None


def pools_config(manifest: Path | None, prefix: str) -> tuple[tuple[PoolSpec, ...], str]:
    """The runner pools and KEDA's parameters for each: from the manifests (so emulator and cluster agree).

    ``manifest`` is a file or a folder; by default ``keda/`` (its Deployments give each pool's
    ``RUNNER_MODE``). Without any ScaledObject: one ``hybrid`` pool on the built-in defaults.
    """
    path = manifest or (ROOT / "keda" if find_scaled_object() else None)
    if path is None:
        spec = PoolSpec(name="runner", mode="hybrid", scaler=default_config(prefix))
        return (spec,), "built-in defaults (no ScaledObject in keda/)"
    return tuple(load_pools(path, prefix=prefix)), str(path)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    env = dict(os.environ)
    configure_logging(level=env.get("LOG_LEVEL", "info"), json=False)
    prefix = env.get("STREAM_PREFIX", "botburrow")
    try:
        pools, source = pools_config(args.keda, prefix)
    except (OSError, ValueError) as exc:
        print(f"local_emulator: KEDA manifest: {exc}", file=sys.stderr)
        return 2
    try:
        concurrency = service_concurrency(args.knative)
    except (OSError, ValueError) as exc:
        print(f"local_emulator: Knative manifests: {exc}", file=sys.stderr)
        return 2
    agents = args.agents or Path(env.get("AGENTS_DIR") or DEMO_AGENTS)
    if not agents.is_dir():
        print(f"local_emulator: --agents {agents}: not a directory", file=sys.stderr)
        return 2
    env["AGENTS_DIR"] = str(agents.resolve())
    ports = Ports.from_base(
        args.port_base,
        hub=args.hub_port,
        poller=args.poller_port,
        ingest=args.ingest_port,
        runner=args.runner_port,
        metrics=args.metrics_port,
        definitions=args.definitions_port,
        llm=args.llm_port,
    )
    logs = args.logs or Path(tempfile.mkdtemp(prefix="botburrow-emulator-"))
    status = args.status if args.status != "auto" else ("tty" if sys.stdout.isatty() else "plain")
    if status == "tty":
        # The panel is redrawn in place: the emulator's own log lines go to a file beside the others.
        logs.mkdir(parents=True, exist_ok=True)
        log_file = (logs / "emulator.log").open("a", buffering=1)
        structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=log_file))
        print(f"botburrow emulator: logs in {logs}", file=sys.stderr)
    options = Options(
        agents_dir=agents.resolve(),
        ports=ports,
        logs_dir=logs,
        pools=pools,
        scaler_source=source,
        poll_interval_s=args.poll_interval or float(env.get("POLL_INTERVAL", "30")),
        grace_s=args.grace if args.grace is not None else float(env.get("RUNNER_GRACE_PERIOD_S", "30")),
        status=status,  # type: ignore[arg-type]
        env=env,
        concurrency=concurrency,
    )
    try:
        return asyncio.run(_run(options))
    except PortTaken as exc:
        print(f"local_emulator: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        print(f"local_emulator: {exc}", file=sys.stderr)
        return 1


async def _run(options: Options) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    make_watch = asyncio.create_task(_stop_when_make_is_signalled(stop))
    with redis_for_emulator(options.env.get("REDIS_URL")) as redis_choice:
        if redis_choice.detail and redis_choice.kind == "embedded":
            print(f"WARNING: {redis_choice.detail}", file=sys.stderr)
        emulator = Emulator(options, redis_choice)
        log.info(
            "emulator.starting", keda=options.scaler_source, agents=str(options.agents_dir), logs=str(options.logs_dir)
        )
        status: asyncio.Task[None] | None = None
        if options.status != "off":
            status = asyncio.create_task(show_status(emulator, tty=options.status == "tty"))
        try:
            await emulator.run(stop)
        finally:
            make_watch.cancel()
            if status is not None:
                status.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await status
    return 0


_FATAL = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


async def _stop_when_make_is_signalled(stop: asyncio.Event, *, every_s: float = 0.5) -> None:
    """Stop when ``make run`` is sent SIGTERM (or SIGINT, SIGHUP).

    GNU make 4.3 blocks those signals while it waits for its only child, so a SIGTERM
    sent to make stays pending there and never reaches the emulator. On Linux the
    pending set of the parent is readable in ``/proc``: when the parent is make and one
    of them is pending, stop as if it had been sent here. Elsewhere this does nothing.
    """
    status = Path(f"/proc/{os.getppid()}/status")
    try:
        if Path(f"/proc/{os.getppid()}/comm").read_text().strip() != "make":
            return
    except OSError:
        return
    mask = sum(1 << (int(sig) - 1) for sig in _FATAL)
    while not stop.is_set():
        try:
            pending = next(
                int(line.split()[1], 16) for line in status.read_text().splitlines() if line.startswith("ShdPnd:")
            )
        except (OSError, StopIteration, ValueError):
            return
        if pending & mask:
            log.info("emulator.make_signalled")
            stop.set()
            return
        await asyncio.sleep(every_s)


if __name__ == "__main__":
    sys.exit(main())
