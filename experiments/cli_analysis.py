"""Subcommands `analyze`, `report`, `tipping` and `demo`.

``relsim analyze DIR`` and ``relsim report DIR`` accept DIR either as one experiment
directory (it contains ``manifest.json``) or as a parent directory whose subdirectories
are experiments (``data/results`` after ``relsim sweep``): every experiment found is
analysed, and the report gathers the figures of all of them under ``DIR/figures``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from relsim.experiments.errors import UserError
from relsim.experiments.progress import Progress

DEFAULT_SEED = 20240611
DEFAULT_WIDTH_SHARE = 0.02


def register(sub) -> None:
    """Register the analysis subcommands."""
    p = sub.add_parser(
        "analyze", help="sensitivity indices, paired deltas and tipping points",
        description="Analyse stored results: Sobol or Morris indices of every output and "
        "paired delta (replicate means per design row, with the replicate noise share), "
        "per-row deltas with 95% intervals, logistic tipping points with bootstrap "
        "intervals and a 2-D tipping map. DIR is one experiment directory (holding "
        "manifest.json) or a parent of experiment directories. Writes "
        "<experiment>/analysis/*.csv.",
    )
    p.add_argument("dir", metavar="DIR", help="experiment directory or its parent")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED,
                   help="seed of every bootstrap (default %(default)s)")
    p.add_argument("--map", nargs=2, metavar=("X", "Y"), default=None,
                   help="the two factors of the 2-D tipping map (default: the two most "
                   "influential, by total Sobol index of the delta)")
    p.add_argument("--require-complete", action="store_true",
                   help="exit with status 2 (writing nothing) unless every run of the "
                   "design is stored as ok; by default an incomplete sweep is analysed "
                   "with what is stored, with a warning")
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser(
        "report", help="figures and tables for a paper",
        description="Draw every figure (PDF and 300 dpi PNG, with its caption in Markdown "
        "and LaTeX) and table (CSV and LaTeX) "
        "from stored results alone, analysing first where the analysis is missing. DIR "
        "is one experiment directory or a parent of several; writes DIR/figures and "
        "DIR/tables.",
    )
    p.add_argument("dir", metavar="DIR", help="experiment directory or its parent")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED,
                   help="seed of the analysis bootstraps, if it must be run")
    p.add_argument("--require-complete", action="store_true",
                   help="exit with status 2 (drawing nothing) unless every run of every "
                   "experiment is stored as ok; by default an incomplete sweep is drawn and "
                   "its figures and tables are marked 'incomplete: K of N runs'")
    p.add_argument("--document", action="store_true",
                   help="also write DIR/results.md and a standalone DIR/results.html (images "
                   "embedded): every figure with its caption, the key tables, the sensitivity "
                   "ranking, the tipping points and a methods paragraph from the manifests")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "tipping", help="bisect along one factor to the sign change of the compared delta",
        description="Refine a tipping point: bisect along one factor or axis (the other "
        "parameters at their values in the experiment file, or as given with --set) with "
        "replicates and common random numbers until the bracket around the sign change of "
        "the mean paired value of a comparison (or contrast) is narrower than --width; with "
        "--by, once per level of a second factor. Writes "
        "<out>/<name>/analysis/tipping_<output>.csv (tipping_<compare>_<output>.csv for a "
        "comparison not named delta).",
    )
    p.add_argument("experiment", metavar="EXP.toml", help="experiment file with [compare]")
    p.add_argument("--factor", required=True,
                   help="the factor to bisect along: a parameter or an axis of [axes]")
    p.add_argument("--compare", default=None, metavar="NAME",
                   help="the comparison or contrast to follow (default: the only one, else "
                   "'delta')")
    p.add_argument("--set", action="append", default=None, metavar="NAME=VALUE",
                   help="hold another parameter (or axis) at a value (repeatable); recorded "
                   "in the output table's 'fixed' column")
    p.add_argument("--by", default=None, metavar="F[=V1,V2,...]",
                   help="one tipping point per level of a second factor F (levels as "
                   "listed; without them the file's grid values of F, else the low, middle "
                   "and high end of its range)")
    p.add_argument("--output", default=None,
                   help="output whose delta is bisected (default: profit if requested, "
                   "else the first output)")
    p.add_argument("--low", type=float, default=None,
                   help="lower end of the search (default: the factor's range in the file)")
    p.add_argument("--high", type=float, default=None, help="upper end of the search")
    p.add_argument("--width", type=float, default=None,
                   help=f"stop when the bracket is narrower than this (default "
                   f"{100 * DEFAULT_WIDTH_SHARE:g}%% of the range)")
    p.add_argument("--replicates", type=int, default=None,
                   help="replicates per point to start with (default: the file's)")
    p.add_argument("--max-replicates", type=int, default=32,
                   help="replicates per point at most (default %(default)s)")
    p.add_argument("--out", default=None, help="results directory (default data/results)")
    p.add_argument("--workers", type=int, default=None,
                   help="worker processes (default: the usable cores; 1 runs in-process)")
    p.set_defaults(func=cmd_tipping)

    p = sub.add_parser(
        "demo", help="the canonical small study, end to end",
        description="Run the canonical small study: time series of both regimes, a 1-D "
        "chaos sweep with its tipping point, a small Sobol sweep, their analysis and "
        "report; ends with a short summary and the paths of the figures.",
    )
    p.add_argument("--out", default="data/demo", help="output directory (default %(default)s)")
    p.add_argument("--workers", type=int, default=None,
                   help="parallel workers (default: all cores)")
    p.set_defaults(func=cmd_demo)


def _experiments(path: str) -> list[Path]:
    from relsim.analysis.io import find_experiments

    return find_experiments(path)


def cmd_analyze(args) -> int:
    """Run `relsim analyze`."""
    from relsim.analysis.analyze import analyze_path, check_complete
    from relsim.analysis.io import load_results

    experiments = _experiments(args.dir)
    if args.require_complete:  # refuse before writing anything
        for exp in experiments:
            check_complete(load_results(exp, series=False))
    for exp in experiments:
        with Progress(f"analyze {exp.name}", unit="target") as bar:
            report = analyze_path(exp, seed=args.seed,
                                  map_factors=tuple(args.map) if args.map else None,
                                  progress=bar.step)
        print(f"{report.experiment}: wrote {len(report.files)} files to {report.directory}")
        done = report.completeness
        if done is not None and not done.complete:
            print(f"{report.experiment}: {done.note()}")
        for line in report.warnings:
            sys.stderr.write(f"relsim: warning: {report.experiment}: {line}\n")
    return 0


def cmd_report(args) -> int:
    """Run `relsim report`."""
    from relsim.analysis.report import build_report

    with Progress("report", unit="experiment") as bar:
        result = build_report(args.dir, seed=args.seed,
                              require_complete=args.require_complete, progress=bar.step,
                              document=args.document)
    for line in result.warnings:
        sys.stderr.write(f"relsim: warning: {line}\n")
    print(f"wrote {len(result.figures) // 2} figures (PDF and PNG) with captions (Markdown "
          f"and LaTeX) to {result.figure_dir}")
    print(f"wrote {len(result.tables)} tables to {result.table_dir}")
    for path in result.document:
        print(f"wrote the results document {path}")
    return 0


def cmd_tipping(args) -> int:
    """Run `relsim tipping`."""
    from relsim.experiments.tipping import run_tipping

    run_tipping(args)
    return 0


def cmd_demo(args) -> int:
    """Run `relsim demo`."""
    try:
        from relsim.experiments.demo import run_demo
    except ImportError as exc:  # pragma: no cover - only while the model is missing
        raise UserError(f"the demo needs the model and the sweep runner: {exc}") from None
    return run_demo(args)
