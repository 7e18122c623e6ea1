"""`relsim demo` / `make demo`: the canonical small study, end to end.

Three embedded experiment files (``experiments/studies/demo_*.toml``):

1. ``demo-series``: both regimes on a chaotic plant with daily series (the vicious
   cycle, the channel mix and the salespeople's time over a run);
2. ``demo-chaos``: a 1-D sweep of execution noise (``process_cv``), whose paired
   relationship value gives the tipping point (logistic fit over the grid, then a
   bisection with common random numbers inside the grid interval where the mean changes
   sign);
3. ``demo-sobol``: a small Sobol' sweep over eight factors.

Then `relsim analyze` and `relsim report` on the results, and a short printed summary:
relationship value by chaos level, the tipping point with its interval, the top factors,
and the paths of the figures. Sweeps resume, so a second `relsim demo` only redraws.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from relsim.analysis.analyze import analyze_path
from relsim.analysis.report import build_report
from relsim.experiments.runner import sweep
from relsim.experiments.spec import Experiment, load_experiment
from relsim.experiments.tipping import refine_tipping

STUDIES = Path(__file__).resolve().parent / "studies"
SERIES_FILE, CHAOS_FILE, SOBOL_FILE = "demo_series.toml", "demo_chaos.toml", "demo_sobol.toml"
DEMO_FILES = (SERIES_FILE, CHAOS_FILE, SOBOL_FILE)
#: The output whose relationship value the summary reports (profit first).
OUTPUT = "profit"
#: Seed of the analysis bootstraps.
ANALYSIS_SEED = 20260204
#: Bisection: bracket width as a share of the chaos range, and replicates per point at most.
WIDTH_SHARE = 0.02
MAX_REPLICATES = 32
#: The demo's promise: under ten minutes on two cores.
TIME_BUDGET_S = 600.0
TOP_FACTORS = 3
#: The printed summary is also kept beside the results.
SUMMARY_FILE = "summary.txt"
#: Without a sign change along chaos, try this many influential factors for a bisection.
MAX_FALLBACK_FACTORS = 2
#: The 2-D tipping map of the Sobol sweep: chaos against deal complexity (the article's
#: two conditions for relationship value).
MAP_FACTORS = ("process_cv", "complex_share")


def sign_change_bracket(rows: pd.DataFrame, factor: str) -> tuple[float, float] | None:
    """Return the first pair of adjacent grid levels where the mean delta changes sign."""
    data = rows.dropna(subset=["mean"]).sort_values(factor)
    x, m = data[factor].to_numpy(float), data["mean"].to_numpy(float)
    for i in range(len(x) - 1):
        if np.sign(m[i]) != np.sign(m[i + 1]) and m[i] != 0.0:
            return float(x[i]), float(x[i + 1])
    return None


def _fmt(value: float) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.3g}"


def _bisect(exp: Experiment, out: Path, workers: int | None, factor: str,
            low: float, high: float, max_replicates: int) -> tuple[str, bool]:
    """Run one refinement on the chaos experiment's scenario; describe it, and if it ran."""
    width = WIDTH_SHARE * (high - low)
    try:
        run = refine_tipping(exp, factor, output=OUTPUT, low=low, high=high, width=width,
                             max_replicates=max_replicates, out=out, workers=workers)
    except Exception as exc:  # noqa: BLE001 - report and go on: the figures still matter
        text = str(exc)
        if "same sign at both ends" in text:
            text = f"no sign change along {factor} in [{low:g}, {high:g}]"
        return text, False
    r = run.result
    state = "" if r.converged else f" ({r.note})"
    return (f"bisection along {factor}: {_fmt(r.threshold)} in bracket [{_fmt(r.ci_low)}, "
            f"{_fmt(r.ci_high)}], relationship value {r.direction} with {factor}, "
            f"{len(r.points)} points{state}"), True


def _refine(chaos: Experiment, sobol: Experiment, out: Path, workers: int | None,
            max_replicates: int = MAX_REPLICATES) -> list[str]:
    """Bisect where the relationship value changes sign.

    Along the chaos factor inside the grid interval where the mean changes sign. If it
    never does, along the most influential factor of the Sobol sweep that has a logistic
    crossing (the next one if that has no sign change on this scenario), over its Sobol
    range, on the chaos sweep's scenario (other parameters at their ``[params]`` values).
    """
    factor = chaos.factor_names[0]
    rows = pd.read_csv(out / chaos.name / "analysis" / f"delta_{OUTPUT}.csv")
    bracket = sign_change_bracket(rows, factor)
    if bracket is not None:
        return [_bisect(chaos, out, workers, factor, *bracket, max_replicates)[0]]
    sign = "positive" if (rows["mean"] > 0).all() else (
        "negative" if (rows["mean"] < 0).all() else "of mixed sign without a crossing")
    lines = [f"no sign change of the mean relationship value along {factor} in "
             f"[{rows[factor].min():g}, {rows[factor].max():g}]: it is {sign} throughout"]
    analysis = out / sobol.name / "analysis"
    tipping, indices = analysis / f"tipping_{OUTPUT}.csv", analysis / f"sobol_delta_{OUTPUT}.csv"
    if not (tipping.is_file() and indices.is_file()):
        return lines
    found = pd.read_csv(tipping)
    found = found[np.isfinite(found["threshold"]) & (found["method"] == "logistic")]
    ranked = pd.read_csv(indices).sort_values("ST", ascending=False)["factor"]
    candidates = [f for f in ranked if f in set(found["factor"])]
    for name in candidates[:MAX_FALLBACK_FACTORS]:
        spec = next(f for f in sobol.factors if f.name == name)
        text, ran = _bisect(chaos, out, workers, spec.name, spec.low, spec.high,
                            max_replicates)
        lines.append(f"on the same scenario, {text}")
        if ran:
            break
    return lines


def _chaos_summary(exp: Experiment, out: Path) -> list[str]:
    factor = exp.factor_names[0]
    analysis = out / exp.name / "analysis"
    rows = pd.read_csv(analysis / f"delta_{OUTPUT}.csv").sort_values(factor)
    lines = [f"Relationship value ({OUTPUT} per day, relationship - sacred) by {factor}:",
             f"  {factor:>12}  {'mean':>9}  95% CI over {int(rows['n'].max())} replicates"]
    for _, r in rows.iterrows():
        lines.append(f"  {r[factor]:>12.3g}  {r['mean']:>9.1f}  "
                     f"[{r['ci_low']:.1f}, {r['ci_high']:.1f}]")
    tipping = pd.read_csv(analysis / f"tipping_{OUTPUT}.csv")
    if "method" in tipping.columns:  # bisection rows are reported by `_refine`
        tipping = tipping[tipping["method"] != "bisection"]
    for _, t in tipping.iterrows():
        method = t.get("method", "logistic")
        if np.isfinite(t["threshold"]):
            lines.append(f"Tipping point along {t['factor']} ({method}): {_fmt(t['threshold'])}"
                         f", 95% interval [{_fmt(t['ci_low'])}, {_fmt(t['ci_high'])}], "
                         f"relationship value {t['direction']} with {t['factor']}")
        else:
            note = t.get("note", "")
            lines.append(f"Tipping point along {t['factor']} ({method}): none in range"
                         f"{f' ({note})' if isinstance(note, str) and note else ''}")
    return lines


def _sobol_summary(exp: Experiment, out: Path) -> list[str]:
    path = out / exp.name / "analysis" / f"sobol_delta_{OUTPUT}.csv"
    if not path.is_file():
        return [f"No Sobol indices of the {OUTPUT} relationship value (see warnings)."]
    table = pd.read_csv(path).sort_values("ST", ascending=False)
    noise = table["replicate_noise_share"].iloc[0]
    lines = [f"Top factors of the relationship value ({OUTPUT}; Sobol total index ST "
             f"+- 95% half-width; replicate noise {_fmt(100 * noise)}% of variance):"]
    for _, r in table.head(TOP_FACTORS).iterrows():
        lines.append(f"  {r['factor']:<18} ST {r['ST']:.2f} +- {r['ST_conf']:.2f}   "
                     f"S1 {r['S1']:.2f} +- {r['S1_conf']:.2f}")
    tip = out / exp.name / "analysis" / f"tipping_{OUTPUT}.csv"
    if tip.is_file():
        found = pd.read_csv(tip)
        found = found[np.isfinite(found["threshold"])]
        for _, t in found.iterrows():
            lines.append(f"  sign change along {t['factor']} (others marginalised): "
                         f"{_fmt(t['threshold'])} [{_fmt(t['ci_low'])}, {_fmt(t['ci_high'])}]"
                         f", {t['direction']}")
    return lines


def key_figures(figures: list[Path]) -> list[Path]:
    """Return the PDFs the summary names: the profit figures and the time series."""
    pdfs = sorted(p for p in figures if p.suffix == ".pdf")
    keys = ("vicious_cycle", "channel_mix", "sales_time", f"_{OUTPUT}_vs_",
            f"sobol_delta_{OUTPUT}", f"tipping_map_{OUTPUT}", f"morris_delta_{OUTPUT}",
            f"bisection_{OUTPUT}_")
    return [p for p in pdfs if any(k in p.stem for k in keys)]


def run_demo(args) -> int:
    """Run the demo study (`relsim demo`), print its summary; return the exit status."""
    return run_study([STUDIES / name for name in DEMO_FILES], Path(args.out),
                     workers=getattr(args, "workers", None))


def run_study(files: list[Path], out: Path, *, workers: int | None = None,
              max_replicates: int = MAX_REPLICATES) -> int:
    """Run a series, a 1-D chaos and a Sobol experiment file end to end and summarise.

    Args:
        files: The three experiment files, in that order (the chaos file has one factor).
        out: Results root (experiments, ``figures/`` and ``tables/`` go under it).
        workers: Worker processes (default: usable cores).
        max_replicates: Replicates per point at most in the bisection.

    Returns:
        0 when every run succeeded, 1 when some failed.
    """
    started = time.perf_counter()
    experiments = [load_experiment(path) for path in files]
    status = 0
    for exp in experiments:
        print(f"[demo] sweep {exp.name} ...", flush=True)
        summary = sweep(exp, out, workers=workers, progress=sys.stderr.isatty())
        print(f"[demo]   {summary.ok} runs ok, {summary.failed} failed, "
              f"{summary.pending} pending ({summary.elapsed_s:.0f} s)", flush=True)
        status = max(status, summary.exit_status)
    for exp in experiments:
        chosen = tuple(f for f in MAP_FACTORS if f in exp.factor_names)
        report = analyze_path(out / exp.name, seed=ANALYSIS_SEED,
                              map_factors=chosen if len(chosen) == 2 else None)
        for line in report.warnings:
            sys.stderr.write(f"relsim: warning: {exp.name}: {line}\n")
    chaos = experiments[1]
    print(f"[demo] refining the tipping point along {chaos.factor_names[0]} ...", flush=True)
    refined = _refine(chaos, experiments[2], out, workers, max_replicates)
    result = build_report(out, seed=ANALYSIS_SEED)
    for line in result.warnings:
        sys.stderr.write(f"relsim: warning: {line}\n")
    elapsed = time.perf_counter() - started
    lines = ["", "=== relsim demo: summary ==="]
    lines += _chaos_summary(chaos, out)
    lines += [f"  {line}" for line in refined]
    lines += _sobol_summary(experiments[2], out)
    keys = key_figures(result.figures)
    lines.append(f"Figures: {len(result.figures) // 2} as PDF and 300 dpi PNG in "
                 f"{result.figure_dir}; the main ones:")
    lines += [f"  {p}" for p in keys]
    lines.append(f"Tables (CSV and LaTeX) in {result.table_dir}")
    budget = "" if elapsed <= TIME_BUDGET_S else f" (over the {TIME_BUDGET_S:.0f} s budget)"
    lines.append(f"Done in {elapsed:.0f} s{budget}.")
    text = "\n".join(lines)
    print(text)
    (out / SUMMARY_FILE).write_text(text.lstrip("\n") + "\n")
    return status
