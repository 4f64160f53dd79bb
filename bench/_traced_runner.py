"""``python -m bench._traced_runner``: ``python -m functions.runner`` under tracemalloc.

Each SIGUSR1 writes a snapshot (``tracemalloc.Snapshot.dump``) to ``$BENCH_SNAPSHOT``
plus the signal's ordinal (``<path>.1``, ``<path>.2``, ...), so the scale bench can
compare a runner at rest with the same runner holding N conversations. Tracing costs the
runner CPU: its throughput under it is not a figure.
"""

from __future__ import annotations

import itertools
import os
import signal
import sys
import tracemalloc
from types import FrameType

from functions.runner.__main__ import main

_taken = itertools.count(1)


def _dump(_signum: int, _frame: FrameType | None) -> None:
    path = f"{os.environ['BENCH_SNAPSHOT']}.{next(_taken)}"
    tracemalloc.take_snapshot().dump(path + ".part")
    os.replace(path + ".part", path)  # whole, or not there: the bench waits for the name


if __name__ == "__main__":
    tracemalloc.start(1)
    signal.signal(signal.SIGUSR1, _dump)
    sys.exit(main())
