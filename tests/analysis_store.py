"""Write small synthetic result stores in the layout of INTERFACE.md ("Results directory").

Used by the analysis, tipping and report tests until (and beside) the real sweep runner:
``DIR/<name>/manifest.json``, ``design.parquet``, ``runs/part-*.parquet`` and optionally
``series/part-*.parquet``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd


def write_store(
    root: Path, name: str, *, design: str, factors: dict[str, list[float]],
    design_matrix: pd.DataFrame, runs: pd.DataFrame, outputs: list[str],
    series: pd.DataFrame | None = None, compare: list[str] | None = None,
    extra: dict | None = None, parts: int = 2,
) -> Path:
    """Write one experiment; return its directory."""
    exp = root / name
    (exp / "runs").mkdir(parents=True)
    names = list(factors)
    manifest = {
        "name": name, "design": design, "seed": 7, "outputs": outputs,
        "replicates": int(runs["replicate"].max()) + 1, "factors": factors,
        "regimes": {r: {} for r in sorted(runs["regime"].unique()) if r},
        "problem": {"num_vars": len(names), "names": names,
                    "bounds": [list(map(float, factors[n])) for n in names]},
        "design_rows": len(design_matrix),
        "counts": {"ok": int((runs["status"] == "ok").sum()),
                   "failed": int((runs["status"] != "ok").sum()), "pending": 0},
    }
    if compare:
        manifest["compare"] = {"delta": compare}
    manifest.update(extra or {})
    (exp / "manifest.json").write_text(json.dumps(manifest, indent=2))
    design_matrix.to_parquet(exp / "design.parquet", index=False)
    for i, chunk in enumerate(np.array_split(np.arange(len(runs)), parts)):
        runs.iloc[chunk].to_parquet(exp / "runs" / f"part-{i:04d}.parquet", index=False)
    if series is not None:
        (exp / "series").mkdir()
        series.to_parquet(exp / "series" / "part-0000.parquet", index=False)
    return exp


def runs_from_function(
    design_matrix: pd.DataFrame,
    fn: Callable[[pd.DataFrame, str, np.random.Generator], dict[str, np.ndarray]],
    *, replicates: int, regimes: list[str], seed: int = 1,
) -> pd.DataFrame:
    """Evaluate a vectorised ``fn(points, regime, rng)`` for every replicate and regime.

    ``fn`` gets the whole design and returns one array per output. The generator depends
    only on (seed, replicate), the same for every regime: common random numbers.
    """
    frames = []
    for r in range(replicates):
        for regime in regimes:
            rng = np.random.default_rng([seed, r])
            out = fn(design_matrix, regime, rng)
            frame = design_matrix.copy()
            frame.insert(1, "replicate", r)
            frame.insert(2, "regime", regime)
            frame.insert(3, "seed", seed * 1_000_003 + frame["row"] * 1009 + r)
            for key, values in out.items():
                frame[key] = np.broadcast_to(np.asarray(values, float), len(frame))
            frame["status"] = "ok"
            frame["error"] = ""
            frame["wall_s"] = 0.01
            frames.append(frame)
    return pd.concat(frames, ignore_index=True)
