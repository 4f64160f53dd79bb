"""Run by ``tests/test_isolation.py`` as a pytest session of its own, with planted credentials in
its environment: what the guard in ``tests/conftest.py`` must have taken out before any test ran.

Not collected by the suite (the name does not start with ``test_``).
"""

from __future__ import annotations

import os
import subprocess
import sys

PLANTED = ("PLANTED_API_KEY", "GITHUB_TOKEN_WRITE", "AWS_SECRET_ACCESS_KEY", "HUB_URL")


def test_planted_credentials_are_gone_from_the_test_and_an_inheriting_child() -> None:
    assert [name for name in PLANTED if name in os.environ] == []
    # A child started carelessly (no env=: it inherits everything) still finds nothing.
    printed = subprocess.run(
        [sys.executable, "-c", "import os; print(sorted(os.environ))"], capture_output=True, text=True, check=True
    ).stdout
    assert [name for name in PLANTED if name in printed] == []
