"""``python -m shared.cli``: the ``botburrow`` command."""

import sys

from shared.cli import main

sys.exit(main())
