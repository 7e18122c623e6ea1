"""Model speed: default run time, time per order, scaling with customers and with orders.

Run: ``python -m benchmarks.model_bench`` (or ``make bench`` for every benchmark). Figures
are medians over repeated runs with min and max, all measured in one process so that ratios
are stable on a noisy machine. Single-core: the model itself is single-threaded.
Writes ``benchmarks/results/model.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
from relsim import model
from relsim.model.randomness import lognormal_params

RESULTS = Path(__file__).resolve().parent / "results"


def time_runs(params: dict, repeats: int, seed0: int = 0) -> dict[str, float]:
    """Wall times of ``repeats`` runs (distinct seeds): median, min, max, and orders/run."""
    times, orders = [], []
    for s in range(repeats):
        t0 = time.perf_counter()
        model.simulate(params, seed0 + s)  # construction, run, KPIs, release: what a sweep pays
        times.append(time.perf_counter() - t0)
        orders.append(_orders_of(params, seed0 + s))
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "orders": statistics.median(orders),
    }


def _orders_of(params: dict, seed: int) -> int:
    """Orders placed in one run (a separate, untimed run)."""
    m = model.SalesModel(params, seed=seed, series=False)
    m.run()
    return len(m.orders)


def bare_event_loop(params: dict, seed: int = 0) -> float:
    """The floor: the same Poisson arrivals and FCFS service in a bare Python loop (seconds)."""
    p = model.Params.from_dict(params)
    rng = np.random.default_rng(seed)
    lam = p.utilization * p.capacity_hours / p.work_mean_hours
    n = int(lam * p.days * 1.2) + 10
    gaps = (rng.standard_exponential(n) / lam).tolist()
    mu, sigma = lognormal_params(p.work_mean_hours, p.work_cv)
    work = (rng.lognormal(mu, sigma, n) / p.capacity_hours).tolist()
    t0 = time.perf_counter()
    t = free = total = 0.0
    for g, w in zip(gaps, work, strict=True):
        t += g
        if t > p.days:
            break
        start = t if t > free else free
        free = start + w
        total += free - t
    return time.perf_counter() - t0


def run(repeats: int = 15) -> dict:
    """All model benchmarks; returns the result dict."""
    base = dict(model.REGIMES["relationship"])
    out: dict[str, dict] = {}
    out["default"] = time_runs(base, repeats)
    out["sacred"] = time_runs(dict(model.REGIMES["sacred"]), repeats)
    for k in (1, 10, 100):
        out[f"customers_x{k}"] = time_runs(dict(base, customers=60 * k), max(3, repeats // k))
    # 10x orders at the same load and the same customers: ten times the capacity, so each
    # customer orders ten times as often.
    out["orders_x10"] = time_runs(dict(base, capacity_hours=160.0), max(3, repeats // 5))
    floor = sorted(bare_event_loop(base, s) for s in range(repeats))
    out["bare_event_loop"] = {"median_s": statistics.median(floor), "min_s": floor[0],
                              "max_s": floor[-1]}
    d = out["default"]
    out["ratios"] = {
        "per_order_us": 1e6 * d["median_s"] / d["orders"],
        "customers_x10_over_x1": out["customers_x10"]["median_s"]
        / out["customers_x1"]["median_s"],
        "customers_x100_over_x1": out["customers_x100"]["median_s"]
        / out["customers_x1"]["median_s"],
        "orders_x10_over_x1": out["orders_x10"]["median_s"] / out["customers_x1"]["median_s"],
        "default_over_floor": d["median_s"] / out["bare_event_loop"]["median_s"],
    }
    return out


def print_table(res: dict) -> None:
    """A readable table of the results."""
    print(f"{'case':<18} {'median s':>10} {'min s':>10} {'max s':>10} {'orders':>8}")
    for name, r in res.items():
        if name == "ratios":
            continue
        print(f"{name:<18} {r['median_s']:>10.4f} {r['min_s']:>10.4f} {r['max_s']:>10.4f} "
              f"{r.get('orders', float('nan')):>8.0f}")
    for k, v in res["ratios"].items():
        print(f"{k:<28} {v:>10.2f}")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args(argv)
    res = run(args.repeats)
    print_table(res)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "model.json").write_text(json.dumps(res, indent=2))
    print(f"written {RESULTS / 'model.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
