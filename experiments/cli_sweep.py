"""Subcommands `sweep`, `merge` and `slurm`.

Heavy modules (pandas, SALib, Dask) are imported inside the commands so that other
subcommands start fast.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import textwrap
import threading
from pathlib import Path

from relsim.experiments.errors import UserError

DEFAULT_OUT = "data/results"
DEFAULT_SLURM_TIME = "04:00:00"
DEFAULT_SLURM_CPUS = 1
DEFAULT_SLURM_MEM = "4G"


def _shard(text: str) -> tuple[int, int]:
    from relsim.experiments.runner import parse_shard

    try:
        return parse_shard(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _max_failures(text: str) -> float:
    from relsim.experiments.runner import parse_max_failures

    try:
        return parse_max_failures(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(sub) -> None:
    """Register the sweep subcommands."""
    p = sub.add_parser(
        "sweep", help="run an experiment file (resumes by default)",
        description="Run every run of an experiment file and store it under OUT/<name>/. "
                    "Finished runs are skipped, so rerunning resumes an interrupted sweep. "
                    "Exit status: 0 all runs ok, 1 some runs failed, are invalid or "
                    "pending, 2 bad input (also: another sweep holds the directory, a stored "
                    "file is damaged, or the model's code changed since the stored runs).")
    p.add_argument("experiment", metavar="EXP.toml", help="experiment file")
    p.add_argument("--workers", type=_positive, default=None,
                   help="worker processes (default: the usable cores; 1 runs in-process)")
    p.add_argument("--executor", choices=("serial", "local", "dask"), default="local",
                   help="serial (in-process), local (process pool, default) or dask")
    p.add_argument("--scheduler", metavar="ADDR", default=None,
                   help="address of a running Dask scheduler (implies --executor dask); "
                        "see docs/CLUSTER.md for SLURM/PBS through dask-jobqueue")
    p.add_argument("--shard", type=_shard, metavar="I/N", default=None,
                   help="run only shard I of N (0-based; rows with row %% N == I), into "
                        "OUT/<name>/shards/; combine with 'relsim merge'")
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                   help=f"results root (default {DEFAULT_OUT})")
    p.add_argument("--retry-failed", action="store_true",
                   help="rerun runs stored as failed or invalid")
    p.add_argument("--timeout", type=_seconds, default=None, metavar="SECONDS",
                   help="per-run time limit; a longer run is stored as failed (overrides "
                        "the experiment file's timeout_s)")
    p.add_argument("--max-failures", type=_max_failures, default=None, metavar="N|SHARE",
                   help="stop early once N runs failed (e.g. 10), or once more than a share "
                        "of the runs done failed (e.g. 0.2, checked after 20 runs); the "
                        "first errors are shown; finished runs are kept")
    p.add_argument("--allow-code-change", action="store_true",
                   help="resume even though the model's code changed since the stored runs "
                        "were computed (recorded in manifest.json)")
    p.add_argument("--quiet", action="store_true",
                   help="no progress display (for batch jobs); the summary is still printed")
    p.add_argument("--dry-run", action="store_true",
                   help="print the design size, the runs (stored, still to do) and an "
                   "estimated time from a few timed runs; write nothing")
    p.add_argument("--time-runs", type=int, default=None, metavar="K",
                   help="with --dry-run: runs to time in this process (default 5; 0 for "
                   "none)")
    p.set_defaults(func=cmd_sweep)

    m = sub.add_parser("merge", help="combine shard outputs into DIR/<name>/runs/",
                       description="Combine the shards written by 'relsim sweep --shard I/N'. "
                                   "DIR is OUT/<name> or OUT. Idempotent.")
    m.add_argument("directory", metavar="DIR")
    m.set_defaults(func=cmd_merge)

    s = sub.add_parser("slurm", help="write a SLURM job-array script for a sweep",
                       description="Write an sbatch script whose array task "
                                   "$SLURM_ARRAY_TASK_ID runs shard I of N; then run "
                                   "'relsim merge OUT/<name>'.")
    s.add_argument("experiment", metavar="EXP.toml")
    s.add_argument("--shards", type=_positive, required=True, help="array size N")
    s.add_argument("--out", default=DEFAULT_OUT, metavar="DIR")
    s.add_argument("--script", default=None, metavar="FILE",
                   help="where to write the script (default OUT/<name>/slurm/sweep.sbatch)")
    s.add_argument("--cpus-per-task", type=_positive, default=DEFAULT_SLURM_CPUS,
                   help="cores per array task (its --workers)")
    s.add_argument("--time", default=DEFAULT_SLURM_TIME, help="wall time per array task")
    s.add_argument("--mem", default=DEFAULT_SLURM_MEM, help="memory per array task")
    s.add_argument("--partition", default=None)
    s.add_argument("--account", default=None)
    s.add_argument("--max-parallel", type=_positive, default=None,
                   help="at most this many array tasks at once (--array=...%%K)")
    s.set_defaults(func=cmd_slurm)


def _print_summary(summary, quiet: bool) -> None:
    where = f"shard {summary.shard[0]}/{summary.shard[1]} of " if summary.shard else ""
    rate = summary.ran / summary.elapsed_s if summary.elapsed_s > 0 else 0.0
    invalid = f"{summary.invalid} invalid, " if summary.invalid else ""
    print(f"{where}{summary.name}: {summary.ok} ok, {summary.failed} failed, {invalid}"
          f"{summary.pending} pending; this run: {summary.ran} runs in "
          f"{summary.elapsed_s:.1f} s ({rate:.1f} runs/s), {summary.skipped} already done "
          f"-> {summary.path}")
    if summary.stopped:
        print(f"sweep stopped early: {summary.stopped}. First errors:", file=sys.stderr)
        for message in summary.first_errors:
            print(f"  {textwrap.shorten(message, 300)}", file=sys.stderr)
        print("the runs' full tracebacks are in the 'traceback' column of the runs table; "
              "fix the cause and rerun (finished runs are kept)", file=sys.stderr)
    elif summary.errors:
        print("failures (most frequent first):", file=sys.stderr)
        for message, count in summary.errors:
            print(f"  {count} x {textwrap.shorten(message, 200)}", file=sys.stderr)
    if summary.failed:
        print(f"{summary.failed} runs failed (full tracebacks in the runs table's 'traceback' "
              "column); fix the cause and rerun with --retry-failed", file=sys.stderr)
    if summary.invalid:
        print(f"{summary.invalid} runs returned a non-finite output (NaN or inf) and are "
              "stored as 'invalid' (the 'error' column names the outputs); analysis leaves "
              "them out", file=sys.stderr)
    if summary.missing_outputs:
        print(f"warning: outputs {summary.missing_outputs} listed in the experiment were "
              "returned by no run", file=sys.stderr)


def _terminate(signum: int, frame: object) -> None:
    """Stop the sweep on SIGTERM (e.g. a SLURM time limit) as on Ctrl-C.

    The manifest is then brought up to date and a rerun resumes.
    """
    raise KeyboardInterrupt


def cmd_sweep(args: argparse.Namespace) -> int:
    """``relsim sweep``."""
    if args.dry_run:
        from relsim.experiments.cli_dryrun import DEFAULT_TIMED_RUNS, dry_run

        if args.time_runs is None:
            args.time_runs = DEFAULT_TIMED_RUNS
        if args.time_runs < 0:
            raise UserError(f"--time-runs must be 0 or more, got {args.time_runs}")
        return dry_run(args)
    if args.time_runs is not None:
        raise UserError("--time-runs goes with --dry-run (a sweep times every run anyway)")
    from relsim.experiments.runner import SweepAborted, sweep

    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main else None
    try:
        summary = sweep(args.experiment, args.out, workers=args.workers,
                        executor=args.executor, scheduler=args.scheduler, shard=args.shard,
                        retry_failed=args.retry_failed, progress=not args.quiet,
                        timeout_s=args.timeout, max_failures=args.max_failures,
                        allow_code_change=args.allow_code_change)
    except SweepAborted as exc:
        print(f"relsim: sweep aborted: {exc}", file=sys.stderr)
        return 1
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)
    _print_summary(summary, args.quiet)
    return summary.exit_status


def cmd_merge(args: argparse.Namespace) -> int:
    """``relsim merge``."""
    from relsim.experiments.runner import merge_shards

    status = 0
    for m in merge_shards(args.directory):
        invalid = f"{m.invalid} invalid, " if m.invalid else ""
        print(f"{m.path}: merged {len(m.shards_found)} shards -> {m.ok} ok, {m.failed} failed, "
              f"{invalid}{m.pending} pending")
        if len(m.code_versions) > 1:
            print(f"  warning: the shards were computed by {len(m.code_versions)} versions of "
                  f"the model's code ({', '.join(m.code_versions)}); each run's 'session' "
                  "column and manifest.json's merged_from say which", file=sys.stderr)
        missing = _shards_with_work(m.path, m.shards_missing)
        if missing:
            print(f"  missing shards: {missing}", file=sys.stderr)
        status = max(status, m.exit_status)
    return status


def _shards_with_work(root: Path, missing: list[int]) -> list[int]:
    """The missing shards that had rows to run (shard I of N runs rows I, I+N, ...).

    A shard whose index is not below the number of design rows had nothing to do, so its
    absence loses nothing (e.g. ``--shards 32`` over 11 rows).
    """
    import json

    try:
        rows = int(json.loads((Path(root) / "manifest.json").read_text())["design_rows"])
    except (OSError, ValueError, KeyError, TypeError):
        return list(missing)
    return [i for i in missing if i < rows]


def slurm_script(exp_path: Path, name: str, shards: int, out: Path, *, cpus: int, time: str,
                 mem: str, partition: str | None, account: str | None,
                 max_parallel: int | None, python: str, workdir: Path) -> str:
    """The text of an sbatch job-array script running one shard per array task."""
    log_dir = out / name / "slurm"
    array = f"0-{shards - 1}" + (f"%{max_parallel}" if max_parallel else "")
    lines = [
        "#!/bin/bash",
        f"#SBATCH --job-name=relsim-{name}",
        f"#SBATCH --array={array}",
        f"#SBATCH --cpus-per-task={cpus}",
        f"#SBATCH --time={time}",
        f"#SBATCH --mem={mem}",
        f"#SBATCH --output={_sbatch_quote(f'{log_dir}/%A_%a.out')}",
    ]
    if partition:
        lines.append(f"#SBATCH --partition={partition}")
    if account:
        lines.append(f"#SBATCH --account={account}")
    q = shlex.quote
    lines += [
        "#",
        f"# relsim sweep of {q(str(exp_path))}, {shards} shards "
        f"(array task I runs shard I/{shards}).",
        "# Submit:        sbatch THIS_SCRIPT",
        f"# Then merge:    {q(python)} -m relsim.experiments merge {q(str(out / name))}",
        "#   (or chain:   sbatch --dependency=afterany:JOBID --wrap "
        f"{q(f'{q(python)} -m relsim.experiments merge {q(str(out / name))}')})",
        "# A task that hits its time limit resumes where it stopped when resubmitted:",
        "#   sbatch --array=I THIS_SCRIPT",
        "set -euo pipefail",
        f"cd {q(str(workdir))}",
        f"{q(python)} -m relsim.experiments sweep {q(str(exp_path))} \\",
        f"    --shard \"${{SLURM_ARRAY_TASK_ID}}/{shards}\" --out {q(str(out))} \\",
        "    --workers \"${SLURM_CPUS_PER_TASK:-1}\"",
        "# (progress: one line per minute in the task's log; RELSIM_PROGRESS_INTERVAL=SECONDS "
        "to change)",
        "",
    ]
    return "\n".join(lines)


def _sbatch_quote(value: str) -> str:
    """A value for an ``#SBATCH`` line: sbatch reads these itself, not the shell.

    sbatch accepts a double-quoted value (spaces included); a double quote inside cannot
    be written there, so such a path is refused.
    """
    if '"' in value:
        raise UserError(f"the path {value!r} contains a double quote, which an #SBATCH line "
                        "cannot hold; choose another --out")
    return f'"{value}"' if any(c.isspace() or c in "'$`\\#" for c in value) else value


def cmd_slurm(args: argparse.Namespace) -> int:
    """``relsim slurm``."""
    from relsim.experiments.design import build_design
    from relsim.experiments.spec import load_experiment

    exp = load_experiment(args.experiment)
    rows = len(build_design(exp))
    if args.shards > rows:
        print(f"warning: {args.shards} shards for {rows} design rows: shard I runs rows I, "
              f"I+{args.shards}, ..., so shards {rows} to {args.shards - 1} have nothing to "
              f"do; --shards {rows} is enough ('relsim merge' does not miss them)",
              file=sys.stderr)
    out = Path(args.out).resolve()
    script = Path(args.script) if args.script else out / exp.name / "slurm" / "sweep.sbatch"
    text = slurm_script(Path(args.experiment).resolve(), exp.name, args.shards, out,
                        cpus=args.cpus_per_task, time=args.time, mem=args.mem,
                        partition=args.partition, account=args.account,
                        max_parallel=args.max_parallel, python=sys.executable,
                        workdir=Path.cwd())
    script.parent.mkdir(parents=True, exist_ok=True)
    (out / exp.name / "slurm").mkdir(parents=True, exist_ok=True)
    script.write_text(text, encoding="utf-8")
    script.chmod(0o755)
    print(f"wrote {script}\nsubmit with:  sbatch {script}\nthen merge:   relsim merge "
          f"{out / exp.name}")
    return 0
