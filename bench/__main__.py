"""``python -m bench dispatch|recovery|e2e|ingest|sandbox|gateway|cli|soak|scale [--json]``."""

from __future__ import annotations

import argparse
import asyncio
import sys

import orjson


def _sizes(text: str) -> list[int]:
    """A comma-separated list of positive integers (empty: none)."""
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") from None
    if any(n < 1 for n in sizes):
        raise argparse.ArgumentTypeError(f"every size must be at least 1, got {text!r}")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    sub = parser.add_subparsers(dest="bench", required=True)
    dispatch = sub.add_parser("dispatch", help="drain rate and dispatch latency of one runner")
    dispatch.add_argument("--events", type=int, default=20_000)
    dispatch.add_argument("--latency-events", type=int, default=5_000)
    dispatch.add_argument("--rate", type=float, default=500.0, help="paced publish rate of the latency run")
    dispatch.add_argument("--concurrency", type=int, default=None, help="RUNNER_CONCURRENCY (default: the runner's)")
    recovery = sub.add_parser("recovery", help="SIGKILL runners while events flow; count lost and duplicate effects")
    recovery.add_argument("--events", type=int, default=240)
    recovery.add_argument("--kills", type=int, default=12)
    recovery.add_argument("--seed", type=int, default=None)
    e2e = sub.add_parser("e2e", help="mentions on the mock Hub to replies, every function running as in production")
    e2e.add_argument("--mentions", type=int, default=300)
    e2e.add_argument("--agents", type=int, default=10)
    e2e.add_argument("--runners", type=int, default=2)
    ingest = sub.add_parser("ingest", help="signed webhooks to ingest while a tick holds the poller: POST to stream")
    ingest.add_argument("--webhooks", type=int, default=200)
    ingest.add_argument("--rate", type=float, default=100.0, help="webhooks a second, as the Hub creates them")
    ingest.add_argument("--cold", action="store_true", help="no warm-up: ingest meets each agent for the first time")
    sandbox = sub.add_parser("sandbox", help="sandbox cold start, warm acquire and exec times (Docker and bwrap)")
    sandbox.add_argument("--runs", type=int, default=30, help="runs of each measurement (at least 30)")
    gateway = sub.add_parser("gateway", help="latency and CPU the activation gateway adds to an LLM call")
    gateway.add_argument("--calls", type=int, default=500)
    cli = sub.add_parser("cli", help="each coding CLI's cold start and mention-to-reply time, per sandbox backend")
    cli.add_argument("--runs", type=int, default=5, help="activations per executor and backend")
    soak = sub.add_parser("soak", help="mixed work while runners, Redis, the Hub and the LLM fail on a schedule")
    soak.add_argument("--minutes", type=float, default=5.0)
    scale = sub.add_parser("scale", help="the poller's tick over 1k-100k agents; one runner holding N conversations")
    scale.add_argument("--agents", type=_sizes, default=[1000, 10_000, 100_000], help="fleet sizes, comma-separated")
    scale.add_argument("--concurrency", type=_sizes, default=[64, 256, 1024], help="RUNNER_CONCURRENCY values")
    scale.add_argument("--answer-after-s", type=float, default=2.0, help="the fake LLM's delay before every answer")
    scale.add_argument("--work-share", type=float, default=0.02, help="agents with a mention at each tick")
    scale.add_argument("--ticks", type=int, default=5, help="ticks with work measured per fleet size (median)")
    scale.add_argument("--waves", type=int, default=5, help="conversations per runner slot (N x waves in all)")
    scale.add_argument("--trace-memory", action="store_true", help="a second, traced run per N: where memory goes")
    for p in (dispatch, recovery, e2e, ingest, sandbox, gateway, cli, soak, scale):
        p.add_argument("--json", action="store_true", help="print only the JSON result")
    args = parser.parse_args(argv)

    if args.bench == "dispatch":
        from bench import dispatch as bench

        result = asyncio.run(
            bench.run(
                events=args.events, latency_events=args.latency_events, rate=args.rate, concurrency=args.concurrency
            )
        )
    elif args.bench == "recovery":
        from bench import recovery as bench  # type: ignore[no-redef]

        result = asyncio.run(bench.run(events=args.events, kills=args.kills, seed=args.seed))
    elif args.bench == "gateway":
        from bench import gateway as bench  # type: ignore[no-redef]

        result = asyncio.run(bench.run(calls=args.calls))
    elif args.bench == "cli":
        from bench import cli as bench  # type: ignore[no-redef]

        result = asyncio.run(bench.run(runs=args.runs))
    elif args.bench == "sandbox":
        from bench import sandbox as bench  # type: ignore[no-redef]

        result = asyncio.run(bench.run(runs=args.runs))
    elif args.bench == "soak":
        from bench import soak as bench  # type: ignore[no-redef]

        result = asyncio.run(bench.run(minutes=args.minutes))
    elif args.bench == "scale":
        from bench import scale as scale_bench

        result = asyncio.run(
            scale_bench.run(
                agents=args.agents,
                concurrency=args.concurrency,
                answer_after_s=args.answer_after_s,
                work_share=args.work_share,
                ticks=args.ticks,
                waves=args.waves,
                trace_memory=args.trace_memory,
            )
        )
    elif args.bench == "ingest":
        from bench import ingest as bench  # type: ignore[no-redef]

        result = asyncio.run(bench.run(webhooks=args.webhooks, rate=args.rate, cold=args.cold))
    else:
        from bench import e2e as bench  # type: ignore[no-redef]

        result = asyncio.run(bench.run(mentions=args.mentions, agents=args.agents, runners=args.runners))
    if not args.json:
        for key, value in result.items():
            print(f"{key:>24}: {value}", file=sys.stderr)
    print(orjson.dumps(result).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
