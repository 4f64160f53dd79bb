"""``python -m bench dispatch|recovery [--json]``."""

from __future__ import annotations

import argparse
import asyncio
import sys

import orjson


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
    for p in (dispatch, recovery):
        p.add_argument("--json", action="store_true", help="print only the JSON result")
    args = parser.parse_args(argv)

    if args.bench == "dispatch":
        from bench import dispatch as bench

        result = asyncio.run(
            bench.run(
                events=args.events, latency_events=args.latency_events, rate=args.rate, concurrency=args.concurrency
            )
        )
    else:
        from bench import recovery as bench  # type: ignore[no-redef]

        result = asyncio.run(bench.run(events=args.events, kills=args.kills, seed=args.seed))
    if not args.json:
        for key, value in result.items():
            print(f"{key:>24}: {value}", file=sys.stderr)
    print(orjson.dumps(result).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
