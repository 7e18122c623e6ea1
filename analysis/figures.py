"""Publication figures in one consistent style (seaborn, paper context, colour-blind palette).

Every function takes stored results (DataFrames) and returns a matplotlib Figure; the
caller saves it with `save_figure` (vector PDF plus 300 dpi PNG). Widths are a journal's
single column (3.5 in) and double column (7.2 in). Axis labels carry units: money is per
measured day (the model's KPI convention), times are in working days.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib
import matplotlib.patches
import matplotlib.transforms

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.colors import TwoSlopeNorm  # noqa: E402
from scipy import ndimage, stats  # noqa: E402

SINGLE_COLUMN_IN = 3.5
DOUBLE_COLUMN_IN = 7.2
DPI = 300
FONT_SIZE = 8
#: Share of a figure's width left of an outside legend (so it stays within the column).
LEGEND_RIGHT = 0.86
#: Rolling window (days) that smooths noisy daily series before averaging replicates.
SMOOTH_DAYS = 20
#: Replicate band: this central share of the replicates (10th to 90th percentile).
BAND_LOW, BAND_HIGH = 0.10, 0.90
#: Regime order and names in legends.
REGIME_ORDER = ("relationship", "sacred")
CHANNELS = ("online", "support", "sales", "field")
ACTIVITIES = ("handling", "lobbying", "apologising", "upkeep", "selling")
DIVERGING_CMAP = "vlag"
EMPTY_CELL_COLOR = "0.75"
#: A factor with at most this many levels is drawn as points with error bars, else binned.
MAX_LEVELS_AS_POINTS = 25
#: Scatter of design points: the y axis spans these percentiles of the points (and the
#: binned means with their intervals); the figure counts the points outside.
ROBUST_Y_PERCENTILES = (2.0, 98.0)
#: Morris plot: label factors whose mu* is at least this share of the largest.
MORRIS_LABEL_SHARE = 0.2
#: Gaussian smoothing (in cells) of the map before its zero contour is drawn ...
CONTOUR_SMOOTH_CELLS = 1.0
#: ... on maps with at least this many cells along each axis.
MIN_CELLS_TO_SMOOTH = 5
#: The zero contour is drawn only when at least this share of cells has the sign of the
#: smoothed map (below it the line follows noise).
MIN_SIGN_AGREEMENT = 0.8
#: Map cells resting on fewer design rows than this are hatched.
MIN_ROWS_PER_CELL = 3

#: Axis labels with units for known outputs and series (anything else: its name).
LABELS = {
    "profit": "profit (money/day)",
    "revenue": "revenue (money/day)",
    "cost": "cost (money/day)",
    "otd": "on-time delivery (share)",
    "otd_need": "on time vs need (share)",
    "lead_time_mean": "mean lead time (days)",
    "lead_time_p90": "p90 lead time (days)",
    "quoted_lead_time_mean": "mean quoted lead time (days)",
    "trust_mean": "mean trust (0–1)",
    "padding_mean": "mean padding (share)",
    "buffer": "safety buffer (days)",
    "buffer_final": "final buffer (days)",
    "quoted_lead_time": "quoted lead time (days)",
    "lead_time": "actual lead time (days)",
    "otd_rolling": "on-time rate, rolling (share)",
    "share_online": "share online",
    "selling_hours": "selling (h/day)",
    "utilization": "utilization (–)",
    "process_cv": "execution noise CV (–)",
    "disruption_rate": "disruption rate (1/day)",
    "disruption_severity": "disruption severity (share of day)",
    "complex_share": "share of complex deals (–)",
    "changeover_hours": "changeover (h)",
    "work_cv": "work-content CV (–)",
    "influence": "salesperson influence (–)",
    "complex_win_gain": "complex-deal win gain per unit relationship (–)",
    "pad_max": "maximal padding of requests (–)",
    "overtime_max": "overtime allowance (share of capacity)",
    "buffer_days": "initial buffer (days)",
    "sales_autonomy": "initial salesperson autonomy (–)",
    "urgent_share": "share of urgent orders (–)",
    "trust_memory": "trust memory weight (–)",
    "churn_trust": "churn loyalty threshold (–)",
    "customers_active": "active customers",
    "sales_firefighting_share": "sales time firefighting (share)",
}


def label(name: str) -> str:
    """Return the axis label (with unit) of an output, series or factor."""
    if name.startswith("delta_"):
        base = name[len("delta_"):]
        text = LABELS.get(base, base.replace("_", " "))
        return f"Δ {text}\nrelationship − sacred"
    return LABELS.get(name, name.replace("_", " "))


def set_style() -> None:
    """Apply the project's figure style (paper context, ticks, colour-blind palette)."""
    sns.set_theme(context="paper", style="ticks", palette="colorblind", font="DejaVu Sans",
                  rc={"font.size": FONT_SIZE, "axes.labelsize": FONT_SIZE,
                      "axes.titlesize": FONT_SIZE, "xtick.labelsize": FONT_SIZE - 1,
                      "ytick.labelsize": FONT_SIZE - 1, "legend.fontsize": FONT_SIZE - 1,
                      "legend.title_fontsize": FONT_SIZE - 1, "axes.linewidth": 0.6,
                      "lines.linewidth": 1.2, "pdf.fonttype": 42, "ps.fonttype": 42,
                      "savefig.bbox": "tight", "savefig.pad_inches": 0.02})


def regime_colors(regimes: Sequence[str]) -> dict[str, tuple]:
    """Return a fixed colour per regime (relationship and sacred always the same)."""
    palette = sns.color_palette("colorblind")
    known = {name: palette[i] for i, name in enumerate(REGIME_ORDER)}
    others = iter(palette[len(REGIME_ORDER):])
    return {r: known.get(r) or next(others) for r in regimes}


def ordered_regimes(values: Sequence[str]) -> list[str]:
    """Return the regimes, relationship and sacred first."""
    present = list(dict.fromkeys(values))
    return [r for r in REGIME_ORDER if r in present] + [r for r in present
                                                          if r not in REGIME_ORDER]


def save_figure(fig: plt.Figure, directory: Path, stem: str) -> list[Path]:
    """Save ``fig`` as ``stem.pdf`` and ``stem.png`` (300 dpi) and close it."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / f"{stem}.pdf", directory / f"{stem}.png"]
    fig.savefig(paths[0])
    fig.savefig(paths[1], dpi=DPI)
    plt.close(fig)
    return paths


def _smoothed(series: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per-run rolling mean of one series (keys: regime, replicate, day)."""
    frame = series[["regime", "replicate", "day", column]].sort_values(
        ["regime", "replicate", "day"])
    frame[column] = frame.groupby(["regime", "replicate"])[column].transform(
        lambda s: s.rolling(SMOOTH_DAYS, min_periods=1).mean())
    return frame


def replicate_band(series: pd.DataFrame, column: str) -> pd.DataFrame:
    """Mean over replicates and the 10–90% band of the smoothed series, per regime and day."""
    frame = _smoothed(series, column)
    grouped = frame.groupby(["regime", "day"])[column]
    out = grouped.mean().rename("mean").to_frame()
    out["low"] = grouped.quantile(BAND_LOW)
    out["high"] = grouped.quantile(BAND_HIGH)
    return out.reset_index()


def _band_plot(ax, series: pd.DataFrame, column: str, colors: dict, linestyle="-",
               suffix: str = "") -> None:
    band = replicate_band(series, column)
    for regime in ordered_regimes(band["regime"]):
        part = band[band["regime"] == regime]
        ax.fill_between(part["day"], part["low"], part["high"], color=colors[regime],
                        alpha=0.2, linewidth=0)
        ax.plot(part["day"], part["mean"], color=colors[regime], linestyle=linestyle,
                label=f"{regime or 'run'}{suffix}")


def _mark_warmup(ax, warmup: float | None) -> None:
    if warmup:
        ax.axvline(warmup, color="0.6", linewidth=0.6, linestyle=":")


def _warmup_handle(warmup: float | None) -> list:
    """Legend entry of the warm-up line (none without a warm-up)."""
    if not warmup:
        return []
    return [plt.Line2D([], [], color="0.6", linewidth=0.6, linestyle=":",
                       label=f"end of warm-up\n(day {warmup:g})")]


def otd_title(window_days: float | None) -> str:
    """Title of the rolling on-time panel: the planner's window of deliveries."""
    if window_days:
        return f"On-time delivery, last {window_days:g} days"
    return "On-time delivery, rolling 20-day"


#: Panels of the vicious-cycle figure: series key, panel title, y-axis unit.
VICIOUS_PANELS = (
    ("buffer", "Planner's safety buffer", "days"),
    ("lead_times", "Quoted (dashed) and actual lead time", "days"),
    ("otd_rolling", "On-time delivery, rolling", "share on time"),
    ("trust_mean", "Customers' trust", "mean trust (0–1)"),
    ("padding_mean", "Padding of requested dates", "padding\n(share of need hidden)"),
    ("autonomy_mean", "Salespeople's autonomy", "probability (0–1)"),
)


def vicious_cycle(series: pd.DataFrame, warmup: float | None = None,
                  otd_window: float | None = None) -> plt.Figure:
    """The vicious cycle over time for each regime, with replicate bands.

    Panels (those present in the series): safety buffer; quoted (dashed) and actual
    (solid) lead time; rolling on-time rate; trust; padding; autonomy. Lines are the mean
    over replicates of each run's 20-day rolling mean; bands span the 10th to 90th
    percentile of replicates. The dotted vertical line is the end of the warm-up. The
    on-time rate is the planner's: deliveries of the last ``otd_window`` days (the
    ``otd_window_days`` parameter).
    """
    panels = [(key, title, unit) for key, title, unit in VICIOUS_PANELS
              if key in series.columns or (key == "lead_times" and (
                  "lead_time" in series.columns or "quoted_lead_time" in series.columns))]
    if not panels:
        raise ValueError("the series hold none of the vicious-cycle variables")
    ncols = 3 if len(panels) > 4 else 2
    nrows = int(np.ceil(len(panels) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(DOUBLE_COLUMN_IN, 2.0 * nrows),
                             sharex=True, squeeze=False)
    colors = regime_colors(ordered_regimes(series["regime"]))
    for ax, (key, title, unit) in zip(axes.flat, panels, strict=False):
        if key == "lead_times":
            if "quoted_lead_time" in series.columns:
                _band_plot(ax, series, "quoted_lead_time", colors, "--", " (quoted)")
            if "lead_time" in series.columns:
                _band_plot(ax, series, "lead_time", colors, "-", " (actual)")
        else:
            _band_plot(ax, series, key, colors)
        _mark_warmup(ax, warmup)
        ax.set_title(otd_title(otd_window) if key == "otd_rolling" else title)
        ax.set_ylabel(unit)
        ax.set_ylim(bottom=0)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("day")
    handles = [plt.Line2D([], [], color=colors[r], label=r) for r in colors]
    handles += [plt.Line2D([], [], color="0.3", linestyle="--", label="quoted lead time"),
                plt.Line2D([], [], color="0.3", linestyle="-", label="actual lead time")]
    handles += _warmup_handle(warmup)
    handles.append(matplotlib.patches.Patch(
        color="0.5", alpha=0.3, label=f"replicates {BAND_LOW:.0%}–{BAND_HIGH:.0%}"))
    fig.legend(handles=handles, loc="upper center", ncol=3, frameon=False,
               bbox_to_anchor=(0.5, 1.04))
    sns.despine(fig)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    return fig


def _rolling_share(series: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Per run rolling sums of ``columns`` turned into shares (keys: regime, replicate, day)."""
    frame = series[["regime", "replicate", "day", *columns]].sort_values(
        ["regime", "replicate", "day"])
    rolled = frame.groupby(["regime", "replicate"])[columns].transform(
        lambda s: s.rolling(SMOOTH_DAYS, min_periods=1).sum())
    total = rolled.sum(axis=1).replace(0.0, np.nan)
    shares = rolled.div(total, axis=0)
    shares[["regime", "replicate", "day"]] = frame[["regime", "replicate", "day"]]
    return shares


def _stacked_by_regime(table: pd.DataFrame, columns: list[str], names: list[str],
                       ylabel: str, warmup: float | None, ylim: float | None) -> plt.Figure:
    regimes = ordered_regimes(table["regime"])
    fig, axes = plt.subplots(1, len(regimes), figsize=(DOUBLE_COLUMN_IN, 2.3),
                             sharey=True, squeeze=False)
    palette = sns.color_palette("colorblind", len(columns))
    for ax, regime in zip(axes[0], regimes, strict=False):
        part = table[table["regime"] == regime].sort_values("day")
        ax.stackplot(part["day"], *[part[c].fillna(0.0) for c in columns], labels=names,
                     colors=palette, alpha=0.9, linewidth=0)
        _mark_warmup(ax, warmup)
        ax.set_title(regime or "run")
        ax.set_xlabel("day")
        ax.set_xlim(part["day"].min(), part["day"].max())
        if ylim is not None:
            ax.set_ylim(0, ylim)
    axes[0][0].set_ylabel(ylabel)
    handles, labels = axes[0][0].get_legend_handles_labels()
    handles, labels = handles[::-1], labels[::-1]
    for extra in _warmup_handle(warmup):
        handles.append(extra)
        labels.append(extra.get_label())
    fig.legend(handles, labels, loc="center left",
               bbox_to_anchor=(LEGEND_RIGHT - 0.02, 0.5), frameon=False)
    sns.despine(fig)
    fig.tight_layout(rect=(0, 0, LEGEND_RIGHT - 0.02, 1))  # the legend stays inside the width
    return fig


def channel_columns(series: pd.DataFrame) -> tuple[list[str], list[str]]:
    """The per-channel order columns present (``orders_<c>``, else ``share_<c>``)."""
    for prefix in ("orders_", "share_"):
        cols = [f"{prefix}{c}" for c in CHANNELS if f"{prefix}{c}" in series.columns]
        if cols:
            return cols, [c[len(prefix):] for c in cols]
    return [], []


def channel_mix(series: pd.DataFrame, warmup: float | None = None) -> plt.Figure:
    """Share of orders by channel over time, one panel per regime, with replicate bands.

    Each run's orders per channel are summed over a rolling `SMOOTH_DAYS` window and
    turned into shares; lines are the mean over replicates and bands span the 10th to 90th
    percentile of replicates.
    """
    cols, names = channel_columns(series)
    if not cols:
        raise ValueError("the series hold no channel columns (orders_<channel>)")
    shares = _rolling_share(series, cols)
    regimes = ordered_regimes(shares["regime"])
    fig, axes = plt.subplots(1, len(regimes), figsize=(DOUBLE_COLUMN_IN, 2.3),
                             sharey=True, squeeze=False)
    palette = sns.color_palette("colorblind", len(cols))
    for ax, regime in zip(axes[0], regimes, strict=False):
        part = shares[shares["regime"] == regime]
        grouped = part.groupby("day")
        for col, name, color in zip(cols, names, palette, strict=True):
            mean = grouped[col].mean()
            ax.fill_between(mean.index, grouped[col].quantile(BAND_LOW),
                            grouped[col].quantile(BAND_HIGH), color=color, alpha=0.2,
                            linewidth=0)
            ax.plot(mean.index, mean, color=color, label=name)
        _mark_warmup(ax, warmup)
        ax.set_title(regime or "run")
        ax.set_xlabel("day")
        ax.set_xlim(part["day"].min(), part["day"].max())
        ax.set_ylim(0, 1)
    axes[0][0].set_ylabel(f"share of orders by channel\n(rolling {SMOOTH_DAYS} days)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    handles.append(matplotlib.patches.Patch(
        color="0.5", alpha=0.3, label=f"replicates\n{BAND_LOW:.0%}–{BAND_HIGH:.0%}"))
    handles += _warmup_handle(warmup)
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(LEGEND_RIGHT - 0.02, 0.5),
               frameon=False)
    sns.despine(fig)
    fig.tight_layout(rect=(0, 0, LEGEND_RIGHT - 0.03, 1))
    return fig


def sales_time(series: pd.DataFrame, warmup: float | None = None) -> plt.Figure:
    """Salespeople's hours per day by activity over time, one panel per regime."""
    cols = [f"hours_{a}" for a in ACTIVITIES if f"hours_{a}" in series.columns]
    if not cols:
        raise ValueError("the series hold no salesperson hours (hours_<activity>)")
    frames = [replicate_band(series, c).set_index(["regime", "day"])["mean"].rename(c)
              for c in cols]
    table = pd.concat(frames, axis=1).reset_index()
    return _stacked_by_regime(table, cols, [c[len("hours_"):] for c in cols],
                              "sales team hours per day", warmup, None)


def relationship_vs_factor(
    rows: pd.DataFrame, factor: str, output: str, tipping: pd.Series | None = None,
) -> plt.Figure:
    """Relationship value (paired delta) against a factor, with the tipping point.

    Args:
        rows: Per design row: the factor, ``mean``, ``ci_low``, ``ci_high`` of the delta.
        factor: The factor on the x axis (e.g. a chaos parameter).
        output: The delta's column name (``delta_<output>``), for the label.
        tipping: A tipping row (``threshold``, ``ci_low``, ``ci_high``) or None.
    """
    fig, ax = plt.subplots(figsize=(SINGLE_COLUMN_IN, 2.6))
    color = sns.color_palette("colorblind")[0]
    data = rows.dropna(subset=["mean"]).sort_values(factor)
    levels = data[factor].nunique()
    notes = []
    if levels <= MAX_LEVELS_AS_POINTS and len(data) == levels:
        # One design row per level (a 1-D sweep): the row's interval over replicates.
        yerr = np.vstack([data["mean"] - data["ci_low"], data["ci_high"] - data["mean"]])
        ax.errorbar(data[factor], data["mean"], yerr=np.nan_to_num(yerr), fmt="o-",
                    color=color, markersize=3, capsize=2, linewidth=1,
                    label="mean over replicates, 95% CI")
    elif levels <= MAX_LEVELS_AS_POINTS:
        # Several design rows per level: the mean over them, t interval across rows.
        grouped = data.groupby(factor)["mean"].agg(["mean", "sem", "count"]).reset_index()
        half = stats.t.ppf(0.975, np.maximum(grouped["count"] - 1, 1)) * grouped["sem"]
        ax.errorbar(grouped[factor], grouped["mean"], yerr=np.nan_to_num(half), fmt="o-",
                    color=color, markersize=3, capsize=2, linewidth=1,
                    label="mean over other factors, 95% CI")
    else:
        ax.scatter(data[factor], data["mean"], s=4, color=color, alpha=0.35, linewidth=0,
                   label="design points (replicate means)")
        bins = pd.cut(data[factor], 10)
        binned = data.groupby(bins, observed=True)["mean"].agg(["mean", "sem"])
        centres = [iv.mid for iv in binned.index]
        half = 1.96 * binned["sem"].fillna(0)
        ax.errorbar(centres, binned["mean"], yerr=half, fmt="o-",
                    color="0.2", markersize=3, capsize=2, linewidth=1,
                    label="binned mean, 95% CI")
        notes += _robust_ylim(ax, data["mean"].to_numpy(float),
                              np.concatenate([binned["mean"] - half, binned["mean"] + half]))
    ax.axhline(0.0, color="0.4", linewidth=0.7)
    if tipping is not None and np.isfinite(tipping.get("threshold", np.nan)):
        lo, hi = tipping["ci_low"], tipping["ci_high"]
        method = tipping.get("method", "logistic")
        bisection = method == "bisection"
        what = "bisection bracket" if bisection else "P(Δ>0) = ½, 95% CI"
        xs = data[factor].to_numpy(float)
        cut = [] if bisection or xs.size == 0 else (
            (["low"] if lo <= np.nanmin(xs) else []) + (["high"] if hi >= np.nanmax(xs) else []))
        if cut:
            what += "\n(interval extends past the range, cut at its edge)"
        ax.axvspan(lo, hi, color="0.85", zorder=0, label=f"tipping point: {what}")
        ax.axvline(tipping["threshold"], color="0.3", linestyle="--", linewidth=0.9,
                   label="tipping point estimate" + (" (secant in the bracket)"
                                                     if bisection else ""))
    elif tipping is not None:
        notes.append("no tipping point (sign change) in the factor's range")
    ax.set_xlabel(label(factor))
    ax.set_ylabel(label(output))
    if notes:
        ax.annotate("\n".join(notes), xy=(0.5, 0.0), xycoords=ax.xaxis.label,
                    xytext=(0, -2), textcoords="offset points", ha="center", va="top",
                    fontsize=FONT_SIZE - 2, color="0.25")
    ax.legend(frameon=False, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=1,
              borderaxespad=0.2)
    sns.despine(fig)
    fig.tight_layout()
    return fig


def _robust_ylim(ax, points: np.ndarray, keep: np.ndarray) -> list[str]:
    """Limit the y axis to the `ROBUST_Y_PERCENTILES` of ``points`` (plus ``keep`` and 0).

    Returns the note for the figure (how many points lie outside), or nothing when every
    point fits.
    """
    points = points[np.isfinite(points)]
    if points.size < 20:
        return []
    low, high = np.percentile(points, ROBUST_Y_PERCENTILES)
    keep = keep[np.isfinite(keep)]
    low, high = min(low, 0.0, *keep), max(high, 0.0, *keep)
    pad = 0.08 * (high - low or 1.0)
    low, high = low - pad, high + pad
    outside = int(np.sum((points < low) | (points > high)))
    if not outside:
        return []
    ax.set_ylim(low, high)
    a, b = (_ordinal(q) for q in ROBUST_Y_PERCENTILES)
    return [f"{outside} of {points.size} design points outside the axis",
            f"(the y axis spans the {a}–{b} percentile of the points)"]


def _ordinal(q: float) -> str:
    n = int(round(q))
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


#: Sobol bar plots show indices on this range; estimates outside it are drawn at the edge.
SOBOL_XLIM = (-0.1, 1.1)


def sobol_title(target: str) -> str:
    """Readable title of a Sobol target: ``delta_<output>`` or ``<output>_<regime>``."""
    if target.startswith("delta_"):
        return label(target)
    for regime in REGIME_ORDER:
        if target.endswith(f"_{regime}"):
            base = label(target[: -len(regime) - 1])
            return f"{base[:1].upper()}{base[1:]}, {regime}"
    return label(target)


def _clipped_interval(ax, y: float, value: float, half: float) -> bool:
    """Draw value ± half on the axis range, with a caret where it is cut at an edge.

    Returns whether the interval was cut.
    """
    lo, hi = SOBOL_XLIM
    if not np.isfinite(value):
        return False
    half = float(half) if np.isfinite(half) else 0.0
    a, b = value - half, value + half
    ca, cb = np.clip([a, b], lo, hi)
    if cb > ca:
        ax.plot([ca, cb], [y, y], color="0.15", linewidth=0.7, solid_capstyle="butt")
    for end, clipped, cut_marker in ((a, ca, "<"), (b, cb, ">")):
        if end < lo or end > hi:
            ax.plot([clipped], [y], marker=cut_marker, color="0.15", markersize=2.5,
                    linestyle="none", clip_on=False)
        elif cb > ca:
            ax.plot([clipped], [y], marker="|", color="0.15", markersize=2.5,
                    linestyle="none")
    return bool(a < lo or b > hi)


def sobol_bars(table: pd.DataFrame, output: str, noise_share: float | None = None
               ) -> plt.Figure:
    """First-order and total Sobol indices with their 95% intervals, sorted by ST.

    Indices are shares of variance, so the axis spans `SOBOL_XLIM` (about [0, 1]).
    Sampling noise can put estimates and intervals far outside it; those bars and
    intervals are cut at the axis edge (a caret marks a cut interval) and every estimate
    outside the range is written at the right of its row (``3.35 ±9.7 →``).
    """
    data = table.sort_values("ST", ascending=True).reset_index(drop=True)
    n = len(data)
    lo, hi = SOBOL_XLIM
    fig, ax = plt.subplots(figsize=(SINGLE_COLUMN_IN, 1.3 + 0.25 * n))
    y = np.arange(n)
    height = 0.38
    palette = sns.color_palette("colorblind")
    outside = []
    cut_any = False
    for column, offset, color, name in (("ST", height / 2, palette[0], "total (ST)"),
                                        ("S1", -height / 2, palette[1],
                                         "first order (S1)")):
        values = data[column].to_numpy(float)
        ax.barh(y + offset, np.clip(np.nan_to_num(values), lo, hi), height, color=color,
                label=name)
        for i, (value, half) in enumerate(zip(values, data[f"{column}_conf"], strict=True)):
            cut_any |= _clipped_interval(ax, y[i] + offset, value, half)
            if np.isfinite(value) and not lo <= value <= hi:
                arrow = "→" if value > hi else "←"
                outside.append((y[i] + offset, f"{column} {value:.2f} ±{half:.2g} {arrow}"))
    for ypos, text in outside:
        ax.annotate(text, (hi, ypos), xytext=(5, 0), textcoords="offset points",
                    va="center", ha="left", fontsize=FONT_SIZE - 2, annotation_clip=False)
    ax.set_xlim(lo, hi)
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_yticks(y, data["factor"])
    ax.axvline(0.0, color="0.4", linewidth=0.6)
    ax.set_xlabel("Sobol index (share of variance), 95% CI")
    title = sobol_title(output)
    notes = []
    if noise_share is not None and np.isfinite(noise_share):
        notes.append(f"replicate noise: {noise_share:.0%} of variance")
    notes.append(f"estimates are noisy; axis cut at [{lo:g}, {hi:g}]")
    if outside or cut_any:
        notes.append(", ".join(
            (["◀ ▶ interval continues"] if cut_any else [])
            + (["values outside at right"] if outside else [])))
    ax.set_title(title + "\n" + "\n".join(notes), fontsize=FONT_SIZE - 1)
    below = matplotlib.transforms.offset_copy(ax.transAxes, fig, y=-32, units="points")
    ax.legend(frameon=False, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2,
              borderaxespad=0.0, bbox_transform=below)
    sns.despine(fig)
    fig.tight_layout()
    return fig


def morris_plot(table: pd.DataFrame, output: str) -> plt.Figure:
    """Morris screening: mu* (with its 95% interval) against sigma.

    Effects are changes of the output per full range of a factor (SALib's elementary
    effects on the unit-scaled design). Factors with mu* of at least `MORRIS_LABEL_SHARE`
    of the largest are labelled; the dotted line is sigma = mu* (above it, effects change
    sign or interact strongly).
    """
    fig, ax = plt.subplots(figsize=(SINGLE_COLUMN_IN, 2.8))
    color = sns.color_palette("colorblind")[0]
    ax.errorbar(table["mu_star"], table["sigma"], xerr=table["mu_star_conf"], fmt="o",
                color=color, markersize=3, capsize=1.5, elinewidth=0.7)
    top = float(table["mu_star"].max())
    labelled = table[table["mu_star"] >= MORRIS_LABEL_SHARE * top]
    for _, r in labelled.sort_values("mu_star", ascending=False).iterrows():
        ax.annotate(r["factor"], (r["mu_star"], r["sigma"]), xytext=(3, 3),
                    textcoords="offset points", fontsize=FONT_SIZE - 2)
    xmax = float(max((table["mu_star"] + table["mu_star_conf"].fillna(0)).max(), 0.0))
    ymax = float(max(table["sigma"].max(), 0.0))
    xmax, ymax = (xmax or 1.0) * 1.25, (ymax or 1.0) * 1.25
    line = min(xmax, ymax)
    ax.plot([0, line], [0, line], color="0.7", linewidth=0.6, linestyle=":")
    ax.set_xlim(0, xmax)
    ax.set_ylim(0, ymax)
    ax.set_xlabel("μ*, mean |effect| per factor range")
    ax.set_ylabel("σ, spread of effects")
    ax.set_title(label(output))
    sns.despine(fig)
    fig.tight_layout()
    return fig


def smoothed_surface(z: np.ndarray, sigma: float = CONTOUR_SMOOTH_CELLS) -> np.ndarray:
    """Gaussian-smooth a grid with missing cells (normalised convolution; NaN stays NaN).

    The zero contour of raw cell means follows the noise of each cell; smoothing over about
    one cell shows the boundary the cells agree on. Missing cells get no value.
    """
    z = np.asarray(z, float)
    ok = np.isfinite(z)
    if min(z.shape) < MIN_CELLS_TO_SMOOTH:
        return z
    num = ndimage.gaussian_filter(np.where(ok, z, 0.0), sigma, mode="nearest")
    den = ndimage.gaussian_filter(ok.astype(float), sigma, mode="nearest")
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num / den
    out[~ok] = np.nan
    return out


def _cell_edges(centres: np.ndarray) -> np.ndarray:
    """Edges of cells around sorted centres (midpoints; the ends mirror the neighbours)."""
    c = np.asarray(centres, float)
    if c.size == 1:
        return np.array([c[0] - 0.5, c[0] + 0.5])
    mid = (c[1:] + c[:-1]) / 2
    return np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])


def sign_agreement(z: np.ndarray, smooth: np.ndarray) -> float:
    """Share of cells whose mean has the sign of the smoothed map there (NaN if none)."""
    ok = np.isfinite(z) & np.isfinite(smooth)
    if not ok.any():
        return float("nan")
    return float(np.mean(np.sign(z[ok]) == np.sign(smooth[ok])))


def tipping_map_plot(grid: pd.DataFrame, output: str, replicates: int | None = None
                     ) -> plt.Figure:
    """Mean paired delta over two factors with its zero contour (the tipping line).

    Cells are the grid's levels or equal-width bins (the other factors marginalised);
    cells without a design point are grey; cells with fewer than `MIN_ROWS_PER_CELL`
    design rows are hatched (their mean rests on few points). The black line is the zero
    contour of the cell means smoothed over about one cell (`smoothed_surface`); it is
    drawn only when at least `MIN_SIGN_AGREEMENT` of the cells agree in sign with the
    smoothed map (otherwise the line would trace noise) and the figure says so.

    Args:
        grid: The stored map (``x_factor``, ``y_factor``, ``x``, ``y``, ``mean_delta``,
            ``n`` pairs and, when stored, ``rows``).
        output: The delta's column name, for the colour bar.
        replicates: Replicates per design row, to count rows as ``n / replicates`` when
            the map has no ``rows`` column.
    """
    fx, fy = grid["x_factor"].iloc[0], grid["y_factor"].iloc[0]
    pivot = grid.pivot_table(index="y", columns="x", values="mean_delta", dropna=False)
    xs, ys, z = pivot.columns.to_numpy(float), pivot.index.to_numpy(float), pivot.to_numpy()
    if "rows" in grid.columns:
        rows = grid.pivot_table(index="y", columns="x", values="rows", dropna=False)
    elif "n" in grid.columns:
        per = grid.assign(rows=grid["n"] / max(int(replicates or 1), 1))
        rows = per.pivot_table(index="y", columns="x", values="rows", dropna=False)
    else:
        rows = None
    fig, ax = plt.subplots(figsize=(SINGLE_COLUMN_IN, 3.2))
    finite = z[np.isfinite(z)]
    span = float(np.max(np.abs(finite))) if finite.size else 1.0
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-span or -1.0, vmax=span or 1.0)
    mesh = ax.pcolormesh(xs, ys, np.ma.masked_invalid(z), cmap=DIVERGING_CMAP, norm=norm,
                         shading="nearest")
    handles = []
    if rows is not None:
        r = rows.reindex(index=pivot.index, columns=pivot.columns).to_numpy(float)
        few = np.isfinite(z) & (np.nan_to_num(r) < MIN_ROWS_PER_CELL)
        xe, ye = _cell_edges(xs), _cell_edges(ys)
        for iy, ix in zip(*np.nonzero(few), strict=True):
            ax.add_patch(plt.Rectangle((xe[ix], ye[iy]), xe[ix + 1] - xe[ix],
                                       ye[iy + 1] - ye[iy], fill=False, hatch="////",
                                       edgecolor="0.35", linewidth=0))
        if few.any():
            handles.append(matplotlib.patches.Patch(
                facecolor="white", edgecolor="0.35", hatch="////", linewidth=0.4,
                label=f"< {MIN_ROWS_PER_CELL} design rows in the cell ({int(few.sum())})"))
    if not np.all(np.isfinite(z)):
        ax.set_facecolor(EMPTY_CELL_COLOR)
        handles.append(matplotlib.patches.Patch(facecolor=EMPTY_CELL_COLOR,
                                                label="no design point in the cell"))
    smooth = smoothed_surface(z)
    agreement = sign_agreement(z, smooth)
    crosses = np.nanmin(smooth, initial=np.inf) < 0.0 < np.nanmax(smooth, initial=-np.inf)
    if crosses and len(xs) > 1 and len(ys) > 1:
        if agreement >= MIN_SIGN_AGREEMENT:
            ax.contour(xs, ys, np.ma.masked_invalid(smooth), levels=[0.0], colors="k",
                       linewidths=1.0)
            handles.insert(0, plt.Line2D(
                [], [], color="k", linewidth=1.0,
                label=f"Δ = 0 of the smoothed map ({agreement:.0%} of cells agree in sign)"))
        else:
            handles.insert(0, plt.Line2D(
                [], [], linestyle="none",
                label=f"no Δ = 0 line: only {agreement:.0%} of cells agree in sign with "
                      f"the\nsmoothed map (line drawn from {MIN_SIGN_AGREEMENT:.0%})"))
    if handles:
        ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.01),
                  frameon=False, borderaxespad=0.0, handlelength=1.5,
                  fontsize=FONT_SIZE - 2)
    bar = fig.colorbar(mesh, ax=ax)
    bar.set_label(label(output))
    ax.set_xlabel(label(fx))
    ax.set_ylabel(label(fy))
    fig.tight_layout()
    return fig
