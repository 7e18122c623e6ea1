"""Subcommands `sweep`, `merge` and `slurm` (to be implemented)."""


def register(sub) -> None:
    """Register the sweep subcommands."""
