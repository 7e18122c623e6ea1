"""`relsim tipping`: refine a tipping point by bisection along one factor.

The experiment file gives the model, the master seed, the fixed ``[params]``, the regimes,
the comparisons (``[compare]``), contrasts (``[contrast]``) and axes (``[axes.*]``).
``--compare NAME`` picks the comparison or contrast whose paired value is followed
(default: the only one, else ``delta``). Along the chosen factor (a parameter or an axis)
every other parameter stays at its ``[params]`` value (or the model default), or at the
value given with ``--set k=v`` (recorded in the output table); other factors' ranges in
the file are not sampled. ``--by F=v1,v2,...`` repeats the bisection at each level of a
second factor, one tipping point per level, so "does F move the tipping point?" has an
answer.

At each evaluated point ``i`` (0 for the lower end, 1 for the upper end, then 2, 3, ...
for successive midpoints) replicate ``r`` runs every regime of the comparison with the
same seed ``run_seed(master, row=i, replicate=r)``: common random numbers, so the paired
value is free of the noise the regimes share. The seeds do not depend on the ``--by``
level, so the levels are compared under common random numbers too. The pure bisection
logic lives in `analysis.tipping.bisect_sign_change`.

The refined estimate is merged into ``<out>/<name>/analysis/tipping_<stem>.csv`` (rows
with ``method = bisection`` for the same factor, ``--set`` values and ``--by`` factor are
replaced), and every evaluated point goes to ``tipping_points_<stem>_<factor>[...].csv``
beside it, where ``<stem>`` is ``<output>`` for the version-1 comparison ``delta`` and
``<name>_<output>`` otherwise.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from relsim.analysis.tipping import TIPPING_COLUMNS, Bisection, bisect_sign_change
from relsim.experiments.errors import UserError
from relsim.experiments.seeds import run_seed
from relsim.experiments.spec import (
    AXIS_RANGE,
    V1_COMPARE,
    Experiment,
    _close,
    as_experiment,
    params_class,
    resolve_model,
)

DEFAULT_OUT = "data/results"
DEFAULT_WIDTH_SHARE = 0.02
DEFAULT_MAX_REPLICATES = 32
PREFERRED_OUTPUT = "profit"
#: Levels of ``--by F`` without values, over a bounded factor's range: low, middle, high.
DEFAULT_BY_LEVELS = 3
#: Columns a bisection adds to the tipping table (what was held fixed, and the level).
SCENARIO_COLUMNS = ["fixed", "by_factor", "by_value"]


def _paired_value(model_ref: str, runs: list[tuple[dict, float]], seed: int,
                  output: str) -> float:
    """One replicate's paired value: sum of weight x output over regimes, one seed."""
    fn = resolve_model(model_ref)
    total = 0.0
    for i, (params, weight) in enumerate(runs):
        result = fn(params, seed)
        if output not in result:
            raise UserError(f"the model returned no output '{output}' (it returned "
                            f"{', '.join(sorted(result))}) for compared regime {i + 1}")
        total += weight * float(result[output])
    return total


@dataclass
class TippingRun:
    """A finished refinement.

    Attributes:
        factor: The bisected factor.
        output: The output whose paired value was bisected.
        result: The bisection result (bracket, threshold, evaluated points); with
            ``--by``, that of the first level with a sign change (None if none had one).
        table_path: The ``tipping_<stem>.csv`` the estimate was merged into.
        points_path: The CSV of every evaluated point.
        compare: The comparison or contrast followed.
        rows: The rows merged into the table (one per ``--by`` level).
    """

    factor: str
    output: str
    result: Bisection | None
    table_path: Path
    points_path: Path
    compare: str = V1_COMPARE
    rows: list[dict] = field(default_factory=list)
    results: list[Bisection | None] = field(default_factory=list)


class _Evaluator:
    """Paired values at a factor value, cached per (point, replicate), run in parallel."""

    def __init__(self, exp: Experiment, factor: str, output: str, integer: bool,
                 pool: ProcessPoolExecutor | None, terms: dict[str, float],
                 values: dict[str, Any]) -> None:
        self.exp, self.factor, self.output, self.integer = exp, factor, output, integer
        self.pool = pool
        self.terms = terms
        self.values = values
        self.cache: dict[tuple[int, int], float] = {}
        self.xs: dict[int, float] = {}

    def params(self, x: float, regime: str) -> dict[str, Any]:
        value: Any = int(round(x)) if self.integer else float(x)
        return self.exp.run_params({**self.values, self.factor: value}, regime)

    def __call__(self, x: float, index: int, n: int) -> np.ndarray:
        todo = [r for r in range(n) if (index, r) not in self.cache]
        self.xs[index] = float(x)
        runs = [(self.params(x, regime), w) for regime, w in self.terms.items()]
        args = [(self.exp.model, runs, run_seed(self.exp.seed, index, r), self.output)
                for r in todo]
        try:
            if self.pool is not None and len(args) > 1:
                values = list(self.pool.map(_paired_value, *zip(*args, strict=True)))
            else:
                values = [_paired_value(*a) for a in args]
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
    if spec is None and factor in exp.axes:  # an axis outside [factors]: its whole range
        lo, hi = (low if low is not None else AXIS_RANGE[0],
                  high if high is not None else AXIS_RANGE[1])
    elif spec is None and (low is None or high is None):
        known = ", ".join([*exp.factor_names, *(a for a in exp.axes
                                                if a not in exp.factor_names)]) or "none"
        raise UserError(f"factor '{factor}' is not a factor or axis of experiment "
                        f"'{exp.name}' (its factors and axes: {known}); give its range with "
                        "--low and --high")
    else:
        lo = low if low is not None else spec.low  # type: ignore[union-attr]
        hi = high if high is not None else spec.high  # type: ignore[union-attr]
    lo, hi = float(lo), float(hi)
    if not hi > lo:
        raise UserError(f"the search range of '{factor}' is reversed or empty: "
                        f"[{lo:g}, {hi:g}]")
    if factor in exp.axes and not AXIS_RANGE[0] <= lo < hi <= AXIS_RANGE[1]:
        raise UserError(f"the search range [{lo:g}, {hi:g}] of axis '{factor}' leaves the "
                        f"axis range [{AXIS_RANGE[0]:g}, {AXIS_RANGE[1]:g}]")
    return lo, hi, bool(spec.integer) if spec is not None else False


def parse_value(name: str, raw: str, flag: str) -> Any:
    """A ``--set``/``--by`` value as TOML reads it (numbers, true/false, "text")."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        if re.fullmatch(r"[A-Za-z_][\w.-]*", raw):
            return raw  # a bare word: a string value
        raise UserError(f"{flag} {name}: cannot read the value {raw!r} (write a number, "
                        "true/false or a quoted string)") from None


def parse_sets(items: list[str] | None) -> dict[str, Any]:
    """Parse repeated ``--set NAME=VALUE`` into a dict (later ones win)."""
    out: dict[str, Any] = {}
    for item in items or []:
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep or not name or not raw.strip():
            raise UserError(f"--set expects NAME=VALUE, got {item!r} (e.g. --set "
                            "overtime_max=0.5)")
        out[name] = parse_value(name, raw.strip(), "--set")
    return out


def parse_by(text: str | None) -> tuple[str, list[Any] | None] | None:
    """Parse ``--by F`` or ``--by F=v1,v2,...`` into (factor, levels or None)."""
    if text is None:
        return None
    name, sep, raw = text.partition("=")
    name = name.strip()
    if not name:
        raise UserError(f"--by expects F or F=v1,v2,..., got {text!r}")
    if not sep:
        return name, None
    levels = [parse_value(name, v.strip(), "--by") for v in raw.split(",") if v.strip()]
    if not levels:
        raise UserError(f"--by {name}= lists no levels (e.g. --by {name}=0,0.25,0.5)")
    if len({repr(v) for v in levels}) != len(levels):
        raise UserError(f"--by {name}: the levels {levels!r} contain duplicates")
    return name, levels


def _by_levels(exp: Experiment, name: str, levels: list[Any] | None) -> list[Any]:
    """The levels of ``--by``: as given, else the file's grid values or low/middle/high."""
    if levels is not None:
        return levels
    spec = next((f for f in exp.factors if f.name == name), None)
    if spec is not None and spec.values is not None:
        return list(spec.values)
    if spec is not None:
        grid = np.linspace(spec.low, spec.high, DEFAULT_BY_LEVELS)
        return [int(round(v)) for v in grid] if spec.integer else [float(v) for v in grid]
    if name in exp.axes:
        return [float(v) for v in np.linspace(*AXIS_RANGE, DEFAULT_BY_LEVELS)]
    raise UserError(f"--by {name}: '{name}' is not a factor or axis of experiment "
                    f"'{exp.name}', so its levels are unknown; list them, e.g. "
                    f"--by {name}=0,0.25,0.5")


def _choose_difference(exp: Experiment, compare: str | None) -> str:
    names = exp.difference_names
    if compare is not None:
        if compare not in names:
            raise UserError(f"--compare {compare}: experiment '{exp.name}' has no comparison "
                            f"or contrast of that name{_close(compare, names)} (it has: "
                            f"{', '.join(names) or 'none'})")
        return compare
    if not names:
        raise UserError(f"experiment '{exp.name}' has no [compare] pair: bisection needs "
                        "a comparison (e.g. delta = [A, B]) to know which paired difference "
                        "to follow")
    if len(names) == 1:
        return names[0]
    if V1_COMPARE in exp.comparisons:
        return V1_COMPARE
    raise UserError(f"experiment '{exp.name}' has {len(names)} comparisons and contrasts "
                    f"({', '.join(names)}); choose one with --compare NAME")


def _check_scenario(exp: Experiment, factor: str, fixed: dict[str, Any],
                    by: str | None, terms: dict[str, float]) -> None:
    """Reject --set/--by/--factor combinations that would silently not apply."""
    if by is not None and by == factor:
        raise UserError(f"--by {by} is the bisected factor itself; choose another factor")
    for name in fixed:
        if name == factor:
            raise UserError(f"--set {name}: '{name}' is the bisected factor; it cannot also "
                            "be fixed")
        if name == by:
            raise UserError(f"--set {name}: '{name}' is the --by factor; it cannot also be "
                            "fixed")
    chosen = {factor, *fixed, *([by] if by else [])}
    for name in sorted(chosen):
        for regime in terms:
            if name in exp.regimes.get(regime, {}):
                raise UserError(f"'{name}' is overridden by regime '{regime}' of the "
                                "comparison, which takes precedence: bisecting or fixing it "
                                "would not apply")
    explicit = chosen | set(exp.params)
    for name in sorted(explicit):
        axis = exp.axes.get(name)
        if axis is None:
            continue
        clash = sorted(set(axis.ends) & explicit)
        if clash:
            raise UserError(f"axis '{name}' moves {clash}, which is also set (--factor, "
                            "--set, --by or [params]); keep one")


def _validate_points(exp: Experiment, values_list: list[dict[str, Any]],
                     terms: dict[str, float]) -> None:
    """Check every scenario's parameters against the model's ``Params`` before running."""
    params_cls = params_class(exp.model)
    if params_cls is None:
        return
    for values in values_list:
        for regime in terms:
            try:
                params_cls.from_dict(exp.run_params(values, regime))
            except (ValueError, TypeError) as exc:
                shown = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                                  for k, v in values.items())
                raise UserError(f"tipping scenario {shown} (regime '{regime}'): {exc}"
                                ) from None


def _fixed_text(fixed: dict[str, Any]) -> str:
    return "; ".join(f"{k}={v}" for k, v in sorted(fixed.items()))


def _file_tag(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=-]+", "-", text).strip("-")


def _blank(values: pd.Series) -> pd.Series:
    """Text of a column that may hold NaN for empty (CSV round trips turn "" into NaN)."""
    return values.astype(object).where(values.notna(), "").astype(str)


def _merge_table(path: Path, rows: list[dict]) -> None:
    """Replace the bisection rows of the same scenario in ``tipping_<stem>.csv``.

    A scenario is (factor, ``--set`` values, ``--by`` factor): a rerun replaces its rows
    (every level of a ``--by``), other rows (logistic, other scenarios) are kept.
    """
    new = pd.DataFrame(rows)
    if path.is_file():
        old = pd.read_csv(path)
        if "method" not in old.columns:
            old["method"] = "logistic"
        for col in ("fixed", "by_factor"):
            if col not in old.columns:
                old[col] = ""
        first = rows[0]
        same = ((old["factor"] == first["factor"]) & (old["method"] == "bisection")
                & (_blank(old["fixed"]) == first["fixed"])
                & (_blank(old["by_factor"]) == first["by_factor"]))
        new = pd.concat([old[~same], new], ignore_index=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    new.to_csv(path, index=False)


def _describe_axis(exp: Experiment, factor: str, x: float) -> str:
    axis = exp.axes.get(factor)
    if axis is None or not math.isfinite(x):
        return ""
    at = ", ".join(f"{p} {v:.4g}" for p, v in axis.resolve(x).items())
    return f"at {factor} {x:.4g}: {at}"


def refine_tipping(
    experiment: Experiment | str | Path, factor: str, *, output: str | None = None,
    low: float | None = None, high: float | None = None, width: float | None = None,
    replicates: int | None = None, max_replicates: int = DEFAULT_MAX_REPLICATES,
    out: str | Path = DEFAULT_OUT, workers: int | None = None, compare: str | None = None,
    fixed: dict[str, Any] | None = None, by: tuple[str, list[Any] | None] | None = None,
    progress: Any = None,
) -> TippingRun:
    """Bisect along ``factor`` to the sign change of a comparison's paired value.

    Args:
        experiment: An experiment (or its file) with a ``[compare]`` table.
        factor: The parameter or axis to bisect along.
        output: Output whose paired value is bisected (default: profit, else the first).
        low: Lower end (default: the factor's range in the file; an axis: 0).
        high: Upper end (an axis: 1).
        width: Requested bracket width (default 2% of the range).
        replicates: Replicates per point to start with (default: the file's).
        max_replicates: Upper limit of replicates per point.
        out: Results root; the CSVs go to ``out/<name>/analysis/``.
        workers: Worker processes (default: usable cores; 1 runs in-process).
        compare: The comparison or contrast to follow (default: the only one, else
            ``delta``).
        fixed: Other parameters (or axes) held at these values (``--set``), on top of
            ``[params]``; recorded in the table's ``fixed`` column.
        by: ``(F, levels)``: one bisection per level of F (levels None: the file's grid
            values of F, else low/middle/high of its range, an axis 0/0.5/1).
        progress: An `experiments.progress.Progress` (or any object with
            ``update(n, text)``) told of each evaluated point, or None.

    Returns:
        A `TippingRun`.

    Raises:
        UserError: Bad experiment, factor, range, scenario or output; no sign change in
            the range (without ``by``; with ``by`` a level without one gets a row with a
            NaN threshold and a note).
    """
    exp = as_experiment(experiment)
    name = _choose_difference(exp, compare)
    terms = exp.difference_terms(name)
    output = _choose_output(exp, output)
    fixed = dict(fixed or {})
    by_name, levels = (by[0], _by_levels(exp, *by)) if by else (None, [None])
    _check_scenario(exp, factor, fixed, by_name, terms)
    lo, hi, integer = _range(exp, factor, low, high)
    scenarios = [{**fixed, **({by_name: level} if by_name else {})} for level in levels]
    _validate_points(exp, [{**v, factor: x} for v in scenarios for x in (lo, hi)], terms)
    width = float(width) if width is not None else DEFAULT_WIDTH_SHARE * (hi - lo)
    start = int(replicates or exp.replicates)
    max_replicates = max(int(max_replicates), start)
    workers = workers or _usable_cores()
    pool = ProcessPoolExecutor(workers) if workers > 1 else None
    stem = output if name == V1_COMPARE and name in exp.comparisons else f"{name}_{output}"
    fixed_text = _fixed_text(fixed)
    rows: list[dict] = []
    points: list[pd.DataFrame] = []
    first: Bisection | None = None
    results: list[Bisection | None] = []
    try:
        for level, values in zip(levels, scenarios, strict=True):
            evaluate = _Evaluator(exp, factor, output, integer, pool, terms, values)
            step = evaluate if progress is None else _reporting(evaluate, progress, factor,
                                                                 by_name, level)
            try:
                result = bisect_sign_change(step, lo, hi, width=width, replicates=start,
                                            max_replicates=max_replicates)
            except ValueError as exc:
                if by_name is None:
                    raise UserError(f"tipping along '{factor}' for {output} ({name}): {exc}"
                                    ) from None
                result = None
                note = f"{exc}"
            results.append(result)
            if result is not None:
                first = first or result
                note = "; ".join(t for t in (result.note, _describe_axis(
                    exp, factor, result.threshold)) if t)
            nan = float("nan")
            row = {"factor": factor,
                   "threshold": result.threshold if result else nan,
                   "ci_low": result.ci_low if result else nan,
                   "ci_high": result.ci_high if result else nan,
                   "direction": result.direction if result else "",
                   "n": int(sum(p["n"] for p in result.points)) if result else 0,
                   "share_positive": nan, "method": "bisection", "note": note,
                   "fixed": fixed_text, "by_factor": by_name or "",
                   "by_value": level if by_name else nan}
            rows.append({k: row[k] for k in [*TIPPING_COLUMNS, *row]})
            evaluated = pd.DataFrame(result.points if result else evaluate_points(evaluate))
            evaluated = evaluated.rename(columns={"x": factor})
            meta = {"compare": name, "output": output, "bisected": factor,
                    "fixed": fixed_text, "by_factor": by_name or "",
                    "by_value": level if by_name else nan}
            for i, (k, v) in enumerate(meta.items()):
                evaluated.insert(i, k, v)
            points.append(evaluated)
    finally:
        if pool is not None:
            pool.shutdown()
    analysis = Path(out) / exp.name / "analysis"
    table_path = analysis / f"tipping_{stem}.csv"
    _merge_table(table_path, rows)
    tag = (f"__by_{by_name}" if by_name else "") + (
        f"__set_{_file_tag(fixed_text)}" if fixed else "")
    points_path = analysis / f"tipping_points_{stem}_{factor}{tag}.csv"
    pd.concat(points, ignore_index=True).to_csv(points_path, index=False)
    return TippingRun(factor, output, first, table_path, points_path, name, rows, results)


def _reporting(evaluate: _Evaluator, progress: Any, factor: str, by: str | None,
               level: Any):
    """Wrap an evaluator so that each evaluated point is reported to ``progress``."""
    where = f"{by} = {level}, " if by else ""

    def step(x: float, index: int, n: int) -> np.ndarray:
        progress.update(1, f"{where}{factor} = {x:.4g}, {n} replicates")
        return evaluate(x, index, n)

    return step


def evaluate_points(evaluate: _Evaluator) -> list[dict]:
    """The points an evaluator measured (the ends, when a bisection found no crossing)."""
    by_point: dict[int, list[float]] = {}
    for (index, _), value in sorted(evaluate.cache.items()):
        by_point.setdefault(index, []).append(value)
    out = []
    for index, values in by_point.items():
        v = np.asarray(values, float)
        out.append({"x": evaluate.xs[index], "mean": float(v.mean()), "ci_low": float("nan"),
                    "ci_high": float("nan"), "n": int(v.size), "resolved": False,
                    "point": index})
    return out


def run_tipping(args) -> TippingRun:
    """Run `relsim tipping` from parsed arguments and print the estimate."""
    from relsim.experiments.progress import Progress

    fixed, by = parse_sets(getattr(args, "set", None)), parse_by(getattr(args, "by", None))
    with Progress(f"tipping along {args.factor}", unit="point") as bar:
        run = refine_tipping(
            args.experiment, args.factor, output=args.output, low=args.low, high=args.high,
            width=args.width, replicates=args.replicates, max_replicates=args.max_replicates,
            out=args.out or DEFAULT_OUT, workers=getattr(args, "workers", None),
            compare=getattr(args, "compare", None), fixed=fixed, by=by, progress=bar,
        )
    what = f"{run.compare} {run.output}"
    for row, result in zip(run.rows, run.results, strict=True):
        where = f" at {row['by_factor']} = {row['by_value']}" if row["by_factor"] else ""
        fixed = f" with {row['fixed']}" if row["fixed"] else ""
        if result is None:
            print(f"tipping point of {what} along {run.factor}{where}{fixed}: none "
                  f"({row['note']})")
            continue
        status = "converged" if result.converged else "not converged"
        print(f"tipping point of {what} along {run.factor}{where}{fixed}: "
              f"{row['threshold']:.4g} (bracket [{row['ci_low']:.4g}, {row['ci_high']:.4g}],"
              f" {row['direction']}; {status}{'; ' + row['note'] if row['note'] else ''})")
    print(f"wrote {run.table_path} and {run.points_path}")
    return run
