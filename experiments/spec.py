"""Experiment files: parsing and validation into typed dataclasses.

An experiment file is TOML (see ``INTERFACE.md``) with the tables ``[experiment]``,
``[params]``, ``[factors]``, ``[regimes.*]`` and ``[compare]``. `load_experiment` reads
one and returns an `Experiment`; every problem with the file raises `UserError` with a
one-paragraph message naming the file, the table and the offending key.

Parameter precedence for one run: the experiment's ``[params]``, then the design row's
factor values, then the regime's overrides. A regime may not override a varied factor
(the design would silently not be what it says), and this is rejected.

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
TOP_LEVEL_TABLES = ("experiment", "params", "factors", "regimes", "compare")
EXPERIMENT_KEYS = (
    "name", "model", "design", "samples", "replicates", "seed", "outputs",
    "calc_second_order", "levels", "series", "description",
)
REQUIRED_EXPERIMENT_KEYS = ("name", "design", "seed")
#: Run-table columns a parameter or output may not be named after.
RESERVED_COLUMNS = ("row", "replicate", "regime", "seed", "status", "error", "wall_s")
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
        compare: Pair of regime names whose paired difference is analysed, or None.
        calc_second_order: Sobol: whether the design supports second-order indices.
        levels: Morris: number of grid levels.
        series: Whether runs also return and store daily series.
        description: Free text.
        source: The file's content as given (parsed TOML).
        path: The file's path, or None when built from a mapping.
        defaults: The model's full resolved parameter set (``Params``) for this
            experiment's ``[params]``, or None when the model has no ``Params``.
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
    compare: tuple[str, str] | None
    calc_second_order: bool = False
    levels: int = DEFAULT_MORRIS_LEVELS
    series: bool = False
    description: str = ""
    source: dict[str, Any] = field(default_factory=dict)
    path: str | None = None
    defaults: dict[str, Any] | None = None

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
            "compare": list(self.compare) if self.compare else None,
            "calc_second_order": self.calc_second_order,
            "levels": self.levels,
            "series": self.series,
            "description": self.description,
        }

    def identity(self) -> str:
        """A hash of everything that determines the runs' results.

        Two experiments with the same identity produce the same runs table, so a results
        directory may be resumed only by an experiment with the same identity. Outputs,
        compare, description and name do not change results and are left out.
        """
        d = self.to_dict()
        for key in ("outputs", "compare", "description", "name"):
            d.pop(key)
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


def _parse_compare(ctx: _Context, raw: Any, regimes: dict[str, dict]) -> tuple[str, str] | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or set(raw) != {"delta"}:
        raise ctx.fail("compare", f"must be 'delta = [\"A\", \"B\"]', got {raw!r}")
    pair = raw["delta"]
    if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
        raise ctx.fail("compare", f"'delta' must name two regimes, got {pair!r}")
    if pair[0] == pair[1]:
        raise ctx.fail("compare", f"'delta' compares regime '{pair[0]}' with itself")
    for name in pair:
        if name not in regimes:
            known = ", ".join(regimes) or "none defined"
            raise ctx.fail("compare", f"unknown regime '{name}'{_close(name, list(regimes))} "
                                      f"(regimes: {known})")
    return pair[0], pair[1]


def _validate_against_params(ctx: _Context, params_cls: Any, exp_params: dict,
                             factors: list[Factor], regimes: dict[str, dict]) -> dict:
    """Check every name and value against the model's Params; return resolved defaults."""

    def check(table: str, values: dict, what: str = "") -> Any:
        try:
            return params_cls.from_dict(values)
        except (ValueError, TypeError) as exc:
            raise ctx.fail(table, f"{what}{exc}") from None

    resolved = check("params", exp_params)
    specs = params_cls.specs() if hasattr(params_cls, "specs") else {}
    for regime, overrides in (regimes or {"": {}}).items():
        table = f"regimes.{regime}" if regime else "params"
        base = {**exp_params, **overrides}
        check(table, base)
        for f in factors:
            points = f.values if f.values is not None else (f.low, f.high)
            label = "value" if f.values is not None else "bound"
            for point in points:
                check("factors", {**base, f.name: point},
                      f"factor '{f.name}' {label} {point!r}: ")
    defaults = resolved.as_dict() if hasattr(resolved, "as_dict") else None
    ints = {n for n, s in specs.items() if getattr(s, "kind", float) is int}
    return {"defaults": defaults, "integers": ints}


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
    compare = _parse_compare(ctx, data.get("compare"), regimes)
    for table, names in (("params", params), ("factors", raw_factors),
                         *((f"regimes.{r}", o) for r, o in regimes.items())):
        bad = [n for n in names if n in RESERVED_COLUMNS]
        if bad:
            raise ctx.fail(table, f"'{bad[0]}' is a reserved run-table column, not a parameter")

    defaults = None
    params_cls = _params_class(model)
    if params_cls is not None:
        checked = _validate_against_params(ctx, params_cls, params, factors, regimes)
        defaults = checked["defaults"]
        factors = [Factor(f.name, f.low, f.high, f.values, f.name in checked["integers"])
                   for f in factors]
    return Experiment(
        name=name, model=model, design=design, seed=seed, samples=samples,
        replicates=replicates, outputs=tuple(outputs), params=params, factors=tuple(factors),
        regimes=regimes, compare=compare,
        calc_second_order=_bool_key(ctx, head, "calc_second_order", False),
        levels=levels, series=_bool_key(ctx, head, "series", False), description=description,
        source=_plain(data), path=path, defaults=defaults,
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
