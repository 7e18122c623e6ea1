"""`relsim demo` / `make demo`: the canonical small study of model version 2, end to end.

Seven embedded experiment files (``experiments/studies/demo_*.toml``) answer the research
question in the terms of MODEL.md "Version 2":

1. ``demo-series``: the vicious cycle over time (status quo, transactional selling and the
   sacred remedy on a chaotic plant, daily series);
2. ``demo-chaos``: the six regimes along a 1-D chaos axis (execution noise, disruptions and
   load together): the firm's relationship value in a breakable and in a sacred plant, the
   remedy value, their contrast, and the salesperson's view within mixed plants;
3. ``demo-chaos-ordinary``: the same with ordinary deals only (``complex_share`` = 0);
4. ``demo-complexity``: the six regimes along the share of complex deals;
5. ``demo-levers``: the remedy value and each of its levers alone;
6. ``demo-map``: the firm's relationship value over chaos x deal complexity (2-D map);
7. ``demo-sobol``: Sobol' indices of the firm's relationship value.

Then `relsim analyze` and `relsim report`, a bisection (common random numbers) wherever a
relationship value changes sign along chaos or complexity, and a printed summary (also
written to ``summary.txt``): every estimate with its 95% interval, the tipping points (or
their absence, said plainly), the paired SD of the profit difference and the replicates
needed to resolve 2% of profit. Sweeps resume, so a second `relsim demo` only redraws.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from relsim.analysis.analyze import analyze_path
from relsim.analysis.report import build_report
from relsim.experiments.runner import sweep
from relsim.experiments.spec import Experiment, load_experiment
from relsim.experiments.store import read_runs
from relsim.experiments.tipping import refine_tipping

STUDIES = Path(__file__).resolve().parent / "studies"
SERIES_FILE = "demo_series.toml"
CHAOS_FILE = "demo_chaos.toml"
ORDINARY_FILE = "demo_chaos_ordinary.toml"
COMPLEXITY_FILE = "demo_complexity.toml"
LEVERS_FILE = "demo_levers.toml"
MAP_FILE = "demo_map.toml"
SOBOL_FILE = "demo_sobol.toml"
DEMO_FILES = (SERIES_FILE, CHAOS_FILE, ORDINARY_FILE, COMPLEXITY_FILE, LEVERS_FILE,
              MAP_FILE, SOBOL_FILE)
#: The output whose values the summary reports (profit first).
OUTPUT = "profit"
#: The salesperson's view: margin per customer-day, relationship-style minus transactional
#: customers within one plant.
SALESPERSON_VIEW = "style_margin_per_customer_day_diff"
#: Seed of the analysis bootstraps.
ANALYSIS_SEED = 20260204
#: Bisection: bracket width as a share of the factor's range, replicates per point at most.
WIDTH_SHARE = 0.02
MAX_REPLICATES = 48
#: The demo's promise: under ten minutes on two cores.
TIME_BUDGET_S = 600.0
TOP_FACTORS = 4
#: The effect the demo must resolve, as a share of profit (issue: 2%).
RESOLVE_SHARE = 0.02
#: The printed summary is also kept beside the results.
SUMMARY_FILE = "summary.txt"
#: The 2-D tipping map's factors in each experiment that has both.
MAP_FACTORS = ("chaos", "complex_share")
#: Comparisons whose sign changes are refined by bisection.
FIRM_VIEWS = ("relationship_value", "relationship_value_sacred")


def sign_change_bracket(rows: pd.DataFrame, factor: str) -> tuple[float, float] | None:
    """The narrowest pair of levels around the first sign change whose signs are resolved.

    Walks the levels in order; the bracket runs from the last level whose 95% interval
    excludes zero with the starting sign to the first later level whose interval excludes
    zero with the other sign. Levels whose interval spans zero lie inside the bracket, so
    a bisection started on it finds the paired values of opposite signs at its ends.
    Without interval columns, adjacent levels whose means differ in sign. None when no
    resolved sign change exists.
    """
    data = rows.dropna(subset=["mean"]).sort_values(factor)
    x, m = data[factor].to_numpy(float), data["mean"].to_numpy(float)
    if not {"ci_low", "ci_high"} <= set(data.columns):
        for i in range(len(x) - 1):
            if np.sign(m[i]) != np.sign(m[i + 1]) and m[i] != 0.0:
                return float(x[i]), float(x[i + 1])
        return None
    lo, hi = data["ci_low"].to_numpy(float), data["ci_high"].to_numpy(float)
    sign = np.where(lo > 0, 1, np.where(hi < 0, -1, 0))
    start = None
    for i, s in enumerate(sign):
        if s == 0:
            continue
        if start is not None and s != sign[start]:
            return float(x[start]), float(x[i])
        start = i
    return None


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{digits}g}"


def _money(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:+.0f}"


def _read(path: Path) -> pd.DataFrame | None:
    return pd.read_csv(path) if path.is_file() else None


def _sign_words(rows: pd.DataFrame) -> str:
    """Where the per-level intervals lie: above zero, below, or spanning it."""
    above = int((rows["ci_low"] > 0).sum())
    below = int((rows["ci_high"] < 0).sum())
    n = len(rows)
    return (f"interval above zero at {above} of {n} levels, below zero at {below}, "
            f"spanning zero at {n - above - below}")


def _value_table(rows: pd.DataFrame, factor: str, title: str) -> list[str]:
    """A per-level table of a difference's mean and 95% interval."""
    rows = rows.sort_values(factor)
    lines = [title, f"  {factor:>14}  {'mean':>8}  95% CI ({int(rows['n'].max())} replicates)"]
    for _, r in rows.iterrows():
        lines.append(f"  {r[factor]:>14.3g}  {_money(r['mean']):>8}  "
                     f"[{_money(r['ci_low'])}, {_money(r['ci_high'])}]")
    lines.append(f"  ({_sign_words(rows)})")
    return lines


def _tipping_lines(path: Path, what: str) -> list[str]:
    """The logistic and bisection tipping points of one tipping file, in words."""
    table = _read(path)
    if table is None or table.empty:
        return [f"  tipping point of {what}: not estimated (no file)"]
    lines = []
    for _, t in table.iterrows():
        method = t.get("method", "logistic")
        if np.isfinite(t["threshold"]):
            lines.append(f"  tipping point of {what} along {t['factor']} ({method}): "
                         f"{_fmt(t['threshold'])}, 95% interval [{_fmt(t['ci_low'])}, "
                         f"{_fmt(t['ci_high'])}], the value {t['direction']} with "
                         f"{t['factor']}")
        else:
            note = t.get("note", "")
            note = f" ({note})" if isinstance(note, str) and note else ""
            lines.append(f"  tipping point of {what} along {t['factor']} ({method}): none in "
                         f"range{note}")
    return lines


def _bisect(exp: Experiment, out: Path, workers: int | None, factor: str, compare: str,
            low: float, high: float, max_replicates: int) -> str:
    """Refine one sign change by bisection with common random numbers; describe it."""
    try:
        run = refine_tipping(exp, factor, output=OUTPUT, low=low, high=high,
                             width=WIDTH_SHARE * (high - low), compare=compare,
                             max_replicates=max_replicates, out=out, workers=workers)
    except Exception as exc:  # noqa: BLE001 - report and go on: the figures still matter
        text = str(exc)
        if "same sign at both ends" in text:
            text = f"the paired values have the same sign at {low:g} and {high:g}"
        return f"  bisection of {compare} along {factor}: not done ({text})"
    r = run.result
    state = "" if r.converged else f" ({r.note})"
    return (f"  bisection of {compare} along {factor}: {_fmt(r.threshold)}, bracket "
            f"[{_fmt(r.ci_low)}, {_fmt(r.ci_high)}], the value {r.direction} with {factor}, "
            f"{len(r.points)} points{state}")


def _firm_view(exp: Experiment, out: Path, workers: int | None, max_replicates: int,
               refine: bool) -> list[str]:
    """Per-level firm's views, remedy value, contrast and their tipping points."""
    factor = exp.factor_names[0]
    analysis = out / exp.name / "analysis"
    lines: list[str] = []
    titles = {
        "relationship_value": "firm's relationship value, breakable plant "
                              "(relationship - transactional)",
        "relationship_value_sacred": "firm's relationship value, sacred plant "
                                     "(sacred_relationship - sacred)",
        "sacred_minus_breakable": "does a sacred plant shrink it? (sacred-plant value - "
                                  "breakable-plant value)",
        "remedy_value": "remedy value (sacred - relationship)",
    }
    for name, title in titles.items():
        rows = _read(analysis / f"delta_{name}_{OUTPUT}.csv")
        if rows is None:
            continue
        lines += _value_table(rows, factor, f"{exp.name}: {title}, {OUTPUT} per day")
        if name in FIRM_VIEWS or name == "sacred_minus_breakable":
            lines += _tipping_lines(analysis / f"tipping_{name}_{OUTPUT}.csv", name)
        bracket = sign_change_bracket(rows, factor)
        if refine and name in FIRM_VIEWS and bracket is not None:
            print(f"[demo] bisection of {name} along {factor} in {bracket} ...", flush=True)
            lines.append(_bisect(exp, out, workers, factor, name, *bracket, max_replicates))
    for regime in ("mixed", "sacred_mixed"):
        rows = _read(analysis / f"delta_{SALESPERSON_VIEW}_{regime}.csv")
        if rows is None:
            continue
        lines += _value_table(rows, factor, f"{exp.name}: the salesperson's view in a "
                              f"{regime} plant (margin per customer-day, relationship-style "
                              "minus transactional customers)")
        lines += _tipping_lines(analysis / f"tipping_{SALESPERSON_VIEW}_{regime}.csv",
                                f"the salesperson's view ({regime})")
    return lines


def _series_summary(exp: Experiment, out: Path) -> list[str]:
    """The vicious cycle in numbers: each regime's KPIs over the measured days."""
    runs = read_runs(out / exp.name, failed=False)
    cols = ["buffer_final", "quoted_lead_time_mean", "otd", "otd_need", "lost_orders",
            "sales_firefighting_share", "share_online", "profit"]
    cols = [c for c in cols if c in runs.columns]
    means = runs.groupby("regime")[cols].mean()
    lines = [f"{exp.name}: the vicious cycle on a chaotic plant (means over "
             f"{runs.groupby('regime').size().min()} replicates)",
             "  " + f"{'regime':<14}" + "".join(f"{c[:12]:>13}" for c in cols)]
    for regime, r in means.iterrows():
        lines.append("  " + f"{regime:<14}" + "".join(f"{r[c]:>13.3g}" for c in cols))
    return lines


def _levers_summary(exp: Experiment, out: Path) -> list[str]:
    """The remedy value and each lever alone, per chaos level."""
    analysis = out / exp.name / "analysis"
    factor = exp.factor_names[0]
    lines = [f"{exp.name}: remedy value and each lever alone ({OUTPUT} per day vs the "
             "status quo; mean [95% CI])"]
    for name in exp.comparisons:
        rows = _read(analysis / f"delta_{name}_{OUTPUT}.csv")
        if rows is None:
            continue
        cells = [f"{factor} {r[factor]:g}: {_money(r['mean'])} [{_money(r['ci_low'])}, "
                 f"{_money(r['ci_high'])}]" for _, r in rows.sort_values(factor).iterrows()]
        lines.append(f"  {name:<22} " + "; ".join(cells))
    return lines


def _sobol_summary(exp: Experiment, out: Path) -> list[str]:
    path = out / exp.name / "analysis" / f"sobol_relationship_value_{OUTPUT}.csv"
    if not path.is_file():
        return [f"No Sobol indices of the {OUTPUT} relationship value (see warnings)."]
    table = pd.read_csv(path).sort_values("ST", ascending=False)
    noise = table["replicate_noise_share"].iloc[0]
    lines = [f"{exp.name}: top factors of the firm's relationship value ({OUTPUT}; Sobol "
             f"total index ST +- 95% half-width; seed noise {_fmt(100 * noise)}% of variance)"]
    for _, r in table.head(TOP_FACTORS).iterrows():
        lines.append(f"  {r['factor']:<24} ST {r['ST']:.2f} +- {r['ST_conf']:.2f}   "
                     f"S1 {r['S1']:.2f} +- {r['S1_conf']:.2f}")
    return lines


def paired_sd_lines(exp: Experiment, out: Path) -> list[str]:
    """Paired SD of the profit difference and the replicates needed to resolve 2%.

    For each comparison: the SD over replicates of the paired profit difference, pooled
    over design rows, the mean profit of its second regime, and the replicates n that make
    the 95% half-width ``t * SD / sqrt(n)`` at most 2% of that profit.
    """
    runs = read_runs(out / exp.name, failed=False)
    lines = [f"Resolution ({exp.name}, paired by seed): SD of the {OUTPUT} difference "
             f"pooled over levels, and replicates for a 95% half-width of "
             f"{100 * RESOLVE_SHARE:g}% of {OUTPUT}"]
    for name, (a, b) in exp.comparisons.items():
        pa = runs[runs["regime"] == a].set_index(["row", "replicate"])[OUTPUT]
        pb = runs[runs["regime"] == b].set_index(["row", "replicate"])[OUTPUT]
        diff = (pa - pb).dropna()
        if diff.empty:
            continue
        sd = float(np.sqrt(diff.groupby(level="row").var(ddof=1).mean()))
        level = float(pb.mean())
        target = RESOLVE_SHARE * abs(level)
        n_have = int(diff.groupby(level="row").size().min())
        need = math.ceil((1.96 * sd / target) ** 2) if target > 0 else math.nan
        lines.append(f"  {name:<26} SD {sd:6.0f} per day; {b} profit {level:6.0f}; 2% = "
                     f"{target:4.0f}; needs about {need} replicates (demo: {n_have})")
    return lines


def run_demo(args) -> int:
    """Run the demo study (`relsim demo`), print its summary; return the exit status."""
    return run_study([STUDIES / name for name in DEMO_FILES], Path(args.out),
                     workers=getattr(args, "workers", None))


def run_study(files: list[Path], out: Path, *, workers: int | None = None,
              max_replicates: int = MAX_REPLICATES) -> int:
    """Run the demo's experiment files end to end and summarise.

    Args:
        files: The experiment files, in the order of `DEMO_FILES`.
        out: Results root (experiments, ``figures/`` and ``tables/`` go under it).
        workers: Worker processes (default: usable cores).
        max_replicates: Replicates per point at most in a bisection.

    Returns:
        0 when every run succeeded, 1 when some failed.
    """
    started = time.perf_counter()
    exps = dict(zip(DEMO_FILES, (load_experiment(path) for path in files), strict=True))
    status = 0
    for exp in exps.values():
        print(f"[demo] sweep {exp.name} ...", flush=True)
        summary = sweep(exp, out, workers=workers, progress=sys.stderr.isatty())
        print(f"[demo]   {summary.ok} runs ok, {summary.failed} failed, "
              f"{summary.pending} pending ({summary.elapsed_s:.0f} s)", flush=True)
        status = max(status, summary.exit_status)
    for exp in exps.values():
        chosen = tuple(f for f in MAP_FACTORS if f in exp.factor_names)
        report = analyze_path(out / exp.name, seed=ANALYSIS_SEED,
                              map_factors=chosen if len(chosen) == 2 else None)
        for line in report.warnings:
            sys.stderr.write(f"relsim: warning: {exp.name}: {line}\n")
    lines = ["", "=== relsim demo: summary ==="]
    lines += _series_summary(exps[SERIES_FILE], out)
    lines += _levers_summary(exps[LEVERS_FILE], out)
    for key in (CHAOS_FILE, ORDINARY_FILE, COMPLEXITY_FILE):
        lines += _firm_view(exps[key], out, workers, max_replicates, refine=True)
    map_rows = _read(out / exps[MAP_FILE].name / "analysis"
                     / f"tipping_map_relationship_value_{OUTPUT}.csv")
    if map_rows is not None:
        lines.append(f"{exps[MAP_FILE].name}: 2-D map of the firm's relationship value over "
                     f"chaos x complex_share in tipping_map_relationship_value_{OUTPUT}.csv")
    lines += _sobol_summary(exps[SOBOL_FILE], out)
    lines += paired_sd_lines(exps[CHAOS_FILE], out)
    result = build_report(out, seed=ANALYSIS_SEED, document=True)
    for line in result.warnings:
        sys.stderr.write(f"relsim: warning: {line}\n")
    elapsed = time.perf_counter() - started
    lines.append(f"Figures: {len(result.figures) // 2} as PDF and 300 dpi PNG in "
                 f"{result.figure_dir}; tables (CSV and LaTeX) in {result.table_dir}")
    lines += [f"Results document: {p}" for p in result.document]
    budget = "" if elapsed <= TIME_BUDGET_S else f" (over the {TIME_BUDGET_S:.0f} s budget)"
    lines.append(f"Done in {elapsed:.0f} s{budget}.")
    text = "\n".join(lines)
    print(text)
    (out / SUMMARY_FILE).write_text(text.lstrip("\n") + "\n")
    return status
