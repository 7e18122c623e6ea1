"""`python -m experiments` is the same as the `relsim` command."""

import sys

from experiments.cli import main

sys.exit(main())
