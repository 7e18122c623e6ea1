"""Subcommands `analyze`, `report` and `tipping` (to be implemented)."""


def register(sub) -> None:
    """Register the analysis subcommands."""
