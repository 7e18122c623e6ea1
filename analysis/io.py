"""Reading a stored experiment: manifest, design, runs and (optional) daily series.

The layout is the one `relsim sweep` writes (README.md, "Experiments"; docs/EXPERIMENTS.md)::

    <experiment dir>/manifest.json
    <experiment dir>/design.parquet          # column ``row`` + factor columns
    <experiment dir>/runs/*.parquet          # one row per run
    <experiment dir>/series/*.parquet        # optional daily series

This module only reads; it never runs a simulation.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from relsim.analysis.integrity import read_verified

MANIFEST = "manifest.json"
DESIGN = "design.parquet"
RUNS_DIR = "runs"
SERIES_DIR = "series"
ANALYSIS_DIR = "analysis"

#: Run-table columns that are bookkeeping, never outputs or parameters.
RUN_META_COLUMNS = ("row", "replicate", "regime", "seed", "status", "error", "wall_s",
                    "session", "traceback")

#: Key columns of the daily series table (everything else is a series variable).
SERIES_KEY_COLUMNS = ("row", "replicate", "regime", "seed", "day")

STATUS_OK = "ok"
#: What a run not stored yet is called in completeness counts.
STATUS_PENDING = "pending"


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
        """The version-1 compared pair (A, B) for ``delta = A - B``, or None.

        With several comparisons: the one named ``delta``, else the first.
        """
        return compare_pair(self.manifest)

    @property
    def comparisons(self) -> dict[str, tuple[str, str]]:
        """Every named comparison ``name -> (A, B)``, in file order."""
        return compare_pairs(self.manifest)

    @property
    def contrasts(self) -> dict[str, tuple[str, str]]:
        """Every named contrast ``name -> (C1, C2)`` (differences of comparisons)."""
        return contrast_pairs(self.manifest)

    @property
    def axes(self) -> dict[str, dict[str, list[float]]]:
        """Every 1-D axis: name -> parameter -> [value at 0, value at 1]."""
        axes = _section(self.manifest, "axes")
        return dict(axes) if isinstance(axes, dict) else {}

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


def _pairs(raw: Any, what: str, members: str) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for name, pair in raw.items():
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise ValueError(
                f"manifest [{what}] '{name}' must name exactly two {members}, got {pair!r}"
            )
        out[str(name)] = (str(pair[0]), str(pair[1]))
    return out


def compare_pairs(manifest: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Return every ``[compare]`` comparison ``name -> (A, B)`` of the manifest.

    A version-1 manifest holds one, ``{"delta": [A, B]}``; a bare ``[A, B]`` (as some
    resolved records hold it) is read as the comparison ``delta``.
    """
    compare = _section(manifest, "compare")
    if isinstance(compare, list | tuple):
        compare = {"delta": list(compare)} if compare else {}
    if not isinstance(compare, dict):
        return {}
    return _pairs({k: v for k, v in compare.items() if v}, "compare", "regimes")


def contrast_pairs(manifest: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Return every ``[contrast]`` ``name -> (C1, C2)`` of the manifest (may be empty)."""
    contrast = _section(manifest, "contrast")
    if not isinstance(contrast, dict):
        return {}
    return _pairs(contrast, "contrast", "comparisons")


def compare_pair(manifest: dict[str, Any]) -> tuple[str, str] | None:
    """Return the version-1 pair: the comparison ``delta``, else the first one, or None."""
    pairs = compare_pairs(manifest)
    if not pairs:
        return None
    return pairs.get("delta", next(iter(pairs.values())))


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
    frames = [read_verified(p).to_pandas() for p in parts]  # checksums checked
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
    design = read_verified(design_path).to_pandas() if design_path.is_file() else pd.DataFrame()
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


@dataclass(frozen=True)
class Completeness:
    """How much of an experiment's design is stored, and in what state.

    The expected runs are every (design row, replicate, regime) of the experiment; a run
    is ``pending`` when the store holds no row for it (never run, its shard not run or
    not merged), and otherwise counted under its stored status (``ok``, ``failed``,
    ``invalid`` for non-finite outputs, or any other status, by name).

    Attributes:
        expected: Runs the design asks for.
        by_status: Expected runs per status, ``pending`` included (zero counts omitted,
            except ``ok``).
        rows: Design rows.
        rows_without_ok: Design rows with no ``ok`` run at all (pending or failed).
    """

    expected: int
    by_status: dict[str, int] = field(default_factory=dict)
    rows: int = 0
    rows_without_ok: int = 0

    @property
    def ok(self) -> int:
        """Runs stored as ``ok``."""
        return int(self.by_status.get(STATUS_OK, 0))

    @property
    def pending(self) -> int:
        """Runs not stored."""
        return int(self.by_status.get(STATUS_PENDING, 0))

    @property
    def complete(self) -> bool:
        """Whether every expected run is stored as ``ok``."""
        return self.ok >= self.expected

    def breakdown(self) -> str:
        """The non-ok counts by status, e.g. ``30 pending, 8 failed, 2 invalid``."""
        parts = [f"{n} {status}" for status, n in self.by_status.items()
                 if status != STATUS_OK and n]
        return ", ".join(parts)

    def note(self) -> str:
        """A one-line mark for figures and tables; empty when complete.

        Example: ``incomplete: 80 of 120 runs (30 pending, 8 failed, 2 invalid)``.
        """
        if self.complete:
            return ""
        return f"incomplete: {self.ok} of {self.expected} runs ({self.breakdown()})"

    def summary_columns(self) -> dict[str, int | bool]:
        """Columns of ``summary.csv``: ``runs_expected``, ``runs_<status>``, ``complete``."""
        cols: dict[str, int | bool] = {"runs_expected": self.expected,
                                       "runs_ok": self.ok, "runs_pending": self.pending,
                                       "runs_failed": int(self.by_status.get("failed", 0)),
                                       "runs_invalid": int(self.by_status.get("invalid", 0))}
        for status, n in self.by_status.items():
            cols.setdefault(f"runs_{status}", int(n))
        cols["rows_without_ok"] = self.rows_without_ok
        cols["complete"] = self.complete
        return cols


def expected_regimes(results: Results) -> list[str]:
    """Regimes every (row, replicate) runs under (``[""]`` when the experiment has none)."""
    regimes = _section(results.manifest, "regimes")
    if isinstance(regimes, dict) and regimes:
        return [str(r) for r in regimes]
    if isinstance(regimes, list) and regimes:
        return [str(r) for r in regimes]
    stored = sorted(results.runs["regime"].unique())
    return stored or [""]


def completeness(results: Results) -> Completeness:
    """Count the experiment's expected runs by status (pending = not stored).

    The expected runs are design rows x replicates x regimes, from the manifest and the
    design (not from the stored runs, so runs missing because a shard was never run or
    merged count as pending).
    """
    n_rows = design_rows(results)
    replicates = _section(results.manifest, "replicates")
    runs = results.runs
    if not replicates:
        replicates = int(runs["replicate"].max()) + 1 if len(runs) else 1
    regimes = expected_regimes(results)
    expected = n_rows * int(replicates) * len(regimes)
    inside = runs[(runs["row"] >= 0) & (runs["row"] < n_rows)
                  & (runs["replicate"] >= 0) & (runs["replicate"] < int(replicates))
                  & runs["regime"].isin(regimes)]
    counts = Counter(inside["status"].astype(str).replace("", "unknown"))
    stored = int(sum(counts.values()))
    by_status = {STATUS_OK: int(counts.pop(STATUS_OK, 0))}
    by_status[STATUS_PENDING] = max(expected - stored, 0)
    for status, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        by_status[status] = int(n)
    ok_rows = set(inside.loc[inside["status"] == STATUS_OK, "row"].astype(int))
    return Completeness(expected, by_status, n_rows, n_rows - len(ok_rows))
