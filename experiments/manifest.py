"""manifest.json: what was run, how, by what code, on which machine, and how far it got.

The manifest lets ``analysis`` rebuild SALib calls without importing ``experiments``:
it holds the SALib problem, the design name and size, ``calc_second_order`` (Sobol),
``num_levels`` (Morris), the factors, axes, regimes, comparisons (``compare``: name ->
[A, B]), contrasts (``contrast``: name -> [C1, C2]) and outputs.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import platform
import socket
import subprocess
import sys
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


def git_state() -> dict[str, Any]:
    """The relsim source's git commit and whether tracked files were modified."""
    commit = _git("rev-parse", "HEAD")
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(dirty) if dirty is not None else None}


def host_info() -> dict[str, Any]:
    """The machine that ran the sweep."""
    import os

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
        "counts": previous.get("counts", {"ok": 0, "failed": 0, "pending": runs_total,
                                          "total": runs_total}),
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
    }
