"""`python -m ecomlake ...` is the same as the `ecomlake` command."""

import sys

from ecomlake.cli import main

sys.exit(main())
