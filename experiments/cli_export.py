"""Subcommand `export`: the runs table as CSV, for R, Excel, NetLogo and other tools.

``relsim export DIR --csv`` writes ``<experiment>/export/runs.csv`` for every experiment
under DIR (one experiment directory or a parent of several): one line per run, the
columns of the runs table (``row, replicate, regime, seed``, the parameters, the outputs,
``status, error, wall_s``), sorted by run key. UTF-8, comma-separated, a header line,
full float precision (values read back identical), an empty field for a missing value
(a failed run's outputs), RFC 4180 quoting. ``--series`` also writes the daily series.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from relsim.experiments.errors import UserError

EXPORT_DIR = "export"


def _experiments(path: str) -> list[Path]:
    from relsim.analysis.io import find_experiments

    try:
        return find_experiments(path)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def _write(frame, target: str | Path) -> None:
    if str(target) == "-":
        frame.to_csv(sys.stdout, index=False, lineterminator="\n")
        return
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    frame.to_csv(tmp, index=False, lineterminator="\n", encoding="utf-8")
    tmp.replace(path)


def cmd_export(args: argparse.Namespace) -> int:
    """Write the runs table (and optionally the series) of each experiment as CSV."""
    import pandas as pd
    from relsim.experiments.store import KEY, SERIES, read_runs

    experiments = _experiments(args.dir)
    if args.output and len(experiments) > 1:
        raise UserError(f"--output names one file, but '{args.dir}' holds "
                        f"{len(experiments)} experiments; give one experiment directory")
    if args.output == "-" and args.series:
        raise UserError("--series writes files; it cannot go with --output -")
    for exp in experiments:
        runs = read_runs(exp, failed=not args.ok_only)
        target = args.output or exp / EXPORT_DIR / "runs.csv"
        _write(runs, target)
        if str(target) != "-":
            print(f"{exp.name}: {len(runs):,} runs -> {target}", file=sys.stderr)
        if args.series:
            parts = sorted((exp / SERIES).glob("*.parquet"))
            if not parts:
                print(f"{exp.name}: no daily series stored (set series = true in "
                      "[experiment])", file=sys.stderr)
                continue
            series = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
            keys = [k for k in (*KEY, "day") if k in series.columns]
            series = series.sort_values(keys, kind="stable")
            if args.ok_only:
                ok = runs[list(KEY)]
                series = series.merge(ok, on=list(KEY), how="inner")
            target = exp / EXPORT_DIR / "series.csv"
            _write(series, target)
            print(f"{exp.name}: {len(series):,} series lines -> {target}", file=sys.stderr)
    return 0


def register(sub) -> None:
    """Register the `export` subcommand."""
    p = sub.add_parser(
        "export", help="write the runs table as CSV (R, Excel, NetLogo users)",
        description="Write each experiment's runs table as CSV: one line per run with its "
        "key (row, replicate, regime), seed, parameters, outputs, status, error and "
        "wall time. DIR is one experiment directory or a parent of several; the file goes "
        "to <experiment>/export/runs.csv unless --output is given.")
    p.add_argument("dir", metavar="DIR", help="experiment directory or its parent")
    p.add_argument("--csv", action="store_true", default=True,
                   help="CSV (the default and, for now, only format)")
    p.add_argument("-o", "--output", default=None, metavar="FILE",
                   help="write to FILE ('-' for standard output); one experiment only")
    p.add_argument("--ok-only", action="store_true",
                   help="leave out runs whose status is not ok")
    p.add_argument("--series", action="store_true",
                   help="also write the daily series to <experiment>/export/series.csv")
    p.set_defaults(func=cmd_export)
