"""`relsim report`: every figure and table, regenerated from stored results alone.

For each experiment under DIR (one experiment directory, or a parent of several), the
report reads the stored runs, series and analysis CSVs (running `analyze` first when the
analysis is missing or older than the stored runs) and draws what the data support:

* daily series present: ``vicious_cycle``, ``channel_mix``, ``sales_time``;
* paired differences, for every comparison and contrast of the experiment:
  ``relationship_<output>_vs_<factor>`` (the version-1 comparison ``delta``) or
  ``<name>_<output>_vs_<factor>`` with the tipping point, for a 1- or 2-factor design
  every factor, otherwise the factors with a tipping point inside their range (else the
  most influential one);
* Sobol designs: ``sobol_<target>``; Morris designs: ``morris_<target>``;
* ``tipping_map_<stem>`` when a 2-D map was computed (``<stem>`` is ``<output>`` for
  ``delta``, ``<name>_<output>`` otherwise);
* ``bisection_<stem>_<factor>`` for every `relsim tipping` refinement stored (one per
  ``--by`` level, plus ``tipping_by_<stem>_<factor>__by_<F>``: the tipping point against
  the level).

Axis labels of a difference name it (``Δ profit`` over ``relationship − transactional``).

* no ``[compare]``: ``output_<output>_vs_<factor>`` (each output against the factors, one
  colour per regime) and the table ``outputs_<output>`` for small designs.

Every figure gets a caption beside it (``<stem>.caption.md`` and ``.caption.tex``,
`analysis.captions`); ``document=True`` also writes the results document
(`analysis.document`). Tipping lines and intervals are drawn only for supported crossings
(`analysis.claims`); the tipping tables say which are supported and why not.

An incomplete sweep (runs pending, failed or invalid) is drawn with what is stored and
marked: every figure drawn from its runs carries the note "incomplete: 80 of 120 runs
(...)" inside its axes, and every figure and table caption starts with it;
``require_complete=True`` refuses it.

Figures go to ``DIR/figures/<stem>.pdf`` and ``.png`` (300 dpi), tables to
``DIR/tables/<stem>.csv`` and ``.tex``. With several experiments under DIR each stem is
prefixed by the experiment name (``<name>__<stem>``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from relsim.analysis import captions as cp
from relsim.analysis import deltas as dl
from relsim.analysis import figures as fg
from relsim.analysis import labels as lb
from relsim.analysis import tipping as tp
from relsim.analysis.analyze import analyze_results, check_complete
from relsim.analysis.captions import Caption
from relsim.analysis.claims import UNSUPPORTED, crossing_support
from relsim.analysis.deltas import t_interval
from relsim.analysis.io import (
    Results,
    _section,
    completeness,
    find_experiments,
    load_results,
    manifest_param,
    ok_runs,
)
from relsim.analysis.outputs import output_vs_factor
from relsim.analysis.tables import write_table

FIGURES_DIR = "figures"
TABLES_DIR = "tables"
#: A delta table with at most this many design rows is also written as a paper table.
MAX_TABLE_ROWS = 40
#: Columns of the printed (LaTeX) tables; the CSV files keep every column.
TIPPING_LATEX_COLUMNS = ["factor", "threshold", "ci_low", "ci_high", "direction", "method",
                         "supported"]
SOBOL_LATEX_COLUMNS = ["factor", "S1", "S1_conf", "ST", "ST_conf"]
MORRIS_LATEX_COLUMNS = ["factor", "mu_star", "mu_star_conf", "sigma"]
#: Without [compare], each output is drawn against at most this many factors.
MAX_OUTPUT_FACTORS = 4
#: Preferred order of outputs in figures (profit first, as the research question says).
PREFERRED_OUTPUT = "profit"


@dataclass
class FigureEntry:
    """One figure written, for the results document.

    Attributes:
        experiment: The experiment's name.
        stem: The file stem (with the experiment prefix when there are several).
        png: The PNG file.
        caption: Its caption.
        kind: ``series``, ``delta``, ``bisection``, ``sobol``, ``morris`` or ``map``.
    """

    experiment: str
    stem: str
    png: Path
    caption: Caption
    kind: str


@dataclass
class TableEntry:
    """One table written, for the results document."""

    experiment: str
    stem: str
    frame: pd.DataFrame
    caption: str
    columns: list[str] | None
    kind: str


@dataclass
class ReportResult:
    """What `build_report` wrote.

    Attributes:
        figure_dir: Directory of the figures.
        table_dir: Directory of the tables.
        figures: Every figure file written (PDF and PNG).
        tables: Every table file written (CSV and LaTeX).
        captions: Every caption file written (Markdown and LaTeX).
        warnings: Figures that could not be drawn, and why.
        entries: The figures with their captions, in order.
        table_entries: The tables with their captions, in order.
        experiments: The experiments reported.
        document: The results document's files (with ``--document``).
    """

    figure_dir: Path
    table_dir: Path
    figures: list[Path] = field(default_factory=list)
    tables: list[Path] = field(default_factory=list)
    captions: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    entries: list[FigureEntry] = field(default_factory=list)
    table_entries: list[TableEntry] = field(default_factory=list)
    experiments: list[Results] = field(default_factory=list)
    document: list[Path] = field(default_factory=list)


def _read_csv(path: Path) -> pd.DataFrame | None:
    return pd.read_csv(path) if path.is_file() else None


def _warmup(results: Results) -> float | None:
    value = manifest_param(results.manifest, "warmup_days")
    return float(value) if value is not None else None


def factor_bounds(results: Results) -> dict[str, tuple[float, float]]:
    """The range of every factor: the SALib problem's bounds, else the design's extremes."""
    problem = _section(results.manifest, "problem") or {}
    out = {}
    for name, rng in zip(problem.get("names") or [], problem.get("bounds") or [],
                         strict=False):
        out[str(name)] = (float(rng[0]), float(rng[1]))
    for name in results.factors:
        if name not in out and name in results.design.columns:
            col = results.design[name].astype(float)
            out[name] = (float(col.min()), float(col.max()))
    return out


class _Writer:
    """Names, draws and saves the figures, captions and tables of one experiment."""

    def __init__(self, result: ReportResult, prefix: str, results: Results,
                 note: str = "") -> None:
        self.result = result
        self.prefix = prefix
        self.results = results
        #: "incomplete: ..." for an incomplete sweep: drawn on figures, put in captions.
        self.note = note

    def stem(self, stem: str) -> str:
        return f"{self.prefix}{stem}"

    def figure(self, stem: str, draw: Callable[[], object],
               caption: Callable[[], Caption] | None = None, kind: str = "") -> None:
        try:
            fig = draw()
        except (ValueError, KeyError) as exc:
            self.result.warnings.append(f"figure {self.stem(stem)} skipped: {exc}")
            return
        if self.note:
            mark_incomplete(fig, self.note)
        paths = fg.save_figure(fig, self.result.figure_dir, self.stem(stem))
        self.result.figures += paths
        if caption is not None:
            text = caption()
            if self.note:
                text.sentences.insert(0, f"{self.note[0].upper()}{self.note[1:]}.")
            self.result.captions += text.write(self.result.figure_dir, self.stem(stem))
            self.result.entries.append(FigureEntry(self.results.name, self.stem(stem),
                                                   paths[1], text, kind))

    def table(self, frame: pd.DataFrame, stem: str, caption: str,
              latex_columns: list[str] | None = None, kind: str = "") -> None:
        if self.note:
            caption = f"{self.note[0].upper()}{self.note[1:]}. {caption}"
        self.result.tables += write_table(frame, self.result.table_dir, self.stem(stem),
                                          caption, latex_columns)
        self.result.table_entries.append(TableEntry(self.results.name, self.stem(stem),
                                                    frame, caption, latex_columns, kind))


def mark_incomplete(fig, note: str) -> None:
    """Mark a figure of an incomplete sweep with its note, inside the first axes.

    Figure functions take a ``note`` argument and write it themselves; this adds it only to
    a figure that lacks it (e.g. `outputs.output_vs_factor`).
    """
    import matplotlib.text

    if any(note in t.get_text() for t in fig.findobj(matplotlib.text.Text)):
        return
    axes = [ax for ax in fig.axes if ax.get_visible() and ax.axison]
    if axes:
        fg.add_note(axes[0], note, loc="upper right")


def _series_figures(results: Results, out: _Writer) -> None:
    series = results.series
    if series is None or series.empty:
        return
    if "row" in series.columns and series["row"].nunique() > 1:
        first = int(series["row"].min())
        out.result.warnings.append(
            f"{results.name}: series of {series['row'].nunique()} design rows stored; the "
            f"time-series figures show row {first}")
        series = series[series["row"] == first]
    warmup = _warmup(results)
    window = manifest_param(results.manifest, "otd_window_days")
    window = float(window) if window is not None else None
    note = out.note
    out.figure("vicious_cycle", lambda: fg.vicious_cycle(series, warmup, window, note=note),
               lambda: cp.series_caption(results, "vicious_cycle", window=window,
                                         smooth_days=fg.SMOOTH_DAYS), "series")
    out.figure("channel_mix", lambda: fg.channel_mix(series, warmup, note=note),
               lambda: cp.series_caption(results, "channel_mix",
                                         channel_days=fg.CHANNEL_SMOOTH_DAYS), "series")
    out.figure("sales_time", lambda: fg.sales_time(series, warmup, note=note),
               lambda: cp.series_caption(results, "sales_time",
                                         smooth_days=fg.SMOOTH_DAYS), "series")


def _ordered_outputs(outputs: list[str]) -> list[str]:
    return sorted(outputs, key=lambda o: (o != PREFERRED_OUTPUT, outputs.index(o)))


def _blank(values: pd.Series) -> pd.Series:
    """Text of a column that may hold NaN for empty (CSV round trips turn "" into NaN)."""
    return values.astype(object).where(values.notna(), "").astype(str)


def _plain_rows(tipping: pd.DataFrame | None) -> pd.DataFrame | None:
    """Tipping rows of the experiment's own scenario (no ``--set`` or ``--by``)."""
    if tipping is None:
        return None
    keep = np.ones(len(tipping), dtype=bool)
    for col in ("fixed", "by_factor"):
        if col in tipping.columns:
            keep &= _blank(tipping[col]).eq("").to_numpy()
    return tipping[keep]


def _delta_factors(results: Results, tipping: pd.DataFrame | None, sobol: pd.DataFrame | None
                   ) -> list[str]:
    factors = [f for f in results.factors if f in results.design.columns]
    if len(factors) <= 2:
        return factors
    chosen = []
    tipping = _plain_rows(tipping)
    if tipping is not None and not tipping.empty:
        chosen = tipping[np.isfinite(tipping["threshold"])]["factor"].tolist()
        chosen = [f for f in dict.fromkeys(chosen) if f in factors]
    if not chosen and sobol is not None and not sobol.empty:
        chosen = [sobol.sort_values("ST", ascending=False)["factor"].iloc[0]]
    return chosen or factors[:1]


def _differences(results: Results) -> list[dl.Difference]:
    try:
        return dl.differences(results.comparisons, results.contrasts)
    except ValueError:
        return []


def comparison_text(diff: dl.Difference) -> str:
    """What a difference is, for the second line of an axis label (a contrast on two)."""
    if diff.kind == "contrast":  # two lines: it is long
        first, _, second = diff.description.partition(") − (")
        return f"{first})\n− ({second}"
    return diff.description


def diff_label(diff: dl.Difference, output: str) -> str:
    """Axis label of a difference of ``output``: ``Δ <output label>`` over what it is."""
    return fg.delta_axis_label(output, comparison_text(diff))


def _tip_for(tipping: pd.DataFrame | None, factor: str) -> pd.Series | None:
    """The tipping row drawn on a factor's figure: the logistic estimate over the design.

    A bisection runs on a fixed scenario (the experiment's ``[params]``, or ``--set``) and
    has its own figure (`_bisection_figures`).
    """
    tipping = _plain_rows(tipping)
    if tipping is None or factor not in set(tipping["factor"]):
        return None
    rows = tipping[tipping["factor"] == factor]
    if "method" in rows.columns:
        rows = rows[rows["method"] != "bisection"]
    return rows.iloc[0] if not rows.empty else None


def _delta_figures(results: Results, out: _Writer) -> None:
    analysis = results.analysis_dir
    for diff in _differences(results):
        for output in _ordered_outputs(results.outputs):
            _difference_figures(results, out, analysis, diff, output)


def _points_files(results: Results) -> list[tuple[Path, pd.DataFrame]]:
    return [(p, pd.read_csv(p)) for p in sorted(results.analysis_dir.glob("tipping_points_*.csv"))]


def _points_for(results: Results, diff: dl.Difference, output: str, tip: Mapping
                ) -> pd.DataFrame | None:
    """The stored points of the bisection behind a tipping row (same fixed and by level)."""
    factor = str(tip["factor"])
    diffs = _differences(results)
    for path, points in _points_files(results):
        meta = _points_meta(path, points, results, diffs)
        if meta is None or meta[0].name != diff.name or meta[1:] != (output, factor):
            continue
        fixed = _blank(points["fixed"]).iloc[0] if "fixed" in points.columns else ""
        tip_fixed = str(tip.get("fixed") or "") if str(tip.get("fixed")) != "nan" else ""
        if fixed != tip_fixed:
            continue
        by = str(tip.get("by_factor") or "")
        if by and by != "nan":
            if "by_value" not in points.columns:
                continue
            points = points[np.isclose(points["by_value"].astype(float),
                                       float(tip["by_value"]))]
        return points.dropna(subset=[factor])
    return None


def tipping_support(results: Results, diff: dl.Difference, output: str,
                    tipping: pd.DataFrame, rows: pd.DataFrame | None) -> pd.DataFrame:
    """The tipping table with ``supported`` and, where not, the reason first in ``note``.

    Logistic rows are judged against the per-design-row differences (``rows``), bisection
    rows against their stored points (`claims.crossing_support`).
    """
    bounds = factor_bounds(results)
    empty = pd.DataFrame(columns=["mean", "ci_low", "ci_high"])
    table = tipping.copy()
    supported, notes = [], []
    for _, tip in table.iterrows():
        factor = tip["factor"]
        if tip.get("method") == "bisection":
            points = _points_for(results, diff, output, tip)
            rng = None
            if points is not None and factor in points.columns and len(points):
                rng = (float(points[factor].min()), float(points[factor].max()))
            data = points if points is not None else empty.assign(**{factor: []})
        else:
            data = rows if rows is not None and factor in rows.columns else empty.assign(
                **{factor: []})
            rng = bounds.get(factor)
        verdict = crossing_support(data, factor, dict(tip), rng)
        supported.append(verdict.supported)
        old = tip.get("note")
        old = "" if not isinstance(old, str) or old == "nan" else old
        if verdict.supported:
            notes.append(old)
        else:
            notes.append(f"{UNSUPPORTED}: {verdict.reason}"
                         + (f"; {old}" if old and old not in verdict.reason else ""))
    table["note"] = notes
    table.insert(list(table.columns).index("note"), "supported", supported)
    return table


def _difference_figures(results: Results, out: _Writer, analysis: Path, diff: dl.Difference,
                        output: str) -> None:
    stem = diff.stem(output)
    rows = _read_csv(analysis / f"delta_{stem}.csv")
    if rows is None:
        return
    tipping = _read_csv(analysis / f"tipping_{stem}.csv")
    sobol = _read_csv(analysis / f"sobol_{diff.column(output)}.csv")
    bounds = factor_bounds(results)
    label = comparison_text(diff)
    note = out.note
    data = rows.dropna(subset=["mean"])
    for factor in _delta_factors(results, tipping, sobol):
        tip = _tip_for(tipping, factor)
        rng = bounds.get(factor)
        support = crossing_support(data, factor, None if tip is None else dict(tip), rng)
        levels = int(data[factor].nunique()) if factor in data else 0
        count = len(data)
        out.figure(
            f"{diff.figure_stem(output)}_vs_{factor}",
            lambda f=factor, t=tip, b=rng: fg.relationship_vs_factor(
                rows, f, output, t, comparison=label, bounds=b, note=note),
            lambda f=factor, t=tip, s=support, n=levels, k=count: cp.delta_caption(
                results, output, f, pair=diff.description, support=s,
                tipping=None if t is None else dict(t), levels=n, rows=k),
            "delta")
    what = f"{diff.name}: {diff.description}".replace("−", "-")  # ASCII for LaTeX
    if len(rows) <= MAX_TABLE_ROWS:
        keep = [c for c in rows.columns if c != "row"]
        out.table(rows[keep], f"delta_{stem}",
                  f"{lb.label(output)} difference ({what}) per design point: mean over "
                  "paired replicates (common seeds), 95% t interval, SD, replicates.",
                  kind="delta")
    if tipping is not None and not tipping.empty:
        judged = tipping_support(results, diff, output, tipping, rows)
        latex = TIPPING_LATEX_COLUMNS + [
            c for c in ("by_factor", "by_value", "fixed") if c in tipping.columns
            and _blank(tipping[c]).ne("").any()]
        out.table(judged, f"tipping_{stem}",
                  f"Tipping points of the {output} difference ({what}): logistic, where "
                  "P(difference > 0) crosses 1/2, with a 95% bootstrap interval; bisection, "
                  "the bracket around the sign change of the mean (fixed: parameters held by "
                  "--set; by: one bisection per level). 'supported': the interval lies inside "
                  "the factor's range and the mean differences on either side differ in sign "
                  "beyond their 95% intervals; otherwise the note says why.", latex,
                  kind="tipping")
    grid = _read_csv(analysis / f"tipping_map_{stem}.csv")
    if grid is not None and not grid.empty:
        _map_figure(results, out, output, grid, bounds, diff, stem)


def _map_figure(results: Results, out: _Writer, output: str, grid: pd.DataFrame,
                bounds: dict, diff: dl.Difference, stem: str) -> None:
    replicates = results.manifest.get("replicates")
    replicates = replicates if isinstance(replicates, int) else None
    fx, fy = grid["x_factor"].iloc[0], grid["y_factor"].iloc[0]
    design = results.design
    levels = all(f in design.columns and design[f].nunique() <= tp.MAX_GRID_LEVELS
                 for f in (fx, fy))
    pivot = grid.pivot_table(index="y", columns="x", values="mean_delta", dropna=False)
    z = pivot.to_numpy(float)
    smooth = fg.smoothed_surface(z)
    agreement = fg.sign_agreement(z, smooth)
    crosses = np.nanmin(smooth, initial=np.inf) < 0.0 < np.nanmax(smooth, initial=-np.inf)
    drawn = bool(crosses and min(z.shape) > 1 and agreement >= fg.MIN_SIGN_AGREEMENT)
    _, rule = fg.thin_cells(grid, levels, replicates)
    label = comparison_text(diff)
    out.figure(f"tipping_map_{stem}",
               lambda: fg.tipping_map_plot(grid, output, replicates, comparison=label,
                                           bounds=bounds, levels=levels, note=out.note),
               lambda: cp.map_caption(results, output, fx, fy, pair=diff.description,
                                      levels=levels, rule=rule, drawn=drawn,
                                      agreement=agreement), "map")


def _points_meta(path: Path, points: pd.DataFrame, results: Results,
                 diffs: list[dl.Difference]) -> tuple[dl.Difference, str, str] | None:
    """(difference, output, factor) of a stored bisection's points file, or None."""
    by_name = {d.name: d for d in diffs}
    if {"compare", "output", "bisected"} <= set(points.columns) and len(points):
        diff = by_name.get(str(points["compare"].iloc[0]))
        if diff is None:
            return None
        return diff, str(points["output"].iloc[0]), str(points["bisected"].iloc[0])
    v1 = next((d for d in diffs if d.is_v1), None) or (diffs[0] if diffs else None)
    for output in results.outputs:  # version-1 files: tipping_points_<output>_<factor>.csv
        prefix = f"tipping_points_{output}_"
        if path.stem.startswith(prefix) and path.stem[len(prefix):] in points.columns:
            return (v1, output, path.stem[len(prefix):]) if v1 is not None else None
    return None


def _output_factors(results: Results, output: str) -> list[str]:
    """Factors to draw an output against (without a compared pair).

    All of them up to `MAX_OUTPUT_FACTORS`, else the most influential by total Sobol
    index (or Morris mu*) of that output, else the first ones.
    """
    factors = [f for f in results.factors if f in results.design.columns]
    if len(factors) <= MAX_OUTPUT_FACTORS:
        return factors
    for kind, column in (("sobol", "ST"), ("morris", "mu_star")):
        table = _read_csv(results.analysis_dir / f"{kind}_{output}.csv")
        if table is not None and column in table.columns:
            ranked = table.sort_values(column, ascending=False)["factor"].tolist()
            return [f for f in ranked if f in factors][:MAX_OUTPUT_FACTORS]
    return factors[:MAX_OUTPUT_FACTORS]


def _output_figures(results: Results, out: _Writer) -> None:
    """Each output against the factors (experiments without a compared pair)."""
    analysis = results.analysis_dir
    for output in _ordered_outputs(results.outputs):
        rows = _read_csv(analysis / f"outputs_{output}.csv")
        if rows is None or rows.empty:
            continue
        for factor in _output_factors(results, output):
            if factor not in rows.columns:
                continue
            out.figure(f"output_{output}_vs_{factor}",
                       lambda r=rows, f=factor, o=output: output_vs_factor(r, f, o),
                       lambda f=factor, o=output, r=rows: cp.output_caption(results, o, f, r),
                       "output")
        if rows["row"].nunique() <= MAX_TABLE_ROWS:
            out.table(rows.drop(columns="row"), f"outputs_{output}",
                      f"{lb.label(output)} per design point and regime: mean over "
                      "replicates, 95% t interval, SD, replicates.", kind="outputs")


def _bisection_figures(results: Results, out: _Writer) -> None:
    """Every stored `relsim tipping` refinement, read step by step."""
    analysis = results.analysis_dir
    diffs = _differences(results)
    for path in sorted(analysis.glob("tipping_points_*.csv")):
        points = pd.read_csv(path)
        meta = _points_meta(path, points, results, diffs)
        if meta is None:
            continue
        _bisection_file(results, out, path, points, *meta)


def _bisection_file(results: Results, out: _Writer, path: Path, points: pd.DataFrame,
                    diff: dl.Difference, output: str, factor: str) -> None:
    """The figures of one stored bisection (one per ``--by`` level, and the summary)."""
    analysis = results.analysis_dir
    stem = diff.stem(output)
    table = _read_csv(analysis / f"tipping_{stem}.csv")
    fixed = _blank(points["fixed"]).iloc[0] if "fixed" in points.columns else ""
    by = _blank(points["by_factor"]).iloc[0] if "by_factor" in points.columns else ""
    rows = pd.DataFrame()
    if table is not None and "method" in table.columns:
        rows = table[(table["factor"] == factor) & (table["method"] == "bisection")]
        for col, value in (("fixed", fixed), ("by_factor", by)):
            if col in rows.columns:
                rows = rows[_blank(rows[col]) == value]
            elif value:
                rows = rows.iloc[0:0]
    label = comparison_text(diff)
    figure = "bisection_" + path.stem[len("tipping_points_"):]
    parts = ([(None, points)] if not by else
             list(points.groupby("by_value", sort=True)))
    for level, part in parts:
        part = part.dropna(subset=[factor])
        if level is None:
            tip = rows.iloc[0] if not rows.empty else None
            name, where = figure, fixed
        else:
            match = rows[np.isclose(rows["by_value"].astype(float), float(level))] if (
                not rows.empty) else rows
            tip = match.iloc[0] if not match.empty else None
            name = f"{figure}_{level:g}"
            where = ", ".join(t for t in (fixed, f"{by} = {level:g}") if t)
        rng = (float(part[factor].min()), float(part[factor].max()))
        support = crossing_support(part, factor, None if tip is None else dict(tip), rng)
        reps = part["n"].tolist() if "n" in part.columns else []
        count = len(part)
        out.figure(name,
                   lambda p=part, t=tip, b=rng, w=where: fg.bisection_plot(
                       p, factor, output, t, comparison=label, bounds=b,
                       note="; ".join(x for x in (w, out.note) if x) or None),
                   lambda t=tip, s=support, r=reps, n=count, w=where:
                       cp.bisection_caption(results, output, factor,
                                            pair=diff.description, support=s,
                                            tipping=None if t is None else dict(t),
                                            points=n, replicates=r, where=w),
                   "bisection")
    if by and not rows.empty:
        out.figure("tipping_by_" + path.stem[len("tipping_points_"):],
                   lambda r=rows, f=factor, b=by, d=diff, o=output: tipping_by_plot(
                       r, f, b, d, o),
                   lambda f=factor, b=by, o=output: cp.tipping_by_caption(
                       results, o, f, b, pair=diff.description), "bisection")


def tipping_by_plot(rows: pd.DataFrame, factor: str, by: str, diff: dl.Difference,
                    output: str):
    """The tipping point along ``factor`` against the levels of ``by`` (`--by`).

    Each level's bisection bracket is a vertical bar around its estimate; a level without
    a sign change in the searched range is marked at the bottom edge and named.
    """
    import matplotlib.pyplot as plt
    import seaborn as sns
    from matplotlib.transforms import blended_transform_factory

    data = rows.assign(by_value=rows["by_value"].astype(float)).sort_values("by_value")
    fig, ax = plt.subplots(figsize=(fg.SINGLE_COLUMN_IN, 2.6))
    found = np.isfinite(data["threshold"].astype(float)).to_numpy()
    ok, missing = data[found], data[~found]
    if not ok.empty:
        yerr = np.vstack([ok["threshold"] - ok["ci_low"], ok["ci_high"] - ok["threshold"]])
        ax.errorbar(ok["by_value"], ok["threshold"], yerr=np.abs(yerr), fmt="o-",
                    markersize=3, capsize=2, linewidth=1,
                    label=f"Δ {fg.label(output)}, {diff.description}:\n"
                          "tipping point (secant) and bisection bracket")
    if not missing.empty:
        bottom = blended_transform_factory(ax.transData, ax.transAxes)
        ax.plot(missing["by_value"], np.zeros(len(missing)), "x", color="0.3",
                transform=bottom, clip_on=False, label="no sign change in the searched range")
    levels = data["by_value"].to_numpy(float)
    span = float(levels.max() - levels.min()) or 1.0
    ax.set_xlim(levels.min() - 0.05 * span, levels.max() + 0.05 * span)
    ax.set_xlabel(fg.label(by))
    ax.set_ylabel(f"tipping point along\n{fg.label(factor)}")
    ax.legend(frameon=False, loc="lower left", bbox_to_anchor=(0.0, 1.0), borderaxespad=0.2)
    sns.despine(fig)
    fig.tight_layout()
    return fig


def _target_titles(results: Results) -> dict[str, str]:
    """Difference target (``<name>_<output>``) -> its title, naming what is compared."""
    titles = {}
    for diff in _differences(results):
        for output in results.outputs:
            titles[diff.column(output)] = f"Δ {lb.short(output)}, {diff.description}"
    return titles


def _is_difference(results: Results, target: str) -> bool:
    return target in _target_titles(results) or target.startswith("delta_")


def _index_figures(results: Results, out: _Writer) -> None:
    analysis = results.analysis_dir
    titles = _target_titles(results)
    for path in sorted(analysis.glob("sobol_*.csv")):
        target = path.stem[len("sobol_"):]
        table = pd.read_csv(path)
        noise = (float(table["replicate_noise_share"].iloc[0])
                 if "replicate_noise_share" in table.columns else None)
        title = titles.get(target) or fg.sobol_title(target)
        delta = _is_difference(results, target)
        out.figure(f"sobol_{target}",
                   lambda t=table, n=noise, g=target, ti=title: fg.sobol_bars(
                       t, g, n, title=ti, note=out.note),
                   lambda g=target, n=noise, ti=title, d=delta: cp.sobol_caption(
                       results, g, ti, n, None, d), "sobol")
        share = "" if noise is None or not np.isfinite(noise) else (
            f" Replicate noise: {noise:.0%} of the variance of the row means.")
        out.table(table, f"sobol_{target}",
                  f"Sobol indices of {title} (replicate means per design row) with 95% "
                  f"bootstrap half-widths.{share}", SOBOL_LATEX_COLUMNS, kind="sobol")
    for path in sorted(analysis.glob("sobol2_*.csv")):
        target = path.stem[len("sobol2_"):]
        title = titles.get(target) or fg.sobol_title(target)
        out.table(pd.read_csv(path), f"sobol2_{target}",
                  f"Second-order Sobol indices of {title} with 95% bootstrap half-widths.",
                  kind="sobol2")
    for path in sorted(analysis.glob("morris_*.csv")):
        target = path.stem[len("morris_"):]
        table = pd.read_csv(path)
        title = titles.get(target) or fg.sobol_title(target)
        delta = _is_difference(results, target)
        out.figure(f"morris_{target}",
                   lambda t=table, g=target, ti=title: fg.morris_plot(t, g, title=ti,
                                                                      note=out.note),
                   lambda g=target, ti=title, d=delta: cp.morris_caption(
                       results, g, ti, None, d), "morris")
        out.table(table, f"morris_{target}",
                  f"Morris screening of {title}: mu*, its 95% half-width, sigma.",
                  MORRIS_LATEX_COLUMNS, kind="morris")


def regime_summary(results: Results) -> pd.DataFrame:
    """Mean and 95% t interval of every output per regime, over all successful runs."""
    runs = ok_runs(results.runs)
    records = []
    for output in _ordered_outputs(results.outputs):
        for regime in fg.ordered_regimes(runs["regime"]):
            values = runs.loc[runs["regime"] == regime, output].to_numpy(float)
            mean, low, high = t_interval(values)
            records.append({"output": output, "regime": regime or "run", "mean": mean,
                            "ci_low": low, "ci_high": high,
                            "n": int(np.isfinite(values).sum())})
    return pd.DataFrame.from_records(records)


def analysis_is_stale(experiment: Path) -> bool:
    """Return whether the analysis is missing or older than any stored run part."""
    summary = experiment / "analysis" / "summary.csv"
    if not summary.is_file():
        return True
    done = summary.stat().st_mtime
    return any(p.stat().st_mtime > done for p in (experiment / "runs").glob("*.parquet"))


def _lacks_output_tables(results: Results) -> bool:
    """Whether an analysis written before ``outputs_<output>.csv`` existed needs redoing."""
    if not results.factors or results.design_kind == "replicate" or not results.outputs:
        return False
    return not (results.analysis_dir / f"outputs_{results.outputs[0]}.csv").is_file()


def report_experiment(results: Results, out: _Writer, *, seed: int) -> None:
    """Draw every figure and table of one experiment (analysing it first if stale)."""
    if analysis_is_stale(results.path) or _lacks_output_tables(results):
        analysis = analyze_results(results, seed=seed)
        out.result.warnings += [f"{results.name}: {w}" for w in analysis.warnings]
    else:
        done = completeness(results)
        if not done.complete:
            out.result.warnings.append(f"{results.name}: sweep {done.note()}")
    _series_figures(results, out)
    _delta_figures(results, out)
    if results.compare is None:
        _output_figures(results, out)
    note, out.note = out.note, ""  # a bisection is not drawn from the sweep's runs
    _bisection_figures(results, out)
    out.note = note
    _index_figures(results, out)
    if results.design_kind == "replicate":
        out.table(regime_summary(results), "outputs_by_regime",
                  "Run KPIs by regime: mean over replicates and 95% t interval.",
                  kind="regimes")


def build_report(path: str | Path, *, seed: int, require_complete: bool = False,
                 progress: Callable[[str], None] | None = None,
                 document: bool = False) -> ReportResult:
    """Write the figures, captions and tables of every experiment under ``path``.

    Args:
        path: One experiment directory, or a parent of experiment directories.
        seed: Seed of the analysis bootstraps, used only if an analysis is missing.
        require_complete: Raise `IncompleteSweep` (before drawing anything) unless every
            experiment's expected runs are all stored as ok.
        progress: Called with each experiment's name before it is drawn.
        document: Also write the results document (`analysis.document`).

    Returns:
        A `ReportResult` listing the files written and the figures skipped.
    """
    root = Path(path)
    experiments = find_experiments(root)
    fg.set_style()
    result = ReportResult(root / FIGURES_DIR, root / TABLES_DIR)
    if require_complete:  # refuse before drawing anything
        for exp in experiments:
            check_complete(load_results(exp, series=False))
    for exp in experiments:
        results = load_results(exp)
        if progress is not None:
            progress(results.name)
        prefix = f"{results.name}__" if len(experiments) > 1 else ""
        result.experiments.append(results)
        lb.register_axes(results.axes)
        note = completeness(results).note()
        report_experiment(results, _Writer(result, prefix, results, note), seed=seed)
    if not result.figures:
        result.warnings.append("no figure could be drawn from the stored results")
    if document:
        from relsim.analysis.document import write_document

        result.document = write_document(root, result)
    return result
