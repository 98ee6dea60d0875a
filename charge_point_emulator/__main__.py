"""`python -m charge_point_emulator`: run emulated stations (same flags as `cli.py emulate`)."""

import sys

from charge_point_emulator.cli import main

sys.exit(main())
