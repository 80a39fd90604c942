"""`python -m tpbridge.bridge` is the `tpbridge` command."""

import sys

from tpbridge.bridge.cli import main

sys.exit(main())
