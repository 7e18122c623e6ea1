"""``relsim sweep --dry-run``: what a sweep would do and how long it would take.

Prints the design's size, the runs it implies (and how many are already stored, so a
resumed sweep's remainder), times a few runs in this process and extrapolates. Writes
nothing: no results directory, manifest, design or part is created (the store is only
read, if it exists).

The timed runs are spread evenly over the runs still to do (a design's run time varies
with its factors) and the estimate uses their median (the first run of a process also
pays for imports). The extrapolation assumes the workers scale linearly, which the
runner's benchmarks show for the local executor (1.8-1.9x on 2 cores).
"""

from __future__ import annotations

import argparse
import statistics
import textwrap
import time
from pathlib import Path

#: Runs timed by default before extrapolating.
DEFAULT_TIMED_RUNS = 5


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _spread(items: list, k: int) -> list:
    """The middle items of ``k`` equal slices of ``items`` (all of them when fewer).

    Middles, not ends: the first and last rows of a design are often its extremes (a
    Sobol' design starts at the corner of the space), which would bias the estimate.
    """
    if k <= 0 or not items:
        return []
    if len(items) <= k:
        return list(items)
    return [items[int((i + 0.5) * len(items) / k)] for i in range(k)]


def dry_run(args: argparse.Namespace) -> int:
    """Describe the sweep of ``args.experiment`` without writing anything."""
    from relsim.experiments.design import build_design
    from relsim.experiments.executors import default_workers
    from relsim.experiments.runner import (
        TaskFactory,
        param_columns,
        run_keys,
        run_rules,
        shard_dir,
    )
    from relsim.experiments.spec import load_experiment
    from relsim.experiments.store import ResultStore
    from relsim.experiments.worker import resolve, run_one

    exp = load_experiment(args.experiment)
    design = build_design(exp)
    regimes = exp.regime_names
    keys = list(run_keys(len(design), exp.replicates, regimes, args.shard))
    root = Path(args.out) / exp.name
    store = ResultStore(shard_dir(root, args.shard) if args.shard else root)
    stored = store.finished_keys(include_failed=True) if store.runs_dir.is_dir() else set()
    ok = store.finished_keys(include_failed=False) if stored else set()
    done = ok if args.retry_failed else stored
    pending = [k for k in keys if k not in done]
    n_regimes = len(exp.regimes) or 1

    print(f"dry run of {exp.name} ({args.experiment}); nothing is written")
    size = f"design: {exp.design}, {len(design):,} rows"
    if exp.samples is not None:
        size += f" (samples = {exp.samples:,})"
    size += f", {len(exp.factors)} factors"
    print(size)
    where = f" in shard {args.shard[0]}/{args.shard[1]}" if args.shard else ""
    print(f"runs: {len(design):,} rows x {exp.replicates} replicates x {n_regimes} "
          f"regime{'s' if n_regimes > 1 else ''} = "
          f"{len(design) * exp.replicates * n_regimes:,}"
          + (f"; {len(keys):,}{where}" if args.shard else ""))
    stored_here = len([k for k in keys if k in stored])
    print(f"stored: {stored_here:,} ({len([k for k in keys if k in ok]):,} ok); "
          f"to run: {len(pending):,} -> {store.root}")

    sample = _spread(pending, args.time_runs)
    if not sample:
        print("nothing to time" if not pending else "no runs timed (--time-runs 0)")
        return 0
    make_task = TaskFactory(exp, design)
    fn = resolve(exp.model)
    # the sweep's own rules: reserved names, analysed outputs finite, undefined outputs
    # allowed NaN, the run timeout (--timeout, else the file's timeout_s)
    timeout = args.timeout if args.timeout is not None else getattr(exp, "timeout_s", None)
    rules = run_rules(exp, param_columns(exp), timeout)
    times, failures = [], []
    for key in sample:
        start = time.perf_counter()
        record = run_one(fn, make_task(key), exp.series, **rules)
        times.append(time.perf_counter() - start)
        if record.status != "ok":
            failures.append((key, record.error))
    # the mean, not the median: the total is the sum of the runs' times, and run times are
    # skewed (long runs at high load or with many customers)
    per_run = statistics.fmean(times)
    print(f"timed {len(times)} runs: {per_run:.3g} s per run (mean; median "
          f"{statistics.median(times):.3g} s, {min(times):.3g} to {max(times):.3g} s)")
    for key, error in failures:
        print(f"  run row {key[0]}, replicate {key[1]}"
              + (f", regime {key[2]}" if key[2] else "")
              + f" failed: {textwrap.shorten(error, 200)}")
    if args.executor == "dask" or args.scheduler:
        print(f"estimate: {_duration(len(pending) * per_run)} of compute "
              f"({len(pending):,} runs x {per_run:.3g} s), divided by the Dask workers")
        return 0
    workers = 1 if args.executor == "serial" else (args.workers or default_workers())
    total = len(pending) * per_run / workers
    print(f"estimate: {_duration(total)} with {workers} worker{'s' if workers > 1 else ''} "
          f"({len(pending):,} runs x {per_run:.3g} s / {workers}; assumes linear scaling)")
    return 0
