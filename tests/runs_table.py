"""Helpers to compare stored runs tables in tests."""

from __future__ import annotations

import pandas as pd

#: A run's key in the runs table.
KEY = ["row", "replicate", "regime"]


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """The runs table without wall-clock times and sessions, sorted by run key."""
    return frame.drop(columns=["wall_s", "session"]).sort_values(KEY).reset_index(drop=True)
