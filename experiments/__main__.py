"""`python -m relsim.experiments` is the same as the `relsim` command."""

from relsim.experiments.cli import entry

entry()
