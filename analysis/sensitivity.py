"""Sobol and Morris sensitivity indices of stored outputs, with replicate handling.

Replicates. A stochastic model gives a different output for every seed at the same design
point. SALib's estimators assume a deterministic function of the factors, so each design
row's output is the **mean over its replicates** (the conditional expectation given the
factors, estimated). This is the quantity whose variance the indices decompose; the indices
answer "which factors drive the expected output". What replicates cannot remove is reported
beside the indices as the **replicate noise share**::

    noise_share = (mean over rows of s_r^2 / n_r) / var(row means)

where ``s_r^2`` is the sample variance over row r's replicates and ``n_r`` their number.
The numerator is the expected variance that seed noise adds to a row mean; the
denominator is the variance of the row means across the design (what the indices split).
A share near 0 means the indices describe the factors; a share near 1 means they mostly
describe noise (add replicates). It is capped at 1.

Missing values. SALib's Sobol estimator needs every row of the Saltelli matrix. A row
whose replicates all failed has no mean; the Sobol indices of that output are then
**skipped with a warning** rather than imputed (any imputation would leak into every index
through the A/B/AB structure). Rows with some failed replicates use the replicates that
succeeded. Morris skips the output in the same way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from SALib.analyze import morris as salib_morris
from SALib.analyze import sobol as salib_sobol

#: Bootstrap resamples behind SALib's confidence intervals.
NUM_RESAMPLES = 500
#: Confidence level of the index intervals.
CONF_LEVEL = 0.95
#: Default seed of SALib's bootstrap (every call is seeded).
DEFAULT_SEED = 20240611

SOBOL_COLUMNS = ["factor", "S1", "S1_conf", "ST", "ST_conf"]
MORRIS_COLUMNS = ["factor", "mu_star", "mu_star_conf", "sigma"]


def salib_seed(seed: int) -> int:
    """Derive a SALib seed from ``seed``; never 0 (SALib's Sobol ignores a zero seed)."""
    state = np.random.SeedSequence(int(seed)).generate_state(1, dtype=np.uint32)[0]
    return int(state) or 1


def row_means(table: pd.DataFrame, column: str, n_rows: int) -> np.ndarray:
    """Mean of ``column`` over replicates for each design row 0..n_rows-1 (NaN if none)."""
    values = table[["row", column]].dropna()
    means = values.groupby("row")[column].mean()
    return means.reindex(range(n_rows)).to_numpy(float)


def replicate_noise_share(table: pd.DataFrame, column: str) -> float:
    """Share of the variance of the row means that is replicate (seed) noise.

    ``(mean_r s_r^2 / n_r) / var(row means)``, capped at 1; NaN when no row has two
    replicates or the row means do not vary. See the module docstring.
    """
    values = table[["row", column]].dropna()
    grouped = values.groupby("row")[column]
    means = grouped.mean()
    var_means = float(means.var(ddof=1)) if len(means) > 1 else float("nan")
    counts = grouped.count()
    within = grouped.var(ddof=1)[counts > 1]
    if within.empty or not np.isfinite(var_means):
        return float("nan")
    noise = float((within / counts[counts > 1]).mean())
    if var_means <= 0.0:
        return 1.0 if noise > 0 else float("nan")
    return float(min(1.0, noise / var_means))


def sobol_indices(
    problem: dict, y: np.ndarray, *, calc_second_order: bool, seed: int = DEFAULT_SEED,
    num_resamples: int = NUM_RESAMPLES, conf_level: float = CONF_LEVEL,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sobol first-order and total indices with bootstrap intervals (SALib).

    Args:
        problem: The SALib problem (``num_vars``, ``names``, ``bounds``).
        y: One value per design row, in the Saltelli sample order.
        calc_second_order: Whether the design was sampled with second-order rows.
        seed: Seed of the bootstrap.
        num_resamples: Bootstrap resamples.
        conf_level: Confidence level; ``*_conf`` are half-widths at this level.

    Returns:
        ``(first_total, second)``: a frame with columns `SOBOL_COLUMNS`, and a frame
        ``factor_i, factor_j, S2, S2_conf`` (empty without second order).

    Raises:
        ValueError: If ``y`` has NaNs or a length that does not fit the design.
    """
    y = np.asarray(y, float)
    if not np.all(np.isfinite(y)):
        raise ValueError("Sobol analysis needs a finite output for every design row")
    d = int(problem["num_vars"])
    block = 2 * d + 2 if calc_second_order else d + 2
    if y.size % block:
        raise ValueError(
            f"{y.size} design rows do not fit a Saltelli design of {d} factors "
            f"({'with' if calc_second_order else 'without'} second order: a multiple of "
            f"{block}); is calc_second_order recorded correctly?"
        )
    names = list(problem["names"])
    if np.ptp(y) == 0.0:
        zeros = np.zeros(d)
        first = pd.DataFrame({"factor": names, "S1": zeros, "S1_conf": zeros,
                              "ST": zeros, "ST_conf": zeros})
        return first, pd.DataFrame(columns=["factor_i", "factor_j", "S2", "S2_conf"])
    si = salib_sobol.analyze(
        problem, y, calc_second_order=calc_second_order, num_resamples=num_resamples,
        conf_level=conf_level, seed=salib_seed(seed),
    )
    first = pd.DataFrame({
        "factor": names, "S1": si["S1"], "S1_conf": si["S1_conf"],
        "ST": si["ST"], "ST_conf": si["ST_conf"],
    })
    pairs = []
    if calc_second_order:
        for i in range(d):
            for j in range(i + 1, d):
                pairs.append({"factor_i": names[i], "factor_j": names[j],
                              "S2": si["S2"][i, j], "S2_conf": si["S2_conf"][i, j]})
    second = pd.DataFrame.from_records(pairs, columns=["factor_i", "factor_j", "S2", "S2_conf"])
    return first, second


def morris_indices(
    problem: dict, x: np.ndarray, y: np.ndarray, *, num_levels: int,
    seed: int = DEFAULT_SEED, num_resamples: int = NUM_RESAMPLES,
    conf_level: float = CONF_LEVEL,
) -> pd.DataFrame:
    """Morris elementary-effect statistics (SALib): mu*, its interval, sigma (and mu).

    Args:
        problem: The SALib problem.
        x: The design matrix (rows in trajectory order, columns in the problem's order).
        y: One value per design row.
        num_levels: Grid levels the design was sampled with.
        seed: Seed of the bootstrap.
        num_resamples: Bootstrap resamples.
        conf_level: Confidence level of ``mu_star_conf``.

    Returns:
        Columns `MORRIS_COLUMNS` plus ``mu``.
    """
    y = np.asarray(y, float)
    if not np.all(np.isfinite(y)):
        raise ValueError("Morris analysis needs a finite output for every design row")
    si = salib_morris.analyze(
        problem, np.asarray(x, float), y, num_resamples=num_resamples, conf_level=conf_level,
        num_levels=int(num_levels), seed=salib_seed(seed),
    )
    return pd.DataFrame({
        "factor": list(problem["names"]), "mu_star": np.asarray(si["mu_star"], float),
        "mu_star_conf": np.asarray(si["mu_star_conf"], float),
        "sigma": np.asarray(si["sigma"], float), "mu": np.asarray(si["mu"], float),
    })
