"""A runner pod that has already started: ``python -m local_emulator._pod`` imports the runner, then waits.

On a cluster, an image already on the node starts in well under a second; here a cold
``python -m functions.runner`` spends about two seconds importing the SDKs. So the
emulator keeps one of these ready: when KEDA's decision needs a runner, the emulator
writes ``go`` on its stdin and it runs ``functions.runner``'s own ``main()``, the same
code path as any runner. Anything else on stdin (or EOF) makes it exit without
consuming anything; SIGTERM before ``go`` ends it at once.
"""

from __future__ import annotations

import sys


def main() -> int:
    import functions.runner.__main__ as runner
    import functions.runner.activation  # noqa: F401  (the default handler factory and all it imports)

    if sys.stdin.readline().strip() != "go":
        return 0
    return runner.main()


if __name__ == "__main__":
    sys.exit(main())
