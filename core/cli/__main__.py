"""``python -m wlkit.cli`` (e.g. under ``torchrun``)."""

import sys

from wlkit.cli import main

sys.exit(main())
