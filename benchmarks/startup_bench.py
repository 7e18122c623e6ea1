"""Start-up cost: what ``relsim --help`` and a sweep task import, against Mesa's own import.

Run: ``python -m benchmarks.startup_bench`` (or ``make bench``). Writes
``benchmarks/results/startup.json``. Each case runs in a fresh interpreter with
``python -X importtime`` (issue 12, item 3); the figure is the cumulative import time of
the case's top-level imports (median of ``--repeats``), and the list of heavy packages it
imported. Targets: ``relsim --help`` imports none of the heavy packages; a sweep task
(the runner, the model and the result store: what a SLURM array task needs) imports no
package it does not use (no SALib, matplotlib, seaborn or Dask) and costs about Mesa's own
import (the floor: Mesa itself imports numpy, pandas, scipy and networkx). "not Mesa s" is
the import time of the modules a case imports that ``import mesa`` does not.

The case ``relsim sweep`` of a plain function runs the whole command (the Ishigami Sobol'
experiment of `benchmarks.runner_bench`, fewer samples: what it imports does not depend on
them) and lists what its coordinator imports (target: no Mesa, plotting or Dask). Last,
the seconds a process spends beyond its imports (start-up and shutdown) after importing
what that command imports, ending as Python does by default and as the ``relsim``
console script does (`relsim.experiments.cli.entry` freezes the garbage collector first),
alternating, ``--repeats`` of each.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import save_json
from benchmarks.engine_peers import ishigami_text

TESTS = Path(__file__).resolve().parent.parent / "tests"

HEAVY = ("numpy", "pandas", "pyarrow", "scipy", "SALib", "matplotlib", "seaborn", "dask",
         "distributed", "mesa", "networkx")
#: name -> python arguments (after ``-X importtime``).
CASES = {
    "relsim --help": ["-m", "relsim.experiments", "--help"],
    "relsim sweep --help": ["-m", "relsim.experiments", "sweep", "--help"],
    "sweep task (runner + model + store)": [
        "-c", "import relsim.experiments.cli_sweep, relsim.experiments.runner, "
              "relsim.experiments.store, relsim.model.model"],
    "Mesa alone (the floor)": ["-c", "import mesa"],
    # {exp} and {out} are filled in by `run` (a temporary experiment file and results).
    "relsim sweep of a plain function": ["-m", "relsim.experiments", "sweep", "{exp}",
                                         "--out", "{out}", "--workers", "2", "--quiet"],
}
#: What the ``relsim sweep`` case imports, as one statement (the exit measurement).
SWEEP_IMPORTS = ("import SALib.sample.sobol, sweep_models, pyarrow.parquet, "
                 "relsim.experiments.cli, relsim.experiments.runner")
#: Packages a case must not import (the target).
FORBIDDEN = {
    "relsim --help": HEAVY,
    "relsim sweep --help": HEAVY,
    "sweep task (runner + model + store)": ("SALib", "matplotlib", "seaborn", "dask",
                                            "distributed"),
    "relsim sweep of a plain function": ("mesa", "networkx", "matplotlib", "seaborn", "dask",
                                         "distributed"),
}
#: Samples of the sweep case's Sobol' design (its imports do not depend on them).
SWEEP_SAMPLES = 64


def _env() -> dict[str, str]:
    """The environment with tests/ on the path (the sweep case's model)."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p)}


def measure(args: list[str]) -> tuple[float, list[str], dict[str, int]]:
    """One start: cumulative import time (s), heavy packages, {module: self time in µs}."""
    proc = subprocess.run([sys.executable, "-X", "importtime", *args], capture_output=True,
                          text=True, check=True, env=_env())
    total = 0
    modules: dict[str, int] = {}
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        own, cum, name = line.split("|")
        if not name.startswith("  "):  # not nested: a top-level import (one space)
            total += int(cum)
        modules[name.strip()] = int(own.split(":")[1])
    packages = {m.split(".")[0] for m in modules}
    return total / 1e6, sorted(p for p in HEAVY if p in packages), modules


def exit_cost(repeats: int) -> dict:
    """Seconds beyond the imports of the sweep command, default exit vs `cli.entry`'s."""
    ends = {"python's default exit": "", "relsim's (gc.freeze() first)":
            "import gc; gc.freeze()"}
    times: dict[str, list[float]] = {name: [] for name in ends}
    for _ in range(repeats):
        for name, end in ends.items():
            code = (f"import time; t = time.perf_counter(); {SWEEP_IMPORTS}; "
                    f"print(time.perf_counter() - t); {end}")
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", code], capture_output=True,
                                  text=True, check=True, env=_env())
            times[name].append(time.perf_counter() - t0 - float(proc.stdout))
    return {name: {"median_s": statistics.median(t), "min_s": min(t), "max_s": max(t)}
            for name, t in times.items()}


def run(repeats: int = 5) -> dict:
    """Every case, ``repeats`` fresh interpreters each."""
    out = {}
    mods: dict[str, list[dict[str, int]]] = {}
    with tempfile.TemporaryDirectory(prefix="relsim-startup-") as tmp:
        for name, template in CASES.items():
            _case(name, template, Path(tmp), repeats, out, mods)
    # What each case imports beyond Mesa's own import: the self time of those modules.
    floor = set().union(*mods["Mesa alone (the floor)"])
    for name in CASES:
        extra = [sum(t for m, t in run.items() if m not in floor) for run in mods[name]]
        out[name]["beyond_mesa_s"] = statistics.median(extra) / 1e6
    out["exit"] = exit_cost(repeats)
    out["load"] = os.getloadavg()
    return out


def _case(name: str, template: list[str], tmp: Path, repeats: int, out: dict,
          mods: dict[str, list[dict[str, int]]]) -> None:
    """``repeats`` fresh interpreters of one case, into ``out`` and ``mods``."""
    exp = tmp / "ishigami.toml"
    exp.write_text(ishigami_text(SWEEP_SAMPLES))
    times, heavy = [], []
    mods[name] = []
    for i in range(repeats):
        args = [a.format(exp=exp, out=tmp / f"out-{len(out)}-{i}") for a in template]
        t, heavy, modules = measure(args)
        times.append(t)
        mods[name].append(modules)
    bad = [p for p in heavy if p in FORBIDDEN.get(name, ())]
    out[name] = {"median_s": statistics.median(times), "min_s": min(times),
                 "max_s": max(times), "heavy_imports": heavy, "forbidden_imported": bad,
                 "met": not bad}


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    res = run(args.repeats)
    print(f"{'case':<38}{'import s':>10}{'not Mesa s':>12}  heavy packages imported")
    for name in CASES:
        r = res[name]
        flag = "" if r["met"] else f"  MISSED: {', '.join(r['forbidden_imported'])}"
        print(f"{name:<38}{r['median_s']:>10.3f}{r['beyond_mesa_s']:>12.3f}  "
              f"{', '.join(r['heavy_imports']) or '-'}{flag}")
    print("process time beyond the sweep command's imports (start-up and exit), by ending:")
    for name, r in res["exit"].items():
        print(f"  {name:<36}{r['median_s']:>10.3f} s  (min {r['min_s']:.3f}, "
              f"max {r['max_s']:.3f})")
    print(f"load average {' '.join(f'{x:.1f}' for x in res['load'])}")
    print(f"written {save_json('startup', res)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
