"""Paired regime differences (relationship value) and per-row summaries over replicates.

Regimes of a compared pair are run with the same seed for each (row, replicate): common
random numbers. Their difference ``delta_<output> = A - B`` is therefore a paired,
low-noise counterfactual. Pairs are matched on (row, replicate); a pair in which either
run failed is dropped.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from relsim.analysis.io import ok_runs
from scipy import stats

DELTA_PREFIX = "delta_"
CI_LEVEL = 0.95
PAIR_KEYS = ["row", "replicate"]


def delta_name(output: str) -> str:
    """Return the column name of the paired difference of ``output``."""
    return f"{DELTA_PREFIX}{output}"


def paired_deltas(
    runs: pd.DataFrame, regime_a: str, regime_b: str, outputs: list[str]
) -> pd.DataFrame:
    """Per (row, replicate) paired differences ``delta_<output> = A - B``.

    Args:
        runs: The run table (all statuses; failed runs are dropped here).
        regime_a: The first regime (minuend), e.g. ``relationship``.
        regime_b: The second regime (subtrahend), e.g. ``sacred``.
        outputs: Outputs to difference.

    Returns:
        Columns ``row``, ``replicate``, ``seed`` and one ``delta_<output>`` per output,
        one row per pair in which both runs succeeded.

    Raises:
        ValueError: If a regime is absent, or paired runs do not share their seed (the
            comparison would not be under common random numbers).
    """
    ok = ok_runs(runs)
    present = set(runs["regime"].unique())
    for regime in (regime_a, regime_b):
        if regime not in present:
            raise ValueError(
                f"compared regime '{regime}' has no stored runs (regimes present: "
                f"{', '.join(sorted(present)) or 'none'})"
            )
    cols = PAIR_KEYS + (["seed"] if "seed" in ok.columns else []) + list(outputs)
    a = ok[ok["regime"] == regime_a][cols]
    b = ok[ok["regime"] == regime_b][cols]
    merged = a.merge(b, on=PAIR_KEYS, suffixes=("_a", "_b"), how="inner")
    if "seed" in ok.columns:
        mismatch = merged["seed_a"] != merged["seed_b"]
        if mismatch.any():
            first = merged[mismatch].iloc[0]
            raise ValueError(
                f"paired runs of '{regime_a}' and '{regime_b}' have different seeds "
                f"(row {int(first['row'])}, replicate {int(first['replicate'])}): the "
                "comparison needs common random numbers"
            )
    out = merged[PAIR_KEYS].copy()
    if "seed" in ok.columns:
        out["seed"] = merged["seed_a"].to_numpy()
    for o in outputs:
        out[delta_name(o)] = merged[f"{o}_a"].to_numpy(float) - merged[f"{o}_b"].to_numpy(float)
    return out.sort_values(PAIR_KEYS).reset_index(drop=True)


def t_interval(values: np.ndarray, level: float = CI_LEVEL) -> tuple[float, float, float]:
    """Mean and Student-t confidence interval of a sample (NaNs ignored).

    Returns:
        ``(mean, low, high)``; the interval is NaN when fewer than two values remain.
    """
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(v.mean())
    if v.size < 2:
        return mean, float("nan"), float("nan")
    half = stats.t.ppf(0.5 + level / 2, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size)
    return mean, mean - float(half), mean + float(half)


def row_summary(
    table: pd.DataFrame, column: str, design: pd.DataFrame | None = None,
    level: float = CI_LEVEL,
) -> pd.DataFrame:
    """Per design row: mean of ``column`` over replicates, its t interval, SD and count.

    Args:
        table: Rows with a ``row`` column and ``column`` (one row per replicate).
        column: The value to summarise.
        design: Optional design matrix (``row`` + factors) merged into the result.
        level: Confidence level of the interval.

    Returns:
        Columns ``row``, factor columns (if a design was given), ``mean``, ``ci_low``,
        ``ci_high``, ``sd``, ``n`` (replicates used).
    """
    records = []
    for row, group in table.groupby("row", sort=True):
        values = group[column].to_numpy(float)
        values = values[np.isfinite(values)]
        mean, low, high = t_interval(values, level)
        sd = float(values.std(ddof=1)) if values.size > 1 else float("nan")
        records.append({"row": int(row), "mean": mean, "ci_low": low, "ci_high": high,
                        "sd": sd, "n": int(values.size)})
    out = pd.DataFrame.from_records(
        records, columns=["row", "mean", "ci_low", "ci_high", "sd", "n"]
    )
    if design is not None and not design.empty:
        out = design.merge(out, on="row", how="right")
    return out
