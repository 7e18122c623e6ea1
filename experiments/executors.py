"""Executors: where chunks of runs are computed.

Every executor offers the same small interface, `Executor.imap_unordered`, which takes a
function and an iterator of chunks, keeps a bounded number of chunks in flight (so memory
stays flat however long the sweep) and yields ``(chunk, result, error)`` as chunks finish.
Results do not depend on the executor: run seeds come from ``experiments.seeds``.

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

#: Chunks kept in flight per worker: enough to hide dispatch latency, few enough for
#: memory to stay flat.
IN_FLIGHT_PER_WORKER = 2
EXECUTORS = ("serial", "local", "dask")
START_METHOD_ENV = "RELSIM_START_METHOD"
__all__ = ["BrokenExecutor", "DaskExecutor", "Executor", "ProcessExecutor", "SerialExecutor",
           "make_executor"]

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


def _ignore_sigint() -> None:
    """Worker initializer: Ctrl-C is the coordinator's to handle (it stops the sweep).

    SIGTERM gets its default action back (a forked worker inherits the coordinator's
    handler): a terminated worker simply ends, and the coordinator stops the sweep.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class ProcessExecutor(Executor):
    """A local pool of worker processes.

    Args:
        workers: Number of processes.
        preload: Module to import once in the fork server (the model's), if any.
    """

    def __init__(self, workers: int, preload: str | None = None) -> None:
        self.workers = workers
        self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=_context(preload),
                                         initializer=_ignore_sigint)
        # Start the workers now, before the caller starts threads (progress bar): with
        # ``fork`` all of them are created at the first submission.
        self._pool.submit(_noop)

    def imap_unordered(self, fn: Callable[[Any], Any], chunks: Iterable[Any]) -> Iterator[Outcome]:  # noqa: D102
        return _bounded(lambda c: self._pool.submit(fn, c), chunks,
                        self.workers * IN_FLIGHT_PER_WORKER,
                        lambda fs: wait(fs, return_when=FIRST_COMPLETED), _future_outcome)

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

    def describe(self) -> dict[str, Any]:  # noqa: D102
        return {"executor": "DaskExecutor", "workers": self.workers,
                "scheduler": self.address if self._cluster is None else "LocalCluster"}

    def imap_unordered(self, fn: Callable[[Any], Any], chunks: Iterable[Any]) -> Iterator[Outcome]:  # noqa: D102
        from distributed import wait as dask_wait

        def wait_any(futures: set) -> tuple[set, set]:
            result = dask_wait(list(futures), return_when="FIRST_COMPLETED")
            return set(result.done), set(result.not_done)

        def outcome(future: Any) -> tuple[Any, BaseException | None]:
            if future.status == "error":
                return None, future.exception()
            return future.result(), None

        limit = max(self.workers, 1) * IN_FLIGHT_PER_WORKER
        return _bounded(lambda c: self.client.submit(fn, c, pure=False), chunks, limit,
                        wait_any, outcome)

    def close(self) -> None:  # noqa: D102
        if self._own_client:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()


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
