"""Worker side of a sweep: run one chunk (a `Batch`) of runs and return them as columns.

This module runs inside worker processes (local pool or Dask workers), so it imports
nothing heavy and never touches the results directory: only the coordinating process
writes files, which is what makes a killed sweep leave no partial output.

A run that raises is returned as ``failed`` with its error (one line) and its full
traceback; the chunk goes on. Outputs are converted to floats, non-finite ones (NaN or
inf) to NaN; a run with a non-finite value in an analysed output (the experiment's
``outputs``; every output when it lists none) is returned as ``invalid``, the outputs
named in its error. A model may return NaN for a quantity that is undefined in a run,
such as a win rate without any deal: outputs it names in its module's
``UNDEFINED_OUTPUTS`` may be NaN (not inf) in an ``ok`` run.
With a timeout, a run that takes longer is interrupted and returned as ``failed``
(``timeout: ...``): in a worker's main thread by ``SIGALRM`` (this also interrupts sleeps
and waits), in another thread (a Dask worker's) by an asynchronous exception, which takes
effect at the next Python instruction the run executes.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib
import math
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

#: Longest error text kept per failed run (the last traceback lines are kept).
MAX_ERROR_CHARS = 2000
#: Longest traceback kept per failed run (its end is kept).
MAX_TRACEBACK_CHARS = 20000
SERIES_KEY = "series"
RESERVED = frozenset({"row", "replicate", "regime", "seed", "status", "error", "wall_s",
                      "session", "traceback"})
STATUS_OK = "ok"
STATUS_FAILED = "failed"
STATUS_INVALID = "invalid"


class RunTimeout(BaseException):  # noqa: N818 - raised into the model's code
    """Raised inside a run that exceeded its time limit.

    A BaseException, so that a model's own ``except Exception`` does not swallow it.
    """


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
    traceback: str = ""


@functools.lru_cache(maxsize=8)
def resolve(ref: str) -> Callable[..., Any]:
    """Import ``module:function`` (cached per process)."""
    module_name, func_name = ref.split(":")
    return getattr(importlib.import_module(module_name), func_name)


def _error_text(exc: BaseException) -> str:
    lines = traceback.format_exception_only(type(exc), exc)
    text = " ".join(" ".join(lines).split())
    return text[-MAX_ERROR_CHARS:]


def _traceback_text(exc: BaseException) -> str:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return text[-MAX_TRACEBACK_CHARS:]


def _to_outputs(result: Any, reserved: frozenset[str], checked: frozenset[str] | None = None,
                undefined: frozenset[str] = frozenset()) -> tuple[dict[str, float], list[str]]:
    """The outputs as floats (non-finite ones as NaN) and a note per non-finite output.

    Only outputs in ``checked`` (all when None) are noted, and not a NaN in an output of
    ``undefined`` (NaN by definition in some runs).
    """
    if not isinstance(result, dict):
        raise TypeError(f"the model returned {type(result).__name__}, expected a dict of floats")
    outputs: dict[str, float] = {}
    bad: list[str] = []
    for key, value in result.items():
        if key in reserved:
            raise ValueError(f"output '{key}' collides with a run-table column: rename it, or "
                             "list it in [experiment] outputs so that a parameter of that "
                             "name is stored as param_<name>")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"output '{key}' is not a number: {value!r}") from None
        if not math.isfinite(number):
            nan_allowed = math.isnan(number) and key in undefined
            if (checked is None or key in checked) and not nan_allowed:
                bad.append(f"{key}={number!r}")
            number = math.nan
        outputs[str(key)] = number
    return outputs, bad


@contextlib.contextmanager
def _alarm(seconds: float) -> Any:
    """Raise `RunTimeout` in the main thread after ``seconds`` (SIGALRM)."""
    def expire(signum: int, frame: Any) -> None:
        raise RunTimeout

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def _async_raise(seconds: float) -> Any:
    """Raise `RunTimeout` in this (non-main) thread after ``seconds``."""
    target = threading.get_ident()
    lock = threading.Lock()
    state = {"active": True}

    def expire() -> None:
        with lock:
            if state["active"]:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(target),
                                                           ctypes.py_object(RunTimeout))

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        with lock:
            state["active"] = False
            timer.cancel()


def time_limit(seconds: float | None) -> Any:
    """A context raising `RunTimeout` in the current thread after ``seconds`` (None: never)."""
    if not seconds:
        return contextlib.nullcontext()
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
        return _alarm(seconds)
    return _async_raise(seconds)


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


def _run(fn: Callable[..., Any], params: dict[str, Any], seed: int, series: bool,
         reserved: frozenset[str], timeout_s: float | None, checked: frozenset[str] | None,
         undefined: frozenset[str]) -> tuple[str, str, float, dict[str, float], Any, str]:
    """Run the model once: ``(status, error, wall_s, outputs, series, traceback)``.

    ``params`` is the run's own dict (the model may change it). Never raises for an
    exception of the model.
    """
    start = time.perf_counter()
    frame = None
    registry = _mesa_registry()
    before = set(registry) if registry is not None else set()
    try:
        try:
            with time_limit(timeout_s):
                if series:
                    result = fn(params, seed, series=True)
                else:
                    result = fn(params, seed)
        except RunTimeout as exc:
            return (STATUS_FAILED,
                    f"timeout: the run took longer than {timeout_s:g} s (timeout_s)",
                    time.perf_counter() - start, {}, None, _traceback_text(exc))
        if series and isinstance(result, dict):
            result = dict(result)
            frame = result.pop(SERIES_KEY, None)
        outputs, bad = _to_outputs(result, reserved, checked, undefined)
    except Exception as exc:  # a model failure is data, not a crash of the sweep
        return (STATUS_FAILED, _error_text(exc), time.perf_counter() - start, {}, None,
                _traceback_text(exc))
    finally:
        _release_new_models(_mesa_registry(), before)
    if bad:
        return (STATUS_INVALID, f"non-finite output(s): {', '.join(bad)}"[:MAX_ERROR_CHARS],
                time.perf_counter() - start, outputs, frame, "")
    return STATUS_OK, "", time.perf_counter() - start, outputs, frame, ""


def run_one(fn: Callable[..., Any], task: Task, series: bool,
            reserved: frozenset[str] = RESERVED, timeout_s: float | None = None,
            checked: frozenset[str] | None = None,
            undefined: frozenset[str] = frozenset()) -> RunRecord:
    """Run one task; never raises for an exception of the model.

    Args:
        fn: The simulated function.
        task: The run.
        series: Call ``fn`` with ``series=True`` and keep its ``series`` frame.
        reserved: Column names outputs may not take.
        timeout_s: Interrupt the run after this many seconds (None: no limit).
        checked: Outputs that must be finite for the run to be ``ok`` (None: all).
        undefined: Outputs that may be NaN (undefined) in an ``ok`` run.
    """
    status, error, wall, outputs, frame, trace = _run(
        fn, dict(task.params), task.seed, series, reserved, timeout_s, checked, undefined)
    return RunRecord(task.row, task.replicate, task.regime, task.seed, status, error, wall,
                     outputs, frame, trace)


# --------------------------------------------------------------------------- batches


@dataclass
class Batch:
    """A chunk of runs as columns: what the workers need, with no object per run.

    A run's parameters are built in the worker that runs it, in the same order as
    ``{**fixed, **factors, **overrides[regime]}``; its seed is
    ``run_seed(master_seed, row, replicate)``. When ``params`` is given (experiments with
    ``[axes.*]``, whose coordinates resolve per run), it holds each run's full
    parameters and ``recorded`` the values stored but not simulated.

    Slicing (``batch[i:j]``) gives the batch of those runs, as for a list of runs.
    """

    rows: list[int]
    replicates: list[int]
    regimes: list[str]
    master_seed: int
    fixed: dict[str, Any] = field(default_factory=dict)
    names: tuple[str, ...] = ()
    values: list[list[Any]] = field(default_factory=list)
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    params: list[dict[str, Any]] | None = None
    recorded: list[dict[str, Any]] | None = None

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: slice) -> Batch:
        """The runs ``index`` (a slice) as a batch."""
        if not isinstance(index, slice):
            raise TypeError("a Batch is sliced, not indexed: batch[i:i + 1]")
        return Batch(self.rows[index], self.replicates[index], self.regimes[index],
                     self.master_seed, self.fixed, self.names,
                     [v[index] for v in self.values], self.overrides,
                     None if self.params is None else self.params[index],
                     None if self.recorded is None else self.recorded[index])

    def keys(self) -> list[tuple[int, int, str]]:
        """The run keys ``(row, replicate, regime)``, in order."""
        return list(zip(self.rows, self.replicates, self.regimes, strict=True))

    def seeds(self) -> list[int]:
        """The runs' seeds (regimes of one row and replicate share theirs)."""
        from relsim.experiments.seeds import run_seed

        out: list[int] = []
        last: tuple[int, int] | None = None
        seed = 0
        for key in zip(self.rows, self.replicates, strict=True):
            if key != last:
                seed, last = run_seed(self.master_seed, *key), key
            out.append(seed)
        return out

    def run_params(self) -> Iterator[dict[str, Any]]:
        """A new parameter dict per run, in order."""
        if self.params is not None:
            yield from (dict(p) for p in self.params)
            return
        fixed, names, overrides = self.fixed, self.names, self.overrides
        columns = zip(*self.values, strict=True) if names else ((),) * len(self.rows)
        for regime, values in zip(self.regimes, columns, strict=True):
            params = fixed.copy()
            for name, value in zip(names, values, strict=True):
                params[name] = value
            extra = overrides.get(regime)
            if extra:
                params.update(extra)
            yield params

    def column(self, name: str, default: Any = None) -> list[Any]:
        """Each run's value of parameter (or recorded value) ``name``, else ``default``."""
        if self.params is not None:
            recorded = self.recorded or [{}] * len(self.params)
            return [p.get(name, r.get(name, default))
                    for p, r in zip(self.params, recorded, strict=True)]
        base = self.values[self.names.index(name)] if name in self.names else None
        fallback = self.fixed.get(name, default)
        own = {r: self.overrides[r][name] for r in dict.fromkeys(self.regimes)
               if name in self.overrides.get(r, {})}
        if not own:
            return list(base) if base is not None else [fallback] * len(self.rows)
        return [own[r] if r in own else (base[i] if base is not None else fallback)
                for i, r in enumerate(self.regimes)]


@dataclass
class BatchResult:
    """The outcome of a batch as columns, one entry per run in the batch's order.

    ``outputs`` maps each output name (in the order first returned) to its values, NaN
    where a run did not return it; ``series`` holds each run's series frame (or None),
    and is None for a sweep without series.
    """

    seeds: list[int]
    status: list[str]
    error: list[str]
    wall_s: list[float]
    traceback: list[str]
    outputs: dict[str, list[float]]
    series: list[Any] | None
    compute_s: float

    @classmethod
    def failed(cls, batch: Batch, message: str, trace: str = "") -> BatchResult:
        """Every run of ``batch`` failed with ``message``."""
        n = len(batch)
        return cls(batch.seeds(), [STATUS_FAILED] * n, [message] * n, [0.0] * n,
                   [trace] * n, {}, None, 0.0)


def run_batch(model_ref: str, batch: Batch, series: bool = False,
              reserved: frozenset[str] = RESERVED, timeout_s: float | None = None,
              checked: frozenset[str] | None = None,
              undefined: frozenset[str] = frozenset()) -> BatchResult:
    """Run a batch in order, each run as `run_one` runs it; the results as columns.

    Args:
        model_ref: ``module:function`` of the simulated function.
        batch: The runs to do.
        series: Call the function with ``series=True`` and keep its ``series`` frame.
        reserved: Column names outputs may not take (run-table columns and parameters).
        timeout_s: Per-run time limit in seconds (None: no limit).
        checked: Outputs that must be finite for a run to be ``ok`` (None: all).
        undefined: Outputs that may be NaN (undefined) in an ``ok`` run.
    """
    start = time.perf_counter()
    try:
        fn = resolve(model_ref)
    except Exception as exc:  # e.g. a Dask worker without the model installed
        return BatchResult.failed(
            batch, f"cannot load model '{model_ref}' in the worker: {_error_text(exc)}",
            _traceback_text(exc))
    seeds = batch.seeds()
    n = len(seeds)
    status: list[str] = []
    error: list[str] = []
    wall: list[float] = []
    trace: list[str] = []
    outs: list[dict[str, float]] = []
    frames: list[Any] | None = [] if series else None
    for params, seed in zip(batch.run_params(), seeds, strict=True):
        s, e, w, o, f, t = _run(fn, params, seed, series, reserved, timeout_s, checked,
                                undefined)
        status.append(s)
        error.append(e)
        wall.append(w)
        trace.append(t)
        outs.append(o)
        if frames is not None:
            frames.append(f)
    names = list(outs[0]) if outs else []
    if any(list(o) != names for o in outs):  # runs returned different outputs
        names = list(dict.fromkeys(k for o in outs for k in o))
        columns = {k: [o.get(k, math.nan) for o in outs] for k in names}
    else:
        columns = {k: [o[k] for o in outs] for k in names}
    assert all(len(c) == n for c in columns.values())
    return BatchResult(seeds, status, error, wall, trace, columns, frames,
                       time.perf_counter() - start)
