import sys

from dsa110_ws.cli import main

sys.exit(main())
