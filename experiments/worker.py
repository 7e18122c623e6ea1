"""Worker side of a sweep: run one chunk of runs and return plain records.

This module runs inside worker processes (local pool or Dask workers), so it imports
nothing heavy and never touches the results directory: only the coordinating process
writes files, which is what makes a killed sweep leave no partial output.

A run that raises is returned as ``failed`` with its error; the chunk goes on. Outputs
are converted to floats; non-finite values become NaN.
"""

from __future__ import annotations

import functools
import importlib
import math
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: Longest error text kept per failed run (the last traceback lines are kept).
MAX_ERROR_CHARS = 2000
SERIES_KEY = "series"
RESERVED = frozenset({"row", "replicate", "regime", "seed", "status", "error", "wall_s"})


@dataclass(frozen=True)
class Task:
    """One run to do: its key, its seed and its full parameter dict.

    ``recorded`` holds values stored in the runs table but not passed to the model (the
    coordinates of ``[axes.*]``, whose parameters are in ``params``).
    """

    row: int
    replicate: int
    regime: str
    seed: int
    params: dict[str, Any]
    recorded: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunRecord:
    """The outcome of one run."""

    row: int
    replicate: int
    regime: str
    seed: int
    status: str
    error: str
    wall_s: float
    outputs: dict[str, float] = field(default_factory=dict)
    series: Any = None


@dataclass
class ChunkResult:
    """The outcome of one chunk: its records and the seconds spent computing it."""

    records: list[RunRecord]
    compute_s: float


@functools.lru_cache(maxsize=8)
def resolve(ref: str) -> Callable[..., Any]:
    """Import ``module:function`` (cached per process)."""
    module_name, func_name = ref.split(":")
    return getattr(importlib.import_module(module_name), func_name)


def _error_text(exc: BaseException) -> str:
    lines = traceback.format_exception_only(type(exc), exc)
    text = " ".join(" ".join(lines).split())
    return text[-MAX_ERROR_CHARS:]


def _to_outputs(result: Any, reserved: frozenset[str]) -> dict[str, float]:
    if not isinstance(result, dict):
        raise TypeError(f"the model returned {type(result).__name__}, expected a dict of floats")
    outputs: dict[str, float] = {}
    for key, value in result.items():
        if key in reserved:
            raise ValueError(f"output '{key}' collides with a run-table column: rename it, or "
                             "list it in [experiment] outputs so that a parameter of that "
                             "name is stored as param_<name>")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"output '{key}' is not a number: {value!r}") from None
        outputs[str(key)] = number if math.isfinite(number) else math.nan
    return outputs


def _mesa_registry() -> dict | None:
    """Mesa's class-level ``Agent._ids`` dict, if Mesa is loaded and has one.

    Mesa 3.3 keeps every model ever created alive through ``Agent._ids`` (keyed by model
    instance; mesa/mesa#3179, fixed upstream by mesa/mesa#3180), so a worker running
    thousands of models in a row grows without bound.
    """
    agent_module = sys.modules.get("mesa.agent")
    registry = getattr(getattr(agent_module, "Agent", None), "_ids", None)
    return registry if isinstance(registry, dict) else None


def _release_new_models(registry: dict | None, before: set) -> None:
    """Forget the models a run created (only those: others in the process are untouched)."""
    if registry is None:
        return
    for key in [k for k in registry if k not in before]:
        registry.pop(key, None)


def run_one(fn: Callable[..., Any], task: Task, series: bool,
            reserved: frozenset[str] = RESERVED) -> RunRecord:
    """Run one task; never raises for an exception of the model."""
    start = time.perf_counter()
    frame = None
    registry = _mesa_registry()
    before = set(registry) if registry is not None else set()
    try:
        if series:
            result = fn(dict(task.params), task.seed, series=True)
            if isinstance(result, dict):
                result = dict(result)
                frame = result.pop(SERIES_KEY, None)
        else:
            result = fn(dict(task.params), task.seed)
        outputs = _to_outputs(result, reserved)
    except Exception as exc:  # a model failure is data, not a crash of the sweep
        return RunRecord(task.row, task.replicate, task.regime, task.seed, "failed",
                         _error_text(exc), time.perf_counter() - start)
    finally:
        _release_new_models(_mesa_registry(), before)
    return RunRecord(task.row, task.replicate, task.regime, task.seed, "ok", "",
                     time.perf_counter() - start, outputs, frame)


def run_chunk(model_ref: str, tasks: list[Task], series: bool = False,
              reserved: frozenset[str] = RESERVED) -> ChunkResult:
    """Run a chunk of tasks in order.

    Args:
        model_ref: ``module:function`` of the simulated function.
        tasks: The runs to do.
        series: Call the function with ``series=True`` and keep its ``series`` frame.
        reserved: Column names outputs may not take (run-table columns and parameters).

    Returns:
        The records, in task order, and the total compute time.
    """
    start = time.perf_counter()
    try:
        fn = resolve(model_ref)
    except Exception as exc:  # e.g. a Dask worker without the model installed
        message = f"cannot load model '{model_ref}' in the worker: {_error_text(exc)}"
        records = [RunRecord(t.row, t.replicate, t.regime, t.seed, "failed", message, 0.0)
                   for t in tasks]
        return ChunkResult(records, time.perf_counter() - start)
    records = [run_one(fn, t, series, reserved) for t in tasks]
    return ChunkResult(records, time.perf_counter() - start)
