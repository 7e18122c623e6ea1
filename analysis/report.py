"""`relsim report`: every figure and table, regenerated from stored results alone.

For each experiment under DIR (one experiment directory, or a parent of several), the
report reads the stored runs, series and analysis CSVs (running `analyze` first when the
analysis is missing or older than the stored runs) and draws what the data support:

* daily series present: ``vicious_cycle``, ``channel_mix``, ``sales_time``;
* paired deltas: ``relationship_<output>_vs_<factor>`` with the tipping point, for a 1- or
  2-factor design every factor, otherwise the factors with a tipping point inside their
  range (else the most influential one);
* Sobol designs: ``sobol_<target>``; Morris designs: ``morris_<target>``;
* ``tipping_map_<output>`` when a 2-D map was computed;
* ``bisection_<output>_<factor>`` for every `relsim tipping` refinement stored.

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


def _delta_factors(results: Results, tipping: pd.DataFrame | None, sobol: pd.DataFrame | None
                   ) -> list[str]:
    factors = [f for f in results.factors if f in results.design.columns]
    if len(factors) <= 2:
        return factors
    chosen = []
    if tipping is not None and not tipping.empty:
        chosen = tipping[np.isfinite(tipping["threshold"])]["factor"].tolist()
    if not chosen and sobol is not None and not sobol.empty:
        chosen = [sobol.sort_values("ST", ascending=False)["factor"].iloc[0]]
    return chosen or factors[:1]


def _delta_figures(results: Results, out: _Writer) -> None:
    analysis = results.analysis_dir
    for output in _ordered_outputs(results.outputs):
        rows = _read_csv(analysis / f"delta_{output}.csv")
        if rows is None:
            continue
        tipping = _read_csv(analysis / f"tipping_{output}.csv")
        sobol = _read_csv(analysis / f"sobol_{delta_name(output)}.csv")
        for factor in _delta_factors(results, tipping, sobol):
            tip = None
            if tipping is not None and factor in set(tipping["factor"]):
                logistic = tipping[tipping["factor"] == factor]
                if "method" in logistic.columns and (logistic["method"] == "bisection").any():
                    logistic = logistic[logistic["method"] == "bisection"]
                tip = logistic.iloc[0]
            out.figure(f"relationship_{output}_vs_{factor}",
                       lambda f=factor, t=tip, r=rows, o=output: fg.relationship_vs_factor(
                           r, f, delta_name(o), t))
        if len(rows) <= MAX_TABLE_ROWS:
            keep = [c for c in rows.columns if c != "row"]
            out.table(rows[keep], f"delta_{output}",
                      f"Relationship value ({output}, relationship minus sacred) per design "
                      "point: mean over replicates, 95% t interval, SD, replicates.")
        if tipping is not None and not tipping.empty:
            out.table(tipping, f"tipping_{output}",
                      f"Tipping points of the {output} relationship value (relationship "
                      "minus sacred): logistic, where P(delta > 0) crosses 1/2, with a 95% "
                      "bootstrap interval; bisection, the bracket around the sign change "
                      "of the mean. Empty where there is no crossing in the factor's range.",
                      TIPPING_LATEX_COLUMNS)
        grid = _read_csv(analysis / f"tipping_map_{output}.csv")
        if grid is not None and not grid.empty:
            replicates = results.manifest.get("replicates")
            out.figure(f"tipping_map_{output}",
                       lambda g=grid, o=output, r=replicates: fg.tipping_map_plot(
                           g, delta_name(o), r if isinstance(r, int) else None))


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
    """Relationship value at the points `relsim tipping` evaluated, with its bracket."""
    analysis = results.analysis_dir
    for path in sorted(analysis.glob("tipping_points_*.csv")):
        points = pd.read_csv(path)
        tipping_path = None
        for output in results.outputs:
            prefix = f"tipping_points_{output}_"
            if path.stem.startswith(prefix) and path.stem[len(prefix):] in points.columns:
                factor, tipping_path = path.stem[len(prefix):], analysis / f"tipping_{output}.csv"
                break
        if tipping_path is None:
            continue
        tip = None
        table = _read_csv(tipping_path)
        if table is not None and "method" in table.columns:
            rows = table[(table["factor"] == factor) & (table["method"] == "bisection")]
            tip = rows.iloc[0] if not rows.empty else None
        out.figure(f"bisection_{output}_{factor}",
                   lambda p=points, f=factor, t=tip, o=output: fg.relationship_vs_factor(
                       p, f, delta_name(o), t))


def _index_figures(results: Results, out: _Writer) -> None:
    analysis = results.analysis_dir
    for path in sorted(analysis.glob("sobol_*.csv")):
        target = path.stem[len("sobol_"):]
        table = pd.read_csv(path)
        noise = (float(table["replicate_noise_share"].iloc[0])
                 if "replicate_noise_share" in table.columns else None)
        out.figure(f"sobol_{target}", lambda t=table, n=noise, g=target: fg.sobol_bars(t, g, n))
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
        out.figure(f"morris_{target}", lambda t=table, g=target: fg.morris_plot(t, g))
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
