"""``python -m functions.runner``: consume the activation streams until SIGTERM, exit 0."""

from __future__ import annotations

import sys

from shared.runtime import run_pump_process


def main() -> int:
    """Entrypoint; exit 0 after a drain, 2 on bad configuration."""
    return run_pump_process("botburrow-runner")


if __name__ == "__main__":
    sys.exit(main())
