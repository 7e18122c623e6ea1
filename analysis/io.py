"""Reading a stored experiment: manifest, design, runs and (optional) daily series.

The layout is the one `relsim sweep` writes (INTERFACE.md, "Results directory")::

    <experiment dir>/manifest.json
    <experiment dir>/design.parquet          # column ``row`` + factor columns
    <experiment dir>/runs/*.parquet          # one row per run
    <experiment dir>/series/*.parquet        # optional daily series

This module only reads; it never runs a simulation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

MANIFEST = "manifest.json"
DESIGN = "design.parquet"
RUNS_DIR = "runs"
SERIES_DIR = "series"
ANALYSIS_DIR = "analysis"

#: Run-table columns that are bookkeeping, never outputs or parameters.
RUN_META_COLUMNS = ("row", "replicate", "regime", "seed", "status", "error", "wall_s")

#: Key columns of the daily series table (everything else is a series variable).
SERIES_KEY_COLUMNS = ("row", "replicate", "regime", "seed", "day")

STATUS_OK = "ok"


@dataclass(frozen=True)
class Results:
    """One stored experiment.

    Attributes:
        path: The experiment directory (the one holding ``manifest.json``).
        manifest: The parsed manifest.
        design: The design matrix (column ``row`` plus factors), or an empty frame.
        runs: Every run (all statuses), sorted by row, replicate and regime.
        series: The daily series of the runs that stored them, or None.
    """

    path: Path
    manifest: dict[str, Any]
    design: pd.DataFrame
    runs: pd.DataFrame
    series: pd.DataFrame | None

    @property
    def name(self) -> str:
        """The experiment name (manifest ``name``, else the directory name)."""
        return str(self.manifest.get("name") or self.path.name)

    @property
    def design_kind(self) -> str:
        """The design: sobol, morris, lhs, grid or replicate."""
        return str(self.manifest.get("design", "")).lower()

    @property
    def factors(self) -> list[str]:
        """Names of the varied factors, in the SALib problem's order."""
        return factor_names(self.manifest, self.design)

    @property
    def outputs(self) -> list[str]:
        """The outputs to analyse: the manifest's ``outputs`` present in the runs."""
        return requested_outputs(self.manifest, self.runs)

    @property
    def compare(self) -> tuple[str, str] | None:
        """The compared regime pair (A, B) for ``delta = A - B``, or None."""
        return compare_pair(self.manifest)

    @property
    def analysis_dir(self) -> Path:
        """Where `relsim analyze` writes this experiment's CSV files."""
        return self.path / ANALYSIS_DIR


def _section(manifest: dict[str, Any], key: str) -> Any:
    """Return a manifest key at top level or under ``experiment`` / ``resolved``."""
    if key in manifest and manifest[key] is not None:
        return manifest[key]
    experiment = manifest.get("experiment")
    nests = [manifest.get("resolved"), experiment]
    if isinstance(experiment, dict):
        nests.append(experiment.get("resolved"))
    for inner in nests:
        if isinstance(inner, dict) and inner.get(key) is not None:
            return inner[key]
    return None


def manifest_param(manifest: dict[str, Any], name: str) -> Any:
    """Return a model parameter of the experiment: its ``[params]``, else the defaults."""
    params = _section(manifest, "params") or {}
    if name in params:
        return params[name]
    defaults = manifest.get("defaults") or {}
    return defaults.get(name)


def factor_names(manifest: dict[str, Any], design: pd.DataFrame | None = None) -> list[str]:
    """Return the varied factors: problem names, else ``factors``, else design columns."""
    problem = _section(manifest, "problem")
    if isinstance(problem, dict) and problem.get("names"):
        return [str(n) for n in problem["names"]]
    factors = _section(manifest, "factors")
    if isinstance(factors, dict) and factors:
        return [str(n) for n in factors]
    if design is not None and not design.empty:
        return [str(c) for c in design.columns if c != "row"]
    return []


def compare_pair(manifest: dict[str, Any]) -> tuple[str, str] | None:
    """Return the ``[compare] delta = [A, B]`` pair of the manifest, or None."""
    compare = _section(manifest, "compare")
    if not isinstance(compare, dict):
        return None
    pair = compare.get("delta")
    if not pair:
        return None
    if len(pair) != 2:
        raise ValueError(
            f"manifest [compare] delta must name exactly two regimes, got {pair!r}"
        )
    return str(pair[0]), str(pair[1])


def requested_outputs(manifest: dict[str, Any], runs: pd.DataFrame) -> list[str]:
    """Return the outputs to analyse.

    The manifest's ``outputs`` that are numeric columns of the runs; when the manifest names
    none, every numeric run column that is neither bookkeeping nor a parameter.
    """
    wanted = _section(manifest, "outputs")
    numeric = set(runs.select_dtypes("number").columns)
    if wanted:
        missing = [o for o in wanted if o not in runs.columns]
        if missing and len(missing) == len(wanted):
            raise ValueError(
                f"none of the manifest's outputs {list(wanted)} is a column of the stored "
                f"runs (columns: {', '.join(map(str, runs.columns))})"
            )
        return [o for o in wanted if o in numeric]
    stored = manifest.get("param_columns")
    if stored:  # the runner's own list (a parameter named like an output is param_<name>)
        params = set(stored)
    else:
        params = set(_section(manifest, "params") or {}) | set(factor_names(manifest))
    return [
        str(c) for c in runs.columns
        if c in numeric and c not in RUN_META_COLUMNS and c not in params
    ]


def find_experiments(path: str | Path) -> list[Path]:
    """Return the experiment directories at ``path``.

    Args:
        path: Either an experiment directory (it contains ``manifest.json``) or a parent
            directory whose immediate subdirectories are experiment directories.

    Returns:
        The experiment directories, sorted by name.

    Raises:
        ValueError: If ``path`` does not exist or holds no experiment.
    """
    root = Path(path)
    if not root.exists():
        raise ValueError(f"results directory '{root}' does not exist")
    if not root.is_dir():
        raise ValueError(f"'{root}' is not a directory; give a results directory")
    if (root / MANIFEST).is_file():
        return [root]
    found = sorted(p for p in root.iterdir() if p.is_dir() and (p / MANIFEST).is_file())
    if not found:
        raise ValueError(
            f"'{root}' holds no stored experiment: expected '{MANIFEST}' in it or in one of "
            "its subdirectories (run `relsim sweep EXP.toml` first)"
        )
    return found


def resolve_experiment_dir(path: str | Path) -> Path:
    """Return the one experiment directory at ``path`` (itself, or its only subdir).

    Raises:
        ValueError: If there is no experiment, or several (the message lists them).
    """
    found = find_experiments(path)
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise ValueError(
            f"'{path}' holds {len(found)} experiments ({names}); give one experiment directory"
        )
    return found[0]


def _read_parts(folder: Path) -> pd.DataFrame | None:
    parts = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    if not parts:
        return None
    frames = [pd.read_parquet(p) for p in parts]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return None
    return pd.concat(frames, ignore_index=True)


def _normalise_runs(runs: pd.DataFrame) -> pd.DataFrame:
    runs = runs.copy()
    if "regime" not in runs.columns:
        runs["regime"] = ""
    runs["regime"] = runs["regime"].fillna("").astype(str)
    if "status" not in runs.columns:
        runs["status"] = STATUS_OK
    runs["status"] = runs["status"].fillna("").astype(str)
    for key in ("row", "replicate"):
        if key not in runs.columns:
            raise ValueError(f"stored runs lack the required column '{key}'")
        runs[key] = runs[key].astype(int)
    # A resumed sweep may hold a run twice (a failure, then a success): keep the last.
    runs = runs.drop_duplicates(["row", "replicate", "regime"], keep="last")
    return runs.sort_values(["row", "replicate", "regime"]).reset_index(drop=True)


def load_results(path: str | Path, *, series: bool = True) -> Results:
    """Read one stored experiment.

    Args:
        path: The experiment directory, or a parent holding exactly one.
        series: Whether to read the daily series as well (they can be large).

    Returns:
        The experiment's `Results`.

    Raises:
        ValueError: If the directory is not a readable experiment.
    """
    exp = resolve_experiment_dir(path)
    try:
        manifest = json.loads((exp / MANIFEST).read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"'{exp / MANIFEST}' is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict):
        raise ValueError(f"'{exp / MANIFEST}' must hold a JSON object")
    design_path = exp / DESIGN
    design = pd.read_parquet(design_path) if design_path.is_file() else pd.DataFrame()
    if not design.empty:
        design = design.sort_values("row").reset_index(drop=True)
    runs = _read_parts(exp / RUNS_DIR)
    if runs is None:
        raise ValueError(
            f"experiment '{exp}' has no stored runs in '{exp / RUNS_DIR}' "
            "(the sweep has not run yet, or the shards have not been merged)"
        )
    table = _read_parts(exp / SERIES_DIR) if series else None
    if table is not None and "regime" in table.columns:
        table["regime"] = table["regime"].fillna("").astype(str)
    return Results(exp, manifest, design, _normalise_runs(runs), table)


def ok_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Return the runs whose status is ``ok``."""
    return runs[runs["status"] == STATUS_OK]


def design_rows(results: Results) -> int:
    """Count the design rows (from the design, else the manifest, else the runs)."""
    if not results.design.empty:
        return int(len(results.design))
    count = _section(results.manifest, "design_rows")
    if count:
        return int(count)
    return int(results.runs["row"].max()) + 1
