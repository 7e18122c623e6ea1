"""`python -m relsim.experiments` is the same as the `relsim` command."""

import sys

from relsim.experiments.cli import main

sys.exit(main())
