"""manifest.json: what was run, how, by what code, on which machine, and how far it got.

Each sweep session (one ``relsim sweep`` invocation) is recorded under ``sessions`` with
its id, its executor, its counts and its provenance: the code fingerprint of the swept
function's package (`code_fingerprint`), the package versions, the git state and the
host. Every stored run carries the id of the session that computed it (column
``session``), so a store mixing code versions can always be told apart.

The manifest lets ``analysis`` rebuild SALib calls without importing ``experiments``:
it holds the SALib problem, the design name and size, ``calc_second_order`` (Sobol),
``num_levels`` (Morris), the factors, axes, regimes, comparisons (``compare``: name ->
[A, B]), contrasts (``contrast``: name -> [C1, C2]) and outputs.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import importlib
import importlib.metadata
import os
import platform
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from relsim.experiments.spec import Experiment

MANIFEST_VERSION = 1
PACKAGES = ("relsim", "numpy", "pandas", "pyarrow", "SALib", "mesa", "scipy", "dask",
            "distributed", "dask-jobqueue", "tqdm")
GIT_TIMEOUT_S = 5.0
_REPO_DIR = Path(__file__).resolve().parent.parent


def now() -> str:
    """The current UTC time in ISO 8601."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages results depend on (None if absent)."""
    return dict(_package_versions())


@functools.cache
def _package_versions() -> dict[str, str | None]:
    # read once per process: reading installed metadata costs tens of milliseconds, and a
    # sweep records the versions twice (session and manifest)
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(_REPO_DIR), *args], capture_output=True,
                              text=True, timeout=GIT_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_state(directory: Path | None = None) -> dict[str, Any]:
    """The git commit of ``directory`` (default: relsim's source) and whether it is dirty.

    ``dirty`` is True when tracked files under the repository were modified; both are
    None outside a git checkout (e.g. an installed wheel).
    """
    where = str(directory or _REPO_DIR)
    commit = _git("-C", where, "rev-parse", "HEAD")
    dirty = _git("-C", where, "status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(dirty) if dirty is not None else None}


def _package_root(module_name: str) -> tuple[str, Path]:
    """The outermost regular package holding ``module_name`` (or the module itself)."""
    module = importlib.import_module(module_name)
    name = module_name
    parts = module_name.split(".")
    for i in range(len(parts) - 1, 0, -1):
        parent = importlib.import_module(".".join(parts[:i]))
        if getattr(parent, "__file__", None) is None:  # a namespace package: stop
            break
        name, module = parent.__name__, parent
    file = Path(getattr(module, "__file__", "") or "")
    if file.name == "__init__.py":
        return name, file.parent
    return name, file


def code_fingerprint(model_ref: str) -> dict[str, Any]:
    """Fingerprint of the code a sweep runs: a hash of the swept function's package.

    The hash (SHA-256) covers the relative path and content of every ``.py`` file of the
    outermost regular package holding the function's module (``relsim.model`` for
    relsim's model; the module file itself for a top-level module), so any edit of the
    model's code changes it, while edits elsewhere (analysis, docs) do not.

    Returns:
        ``{"sha256", "package", "path", "files", "git": {"commit", "dirty"}}``.
    """
    package, path = _package_root(model_ref.split(":")[0])
    files = sorted(path.rglob("*.py")) if path.is_dir() else ([path] if path.is_file() else [])
    digest = hashlib.sha256()
    for f in files:
        rel = f.relative_to(path).as_posix() if path.is_dir() else f.name
        if "__pycache__" in rel:
            continue
        data = f.read_bytes()
        digest.update(f"{rel}\0{len(data)}\0".encode())
        digest.update(data)
    directory = path if path.is_dir() else path.parent
    return {"sha256": digest.hexdigest()[:16], "package": package, "path": str(path),
            "files": len(files), "git": git_state(directory)}


def new_session_id() -> str:
    """A unique, sortable id of a sweep session: UTC time, host, process, random suffix."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{socket.gethostname()[:24]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def session_provenance(model_ref: str) -> dict[str, Any]:
    """What a session ran with: code fingerprint, package versions, git state, host."""
    return {"code": code_fingerprint(model_ref), "versions": package_versions(),
            "git": git_state(), **host_info()}


def last_code_session(manifest: dict[str, Any] | None) -> dict[str, Any] | None:
    """The newest session that computed runs and recorded a code fingerprint, if any.

    Sessions of merged shards (``merged_from``) count too, so a merged store resumed
    directly is checked against the code that computed its shards.
    """
    manifest = manifest or {}
    sessions = list(manifest.get("sessions", []))
    for shard in manifest.get("merged_from") or []:
        sessions += shard.get("sessions", [])
    found = [s for s in sessions if s.get("runs", 0) > 0
             and ((s.get("provenance") or {}).get("code") or {}).get("sha256")]
    return max(found, key=lambda s: str(s.get("finished") or s.get("started") or ""),
               default=None)


def last_code_fingerprint(manifest: dict[str, Any] | None) -> str | None:
    """The code fingerprint of the newest session that computed runs, if recorded."""
    session = last_code_session(manifest)
    return str(session["provenance"]["code"]["sha256"]) if session else None


def host_info() -> dict[str, Any]:
    """The machine that ran the sweep."""
    return {"host": socket.gethostname(), "platform": platform.platform(),
            "cpus": os.cpu_count(), "command": sys.argv}


def build_manifest(exp: Experiment, design_facts: dict[str, Any], *, output_columns: list[str],
                   param_columns: dict[str, str], runs_total: int, shard: tuple[int, int] | None,
                   previous: dict[str, Any] | None) -> dict[str, Any]:
    """A new manifest for an experiment (keeping the history of a previous one).

    Args:
        exp: The experiment.
        design_facts: From `experiments.design.design_summary`.
        output_columns: Output columns stored so far.
        param_columns: Parameter name -> its column in the runs table.
        runs_total: Runs in this store (the shard's share for a shard).
        shard: ``(index, count)`` for a shard, else None.
        previous: The manifest already in the directory, if any.
    """
    previous = previous or {}
    return {
        "relsim_manifest": MANIFEST_VERSION,
        "name": exp.name,
        "status": "running",
        "identity": exp.identity(),
        "model": exp.model,
        **design_facts,
        "replicates": exp.replicates,
        "seed": exp.seed,
        "factors": {f.name: ({"values": list(f.values)} if f.values is not None
                             else [f.low, f.high]) for f in exp.factors},
        "integer_factors": [f.name for f in exp.factors if f.integer],
        "levels": exp.levels if exp.design == "morris" else None,
        "regimes": {k: dict(v) for k, v in exp.regimes.items()},
        "compare": {k: list(v) for k, v in exp.comparisons.items()} or None,
        "contrast": {k: list(v) for k, v in exp.contrasts.items()} or None,
        "axes": {k: a.to_dict() for k, a in exp.axes.items()} or None,
        "outputs": list(exp.outputs),
        "output_columns": list(output_columns),
        "param_columns": list(param_columns.values()),
        # parameters stored under another column name (their name is also an output's)
        "param_column_names": {n: c for n, c in param_columns.items() if n != c},
        "series": exp.series,
        "runs_total": runs_total,
        "counts": previous.get("counts", {"ok": 0, "failed": 0, "invalid": 0,
                                          "pending": runs_total, "total": runs_total}),
        "shard": {"index": shard[0], "count": shard[1]} if shard else None,
        "experiment": {"path": exp.path, "as_given": exp.source, "resolved": exp.to_dict()},
        "defaults": exp.defaults,
        "seed_derivation": "numpy.random.SeedSequence(entropy=seed, spawn_key=(row, "
                           "replicate)).generate_state(1, uint64)[0] >> 1",
        "parameter_precedence": "[params] < factor values < regime overrides",
        "provenance": {"versions": package_versions(), "git": git_state(), **host_info()},
        "times": {"created": previous.get("times", {}).get("created", now()),
                  "started": now(), "finished": None},
        "sessions": previous.get("sessions", []),
        "code_changes": previous.get("code_changes", []),
    }
