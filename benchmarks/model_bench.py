"""Model speed: the v2 model before and after optimisation, measured back to back.

Run: ``python -m benchmarks.model_bench`` (or ``make bench`` for every benchmark). Writes
``benchmarks/results/model.json``. Single-core: the model itself is single-threaded.

What it measures (issue 12, item 1), each case timed as ``model.simulate`` (construction,
run, KPIs, release: what a sweep pays), with the same seeds for every implementation:

- the default run (720 days, regime ``relationship``) and the other five regimes;
- the time per order placed;
- the floor: a bare Python event loop (FCFS single server) over the *same* arrivals and
  work contents as the default run, so ``default / floor`` is the model's cost over
  doing nothing but queueing its orders;
- 10x customers at the same load (``customers`` and ``market_size`` times 10, the same
  total order rate: each customer orders a tenth as often);
- 10x orders per day (``capacity_hours`` times 10 at the same utilisation and the same
  customers: each customer orders ten times as often).

Times are medians of both the process's CPU time and the wall-clock time of each run;
ratios and targets use CPU time, which another job on a shared machine disturbs far less
than wall-clock time (wall-clock ratios are in the JSON too). The speed-up is the ratio of
the two medians; the median (and range) of the ratios of each seed's two back-to-back
runs is reported beside it (``speedup_pairs``).

Before and after in one session: ``--baseline REF`` (default `BASELINE_REF`, the last
commit before the optimisation) loads that commit's ``model/`` from git as a separate
package and times it interleaved with the current code, run by run, so that the ratios
are not skewed by a shared, noisy machine. Every pair of runs must give identical KPIs
(checked; the benchmark fails otherwise). Figures are medians over ``--repeats`` runs
with min and max. Without git or the commit, only the current code is measured.
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from relsim import model

from benchmarks import save_json

REPO = Path(__file__).resolve().parent.parent
#: The version-2 model as it was before the speed work (issue 12): the tip of the lead's
#: branch v2model when this work was rebased on it ("KPIs: autonomy_final over
#: relationship-style salespeople").
BASELINE_REF = "17b190e9208577365bad85c6f110ca08cc2c886b"

#: Deliberate changes of the model's behaviour made after `BASELINE_REF`, applied to the
#: baseline's source so that before and after compute the same results: (file, old text,
#: new text), each old text found exactly once. Commit 09ad7c3: the second shift is
#: triggered by the planned load (work accepted into the schedule) instead of the offered
#: work (the same one addition per order, made for accepted orders only).
BASELINE_PATCHES = {
    "17b190e9208577365bad85c6f110ca08cc2c886b": [
        ("model.py", "        day.offered_work += work\n", ""),
        ("model.py", "            cust.open_orders[order.uid] = order\n",
         "            cust.open_orders[order.uid] = order\n"
         "            day.offered_work += work\n"),
    ],
}

#: Targets of issue 12 (item 1).
TARGETS = {
    "speedup_default": ("default run, before / after", ">=", 3.5),
    "default_over_floor": ("default run / bare event loop", "<=", 100.0),
    "customers_x10_over_x1": ("10x customers at the same load", "<=", 1.5),
    "orders_x10_over_x1": ("10x orders per day", "<=", 10.0),
}


def cases() -> dict[str, dict]:
    """The benchmarked parameter sets."""
    r = model.REGIMES
    base = dict(r["relationship"])
    p = model.Params.from_dict(base)
    out = {"default": base}
    out.update({name: dict(r[name]) for name in r if name != "relationship"})
    out["customers_x10"] = dict(base, customers=10 * p.customers,
                                market_size=10 * p.market_size)
    out["orders_x10"] = dict(base, capacity_hours=10 * p.capacity_hours)
    return out


def load_baseline(ref: str):
    """Import ``model/`` of commit ``ref`` as the package ``relsim_baseline.model``.

    The deliberate behaviour changes made since ``ref`` (`BASELINE_PATCHES`) are applied
    to its source, so that its results are comparable with the current code's.

    Returns the module, or None (with a message) when git or the commit is missing.
    """
    try:
        names = subprocess.run(
            ["git", "-C", str(REPO), "ls-tree", "--name-only", f"{ref}:model"],
            check=True, capture_output=True, text=True).stdout.split()
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"baseline {ref[:10]} not available ({exc}); measuring the current code only")
        return None
    patches = BASELINE_PATCHES.get(ref, [])
    root = Path(tempfile.mkdtemp(prefix="relsim_baseline_"))
    pkg = root / "relsim_baseline" / "model"
    pkg.mkdir(parents=True)
    (root / "relsim_baseline" / "__init__.py").write_text("")
    for name in names:
        if name.endswith(".py"):
            src = subprocess.run(["git", "-C", str(REPO), "show", f"{ref}:model/{name}"],
                                 check=True, capture_output=True, text=True).stdout
            for file, old, new in patches:
                if file == name:
                    if src.count(old) != 1:
                        raise SystemExit(f"baseline patch of {name} does not apply: {old!r}")
                    src = src.replace(old, new)
            (pkg / name).write_text(src.replace("relsim.model", "relsim_baseline.model"))
    sys.path.insert(0, str(root))
    mod = importlib.import_module("relsim_baseline.model")
    mod._bench_tmp = root
    return mod


def _time_one(impl, params: dict, seed: int) -> tuple[float, float, dict]:
    """(wall seconds, CPU seconds of this process, KPIs) of one ``simulate`` call."""
    c0, t0 = time.process_time(), time.perf_counter()
    k = impl.simulate(params, seed)
    return time.perf_counter() - t0, time.process_time() - c0, k


def _same_kpis(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        x == y or (isinstance(x, float) and math.isnan(x) and math.isnan(y))
        for x, y in ((a[n], b[n]) for n in a))


def orders_of(impl, params: dict, seed: int) -> tuple[int, list[float], list[float]]:
    """Orders placed in one run, with their arrival times and actual work (untimed run)."""
    m = impl.SalesModel(params, seed=seed, series=False)
    m.run()
    return len(m.orders), [o.arrival for o in m.orders], [o.total for o in m.orders]


def bare_event_loop(arrivals: list[float], work_hours: list[float],
                    rate: float) -> tuple[float, float]:
    """The floor: FCFS single server over the given arrivals in a bare Python loop.

    Returns:
        (wall seconds, CPU seconds).
    """
    c0, t0 = time.process_time(), time.perf_counter()
    free = total = 0.0
    for t, w in zip(arrivals, work_hours, strict=True):
        start = t if t > free else free
        free = start + w / rate
        total += free - t
    return time.perf_counter() - t0, time.process_time() - c0


def _summary(times: list[float]) -> dict[str, float]:
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "n": len(times)}


def run(repeats: int = 15, baseline_ref: str | None = BASELINE_REF,
        only: list[str] | None = None) -> dict:
    """All model benchmarks, current and baseline interleaved; returns the result dict."""
    impls = {"after": model}
    base = load_baseline(baseline_ref) if baseline_ref else None
    if base is not None:
        impls = {"before": base, "after": model}
    todo = {k: v for k, v in cases().items() if only is None or k in only or k == "default"}
    # Fewer repeats for the big cases (they take up to 10x longer).
    reps = {k: repeats if k in ("default", "customers_x10") else max(5, repeats // 3)
            for k in todo}
    times: dict[str, dict[str, list[float]]] = {k: {i: [] for i in impls} for k in todo}
    cpu: dict[str, dict[str, list[float]]] = {k: {i: [] for i in impls} for k in todo}
    for impl in impls.values():  # warm-up: imports, caches
        impl.simulate(dict(todo["default"], days=50, warmup_days=10), 0)
    for r in range(repeats):
        for name, params in todo.items():
            if r >= reps[name]:
                continue
            got = {}
            # Alternate which implementation goes first.
            order = list(impls) if r % 2 == 0 else list(reversed(impls))
            for label in order:
                dt, dc, got[label] = _time_one(impls[label], params, 1000 + r)
                times[name][label].append(dt)
                cpu[name][label].append(dc)
            if base is not None and not _same_kpis(got["before"], got["after"]):
                raise SystemExit(f"{name} seed {1000 + r}: KPIs differ before/after")
    out: dict = {"machine": {"cpus": os.cpu_count(), "load_avg": os.getloadavg(),
                             "python": sys.version.split()[0]},
                 "baseline_ref": baseline_ref if base is not None else None, "cases": {}}
    for name, params in todo.items():
        n, _, _ = orders_of(model, params, 1000)
        entry = {"orders": n, "params": params}
        for label, ts in times[name].items():
            entry[label] = _summary(ts)
            entry[f"{label}_cpu"] = _summary(cpu[name][label])
        if base is not None:
            entry["speedup"] = entry["before_cpu"]["median_s"] / entry["after_cpu"]["median_s"]
            entry["speedup_wall"] = entry["before"]["median_s"] / entry["after"]["median_s"]
            # The same seed's two runs are back to back: their ratio sees the same load.
            pairs = [b / a for b, a in zip(cpu[name]["before"], cpu[name]["after"],
                                            strict=True)]
            entry["speedup_pairs"] = {"median": statistics.median(pairs), "min": min(pairs),
                                      "max": max(pairs), "n": len(pairs)}
        out["cases"][name] = entry
    # The floor over the default run's own arrivals (those of seed 1000).
    p = model.Params.from_dict(todo["default"])
    _, arr, work = orders_of(model, todo["default"], 1000)
    floor = [bare_event_loop(arr, work, p.capacity_hours) for _ in range(max(repeats, 15))]
    out["floor"] = _summary([w for w, _ in floor])
    out["floor_cpu"] = _summary([c for _, c in floor])
    c = out["cases"]
    # Ratios from CPU-time medians (robust on a shared machine; wall-clock figures are in
    # the cases too).
    ratios: dict[str, float] = {}
    for label in impls:
        d = c["default"][f"{label}_cpu"]["median_s"]
        ratios[f"{label}_per_order_us"] = 1e6 * d / c["default"]["orders"]
        ratios[f"{label}_default_over_floor"] = d / out["floor_cpu"]["median_s"]
        for big in ("customers_x10", "orders_x10"):
            if big in c:
                ratios[f"{label}_{big}_over_x1"] = c[big][f"{label}_cpu"]["median_s"] / d
    if base is not None:
        ratios["speedup_default"] = c["default"]["speedup"]
        ratios["speedup_default_wall"] = c["default"]["speedup_wall"]
        ratios["speedup_default_pairs_median"] = c["default"]["speedup_pairs"]["median"]
    out["ratios"] = ratios
    out["targets"] = {}
    for key, (what, op, target) in TARGETS.items():
        value = ratios.get(key, ratios.get(f"after_{key}"))
        if value is not None:
            ok = value >= target if op == ">=" else value <= target
            out["targets"][key] = {"what": what, "value": value, "target": f"{op} {target}",
                                   "met": ok}
    if base is not None:
        shutil.rmtree(base._bench_tmp, ignore_errors=True)
    return out


def print_table(res: dict) -> None:
    """A readable table of the results."""
    labels = [k for k in ("before", "after") if k in res["cases"]["default"]]
    head = "".join(f"{lab + ' cpu ms':>14}{lab + ' wall ms':>14}" for lab in labels)
    print(f"{'case':<22}{'orders':>8}{head}{'speed-up':>10}")
    for name, e in res["cases"].items():
        row = f"{name:<22}{e['orders']:>8}"
        for lab in labels:
            row += f"{1e3 * e[lab + '_cpu']['median_s']:>14.2f}{1e3 * e[lab]['median_s']:>14.2f}"
        if "speedup" in e:
            row += f"{e['speedup']:>9.2f}x"
        print(row)
    f = res["floor_cpu"]
    print(f"{'bare event loop':<22}{'':>8}{1e3 * f['median_s']:>14.3f}")
    for k, v in res["ratios"].items():
        print(f"  {k:<36}{v:>10.2f}")
    for t in res["targets"].values():
        print(f"  target {t['what']:<40}{t['value']:>8.2f}  {t['target']:<8}"
              f"{'met' if t['met'] else 'MISSED'}")
    print(f"  machine: {res['machine']}")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--baseline", default=BASELINE_REF,
                    help="git commit of the model to compare with ('' for none)")
    ap.add_argument("--only", nargs="*", help="case names (default always included)")
    args = ap.parse_args(argv)
    res = run(args.repeats, args.baseline or None, args.only)
    print_table(res)
    print(f"written {save_json('model', res)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
