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
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

from benchmarks import save_json

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
}
#: Packages a case must not import (the target).
FORBIDDEN = {
    "relsim --help": HEAVY,
    "relsim sweep --help": HEAVY,
    "sweep task (runner + model + store)": ("SALib", "matplotlib", "seaborn", "dask",
                                            "distributed"),
}


def measure(args: list[str]) -> tuple[float, list[str], dict[str, int]]:
    """One start: cumulative import time (s), heavy packages, {module: self time in µs}."""
    proc = subprocess.run([sys.executable, "-X", "importtime", *args], capture_output=True,
                          text=True, check=True)
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


def run(repeats: int = 5) -> dict:
    """Every case, ``repeats`` fresh interpreters each."""
    out = {}
    mods: dict[str, list[dict[str, int]]] = {}
    for name, args in CASES.items():
        times, heavy = [], []
        mods[name] = []
        for _ in range(repeats):
            t, heavy, modules = measure(args)
            times.append(t)
            mods[name].append(modules)
        bad = [p for p in heavy if p in FORBIDDEN.get(name, ())]
        out[name] = {"median_s": statistics.median(times), "min_s": min(times),
                     "max_s": max(times), "heavy_imports": heavy, "forbidden_imported": bad,
                     "met": not bad}
    # What each case imports beyond Mesa's own import: the self time of those modules.
    floor = set().union(*mods["Mesa alone (the floor)"])
    for name in CASES:
        extra = [sum(t for m, t in run.items() if m not in floor) for run in mods[name]]
        out[name]["beyond_mesa_s"] = statistics.median(extra) / 1e6
    return out


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    res = run(args.repeats)
    print(f"{'case':<38}{'import s':>10}{'not Mesa s':>12}  heavy packages imported")
    for name, r in res.items():
        flag = "" if r["met"] else f"  MISSED: {', '.join(r['forbidden_imported'])}"
        print(f"{name:<38}{r['median_s']:>10.3f}{r['beyond_mesa_s']:>12.3f}  "
              f"{', '.join(r['heavy_imports']) or '-'}{flag}")
    print(f"written {save_json('startup', res)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
