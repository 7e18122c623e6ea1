"""Tipping points: where a paired delta changes sign.

Three estimators, all pure (no files, no simulation):

* `logistic_tipping`: from a global design. For one factor, a logistic regression of
  ``1{delta > 0}`` on that factor alone over every stored pair (the other factors vary
  over the design and are thereby marginalised). The tipping point is where the fitted
  probability of a positive delta crosses one half, ``x* = -b0 / b1``; its interval is a
  seeded percentile bootstrap over pairs; the direction is the sign of ``b1``
  (``increasing``: the delta turns positive as the factor grows). This is where the
  *median* delta crosses zero, which differs from where the mean does when the delta's
  distribution is skewed.
* `tipping_map`: a 2-D map of the mean delta and of the share of positive deltas over two
  factors (cells of a grid design, or equal-width bins of a global design), whose zero
  contour is the 2-D tipping line.
* `bisect_sign_change`: refinement by bisection with replicates along one factor; the
  caller supplies a function returning paired deltas (common random numbers) at a point.

The bootstrap of the logistic threshold resamples design rows (clusters of replicates)
when other factors vary over the design, and single pairs in a one-factor sweep.

The logistic fit standardises the factor to its range and adds a small ridge penalty on
the slope, so that a perfectly separated sample (the sign flips exactly at a threshold)
still gives a finite fit whose half-probability point lies in the gap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

TIPPING_COLUMNS = ["factor", "threshold", "ci_low", "ci_high", "direction"]
INCREASING = "increasing"
DECREASING = "decreasing"

#: Bootstrap resamples of the logistic threshold.
N_BOOTSTRAP = 400
#: Confidence level of every tipping interval.
CI_LEVEL = 0.95
#: Ridge penalty on the slope of the standardised logistic fit (keeps separation finite).
RIDGE = 1e-3
#: Newton iterations and convergence tolerance of the logistic fit.
MAX_NEWTON = 100
NEWTON_TOL = 1e-10
#: Minimum pairs on each side of zero for a logistic fit to be attempted.
MIN_PER_CLASS = 2
#: A factor with at most this many distinct values is mapped on its own levels.
MAX_GRID_LEVELS = 25
#: Default number of bins per axis of a 2-D map of a global design.
MAP_BINS = 8
#: Bins per axis of a map: at least this many design rows per cell on average ...
MIN_ROWS_PER_CELL = 12
#: ... within these limits.
MAP_BINS_MIN, MAP_BINS_MAX = 3, 10


def map_bins(n_rows: int) -> int:
    """Return bins per axis so that a cell holds about `MIN_ROWS_PER_CELL` design rows."""
    return int(np.clip(np.sqrt(n_rows / MIN_ROWS_PER_CELL), MAP_BINS_MIN, MAP_BINS_MAX))


def fit_logistic(u: np.ndarray, y: np.ndarray, ridge: float = RIDGE) -> tuple[float, float]:
    """Penalised maximum-likelihood logistic regression ``P(y=1) = 1/(1+exp(-(b0+b1 u)))``.

    Newton-Raphson (IRLS) with a ridge penalty ``ridge * b1**2 / 2`` on the slope only.

    Args:
        u: Predictor (ideally standardised to about [0, 1]).
        y: 0/1 outcomes.
        ridge: Penalty weight on the slope.

    Returns:
        ``(b0, b1)``.
    """
    u = np.asarray(u, float)
    y = np.asarray(y, float)
    x = np.column_stack([np.ones_like(u), u])
    penalty = np.diag([0.0, ridge * len(u)])
    beta = np.zeros(2)
    for _ in range(MAX_NEWTON):
        eta = np.clip(x @ beta, -30.0, 30.0)
        p = 1.0 / (1.0 + np.exp(-eta))
        w = p * (1.0 - p)
        grad = x.T @ (y - p) - penalty @ beta
        hess = (x * w[:, None]).T @ x + penalty
        step = np.linalg.solve(hess + 1e-12 * np.eye(2), grad)
        beta = beta + step
        if np.max(np.abs(step)) < NEWTON_TOL:
            break
    return float(beta[0]), float(beta[1])


def _threshold(u: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Half-probability point on the standardised scale and the slope."""
    b0, b1 = fit_logistic(u, y)
    if b1 == 0.0:
        return float("nan"), b1
    return -b0 / b1, b1


@dataclass(frozen=True)
class Tipping:
    """A tipping point estimate along one factor.

    Attributes:
        factor: The factor.
        threshold: Where P(delta > 0) = 1/2 (NaN when no crossing lies inside the range).
        ci_low: Lower end of the interval (NaN without a crossing).
        ci_high: Upper end of the interval.
        direction: ``increasing`` (delta turns positive as the factor grows),
            ``decreasing``, or ``""``.
        n: Pairs used.
        share_positive: Share of pairs with a positive delta.
        note: Why the threshold is NaN, or caveats.
        method: ``logistic`` or ``bisection``.
    """

    factor: str
    threshold: float
    ci_low: float
    ci_high: float
    direction: str
    n: int
    share_positive: float
    note: str = ""
    method: str = "logistic"

    def as_row(self) -> dict:
        """Return a dict with the `TIPPING_COLUMNS` first, then the extras."""
        return {"factor": self.factor, "threshold": self.threshold, "ci_low": self.ci_low,
                "ci_high": self.ci_high, "direction": self.direction, "n": self.n,
                "share_positive": self.share_positive, "method": self.method,
                "note": self.note}


def _clusters(groups: np.ndarray) -> list[np.ndarray]:
    """Indices of the members of each group."""
    _, inverse = np.unique(groups, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.flatnonzero(np.diff(inverse[order])) + 1
    return np.split(order, bounds)


def logistic_tipping(
    x: np.ndarray, delta: np.ndarray, bounds: Sequence[float], *, factor: str = "",
    n_bootstrap: int = N_BOOTSTRAP, level: float = CI_LEVEL, seed: int = 0,
    groups: np.ndarray | None = None,
) -> Tipping:
    """Tipping point of ``delta`` along ``x`` by logistic regression of ``1{delta > 0}``.

    Args:
        x: Factor value of every pair (the other factors are marginalised).
        delta: Paired delta of every pair (NaNs are dropped).
        bounds: ``(low, high)`` of the factor's range: a crossing outside is not reported.
        factor: The factor's name (for the result).
        n_bootstrap: Bootstrap resamples of the threshold.
        level: Confidence level of the percentile interval.
        seed: Seed of the bootstrap.
        groups: Cluster label of every pair (its design row), or None. With other factors
            varied, the replicates of a design row share those factors' values, so their
            deltas are correlated given ``x``; the bootstrap then resamples whole design
            rows. Without (a 1-D sweep), pairs are independent given ``x`` and are
            resampled one by one.

    Returns:
        A `Tipping`; threshold NaN with a note when the delta has one sign throughout or the
        fitted crossing lies outside the range. The interval is clipped to the range.
    """
    x = np.asarray(x, float)
    delta = np.asarray(delta, float)
    keep = np.isfinite(x) & np.isfinite(delta)
    x, delta = x[keep], delta[keep]
    clusters = _clusters(np.asarray(groups)[keep]) if groups is not None else None
    lo, hi = float(bounds[0]), float(bounds[1])
    nan = float("nan")
    y = (delta > 0).astype(float)
    n, n_pos = len(y), int(y.sum())
    share = n_pos / n if n else nan

    def empty(note: str, direction: str = "") -> Tipping:
        return Tipping(factor, nan, nan, nan, direction, n, share, note)

    if n == 0:
        return empty("no pairs with a finite delta")
    if hi <= lo:
        return empty("factor range is empty")
    if min(n_pos, n - n_pos) < MIN_PER_CLASS:
        sign = "positive" if n_pos > n / 2 else "negative"
        return empty(f"delta {sign} for (almost) every pair: no sign change in range")
    span = hi - lo
    u = (x - lo) / span
    t_u, slope = _threshold(u, y)
    direction = INCREASING if slope > 0 else DECREASING
    if not np.isfinite(t_u) or not 0.0 <= t_u <= 1.0:
        where = lo + t_u * span
        return empty(f"fitted crossing at {where:.4g} lies outside [{lo:g}, {hi:g}]",
                     direction)
    rng = np.random.default_rng(seed)
    boots = np.empty(n_bootstrap)
    for b in range(n_bootstrap):
        if clusters is None:
            idx = rng.integers(0, n, n)
        else:
            idx = np.concatenate([clusters[i] for i in
                                  rng.integers(0, len(clusters), len(clusters))])
        yb = y[idx]
        if yb.min() == yb.max():
            boots[b] = np.nan
            continue
        tb, sb = _threshold(u[idx], yb)
        boots[b] = tb if np.sign(sb) == np.sign(slope) else np.nan
    finite = boots[np.isfinite(boots)]
    alpha = (1.0 - level) / 2.0
    note = ""
    if finite.size < n_bootstrap:
        note = (f"{n_bootstrap - finite.size} of {n_bootstrap} bootstrap fits had no crossing "
                "in that direction (interval from the others)")
    if finite.size == 0:
        low_u, high_u = 0.0, 1.0
    else:
        low_u, high_u = np.quantile(finite, [alpha, 1.0 - alpha])
    low_u, high_u = float(np.clip(low_u, 0.0, 1.0)), float(np.clip(high_u, 0.0, 1.0))
    return Tipping(factor, lo + t_u * span, lo + low_u * span, lo + high_u * span,
                   direction, n, share, note)


def tipping_table(
    pairs: pd.DataFrame, column: str, factors: Sequence[str],
    bounds: dict[str, Sequence[float]], *, seed: int = 0, n_bootstrap: int = N_BOOTSTRAP,
    clustered: bool = False,
) -> pd.DataFrame:
    """Logistic tipping points of ``column`` along each factor.

    Args:
        pairs: One row per pair with the factor columns and ``column``.
        column: The delta column.
        factors: Factors to examine.
        bounds: Range of each factor.
        seed: Bootstrap seed (each factor gets its own stream derived from it).
        n_bootstrap: Bootstrap resamples.
        clustered: Resample whole design rows (column ``row``) rather than pairs: right
            when other factors vary over the design (see `logistic_tipping`).

    Returns:
        One row per factor: `TIPPING_COLUMNS` plus ``n``, ``share_positive``, ``method``,
        ``note``.
    """
    seeds = np.random.SeedSequence(int(seed)).spawn(max(1, len(factors)))
    rows = []
    for f, ss in zip(factors, seeds, strict=False):
        sub_seed = int(ss.generate_state(1)[0])
        groups = pairs["row"].to_numpy() if clustered else None
        tip = logistic_tipping(pairs[f].to_numpy(float), pairs[column].to_numpy(float),
                               bounds[f], factor=f, seed=sub_seed, n_bootstrap=n_bootstrap,
                               groups=groups)
        rows.append(tip.as_row())
    cols = TIPPING_COLUMNS + ["n", "share_positive", "method", "note"]
    return pd.DataFrame.from_records(rows, columns=cols)


def _axis_cells(values: np.ndarray, bounds: Sequence[float], bins: int) -> tuple:
    """Cell index of every value and the cell centres along one axis."""
    levels = np.unique(values[np.isfinite(values)])
    if len(levels) <= MAX_GRID_LEVELS:
        index = np.searchsorted(levels, values)
        return index, levels
    edges = np.linspace(float(bounds[0]), float(bounds[1]), bins + 1)
    index = np.clip(np.digitize(values, edges) - 1, 0, bins - 1)
    return index, (edges[:-1] + edges[1:]) / 2.0


def tipping_map(
    pairs: pd.DataFrame, column: str, fx: str, fy: str,
    bounds: dict[str, Sequence[float]], bins: int = MAP_BINS,
) -> pd.DataFrame:
    """Mean delta and share of positive deltas on a 2-D grid of two factors.

    A factor with at most `MAX_GRID_LEVELS` distinct values keeps its own levels (grid
    designs); otherwise its range is cut into ``bins`` equal-width bins (global designs,
    the other factors then being marginalised within each cell).

    Returns:
        Columns ``<fx>``, ``<fy>`` (cell centres), ``mean_delta``, ``p_positive``, ``n``
        (pairs) and ``rows`` (distinct design rows, each pair its own row when ``pairs``
        has no ``row`` column), one row per cell (cells without pairs are NaN with
        n = rows = 0).
    """
    x = pairs[fx].to_numpy(float)
    y = pairs[fy].to_numpy(float)
    v = pairs[column].to_numpy(float)
    ix, cx = _axis_cells(x, bounds[fx], bins)
    iy, cy = _axis_cells(y, bounds[fy], bins)
    rows = pairs["row"].to_numpy() if "row" in pairs.columns else np.arange(len(pairs))
    frame = pd.DataFrame({"ix": ix, "iy": iy, "v": v, "pos": (v > 0).astype(float),
                          "row": rows})
    frame = frame[np.isfinite(v)]
    agg = frame.groupby(["ix", "iy"]).agg(mean_delta=("v", "mean"),
                                          p_positive=("pos", "mean"), n=("v", "size"),
                                          rows=("row", "nunique"))
    full = pd.MultiIndex.from_product([range(len(cx)), range(len(cy))], names=["ix", "iy"])
    agg = agg.reindex(full).reset_index()
    agg["n"] = agg["n"].fillna(0).astype(int)
    agg["rows"] = agg["rows"].fillna(0).astype(int)
    out = pd.DataFrame({fx: cx[agg["ix"]], fy: cy[agg["iy"]]})
    for c in ("mean_delta", "p_positive", "n", "rows"):
        out[c] = agg[c].to_numpy()
    return out


@dataclass
class Bisection:
    """Result of `bisect_sign_change`.

    Attributes:
        threshold: Secant estimate of the zero crossing inside the final bracket.
        ci_low: Lower end of the final bracket (mean delta of one sign).
        ci_high: Upper end of the final bracket (mean delta of the other sign).
        direction: ``increasing`` or ``decreasing``.
        converged: Whether the bracket is narrower than the requested width.
        note: Why it stopped early, if it did.
        points: Every evaluated point: ``x``, ``mean``, ``ci_low``, ``ci_high``, ``n``.
    """

    threshold: float
    ci_low: float
    ci_high: float
    direction: str
    converged: bool
    note: str = ""
    points: list[dict] = field(default_factory=list)


def _mean_ci(values: np.ndarray, level: float) -> tuple[float, float, float]:
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        raise ValueError("the model returned no finite paired delta at a bisection point")
    mean = float(v.mean())
    if v.size < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf(0.5 + level / 2, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size))
    return mean, mean - half, mean + half


def bisect_sign_change(
    evaluate: Callable[[float, int, int], np.ndarray], low: float, high: float, *,
    width: float, replicates: int = 4, max_replicates: int = 32, max_steps: int = 40,
    level: float = CI_LEVEL,
) -> Bisection:
    """Bisect ``[low, high]`` to the sign change of the mean paired delta.

    At each point the mean of the paired deltas over replicates decides the side. When its
    t interval straddles zero, replicates are doubled (up to ``max_replicates``). A point
    whose sign stays unresolved lies in the *noise band* around the crossing: it moves
    neither end of the bracket, and the search continues between each end and the band
    (halving the larger gap), so the bracket closes on the band from both sides. The
    bracket's ends are always points whose sign was resolved. It stops when the bracket is
    narrower than ``width``, or when both gaps to the band are narrower than ``width / 2``
    (the band itself is then wider than asked: more replicates would narrow it).

    Args:
        evaluate: ``evaluate(x, point_index, n)`` returns the paired deltas of replicates
            ``0..n-1`` at factor value ``x`` (the caller keys seeds on ``point_index`` and
            the replicate, the same seed for both regimes: common random numbers).
        low: Lower end of the search range.
        high: Upper end.
        width: Stop once the bracket is narrower than this.
        replicates: Replicates per point to start with.
        max_replicates: Upper limit of replicates per point.
        max_steps: Upper limit of evaluated points after the two ends.
        level: Confidence level of the per-point t interval.

    Returns:
        A `Bisection`; ``ci_low``/``ci_high`` is the final bracket and ``threshold`` the
        secant zero of the mean deltas at its ends.

    Raises:
        ValueError: On a bad range or width, or when the mean delta has the same sign at
            both ends (no crossing to bracket).
    """
    if not high > low:
        raise ValueError(f"bisection range is reversed or empty: [{low:g}, {high:g}]")
    if not width > 0:
        raise ValueError(f"bisection width must be positive, got {width:g}")
    if replicates < 1 or max_replicates < replicates:
        raise ValueError(
            f"replicates must be at least 1 and at most max_replicates "
            f"(got {replicates} and {max_replicates})"
        )
    points: list[dict] = []

    def measure(x: float) -> tuple[float, bool]:
        index = len(points)
        n = replicates
        while True:
            mean, lo_ci, hi_ci = _mean_ci(evaluate(x, index, n), level)
            resolved = not (lo_ci <= 0.0 <= hi_ci)
            if resolved or n >= max_replicates:
                break
            n = min(2 * n, max_replicates)
        points.append({"x": x, "mean": mean, "ci_low": lo_ci, "ci_high": hi_ci, "n": n,
                       "resolved": bool(resolved)})
        return mean, bool(resolved)

    f_lo, _ = measure(low)
    f_hi, _ = measure(high)
    if np.sign(f_lo) == np.sign(f_hi):
        raise ValueError(
            f"the mean delta has the same sign at both ends of [{low:g}, {high:g}] "
            f"({f_lo:.4g} and {f_hi:.4g}): no sign change to bisect; widen the range"
        )
    direction = INCREASING if f_hi > f_lo else DECREASING
    band: list[float] = []  # points inside the bracket whose sign was not resolved
    note = ""
    for _ in range(max_steps):
        if high - low <= width:
            break
        if band:
            gap_low, gap_high = min(band) - low, high - max(band)
            if max(gap_low, gap_high) <= width / 2:
                note = (f"the sign of the mean delta is unresolved with {max_replicates} "
                        f"replicates on [{min(band):.4g}, {max(band):.4g}] (the crossing lies "
                        "in this noise band); more replicates would narrow the bracket")
                break
            x = low + gap_low / 2 if gap_low >= gap_high else max(band) + gap_high / 2
        else:
            x = 0.5 * (low + high)
        f_x, resolved = measure(x)
        if not resolved:
            band.append(x)
        elif np.sign(f_x) == np.sign(f_lo):
            low, f_lo = x, f_x
            band = [b for b in band if b > low]
        else:
            high, f_hi = x, f_x
            band = [b for b in band if b < high]
    threshold = low + (high - low) * (-f_lo) / (f_hi - f_lo) if f_hi != f_lo else 0.5 * (
        low + high)
    converged = high - low <= width
    if not converged and not note:
        note = f"stopped after {max_steps} points before reaching the width"
    return Bisection(threshold, low, high, direction, converged=converged, note=note,
                     points=points)
