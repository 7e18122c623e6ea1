"""Shared helpers of the engine tests: comparing stored runs tables, a time bound."""

from __future__ import annotations

import pandas as pd

#: Generous bound for a sweep of a few seconds on a loaded 2-core machine.
DEADLINE_S = 120.0
#: A run's key in the runs table.
KEY = ["row", "replicate", "regime"]


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """The runs table without wall-clock times and sessions, sorted by run key."""
    return frame.drop(columns=["wall_s", "session"]).sort_values(KEY).reset_index(drop=True)
