"""Executors: where chunks of runs are computed.

Every executor offers the same small interface, `Executor.imap_unordered`, which takes a
function and an iterator of chunks, keeps a bounded number of chunks in flight (so memory
stays flat however long the sweep) and yields ``(chunk, result, error)`` as chunks finish.
Results do not depend on the executor: run seeds come from ``experiments.seeds``.

Chunks are sequences of runs that slice like lists (a list, or the runner's `Batch`).
When a worker process dies while chunks are in flight (the model called ``os._exit``,
crashed, or was killed by the out-of-memory killer), the executor starts a fresh worker
and reruns the chunks that were in flight one run at a time, one run in flight, so the
run that kills its worker is found: it gets one more
try, and if its worker dies again it comes back with a `WorkerDied` error (the runner
records it as failed, ``worker died``) and the sweep goes on.

Workers end when their coordinator dies, however it dies (even ``SIGKILL``): each local
worker watches its parent process and exits when it is gone.

- `SerialExecutor`: in this process, in order (``--executor serial`` or ``--workers 1``).
- `ProcessExecutor`: a local pool of worker processes (``--executor local``, the default).
- `DaskExecutor`: a Dask ``LocalCluster`` or an existing scheduler (``--scheduler ADDR``),
  which is how sweeps run on SLURM/PBS through dask-jobqueue (see docs/CLUSTER.md).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import (
    FIRST_COMPLETED,
    BrokenExecutor,
    Future,
    ProcessPoolExecutor,
    wait,
)
from typing import Any

from relsim.experiments.errors import UserError
from relsim.experiments.store import close_inherited_locks

#: Chunks kept in flight per worker: enough to hide dispatch latency, few enough for
#: memory to stay flat.
IN_FLIGHT_PER_WORKER = 2
EXECUTORS = ("serial", "local", "dask")
START_METHOD_ENV = "RELSIM_START_METHOD"
#: Extra tries of a run whose worker died before it is recorded as failed.
WORKER_DEATH_RETRIES = 1
#: Seconds between a worker's checks that its coordinator is still alive.
PARENT_POLL_S = 0.5
#: Seconds between checks that the sweep's own Dask cluster still has workers.
DASK_POLL_S = 5.0
#: The sweep's own Dask cluster without any worker for this long ends the sweep.
DASK_NO_WORKERS_S = 30.0
__all__ = ["BrokenExecutor", "DaskExecutor", "Executor", "ProcessExecutor", "SerialExecutor",
           "WorkerDied", "make_executor"]


class WorkerDied(RuntimeError):
    """The worker process running a run died, on every try."""

Outcome = tuple[Any, Any, BaseException | None]


def default_workers() -> int:
    """Worker count when none is given: the usable cores."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class Executor:
    """Base class: a context manager running chunks."""

    workers = 1

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the executor's resources."""

    def describe(self) -> dict[str, Any]:
        """What ran the sweep, for manifest.json."""
        return {"executor": type(self).__name__, "workers": self.workers}

    def imap_unordered(self, fn: Callable[[Any], Any], chunks: Iterable[Any]) -> Iterator[Outcome]:
        """Yield ``(chunk, result, error)`` for every chunk, in completion order."""
        raise NotImplementedError


class SerialExecutor(Executor):
    """Runs chunks in this process, one after the other."""

    def imap_unordered(self, fn: Callable[[Any], Any], chunks: Iterable[Any]) -> Iterator[Outcome]:  # noqa: D102
        for chunk in chunks:
            try:
                result = fn(chunk)
            except Exception as exc:  # noqa: BLE001 - reported as failed runs
                yield chunk, None, exc
            else:
                yield chunk, result, None


def _bounded(submit: Callable[[Any], Any], chunks: Iterable[Any], limit: int,
             wait_any: Callable[[set], tuple[set, set]],
             outcome: Callable[[Any], tuple[Any, BaseException | None]]) -> Iterator[Outcome]:
    """Keep at most ``limit`` futures in flight; yield outcomes as they complete."""
    pending: dict[Any, Any] = {}
    source = iter(chunks)
    exhausted = False
    while True:
        while not exhausted and len(pending) < limit:
            chunk = next(source, None)
            if chunk is None:
                exhausted = True
                break
            pending[submit(chunk)] = chunk
        if not pending:
            return
        done, _ = wait_any(set(pending))
        for future in done:
            chunk = pending.pop(future)
            result, error = outcome(future)
            yield chunk, result, error


def _future_outcome(future: Future) -> tuple[Any, BaseException | None]:
    error = future.exception()
    return (None, error) if error is not None else (future.result(), None)


def start_method() -> str:
    """The start method of local worker processes.

    ``fork`` on Linux before Python 3.14 (CPython's own default there: workers start at
    once and share the already imported model); ``forkserver`` on Python 3.14+ (its
    new default; the server imports the worker and model modules once); ``spawn`` on
    macOS and Windows. It is chosen explicitly because importing Mesa switches the global
    default to ``spawn`` (``mesa.batchrunner`` calls ``set_start_method``), which would
    re-import the model in every worker. The environment variable
    ``RELSIM_START_METHOD`` overrides the choice.
    """
    available = multiprocessing.get_all_start_methods()
    chosen = os.environ.get(START_METHOD_ENV)
    if chosen:
        if chosen not in available:
            raise UserError(f"{START_METHOD_ENV}={chosen!r} is not available here "
                            f"(available: {', '.join(available)})")
        return chosen
    if sys.platform.startswith("linux") and sys.version_info < (3, 14):
        return "fork"
    return "forkserver" if "forkserver" in available and sys.platform != "darwin" else "spawn"


def _context(preload: str | None) -> multiprocessing.context.BaseContext:
    ctx = multiprocessing.get_context(start_method())
    if ctx.get_start_method() == "forkserver":
        ctx.set_forkserver_preload(["relsim.experiments.worker", *([preload] if preload else [])])
    return ctx


def _noop() -> None:
    """A task that only makes the pool start its worker processes."""


def _watch_parent(parent: int) -> None:
    """End this process as soon as ``parent`` is no longer its parent (it died)."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os._exit(1)


def _init_worker() -> None:
    """Worker initializer.

    Ctrl-C is the coordinator's to handle (it stops the sweep). SIGTERM gets its default
    action back (a forked worker inherits the coordinator's handler): a terminated worker
    simply ends. The worker closes its copies of the coordinator's directory locks and
    watches its parent, ending when the parent dies (no orphans after a ``kill -9`` of
    the coordinator).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    close_inherited_locks()
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True,
                     name="relsim-parent-watch").start()


def _death_message(exitcodes: list[int], tries: str | None = None) -> str:
    codes = [c for c in exitcodes if c not in (None, 0)]
    # the pool terminates the surviving workers (SIGTERM): the dead one is the other code
    codes = [c for c in codes if c != -signal.SIGTERM] or codes
    how = ""
    if codes:
        c = codes[0]
        how = (f" (killed by signal {signal.Signals(-c).name})" if c < 0 and
               -c in signal.valid_signals() else f" (exit code {c})")
    tries = tries or f"on each of {1 + WORKER_DEATH_RETRIES} tries"
    return (f"worker died{how} while running this run, {tries}: the model ended its process "
            "(os._exit, a crash in C code, or the out-of-memory killer)")


class ProcessExecutor(Executor):
    """A local pool of worker processes.

    Args:
        workers: Number of processes.
        preload: Module to import once in the fork server (the model's), if any.
    """

    def __init__(self, workers: int, preload: str | None = None) -> None:
        self.workers = workers
        self._context = _context(preload)
        self.restarts = 0
        self._pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=self._context,
                                   initializer=_init_worker)
        # Start the workers now, before the caller starts threads (progress bar): with
        # ``fork`` all of them are created at the first submission.
        pool.submit(_noop)
        return pool

    def _restart(self) -> list[int]:
        """Replace a broken pool; return the exit codes of its worker processes."""
        processes = list((getattr(self._pool, "_processes", None) or {}).values())
        self._pool.shutdown(wait=True, cancel_futures=True)
        # Read the exit codes only once the pool's manager thread has ended: it reaps the
        # workers too, and a second ``waitpid`` racing it gets ECHILD and no code (the dead
        # worker's exit code then went missing under load and the message named SIGTERM).
        for p in processes:
            p.join(timeout=1.0)
        codes = [p.exitcode for p in processes]
        self._pool = self._start()
        self.restarts += 1
        return codes

    def describe(self) -> dict[str, Any]:  # noqa: D102
        return {**super().describe(), "worker_restarts": self.restarts}

    def imap_unordered(self, fn: Callable[[Any], Any], chunks: Iterable[Any]) -> Iterator[Outcome]:  # noqa: D102
        source = iter(chunks)
        limit = self.workers * IN_FLIGHT_PER_WORKER
        pending: dict[Future, Any] = {}
        exhausted = False
        while True:
            lost: list[Any] = []
            while not exhausted and len(pending) < limit:
                chunk = next(source, None)
                if chunk is None:
                    exhausted = True
                    break
                try:
                    pending[self._pool.submit(fn, chunk)] = chunk
                except BrokenExecutor:
                    lost.append(chunk)
                    break
            if not pending and not lost:
                return
            if pending:
                done, _ = wait(set(pending), return_when=FIRST_COMPLETED)
                for future in done:
                    chunk = pending.pop(future)
                    result, error = _future_outcome(future)
                    if isinstance(error, BrokenExecutor):
                        lost.append(chunk)
                    else:
                        yield chunk, result, error
            if lost:  # a worker died: every chunk in flight is lost with the pool
                for future in list(pending):
                    future.cancel()
                    lost.append(pending.pop(future))
                self._restart()
                yield from self._isolate(fn, lost)

    def _isolate(self, fn: Callable[[Any], Any], chunks: list[Any]) -> Iterator[Outcome]:
        """Rerun lost chunks one run at a time, alone, to find the run that kills workers."""
        for chunk in chunks:
            for i in range(len(chunk)):
                single = chunk[i:i + 1]
                for attempt in range(1 + WORKER_DEATH_RETRIES):
                    try:
                        future = self._pool.submit(fn, single)
                        wait([future])
                        result, error = _future_outcome(future)
                    except BrokenExecutor as exc:
                        result, error = None, exc
                    if not isinstance(error, BrokenExecutor):
                        yield single, result, error
                        break
                    codes = self._restart()
                    if attempt == WORKER_DEATH_RETRIES:
                        yield single, None, WorkerDied(_death_message(codes))

    def close(self) -> None:  # noqa: D102
        self._pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor(Executor):
    """Chunks as Dask tasks, on a new ``LocalCluster`` or an existing scheduler.

    Args:
        workers: Worker processes of the local cluster (ignored with a scheduler).
        scheduler: Address of a running scheduler (``tcp://host:8786``), a
            ``distributed.Client``, or a cluster object (e.g. dask-jobqueue's
            ``SLURMCluster``); None starts a ``LocalCluster``.
        quiet: Silence Dask's log output.
    """

    def __init__(self, workers: int, scheduler: Any = None, quiet: bool = True) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:  # pragma: no cover - dask[distributed] is a dependency
            raise UserError("the dask executor needs 'dask[distributed]' installed") from None
        self._cluster = None
        self._own_client = True
        level = logging.ERROR if quiet else logging.WARNING
        if scheduler is None:
            self._cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                         dashboard_address=None, silence_logs=level)
            self.client = Client(self._cluster)
        elif isinstance(scheduler, str):
            try:
                self.client = Client(scheduler, timeout="30s")
            except (OSError, TimeoutError) as exc:
                raise UserError(f"cannot connect to the Dask scheduler at {scheduler}: "
                                f"{exc}") from None
        elif isinstance(scheduler, Client):
            self.client, self._own_client = scheduler, False
        else:  # a cluster object: LocalCluster, SLURMCluster, PBSCluster, ...
            self.client = Client(scheduler)
        self.address = self.client.scheduler.address
        nthreads = sum(self.client.nthreads().values())
        self.workers = nthreads or workers

    def _check_workers(self, idle_since: float | None) -> float | None:
        """Give up when the own local cluster has had no worker for a while.

        A ``LocalCluster`` whose worker processes were all killed (e.g. by a model that
        ends its process) does not always restart them, and the sweep would wait forever.
        An external scheduler may legitimately have no worker for hours (jobs queued on
        a batch system), so only the sweep's own local cluster is checked.
        """
        if self._cluster is None or self.client.scheduler_info().get("workers"):
            return None
        now = time.monotonic()
        if idle_since is None:
            return now
        if now - idle_since > DASK_NO_WORKERS_S:
            raise BrokenExecutor(f"the local Dask cluster has had no worker for "
                                 f"{DASK_NO_WORKERS_S:g} s (its worker processes died)")
        return idle_since

    def describe(self) -> dict[str, Any]:  # noqa: D102
        return {"executor": "DaskExecutor", "workers": self.workers,
                "scheduler": self.address if self._cluster is None else "LocalCluster"}

    def imap_unordered(self, fn: Callable[[Any], Any], chunks: Iterable[Any]) -> Iterator[Outcome]:  # noqa: D102
        from distributed import wait as dask_wait

        def wait_any(futures: set) -> tuple[set, set]:
            idle_since = None
            while True:
                try:
                    result = dask_wait(list(futures), timeout=DASK_POLL_S,
                                       return_when="FIRST_COMPLETED")
                    return set(result.done), set(result.not_done)
                except TimeoutError:
                    idle_since = self._check_workers(idle_since)

        def outcome(future: Any) -> tuple[Any, BaseException | None]:
            idle_since = None
            while True:  # a result held by a worker that died is recomputed: wait for it
                if future.status == "error":
                    return None, future.exception()
                try:
                    return future.result(timeout=DASK_POLL_S), None
                except TimeoutError:
                    idle_since = self._check_workers(idle_since)
                except Exception as exc:  # noqa: BLE001 - reported as failed runs
                    return None, exc

        limit = max(self.workers, 1) * IN_FLIGHT_PER_WORKER
        for chunk, result, error in _bounded(lambda c: self.client.submit(fn, c, pure=False),
                                             chunks, limit, wait_any, outcome):
            if _killed_worker(error):  # Dask retried it on other workers; they died too
                yield from self._isolate(fn, chunk, outcome)
            else:
                yield chunk, result, error

    def _isolate(self, fn: Callable[[Any], Any], chunk: Any,
                 outcome: Callable[[Any], tuple[Any, BaseException | None]]) -> Iterator[Outcome]:
        """Rerun a chunk whose workers died one run at a time to find the killing run."""
        from distributed import wait as dask_wait

        for i in range(len(chunk)):
            single = chunk[i:i + 1]
            future = self.client.submit(fn, single, pure=False)
            idle_since = None
            while True:
                try:
                    dask_wait([future], timeout=DASK_POLL_S)
                    break
                except TimeoutError:
                    idle_since = self._check_workers(idle_since)
            result, error = outcome(future)
            if _killed_worker(error):
                error = WorkerDied(f"{_death_message([], 'on every Dask worker that tried')} "
                                   f"[Dask: {error}]")
            yield single, result, error

    def close(self) -> None:  # noqa: D102
        if self._own_client:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def _killed_worker(error: BaseException | None) -> bool:
    """Whether a Dask task failed because the workers running it died."""
    return error is not None and type(error).__name__ == "KilledWorker"


def make_executor(kind: str, workers: int | None = None, scheduler: Any = None,
                  quiet: bool = True, preload: str | None = None) -> Executor:
    """Build the executor named ``kind`` (``serial``, ``local`` or ``dask``).

    ``local`` with one worker runs in-process (a pool would only add overhead); a
    ``scheduler`` implies ``dask``. ``preload`` names the model's module, imported once
    by the local pool's fork server.
    """
    if scheduler is not None:
        kind = "dask"
    if kind not in EXECUTORS:
        raise UserError(f"unknown executor {kind!r} (executors: {', '.join(EXECUTORS)})")
    n = default_workers() if workers is None else workers
    if n < 1:
        raise UserError(f"--workers must be at least 1, got {n}")
    if kind == "serial" or (kind == "local" and n == 1):
        return SerialExecutor()
    if kind == "local":
        return ProcessExecutor(n, preload)
    return DaskExecutor(n, scheduler, quiet)
