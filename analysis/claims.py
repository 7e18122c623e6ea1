"""Claims only where the data support them: whether a tipping point is a supported crossing.

A tipping point (``threshold`` with its interval ``[ci_low, ci_high]``) is *supported* when

1. it has a finite threshold;
2. its interval lies inside the factor's range (a logistic interval clipped at a range edge
   does not; a bisection bracket always does, its ends being evaluated points); and
3. the paired deltas on either side of the interval differ in sign beyond their intervals:
   one side's 95% interval lies entirely below zero and the other's entirely above. On a
   factor with few levels (a 1-D sweep, a grid, a bisection's points; at most
   `MAX_LEVELS` distinct values) a side is the nearest level outside the interval whose
   sign is resolved (its interval excludes zero): its own interval over replicates when it
   is one design row, else the mean over the rows at that level with the t interval
   across them. On a continuous factor (a global design)
   a side is every design row beyond the interval: the mean of their means with the t
   interval across them (the other factors marginalised).

Figures draw a tipping line or point only for a supported crossing and otherwise say "no
supported sign change"; the report's tipping tables carry ``supported`` and, when not,
the reason in ``note``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

LEVEL = 0.95
#: A factor with at most this many distinct values is judged level by level.
MAX_LEVELS = 25
UNSUPPORTED = "no supported sign change"


@dataclass(frozen=True)
class Side:
    """Paired deltas on one side of a tipping interval.

    Attributes:
        mean: Mean delta of the points on that side.
        low: Lower end of its 95% interval.
        high: Upper end.
        points: How many design points (or bisection points) it summarises.
    """

    mean: float
    low: float
    high: float
    points: int

    @property
    def sign(self) -> int:
        """+1 when the interval lies above zero, −1 below, 0 when it includes zero."""
        if self.low > 0:
            return 1
        if self.high < 0:
            return -1
        return 0

    def text(self) -> str:
        """``-250 [-380, -120] over 4 points``."""
        return (f"{self.mean:.3g} [{self.low:.3g}, {self.high:.3g}] over {self.points} "
                f"point{'s' if self.points != 1 else ''}")


@dataclass(frozen=True)
class Support:
    """Whether a tipping point is a supported crossing, and why (not).

    Attributes:
        supported: All three conditions hold.
        reason: Empty when supported; otherwise one sentence saying which condition fails.
        below: Deltas below the interval, or None when there are none.
        above: Deltas above the interval, or None.
    """

    supported: bool
    reason: str
    below: Side | None = None
    above: Side | None = None


def side_summary(points: pd.DataFrame, level: float = LEVEL) -> Side | None:
    """Mean and interval of the deltas of some points (columns mean, ci_low, ci_high)."""
    data = points.dropna(subset=["mean"])
    if data.empty:
        return None
    if len(data) == 1:
        row = data.iloc[0]
        low = float(row.get("ci_low", np.nan))
        high = float(row.get("ci_high", np.nan))
        if not (np.isfinite(low) and np.isfinite(high)):
            low, high = -np.inf, np.inf  # one replicate: no interval, no sign claim
        return Side(float(row["mean"]), low, high, 1)
    means = data["mean"].to_numpy(float)
    mean = float(means.mean())
    half = float(stats.t.ppf(0.5 + level / 2, len(means) - 1) * means.std(ddof=1)
                 / np.sqrt(len(means)))
    return Side(mean, mean - half, mean + half, len(means))


def crossing_support(points: pd.DataFrame, factor: str, tipping: Mapping | None,
                     bounds: Sequence[float] | None = None) -> Support:
    """Decide whether ``tipping`` is a supported sign change of the deltas in ``points``.

    Args:
        points: One row per design point (or bisection point): ``factor``, ``mean``,
            ``ci_low``, ``ci_high`` of the paired delta.
        factor: The factor's column.
        tipping: A tipping row (``threshold``, ``ci_low``, ``ci_high``, ``method``,
            ``note``), or None.
        bounds: The factor's range; default the range of the points.

    Returns:
        A `Support`.
    """
    if tipping is None:
        return Support(False, "no tipping point was estimated along this factor")
    threshold = _float(tipping.get("threshold"))
    if not np.isfinite(threshold):
        note = str(tipping.get("note") or "").strip()
        if note in ("", "nan"):
            note = "no crossing in the factor's range"
        return Support(False, f"no crossing was estimated ({note})")
    low, high = _float(tipping.get("ci_low")), _float(tipping.get("ci_high"))
    xs = points[factor].to_numpy(float) if factor in points else np.array([])
    if bounds is None:
        bounds = (np.nanmin(xs), np.nanmax(xs)) if xs.size else (low, high)
    lo, hi = float(bounds[0]), float(bounds[1])
    bisection = str(tipping.get("method", "")) == "bisection"
    if not (np.isfinite(low) and np.isfinite(high)):
        return Support(False, "the crossing has no interval")
    inside = (lo <= low and high <= hi) if bisection else (lo < low and high < hi)
    if not inside:
        return Support(False, f"its interval [{low:.3g}, {high:.3g}] reaches the edge of "
                              f"the factor's range [{lo:.3g}, {hi:.3g}]")
    data = points.dropna(subset=["mean"])
    x = data[factor].to_numpy(float)
    below_rows = data[(x <= low) if bisection else (x < low)]
    above_rows = data[(x >= high) if bisection else (x > high)]
    if data[factor].nunique() <= MAX_LEVELS:  # the nearest resolved level on each side
        below = _nearest_resolved(below_rows, factor, descending=True)
        above = _nearest_resolved(above_rows, factor, descending=False)
    else:
        below, above = side_summary(below_rows), side_summary(above_rows)
    if below is None or above is None:
        where = "below" if below is None else "above"
        return Support(False, f"no evaluated point lies {where} the interval "
                              f"[{low:.3g}, {high:.3g}]", below, above)
    if below.sign * above.sign != -1:
        return Support(False, f"the mean Δ below the interval, {below.text()}, and above "
                              f"it, {above.text()}, do not differ in sign beyond their 95% "
                              "intervals", below, above)
    return Support(True, "", below, above)


def _nearest_resolved(rows: pd.DataFrame, factor: str, *, descending: bool) -> Side | None:
    """The level nearest the interval whose sign is resolved, else the nearest level."""
    levels = sorted(rows[factor].unique(), reverse=descending)
    first = None
    for level in levels:
        side = side_summary(rows[rows[factor] == level])
        if side is None:
            continue
        first = first or side
        if side.sign:
            return side
    return first


def _float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")
