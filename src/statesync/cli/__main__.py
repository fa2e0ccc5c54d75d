"""``python -m statesync.cli``."""

import sys

from statesync.cli.main import main

sys.exit(main())
