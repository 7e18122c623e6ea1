"""Experiments: experiment files, the runner, executors, the results store and the CLI.

Depends on `model` (the default simulated function) and `analysis` (for `relsim analyze`
and `relsim report`); neither of those imports this package.

Python API (imported lazily, so ``import experiments`` stays cheap for worker processes):

- `load_experiment(path) -> Experiment`: read and validate an experiment file.
- `run_experiment(path_or_experiment, out="data/results", workers=None,
  executor="local", ...) -> Path`: run or resume a sweep; returns ``out/<name>``.
- `sweep(...) -> SweepSummary`: the same, returning counts and timings.
- `read_runs(directory) -> DataFrame`: the runs table, one row per run.
- `merge_shards(directory)`: combine ``relsim sweep --shard I/N`` outputs.
"""

from __future__ import annotations

import importlib
from typing import Any

_API = {
    "load_experiment": "relsim.experiments.spec",
    "parse_experiment": "relsim.experiments.spec",
    "Experiment": "relsim.experiments.spec",
    "run_experiment": "relsim.experiments.runner",
    "sweep": "relsim.experiments.runner",
    "SweepSummary": "relsim.experiments.runner",
    "merge_shards": "relsim.experiments.runner",
    "read_runs": "relsim.experiments.store",
    "build_design": "relsim.experiments.design",
}

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'experiments' has no attribute {name!r}")
