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

An incomplete sweep (runs pending, failed or invalid) is drawn with what is stored and
marked: every figure drawn from its runs carries the note "incomplete: 80 of 120 runs
(...)" and every table caption starts with it; ``require_complete=True`` refuses it.

Figures go to ``DIR/figures/<stem>.pdf`` and ``.png`` (300 dpi), tables to
``DIR/tables/<stem>.csv`` and ``.tex``. With several experiments under DIR each stem is
prefixed by the experiment name (``<name>__<stem>``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from relsim.analysis import deltas as dl
from relsim.analysis import figures as fg
from relsim.analysis.analyze import analyze_results, check_complete
from relsim.analysis.deltas import delta_name, t_interval
from relsim.analysis.io import (
    Results,
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
TIPPING_LATEX_COLUMNS = ["factor", "threshold", "ci_low", "ci_high", "direction", "method"]
SOBOL_LATEX_COLUMNS = ["factor", "S1", "S1_conf", "ST", "ST_conf"]
MORRIS_LATEX_COLUMNS = ["factor", "mu_star", "mu_star_conf", "sigma"]
#: Without [compare], each output is drawn against at most this many factors.
MAX_OUTPUT_FACTORS = 4
#: Preferred order of outputs in figures (profit first, as the research question says).
PREFERRED_OUTPUT = "profit"


@dataclass
class ReportResult:
    """What `build_report` wrote.

    Attributes:
        figure_dir: Directory of the figures.
        table_dir: Directory of the tables.
        figures: Every figure file written (PDF and PNG).
        tables: Every table file written (CSV and LaTeX).
        warnings: Figures that could not be drawn, and why.
    """

    figure_dir: Path
    table_dir: Path
    figures: list[Path] = field(default_factory=list)
    tables: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _read_csv(path: Path) -> pd.DataFrame | None:
    return pd.read_csv(path) if path.is_file() else None


def _warmup(results: Results) -> float | None:
    value = manifest_param(results.manifest, "warmup_days")
    return float(value) if value is not None else None


class _Writer:
    """Names, draws and saves the figures and tables of one experiment."""

    def __init__(self, result: ReportResult, prefix: str, note: str = "") -> None:
        self.result = result
        self.prefix = prefix
        #: "incomplete: ..." for an incomplete sweep: drawn on figures, put in captions.
        self.note = note

    def stem(self, stem: str) -> str:
        return f"{self.prefix}{stem}"

    def figure(self, stem: str, draw: Callable[[], object]) -> None:
        try:
            fig = draw()
        except (ValueError, KeyError) as exc:
            self.result.warnings.append(f"figure {self.stem(stem)} skipped: {exc}")
            return
        if self.note:
            mark_incomplete(fig, self.note)
        self.result.figures += fg.save_figure(fig, self.result.figure_dir, self.stem(stem))

    def table(self, frame: pd.DataFrame, stem: str, caption: str,
              latex_columns: list[str] | None = None) -> None:
        if self.note:
            caption = f"{self.note[0].upper()}{self.note[1:]}. {caption}"
        self.result.tables += write_table(frame, self.result.table_dir, self.stem(stem),
                                          caption, latex_columns)


def mark_incomplete(fig, note: str) -> None:
    """Write an incomplete sweep's note across the top of a figure, in red."""
    fig.text(0.5, 1.0, note, ha="center", va="bottom", fontsize=7, color="firebrick",
             fontweight="bold", transform=fig.transFigure)


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
    out.figure("vicious_cycle", lambda: fg.vicious_cycle(
        series, warmup, float(window) if window is not None else None))
    out.figure("channel_mix", lambda: fg.channel_mix(series, warmup))
    out.figure("sales_time", lambda: fg.sales_time(series, warmup))


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


def diff_label(diff: dl.Difference, output: str) -> str:
    """Axis label of a difference of ``output``: ``Δ <output label>`` over what it is."""
    if diff.kind == "contrast":  # two lines: it is long
        first, _, second = diff.description.partition(") − (")
        return f"Δ {fg.label(output)}\n{first})\n− ({second}"
    return f"Δ {fg.label(output)}\n{diff.description}"


def _relabel(fig, old: str, new: str):
    """Replace ``old`` by ``new`` in every axis label, title and figure text.

    The figures name a delta ``relationship − sacred``; a comparison names its own regimes.
    """
    if not old or old == new:
        return fig
    for ax in fig.axes:
        for get, put in ((ax.get_xlabel, ax.set_xlabel), (ax.get_ylabel, ax.set_ylabel),
                         (ax.get_title, ax.set_title)):
            if old in get():
                put(get().replace(old, new))
    for text in fig.texts:
        if old in text.get_text():
            text.set_text(text.get_text().replace(old, new))
    return fig


def _value_vs_factor(rows: pd.DataFrame, factor: str, output: str, tip: pd.Series | None,
                     old: str, new: str):
    return _relabel(fg.relationship_vs_factor(rows, factor, delta_name(output), tip), old, new)


def _tip_for(tipping: pd.DataFrame | None, factor: str) -> pd.Series | None:
    """The tipping row drawn on a factor's figure: a plain bisection, else the logistic."""
    tipping = _plain_rows(tipping)
    if tipping is None or factor not in set(tipping["factor"]):
        return None
    rows = tipping[tipping["factor"] == factor]
    if "method" in rows.columns and (rows["method"] == "bisection").any():
        rows = rows[rows["method"] == "bisection"]
    return rows.iloc[0]


def _delta_figures(results: Results, out: _Writer) -> None:
    analysis = results.analysis_dir
    for diff in _differences(results):
        for output in _ordered_outputs(results.outputs):
            _difference_figures(results, out, analysis, diff, output)


def _difference_figures(results: Results, out: _Writer, analysis: Path, diff: dl.Difference,
                        output: str) -> None:
    stem = diff.stem(output)
    rows = _read_csv(analysis / f"delta_{stem}.csv")
    if rows is None:
        return
    tipping = _read_csv(analysis / f"tipping_{stem}.csv")
    sobol = _read_csv(analysis / f"sobol_{diff.column(output)}.csv")
    old, new = fg.label(delta_name(output)), diff_label(diff, output)
    for factor in _delta_factors(results, tipping, sobol):
        tip = _tip_for(tipping, factor)
        out.figure(f"{diff.figure_stem(output)}_vs_{factor}",
                   lambda f=factor, t=tip: _value_vs_factor(rows, f, output, t, old, new))
    what = f"{diff.name}: {diff.description}".replace("−", "-")  # ASCII for LaTeX
    if len(rows) <= MAX_TABLE_ROWS:
        keep = [c for c in rows.columns if c != "row"]
        out.table(rows[keep], f"delta_{stem}",
                  f"{output} difference ({what}) per design point: mean over paired "
                  "replicates (common seeds), 95% t interval, SD, replicates.")
    if tipping is not None and not tipping.empty:
        latex = TIPPING_LATEX_COLUMNS + [
            c for c in ("by_factor", "by_value", "fixed") if c in tipping.columns
            and _blank(tipping[c]).ne("").any()]
        out.table(tipping, f"tipping_{stem}",
                  f"Tipping points of the {output} difference ({what}): logistic, where "
                  "P(difference > 0) crosses 1/2, with a 95% bootstrap interval; bisection, "
                  "the bracket around the sign change of the mean (fixed: parameters held by "
                  "--set; by: one bisection per level). Empty where there is no crossing in "
                  "the factor's range.", latex)
    grid = _read_csv(analysis / f"tipping_map_{stem}.csv")
    if grid is not None and not grid.empty:
        replicates = results.manifest.get("replicates")
        out.figure(f"tipping_map_{stem}",
                   lambda g=grid, o=output, r=replicates: _relabel(fg.tipping_map_plot(
                       g, delta_name(o), r if isinstance(r, int) else None), old, new))


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
                       lambda r=rows, f=factor, o=output: output_vs_factor(r, f, o))
        if rows["row"].nunique() <= MAX_TABLE_ROWS:
            out.table(rows.drop(columns="row"), f"outputs_{output}",
                      f"{output} per design point and regime: mean over replicates, 95% t "
                      "interval, SD, replicates.")


def _bisection_figures(results: Results, out: _Writer) -> None:
    """The value at the points `relsim tipping` evaluated, with its bracket."""
    analysis = results.analysis_dir
    diffs = _differences(results)
    for path in sorted(analysis.glob("tipping_points_*.csv")):
        points = pd.read_csv(path)
        meta = _points_meta(path, points, results, diffs)
        if meta is None:
            continue
        diff, output, factor = meta
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
        old, new = fg.label(delta_name(output)), diff_label(diff, output)
        if fixed:
            new += f"\n({fixed})"
        figure = "bisection_" + path.stem[len("tipping_points_"):]
        if not by:
            tip = rows.iloc[0] if not rows.empty else None
            out.figure(figure, lambda p=points, f=factor, t=tip, o=output, a=old, b=new:
                       _value_vs_factor(p, f, o, t, a, b))
            continue
        for level, part in points.groupby("by_value", sort=True):
            match = rows[np.isclose(rows["by_value"].astype(float), float(level))] if (
                not rows.empty) else rows
            tip = match.iloc[0] if not match.empty else None
            part = part.dropna(subset=[factor])
            label = f"{new}\n{by} = {level:g}"
            out.figure(f"{figure}_{level:g}",
                       lambda p=part, f=factor, t=tip, o=output, a=old, b=label:
                       _value_vs_factor(p, f, o, t, a, b))
        if not rows.empty:
            out.figure("tipping_by_" + path.stem[len("tipping_points_"):],
                       lambda r=rows, f=factor, b=by, d=diff, o=output: tipping_by_plot(
                           r, f, b, d, o))


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


def _target_labels(results: Results) -> dict[str, tuple[str, str]]:
    """Difference target -> (the figures' own title of it, the title naming it)."""
    labels = {}
    for diff in _differences(results):
        for output in results.outputs:
            target = diff.column(output)
            labels[target] = (fg.sobol_title(target),
                              f"Δ {fg.label(output)}, {diff.description}")
    return labels


def _index_figures(results: Results, out: _Writer) -> None:
    analysis = results.analysis_dir
    labels = _target_labels(results)
    for path in sorted(analysis.glob("sobol_*.csv")):
        target = path.stem[len("sobol_"):]
        table = pd.read_csv(path)
        noise = (float(table["replicate_noise_share"].iloc[0])
                 if "replicate_noise_share" in table.columns else None)
        old, new = labels.get(target, ("", ""))
        out.figure(f"sobol_{target}", lambda t=table, n=noise, g=target, a=old, b=new:
                   _relabel(fg.sobol_bars(t, g, n), a, b) if a else fg.sobol_bars(t, g, n))
        share = "" if noise is None or not np.isfinite(noise) else (
            f" Replicate noise: {noise:.0%} of the variance of the row means.")
        out.table(table, f"sobol_{target}",
                  f"Sobol indices of {target} (replicate means per design row) with 95% "
                  f"bootstrap half-widths.{share}", SOBOL_LATEX_COLUMNS)
    for path in sorted(analysis.glob("sobol2_*.csv")):
        target = path.stem[len("sobol2_"):]
        out.table(pd.read_csv(path), f"sobol2_{target}",
                  f"Second-order Sobol indices of {target} with 95% bootstrap half-widths.")
    for path in sorted(analysis.glob("morris_*.csv")):
        target = path.stem[len("morris_"):]
        table = pd.read_csv(path)
        old, new = labels.get(target, ("", ""))
        out.figure(f"morris_{target}", lambda t=table, g=target, a=old, b=new: _relabel(
            fg.morris_plot(t, g), a, b) if a else fg.morris_plot(t, g))
        out.table(table, f"morris_{target}",
                  f"Morris screening of {target}: mu*, its 95% half-width, sigma.",
                  MORRIS_LATEX_COLUMNS)


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
                  "Run KPIs by regime: mean over replicates and 95% t interval.")


def build_report(path: str | Path, *, seed: int, require_complete: bool = False,
                 progress: Callable[[str], None] | None = None) -> ReportResult:
    """Write the figures and tables of every experiment under ``path``.

    Args:
        path: One experiment directory, or a parent of experiment directories.
        seed: Seed of the analysis bootstraps, used only if an analysis is missing.
        require_complete: Raise `IncompleteSweep` (before drawing anything) unless every
            experiment's expected runs are all stored as ok.
        progress: Called with each experiment's name before it is drawn.

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
        note = completeness(results).note()
        report_experiment(results, _Writer(result, prefix, note), seed=seed)
    if not result.figures:
        result.warnings.append("no figure could be drawn from the stored results")
    return result
