"""``python -m functions.runner [--once]``: consume the activation streams until SIGTERM, exit 0.

``--once`` is the ScaledJob's mode: claim one activation, handle it, exit 0 (also when
no activation was there to claim within ``--idle-exit`` seconds, 60 by default: another
Job took it).
"""

from __future__ import annotations

import argparse
import sys

from shared.runtime import run_pump_process


def main(argv: list[str] | None = None) -> int:
    """Entrypoint; exit 0 after a drain, 2 on bad configuration."""
    parser = argparse.ArgumentParser(prog="python -m functions.runner", description=__doc__.splitlines()[0])
    parser.add_argument("--once", action="store_true", help="handle one activation, then exit (a Job's mode)")
    parser.add_argument(
        "--idle-exit",
        type=float,
        default=60.0,
        metavar="S",
        help="with --once: exit when nothing came within S seconds",
    )
    args = parser.parse_args(argv)
    return run_pump_process("botburrow-runner", once=args.once, idle_exit_s=args.idle_exit)


if __name__ == "__main__":
    sys.exit(main())
