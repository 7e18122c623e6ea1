"""Outputs against factors: per design row and regime, for any experiment with factors.

An experiment without ``[compare]`` has no paired delta to draw, but a researcher still
wants to see each output against each factor. `output_rows` summarises one output per
design row and regime (mean over replicates, 95% t interval, SD, replicates; written by
`relsim analyze` as ``outputs_<output>.csv``), and `output_vs_factor` draws it
(`relsim report`: ``output_<output>_vs_<factor>``), one colour per regime.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from relsim.analysis import figures as fg  # noqa: E402
from relsim.analysis.deltas import row_summary  # noqa: E402
from relsim.analysis.io import Results, ok_runs  # noqa: E402
from scipy import stats  # noqa: E402

#: Up to this many distinct factor levels, rows are drawn as points with intervals.
MAX_LEVELS_AS_POINTS = 25
#: Columns of an `output_rows` table that are not factors.
SUMMARY_COLUMNS = ("row", "regime", "mean", "ci_low", "ci_high", "sd", "n")
#: Bins of the binned mean when a factor has more levels than that.
BINS = 10


def output_rows(results: Results, output: str) -> pd.DataFrame:
    """Per design row and regime: the output's mean over ok replicates and its interval.

    Returns:
        Columns ``row``, the factors, ``regime``, ``mean``, ``ci_low``, ``ci_high``,
        ``sd``, ``n``; rows without an ok run are left out.
    """
    runs = ok_runs(results.runs)
    frames = []
    for regime in fg.ordered_regimes(runs["regime"]):
        part = runs.loc[runs["regime"] == regime, ["row", "replicate", output]]
        summary = row_summary(part, output, results.design)
        summary.insert(1, "regime", regime)
        frames.append(summary)
    if not frames:
        return pd.DataFrame(columns=["row", "regime", "mean", "ci_low", "ci_high", "sd", "n"])
    out = pd.concat(frames, ignore_index=True)
    front = ["row", *[f for f in results.factors if f in out.columns], "regime"]
    return out[front + [c for c in out.columns if c not in front]]


def output_vs_factor(rows: pd.DataFrame, factor: str, output: str) -> plt.Figure:
    """One output against one factor, one colour per regime.

    A factor with few levels (a grid or 1-D sweep) is drawn as the mean per level with a
    95% interval (over replicates when a level is one design row, across design rows
    otherwise); a sampled factor as the design points (replicate means) with a binned
    mean and its 95% interval.
    """
    # a regime "" (experiments without regimes) reads back from CSV as NaN
    rows = rows.assign(regime=rows["regime"].astype("string").fillna("").astype(str))
    others = [c for c in rows.columns if c not in (*SUMMARY_COLUMNS, factor)]
    # Connect the points only along a 1-D sweep; elsewhere neighbours differ in other factors.
    style = "o-" if all(rows[c].nunique() <= 1 for c in others) else "o"
    fig, ax = plt.subplots(figsize=(fg.SINGLE_COLUMN_IN, 2.6))
    regimes = fg.ordered_regimes(rows["regime"])
    colors = fg.regime_colors(regimes)
    for regime in regimes:
        data = rows[(rows["regime"] == regime)].dropna(subset=["mean"]).sort_values(factor)
        if data.empty:
            continue
        name = regime or "runs"
        color = colors[regime]
        levels = data[factor].nunique()
        if levels <= MAX_LEVELS_AS_POINTS and len(data) == levels:
            yerr = np.vstack([data["mean"] - data["ci_low"], data["ci_high"] - data["mean"]])
            ax.errorbar(data[factor], data["mean"], yerr=np.nan_to_num(yerr), fmt=style,
                        color=color, markersize=3, capsize=2, linewidth=1, label=name)
            continue
        if levels <= MAX_LEVELS_AS_POINTS:
            grouped = data.groupby(factor)["mean"].agg(["mean", "sem", "count"]).reset_index()
            x = grouped[factor]
        else:
            ax.scatter(data[factor], data["mean"], s=4, color=color, alpha=0.3, linewidth=0)
            bins = pd.cut(data[factor], BINS)
            grouped = data.groupby(bins, observed=True)["mean"].agg(["mean", "sem", "count"])
            x = [iv.mid for iv in grouped.index]
        half = stats.t.ppf(0.975, np.maximum(grouped["count"] - 1, 1)) * grouped["sem"]
        ax.errorbar(x, grouped["mean"], yerr=np.nan_to_num(half), fmt="o-", color=color,
                    markersize=3, capsize=2, linewidth=1, label=name)
    ax.set_xlabel(fg.label(factor))
    ax.set_ylabel(fg.label(output))
    if regimes != [""]:
        ax.legend(frameon=False, title="regime (mean, 95% CI)", loc="best")
    sns_despine(ax)
    fig.tight_layout()
    return fig


def sns_despine(ax) -> None:
    """Remove the top and right spines (the project style)."""
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)
