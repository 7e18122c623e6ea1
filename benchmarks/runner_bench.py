"""Sweep engine speed and memory, against EMA Workbench and ``mesa.batch_run``.

Run: ``python -m benchmarks.runner_bench [--quick] [--only PARTS]`` (or ``make bench``).
Writes ``benchmarks/results/runner.json``. Targets (issues 3 and 12):

1. ishigami: the whole ``relsim sweep`` command (fresh process, results on disk) on a
   Sobol' design of the Ishigami function (N = 1024, second order: 8,192 runs), 2
   workers, at least 3x the runs per second of EMA Workbench's ``MultiprocessingEvaluator``
   with 2 workers on the same runs (fresh process, results in memory), measured back to
   back. EMA Workbench is an optional peer (``pip install ema_workbench``); without it the
   figure is compared with the issue's ~1,500 runs/s for EMA and the report says so;
2. overhead: a serial sweep of the real model takes at most 5% longer than calling the
   model in a loop;
3. scaling: 2 workers give at least 1.9x the runs per second of 1 worker (2-core machine,
   quiet);
4. memory: the peak memory of a 20,000-run sweep is at most 1.2x that of a 2,000-run one;
5. against ``mesa.batch_run`` (same model, same runs, 2 processes): runs per second and
   peak memory.

Every sweep, batch run and loop runs in a fresh child process, and peak memory is the
largest proportional set size (PSS: shared pages split between the processes sharing
them, so forked workers are not counted twice) of the child and all its descendants
(workers included), sampled from /proc every 20 ms; the peak is the largest level seen in
two consecutive samples (a lone sample taken while a process forks counts its shared
pages twice). Ratios are measured back to back
(the two sides alternate, repeat after repeat) and reported as the median of the
per-repeat ratios; times are medians. Figures depend on the machine's load: other
processes on the same cores lower every ratio, so the report prints the load.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import mesa
from relsim.model import KPI_NAMES, SalesModel

from benchmarks import RESULTS, save_json
from benchmarks.engine_peers import ishigami_text

SAMPLE_S = 0.02
UTILIZATIONS = [0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97]
TARGET_OVERHEAD = 0.05
TARGET_SCALING = 1.9
TARGET_MEMORY_RATIO = 1.2
TARGET_BATCH_MEMORY = 0.5
TARGET_EMA = 3.0
#: EMA Workbench 3.0's MultiprocessingEvaluator, 2 workers, this Ishigami sweep, on a
#: 2-core machine of this project's kind (issue 12): the comparison when EMA is not
#: installed.
EMA_ISSUE_RUNS_PER_S = 1500.0
#: The Ishigami sweep: Sobol' N (second order, 3 factors: N x 8 runs) and workers.
ISHIGAMI_SAMPLES = 1024
ISHIGAMI_WORKERS = 2
TESTS = Path(__file__).resolve().parent.parent / "tests"


# --------------------------------------------------------------------------- children


#: Factors of the LHS design of the memory benchmark (every run its own design row).
LHS_FACTORS = {"utilization": (0.6, 0.9), "process_cv": (0.0, 1.0), "work_cv": (0.0, 1.5),
               "disruption_rate": (0.0, 0.2), "pad_max": (0.0, 0.9), "influence": (0.0, 1.0)}


def _experiment_text(name: str, runs: int, days: int, design: str = "grid") -> str:
    head = f'[experiment]\nname = "{name}"\nseed = 1\n'
    params = f"[params]\ndays = {days}\nwarmup_days = {days // 4}\n"
    if design == "lhs":
        factors = "".join(f"{k} = [{lo}, {hi}]\n" for k, (lo, hi) in LHS_FACTORS.items())
        return f'{head}design = "lhs"\nsamples = {runs}\n{params}[factors]\n{factors}'
    reps = max(1, runs // len(UTILIZATIONS))
    values = ", ".join(map(str, UTILIZATIONS))
    return (f'{head}design = "grid"\nreplicates = {reps}\n{params}'
            f"[factors]\nutilization = {{values = [{values}]}}\n")


def child_sweep(runs: int, days: int, workers: int, executor: str,
                design: str = "grid") -> dict:
    """One sweep of the real model through the runner."""
    from relsim.experiments.runner import sweep

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.toml"
        path.write_text(_experiment_text("bench", runs, days, design))
        t0 = time.perf_counter()
        summary = sweep(path, Path(tmp) / "out", workers=workers, executor=executor)
        elapsed = time.perf_counter() - t0
    assert summary.failed == 0 and summary.pending == 0
    return {"runs": summary.ran, "elapsed_s": elapsed}


def child_loop(runs: int, days: int) -> dict:
    """The same runs as `child_sweep`, calling the model in a plain loop."""
    from relsim import model
    from relsim.experiments.seeds import run_seed

    reps = max(1, runs // len(UTILIZATIONS))
    t0 = time.perf_counter()
    n = 0
    for row, u in enumerate(UTILIZATIONS):
        for rep in range(reps):
            model.simulate({"days": days, "warmup_days": days // 4, "utilization": u},
                           run_seed(1, row, rep))
            n += 1
    return {"runs": n, "elapsed_s": time.perf_counter() - t0}


def child_batch_run(runs: int, days: int, processes: int, release: bool = False) -> dict:
    """The same runs with ``mesa.batch_run`` (seeds passed as a parameter list)."""
    import pandas as pd

    reps = max(1, runs // len(UTILIZATIONS))
    params = {"utilization": UTILIZATIONS, "seed": list(range(reps)), "days": days,
              "warmup_days": days // 4}
    t0 = time.perf_counter()
    cls = ReleasingBatchSalesModel if release else BatchSalesModel
    results = mesa.batch_run(cls, params, number_processes=processes,
                             iterations=1, max_steps=days + 1, display_progress=False)
    frame = pd.DataFrame(results)
    elapsed = time.perf_counter() - t0
    assert len(frame) == len(UTILIZATIONS) * reps, len(frame)
    return {"runs": len(frame), "elapsed_s": elapsed}


class BatchSalesModel(SalesModel):
    """SalesModel as batch_run needs it: keyword parameters, a DataCollector, ``running``.

    The KPIs are collected once, at the end (a cheap placeholder every day, because
    batch_run reads the collector at the last step's index).
    """

    def __init__(self, seed: int = 0, **params):
        super().__init__(params, seed=seed)
        self._final: dict = {}
        self._kpi_collector = mesa.DataCollector(
            model_reporters={k: (lambda m, k=k: m._final.get(k, math.nan)) for k in KPI_NAMES})

    release = False  # True: undo Mesa 3.3's model leak (mesa#3179) when the run ends

    def step(self) -> None:  # noqa: D102
        super().step()
        if self.day_index >= self.p.days:
            self._final = self.kpis()
            self.running = False
            self.datacollector = self._kpi_collector
            if self.release:
                mesa.Agent._ids.pop(self, None)
        self._kpi_collector.collect(self)


class ReleasingBatchSalesModel(BatchSalesModel):
    """`BatchSalesModel` that does not leak (what our runner's workers do for any model)."""

    release = True


# --------------------------------------------------------------------------- measuring


def _tree_pss_kib(pid: int) -> int:
    """Proportional set size of a process and its descendants (shared pages split)."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    stack.extend(int(c) for c in fh.read().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def run_measured(cmd: list[str], env: dict | None = None, memory: bool = True) -> dict:
    """Run a command; return its last stdout line (JSON), wall time and peak memory.

    With ``memory=False`` nothing samples the process tree: reading ``smaps_rollup`` of
    every process each 20 ms takes CPU from the measured processes, and on a 2-core
    machine running two workers it lowered the 2-worker speed by about 14% (``peak_mib``
    is then None).
    """
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    peak = raw_peak = 0
    done = threading.Event()

    def sample() -> None:
        # A peak counts when two consecutive samples show it: a sample taken while a
        # process forks or spawns (the pool's workers, git) reads the parent before and
        # the child after the fork, or a vforked child as the parent, counting shared
        # pages twice for a moment. That also drops a real peak shorter than two samples,
        # so the largest single sample is kept too (``peak_raw_mib``).
        nonlocal peak, raw_peak
        previous = 0
        while not done.is_set():
            current = _tree_pss_kib(proc.pid)
            peak = max(peak, min(previous, current))
            raw_peak = max(raw_peak, current)
            previous = current
            time.sleep(SAMPLE_S)

    sampler = threading.Thread(target=sample, daemon=True)
    if memory:
        sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    done.set()
    if memory:
        sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} failed: {err[-2000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_mib"] = peak / 1024 if memory else None
    result["peak_raw_mib"] = raw_peak / 1024 if memory else None
    result["process_s"] = wall
    return result


def measure(kind: str, memory: bool = True, **kwargs) -> dict:
    """Run one child benchmark; return its timing and (``memory``) its tree's peak memory."""
    cmd = [sys.executable, "-m", "benchmarks.runner_bench", "--child", kind,
           "--args", json.dumps(kwargs)]
    result = run_measured(cmd, memory=memory)
    result["runs_per_s"] = result["runs"] / result["elapsed_s"]
    return result


def _median(results: list[dict], key: str = "elapsed_s") -> dict:
    """The result with the median ``key`` (the lower middle one of an even count)."""
    ordered = sorted(results, key=lambda r: r[key])
    return {**ordered[(len(ordered) - 1) // 2], "repeats": [r[key] for r in results]}


def _paired(kind_a: tuple[str, dict], kind_b: tuple[str, dict], repeats: int,
            memory: bool = True) -> tuple:
    """``repeats`` measurements of two cases, alternating (back to back)."""
    a, b = [], []
    for _ in range(repeats):
        a.append(measure(kind_a[0], memory=memory, **kind_a[1]))
        b.append(measure(kind_b[0], memory=memory, **kind_b[1]))
    return a, b


PARTS = ("ishigami", "overhead", "scaling", "memory", "batch_run")


def run_all(quick: bool, parts: tuple[str, ...] = PARTS) -> dict:
    """The chosen measurements; smaller sizes with ``quick``."""
    scale = 0.25 if quick else 1.0
    repeats = 1 if quick else 3
    report: dict = {"load_before": os.getloadavg(), "cpus": os.cpu_count(), "quick": quick}
    if "ishigami" in parts:
        _ishigami(report, 3 if quick else 7)
    if "overhead" in parts:
        _overhead(report, scale, repeats)
    if "scaling" in parts:
        _scaling(report, scale, repeats)
    if "memory" in parts:
        _memory(report, scale)
    if "batch_run" in parts:
        _batch(report, scale)
    report["load_after"] = os.getloadavg()
    # each part says how it was measured: `--only` runs merge their parts into an older
    # runner.json, whose top-level fields then describe the last session only
    stamp = {"quick": quick, "measured": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    for part in parts:
        if isinstance(report.get(part), dict):
            report[part].update(stamp)
    return report


def _ishigami(report: dict, repeats: int) -> None:
    """relsim sweep vs EMA Workbench on the Ishigami Sobol' sweep, alternating."""
    samples, workers = ISHIGAMI_SAMPLES, ISHIGAMI_WORKERS
    runs = samples * 8
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p)}
    has_ema = importlib.util.find_spec("ema_workbench") is not None
    ours, theirs, floors = [], [], []
    peers = [sys.executable, "-m", "benchmarks.engine_peers"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ishigami.toml"
        path.write_text(ishigami_text(samples))
        for i in range(repeats):
            args = {"experiment": str(path), "out": str(Path(tmp) / f"out{i}"),
                    "workers": workers}
            ours.append(run_measured([*peers, "relsim", json.dumps(args)], env, memory=False))
            if has_ema:
                theirs.append(run_measured(
                    [*peers, "ema", json.dumps({"samples": samples, "workers": workers})], env,
                    memory=False))
            floors.append(run_measured([*peers, "imports", "{}"], env, memory=False))
    for r in ours:
        r["runs"] = runs
    part: dict = {"runs": runs, "workers": workers, "repeats": repeats,
                  "relsim": _median(ours, "process_s"),
                  "relsim_command": _median(ours, "command_s"),
                  "imports": _median(floors, "process_s"),
                  "target": TARGET_EMA, "load": os.getloadavg(), "ema": None}
    part["relsim_runs_per_s"] = runs / part["relsim"]["process_s"]
    part["relsim_command_runs_per_s"] = runs / part["relsim_command"]["command_s"]
    if has_ema:
        ratios = [t["process_s"] / o["process_s"] for o, t in zip(ours, theirs, strict=True)]
        inner = [t["evaluator_s"] / o["command_s"] for o, t in zip(ours, theirs, strict=True)]
        part["ema"] = _median(theirs, "process_s")
        part["ema_evaluator"] = _median(theirs, "evaluator_s")
        part["ema_runs_per_s"] = runs / part["ema"]["process_s"]
        part["ema_evaluator_runs_per_s"] = runs / part["ema_evaluator"]["evaluator_s"]
        part["ratio"] = sorted(ratios)[(len(ratios) - 1) // 2]
        part["ratios"] = ratios
        part["ratio_in_process"] = sorted(inner)[(len(inner) - 1) // 2]
    else:
        part["ratio"] = part["relsim_runs_per_s"] / EMA_ISSUE_RUNS_PER_S
    report["ishigami"] = part


def _overhead(report: dict, scale: float, repeats: int) -> None:
    # The issue's target is for the default model: default-length runs (720 days, 180 of
    # warm-up). The overhead per run in milliseconds is reported too, so the ratio for
    # shorter or longer runs follows.
    n, days = int(400 * scale), 720
    loops, sweeps = _paired(("loop", {"runs": n, "days": days}),
                            ("sweep", {"runs": n, "days": days, "workers": 1,
                                       "executor": "serial"}), repeats, memory=False)
    ratios = sorted(s["elapsed_s"] / lp["elapsed_s"] - 1 for lp, s in zip(loops, sweeps,
                                                                          strict=True))
    report["overhead"] = {"runs": n, "days": days, "loop": _median(loops),
                          "sweep": _median(sweeps), "overheads": ratios,
                          "overhead": ratios[(len(ratios) - 1) // 2],
                          "overhead_ms_per_run": sorted(
                              1e3 * (s["elapsed_s"] - lp["elapsed_s"]) / n
                              for lp, s in zip(loops, sweeps, strict=True))[(len(ratios) - 1) // 2],
                          "target": TARGET_OVERHEAD, "load": os.getloadavg()}


def _scaling(report: dict, scale: float, repeats: int) -> None:
    # 800 default-length runs: about 45 s on one worker, so the pool's start-up (about a
    # second: the fork server imports the model once) weighs as little as in a real study.
    n, days = int(800 * scale), 720
    ones, twos = _paired(("sweep", {"runs": n, "days": days, "workers": 1,
                                    "executor": "local"}),
                         ("sweep", {"runs": n, "days": days, "workers": 2,
                                    "executor": "local"}), repeats, memory=False)
    ratios = sorted(t["runs_per_s"] / o["runs_per_s"] for o, t in zip(ones, twos, strict=True))
    report["scaling"] = {"runs": n, "days": days, "workers_1": _median(ones),
                         "workers_2": _median(twos), "speedups": ratios,
                         "speedup": ratios[(len(ratios) - 1) // 2],
                         "target": TARGET_SCALING, "load": os.getloadavg()}


def _memory(report: dict, scale: float) -> None:
    days = 20
    # an LHS design: every run is its own design row, so the design grows with the sweep
    small = measure("sweep", runs=int(2000 * scale), days=days, workers=2, executor="local",
                    design="lhs")
    large = measure("sweep", runs=int(20000 * scale), days=days, workers=2, executor="local",
                    design="lhs")
    report["memory"] = {"days": days, "small": small, "large": large,
                        "ratio": large["peak_mib"] / small["peak_mib"],
                        "target": TARGET_MEMORY_RATIO, "load": os.getloadavg()}


def _batch(report: dict, scale: float) -> None:
    n, days = int(2000 * scale), 120
    ours = measure("sweep", runs=n, days=days, workers=2, executor="local")
    batch = measure("batch_run", runs=n, days=days, processes=2)
    # batch_run's memory is mostly Mesa 3.3's leak in its workers; measure it without too
    fixed = measure("batch_run", runs=n, days=days, processes=2, release=True)
    report["batch_run"] = {"runs": n, "days": days, "relsim": ours, "mesa_batch_run": batch,
                           "speed_ratio": ours["runs_per_s"] / batch["runs_per_s"],
                           "memory_ratio": ours["peak_mib"] / batch["peak_mib"],
                           "target_memory_ratio": TARGET_BATCH_MEMORY,
                           "mesa_batch_run_without_leak": fixed,
                           "speed_ratio_without_leak": ours["runs_per_s"] / fixed["runs_per_s"],
                           "memory_ratio_without_leak": ours["peak_mib"] / fixed["peak_mib"],
                           "load": os.getloadavg()}


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def print_report(r: dict) -> None:
    """A table of the figures against their targets."""
    print(f"machine: {r['cpus']} cpus, load {r['load_before'][0]:.2f} before, "
          f"{r['load_after'][0]:.2f} after")
    if "ishigami" in r:
        _print_ishigami(r["ishigami"])
    if "overhead" in r:
        _print_overhead(r["overhead"])
    if "scaling" in r:
        _print_scaling(r["scaling"])
    if "memory" in r:
        _print_memory(r["memory"])
    if "batch_run" in r:
        _print_batch(r["batch_run"])


def _print_ishigami(b: dict) -> None:
    print(f"ishigami   {b['runs']} runs (Sobol' N = {b['runs'] // 8}, second order), "
          f"{b['workers']} workers, median of {b['repeats']}, load {b['load'][0]:.1f}: "
          f"relsim sweep {b['relsim']['process_s']:.2f} s = {b['relsim_runs_per_s']:.0f} "
          f"runs/s (process start to exit; {b['relsim_command_runs_per_s']:.0f} runs/s "
          f"inside the command after its imports; a process that only imports what it "
          f"imports takes {b['imports']['process_s']:.2f} s)")
    if b["ema"] is None:
        print(f"           EMA Workbench not installed (pip install ema_workbench): against "
              f"the issue's {EMA_ISSUE_RUNS_PER_S:.0f} runs/s -> {b['ratio']:.2f}x "
              f"(target >= {b['target']}x) {_verdict(b['ratio'] >= b['target'])}")
        return
    print(f"           EMA Workbench {b['ema']['version']} {b['ema']['process_s']:.2f} s = "
          f"{b['ema_runs_per_s']:.0f} runs/s (process start to exit; "
          f"{b['ema_evaluator_runs_per_s']:.0f} runs/s inside its evaluator, after its "
          "imports) -> "
          f"{b['ratio']:.2f}x (target >= {b['target']}x) "
          f"{_verdict(b['ratio'] >= b['target'])}; inside: {b['ratio_in_process']:.2f}x")


def _print_overhead(o: dict) -> None:
    print(f"overhead   {o['runs']} runs x {o['days']} days: loop {o['loop']['elapsed_s']:.2f} s,"
          f" sweep {o['sweep']['elapsed_s']:.2f} s -> {o['overhead']:+.1%}, "
          f"{o.get('overhead_ms_per_run', float('nan')):+.2f} ms per run "
          f"(target <= {o['target']:.0%}) {_verdict(o['overhead'] <= o['target'])}")


def _print_scaling(s: dict) -> None:
    print(f"scaling    {s['runs']} runs x {s['days']} days: 1 worker "
          f"{s['workers_1']['runs_per_s']:.1f} runs/s, 2 workers "
          f"{s['workers_2']['runs_per_s']:.1f} runs/s -> {s['speedup']:.2f}x "
          f"(target >= {s['target']}x) {_verdict(s['speedup'] >= s['target'])}")


def _print_memory(m: dict) -> None:
    print(f"memory     {m['small']['runs']} runs {m['small']['peak_mib']:.0f} MiB, "
          f"{m['large']['runs']} runs {m['large']['peak_mib']:.0f} MiB -> {m['ratio']:.2f}x "
          f"(target <= {m['target']}x) {_verdict(m['ratio'] <= m['target'])}; single-sample "
          f"peaks {m['small'].get('peak_raw_mib') or 0:.0f} and "
          f"{m['large'].get('peak_raw_mib') or 0:.0f} MiB")


def _print_batch(b: dict) -> None:
    print(f"batch_run  {b['runs']} runs x {b['days']} days, 2 processes: relsim "
          f"{b['relsim']['runs_per_s']:.1f} runs/s {b['relsim']['peak_mib']:.0f} MiB; "
          f"mesa.batch_run {b['mesa_batch_run']['runs_per_s']:.1f} runs/s "
          f"{b['mesa_batch_run']['peak_mib']:.0f} MiB -> speed {b['speed_ratio']:.2f}x "
          f"{_verdict(b['speed_ratio'] > 1)}, memory {b['memory_ratio']:.2f}x "
          f"(target <= {b['target_memory_ratio']}) "
          f"{_verdict(b['memory_ratio'] <= b['target_memory_ratio'])}")
    f = b["mesa_batch_run_without_leak"]
    print(f"           mesa.batch_run with Mesa's model leak undone: {f['runs_per_s']:.1f} "
          f"runs/s {f['peak_mib']:.0f} MiB -> speed {b['speed_ratio_without_leak']:.2f}x, "
          f"memory {b['memory_ratio_without_leak']:.2f}x")


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``python -m benchmarks.runner_bench [--quick]``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.runner_bench")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, one repeat")
    parser.add_argument("--only", default=",".join(PARTS),
                        help=f"comma-separated subset of {','.join(PARTS)}")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--args", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        fn = {"sweep": child_sweep, "loop": child_loop, "batch_run": child_batch_run}
        print(json.dumps(fn[args.child](**json.loads(args.args))))
        return 0
    parts = tuple(p for p in args.only.split(",") if p)
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}; choose from {','.join(PARTS)}")
    report = run_all(args.quick, parts)
    print_report(report)
    target = RESULTS / "runner.json"
    old = json.loads(target.read_text()) if target.exists() and parts != PARTS else {}
    save_json("runner", {**old, **report})
    return 0


if __name__ == "__main__":
    sys.exit(main())
