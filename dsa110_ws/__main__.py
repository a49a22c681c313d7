"""``python -m dsa110_ws``: the ``dsa110-ws`` command line."""

import sys

from dsa110_ws.cli import main

sys.exit(main())
