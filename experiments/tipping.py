"""`relsim tipping`: refine a tipping point by bisection along one factor.

The experiment file gives the model, the master seed, the fixed ``[params]``, the regimes
and the ``[compare]`` pair. Along the chosen factor every other parameter stays at its
``[params]`` value (or the model default); other factors' ranges in the file are not
sampled. At each evaluated point ``i`` (0 for the lower end, 1 for the upper end, then
2, 3, ... for successive midpoints) replicate ``r`` runs both compared regimes with the
same seed ``run_seed(master, row=i, replicate=r)``: common random numbers, so the paired
delta is free of the noise the regimes share. The pure bisection logic lives in
`analysis.tipping.bisect_sign_change`.

The refined estimate is merged into ``<out>/<name>/analysis/tipping_<output>.csv`` (rows
with ``method = bisection`` for the factor are replaced), and every evaluated point goes to
``tipping_points_<output>_<factor>.csv`` beside it.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from relsim.analysis.tipping import TIPPING_COLUMNS, Bisection, bisect_sign_change
from relsim.experiments.errors import UserError
from relsim.experiments.seeds import run_seed
from relsim.experiments.spec import Experiment, as_experiment, resolve_model

DEFAULT_OUT = "data/results"
DEFAULT_WIDTH_SHARE = 0.02
DEFAULT_MAX_REPLICATES = 32
PREFERRED_OUTPUT = "profit"


def _paired_delta(model_ref: str, params_a: dict, params_b: dict, seed: int,
                  output: str) -> float:
    """One replicate's paired delta: both regimes with the same seed (a worker task)."""
    fn = resolve_model(model_ref)
    a = fn(params_a, seed)
    b = fn(params_b, seed)
    for name, result in (("first", a), ("second", b)):
        if output not in result:
            raise UserError(f"the model returned no output '{output}' (it returned "
                            f"{', '.join(sorted(result))}) for the {name} compared regime")
    return float(a[output]) - float(b[output])


@dataclass
class TippingRun:
    """A finished refinement.

    Attributes:
        factor: The bisected factor.
        output: The output whose paired delta was bisected.
        result: The bisection result (bracket, threshold, evaluated points).
        table_path: The ``tipping_<output>.csv`` the estimate was merged into.
        points_path: The CSV of every evaluated point.
    """

    factor: str
    output: str
    result: Bisection
    table_path: Path
    points_path: Path


class _Evaluator:
    """Paired deltas at a factor value, cached per (point, replicate), run in parallel."""

    def __init__(self, exp: Experiment, factor: str, output: str, integer: bool,
                 pool: ProcessPoolExecutor | None) -> None:
        self.exp, self.factor, self.output, self.integer = exp, factor, output, integer
        self.pool = pool
        self.cache: dict[tuple[int, int], float] = {}
        self.regime_a, self.regime_b = exp.compare  # type: ignore[misc]

    def params(self, x: float, regime: str) -> dict[str, Any]:
        value: Any = int(round(x)) if self.integer else float(x)
        return {**self.exp.params, self.factor: value, **self.exp.regimes[regime]}

    def __call__(self, x: float, index: int, n: int) -> np.ndarray:
        todo = [r for r in range(n) if (index, r) not in self.cache]
        args = [(self.exp.model, self.params(x, self.regime_a), self.params(x, self.regime_b),
                 run_seed(self.exp.seed, index, r), self.output) for r in todo]
        try:
            if self.pool is not None and len(args) > 1:
                values = list(self.pool.map(_paired_delta, *zip(*args, strict=True)))
            else:
                values = [_paired_delta(*a) for a in args]
        except UserError:
            raise
        except Exception as exc:  # a model failure ends the bisection with a clear message
            raise UserError(f"the model failed at {self.factor} = {x:g} (point {index}): "
                            f"{type(exc).__name__}: {exc}") from None
        for r, v in zip(todo, values, strict=True):
            self.cache[(index, r)] = v
        return np.array([self.cache[(index, r)] for r in range(n)])


def _usable_cores() -> int:
    """Return the cores this process may use (all cores where affinity is unknown)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _choose_output(exp: Experiment, output: str | None) -> str:
    if output is not None:
        return output
    if PREFERRED_OUTPUT in exp.outputs or not exp.outputs:
        return PREFERRED_OUTPUT
    return exp.outputs[0]


def _range(exp: Experiment, factor: str, low: float | None, high: float | None
           ) -> tuple[float, float, bool]:
    spec = next((f for f in exp.factors if f.name == factor), None)
    if spec is None and (low is None or high is None):
        known = ", ".join(exp.factor_names) or "none"
        raise UserError(f"factor '{factor}' is not a factor of experiment '{exp.name}' "
                        f"(its factors: {known}); give its range with --low and --high")
    lo = float(low if low is not None else spec.low)  # type: ignore[union-attr]
    hi = float(high if high is not None else spec.high)  # type: ignore[union-attr]
    if not hi > lo:
        raise UserError(f"the search range of '{factor}' is reversed or empty: "
                        f"[{lo:g}, {hi:g}]")
    return lo, hi, bool(spec.integer) if spec is not None else False


def _merge_table(path: Path, row: dict) -> None:
    """Replace this factor's bisection row in ``tipping_<output>.csv``, keep the rest."""
    new = pd.DataFrame([row])
    if path.is_file():
        old = pd.read_csv(path)
        if "method" not in old.columns:
            old["method"] = "logistic"
        old = old[~((old["factor"] == row["factor"]) & (old["method"] == "bisection"))]
        new = pd.concat([old, new], ignore_index=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    new.to_csv(path, index=False)


def refine_tipping(
    experiment: Experiment | str | Path, factor: str, *, output: str | None = None,
    low: float | None = None, high: float | None = None, width: float | None = None,
    replicates: int | None = None, max_replicates: int = DEFAULT_MAX_REPLICATES,
    out: str | Path = DEFAULT_OUT, workers: int | None = None,
    progress: Any = None,
) -> TippingRun:
    """Bisect along ``factor`` to the sign change of the compared paired delta.

    Args:
        experiment: An experiment (or its file) with a ``[compare]`` pair.
        factor: The parameter to bisect along.
        output: Output whose delta is bisected (default: profit, else the first output).
        low: Lower end (default: the factor's range in the file).
        high: Upper end.
        width: Requested bracket width (default 2% of the range).
        replicates: Replicates per point to start with (default: the file's).
        max_replicates: Upper limit of replicates per point.
        out: Results root; the CSVs go to ``out/<name>/analysis/``.
        workers: Worker processes (default: usable cores; 1 runs in-process).
        progress: An `experiments.progress.Progress` told of each evaluated point.

    Returns:
        A `TippingRun`.

    Raises:
        UserError: Bad experiment, factor, range or output; no sign change in the range.
    """
    exp = as_experiment(experiment)
    if exp.compare is None:
        raise UserError(f"experiment '{exp.name}' has no [compare] pair: bisection needs "
                        "delta = [A, B] to know which paired difference to follow")
    output = _choose_output(exp, output)
    lo, hi, integer = _range(exp, factor, low, high)
    width = float(width) if width is not None else DEFAULT_WIDTH_SHARE * (hi - lo)
    start = int(replicates or exp.replicates)
    max_replicates = max(int(max_replicates), start)
    workers = workers or _usable_cores()
    pool = ProcessPoolExecutor(workers) if workers > 1 else None
    try:
        evaluate = _Evaluator(exp, factor, output, integer, pool)
        if progress is not None:
            inner = evaluate

            def evaluate(x: float, index: int, n: int) -> np.ndarray:
                progress.update(1, f"{factor} = {x:.4g}, {n} replicates")
                return inner(x, index, n)
        try:
            result = bisect_sign_change(evaluate, lo, hi, width=width, replicates=start,
                                        max_replicates=max_replicates)
        except ValueError as exc:
            raise UserError(f"tipping along '{factor}' for {output}: {exc}") from None
    finally:
        if pool is not None:
            pool.shutdown()
    analysis = Path(out) / exp.name / "analysis"
    row = {"factor": factor, "threshold": result.threshold, "ci_low": result.ci_low,
           "ci_high": result.ci_high, "direction": result.direction,
           "n": int(sum(p["n"] for p in result.points)), "share_positive": float("nan"),
           "method": "bisection", "note": result.note}
    table_path = analysis / f"tipping_{output}.csv"
    _merge_table(table_path, {k: row[k] for k in [*TIPPING_COLUMNS, *row]})
    points_path = analysis / f"tipping_points_{output}_{factor}.csv"
    points = pd.DataFrame(result.points).rename(columns={"x": factor})
    points.to_csv(points_path, index=False)
    return TippingRun(factor, output, result, table_path, points_path)


def run_tipping(args) -> TippingRun:
    """Run `relsim tipping` from parsed arguments and print the estimate."""
    from relsim.experiments.progress import Progress

    with Progress(f"tipping along {args.factor}", unit="point") as bar:
        run = refine_tipping(
            args.experiment, args.factor, output=args.output, low=args.low, high=args.high,
            width=args.width, replicates=args.replicates, max_replicates=args.max_replicates,
            out=args.out or DEFAULT_OUT, workers=getattr(args, "workers", None), progress=bar,
        )
    r = run.result
    status = "converged" if r.converged else f"not converged: {r.note}"
    print(f"tipping point of delta {run.output} along {run.factor}: {r.threshold:.4g} "
          f"(bracket [{r.ci_low:.4g}, {r.ci_high:.4g}], {r.direction}; {status}; "
          f"{len(r.points)} points)")
    print(f"wrote {run.table_path} and {run.points_path}")
    return run
