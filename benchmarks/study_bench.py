"""A full Sobol' study on paper: its time on 2 cores, a 64-core node and a SLURM array.

Run: ``python -m benchmarks.study_bench [--quick]`` (part of ``make bench``). Writes
``benchmarks/results/study.json``. Issue 12, item 4: from measurements, the time of the
full Sobol' study (``experiments/studies/sobol-core.toml`` at N = 1024 with 4 replicates)
on 2 cores, on a 64-core node and on a 32-task SLURM array, and what limits each.

What is measured here (nothing else is assumed but what the report names):

1. the mean CPU time of one run of the study, over runs spread evenly through its design
   (every regime, replicate and part of the factor space), each timed with the process's
   CPU time in this process (so other jobs' load matters little);
2. sharded sweeps of a reduced copy of the study (same factors and regimes, N = 8,
   20 days per run) in two numbers of shards, one fresh ``relsim sweep --shard I/S``
   process per shard, then the merge (``merge_shards`` in this process: its work without
   its imports): its wall time, the parts it merged and the bytes stored; and a sweep
   task's start-up (a fresh interpreter importing what a task imports);
3. from ``benchmarks/results/runner.json`` when present (``runner_bench``): the measured
   2-worker scaling and the coordinator's cost per run (the Ishigami sweep: everything the
   command does after its imports, divided by its runs, an upper bound).

The merge's time and the stored bytes are fitted as a cost per part plus a cost per run
(the two sharded sweeps store the same runs in different numbers of parts), and the full
study's parts are counted by running the engine's own chunker over its runs with the mean
run time. The projections multiply these; they are estimates, not timed studies.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import RESULTS, save_json

ROOT = Path(__file__).resolve().parent.parent
STUDY = ROOT / "experiments" / "studies" / "sobol-core.toml"
#: The full study: Sobol' N and replicates (issue 12).
FULL_SAMPLES, FULL_REPLICATES = 1024, 4
#: The cluster cases: one node's cores; array tasks and CPUs per task (docs/CLUSTER.md).
NODE_CORES, ARRAY_TASKS, CPUS_PER_TASK = 64, 32, 8


def _reduced_study(samples: int, days: int) -> str:
    """sobol-core.toml with a smaller N and shorter runs (same factors and regimes)."""
    text = STUDY.read_text()
    text = re.sub(r"(?m)^samples = \d+", f"samples = {samples}", text)
    text = re.sub(r"(?m)^days = \d+", f"days = {days}", text)
    return re.sub(r"(?m)^warmup_days = \d+", f"warmup_days = {days // 4}", text)


def cpu_per_run(k: int) -> dict:
    """Mean CPU seconds of ``k`` runs of the study spread through its runs."""
    from relsim import model
    from relsim.experiments.design import build_design
    from relsim.experiments.runner import TaskFactory, run_keys
    from relsim.experiments.spec import load_experiment

    exp = load_experiment(STUDY)
    design = build_design(exp)
    keys = list(run_keys(len(design), exp.replicates, exp.regime_names, None))
    make = TaskFactory(exp, design)
    model.simulate({"days": 20, "warmup_days": 5}, seed=1)  # warm caches and imports
    times = []
    for key in keys[:: max(1, len(keys) // k)][:k]:
        task = make(key)
        t0 = time.process_time()
        model.simulate(dict(task.params), seed=task.seed)
        times.append(time.process_time() - t0)
    return {"timed": len(times), "mean_s": statistics.fmean(times),
            "median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "factors": len(exp.factors), "regimes": len(exp.regime_names) or 1}


def sharded_sweep(shards: int, samples: int, days: int) -> dict:
    """Sweep a reduced study in ``shards`` fresh processes, then merge; time each step."""
    relsim = [sys.executable, "-m", "relsim.experiments"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "study.toml"
        path.write_text(_reduced_study(samples, days))
        out = Path(tmp) / "out"
        walls = []
        for i in range(shards):
            t0 = time.perf_counter()
            subprocess.run([*relsim, "sweep", str(path), "--out", str(out), "--shard",
                            f"{i}/{shards}", "--workers", "1", "--executor", "serial",
                            "--quiet"], check=True, capture_output=True)
            walls.append(time.perf_counter() - t0)
        root = next(out.iterdir())
        parts = sum(1 for _ in root.glob("shards/*/runs/part-*.parquet"))
        from relsim.experiments.runner import merge_shards

        t0 = time.perf_counter()  # in this process: the merge's work without its imports
        merge_shards(root)
        merge_s = time.perf_counter() - t0
        runs_bytes = sum(p.stat().st_size for p in (root / "runs").glob("*.parquet"))
        manifest = json.loads((root / "manifest.json").read_text())
    runs = manifest["counts"]["total"]
    return {"shards": shards, "samples": samples, "days": days, "runs": runs,
            "shard_wall_s": statistics.median(walls), "task_start_s": task_start(),
            "parts": parts, "merge_s": merge_s, "bytes": runs_bytes}


def combine_cost(samples: int, days: int) -> dict:
    """Seconds per part of a sweep's final combining of its chunks' parts.

    A reduced study is swept in this process with the combining switched off (chunks of
    at most 16 runs, so it leaves many parts), then the store's final compaction (which
    reads every part and combines them) is timed.
    """
    from relsim.experiments.runner import sweep
    from relsim.experiments.store import ResultStore

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "study.toml"
        path.write_text(_reduced_study(samples, days))
        original = ResultStore.coalesce
        ResultStore.coalesce = lambda self, max_runs=0: 0
        try:
            summary = sweep(path, Path(tmp) / "out", workers=1, executor="serial",
                            max_chunk_runs=16)
        finally:
            ResultStore.coalesce = original
        store = ResultStore(summary.path)
        parts = len(store.parts())
        t0 = time.perf_counter()
        store.compact()
        seconds = time.perf_counter() - t0
    return {"parts": parts, "seconds": seconds, "s_per_part": seconds / parts}


def task_start(repeats: int = 3) -> float:
    """Wall seconds for a fresh interpreter to import what a sweep task imports."""
    code = ("import relsim.experiments.runner, relsim.experiments.design, "
            "relsim.experiments.worker, relsim.model.model")
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _runner_figures() -> dict:
    path = RESULTS / "runner.json"
    if not path.exists():
        return {}
    r = json.loads(path.read_text())
    out = {}
    if "scaling" in r:
        out["scaling_2_workers"] = r["scaling"]["speedup"]
        out["scaling_load"] = r["scaling"].get("load")
    ish = r.get("ishigami", {})
    # wall time of everything the command does after its imports: the coordinator is one
    # process, so its time per run is at most this
    inside = ish.get("relsim_command", {}).get("command_s")
    if inside and ish.get("runs"):
        out["coordinator_s_per_run"] = inside / ish["runs"]
    return out


def per_part_and_run(a: dict, b: dict, key: str) -> tuple[float, float]:
    """Fit ``value = per_part * parts + per_run * runs`` to two sweeps of the same runs.

    The two sweeps store the same runs in different numbers of parts (more shards, more
    and smaller parts), which separates a part's fixed cost (file, metadata, checksum)
    from the cost per run.
    """
    runs = a["runs"]
    per_part = (b[key] - a[key]) / (b["parts"] - a["parts"])
    return max(per_part, 0.0), max((a[key] - per_part * a["parts"]) / runs, 0.0)


def parts_of(runs: int, workers: int, seconds_per_run: float) -> int:
    """Parts a sweep of ``runs`` writes: the engine's own chunker, fed the mean run time."""
    from relsim.experiments.runner import Chunker

    chunker = Chunker(list(range(runs)), workers)
    parts = 0
    for chunk in chunker:
        chunker.observe(len(chunk), len(chunk) * seconds_per_run)
        parts += 1
    return parts


def project(cpu: dict, shards: list[dict], combine: dict, runner: dict) -> dict:
    """The full study's time in the three settings, from the measured figures.

    A sweep writes one part per chunk while it runs and combines them into parts of up to
    `COALESCE_RUNS` runs when it ends, at the measured cost per part (``combine``). A
    merge then reads the shards' combined parts.
    """
    from relsim.experiments.store import COALESCE_RUNS

    rows = FULL_SAMPLES * (cpu["factors"] + 2)
    runs = rows * FULL_REPLICATES * cpu["regimes"]
    per_run_s = cpu["mean_s"]
    compute = runs * per_run_s
    eff2 = min(1.0, runner.get("scaling_2_workers", 2.0) / 2)
    start = shards[0]["task_start_s"]
    join_s = combine["s_per_part"]
    part_s, run_s = per_part_and_run(shards[0], shards[1], "merge_s")
    part_b, run_b = per_part_and_run(shards[0], shards[1], "bytes")
    task_runs = runs // ARRAY_TASKS
    two_chunks = parts_of(runs, 2, per_run_s)
    node_chunks = parts_of(runs, NODE_CORES, per_run_s)
    task_chunks = parts_of(task_runs, CPUS_PER_TASK, per_run_s)
    combined = math.ceil(runs / COALESCE_RUNS)
    array_parts = ARRAY_TASKS * math.ceil(task_runs / COALESCE_RUNS)
    merge = start + part_s * array_parts + run_s * runs
    node_rate = NODE_CORES / per_run_s
    coord = runner.get("coordinator_s_per_run")
    return {
        "runs": runs, "cpu_hours": compute / 3600,
        "two_cores_s": compute / (2 * eff2) + join_s * two_chunks,
        "two_cores_chunks": two_chunks, "parts_after": combined,
        "node_s": compute / NODE_CORES + start + join_s * node_chunks,
        "node_chunks": node_chunks,
        "node_runs_per_s": node_rate,
        "node_coordinator_load": node_rate * coord if coord else None,
        "array_s": (compute / (ARRAY_TASKS * CPUS_PER_TASK) + start + join_s * task_chunks
                    + merge),
        "array_task_chunks": task_chunks, "array_parts": array_parts,
        "array_merge_s": merge, "task_start_s": start,
        "merge_s_per_part": part_s, "merge_s_per_run": run_s,
        "bytes_per_part": part_b, "bytes_per_run": run_b,
        "array_stored_mb": (part_b * array_parts + run_b * runs) / 1e6,
    }


def _hm(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def print_report(r: dict) -> None:
    """The measurements and the three projections."""
    c, p = r["cpu"], r["projection"]
    print(f"machine: {os.cpu_count()} cpus, load {r['load'][0]:.1f}")
    print(f"one run of sobol-core: mean {c['mean_s'] * 1e3:.1f} ms CPU over {c['timed']} runs "
          f"spread through the design (median {c['median_s'] * 1e3:.1f}, "
          f"{c['min_s'] * 1e3:.1f} to {c['max_s'] * 1e3:.1f})")
    for s in r["shards"]:
        print(f"reduced study, {s['runs']:,} runs in {s['shards']} shards: {s['parts']} parts, "
              f"merge {s['merge_s']:.2f} s, {s['bytes'] / 1e6:.2f} MB stored")
    print(f"  -> merge {p['merge_s_per_part'] * 1e3:.1f} ms per part + "
          f"{p['merge_s_per_run'] * 1e6:.0f} us per run; {p['bytes_per_part'] / 1e3:.1f} kB "
          f"per part + {p['bytes_per_run']:.0f} B per run; task start-up "
          f"{p['task_start_s']:.1f} s")
    j = r["combine"]
    print(f"combining a sweep's chunks at its end: {j['parts']} parts in {j['seconds']:.2f} s "
          f"({j['s_per_part'] * 1e3:.1f} ms per part)")
    print(f"full study: {p['runs']:,} runs, {p['cpu_hours']:.1f} CPU hours; stored in "
          f"{p['parts_after']:,} parts of up to 8,192 runs")
    scaling = r["runner"].get("scaling_2_workers")
    print(f"  2 cores:              {_hm(p['two_cores_s'])} (CPU-bound; 2 workers "
          + (f"{scaling:.2f}x of 1 as measured by runner_bench" if scaling else
             "assumed 2x of 1: run runner_bench --only scaling")
          + f"; {p['two_cores_chunks']:,} chunks combined at the end)")
    load = p["node_coordinator_load"]
    print(f"  {NODE_CORES}-core node:         {_hm(p['node_s'])} (CPU-bound; the coordinator "
          f"must take {p['node_runs_per_s']:,.0f} runs/s"
          + (f", about {load:.0%} of one core" if load else "") + ")")
    print(f"  {ARRAY_TASKS}-task SLURM array x {CPUS_PER_TASK} CPUs: {_hm(p['array_s'])} "
          f"(CPU, then the merge of {p['array_parts']:,} parts: {_hm(p['array_merge_s'])}; "
          f"{p['array_stored_mb']:.0f} MB stored)")


def main(argv: list[str] | None = None) -> int:
    """Measure, project, print and save."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs and shards")
    args = parser.parse_args(argv)
    k, shard_counts = (20, (2, 8)) if args.quick else (120, (4, 16))
    cpu = cpu_per_run(k)
    shards = [sharded_sweep(n, samples=8, days=20) for n in shard_counts]
    combine = combine_cost(samples=8, days=20)
    runner = _runner_figures()
    report = {"cpu": cpu, "shards": shards, "combine": combine, "runner": runner,
              "projection": project(cpu, shards, combine, runner), "load": os.getloadavg()}
    print_report(report)
    save_json("study", report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
