"""Publication figures in one consistent style (seaborn, paper context, colour-blind palette).

Every function takes stored results (DataFrames) and returns a matplotlib Figure; the
caller saves it with `save_figure` (vector PDF plus 300 dpi PNG). Widths are a journal's
single column (3.5 in) and double column (7.2 in). Axis labels carry units: money is per
measured day (the model's KPI convention), times are in working days.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import matplotlib.legend
import matplotlib.patches
import matplotlib.text
import matplotlib.transforms
from matplotlib.offsetbox import AnchoredText
from relsim.analysis import labels as lb
from relsim.analysis.claims import UNSUPPORTED, crossing_support

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
REGIME_ORDER = ("relationship", "transactional", "mixed", "sacred", "sacred_relationship",
                "sacred_mixed")
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

#: Cells of a map on a grid's own levels resting on fewer pairs (replicates) than this are
#: hatched (binned cells of a global design: fewer design rows than `MIN_ROWS_PER_CELL`).
MIN_PAIRS_PER_CELL = 3
#: Channel mix: rolling window (days) of the time panels (the shares are noisy day to day).
CHANNEL_SMOOTH_DAYS = 60
#: Line styles and markers that tell four series apart in greyscale too.
LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 1)))
MARKERS = ("o", "s", "^", "D", "v", "P")
#: Fixed colour index (colour-blind palette) of every known regime, versions 1 and 2.
REGIME_COLOR_INDEX = {"relationship": 0, "sacred": 1, "transactional": 2,
                      "sacred_relationship": 3, "mixed": 4, "sacred_mixed": 8}
#: Note text size (inside the axes).
NOTE_SIZE = FONT_SIZE - 2


def label(name: str) -> str:
    """Return the axis label with its unit in words (the table of `analysis.labels`).

    ``delta_<output>`` gives ``Δ <output> (unit)``; figure functions add the compared
    regimes on a second line when they know them.
    """
    return lb.label(name)


def delta_axis_label(output: str, comparison: Sequence[str] | str | None) -> str:
    """Label of a paired difference: ``Δ profit (money/day)`` and ``A − B`` below."""
    base = output[len("delta_"):] if output.startswith("delta_") else output
    text = wrap(f"Δ {lb.label(base)}", 40)
    if isinstance(comparison, str) and comparison:
        text += f"\n{comparison}"
    elif comparison:
        text += f"\n{comparison[0]} − {comparison[1]}"
    return text


def wrap(text: str, width: int = 44) -> str:
    """Break a long axis label over lines (a single-column figure holds about 45 chars)."""
    return "\n".join(textwrap.wrap(text, width)) if len(text) > width else text


def add_note(ax, text: str | None, loc: str = "upper left") -> None:
    """Write ``text`` inside the axes (never outside the figure), in a light box.

    A note about an incomplete sweep ("incomplete: ...") is written in red.
    """
    if not text:
        return
    warn = "incomplete" in text  # an incomplete sweep's note stands out
    box = AnchoredText(text, loc=loc, prop={"size": NOTE_SIZE,
                                            "color": "firebrick" if warn else "0.2"},
                       frameon=True, borderpad=0.3, pad=0.25)
    box.patch.set(facecolor="white", edgecolor="0.8", alpha=0.85, linewidth=0.4)
    box.set_zorder(10)
    ax.add_artist(box)


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
    """Return a fixed colour per regime.

    Each known regime (versions 1 and 2) always gets the same colour; others take the
    palette's unused colours in order.
    """
    palette = sns.color_palette("colorblind")
    used = {REGIME_COLOR_INDEX[r] for r in regimes if r in REGIME_COLOR_INDEX}
    others = iter([c for i, c in enumerate(palette) if i not in used] * 2)
    return {r: palette[REGIME_COLOR_INDEX[r]] if r in REGIME_COLOR_INDEX else next(others)
            for r in regimes}


def regime_styles(regimes: Sequence[str]) -> dict[str, tuple]:
    """Line style and marker per regime, in order (regimes differ in greyscale too)."""
    return {r: (LINESTYLES[i % len(LINESTYLES)], MARKERS[i % len(MARKERS)])
            for i, r in enumerate(regimes)}


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


def _warmup_handle(warmup: float | None, one_line: bool = False) -> list:
    """Legend entry of the warm-up line (none without a warm-up)."""
    if not warmup:
        return []
    return [plt.Line2D([], [], color="0.6", linewidth=0.6, linestyle=":",
                       label=f"end of warm-up{' ' if one_line else chr(10)}(day {warmup:g})")]


def otd_title(window_days: float | None) -> str:
    """Title of the rolling on-time panel: the planner's window of deliveries."""
    if window_days:
        return f"On-time delivery, last {window_days:g} days"
    return "On-time delivery, rolling 20-day"


#: Panels of the vicious-cycle figure: series key, panel title, y-axis label (with unit).
VICIOUS_PANELS = (
    ("buffer", "Planner's safety buffer", "buffer (days)"),
    ("lead_times", "Quoted and actual lead time", "lead time (days)"),
    ("otd_rolling", "On-time delivery, rolling", "on time (share)"),
    ("trust_mean", "Customers' trust", "mean trust (scale 0–1)"),
    ("padding_mean", "Padding of requested dates", "padding\n(share of need hidden)"),
    ("autonomy_mean", "Salespeople's autonomy", "autonomy (probability)"),
)


def vicious_cycle(series: pd.DataFrame, warmup: float | None = None,
                  otd_window: float | None = None, *, note: str | None = None
                  ) -> plt.Figure:
    """The vicious cycle over time for each regime, with replicate bands.

    Panels (those present in the series): safety buffer; quoted (dashed) and actual
    (solid) lead time; rolling on-time rate; trust; padding; autonomy. Lines are the mean
    over replicates of each run's 20-day rolling mean; bands span the 10th to 90th
    percentile of replicates. The dotted vertical line is the end of the warm-up. The
    on-time rate is the planner's: deliveries of the last ``otd_window`` days (the
    ``otd_window_days`` parameter). ``note`` is written inside the first panel.
    """
    panels = [(key, title, unit) for key, title, unit in VICIOUS_PANELS
              if key in series.columns or (key == "lead_times" and (
                  "lead_time" in series.columns or "quoted_lead_time" in series.columns))]
    if not panels:
        raise ValueError("the series hold none of the vicious-cycle variables")
    ncols = 3 if len(panels) > 4 else 2
    nrows = int(np.ceil(len(panels) / ncols))
    height = 0.5 + 2.0 * nrows
    fig, axes = plt.subplots(nrows, ncols, figsize=(DOUBLE_COLUMN_IN, height),
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
        ax.set_xlim(series["day"].min(), series["day"].max())
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("day")
    add_note(axes.flat[0], note)
    handles = [plt.Line2D([], [], color=colors[r], label=r) for r in colors]
    handles += [plt.Line2D([], [], color="0.3", linestyle="--", label="quoted lead time"),
                plt.Line2D([], [], color="0.3", linestyle="-", label="actual lead time")]
    handles += _warmup_handle(warmup, one_line=True)
    handles.append(matplotlib.patches.Patch(
        color="0.5", alpha=0.3, label=f"replicates {BAND_LOW:.0%}–{BAND_HIGH:.0%}"))
    fig.legend(handles=handles, loc="upper center", ncol=4, frameon=False,
               bbox_to_anchor=(0.5, 1.0))
    sns.despine(fig)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.45 / height))
    return fig


def _rolling_share(series: pd.DataFrame, columns: list[str],
                   window: int = SMOOTH_DAYS) -> pd.DataFrame:
    """Per run rolling sums of ``columns`` turned into shares (keys: regime, replicate, day)."""
    frame = series[["regime", "replicate", "day", *columns]].sort_values(
        ["regime", "replicate", "day"])
    rolled = frame.groupby(["regime", "replicate"])[columns].transform(
        lambda s: s.rolling(window, min_periods=1).sum())
    total = rolled.sum(axis=1).replace(0.0, np.nan)
    shares = rolled.div(total, axis=0)
    shares[["regime", "replicate", "day"]] = frame[["regime", "replicate", "day"]]
    return shares


def channel_columns(series: pd.DataFrame) -> tuple[list[str], list[str]]:
    """The per-channel order columns present (``orders_<c>``, else ``share_<c>``)."""
    for prefix in ("orders_", "share_"):
        cols = [f"{prefix}{c}" for c in CHANNELS if f"{prefix}{c}" in series.columns]
        if cols:
            return cols, [c[len(prefix):] for c in cols]
    return [], []


def measured_shares(series: pd.DataFrame, columns: list[str],
                    warmup: float | None) -> pd.DataFrame:
    """Each run's share of every column over the measured days (after the warm-up).

    Returns one row per (regime, replicate) with one share column per input column.
    """
    part = series[series["day"] >= (warmup or 0)]
    sums = part.groupby(["regime", "replicate"])[columns].sum()
    total = sums.sum(axis=1).replace(0.0, np.nan)
    return sums.div(total, axis=0).reset_index()


def _mean_t_interval(values: np.ndarray) -> tuple[float, float]:
    """Mean and 95% t half-width (NaN half-width with fewer than two values)."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan")
    if v.size < 2:
        return float(v.mean()), float("nan")
    half = stats.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size)
    return float(v.mean()), float(half)


def channel_mix(series: pd.DataFrame, warmup: float | None = None, *,
                note: str | None = None) -> plt.Figure:
    """Share of orders by channel: over time per regime, and over the measured days.

    Left panels (one per regime): each run's orders per channel summed over a rolling
    `CHANNEL_SMOOTH_DAYS` window and turned into shares, averaged over replicates (no
    band: the right panel carries the uncertainty). Channels differ in colour, line style
    and marker, so they stay apart in greyscale. Right panel: each channel's share of the
    orders placed after the warm-up (channels down the axis), mean over replicates with
    its 95% t interval, one grey marker per regime (the colours already mean channels).
    """
    cols, names = channel_columns(series)
    if not cols:
        raise ValueError("the series hold no channel columns (orders_<channel>)")
    shares = _rolling_share(series, cols, CHANNEL_SMOOTH_DAYS)
    regimes = ordered_regimes(shares["regime"])
    n = len(regimes)
    fig = plt.figure(figsize=(DOUBLE_COLUMN_IN, 2.7))
    grid = fig.add_gridspec(1, n + 1, width_ratios=[1.0] * n + [1.0])
    axes = [fig.add_subplot(grid[0, i]) for i in range(n)]
    summary_ax = fig.add_subplot(grid[0, n])
    palette = sns.color_palette("colorblind", len(cols))
    days = shares["day"]
    every = max(1, int((days.max() - days.min()) / 6))
    for i, (ax, regime) in enumerate(zip(axes, regimes, strict=True)):
        grouped = shares[shares["regime"] == regime].groupby("day")
        for j, (col, name) in enumerate(zip(cols, names, strict=True)):
            mean = grouped[col].mean()
            ax.plot(mean.index, mean, color=palette[j], linestyle=LINESTYLES[j],
                    marker=MARKERS[j], markevery=(every // 2 + j * every // 8, every),
                    markersize=3.5, label=name)
        _mark_warmup(ax, warmup)
        ax.set_title(regime or "run")
        ax.set_xlabel("day")
        ax.set_xlim(days.min(), days.max())
        ax.set_ylim(0, 1)
        if i:
            ax.tick_params(labelleft=False)
        else:
            ax.set_ylabel(f"orders by channel (share,\nrolling {CHANNEL_SMOOTH_DAYS} days)")
    measured = measured_shares(series, cols, warmup)
    # Regimes in greys with their own markers: the channel colours already mean channels.
    greys = [str(g) for g in np.linspace(0.0, 0.55, max(n, 1))]
    regime_markers = ("o", "s", "^", "D", "v", "P")
    height = 0.7 / max(n, 1)
    for k, regime in enumerate(regimes):
        part = measured[measured["regime"] == regime]
        stats_ = [_mean_t_interval(part[c].to_numpy(float)) for c in cols]
        ys = np.arange(len(cols)) + (k - (n - 1) / 2) * height
        summary_ax.errorbar([s[0] for s in stats_], ys,
                            xerr=np.nan_to_num([s[1] for s in stats_]),
                            fmt=regime_markers[k % len(regime_markers)], color=greys[k],
                            markerfacecolor=greys[k] if k % 2 == 0 else "white",
                            markersize=4, capsize=1.5, elinewidth=0.8, linestyle="none",
                            label=regime or "run")
    summary_ax.set_yticks(np.arange(len(cols)), names)
    summary_ax.set_ylim(len(cols) - 0.5, -0.5)
    summary_ax.set_xlim(0, 1)
    summary_ax.set_xlabel("orders (share)")
    summary_ax.set_title("After warm-up" if warmup else "All days")
    add_note(axes[0], note)
    # One legend below the panels: channels (and the warm-up) on the first row, the
    # regimes of the right panel on the second.
    handles, labels = axes[0].get_legend_handles_labels()
    handles += _warmup_handle(warmup, one_line=True)
    labels += [h.get_label() for h in _warmup_handle(warmup, one_line=True)]
    regime_handles, regime_labels = summary_ax.get_legend_handles_labels()
    width = max(len(handles), len(regime_handles))
    pad = [plt.Line2D([], [], linestyle="none")]
    rows = [handles + pad * (width - len(handles)),
            regime_handles + pad * (width - len(regime_handles))]
    texts = [labels + [""] * (width - len(labels)),
             [f"{r} (right)" for r in regime_labels] + [""] * (width - len(regime_labels))]
    # matplotlib fills a legend column by column: interleave the two rows.
    fig.legend([h for col in zip(*rows, strict=True) for h in col],
               [t for col in zip(*texts, strict=True) for t in col], loc="lower center",
               ncol=width, frameon=False, bbox_to_anchor=(0.5, 0.0), handlelength=3.0,
               columnspacing=1.2)
    sns.despine(fig)
    fig.tight_layout(rect=(0, 0.15, 1, 1))
    return fig


def _hours_frame(series: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    frames = [replicate_band(series, c).set_index(["regime", "day"])["mean"].rename(c)
              for c in cols]
    return pd.concat(frames, axis=1).reset_index()


def sales_time(series: pd.DataFrame, warmup: float | None = None, *,
               note: str | None = None) -> plt.Figure:
    """Salespeople's hours per day by activity, and firefighting on its own axis.

    Top (one panel per regime): hours per day of all salespeople by activity, stacked
    (mean over replicates of each run's 20-day rolling mean). Bottom: firefighting, the
    hours of lobbying plus apologising, for every regime on one axis with its 10–90%
    replicate band (invisible as a sliver of the stack, so it gets its own scale).
    """
    cols = [f"hours_{a}" for a in ACTIVITIES if f"hours_{a}" in series.columns]
    if not cols:
        raise ValueError("the series hold no salesperson hours (hours_<activity>)")
    table = _hours_frame(series, cols)
    regimes = ordered_regimes(table["regime"])
    ncols = min(len(regimes), 3)
    nrows = int(np.ceil(len(regimes) / ncols))
    fire_cols = [c for c in ("hours_lobbying", "hours_apologising") if c in series.columns]
    height = 1.9 * nrows + (1.9 if fire_cols else 0) + 0.2
    fig = plt.figure(figsize=(DOUBLE_COLUMN_IN, height))
    grid = fig.add_gridspec(nrows + (1 if fire_cols else 0), ncols + 1,
                            width_ratios=[1.0] * ncols + [0.55])
    palette = sns.color_palette("colorblind", len(cols))
    hatches = {"hours_lobbying": "////", "hours_apologising": "xxxx"}
    names = [lb.short(c) for c in cols]
    stack_axes = []
    for k, regime in enumerate(regimes):
        ax = fig.add_subplot(grid[k // ncols, k % ncols],
                             sharey=stack_axes[0] if stack_axes else None)
        stack_axes.append(ax)
        part = table[table["regime"] == regime].sort_values("day")
        polys = ax.stackplot(part["day"], *[part[c].fillna(0.0) for c in cols],
                             labels=names, colors=palette, alpha=0.9, linewidth=0)
        for poly, col in zip(polys, cols, strict=True):
            if col in hatches:
                poly.set_hatch(hatches[col])
                poly.set_edgecolor("white")
        _mark_warmup(ax, warmup)
        ax.set_title(regime or "run")
        ax.set_xlim(part["day"].min(), part["day"].max())
        if k % ncols == 0:
            ax.set_ylabel("sales team\n(hours/day)")
        else:
            ax.tick_params(labelleft=False)
        ax.set_xlabel("day")
    handles, labels = stack_axes[0].get_legend_handles_labels()
    legend_ax = fig.add_subplot(grid[0, ncols])
    legend_ax.axis("off")
    extra = _warmup_handle(warmup)
    legend_ax.legend(handles[::-1] + extra, labels[::-1] + [h.get_label() for h in extra],
                     loc="upper left", frameon=False, borderaxespad=0.0)
    if fire_cols:
        ax = fig.add_subplot(grid[nrows, :ncols])
        fire = series[["regime", "replicate", "day"]].copy()
        fire["firefighting"] = series[fire_cols].sum(axis=1)
        colors = regime_colors(regimes)
        styles = regime_styles(regimes)
        band = replicate_band(fire, "firefighting")
        for regime in regimes:
            part = band[band["regime"] == regime]
            ax.fill_between(part["day"], part["low"], part["high"], color=colors[regime],
                            alpha=0.2, linewidth=0)
            ax.plot(part["day"], part["mean"], color=colors[regime],
                    linestyle=styles[regime][0], label=regime or "run")
        _mark_warmup(ax, warmup)
        ax.set_xlim(band["day"].min(), band["day"].max())
        ax.set_ylim(bottom=0)
        ax.set_title("Firefighting: lobbying + apologising")
        ax.set_ylabel("firefighting\n(hours/day)")
        ax.set_xlabel("day")
        fire_legend = fig.add_subplot(grid[nrows, ncols])
        fire_legend.axis("off")
        h, lab = ax.get_legend_handles_labels()
        h.append(matplotlib.patches.Patch(color="0.5", alpha=0.3,
                                          label=f"replicates\n{BAND_LOW:.0%}–{BAND_HIGH:.0%}"))
        fire_legend.legend(handles=h, loc="upper left", frameon=False, borderaxespad=0.0)
    add_note(stack_axes[0], note)
    sns.despine(fig)
    fig.tight_layout()
    return fig


def _output_base(output: str) -> str:
    return output[len("delta_"):] if output.startswith("delta_") else output


def relationship_vs_factor(
    rows: pd.DataFrame, factor: str, output: str, tipping: pd.Series | None = None, *,
    comparison: Sequence[str] | str | None = None, bounds: Sequence[float] | None = None,
    note: str | None = None,
) -> plt.Figure:
    """A paired difference against a factor, with its tipping point where supported.

    The tipping point (line and interval) is drawn only when `claims.crossing_support`
    finds the crossing supported; otherwise the figure says "no supported sign change".

    Args:
        rows: Per design row: the factor, ``mean``, ``ci_low``, ``ci_high`` of the delta.
        factor: The factor on the x axis (e.g. a chaos parameter).
        output: The output (``profit``; ``delta_profit`` is accepted too).
        tipping: A tipping row (``threshold``, ``ci_low``, ``ci_high``, ``method``) or None.
        comparison: The compared regimes (A, B), or a label, for the y axis.
        bounds: The factor's range (the x axis spans it); default the data's range.
        note: Extra text written inside the axes (e.g. an incomplete sweep).
    """
    fig, ax = plt.subplots(figsize=(SINGLE_COLUMN_IN, 2.8))
    color = sns.color_palette("colorblind")[0]
    data = rows.dropna(subset=["mean"]).sort_values(factor)
    levels = data[factor].nunique()
    notes = []
    if levels <= MAX_LEVELS_AS_POINTS and len(data) == levels:
        # One design row per level (a 1-D sweep): the row's interval over replicates.
        yerr = np.vstack([data["mean"] - data["ci_low"], data["ci_high"] - data["mean"]])
        bars = ax.errorbar(data[factor], data["mean"], yerr=np.nan_to_num(yerr), fmt="o-",
                           color=color, markersize=3, capsize=2, linewidth=1,
                           label="mean over replicates, 95% CI")
        _unclip(bars)
    elif levels <= MAX_LEVELS_AS_POINTS:
        # Several design rows per level: the mean over them, t interval across rows.
        grouped = data.groupby(factor)["mean"].agg(["mean", "sem", "count"]).reset_index()
        half = stats.t.ppf(0.975, np.maximum(grouped["count"] - 1, 1)) * grouped["sem"]
        bars = ax.errorbar(grouped[factor], grouped["mean"], yerr=np.nan_to_num(half),
                           fmt="o-", color=color, markersize=3, capsize=2, linewidth=1,
                           label="mean over other factors, 95% CI")
        _unclip(bars)
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
    if bounds is None and not data.empty:
        bounds = (float(data[factor].min()), float(data[factor].max()))
    support = crossing_support(data, factor, None if tipping is None else dict(tipping),
                               bounds)
    if support.supported:
        lo, hi = tipping["ci_low"], tipping["ci_high"]
        bisection = tipping.get("method", "logistic") == "bisection"
        what = "bisection bracket" if bisection else "P(Δ>0) = ½, 95% CI"
        ax.axvspan(lo, hi, color="0.85", zorder=0, label=f"tipping point: {what}")
        ax.axvline(tipping["threshold"], color="0.3", linestyle="--", linewidth=0.9,
                   label="tipping point estimate" + (" (secant in the bracket)"
                                                     if bisection else ""))
    elif tipping is not None:
        notes.insert(0, UNSUPPORTED)
    if bounds is not None and bounds[1] > bounds[0]:
        ax.set_xlim(*bounds)
    ax.set_xlabel(wrap(lb.factor(factor).label))
    ax.set_ylabel(delta_axis_label(output, comparison))
    add_note(ax, "\n".join([*notes, *([note] if note else [])]), loc="lower right")
    ax.legend(frameon=False, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=1,
              borderaxespad=0.2)
    sns.despine(fig)
    fig.tight_layout()
    return fig


def _unclip(container) -> None:
    """Let points and error bars at the edge of the factor's range show whole."""
    for artist in container.get_children():
        artist.set_clip_on(False)


def bracket_steps(points: pd.DataFrame, factor: str) -> pd.DataFrame:
    """Replay a stored bisection: the bracket after each evaluated point.

    The first two points are the search range's ends; each later point with a resolved
    sign replaces the bracket end of its sign, an unresolved point (its interval includes
    zero) leaves the bracket as it is (`tipping.bisect_sign_change`).

    Returns:
        One row per point in evaluation order: ``step`` (1, 2, ...), ``x``, ``mean``,
        ``ci_low``, ``ci_high``, ``n``, ``resolved``, ``low`` and ``high`` (the bracket
        after this point; NaN before both ends are known).
    """
    data = points.reset_index(drop=True)
    x = data[factor].to_numpy(float)
    mean = data["mean"].to_numpy(float)
    if "resolved" in data.columns:
        resolved = data["resolved"].astype(bool).to_numpy()
    else:
        resolved = ~((data["ci_low"] <= 0) & (data["ci_high"] >= 0)).to_numpy()
    lows, highs = np.full(len(x), np.nan), np.full(len(x), np.nan)
    if len(x) >= 2:
        (low, f_low), (high, _f_high) = sorted([(x[0], mean[0]), (x[1], mean[1])])
        lows[:2], highs[:2] = np.nan, np.nan
        lows[1], highs[1] = low, high
        for i in range(2, len(x)):
            if resolved[i]:
                if np.sign(mean[i]) == np.sign(f_low):
                    low = x[i]
                else:
                    high = x[i]
            lows[i], highs[i] = low, high
    out = pd.DataFrame({"step": np.arange(1, len(x) + 1), "x": x, "mean": mean,
                        "ci_low": data["ci_low"].to_numpy(float),
                        "ci_high": data["ci_high"].to_numpy(float),
                        "n": data["n"].to_numpy() if "n" in data.columns else np.nan,
                        "resolved": resolved, "low": lows, "high": highs})
    return out


def bisection_plot(points: pd.DataFrame, factor: str, output: str,
                   tipping: pd.Series | None = None, *,
                   comparison: Sequence[str] | str | None = None,
                   bounds: Sequence[float] | None = None, note: str | None = None
                   ) -> plt.Figure:
    """A stored bisection read step by step.

    Top: the paired delta at each evaluated point in the order of evaluation, mean with its
    95% t interval over replicates; the number above each point is its replicates
    (doubled where the sign was unresolved); open markers are unresolved points. Bottom:
    the bracket around the sign change after each step (grey bar) and the evaluated point
    (marker), on the factor's scale, with the final estimate (dashed) when the crossing is
    supported (`claims.crossing_support`).
    """
    steps = bracket_steps(points, factor)
    if steps.empty:
        raise ValueError("the bisection stored no points")
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(SINGLE_COLUMN_IN, 4.0), sharex=True,
                                      gridspec_kw={"height_ratios": [1.0, 1.1]})
    palette = sns.color_palette("colorblind")
    pos, neg = palette[0], palette[3]
    for _, s in steps.iterrows():
        color = "0.45" if not s["resolved"] else (pos if s["mean"] > 0 else neg)
        err = np.nan_to_num([[s["mean"] - s["ci_low"]], [s["ci_high"] - s["mean"]]])
        top.errorbar([s["step"]], [s["mean"]], yerr=err, fmt="o", color=color,
                     markersize=3.5, capsize=2, elinewidth=0.8,
                     markerfacecolor=color if s["resolved"] else "white")
        if np.isfinite(s["n"]):
            top.annotate(f"{int(s['n'])}", (s["step"], s["ci_high"] if np.isfinite(
                s["ci_high"]) else s["mean"]), xytext=(0, 2), textcoords="offset points",
                ha="center", va="bottom", fontsize=NOTE_SIZE, color="0.3")
        if np.isfinite(s["low"]):
            bottom.plot([s["step"], s["step"]], [s["low"], s["high"]], color="0.75",
                        linewidth=5, solid_capstyle="butt", zorder=1)
        bottom.plot([s["step"]], [s["x"]], marker="o", color=color, markersize=3.5,
                    markerfacecolor=color if s["resolved"] else "white", zorder=3,
                    linestyle="none", clip_on=False)
    top.axhline(0.0, color="0.4", linewidth=0.7)
    low_y, high_y = top.get_ylim()
    top.set_ylim(low_y, high_y + 0.08 * (high_y - low_y))
    top.set_ylabel(delta_axis_label(output, comparison))
    top.set_title("Δ at each evaluated point (replicates above)")
    rng = bounds if bounds is not None else (steps["x"].min(), steps["x"].max())
    support = crossing_support(steps.rename(columns={"x": factor}), factor,
                               None if tipping is None else dict(tipping), rng)
    if support.supported:
        bottom.axhline(float(tipping["threshold"]), color="0.2", linestyle="--",
                       linewidth=0.8)
    elif tipping is not None:
        add_note(bottom, UNSUPPORTED, loc="lower right")
    bottom.set_ylim(rng[0], rng[1])
    bottom.set_ylabel(wrap(lb.factor(factor).label, 36))
    bottom.set_xlabel("bisection step")
    bottom.set_title("Bracket around the sign change")
    bottom.set_xticks(steps["step"])
    bottom.set_xlim(0.4, len(steps) + 0.6)
    handles = [
        plt.Line2D([], [], marker="o", color=pos, linestyle="none", markersize=3.5,
                   label="Δ > 0, resolved"),
        plt.Line2D([], [], marker="o", color=neg, linestyle="none", markersize=3.5,
                   label="Δ < 0, resolved"),
        plt.Line2D([], [], marker="o", color="0.45", markerfacecolor="white",
                   linestyle="none", markersize=3.5, label="sign unresolved"),
        matplotlib.patches.Patch(color="0.75", label="bracket"),
    ]
    if support.supported:
        handles.append(plt.Line2D([], [], color="0.2", linestyle="--", linewidth=0.8,
                                  label="estimate (secant)"))
    bottom.legend(handles=handles, loc="upper right", frameon=True, framealpha=0.85,
                  edgecolor="0.8", fontsize=NOTE_SIZE, ncol=1)
    add_note(top, note, loc="lower left")
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
            f"(the y axis spans the {a}–{b} percentile)"]


def _ordinal(q: float) -> str:
    n = int(round(q))
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


#: Sobol bar plots show indices on this range; estimates outside it are drawn at the edge.
SOBOL_XLIM = (-0.1, 1.1)


def sobol_title(target: str, comparisons: Sequence[str] = ()) -> str:
    """Short title of a Sobol target: ``delta_<output>`` or ``<output>_<regime>``."""
    for comp in sorted({"delta", *comparisons}, key=len, reverse=True):
        if target.startswith(f"{comp}_"):
            name = "" if comp == "delta" else f" ({comp.replace('_', ' ')})"
            return f"Δ {lb.short(target[len(comp) + 1:])}{name}"
    for regime in sorted(REGIME_ORDER, key=len, reverse=True):
        if target.endswith(f"_{regime}"):
            base = lb.short(target[: -len(regime) - 1])
            return f"{base[:1].upper()}{base[1:]}, {regime}"
    base = lb.short(target)
    return f"{base[:1].upper()}{base[1:]}"


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


def sobol_bars(table: pd.DataFrame, output: str, noise_share: float | None = None, *,
               comparisons: Sequence[str] = (), title: str | None = None,
               note: str | None = None) -> plt.Figure:
    """First-order and total Sobol indices with their 95% intervals, sorted by ST.

    Factors are shown by their plain names (`analysis.labels`). Indices are shares of
    variance, so the axis spans `SOBOL_XLIM` (about [0, 1]). Sampling noise can put
    estimates and intervals far outside it; those bars and intervals are cut at the axis
    edge (a caret, the same marker as in the legend, marks a cut interval) and every
    estimate outside the range is written inside the axes at the end of its row
    (``ST 3.35 ±9.7``). The replicate noise share is written inside the axes.
    """
    data = table.sort_values("ST", ascending=True).reset_index(drop=True)
    n = len(data)
    lo, hi = SOBOL_XLIM
    height_in = 1.4 + 0.27 * n
    fig, ax = plt.subplots(figsize=(SINGLE_COLUMN_IN, height_in))
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
                outside.append((y[i] + offset, value > hi,
                                f"{column} = {value:.2f} ± {half:.2g}"))
    for ypos, right, text in outside:
        ax.annotate(f"{text} ({'right' if right else 'left'} of the axis)", (hi, ypos),
                    xytext=(-4, 0), textcoords="offset points", va="center", ha="right",
                    fontsize=NOTE_SIZE,
                    bbox={"boxstyle": "square,pad=0.1", "facecolor": "white",
                          "edgecolor": "none", "alpha": 0.85})
    ax.set_xlim(lo, hi)
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_yticks(y, [lb.factor(f).name for f in data["factor"]])
    ax.axvline(0.0, color="0.4", linewidth=0.6)
    ax.set_xlabel("Sobol index (share of variance)")
    ax.set_title(wrap(title or sobol_title(output, comparisons), 40))
    notes = []
    if noise_share is not None and np.isfinite(noise_share):
        notes.append(f"replicate noise: {noise_share:.0%} of variance")
    if note:
        notes.append(note)
    add_note(ax, "\n".join(notes), loc="lower right")
    handles, labels = ax.get_legend_handles_labels()
    handles, labels = handles[::-1], labels[::-1]
    handles.append(plt.Line2D([], [], color="0.15", linewidth=0.7, marker="|",
                              markersize=4))
    labels.append("95% CI")
    if cut_any:
        handles.append(plt.Line2D([], [], color="0.15", marker=">", linestyle="none",
                                  markersize=3))
        labels.append("CI beyond the axis")
    fig.legend(handles, labels, frameon=False, loc="lower center", bbox_to_anchor=(0.5, 0.0),
               ncol=2, borderaxespad=0.1, fontsize=FONT_SIZE - 2)
    sns.despine(fig)
    fig.tight_layout(rect=(0, 0.3 / height_in, 1, 1))
    return fig


def morris_plot(table: pd.DataFrame, output: str, *, comparisons: Sequence[str] = (),
                title: str | None = None, note: str | None = None) -> plt.Figure:
    """Morris screening: mu* (with its 95% interval) against sigma.

    Effects are changes of the output per full range of a factor (SALib's elementary
    effects on the unit-scaled design). Factors with mu* of at least `MORRIS_LABEL_SHARE`
    of the largest are labelled by their plain names; the dotted line is sigma = mu*
    (above it, effects change sign or interact strongly).
    """
    fig, ax = plt.subplots(figsize=(SINGLE_COLUMN_IN, 2.8))
    color = sns.color_palette("colorblind")[0]
    ax.errorbar(table["mu_star"], table["sigma"], xerr=table["mu_star_conf"], fmt="o",
                color=color, markersize=3, capsize=1.5, elinewidth=0.7)
    top = float(table["mu_star"].max())
    labelled = table[table["mu_star"] >= MORRIS_LABEL_SHARE * top]
    for _, r in labelled.sort_values("mu_star", ascending=False).iterrows():
        ax.annotate(lb.factor(r["factor"]).name, (r["mu_star"], r["sigma"]), xytext=(3, 3),
                    textcoords="offset points", fontsize=NOTE_SIZE)
    xmax = float(max((table["mu_star"] + table["mu_star_conf"].fillna(0)).max(), 0.0))
    ymax = float(max(table["sigma"].max(), 0.0))
    xmax, ymax = (xmax or 1.0) * 1.35, (ymax or 1.0) * 1.25
    line = min(xmax, ymax)
    ax.plot([0, line], [0, line], color="0.7", linewidth=0.6, linestyle=":")
    ax.set_xlim(0, xmax)
    ax.set_ylim(0, ymax)
    unit = lb.display(_sobol_output(output, comparisons)).unit
    suffix = f" ({unit})" if unit else ""
    ax.set_xlabel(f"μ*, mean |effect| per factor range{suffix}")
    ax.set_ylabel(f"σ, spread of effects{suffix}")
    ax.set_title(wrap(f"Morris screening: {title or sobol_title(output, comparisons)}", 44))
    add_note(ax, note, loc="lower right")
    sns.despine(fig)
    fig.tight_layout()
    return fig


def _sobol_output(target: str, comparisons: Sequence[str] = ()) -> str:
    """The output inside a target name (``delta_profit``, ``profit_sacred`` -> profit)."""
    for comp in sorted({"delta", *comparisons}, key=len, reverse=True):
        if target.startswith(f"{comp}_"):
            return target[len(comp) + 1:]
    for regime in sorted(REGIME_ORDER, key=len, reverse=True):
        if target.endswith(f"_{regime}"):
            return target[: -len(regime) - 1]
    return target


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


def thin_cells(grid: pd.DataFrame, levels: bool, replicates: int | None = None
               ) -> tuple[pd.DataFrame, str]:
    """Which cells of a map rest on too little data, and the rule's legend text.

    On a grid's own levels (``levels``) a cell is one level combination: its mean is over
    its pairs (replicates, times the rows of any other factor), so it is thin with fewer
    than `MIN_PAIRS_PER_CELL` pairs. On bins of a global design a cell's mean is over the
    design rows falling in it (replicates of a row share its other factors), so it is thin
    with fewer than `MIN_ROWS_PER_CELL` design rows.

    Returns:
        The grid with a boolean column ``thin`` and the rule as text.
    """
    out = grid.copy()
    if levels:
        count = out["n"] if "n" in out.columns else pd.Series(np.inf, index=out.index)
        out["thin"] = count.fillna(0).to_numpy(float) < MIN_PAIRS_PER_CELL
        return out, f"< {MIN_PAIRS_PER_CELL} pairs in the cell"
    if "rows" in out.columns:
        rows = out["rows"]
    elif "n" in out.columns:
        rows = out["n"] / max(int(replicates or 1), 1)
    else:
        rows = pd.Series(np.inf, index=out.index)
    out["thin"] = rows.fillna(0).to_numpy(float) < MIN_ROWS_PER_CELL
    return out, f"< {MIN_ROWS_PER_CELL} design rows in the cell"


def tipping_map_plot(grid: pd.DataFrame, output: str, replicates: int | None = None, *,
                     comparison: Sequence[str] | str | None = None,
                     bounds: dict[str, Sequence[float]] | None = None,
                     levels: bool | None = None, note: str | None = None) -> plt.Figure:
    """Mean paired delta over two factors with its zero contour (the tipping line).

    Cells are the grid's levels or equal-width bins (the other factors marginalised);
    cells without a design point are grey; thin cells (`thin_cells`) are hatched. The
    black line is the zero contour of the cell means smoothed over about one cell
    (`smoothed_surface`); it is drawn only when at least `MIN_SIGN_AGREEMENT` of the cells
    agree in sign with the smoothed map (otherwise it would trace noise) and the figure
    says "no supported sign change" with the agreement. The axes span the factors' ranges.

    Args:
        grid: The stored map (``x_factor``, ``y_factor``, ``x``, ``y``, ``mean_delta``,
            ``n`` pairs and, when stored, ``rows``).
        output: The output (``profit``; ``delta_profit`` is accepted too).
        replicates: Replicates per design row, to count rows as ``n / replicates`` when
            the map has no ``rows`` column.
        comparison: The compared regimes (A, B) or a label, for the colour bar.
        bounds: Range of each factor (the axes are clipped to them).
        levels: Whether the cells are a grid's own levels (default: guessed from the
            cell centres: bins of a global design sit at the midpoints of equal bins).
        note: Extra text written inside the axes.
    """
    fx, fy = grid["x_factor"].iloc[0], grid["y_factor"].iloc[0]
    pivot = grid.pivot_table(index="y", columns="x", values="mean_delta", dropna=False)
    xs, ys, z = pivot.columns.to_numpy(float), pivot.index.to_numpy(float), pivot.to_numpy()
    if levels is None:
        levels = not (_equal_bins(xs, (bounds or {}).get(fx))
                      and _equal_bins(ys, (bounds or {}).get(fy)))
    marked, rule = thin_cells(grid, levels, replicates)
    thin = marked.pivot_table(index="y", columns="x", values="thin", dropna=False,
                              aggfunc="max").reindex(index=pivot.index, columns=pivot.columns)
    fig, ax = plt.subplots(figsize=(SINGLE_COLUMN_IN, 3.3))
    finite = z[np.isfinite(z)]
    span = float(np.max(np.abs(finite))) if finite.size else 1.0
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-span or -1.0, vmax=span or 1.0)
    mesh = ax.pcolormesh(xs, ys, np.ma.masked_invalid(z), cmap=DIVERGING_CMAP, norm=norm,
                         shading="nearest")
    handles = []
    few = np.isfinite(z) & thin.fillna(False).to_numpy(bool)
    xe, ye = _cell_edges(xs), _cell_edges(ys)
    for iy, ix in zip(*np.nonzero(few), strict=True):
        ax.add_patch(plt.Rectangle((xe[ix], ye[iy]), xe[ix + 1] - xe[ix],
                                   ye[iy + 1] - ye[iy], fill=False, hatch="////",
                                   edgecolor="0.35", linewidth=0))
    if few.any():
        handles.append(matplotlib.patches.Patch(
            facecolor="white", edgecolor="0.35", hatch="////", linewidth=0.4,
            label=f"{rule} ({int(few.sum())})"))
    if not np.all(np.isfinite(z)):
        ax.set_facecolor(EMPTY_CELL_COLOR)
        handles.append(matplotlib.patches.Patch(facecolor=EMPTY_CELL_COLOR,
                                                label="no design point in the cell"))
    smooth = smoothed_surface(z)
    agreement = sign_agreement(z, smooth)
    crosses = np.nanmin(smooth, initial=np.inf) < 0.0 < np.nanmax(smooth, initial=-np.inf)
    unsupported = ""
    if crosses and len(xs) > 1 and len(ys) > 1 and agreement >= MIN_SIGN_AGREEMENT:
        ax.contour(xs, ys, np.ma.masked_invalid(smooth), levels=[0.0], colors="k",
                   linewidths=1.0)
        handles.insert(0, plt.Line2D(
            [], [], color="k", linewidth=1.0,
            label=f"Δ = 0 of the smoothed map ({agreement:.0%} of cells agree in sign)"))
    elif crosses and len(xs) > 1 and len(ys) > 1:
        unsupported = (f"{UNSUPPORTED}:\n{agreement:.0%} of cells agree in sign\nwith the "
                       f"smoothed map (line\ndrawn from {MIN_SIGN_AGREEMENT:.0%})")
    else:
        unsupported = f"{UNSUPPORTED}:\nthe map has one sign"
    if handles:
        ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.01),
                  frameon=False, borderaxespad=0.0, handlelength=1.5,
                  fontsize=FONT_SIZE - 2)
    add_note(ax, "\n".join(t for t in (unsupported, note) if t), loc="upper right")
    bar = fig.colorbar(mesh, ax=ax)
    bar.set_label(delta_axis_label(output, comparison))
    for axis, factor, centres, edges in ((ax.set_xlim, fx, xs, xe), (ax.set_ylim, fy, ys, ye)):
        rng = (bounds or {}).get(factor)
        if rng is None:
            rng = (centres.min(), centres.max()) if levels else (edges[0], edges[-1])
        if rng[1] > rng[0]:
            axis(float(rng[0]), float(rng[1]))
    ax.set_xlabel(wrap(lb.factor(fx).label, 40))
    ax.set_ylabel(wrap(lb.factor(fy).label, 36))
    fig.tight_layout()
    return fig


def _equal_bins(centres: np.ndarray, rng: Sequence[float] | None) -> bool:
    """Whether ``centres`` are the midpoints of equal-width bins spanning ``rng``."""
    if rng is None or len(centres) < 2:
        return False
    edges = np.linspace(float(rng[0]), float(rng[1]), len(centres) + 1)
    return bool(np.allclose(np.sort(centres), (edges[:-1] + edges[1:]) / 2))


#: Unit words an axis label may end with in parentheses (checked by `figure_problems`).
def _has_unit(text: str) -> bool:
    return "(" in text and ")" in text and "(–)" not in text


def figure_problems(fig: plt.Figure) -> list[str]:
    """What a program can check in a drawn figure; empty when it passes.

    * every text (titles, labels, ticks, notes, legends) lies inside the canvas;
    * no two tick labels of one axis overlap;
    * every visible numeric axis with tick labels has a label with a unit in parentheses
      (words, not "(–)"; ``day`` and ``bisection step`` are their own unit), a colour bar
      included; categorical axes (factor names, channels) name themselves.
    """
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    canvas = fig.bbox
    problems = []
    tol = 1.0
    hidden = set()  # tick labels of ticks outside the view are not drawn
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            low, high = sorted(axis.get_view_interval())
            span = (high - low) * 1e-9
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if not low - span <= tick.get_loc() <= high + span:
                    hidden.update({id(tick.label1), id(tick.label2)})
    texts = [t for t in fig.findobj(matplotlib.text.Text)
             if t.get_visible() and t.get_text().strip() and id(t) not in hidden]
    for t in texts:
        box = t.get_window_extent(renderer)
        if (box.x0 < canvas.x0 - tol or box.y0 < canvas.y0 - tol
                or box.x1 > canvas.x1 + tol or box.y1 > canvas.y1 + tol):
            problems.append(f"text outside the canvas: {t.get_text()[:40]!r}")
    for legend in fig.findobj(matplotlib.legend.Legend):
        box = legend.get_window_extent(renderer)
        if (box.x0 < canvas.x0 - tol or box.y0 < canvas.y0 - tol
                or box.x1 > canvas.x1 + tol or box.y1 > canvas.y1 + tol):
            problems.append("legend outside the canvas")
    for ax in fig.axes:
        if not ax.get_visible() or not ax.axison:
            continue
        for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
            ticks = [t for t in axis.get_ticklabels()
                     if t.get_visible() and t.get_text().strip() and id(t) not in hidden]
            boxes = [t.get_window_extent(renderer) for t in ticks]
            boxes = [b for b in boxes if canvas.x0 - tol <= b.x0 and b.x1 <= canvas.x1 + tol]
            for a, b in zip(boxes, boxes[1:], strict=False):
                if a.overlaps(b):
                    problems.append(f"overlapping {name} tick labels")
                    break
            if not ticks:
                continue
            text = axis.get_label().get_text()
            if any(not _numeric(t.get_text()) for t in ticks):
                continue  # categories (factors, channels) name themselves
            if not text.strip():
                problems.append(f"unlabelled {name} axis")
            elif not (_has_unit(text) or text in ("day", "bisection step")):
                problems.append(f"{name} axis without a unit: {text!r}")
    return problems


def _numeric(text: str) -> bool:
    try:
        float(text.replace("−", "-").replace("%", ""))
    except ValueError:
        return False
    return True
