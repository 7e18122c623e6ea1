"""The results store: ``DIR/<name>/`` with manifest.json, design.parquet and runs parts.

Layout (INTERFACE.md, "Results directory")::

    DIR/<name>/manifest.json         provenance, design facts, counts
    DIR/<name>/design.parquet        column ``row`` plus factors
    DIR/<name>/runs/part-*.parquet   one row per run
    DIR/<name>/series/part-*.parquet daily series (only with ``series = true``)
    DIR/<name>/shards/shard-I-of-N/  a shard's own store, until ``relsim merge``

Every file is written to a hidden temporary name in its final directory and then
``os.replace``-d into place, so a killed sweep leaves no partial file, and readers
(``pandas.read_parquet`` of the directory, which skips names starting with ``.``) never
see one. A part's name is a hash of its run keys, so reruns and shards never collide.

The store keeps one row per run key (row, replicate, regime): `ResultStore.compact`
drops superseded ``failed`` rows after a retry (an ``ok`` row wins, otherwise the newest)
and rewrites parts so every part has the same columns.

Integrity: every parquet file carries a checksum of its content in its own metadata
(`relsim.analysis.integrity`), written with the file and checked whenever the store reads
it; a damaged file raises `IntegrityError` (exit status 2 on the command line) naming
the file and how to recompute its runs (``relsim verify DIR --repair``, then rerun).

Concurrency: `ResultStore.lock` takes an exclusive lock on ``DIR/<name>/.lock``
(``flock``: released by the kernel when its holder ends, however it ends), so a second
sweep or merge into the same directory stops with a message instead of computing every
run twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from relsim.analysis.integrity import IntegrityError, read_verified, with_digest
from relsim.analysis.integrity import table_digest as table_digest
from relsim.experiments.errors import UserError

KEY = ("row", "replicate", "regime")
MANIFEST = "manifest.json"
DESIGN = "design.parquet"
RUNS = "runs"
SERIES = "series"
SHARDS = "shards"
PART_GLOB = "part-*.parquet"
STATUS_OK = "ok"
STATUS_FAILED = "failed"
STATUS_INVALID = "invalid"
LOCK = ".lock"
QUARANTINE = "damaged"
#: Parts with fewer runs than this are combined into parts of up to this many runs when
#: a sweep or a merge ends (`ResultStore.coalesce`): chunks of ~2 s of work would
#: otherwise leave thousands of small files, each costing every later read a few ms.
COALESCE_RUNS = 8192
#: Temporary files older than this with no live writer are removed at start-up.
STALE_TMP_S = 3600.0
_DIGEST_CHARS = 20

RunKey = tuple[int, int, str]


def part_name(keys: Iterable[RunKey]) -> str:
    """Deterministic part file name from the run keys it holds."""
    text = "\n".join(f"{r}/{p}/{g}" for r, p, g in sorted(keys))
    return f"part-{hashlib.sha1(text.encode()).hexdigest()[:_DIGEST_CHARS]}.parquet"


def _tmp_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.{socket.gethostname()}.{os.getpid()}.tmp")


def write_table_atomic(table: pa.Table, target: Path) -> None:
    """Write a parquet table to ``target`` via a temporary file and ``os.replace``.

    The file records a checksum of its content; it is read back and checked before it
    replaces ``target`` (a type that does not round-trip exactly through parquet is
    written once more as read, so that its checksum is stable).
    """
    tmp = _tmp_path(target)
    try:
        pq.write_table(with_digest(table), tmp)
        try:
            read_verified(tmp)
        except IntegrityError:
            again = pq.read_table(tmp).replace_schema_metadata(table.schema.metadata)
            pq.write_table(with_digest(again), tmp)
            read_verified(tmp)
        os.replace(tmp, target)
        _remember_verified(target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_json_atomic(data: dict[str, Any], target: Path) -> None:
    """Write JSON to ``target`` via a temporary file and ``os.replace``."""
    tmp = _tmp_path(target)
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n",
                   encoding="utf-8")
    os.replace(tmp, target)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_tmp(directory: Path) -> int:
    """Delete temporary files left by killed writers; return how many."""
    removed = 0
    host = socket.gethostname()
    for tmp in directory.glob(".*.tmp"):
        parts = tmp.name.split(".")
        try:
            pid = int(parts[-2])
        except (IndexError, ValueError):
            continue
        same_host_dead = parts[-3] == host and not _pid_alive(pid)
        old = time.time() - tmp.stat().st_mtime > STALE_TMP_S
        if same_host_dead or old:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
                removed += 1
    return removed


@dataclass(frozen=True)
class Counts:
    """Runs ok, failed (raised, timed out, worker died), invalid (non-finite output), pending."""

    ok: int
    failed: int
    pending: int
    invalid: int = 0

    @property
    def total(self) -> int:
        """All runs of the experiment (or the shard)."""
        return self.ok + self.failed + self.invalid + self.pending

    def to_dict(self) -> dict[str, int]:
        """As recorded in manifest.json."""
        return {"ok": self.ok, "failed": self.failed, "invalid": self.invalid,
                "pending": self.pending, "total": self.total}


class DirectoryLocked(UserError):
    """Another process holds the results directory's lock."""


class _Lock:
    """An exclusive, non-blocking ``flock`` on a file; released when its holder ends."""

    def __init__(self, path: Path, purpose: str) -> None:
        self.path = path
        self.purpose = purpose
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no lock
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise UserError(f"cannot write to the results directory {self.path.parent}: "
                            f"{exc.strerror or exc}; choose another --out") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 4096).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise DirectoryLocked(
                f"{self.path.parent} is in use by another relsim process ({holder}); two "
                "sweeps into one directory would compute the same runs twice. Wait for it "
                "to finish (then rerun: finished runs are kept), or write elsewhere with "
                "--out. If no such process runs, the lock is stale only on a file system "
                f"without working locks: then remove {self.path}") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{self.purpose}, pid {os.getpid()} on {socket.gethostname()}, since "
                     f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}".encode())
        self._fd = fd
        _HELD_LOCKS.add(fd)

    def release(self) -> None:
        if self._fd is not None:
            _HELD_LOCKS.discard(self._fd)
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None

    def __enter__(self) -> _Lock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


#: Lock descriptors held by this process (a forked worker closes its copies).
_HELD_LOCKS: set[int] = set()


def close_inherited_locks() -> None:
    """In a forked worker: close the copies of the coordinator's lock descriptors.

    A lock taken with ``flock`` is held until every copy of its descriptor is closed, so
    a worker must not keep one alive.
    """
    for fd in list(_HELD_LOCKS):
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD_LOCKS.clear()


class ResultStore:
    """One experiment's results directory (or one shard's)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.runs_dir = self.root / RUNS
        self.series_dir = self.root / SERIES
        self.manifest_path = self.root / MANIFEST
        self.design_path = self.root / DESIGN

    # ------------------------------------------------------------------ set-up
    def lock(self, purpose: str = "relsim sweep") -> _Lock:
        """An exclusive lock on this directory (a context manager).

        Raises:
            DirectoryLocked: Another process holds it (on entering the context).
        """
        return _Lock(self.root / LOCK, purpose)

    def create(self) -> None:
        """Create the directories and clear temporary files of killed writers."""
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_tmp(self.runs_dir)
        if self.series_dir.exists():
            remove_stale_tmp(self.series_dir)

    def read_manifest(self) -> dict[str, Any] | None:
        """The manifest, or None if there is none yet."""
        if not self.manifest_path.exists():
            return None
        return json.loads(self.manifest_path.read_text(encoding="utf-8"))

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """Write manifest.json atomically."""
        write_json_atomic(manifest, self.manifest_path)

    def write_design(self, design: pd.DataFrame) -> None:
        """Write design.parquet, or check that the existing one is the same design."""
        if self.design_path.exists():
            old = read_verified(self.design_path).to_pandas()
            if not _same_frame(old, design):
                raise UserError(f"{self.design_path} holds a different design than this "
                                "experiment; use another --out or name, or remove the "
                                "directory")
            return
        table = pa.Table.from_pandas(design, preserve_index=False)
        write_table_atomic(table, self.design_path)

    # ------------------------------------------------------------------ parts
    def parts(self) -> list[Path]:
        """Runs part files, sorted by name."""
        return sorted(self.runs_dir.glob(PART_GLOB)) if self.runs_dir.exists() else []

    def write_part(self, table: pa.Table, keys: list[RunKey],
                   series: pd.DataFrame | None = None) -> Path:
        """Write one chunk's runs (and its series first) atomically; return the part path."""
        name = part_name(keys)
        if series is not None and len(series):
            self.series_dir.mkdir(parents=True, exist_ok=True)
            frame = pa.Table.from_pandas(series, preserve_index=False)
            write_table_atomic(frame, self.series_dir / name)
        target = self.runs_dir / name
        write_table_atomic(table, target)
        return target

    def scan(self) -> pd.DataFrame:
        """Key and status of every stored row, with its part file and the file's mtime."""
        frames = []
        for part in self.parts():
            signature = _signature(part)
            t = _SCANNED.get(signature)
            if t is None:  # each version of a part is read once per process
                t = self.read_part(part, [*KEY, "status"]).to_pandas()
                t["part"] = part.name
                t["mtime"] = signature[1]
                if len(_SCANNED) >= MAX_SCANNED:
                    _SCANNED.clear()
                _SCANNED[signature] = t
            frames.append(t)
        if not frames:
            return pd.DataFrame({"row": [], "replicate": [], "regime": [], "status": [],
                                 "part": [], "mtime": []})
        return pd.concat(frames, ignore_index=True)

    def read_part(self, part: Path, columns: list[str] | None = None) -> pa.Table:
        """Read a part, checking its checksum (each file once per process and version).

        Raises:
            IntegrityError: The part is damaged.
        """
        if _signature(part) in _VERIFIED:
            return pq.read_table(part, columns=columns)
        table = read_verified(part)
        _remember_verified(part)
        return table.select([c for c in columns if c in table.column_names]) if columns \
            else table

    def finished_keys(self, include_failed: bool = True) -> set[RunKey]:
        """Keys of stored runs (``ok`` only when ``include_failed`` is False)."""
        scan = self.scan()
        if not include_failed:
            scan = scan[scan["status"] == STATUS_OK]
        return set(zip(scan["row"].astype(int), scan["replicate"].astype(int),
                       scan["regime"].astype(str), strict=True))

    def counts(self, expected: set[RunKey] | None = None, total: int | None = None) -> Counts:
        """Count stored runs by status (after `compact` there is one row per key)."""
        scan = _best_rows(self.scan())
        if expected is not None:
            keys = zip(scan["row"].astype(int), scan["replicate"].astype(int),
                       scan["regime"].astype(str), strict=True)
            scan = scan[pd.Series([k in expected for k in keys], index=scan.index, dtype=bool)]
            total = len(expected)
        ok = int((scan["status"] == STATUS_OK).sum())
        invalid = int((scan["status"] == STATUS_INVALID).sum())
        failed = len(scan) - ok - invalid
        done = ok + failed + invalid
        pending = max((total if total is not None else done) - done, 0)
        return Counts(ok, failed, pending, invalid)

    # ------------------------------------------------------------------ housekeeping
    def compact(self) -> int:
        """Keep one row per run key, give every part the same columns, combine small parts.

        Returns:
            The number of superseded rows removed.
        """
        scan = self.scan()
        if scan.empty:
            return 0
        if scan.duplicated(list(KEY)).any():
            best = _best_rows(scan)
            keep = set(zip(best["part"], best["row"], best["replicate"], best["regime"],
                           strict=True))
            losing = {p for p, n in scan.groupby("part").size().items()
                      if n != int((best["part"] == p).sum())}
        else:  # one row per key already (the usual case): only columns may differ
            keep, losing = None, set()
        removed = 0
        schema = self.unified_schema()
        for part in self.parts():
            if part.name not in losing and _schema_of(part).remove_metadata().equals(schema):
                continue  # nothing to drop, columns already uniform: leave the file alone
            table = self.read_part(part)
            rows = table.select(list(KEY)).to_pylist()
            mask = [keep is None or (part.name, r["row"], r["replicate"], r["regime"]) in keep
                    for r in rows]
            removed += len(mask) - sum(mask)
            if not any(mask):
                part.unlink()
                continue
            write_table_atomic(_conform(table.filter(pa.array(mask)), schema), part)
        self.coalesce()
        return removed

    def coalesce(self, max_runs: int = COALESCE_RUNS) -> int:
        """Combine small parts into parts of up to ``max_runs`` runs; return files removed.

        Run after `compact` (one row per key, the same columns everywhere). Each group is
        written under the name of its run keys before its old parts are removed, so a
        kill in between leaves identical rows twice, which `read_runs` and the next
        `compact` drop: nothing is lost. A store with daily series is left as it is (a
        run's series part is paired with its runs part by name).
        """
        if self.series_dir.exists():
            return 0
        groups: list[list[Path]] = []
        current: list[Path] = []
        size = 0
        for part in self.parts():
            rows = pq.read_metadata(part).num_rows
            if rows >= max_runs:
                continue
            if current and size + rows > max_runs:
                groups.append(current)
                current, size = [], 0
            current.append(part)
            size += rows
        groups.append(current)
        removed = 0
        for group in (g for g in groups if len(g) > 1):
            tables = [self.read_part(p).replace_schema_metadata(None) for p in group]
            table = pa.concat_tables(tables)
            keys = zip(table["row"].to_pylist(), table["replicate"].to_pylist(),
                       table["regime"].to_pylist(), strict=True)
            target = self.runs_dir / part_name(keys)
            write_table_atomic(table, target)
            for part in group:
                if part != target:
                    part.unlink()
                    removed += 1
        return removed

    def unified_schema(self) -> pa.Schema:
        """The union of the parts' columns, in first-seen order."""
        fields: dict[str, pa.Field] = {}
        for part in self.parts():
            for f in _schema_of(part):
                if f.name not in fields or pa.types.is_null(fields[f.name].type):
                    fields[f.name] = f
        names = list(fields)
        tail = [n for n in ("status", "error", "wall_s", "session", "traceback")
                if n in fields]
        order = [n for n in names if n not in tail] + tail
        return pa.schema([fields[n].remove_metadata() for n in order])


#: Parts already checked by this process: (path, mtime_ns, size).
_VERIFIED: set[tuple[str, int, int]] = set()


def _signature(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path), stat.st_mtime_ns, stat.st_size


#: Key and status columns of parts already scanned by this process, by signature (a part
#: is rewritten by `ResultStore.compact` only through a new file: a new signature).
_SCANNED: dict[tuple[str, int, int], pd.DataFrame] = {}
#: Parts whose scans are kept at most (then the cache starts over).
MAX_SCANNED = 4096
_SCHEMAS: dict[tuple[str, int, int], pa.Schema] = {}


def _schema_of(path: Path) -> pa.Schema:
    """A part's schema (read once per process and version of the file)."""
    signature = _signature(path)
    schema = _SCHEMAS.get(signature)
    if schema is None:
        if len(_SCHEMAS) >= MAX_SCANNED:
            _SCHEMAS.clear()
        schema = _SCHEMAS[signature] = pq.read_schema(path)
    return schema


def _remember_verified(path: Path) -> None:
    """Note that ``path``, as it is now, was checked (written and read back, or read)."""
    _VERIFIED.add(_signature(path))


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Reorder and extend a table to ``schema`` (missing columns become nulls)."""
    columns = []
    for f in schema:
        if f.name in table.column_names:
            columns.append(table.column(f.name).cast(f.type))
        else:
            columns.append(pa.nulls(len(table), type=f.type))
    return pa.Table.from_arrays(columns, schema=schema)


def _best_rows(scan: pd.DataFrame) -> pd.DataFrame:
    """One row per key: ``ok`` beats ``failed``; then the newest part; then the name."""
    if scan.empty:
        return scan
    ranked = scan.assign(_ok=(scan["status"] == STATUS_OK).astype(int))
    ranked = ranked.sort_values(["_ok", "mtime", "part"], ascending=[False, False, False],
                                kind="stable")
    return ranked.drop_duplicates(list(KEY), keep="first").drop(columns="_ok")


def _same_frame(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    if list(a.columns) != list(b.columns) or a.shape != b.shape:
        return False
    try:
        pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True),
                                      check_dtype=False, check_exact=True)
    except AssertionError:
        return False
    return True


def read_parts(paths: Iterable[Path]) -> pd.DataFrame:
    """Concatenate part files (columns are unioned)."""
    frames = [read_verified(p).to_pandas() for p in paths]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=[*KEY, "seed", "status", "error", "wall_s"])
    return pd.concat(frames, ignore_index=True)


def read_runs(directory: str | Path, *, failed: bool = True) -> pd.DataFrame:
    """The runs table of a results directory, one row per run, sorted by run key.

    This reads only the files of the documented layout; ``analysis`` can do the same
    with ``pandas.read_parquet(DIR / "runs")``.

    Args:
        directory: ``DIR/<name>`` (the directory holding manifest.json and runs/).
        failed: Keep failed runs (their outputs are NaN).

    Raises:
        UserError: The directory holds no runs.
    """
    store = ResultStore(directory)
    parts = store.parts()
    if not parts:
        hint = ""
        if (store.root / SHARDS).is_dir():
            hint = "; it holds unmerged shards: run 'relsim merge' first"
        raise UserError(f"no runs found in {store.runs_dir}{hint}")
    frame = read_parts(parts)
    frame["_ok"] = (frame["status"] == STATUS_OK).astype(int)
    frame = frame.sort_values("_ok", ascending=False, kind="stable")
    frame = frame.drop_duplicates(list(KEY), keep="first").drop(columns="_ok")
    if not failed:
        frame = frame[frame["status"] == STATUS_OK]
    return frame.sort_values(list(KEY), kind="stable").reset_index(drop=True)
