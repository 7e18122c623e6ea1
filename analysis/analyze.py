"""`relsim analyze`: sensitivity indices, paired deltas and tipping points of one experiment.

What is analysed, by design (manifest ``design``):

* ``sobol``: Sobol S1/ST (+ S2 when sampled) of every requested output of every regime, and
  of every paired delta; deltas per row; logistic tipping points; a 2-D tipping map.
* ``morris``: Morris mu*/sigma instead of Sobol; the rest as for sobol.
* ``lhs`` / ``grid``: no indices (the designs do not support them); deltas, tipping, map.
* ``replicate``: summary statistics per regime and of the deltas.

Every comparison (``[compare] name = [A, B]``) and contrast (``[contrast] name = [C1,
C2]``) of the experiment is analysed alike. Files written under
``<experiment dir>/analysis/`` (README.md, "Analysis"): ``sobol_<target>.csv``
(``factor, S1, S1_conf, ST, ST_conf, replicate_noise_share``), ``sobol2_<target>.csv``,
``morris_<target>.csv`` (``factor, mu_star, mu_star_conf, sigma, mu,
replicate_noise_share``), ``delta_<output>.csv`` (per design row: factors, ``mean,
ci_low, ci_high, sd, n``), ``tipping_<output>.csv`` (``factor, threshold, ci_low, ci_high,
direction, n, share_positive, method, note``), ``tipping_map_<output>.csv`` and
``summary.csv`` (one line per analysed target: replicate noise share, design rows without
a value, what was skipped, and the sweep's completeness: ``runs_expected``, ``runs_ok``,
``runs_pending``, ``runs_failed``, ``runs_invalid`` (and ``runs_<status>`` for any other
status), ``rows_without_ok``, ``complete``) and ``outputs_<output>.csv`` (per design row and
regime: factors, ``regime, mean, ci_low, ci_high, sd, n``; every design with factors).

An incomplete sweep (runs pending, failed or invalid) is analysed with what is stored, and
says so: a warning with the counts by status, and the counts in ``summary.csv``;
``require_complete=True`` (``relsim analyze --require-complete``) refuses it instead.

A target is an output of one regime (``<output>`` when the experiment has at most one
regime, ``<output>_<regime>`` otherwise) or a paired difference ``<name>_<output>`` of a
comparison or contrast (``delta_<output>`` for the version-1 comparison ``delta``). The
per-difference files are named by `Difference.stem`: ``delta_<output>.csv``,
``tipping_<output>.csv``, ``tipping_map_<output>.csv`` for ``delta``, and
``delta_<name>_<output>.csv``, ``tipping_<name>_<output>.csv``,
``tipping_map_<name>_<output>.csv`` for any other name.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from relsim.analysis import deltas as dl
from relsim.analysis import sensitivity as sa
from relsim.analysis import tipping as tp
from relsim.analysis.io import (
    Completeness,
    Results,
    completeness,
    design_rows,
    load_results,
    ok_runs,
)
from relsim.analysis.outputs import output_rows

#: Factors whose total Sobol index of the delta is below this are not examined for tipping.
ST_TIPPING_THRESHOLD = 0.05
#: Design kinds with sensitivity indices.
SOBOL, MORRIS = "sobol", "morris"
KNOWN_DESIGNS = ("sobol", "morris", "lhs", "grid", "replicate")
#: Analysis options chosen on the command line and reused by later runs (e.g. `--map`).
OPTIONS_FILE = "options.json"
#: Default Morris grid levels (SALib's default) when the manifest does not record them.
DEFAULT_MORRIS_LEVELS = 4


@dataclass
class Target:
    """One analysed quantity: an output of one regime, or a paired delta.

    Attributes:
        name: File-name stem (``profit``, ``profit_sacred`` or ``delta_profit``).
        table: One row per run/pair with ``row``, ``replicate`` and ``column``.
        column: The value column in ``table``.
        output: The underlying model output.
        is_delta: Whether this is a paired difference (comparison or contrast).
        diff: The comparison or contrast, for paired differences.
    """

    name: str
    table: pd.DataFrame
    column: str
    output: str
    is_delta: bool = False
    diff: dl.Difference | None = None

    @property
    def stem(self) -> str:
        """File-name part of a difference's files (``<output>`` for the v1 ``delta``)."""
        return self.diff.stem(self.output) if self.diff is not None else self.name


@dataclass
class AnalysisReport:
    """What `analyze_results` wrote and what it had to skip.

    Attributes:
        experiment: The experiment name.
        directory: The analysis directory.
        files: Paths written.
        warnings: One line per skipped analysis or caveat.
        tipping: Tipping rows of every delta output (concatenated, column ``output``).
        sobol: Sobol indices of every target (concatenated, column ``target``).
        completeness: The sweep's runs by status (pending = not stored).
    """

    experiment: str
    directory: Path
    files: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    tipping: pd.DataFrame = field(default_factory=pd.DataFrame)
    sobol: pd.DataFrame = field(default_factory=pd.DataFrame)
    completeness: Completeness | None = None


class IncompleteSweep(ValueError):
    """The sweep is incomplete and the caller asked for a complete one."""


def check_complete(results: Results, done: Completeness | None = None) -> Completeness:
    """Return the experiment's completeness; raise `IncompleteSweep` if it is incomplete."""
    done = done or completeness(results)
    if not done.complete:
        raise IncompleteSweep(
            f"experiment '{results.name}' is incomplete: {done.ok} of {done.expected} runs "
            f"are ok ({done.breakdown()}). Finish it first (rerun 'relsim sweep', "
            "'--retry-failed' for failed runs, 'relsim merge' for shards), or drop "
            "--require-complete to analyse what is stored"
        )
    return done


def factor_bounds(results: Results) -> dict[str, tuple[float, float]]:
    """Return each factor's range: the SALib problem's bounds, else the design's min/max."""
    bounds: dict[str, tuple[float, float]] = {}
    problem = results.manifest.get("problem") or {}
    for name, b in zip(problem.get("names", []), problem.get("bounds", []), strict=False):
        bounds[str(name)] = (float(b[0]), float(b[1]))
    numeric = set(results.design.select_dtypes("number").columns)
    for f in results.factors:
        if f not in bounds and f in numeric:
            col = results.design[f].astype(float)
            bounds[f] = (float(col.min()), float(col.max()))
    return bounds


def _problem(results: Results) -> dict:
    problem = results.manifest.get("problem")
    if isinstance(problem, dict) and problem.get("names"):
        return {"num_vars": int(problem.get("num_vars", len(problem["names"]))),
                "names": list(problem["names"]), "bounds": problem["bounds"]}
    bounds = factor_bounds(results)
    names = results.factors
    return {"num_vars": len(names), "names": names, "bounds": [list(bounds[n]) for n in names]}


def build_targets(results: Results) -> tuple[list[Target], list[str]]:
    """Return the analysed targets (regime outputs, then paired deltas) and warnings."""
    runs = results.runs
    outputs = results.outputs
    regimes = sorted(runs["regime"].unique())
    targets: list[Target] = []
    warnings: list[str] = []
    for regime in regimes:
        ok = ok_runs(runs[runs["regime"] == regime])
        for o in outputs:
            name = o if len(regimes) <= 1 else f"{o}_{regime}"
            targets.append(Target(name, ok[["row", "replicate", o]], o, o))
    for diff in dl.differences(results.comparisons, results.contrasts):
        try:
            pairs = dl.paired_differences(runs, diff, outputs)
        except ValueError as exc:
            if "different seeds" in str(exc):
                raise
            warnings.append(f"{diff.kind} '{diff.name}' skipped: {exc}")
            continue
        for o in outputs:
            col = diff.column(o)
            targets.append(Target(col, pairs[["row", "replicate", col]], col, o, True, diff))
    done = completeness(results)
    if not done.complete:
        warnings.append(f"sweep {done.note()}; the analysis uses the {done.ok} ok runs")
    return targets, warnings


#: Outputs named ``*_diff`` are differences *within* a run (e.g. the salesperson's view,
#: ``style_<kpi>_diff``: relationship-style minus transactional customers of one plant).
WITHIN_RUN_SUFFIX = "_diff"


def _within_run_difference(target: Target) -> bool:
    """A regime's within-run difference output with values: analysed like a paired delta.

    Its per-row intervals (``delta_<output>_<regime>.csv``) and tipping points are those of
    a paired difference; a regime where the difference is undefined (NaN: e.g. a plant
    with one selling style) is skipped.
    """
    return (not target.is_delta and target.output.endswith(WITHIN_RUN_SUFFIX)
            and bool(target.table[target.column].notna().any()))


def _sensitivity(
    results: Results, target: Target, n_rows: int, seed: int, report: AnalysisReport,
    summary: dict,
) -> pd.DataFrame | None:
    """Sobol or Morris indices of one target; write CSVs; None when skipped."""
    kind = results.design_kind
    y = sa.row_means(target.table, target.column, n_rows)
    missing = int(np.sum(~np.isfinite(y)))
    summary["rows_missing"] = missing
    if missing:
        empty = set(np.flatnonzero(~np.isfinite(y)))
        never = len(empty - set(results.runs["row"].astype(int)))
        what = "pair" if target.is_delta else "run"
        msg = (f"{kind} indices of '{target.name}' skipped: {missing} of {n_rows} design rows "
               f"have no ok {what} ({never} not run yet, {missing - never} with failed or "
               "invalid runs only); SALib needs every row and imputing would bias the "
               "indices")
        report.warnings.append(msg)
        summary["note"] = msg
        return None
    problem = _problem(results)
    out = results.path / "analysis"
    noise = summary["replicate_noise_share"]
    if kind == SOBOL:
        second = bool(results.manifest.get("calc_second_order", False))
        first, pairs = sa.sobol_indices(problem, y, calc_second_order=second, seed=seed)
        first["replicate_noise_share"] = noise
        report.files.append(_write(first, out / f"sobol_{target.name}.csv"))
        if second and not pairs.empty:
            report.files.append(_write(pairs, out / f"sobol2_{target.name}.csv"))
        return first
    x = results.design[problem["names"]].to_numpy(float)
    levels = int(results.manifest.get("levels") or results.manifest.get("num_levels")
                 or DEFAULT_MORRIS_LEVELS)
    table = sa.morris_indices(problem, x, y, num_levels=levels, seed=seed)
    table["replicate_noise_share"] = noise
    report.files.append(_write(table, out / f"morris_{target.name}.csv"))
    return None


def _write(frame: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    frame.to_csv(tmp, index=False)
    tmp.replace(path)
    return path


def _tipping_factors(results: Results, sobol: pd.DataFrame | None) -> list[str]:
    if sobol is None or sobol.empty:
        return list(results.factors)
    keep = sobol[sobol["ST"] >= ST_TIPPING_THRESHOLD]["factor"].tolist()
    return keep or list(results.factors)


def _map_factors(results: Results, sobol: pd.DataFrame | None) -> list[str]:
    if sobol is not None and not sobol.empty:
        return sobol.sort_values("ST", ascending=False)["factor"].tolist()[:2]
    return list(results.factors)[:2]


def _tipping(
    results: Results, target: Target, sobol: pd.DataFrame | None, seed: int,
    report: AnalysisReport, map_factors: tuple[str, str] | None = None,
) -> None:
    numeric = set(results.design.select_dtypes("number").columns)
    factors = [f for f in _tipping_factors(results, sobol) if f in numeric]
    if not factors:
        return
    bounds = factor_bounds(results)
    pairs = target.table.merge(results.design, on="row", how="left")
    varied = [f for f in results.factors if f in results.design.columns]
    table = tp.tipping_table(pairs, target.column, factors, bounds, seed=seed,
                             clustered=len(varied) > 1)
    _axis_notes(results, table)
    table.insert(0, "output", target.column)
    out = results.analysis_dir
    path = out / f"tipping_{target.stem}.csv"
    refined = _bisection_rows(path)
    written = table.drop(columns="output")
    if not refined.empty:
        written = pd.concat([written, refined], ignore_index=True)
    report.files.append(_write(written, path))
    report.tipping = pd.concat([report.tipping, table], ignore_index=True)
    chosen = list(map_factors) if map_factors else _map_factors(results, sobol)
    chosen = [f for f in chosen if f in numeric]
    if len(chosen) == 2:
        fx, fy = chosen
        bins = tp.map_bins(int(pairs["row"].nunique()))
        grid = tp.tipping_map(pairs, target.column, fx, fy, bounds, bins=bins)
        grid = grid.rename(columns={fx: "x", fy: "y"})
        grid.insert(0, "y_factor", fy)
        grid.insert(0, "x_factor", fx)
        report.files.append(_write(grid, out / f"tipping_map_{target.stem}.csv"))


def _axis_notes(results: Results, table: pd.DataFrame) -> None:
    """Add to each tipping row along an axis what its threshold means in parameters."""
    axes = results.axes
    for i, row in table.iterrows():
        ends = axes.get(str(row["factor"]))
        if not ends or not np.isfinite(row["threshold"]):
            continue
        t = float(row["threshold"])
        at = ", ".join(f"{p} {a + t * (b - a):.4g}" for p, (a, b) in ends.items())
        note = str(row["note"]) if isinstance(row["note"], str) else ""
        table.at[i, "note"] = f"{note}; " * bool(note) + f"at {row['factor']} {t:.4g}: {at}"


def _bisection_rows(path: Path) -> pd.DataFrame:
    """Rows a `relsim tipping` refinement merged into an existing tipping file (kept)."""
    if not path.is_file():
        return pd.DataFrame()
    old = pd.read_csv(path)
    if "method" not in old.columns:
        return pd.DataFrame()
    return old[old["method"] == "bisection"]


def _stored_map_factors(results: Results) -> tuple[str, str] | None:
    """Return the map factors an earlier ``--map`` chose (kept in ``options.json``)."""
    path = results.analysis_dir / OPTIONS_FILE
    if not path.is_file():
        return None
    chosen = json.loads(path.read_text()).get("map_factors") or []
    if len(chosen) == 2 and all(f in results.factors for f in chosen):
        return chosen[0], chosen[1]
    return None


def _replicate_summary(targets: list[Target]) -> pd.DataFrame:
    rows = []
    for t in targets:
        mean, low, high = dl.t_interval(t.table[t.column].to_numpy(float))
        values = t.table[t.column].dropna().to_numpy(float)
        rows.append({"target": t.name, "mean": mean, "ci_low": low, "ci_high": high,
                     "sd": float(values.std(ddof=1)) if values.size > 1 else float("nan"),
                     "n": int(values.size)})
    return pd.DataFrame.from_records(rows)


def analyze_results(
    results: Results, *, seed: int = sa.DEFAULT_SEED,
    map_factors: tuple[str, str] | None = None, require_complete: bool = False,
    progress: Callable[[str], None] | None = None,
) -> AnalysisReport:
    """Analyse one stored experiment and write its CSV files.

    Args:
        results: The stored experiment.
        seed: Seed of every bootstrap (SALib's and the tipping intervals').
        map_factors: The two factors of the 2-D tipping map. They are remembered in
            ``analysis/options.json``, so a later analysis without them (e.g. the one
            `relsim report` runs when the runs changed) draws the same map. Default: the
            remembered pair, else the two with the largest total Sobol index of the
            delta, else the first two factors.
        require_complete: Raise `IncompleteSweep` (writing nothing) unless every
            expected run is stored as ok.
        progress: Called with a short label before each analysed target (for a progress
            display).

    Returns:
        An `AnalysisReport` of the files written and the warnings.

    Raises:
        ValueError: On an unknown design or inconsistent results.
        IncompleteSweep: With ``require_complete``, on an incomplete sweep.
    """
    kind = results.design_kind
    if kind not in KNOWN_DESIGNS:
        raise ValueError(
            f"manifest design '{kind}' is not one of {', '.join(KNOWN_DESIGNS)}"
        )
    done = completeness(results)
    if require_complete:
        check_complete(results, done)
    report = AnalysisReport(results.name, results.analysis_dir, completeness=done)
    tick = progress or (lambda label: None)
    ok = ok_runs(results.runs)
    if ok.empty:
        errors = results.runs.get("error", pd.Series(dtype=str)).dropna().astype(str)
        first = errors[errors != ""].iloc[0] if (errors != "").any() else "no error recorded"
        raise ValueError(
            f"every one of the {len(results.runs)} stored runs of experiment "
            f"'{results.name}' failed, nothing to analyse (first error: {first[:300]})"
        )
    targets, warnings = build_targets(results)
    report.warnings.extend(warnings)
    if not results.outputs:
        raise ValueError(f"experiment '{results.name}' has no numeric output to analyse")
    if map_factors is None:
        map_factors = _stored_map_factors(results)
    else:
        unknown = [f for f in map_factors if f not in results.factors]
        if unknown or len(map_factors) != 2 or map_factors[0] == map_factors[1]:
            raise ValueError(
                f"the tipping map needs two different factors of experiment "
                f"'{results.name}' (its factors: {', '.join(results.factors) or 'none'}); "
                f"got {', '.join(map_factors)}"
            )
        results.analysis_dir.mkdir(parents=True, exist_ok=True)
        (results.analysis_dir / OPTIONS_FILE).write_text(
            json.dumps({"map_factors": list(map_factors)}, indent=2))
    n_rows = design_rows(results)
    summaries = []
    sobol_of: dict[str, pd.DataFrame] = {}
    for t in targets:
        tick(t.name)
        values = sa.row_means(t.table, t.column, n_rows)
        summary = {"target": t.name, "design": kind, "rows": n_rows,
                   "pairs_or_runs": int(t.table[t.column].notna().sum()),
                   "replicate_noise_share": sa.replicate_noise_share(t.table, t.column),
                   "rows_missing": int(np.sum(~np.isfinite(values))), "note": "",
                   **done.summary_columns()}
        if kind in (SOBOL, MORRIS) and results.factors:
            first = _sensitivity(results, t, n_rows, seed, report, summary)
            if first is not None:
                sobol_of[t.name] = first.assign(target=t.name)
        summaries.append(summary)
    if kind == "replicate":
        report.files.append(_write(_replicate_summary(targets),
                                   results.analysis_dir / "replicate_summary.csv"))
    if kind != "replicate" and results.factors:
        for output in results.outputs:
            report.files.append(_write(output_rows(results, output),
                                       results.analysis_dir / f"outputs_{output}.csv"))
    for t in (t for t in targets if t.is_delta or _within_run_difference(t)):
        tick(t.name)
        rows = dl.row_summary(t.table, t.column, results.design)
        report.files.append(_write(rows, results.analysis_dir / f"delta_{t.stem}.csv"))
        if kind != "replicate" and results.factors:
            _tipping(results, t, sobol_of.get(t.name), seed, report, map_factors)
    if sobol_of:
        report.sobol = pd.concat(sobol_of.values(), ignore_index=True)
    report.files.append(_write(pd.DataFrame.from_records(summaries),
                               results.analysis_dir / "summary.csv"))
    return report


def analyze_path(
    path: str | Path, *, seed: int = sa.DEFAULT_SEED,
    map_factors: tuple[str, str] | None = None, require_complete: bool = False,
    progress: Callable[[str], None] | None = None,
) -> AnalysisReport:
    """Load the experiment at ``path`` (itself or its only subdir) and analyse it."""
    return analyze_results(load_results(path, series=False), seed=seed,
                           map_factors=map_factors, require_complete=require_complete,
                           progress=progress)
