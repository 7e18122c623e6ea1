"""The sweep runner: experiment → design → chunks of runs → results store.

`sweep` runs every (row, replicate, regime) of an experiment that is not stored yet,
in chunks sized to about `CHUNK_TARGET_S` seconds of work (at most `CHUNK_MAX_RUNS`
runs), on the chosen executor, writing each finished chunk as one atomic part file.
Memory stays flat: chunks are produced lazily, only a bounded number is in flight, and
results go to disk as they arrive.

For cheap models the dispatch is the run time, so a chunk travels as columns (a `Batch`:
run keys, the factors' values, the regimes' overrides; each run's parameter dict and seed
are made in the worker that runs it) and comes back as columns (a `BatchResult`), which
become the part's Arrow table directly: no Python object per run on either side.

Run seeds come from `experiments.seeds.run_seed(master, row, replicate)`, so the runs
table is identical (apart from ``wall_s`` and ``session``) whatever the executor, worker
count, shard split or number of resumptions. Regimes of one (row, replicate) share the
seed.

Parameters of a run: the experiment's ``[params]``, then the row's factor values, then
the regime's overrides; axis coordinates (``[axes.*]``) are then resolved into the
parameters they move. The runs table stores both the coordinate and those parameters.

Robustness: a run may be given a time limit (``timeout_s``); a run whose worker dies is
retried once alone and then stored as failed (``worker died``); a sweep stops early once
``max_failures`` runs failed; a run with a non-finite analysed output is stored as
``invalid``. Each invocation is a session recorded in manifest.json with its code
fingerprint; resuming with different code stops unless ``allow_code_change``. The store
is locked for the duration of the sweep.
"""

from __future__ import annotations

import importlib
import math
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
from relsim.analysis.integrity import read_verified
from relsim.experiments import manifest as mf
from relsim.experiments.design import build_design, design_summary
from relsim.experiments.errors import UserError
from relsim.experiments.executors import BrokenExecutor, WorkerDied, make_executor
from relsim.experiments.seeds import run_seed
from relsim.experiments.spec import RESERVED_COLUMNS, Experiment, as_experiment
from relsim.experiments.store import (
    KEY,
    SHARDS,
    STATUS_FAILED,
    STATUS_OK,
    ResultStore,
    RunKey,
)
from relsim.experiments.worker import Batch, BatchResult, Task, run_batch

#: Aim for chunks of about this much compute: long enough that dispatch and the part
#: write are negligible, short enough that a kill loses little work.
CHUNK_TARGET_S = 2.0
#: Upper bound of runs per chunk (and per part file). A chunk travels as columns (a
#: `Batch`: a few bytes per run), so this only bounds a part file's size.
CHUNK_MAX_RUNS = 8192
#: Chunks per worker the remaining work is split into at least, to balance the tail...
TAIL_CHUNKS_PER_WORKER = 2
#: ...but not into chunks of less than this much work (a cheap model's sweep would
#: otherwise end in a long series of ever smaller parts, each paying dispatch and a write).
MIN_CHUNK_S = 0.1
#: With ``max_failures``, a chunk holds at most this many times the runs of the previous
#: one (a gradual ramp-up, so a sweep that fails everywhere is stopped after few runs).
CHUNK_GROWTH = 2
#: The same bound without ``max_failures``: a fast ramp-up that still lets the estimate
#: of seconds per run settle before chunks are large.
CHUNK_GROWTH_FAST = 8
#: Weight of the newest chunk in the running estimate of seconds per run.
ESTIMATE_WEIGHT = 0.3
#: Prefix of a parameter column whose name is also an output's.
PARAM_PREFIX = "param_"
#: Distinct error messages kept for the end summary.
MAX_ERRORS_SHOWN = 5
#: Error messages are grouped for the summary by their first characters.
ERROR_GROUP_CHARS = 300
DEFAULT_OUT = Path("data/results")
#: With ``max_failures`` given as a share, it is checked once this many runs are done.
MIN_RUNS_FOR_SHARE = 20


class SweepAborted(RuntimeError):
    """The executor broke down (e.g. a worker process was killed); finished runs are kept."""


# --------------------------------------------------------------------------- pure helpers


def shard_dir(root: Path, shard: tuple[int, int]) -> Path:
    """The directory of shard ``(index, count)`` under an experiment directory."""
    index, count = shard
    return root / SHARDS / f"shard-{index:03d}-of-{count:03d}"


def parse_shard(text: str) -> tuple[int, int]:
    """Parse ``I/N`` (0-based shard index I of N shards).

    Raises:
        ValueError: Not of the form I/N with 0 <= I < N.
    """
    try:
        index, count = (int(x) for x in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard must look like I/N (e.g. 0/4), got {text!r}") from None
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"--shard {text}: I must satisfy 0 <= I < N (shards are numbered "
                         f"from 0, as SLURM_ARRAY_TASK_ID with --array=0-{max(count - 1, 0)})")
    return index, count


def run_keys(n_rows: int, replicates: int, regimes: list[str],
             shard: tuple[int, int] | None = None) -> Iterator[RunKey]:
    """All run keys, row-major; a shard takes the rows with ``row % N == I``."""
    rows = range(n_rows) if shard is None else range(shard[0], n_rows, shard[1])
    for row in rows:
        for rep in range(replicates):
            for regime in regimes:
                yield row, rep, regime


def _kind(values: list[Any]) -> pa.DataType:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return pa.bool_()
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return pa.int64()
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return pa.float64()
    return pa.string()


def declared_outputs(exp: Experiment) -> set[str]:
    """Output names known before running.

    They are the experiment's ``outputs`` and the model module's ``KPI_NAMES`` or
    ``OUTPUTS`` (a sequence of names), if it has one.
    """
    module = importlib.import_module(exp.model.split(":")[0])
    names = set(exp.outputs)
    for attr in ("KPI_NAMES", "OUTPUTS"):
        value = getattr(module, attr, None)
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            names |= set(value)
    return names


def undefined_outputs(exp: Experiment) -> frozenset[str]:
    """Outputs the model declares NaN by definition in some runs (``UNDEFINED_OUTPUTS``).

    A NaN in one of them leaves a run ``ok``; relsim's model names e.g. the complex-deal
    win rate, undefined in a run without complex deals.
    """
    module = importlib.import_module(exp.model.split(":")[0])
    value = getattr(module, "UNDEFINED_OUTPUTS", None)
    if isinstance(value, list | tuple | set | frozenset) and all(isinstance(v, str)
                                                                 for v in value):
        return frozenset(value)
    return frozenset()


def param_columns(exp: Experiment) -> dict[str, tuple[str, pa.DataType]]:
    """Parameter columns of the runs table: parameter name -> (column name, type).

    These are the experiment's fixed params, its factors and every regime override (not
    all of the model's parameters: manifest.json records the full defaults once). A
    parameter that shares its name with an output (our model has a parameter and a KPI
    called ``changeover_hours``) is stored as ``param_<name>``, so the output keeps its
    name; design.parquet keeps the plain factor names.
    """
    defaults = exp.defaults or {}
    kinds: dict[str, pa.DataType] = {}
    override_names = [n for o in exp.regimes.values() for n in o]
    for name in dict.fromkeys([*exp.params, *override_names]):
        values = [exp.params.get(name, defaults.get(name))]
        values += [o.get(name, values[0]) for o in exp.regimes.values()]
        kinds[name] = _kind(values)
    for f in exp.factors:
        if f.integer:
            kinds[f.name] = pa.int64()
        elif f.values is not None:
            kinds[f.name] = _kind(list(f.values))
        else:
            kinds[f.name] = pa.float64()
    for axis in exp.axes.values():  # the axis coordinate (above) and what it moves
        kinds.setdefault(axis.name, pa.float64())
        for name in axis.ends:
            kinds[name] = pa.int64() if name in axis.integers else pa.float64()
    outputs = declared_outputs(exp)
    return {n: (f"{PARAM_PREFIX}{n}" if n in outputs else n, k) for n, k in kinds.items()}


def _py(value: Any) -> Any:
    """A numpy scalar as the plain Python value the model should see."""
    return value.item() if hasattr(value, "item") else value


class TaskFactory:
    """Builds the `Task` of a run key from the experiment and its design."""

    def __init__(self, exp: Experiment, design: pd.DataFrame) -> None:
        self.exp = exp
        # one array per factor (8 bytes a value), not a dict per row
        self._columns = [(n, design[n].to_numpy()) for n in exp.factor_names]
        self._regimes = {"": {}, **exp.regimes}

    def __call__(self, key: RunKey) -> Task:
        """The task of one run key."""
        row, rep, regime = key
        values = {n: _py(column[row]) for n, column in self._columns}
        if self.exp.axes:
            return Task(row, rep, regime, run_seed(self.exp.seed, row, rep),
                        self.exp.run_params(values, regime), self.exp.axis_coordinates(values))
        params = {**self.exp.params, **values, **self._regimes[regime]}
        return Task(row, rep, regime, run_seed(self.exp.seed, row, rep), params)


class BatchFactory:
    """Builds the `Batch` of a list of run keys from the experiment and its design."""

    def __init__(self, exp: Experiment, design: pd.DataFrame) -> None:
        self.exp = exp
        self._names = tuple(exp.factor_names)
        self._columns = [design[n].to_numpy() for n in self._names]
        self._tasks = TaskFactory(exp, design) if exp.axes else None

    def __call__(self, keys: list[RunKey]) -> Batch:
        """The batch of ``keys`` (row-major order, as `run_keys` gives them)."""
        rows, reps, regimes = (list(c) for c in zip(*keys, strict=True)) if keys \
            else ([], [], [])
        batch = Batch(rows, reps, regimes, self.exp.seed)
        if self._tasks is not None:  # axis coordinates resolve per run
            tasks = [self._tasks(k) for k in keys]
            batch.params = [t.params for t in tasks]
            batch.recorded = [t.recorded for t in tasks]
            return batch
        batch.fixed = dict(self.exp.params)
        batch.names = self._names
        batch.values = [_column_values(column, rows) for column in self._columns]
        batch.overrides = {r: dict(self.exp.regimes[r]) for r in dict.fromkeys(regimes) if r}
        return batch


def _column_values(column: Any, rows: list[int]) -> list[Any]:
    """The design column's values at ``rows`` as plain Python values (as `_py` gives)."""
    picked = column[rows]
    if picked.dtype == object:
        return [_py(v) for v in picked]
    return picked.tolist()


class Chunker:
    """Cuts pending run keys into chunks sized from the observed seconds per run."""

    def __init__(self, keys: list[RunKey], workers: int, target_s: float = CHUNK_TARGET_S,
                 max_runs: int = CHUNK_MAX_RUNS, growth: float = CHUNK_GROWTH_FAST) -> None:
        self.keys = keys
        self.workers = max(workers, 1)
        self.target_s = target_s
        self.max_runs = max_runs
        self.growth = growth
        self.seconds_per_run: float | None = None
        self._next = 0
        self._last = 0
        self._seconds = 0.0
        self._runs = 0.0

    def observe(self, runs: int, seconds: float) -> None:
        """Update the estimate of seconds per run with a finished chunk.

        The estimate is a moving average weighted by runs: each chunk discounts what came
        before by ``ESTIMATE_WEIGHT``, and a chunk counts in proportion to its runs, so the
        first one-run chunks (which also carry a chunk's fixed costs) do not hold the
        estimate of a cheap model high once large chunks have been timed.
        """
        if runs <= 0:
            return
        self._seconds = (1 - ESTIMATE_WEIGHT) * self._seconds + seconds
        self._runs = (1 - ESTIMATE_WEIGHT) * self._runs + runs
        self.seconds_per_run = self._seconds / self._runs

    def size(self) -> int:
        """Runs in the next chunk."""
        remaining = len(self.keys) - self._next
        if self.seconds_per_run is None:
            return 1
        per_run = max(self.seconds_per_run, 1e-9)
        by_time = self.target_s / per_run
        by_tail = max(math.ceil(remaining / (self.workers * TAIL_CHUNKS_PER_WORKER)),
                      min(MIN_CHUNK_S, self.target_s) / per_run)
        by_growth = max(self._last, 1) * self.growth
        return int(max(1, min(by_time, by_tail, by_growth, self.max_runs)))

    def __iter__(self) -> Iterator[list[RunKey]]:
        while self._next < len(self.keys):
            n = self.size()
            self._last = n
            yield self.keys[self._next:self._next + n]
            self._next += n


def batch_table(batch: Batch, result: BatchResult,
                params: dict[str, tuple[str, pa.DataType]], outputs: list[str],
                defaults: dict[str, Any], session: str = "") -> pa.Table:
    """One chunk's runs as an Arrow table with the runs-table schema.

    The bookkeeping columns come last: ``status``, ``error`` (one line), ``wall_s``,
    ``session`` (the id of the sweep session that computed the run) and ``traceback``
    (the full traceback of a failed run, else empty).
    """
    n = len(batch)
    cols: dict[str, list[Any]] = {"row": batch.rows, "replicate": batch.replicates,
                                  "regime": batch.regimes, "seed": result.seeds}
    fields = [pa.field("row", pa.int64()), pa.field("replicate", pa.int64()),
              pa.field("regime", pa.string()), pa.field("seed", pa.int64())]
    for name, (column, kind) in params.items():
        values = batch.column(name, defaults.get(name))
        if kind == pa.string():
            values = [str(v) if v is not None else v for v in values]
        cols[column] = values
        fields.append(pa.field(column, kind))
    missing: list[float] | None = None
    for name in outputs:
        values = result.outputs.get(name)
        if values is None:
            values = missing = missing or [math.nan] * n
        cols[name] = values
        fields.append(pa.field(name, pa.float64()))
    cols["status"] = result.status
    cols["error"] = result.error
    cols["wall_s"] = result.wall_s
    cols["session"] = [session] * n
    cols["traceback"] = result.traceback
    fields += [pa.field("status", pa.string()), pa.field("error", pa.string()),
               pa.field("wall_s", pa.float64()), pa.field("session", pa.string()),
               pa.field("traceback", pa.string())]
    return pa.table(cols, schema=pa.schema(fields))


def batch_series(batch: Batch, result: BatchResult) -> pd.DataFrame | None:
    """The chunk's daily series with key columns added, or None."""
    if result.series is None:
        return None
    frames = []
    for i, series in enumerate(result.series):
        if series is None:
            continue
        frame = series if isinstance(series, pd.DataFrame) else pd.DataFrame(series)
        frame = frame.copy()
        key = (batch.rows[i], batch.replicates[i], batch.regimes[i], result.seeds[i])
        for j, (name, value) in enumerate(zip((*KEY, "seed"), key, strict=True)):
            frame.insert(j, name, value)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else None


# --------------------------------------------------------------------------- the sweep


@dataclass
class SweepSummary:
    """What a sweep did.

    Attributes:
        path: The store the runs went to (``DIR/<name>`` or a shard's directory).
        name: Experiment name.
        ok: Stored ``ok`` runs of this store.
        failed: Stored ``failed`` runs (raised, timed out, or their worker died).
        pending: Runs not stored yet.
        invalid: Stored ``invalid`` runs (a non-finite output).
        ran: Runs executed by this invocation.
        skipped: Runs skipped because they were already stored (resumption).
        elapsed_s: Seconds this invocation took.
        errors: The most frequent error messages of this invocation, with counts.
        missing_outputs: Experiment ``outputs`` that no run returned.
        shard: ``(index, count)`` when a shard was run.
        session: Id of this invocation's session (the ``session`` column of its runs).
        stopped: Why the sweep stopped early (``max_failures``), or None.
        first_errors: The first distinct errors of this invocation, in order.
    """

    path: Path
    name: str
    ok: int
    failed: int
    pending: int
    ran: int
    skipped: int
    elapsed_s: float
    errors: list[tuple[str, int]] = field(default_factory=list)
    missing_outputs: list[str] = field(default_factory=list)
    shard: tuple[int, int] | None = None
    invalid: int = 0
    session: str = ""
    stopped: str | None = None
    first_errors: list[str] = field(default_factory=list)

    @property
    def exit_status(self) -> int:
        """0 when every run is ok, 1 when some failed, are invalid or are pending."""
        return 0 if self.failed == 0 and self.invalid == 0 and self.pending == 0 else 1


def _failed_result(batch: Batch, error: BaseException) -> BatchResult:
    """Every run of a chunk failed because its executor did (or its worker died)."""
    if isinstance(error, WorkerDied):
        return BatchResult.failed(batch, str(error))
    text = f"executor error: {type(error).__name__}: {error}"
    trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return BatchResult.failed(batch, text, trace)


def parse_max_failures(text: str | float | None) -> float | None:
    """Parse ``--max-failures``: a count (``10``) or a share of the runs (``0.2``).

    Raises:
        ValueError: Not a positive count or a share between 0 and 1.
    """
    if text is None:
        return None
    try:
        value = float(text)
    except (TypeError, ValueError):
        value = math.nan
    if not (value > 0) or (value >= 1 and value != int(value)) or not math.isfinite(value):
        raise ValueError(f"--max-failures must be a whole number of runs (e.g. 10) or a share "
                         f"of the runs between 0 and 1 (e.g. 0.2), got {text!r}")
    return value


def _too_many_failures(limit: float | None, failures: int, runs: int, total: int) -> str | None:
    """The reason to stop, when ``failures`` of ``runs`` exceed ``limit``, else None."""
    if limit is None or failures == 0:
        return None
    if limit >= 1:
        if failures >= limit:
            return f"{failures} runs failed, the limit set by --max-failures {limit:g}"
        return None
    if runs >= min(MIN_RUNS_FOR_SHARE, total) and failures / runs > limit:
        return (f"{failures} of the {runs} runs done failed ({failures / runs:.0%}), more than "
                f"the share {limit:g} set by --max-failures")
    return None


def _progress(total: int, enabled: bool, name: str) -> Any:
    """A bar on a terminal, a periodic line in a log (`experiments.progress`)."""
    from relsim.experiments.progress import Progress

    return Progress(f"sweep {name}", total, unit="run", enabled=enabled)


def sweep(experiment: Experiment | str | Path, out: str | Path = DEFAULT_OUT, *,
          workers: int | None = None, executor: str = "local", scheduler: Any = None,
          shard: tuple[int, int] | None = None, retry_failed: bool = False,
          progress: bool = False, chunk_target_s: float = CHUNK_TARGET_S,
          max_chunk_runs: int = CHUNK_MAX_RUNS, timeout_s: float | None = None,
          max_failures: float | None = None,
          allow_code_change: bool = False) -> SweepSummary:
    """Run (or resume) an experiment and store its runs.

    Args:
        experiment: An `Experiment` or the path of an experiment file.
        out: Results root; runs go to ``out/<name>/`` (a shard's to
            ``out/<name>/shards/shard-III-of-NNN/``).
        workers: Worker processes (default: usable cores).
        executor: ``serial``, ``local`` (process pool) or ``dask``.
        scheduler: Dask scheduler address, Client or cluster object (implies ``dask``).
        shard: ``(index, count)``: run only the rows with ``row % count == index``.
        retry_failed: Rerun runs stored as failed.
        progress: Show a progress bar on stderr.
        chunk_target_s: Seconds of work per chunk to aim for.
        max_chunk_runs: Most runs per chunk.
        timeout_s: Per-run time limit in seconds; overrides the experiment's
            ``timeout_s`` (None: the experiment's, or no limit).
        max_failures: Stop once this many runs of this invocation failed (a number >= 1)
            or once more than this share of them failed (0 < share < 1, checked after
            `MIN_RUNS_FOR_SHARE` runs); failed and invalid runs count. None: never stop.
        allow_code_change: Resume even though the swept function's code changed since
            the runs already stored were computed (recorded in manifest.json).

    Returns:
        A `SweepSummary`.

    Raises:
        UserError: Bad experiment, the results directory holds another experiment or
            runs of other code, another sweep holds it, or a stored part is damaged.
        SweepAborted: The executor broke down; finished runs are kept.
    """
    started = time.perf_counter()
    exp = as_experiment(experiment)
    root = Path(out) / exp.name
    limit = parse_max_failures(max_failures)
    timeout = timeout_s if timeout_s is not None else getattr(exp, "timeout_s", None)
    if timeout is not None and not (isinstance(timeout, int | float) and timeout > 0):
        raise UserError(f"the run timeout must be a positive number of seconds, got {timeout!r}")
    session: dict[str, Any] = {"id": mf.new_session_id(), "started": mf.now(), "runs": 0,
                               "failed": 0, "invalid": 0, "timeout_s": timeout,
                               "max_failures": limit,
                               "provenance": mf.session_provenance(exp.model)}
    errors: Counter[str] = Counter()
    first: list[str] = []
    plan: _Plan | None = None
    store = ResultStore(shard_dir(root, shard) if shard else root)
    with store.lock():
        # A directory of another experiment version is reported before any worker or
        # cluster starts.
        previous = _check_identity(store, exp)
        prepare = partial(_prepare, exp, store, root, shard, previous, retry_failed, session,
                          allow_code_change)
        # Local worker processes are forked before the design, the run keys and the design
        # file's write exist, so that nothing growing with the sweep is copied into them:
        # memory stays flat in the number of runs. The serial executor and Dask copy
        # nothing, so there the plan (and its checks of the stored runs) comes first.
        if not (executor == "local" and scheduler is None):
            plan = prepare()
        try:
            with make_executor(executor, workers, scheduler, quiet=not progress,
                               preload=exp.model.split(":")[0]) as ex:
                plan = plan or prepare()
                session.update(ex.describe())
                chunker = Chunker(plan.pending, ex.workers, chunk_target_s, max_chunk_runs,
                                  CHUNK_GROWTH if limit is not None else CHUNK_GROWTH_FAST)
                _execute(exp, plan, ex, chunker, session, errors, first, progress, timeout,
                         limit)
                session.update(ex.describe())  # worker restarts
        except BrokenExecutor as exc:
            raise SweepAborted(f"a worker process died ({exc}); the {session['runs']} runs "
                               "finished in this session are stored: rerun the same command "
                               "to resume") from exc
        finally:
            if plan is not None:
                _finish(plan.store, plan.manifest, set(plan.keys), plan.outputs, session)

    counts = plan.store.counts(expected=set(plan.keys))
    return SweepSummary(
        path=plan.store.root, name=exp.name, ok=counts.ok, failed=counts.failed,
        pending=counts.pending, invalid=counts.invalid, ran=session["runs"],
        skipped=len(plan.keys) - len(plan.pending), elapsed_s=time.perf_counter() - started,
        errors=errors.most_common(MAX_ERRORS_SHOWN),
        missing_outputs=[o for o in exp.outputs if plan.outputs and o not in plan.outputs],
        shard=shard, session=session["id"], stopped=session.get("stopped"),
        first_errors=first,
    )


@dataclass
class _Plan:
    """What a sweep invocation has to do, and where it writes."""

    store: ResultStore
    design: pd.DataFrame
    params: dict[str, tuple[str, pa.DataType]]
    keys: list[RunKey]
    pending: list[RunKey]
    outputs: list[str]
    manifest: dict[str, Any]


def _check_code(store: ResultStore, previous: dict[str, Any] | None, session: dict[str, Any],
                allow: bool, pending: int) -> None:
    """Stop when the stored runs were computed by other code than this session's."""
    before = mf.last_code_fingerprint(previous)
    code = session["provenance"]["code"]
    if before is None or before == code["sha256"] or pending == 0:
        return
    last = mf.last_code_session(previous)
    old_git = last["provenance"]["code"].get("git") or {}
    new_git = code.get("git") or {}

    def describe(sha: str, git: dict[str, Any]) -> str:
        commit = git.get("commit")
        where = f", git {commit[:10]}{' with local changes' if git.get('dirty') else ''}" \
            if commit else ""
        return f"{sha}{where}"

    change = {"session": session["id"], "from": before, "to": code["sha256"],
              "package": code["package"], "at": mf.now()}
    if allow:
        session["code_change_allowed"] = change
        previous.setdefault("code_changes", []).append(change)
        return
    raise UserError(
        f"{store.root} holds runs computed by other code: the swept function's package "
        f"'{code['package']}' had fingerprint {describe(before, old_git)} in session "
        f"{last.get('id', '?')} and now has {describe(code['sha256'], new_git)}. Resuming "
        f"(or --retry-failed) would store runs of two model versions in one table. Restore "
        "that code, write to another --out, or pass --allow-code-change to go on anyway "
        "(recorded in manifest.json under 'code_changes'; each run's 'session' column says "
        "which code computed it)")


def _check_identity(store: ResultStore, exp: Experiment) -> dict[str, Any] | None:
    """The store's manifest, if any; stop when it belongs to another version of ``exp``."""
    previous = store.read_manifest()
    if previous is not None and previous.get("identity") != exp.identity():
        raise UserError(f"{store.root} holds results of a different version of experiment "
                        f"'{exp.name}' (its design, model, seed, params or regimes differ); "
                        "use another --out or name, or remove that directory")
    return previous


def _prepare(exp: Experiment, store: ResultStore, root: Path, shard: tuple[int, int] | None,
             previous: dict[str, Any] | None, retry_failed: bool,
             session: dict[str, Any] | None = None, allow_code_change: bool = False) -> _Plan:
    """Write design and manifest into ``store`` and list the runs still to do.

    ``previous`` is the store's manifest as `_check_identity` read and checked it.
    """
    design = build_design(exp)
    params = param_columns(exp)
    keys = list(run_keys(len(design), exp.replicates, exp.regime_names, shard))
    store.create()
    done = store.finished_keys(include_failed=not retry_failed)
    if shard is not None:  # runs already merged into the main store count as done
        done |= ResultStore(root).finished_keys(include_failed=not retry_failed)
    pending = [k for k in keys if k not in done]
    if session is not None:
        _check_code(store, previous, session, allow_code_change, len(pending))
    store.write_design(design)
    outputs: list[str] = list((previous or {}).get("output_columns", []))
    manifest = mf.build_manifest(exp, design_summary(exp, design), output_columns=outputs,
                                 param_columns={n: c for n, (c, _) in params.items()},
                                 runs_total=len(keys),
                                 shard=shard, previous=previous)
    if session is not None:
        manifest["provenance"] = session["provenance"]
    store.write_manifest(manifest)
    return _Plan(store, design, params, keys, pending, outputs, manifest)


def run_rules(exp: Experiment, params: dict[str, tuple[str, pa.DataType]],
              timeout_s: float | None) -> dict[str, Any]:
    """How a run of ``exp`` is judged: the keyword arguments of `run_batch`/`run_one`.

    One place for the sweep and ``sweep --dry-run``: outputs may not take a run-table
    column's name, only analysed outputs must be finite, outputs the model declares
    undefined may be NaN, and a run over ``timeout_s`` fails.
    """
    return {"reserved": frozenset(RESERVED_COLUMNS) | frozenset(c for c, _ in params.values()),
            "timeout_s": timeout_s,
            "checked": frozenset(exp.outputs) if exp.outputs else None,
            "undefined": undefined_outputs(exp)}


def _execute(exp: Experiment, plan: _Plan, ex: Any, chunker: Chunker,
             session: dict[str, Any], errors: Counter[str], first: list[str], progress: bool,
             timeout_s: float | None = None, max_failures: float | None = None) -> None:
    """Run the pending runs chunk by chunk, writing each finished chunk as one part."""
    make_batch = BatchFactory(exp, plan.design)
    run = partial(run_batch, exp.model, series=exp.series,
                  **run_rules(exp, plan.params, timeout_s))
    defaults = exp.defaults or {}
    batches = (make_batch(keys) for keys in chunker)
    with _progress(len(plan.pending), progress, exp.name) as bar:  # after workers started
        for batch, result, error in ex.imap_unordered(run, batches):
            if isinstance(error, BrokenExecutor | KeyboardInterrupt):
                raise error
            if error is not None and not isinstance(error, Exception):
                raise SweepAborted(f"a worker stopped: {type(error).__name__}: {error}")
            if error is not None:
                result = _failed_result(batch, error)
            for name in result.outputs:
                if name not in plan.outputs:
                    plan.outputs.append(name)
            table = batch_table(batch, result, plan.params, plan.outputs, defaults,
                                session.get("id", ""))
            plan.store.write_part(table, batch.keys(), batch_series(batch, result))
            n = len(batch)
            chunker.observe(n, result.compute_s)
            bad = [i for i, status in enumerate(result.status) if status != STATUS_OK]
            errors.update(result.error[i][:ERROR_GROUP_CHARS] for i in bad)
            for i in bad:
                text = result.error[i]
                if len(first) < MAX_ERRORS_SHOWN and not any(text in f for f in first):
                    regime = batch.regimes[i]
                    first.append(f"row {batch.rows[i]}, replicate {batch.replicates[i]}"
                                 f"{f', regime {regime}' if regime else ''}: {text}")
            failed = sum(result.status[i] == STATUS_FAILED for i in bad)
            session["runs"] += n
            session["failed"] += failed
            session["invalid"] += len(bad) - failed
            bar.update(n)
            bar.set_postfix(failed=session["failed"] + session["invalid"], refresh=False)
            stop = _too_many_failures(max_failures, session["failed"] + session["invalid"],
                                      session["runs"], len(plan.pending))
            if stop:
                session["stopped"] = stop
                return


def _finish(store: ResultStore, manifest: dict[str, Any], keys: set[RunKey],
            outputs: list[str], session: dict[str, Any]) -> None:
    """Compact the store and record the final counts in the manifest."""
    store.compact()
    counts = store.counts(expected=keys)
    session["finished"] = mf.now()
    manifest["sessions"] = [*manifest.get("sessions", []), session]
    manifest["counts"] = counts.to_dict()
    manifest["output_columns"] = list(outputs)
    manifest["status"] = "complete" if counts.pending == 0 else "incomplete"
    manifest["stopped"] = session.get("stopped")
    manifest["times"]["finished"] = session["finished"]
    store.write_manifest(manifest)


def run_experiment(experiment: Experiment | str | Path, out: str | Path = DEFAULT_OUT,
                   **options: Any) -> Path:
    """Run (or resume) an experiment; return its results directory ``out/<name>``.

    Accepts the keyword options of `sweep`. Failed runs do not raise: they are recorded
    with ``status = failed`` (see manifest.json's counts).
    """
    summary = sweep(experiment, out, **options)
    return summary.path


# --------------------------------------------------------------------------- merge


@dataclass
class MergeSummary:
    """What `merge_shards` did for one experiment directory."""

    path: Path
    shards_found: list[str]
    shards_missing: list[int]
    ok: int
    failed: int
    pending: int
    invalid: int = 0
    code_versions: list[str] = field(default_factory=list)

    @property
    def exit_status(self) -> int:
        """0 when every run is ok, 1 when some failed, are invalid or are pending."""
        return 0 if self.failed == 0 and self.invalid == 0 and self.pending == 0 else 1


def _copy_parts(src: Path, dst: Path) -> int:
    import shutil

    from relsim.experiments.store import PART_GLOB, _tmp_path

    copied = 0
    if not src.is_dir():
        return 0
    dst.mkdir(parents=True, exist_ok=True)
    for part in sorted(src.glob(PART_GLOB)):
        tmp = _tmp_path(dst / part.name)
        shutil.copyfile(part, tmp)
        Path(tmp).replace(dst / part.name)
        copied += 1
    return copied


def merge_shards(directory: str | Path) -> list[MergeSummary]:
    """Combine the shards of one experiment (or of every experiment under a directory).

    ``directory`` is ``DIR/<name>`` (holding ``shards/``) or ``DIR`` itself. The shards'
    parts are copied into ``DIR/<name>/runs/`` (and ``series/``), duplicates are dropped
    by run key, and manifest.json records the merged counts and each shard's provenance.
    Merging is idempotent: rerun it after more shards finish. Shard directories are kept.

    Raises:
        UserError: No shards found, or shards of different experiments.
    """
    root = Path(directory)
    if not root.is_dir():
        raise UserError(f"merge: directory not found: {root}")
    if (root / SHARDS).is_dir():
        targets = [root]
    else:
        targets = sorted(c for c in root.iterdir() if (c / SHARDS).is_dir())
    if not targets:
        raise UserError(f"merge: no shards under {root} (expected {root}/shards/shard-*-of-*/ "
                        f"or {root}/<name>/shards/...; shards are written by "
                        "'relsim sweep --shard I/N')")
    summaries = []
    for target in targets:
        with ResultStore(target).lock("relsim merge"):
            summaries.append(_merge_one(target))
    return summaries


def _merge_one(root: Path) -> MergeSummary:
    shard_stores = [ResultStore(d) for d in sorted((root / SHARDS).glob("shard-*-of-*"))]
    manifests = [(s, s.read_manifest()) for s in shard_stores]
    manifests = [(s, m) for s, m in manifests if m is not None]
    if not manifests:
        raise UserError(f"merge: no shard under {root / SHARDS} has a manifest.json")
    identities = {m["identity"] for _, m in manifests}
    main = ResultStore(root)
    own = main.read_manifest()
    if own is not None and own.get("identity") not in identities:
        identities.add(own.get("identity"))
    if len(identities) > 1:
        raise UserError(f"merge: the shards under {root} come from different versions of the "
                        "experiment (their identities differ); merge only shards of one "
                        "experiment file")
    main.create()
    for store, _ in manifests:
        main.write_design(read_verified(store.design_path).to_pandas())
        _copy_parts(store.runs_dir, main.runs_dir)
        _copy_parts(store.series_dir, main.series_dir)
    main.compact()

    first = manifests[0][1]
    regimes = list(first["regimes"]) or [""]
    keys = set(run_keys(first["design_rows"], first["replicates"], regimes))
    counts = main.counts(expected=keys)
    split = {m["shard"]["count"] for _, m in manifests}
    present = {m["shard"]["index"] for _, m in manifests}
    missing = sorted(set(range(max(split))) - present) if len(split) == 1 else []
    outputs = list(dict.fromkeys(o for _, m in manifests for o in m.get("output_columns", [])))
    codes = list(dict.fromkeys(
        c for _, m in manifests for c in
        [((s.get("provenance") or {}).get("code") or {}).get("sha256")
         for s in m.get("sessions", []) if s.get("runs", 0) > 0] if c))
    merged = {**first, "shard": None, "code_versions": codes, "runs_total": len(keys),
              "counts": counts.to_dict(),
              "output_columns": outputs,
              "status": "complete" if counts.pending == 0 else "incomplete",
              "merged_from": [{"dir": str(s.root.relative_to(root)), "shard": m["shard"],
                               "counts": m["counts"], "provenance": m["provenance"],
                               "times": m["times"], "sessions": m.get("sessions", [])}
                              for s, m in manifests],
              "sessions": [], "times": {**first["times"], "merged": mf.now()}}
    main.write_manifest(merged)
    return MergeSummary(root, [s.root.name for s, _ in manifests], missing, counts.ok,
                        counts.failed, counts.pending, counts.invalid, codes)
