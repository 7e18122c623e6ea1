"""Experiment files: parsing and validation into typed dataclasses.

An experiment file is TOML (see ``docs/EXPERIMENTS.md``) with the tables
``[experiment]``, ``[params]``, ``[factors]``, ``[axes.*]``, ``[regimes.*]``,
``[compare]`` and ``[contrast]``. `load_experiment` reads one and returns an
`Experiment`; every problem with the file raises `UserError` with a one-paragraph message
naming the file, the table and the offending key.

Parameter precedence for one run: the experiment's ``[params]``, then the design row's
factor values, then the regime's overrides; an axis value (``[axes.<name>]``, a 1-D
factor that moves several parameters together) is then replaced by the parameters it
stands for. A regime may not override a varied factor or a parameter an axis moves (the
design would silently not be what it says), and this is rejected.

``[compare]`` names paired differences: ``name = ["A", "B"]`` stores ``<name>_<output>``
= A − B per (row, replicate), both regimes run with the same seed. The version-1 form,
a single ``delta = ["A", "B"]``, is simply the comparison named ``delta``.
``[contrast]`` names differences of two comparisons: ``name = ["C1", "C2"]`` is
``C1 − C2`` per (row, replicate), i.e. (A1 − B1) − (A2 − B2), every regime of both under
the same seed.

When the model's module exposes a ``Params`` class with ``from_dict`` (our model does),
every parameter name and value, every factor's bounds or grid values and every regime
override are validated against it, so an unknown name or an out-of-range bound is
reported before any run starts.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import json
import math
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relsim.experiments.errors import UserError

#: Designs the runner knows, mapped to what their ``samples`` means.
DESIGNS: dict[str, str] = {
    "sobol": "base sample size N (a power of 2)",
    "morris": "number of trajectories",
    "lhs": "number of rows",
    "grid": "unused (full factorial of the factor values)",
    "replicate": "unused (one design row)",
}
DEFAULT_MODEL = "relsim.model:simulate"
# relsim's packages before they moved under the relsim namespace (version 0.1).
_OLD_NAMES = ("model", "experiments", "analysis")
DEFAULT_MORRIS_LEVELS = 4
TOP_LEVEL_TABLES = ("experiment", "params", "factors", "axes", "regimes", "compare",
                    "contrast")
#: The comparison name of the version-1 form ``[compare] delta = [A, B]``.
V1_COMPARE = "delta"
#: Comparison and contrast names that would collide with analysis file names.
RESERVED_DIFFERENCE_NAMES = ("map", "points", "by")
#: The coordinate range of every axis: 0 is its first end, 1 its second.
AXIS_RANGE = (0.0, 1.0)
EXPERIMENT_KEYS = (
    "name", "model", "design", "samples", "replicates", "seed", "outputs",
    "calc_second_order", "levels", "series", "description", "timeout_s",
)
REQUIRED_EXPERIMENT_KEYS = ("name", "design", "seed")
#: Run-table columns a parameter or output may not be named after.
RESERVED_COLUMNS = ("row", "replicate", "regime", "seed", "status", "error", "wall_s",
                    "session", "traceback")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_MODEL_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


@dataclass(frozen=True)
class Factor:
    """One varied parameter.

    Attributes:
        name: Parameter name.
        low: Lower bound (for sampled designs; the smallest value for grids).
        high: Upper bound (for sampled designs; the largest value for grids).
        values: Grid values, or None for sampled designs.
        integer: True when the model's parameter is a whole number; sampled values are
            then rounded to the nearest integer.
    """

    name: str
    low: float
    high: float
    values: tuple[Any, ...] | None = None
    integer: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The factor as recorded in manifest.json."""
        out: dict[str, Any] = {"name": self.name, "bounds": [self.low, self.high]}
        if self.values is not None:
            out["values"] = list(self.values)
        out["integer"] = self.integer
        return out


@dataclass(frozen=True)
class Axis:
    """A 1-D factor that moves several parameters together (``[axes.<name>]``).

    At coordinate ``t`` in [0, 1] every parameter ``p`` with ends ``(a, b)`` takes
    ``a + t * (b - a)`` (rounded for whole-number parameters): 0 is the first end of every
    parameter, 1 the second. An end may be the larger one (a parameter that falls along
    the axis, e.g. ``discipline = [1.0, 0.0]`` on a chaos axis whose regimes leave
    ``discipline`` alone).

    Attributes:
        name: The axis name, used like a parameter in ``[factors]`` and ``[params]``.
        ends: Parameter name -> ``(value at 0, value at 1)``, in file order.
        integers: Parameters that are whole numbers in the model's ``Params``.
    """

    name: str
    ends: dict[str, tuple[float, float]]
    integers: frozenset[str] = frozenset()

    def resolve(self, t: float) -> dict[str, Any]:
        """The parameter values at coordinate ``t``."""
        t = float(t)
        out: dict[str, Any] = {}
        for p, (a, b) in self.ends.items():
            value = a + t * (b - a)
            out[p] = int(round(value)) if p in self.integers else float(value)
        return out

    def to_dict(self) -> dict[str, list[float]]:
        """The axis as recorded in manifest.json."""
        return {p: [a, b] for p, (a, b) in self.ends.items()}


@dataclass(frozen=True)
class Experiment:
    """A validated experiment.

    Attributes:
        name: Experiment name; results go to ``<out>/<name>/``.
        model: ``module:function`` reference of the simulated function.
        design: One of `DESIGNS`.
        seed: Master seed: every run seed derives from it, the row and the replicate.
        samples: SALib sample size (meaning depends on the design), None for grid/replicate.
        replicates: Seeds per design row.
        outputs: Outputs to analyse (every returned output is stored anyway).
        params: Fixed parameter overrides, as given.
        factors: Varied parameters, in file order.
        regimes: Named override sets, in file order; empty when none.
        comparisons: Named paired differences ``name -> (A, B)`` (``<name>_<output>`` =
            A − B), in file order; empty when none. The version-1 form is the one named
            ``delta``.
        contrasts: Named differences of two comparisons ``name -> (C1, C2)``
            (``<name>_<output>`` = C1 − C2), in file order.
        axes: Named 1-D axes (``[axes.<name>]``), in file order.
        calc_second_order: Sobol: whether the design supports second-order indices.
        levels: Morris: number of grid levels.
        series: Whether runs also return and store daily series.
        description: Free text.
        source: The file's content as given (parsed TOML).
        path: The file's path, or None when built from a mapping.
        defaults: The model's full resolved parameter set (``Params``) for this
            experiment's ``[params]``, or None when the model has no ``Params``.
        timeout_s: Per-run time limit in seconds (a longer run is stored as failed), or
            None for no limit. It does not change results: it is left out of `to_dict`
            and the identity (each sweep session records the timeout it used).
    """

    name: str
    model: str
    design: str
    seed: int
    samples: int | None
    replicates: int
    outputs: tuple[str, ...]
    params: dict[str, Any]
    factors: tuple[Factor, ...]
    regimes: dict[str, dict[str, Any]]
    comparisons: dict[str, tuple[str, str]] = field(default_factory=dict)
    calc_second_order: bool = False
    levels: int = DEFAULT_MORRIS_LEVELS
    series: bool = False
    description: str = ""
    source: dict[str, Any] = field(default_factory=dict)
    path: str | None = None
    defaults: dict[str, Any] | None = None
    contrasts: dict[str, tuple[str, str]] = field(default_factory=dict)
    axes: dict[str, Axis] = field(default_factory=dict)

    @property
    def compare(self) -> tuple[str, str] | None:
        """The version-1 pair: the comparison ``delta``, else the only one, else None."""
        if V1_COMPARE in self.comparisons:
            return self.comparisons[V1_COMPARE]
        if len(self.comparisons) == 1:
            return next(iter(self.comparisons.values()))
        return None

    def difference_terms(self, name: str) -> dict[str, float]:
        """Regime -> weight of a comparison or contrast (``A − B`` is ``{A: 1, B: -1}``).

        Raises:
            KeyError: ``name`` is neither a comparison nor a contrast.
        """
        if name in self.comparisons:
            a, b = self.comparisons[name]
            return {a: 1.0, b: -1.0}
        first, second = self.contrasts[name]
        terms = dict(self.difference_terms(first))
        for regime, weight in self.difference_terms(second).items():
            terms[regime] = terms.get(regime, 0.0) - weight
        return {r: w for r, w in terms.items() if w != 0.0}

    @property
    def difference_names(self) -> list[str]:
        """Comparisons, then contrasts, in file order."""
        return [*self.comparisons, *self.contrasts]

    def resolve_axes(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Replace every axis coordinate in ``values`` by the parameters it stands for."""
        out = {k: v for k, v in values.items() if k not in self.axes}
        for name, axis in self.axes.items():
            if name in values:
                out.update(axis.resolve(values[name]))
        return out

    def run_params(self, values: Mapping[str, Any], regime: str = "") -> dict[str, Any]:
        """The model's parameters of one run.

        ``[params]``, then ``values`` (a design row's factors, ``--set`` values), then the
        regime's overrides; axis coordinates are resolved into their parameters.
        """
        merged = {**self.params, **values, **(self.regimes.get(regime, {}) if regime else {})}
        return self.resolve_axes(merged)

    def axis_coordinates(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The axis coordinates among ``[params]`` and ``values`` (stored, not simulated)."""
        merged = {**self.params, **values}
        return {n: merged[n] for n in self.axes if n in merged}
    timeout_s: float | None = None

    @property
    def factor_names(self) -> list[str]:
        """Names of the varied parameters."""
        return [f.name for f in self.factors]

    @property
    def regime_names(self) -> list[str]:
        """Regimes each (row, replicate) is run under; ``[""]`` when there are none."""
        return list(self.regimes) or [""]

    def to_dict(self) -> dict[str, Any]:
        """The resolved experiment as a JSON-friendly dict (recorded in manifest.json)."""
        return {
            "name": self.name,
            "model": self.model,
            "design": self.design,
            "seed": self.seed,
            "samples": self.samples,
            "replicates": self.replicates,
            "outputs": list(self.outputs),
            "params": dict(self.params),
            "factors": [f.to_dict() for f in self.factors],
            "regimes": {k: dict(v) for k, v in self.regimes.items()},
            "compare": {k: list(v) for k, v in self.comparisons.items()} or None,
            "contrast": {k: list(v) for k, v in self.contrasts.items()} or None,
            "axes": {k: a.to_dict() for k, a in self.axes.items()} or None,
            "calc_second_order": self.calc_second_order,
            "levels": self.levels,
            "series": self.series,
            "description": self.description,
        }

    def identity(self) -> str:
        """A hash of everything that determines the runs' results.

        Two experiments with the same identity produce the same runs table, so a results
        directory may be resumed only by an experiment with the same identity. Outputs,
        comparisons, contrasts, description and name do not change results and are left
        out (so are axes when there are none, which keeps version-1 identities).
        """
        d = self.to_dict()
        for key in ("outputs", "compare", "contrast", "description", "name"):
            d.pop(key)
        if d["axes"] is None:
            d.pop("axes")
        text = json.dumps(d, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- helpers


def _close(name: str, choices: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.6)
    return f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _Context:
    """Builds error messages that name the file and the table."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, table: str, message: str) -> UserError:
        prefix = f"experiment file {self.where}"
        if table:
            prefix += f", [{table}]"
        return UserError(f"{prefix}: {message}")


def _int_key(ctx: _Context, table: Mapping[str, Any], key: str, minimum: int) -> int:
    value = table[key]
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ctx.fail("experiment", f"'{key}' must be a whole number >= {minimum}, "
                                     f"got {value!r}")
    return value


def _bool_key(ctx: _Context, table: Mapping[str, Any], key: str, default: bool) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise ctx.fail("experiment", f"'{key}' must be true or false, got {value!r}")
    return value


def resolve_model(ref: str) -> Callable[..., Any]:
    """Import ``module:function`` and return the function.

    Raises:
        UserError: The reference is malformed, the module cannot be imported or it has no
            such callable.
    """
    if not isinstance(ref, str) or not _MODEL_RE.match(ref):
        raise UserError(f"model reference {ref!r} must look like 'module:function' "
                        "(for example 'relsim.model:simulate')")
    module_name, func_name = ref.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name and module_name in _OLD_NAMES:
            raise UserError(f"cannot import the model module '{module_name}' of model "
                            f"'{ref}': no module of that name exists. relsim's own model is "
                            f"now imported as 'relsim.{module_name}' (write "
                            f"'relsim.{module_name}:{func_name}', or leave 'model' out to "
                            "sweep relsim's model); a module called "
                            f"'{module_name}' is looked up as your own") from None
        raise UserError(f"cannot import the model module '{module_name}' of model '{ref}': "
                        f"{type(exc).__name__}: {exc}. Check the name and that the module "
                        "is installed or on PYTHONPATH") from None
    except Exception as exc:  # any import-time failure is the user's model's problem
        raise UserError(f"cannot import the model module '{module_name}' of model '{ref}': "
                        f"{type(exc).__name__}: {exc}. Check the name and that the module "
                        "is installed or on PYTHONPATH") from None
    func = getattr(module, func_name, None)
    if not callable(func):
        names = [n for n in dir(module) if not n.startswith("_")]
        raise UserError(f"model module '{module_name}' has no function '{func_name}'"
                        f"{_close(func_name, names)} (model '{ref}')")
    return func


def params_class(ref: str) -> Any | None:
    """The model module's ``Params`` class, if it exposes one with ``from_dict``."""
    return _params_class(ref)


def _params_class(ref: str) -> Any | None:
    """The model module's ``Params`` class, if it exposes one with ``from_dict``."""
    module = importlib.import_module(ref.split(":")[0])
    cls = getattr(module, "Params", None)
    return cls if hasattr(cls, "from_dict") else None


# --------------------------------------------------------------------------- sections


def _parse_factor(ctx: _Context, design: str, name: str, raw: Any) -> Factor:
    if design == "grid":
        if not isinstance(raw, Mapping) or set(raw) != {"values"}:
            raise ctx.fail("factors", f"the grid design needs '{name} = {{values = [...]}}', "
                                      f"got {raw!r}")
        values = raw["values"]
        if not isinstance(values, list) or not values:
            raise ctx.fail("factors", f"'{name}' values must be a non-empty list")
        if len(set(map(repr, values))) != len(values):
            raise ctx.fail("factors", f"'{name}' values contain duplicates: {values!r}")
        if all(_is_number(v) for v in values):
            return Factor(name, min(values), max(values), tuple(values))
        return Factor(name, math.nan, math.nan, tuple(values))
    bounds = raw.get("bounds") if isinstance(raw, Mapping) else raw
    if isinstance(raw, Mapping) and set(raw) != {"bounds"}:
        raise ctx.fail("factors", f"'{name}' must be '[low, high]' or '{{bounds = [low, high]}}'"
                                  f" for the {design} design, got {raw!r}")
    if not (isinstance(bounds, list) and len(bounds) == 2 and all(map(_is_number, bounds))):
        raise ctx.fail("factors", f"'{name}' must be two numbers [low, high], got {raw!r}")
    low, high = float(bounds[0]), float(bounds[1])
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ctx.fail("factors", f"'{name}' bounds must be finite, got {bounds!r}")
    if low >= high:
        raise ctx.fail("factors", f"'{name}' bounds are reversed or empty: low {low:g} must be "
                                  f"smaller than high {high:g}")
    return Factor(name, low, high)


def _parse_regimes(ctx: _Context, raw: Any, factor_names: list[str]) -> dict[str, dict]:
    if not isinstance(raw, Mapping):
        raise ctx.fail("regimes", "must be tables like [regimes.sacred]")
    regimes: dict[str, dict[str, Any]] = {}
    for name, overrides in raw.items():
        if not isinstance(overrides, Mapping):
            raise ctx.fail(f"regimes.{name}", "must be a table of parameter overrides")
        if not _NAME_RE.match(name):
            raise ctx.fail(f"regimes.{name}", "regime names may contain letters, digits, "
                                              "'.', '_' and '-' only")
        clash = sorted(set(overrides) & set(factor_names))
        if clash:
            raise ctx.fail(f"regimes.{name}", f"overrides the varied factor(s) {clash}: a regime "
                                              "may not override a factor (the design would not "
                                              "vary it); remove it from the regime or from "
                                              "[factors]")
        regimes[name] = dict(overrides)
    return regimes


def _check_difference_name(ctx: _Context, table: str, name: str, taken: dict) -> None:
    if not _NAME_RE.match(name):
        raise ctx.fail(table, f"name '{name}' may contain letters, digits, '.', '_' and '-' "
                              "only")
    if name in RESERVED_DIFFERENCE_NAMES:
        raise ctx.fail(table, f"'{name}' is reserved (it would collide with analysis file "
                              f"names: {', '.join(RESERVED_DIFFERENCE_NAMES)}); choose "
                              "another name")
    if name in taken:
        raise ctx.fail(table, f"'{name}' is already the name of a comparison; comparisons "
                              "and contrasts share one namespace")


def _parse_compare(ctx: _Context, raw: Any, regimes: dict[str, dict]
                   ) -> dict[str, tuple[str, str]]:
    """``[compare]``: ``name = ["A", "B"]`` per comparison (``delta`` is the v1 form)."""
    if raw is None:
        return {}
    example = 'name = ["A", "B"] (e.g. relationship_value = ["relationship", "transactional"])'
    if not isinstance(raw, Mapping) or not raw:
        raise ctx.fail("compare", f"must hold named pairs of regimes, {example}; got {raw!r}")
    known = ", ".join(regimes) or "none defined"
    out: dict[str, tuple[str, str]] = {}
    for name, pair in raw.items():
        _check_difference_name(ctx, "compare", name, out)
        if not (isinstance(pair, list) and len(pair) == 2
                and all(isinstance(p, str) for p in pair)):
            raise ctx.fail("compare", f"'{name}' must name two regimes, {example}; "
                                      f"got {pair!r}")
        if pair[0] == pair[1]:
            raise ctx.fail("compare", f"'{name}' compares regime '{pair[0]}' with itself")
        for regime in pair:
            if regime not in regimes:
                raise ctx.fail("compare", f"'{name}' names unknown regime '{regime}'"
                                          f"{_close(regime, list(regimes))} (regimes: {known})")
        out[name] = (pair[0], pair[1])
    return out


def _parse_contrast(ctx: _Context, raw: Any, comparisons: dict[str, tuple[str, str]]
                    ) -> dict[str, tuple[str, str]]:
    """``[contrast]``: ``name = ["C1", "C2"]``, the difference C1 − C2 of two comparisons."""
    if raw is None:
        return {}
    example = ('name = ["C1", "C2"] for (C1) − (C2), two comparisons of [compare] (e.g. '
               'sacred_shrinks = ["relationship_value_sacred", "relationship_value"])')
    if not isinstance(raw, Mapping) or not raw:
        raise ctx.fail("contrast", f"must hold named pairs of comparisons, {example}; "
                                   f"got {raw!r}")
    if not comparisons:
        raise ctx.fail("contrast", "needs the comparisons it contrasts, declared in [compare]")
    known = ", ".join(comparisons)
    out: dict[str, tuple[str, str]] = {}
    for name, pair in raw.items():
        _check_difference_name(ctx, "contrast", name, {**comparisons, **out})
        if not (isinstance(pair, list) and len(pair) == 2
                and all(isinstance(p, str) for p in pair)):
            raise ctx.fail("contrast", f"'{name}' must name two comparisons, {example}; "
                                       f"got {pair!r}")
        for comp in pair:
            if comp not in comparisons:
                raise ctx.fail("contrast", f"'{name}' names unknown comparison '{comp}'"
                                           f"{_close(comp, list(comparisons))} (comparisons "
                                           f"of [compare]: {known})")
        if comparisons[pair[0]] == comparisons[pair[1]]:
            raise ctx.fail("contrast", f"'{name}' contrasts comparisons with the same pair "
                                       f"{list(comparisons[pair[0]])}: it is zero")
        out[name] = (pair[0], pair[1])
    return out


def _parse_axes(ctx: _Context, raw: Any) -> dict[str, Axis]:
    """``[axes.<name>]``: ``parameter = [value at 0, value at 1]`` per moved parameter."""
    if raw is None:
        return {}
    example = ("[axes.chaos] with one line per parameter it moves, e.g. "
               "process_cv = [0.1, 0.9] (value at 0, value at 1)")
    if not isinstance(raw, Mapping) or not raw:
        raise ctx.fail("axes", f"must be tables like {example}; got {raw!r}")
    axes: dict[str, Axis] = {}
    moved: dict[str, str] = {}
    for name, table in raw.items():
        where = f"axes.{name}"
        if not _NAME_RE.match(name):
            raise ctx.fail(where, "axis names may contain letters, digits, '.', '_' and '-' "
                                  "only")
        if not isinstance(table, Mapping) or not table:
            raise ctx.fail(where, f"must list the parameters the axis moves, {example}; "
                                  f"got {table!r}")
        ends: dict[str, tuple[float, float]] = {}
        for param, pair in table.items():
            if not (isinstance(pair, list) and len(pair) == 2 and all(map(_is_number, pair))):
                raise ctx.fail(where, f"'{param}' must be two numbers [value at 0, value at 1],"
                                      f" got {pair!r}")
            a, b = float(pair[0]), float(pair[1])
            if not (math.isfinite(a) and math.isfinite(b)):
                raise ctx.fail(where, f"'{param}' ends must be finite, got {pair!r}")
            if param == name:
                raise ctx.fail(where, f"axis '{name}' cannot move a parameter of its own name")
            if param in moved:
                raise ctx.fail(where, f"'{param}' is already moved by axis '{moved[param]}'; "
                                      "a parameter may belong to one axis only")
            if param in raw:
                raise ctx.fail(where, f"'{param}' is an axis, not a parameter")
            moved[param] = name
            ends[param] = (a, b)
        axes[name] = Axis(name, ends)
    return axes


def _check_axis_clashes(ctx: _Context, axes: dict[str, Axis], params: dict,
                        factors: list[Factor], regimes: dict[str, dict],
                        param_names: set[str] | None) -> None:
    """An axis may not be a parameter, and what it moves may not be set elsewhere."""
    factor_names = {f.name for f in factors}
    for name, axis in axes.items():
        where = f"axes.{name}"
        if param_names is not None and name in param_names:
            raise ctx.fail(where, f"axis '{name}' has the name of a model parameter; name the "
                                  "axis differently (e.g. '{name}_axis')")
        if name in RESERVED_COLUMNS:
            raise ctx.fail(where, f"'{name}' is a reserved run-table column")
        for param in axis.ends:
            if param in params:
                raise ctx.fail(where, f"'{param}' is moved by axis '{name}' and also fixed in "
                                      "[params]; keep one (fix the axis instead, e.g. "
                                      f"{name} = 0.5 in [params])")
            if param in factor_names:
                raise ctx.fail(where, f"'{param}' is moved by axis '{name}' and also varied in "
                                      "[factors]; keep one")
            for regime, overrides in regimes.items():
                if param in overrides:
                    raise ctx.fail(where, f"'{param}' is moved by axis '{name}' and also "
                                          f"overridden by [regimes.{regime}]; a regime may "
                                          "not override what an axis moves")
        for regime, overrides in regimes.items():
            if name in overrides:
                raise ctx.fail(f"regimes.{regime}", f"overrides axis '{name}'; a regime may "
                                                    "not set an axis")
    for f in factors:
        if f.name in axes:
            lo, hi = AXIS_RANGE
            points = f.values if f.values is not None else (f.low, f.high)
            for point in points:
                if not _is_number(point) or not lo <= float(point) <= hi:
                    raise ctx.fail("factors", f"axis '{f.name}' = {point!r} is outside the "
                                              f"axis range [{lo:g}, {hi:g}] (0 and 1 are the "
                                              "ends declared in [axes."
                                              f"{f.name}])")
    for name in axes:
        if name in params:
            value = params[name]
            lo, hi = AXIS_RANGE
            if not _is_number(value) or not lo <= float(value) <= hi:
                raise ctx.fail("params", f"axis '{name}' = {value!r} is outside the axis range "
                                         f"[{lo:g}, {hi:g}]")


def _validate_against_params(ctx: _Context, params_cls: Any, exp_params: dict,
                             factors: list[Factor], regimes: dict[str, dict],
                             axes: dict[str, Axis] | None = None) -> dict:
    """Check every name and value against the model's Params; return resolved defaults.

    Axis coordinates are resolved before checking, and each axis is checked at both ends
    (with ``[params]`` and every regime), so an end out of a parameter's valid range is
    reported naming the axis.
    """
    axes = axes or {}

    def resolve(values: dict) -> dict:
        out = {k: v for k, v in values.items() if k not in axes}
        for name, axis in axes.items():
            if name in values:
                out.update(axis.resolve(values[name]))
        return out

    def check(table: str, values: dict, what: str = "") -> Any:
        try:
            return params_cls.from_dict(resolve(values))
        except (ValueError, TypeError) as exc:
            raise ctx.fail(table, f"{what}{exc}") from None

    resolved = check("params", exp_params)
    specs = params_cls.specs() if hasattr(params_cls, "specs") else {}
    for regime, overrides in (regimes or {"": {}}).items():
        table = f"regimes.{regime}" if regime else "params"
        base = {**exp_params, **overrides}
        check(table, base)
        for name in axes:
            for end in AXIS_RANGE:
                check(f"axes.{name}", {**base, name: end}, f"the end at {end:g}: ")
        for f in factors:
            points = f.values if f.values is not None else (f.low, f.high)
            label = "value" if f.values is not None else "bound"
            for point in points:
                check("factors", {**base, f.name: point},
                      f"factor '{f.name}' {label} {point!r}: ")
    defaults = resolved.as_dict() if hasattr(resolved, "as_dict") else None
    ints = {n for n, s in specs.items() if getattr(s, "kind", float) is int}
    return {"defaults": defaults, "integers": ints, "names": set(specs) or None}


# --------------------------------------------------------------------------- entry points


def parse_experiment(data: Mapping[str, Any], where: str = "<mapping>",
                     path: str | None = None) -> Experiment:
    """Validate parsed TOML content and build an `Experiment`.

    Args:
        data: The parsed TOML document.
        where: How to name the source in error messages.
        path: The file's path, recorded in the experiment.

    Raises:
        UserError: Any problem with the content, with a message naming it.
    """
    ctx = _Context(where)
    unknown = [k for k in data if k not in TOP_LEVEL_TABLES]
    if unknown:
        raise ctx.fail("", f"unknown table [{unknown[0]}]{_close(unknown[0], TOP_LEVEL_TABLES)}"
                           f" (tables: {', '.join(TOP_LEVEL_TABLES)})")
    head = data.get("experiment")
    if not isinstance(head, Mapping):
        raise ctx.fail("", "missing the [experiment] table (with name, design and seed)")
    for key in head:
        if key not in EXPERIMENT_KEYS:
            raise ctx.fail("experiment", f"unknown key '{key}'{_close(key, EXPERIMENT_KEYS)}")
    missing = [k for k in REQUIRED_EXPERIMENT_KEYS if k not in head]
    if missing:
        raise ctx.fail("experiment", f"missing key(s) {', '.join(missing)} (required: "
                                     f"{', '.join(REQUIRED_EXPERIMENT_KEYS)})")
    name = head["name"]
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ctx.fail("experiment", f"'name' must be a directory-safe name (letters, digits, "
                                     f"'.', '_', '-'), got {name!r}")
    design = head["design"]
    if design not in DESIGNS:
        raise ctx.fail("experiment", f"unknown design {design!r}{_close(str(design), DESIGNS)} "
                                     f"(designs: {', '.join(DESIGNS)})")
    seed = _int_key(ctx, head, "seed", 0)
    replicates = _int_key(ctx, head, "replicates", 1) if "replicates" in head else 1
    samples = None
    if design in ("sobol", "morris", "lhs"):
        if "samples" not in head:
            raise ctx.fail("experiment", f"missing key 'samples' ({DESIGNS[design]}) for the "
                                         f"{design} design")
        samples = _int_key(ctx, head, "samples", 1)
        if design == "sobol" and samples & (samples - 1):
            lo = 1 << (samples.bit_length() - 1)
            raise ctx.fail("experiment", f"'samples' = {samples} must be a power of 2 for the "
                                         f"sobol design (Sobol' sequences converge only then); "
                                         f"use {lo} or {lo * 2}")
    levels = _int_key(ctx, head, "levels", 2) if "levels" in head else DEFAULT_MORRIS_LEVELS
    outputs = head.get("outputs", [])
    if not (isinstance(outputs, list) and all(isinstance(o, str) for o in outputs)):
        raise ctx.fail("experiment", f"'outputs' must be a list of names, got {outputs!r}")
    description = head.get("description", "")
    if not isinstance(description, str):
        raise ctx.fail("experiment", "'description' must be a string")
    timeout_s = head.get("timeout_s")
    if timeout_s is not None and not (_is_number(timeout_s) and 0 < timeout_s < math.inf):
        raise ctx.fail("experiment", f"'timeout_s' must be a positive number of seconds (a "
                                     f"run taking longer is stored as failed), got "
                                     f"{timeout_s!r}")
    model = head.get("model", DEFAULT_MODEL)
    try:
        resolve_model(model)
    except UserError as exc:
        raise ctx.fail("experiment", str(exc)) from None

    params = data.get("params", {})
    if not isinstance(params, Mapping):
        raise ctx.fail("params", "must be a table of parameter values")
    params = dict(params)
    raw_factors = data.get("factors", {})
    if not isinstance(raw_factors, Mapping):
        raise ctx.fail("factors", "must be a table of factors")
    factors = [_parse_factor(ctx, design, n, v) for n, v in raw_factors.items()]
    if design == "replicate" and factors:
        raise ctx.fail("factors", "the replicate design varies nothing; remove [factors] or "
                                  "choose another design")
    if design != "replicate" and not factors:
        raise ctx.fail("factors", f"the {design} design needs at least one factor")
    if design == "morris" and len(factors) < 2:
        raise ctx.fail("factors", "the morris design needs at least two factors")
    overlap = sorted(set(params) & set(raw_factors))
    if overlap:
        raise ctx.fail("params", f"{overlap} are both fixed in [params] and varied in "
                                 "[factors]; keep one")
    regimes = _parse_regimes(ctx, data.get("regimes", {}), list(raw_factors))
    comparisons = _parse_compare(ctx, data.get("compare"), regimes)
    contrasts = _parse_contrast(ctx, data.get("contrast"), comparisons)
    axes = _parse_axes(ctx, data.get("axes"))
    for table, names in (("params", params), ("factors", raw_factors),
                         *((f"regimes.{r}", o) for r, o in regimes.items()),
                         *((f"axes.{a}", ax.ends) for a, ax in axes.items())):
        bad = [n for n in names if n in RESERVED_COLUMNS]
        if bad:
            raise ctx.fail(table, f"'{bad[0]}' is a reserved run-table column, not a parameter")

    defaults = None
    params_cls = _params_class(model)
    _check_axis_clashes(ctx, axes, params, factors, regimes,
                        set(params_cls.specs()) if hasattr(params_cls, "specs") else None)
    if params_cls is not None:
        specs = params_cls.specs() if hasattr(params_cls, "specs") else {}
        ints = {n for n, sp in specs.items() if getattr(sp, "kind", float) is int}
        axes = {n: Axis(n, a.ends, frozenset(p for p in a.ends if p in ints))
                for n, a in axes.items()}
        checked = _validate_against_params(ctx, params_cls, params, factors, regimes, axes)
        defaults = checked["defaults"]
        factors = [Factor(f.name, f.low, f.high, f.values, f.name in checked["integers"])
                   for f in factors]
    return Experiment(
        name=name, model=model, design=design, seed=seed, samples=samples,
        replicates=replicates, outputs=tuple(outputs), params=params, factors=tuple(factors),
        regimes=regimes, comparisons=comparisons, contrasts=contrasts, axes=axes,
        calc_second_order=_bool_key(ctx, head, "calc_second_order", False),
        levels=levels, series=_bool_key(ctx, head, "series", False), description=description,
        source=_plain(data), path=path, defaults=defaults,
        timeout_s=float(timeout_s) if timeout_s is not None else None,
    )


def _plain(data: Any) -> Any:
    """A JSON-friendly deep copy of parsed TOML (dates become strings)."""
    if isinstance(data, Mapping):
        return {k: _plain(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_plain(v) for v in data]
    if isinstance(data, str | int | float | bool) or data is None:
        return data
    return str(data)


def load_experiment(path: str | Path) -> Experiment:
    """Read and validate an experiment file.

    Args:
        path: Path of the TOML file.

    Returns:
        The validated experiment.

    Raises:
        UserError: The file is missing, is not valid TOML or does not describe a valid
            experiment.
    """
    p = Path(path)
    if not p.is_file():
        raise UserError(f"experiment file not found: {p}")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"experiment file {p} is not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise UserError(f"experiment file {p} is not UTF-8 text") from None
    return parse_experiment(data, where=str(p), path=str(p.resolve()))


def as_experiment(exp: Experiment | str | Path | Mapping[str, Any]) -> Experiment:
    """Accept an `Experiment`, a file path or a parsed mapping."""
    if isinstance(exp, Experiment):
        return exp
    if isinstance(exp, Mapping):
        return parse_experiment(exp)
    return load_experiment(exp)
