"""The emulator's live status: a panel redrawn in place on a terminal, log lines elsewhere."""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

import structlog

from ._emulator import Emulator

log = structlog.get_logger("botburrow.emulator")


async def show_status(emulator: Emulator, *, tty: bool, out: TextIO = sys.stdout) -> None:
    """Refresh every second on a TTY (in place); every 10 s as one log line otherwise.

    The stream figures are the ones the KEDA emulation read last: no Redis of its own.
    """
    every_s = 1.0 if tty else 10.0
    drawn = 0
    while True:
        lag: dict[str, int] = {}
        pending: dict[str, int] = {}
        for pool in emulator.pools.values():
            if pool.last_figures is not None:
                lag.update(pool.last_figures.lag)
                pending.update(pool.last_figures.pending)
        c = emulator.counters
        runners, draining = len(emulator.runners), len(emulator.draining)
        if tty:
            lines = [
                f"botburrow emulator  up {emulator.uptime_s():6.0f}s   Ctrl-C stops",
                *(f"  {k}: {v}" for k, v in emulator.addresses().items()),
                "  stream                             lag   pending",
                *(
                    f"  {stream:<32} {lag.get(stream, 0):>5} {pending.get(stream, 0):>9}"
                    for stream in sorted(set(lag) | set(pending))
                ),
                *(
                    f"  {pool.name:<20} runners {len(pool.runners)} (draining {len(pool.draining)})   "
                    f"keda: {'paused' if pool.paused else (pool.last_decision.reason if pool.last_decision else '-')}"
                    for pool in emulator.pools.values()
                ),
                f"  activations done {c.done}  failed {c.failed}   tokens {c.tokens}   cost ${c.cost_usd:.4f}",
            ]
            if drawn:
                out.write(f"\x1b[{drawn}F\x1b[J")  # back to the panel's first line, clear below
            out.write("\n".join(lines) + "\n")
            out.flush()
            drawn = len(lines)
        else:
            log.info(
                "emulator.status",
                lag=sum(lag.values()),
                pending=sum(pending.values()),
                runners=runners,
                draining=draining,
                pools={p.name: len(p.runners) for p in emulator.pools.values()},
                done=c.done,
                failed=c.failed,
                tokens=c.tokens,
                cost_usd=round(c.cost_usd, 6),
            )
        await asyncio.sleep(every_s)
