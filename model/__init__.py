"""relsim's market model: customers, salespeople, a planner and a plant (Mesa).

Public API (docs/ODD.md describes the model):

- `simulate(params, seed, *, series=False)`: one run, returns the run KPIs.
- `Params`: the validated parameter set; `REGIMES`: named parameter overrides.
- `SalesModel`: the Mesa model for interactive and Mesa-native use.

The parameter definitions (`Params`, `REGIMES`, `PARAMETER_SPECS`, ...) import nothing
heavy; the model itself (`SalesModel`, `simulate`, `KPI_NAMES`, `UNDEFINED_OUTPUTS`,
`SERIES_COLUMNS`) is imported on first use, so that a command that only needs parameters
(``relsim --help``, validating an experiment file) does not pay for importing Mesa, numpy
and pandas.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from relsim.model.params import (
    PARAMETER_SPECS,
    PLANT_ONLY,
    REGIMES,
    SPECS,
    Params,
    ParamSpec,
    sa_problem,
)

if TYPE_CHECKING:  # pragma: no cover
    from relsim.model.kpis import KPI_NAMES, UNDEFINED_OUTPUTS
    from relsim.model.model import SERIES_COLUMNS, SalesModel, simulate

#: Names imported on first use, and the module that defines each.
_LAZY = {
    "KPI_NAMES": "relsim.model.kpis",
    "UNDEFINED_OUTPUTS": "relsim.model.kpis",
    "SERIES_COLUMNS": "relsim.model.model",
    "SalesModel": "relsim.model.model",
    "simulate": "relsim.model.model",
}

__all__ = [
    "KPI_NAMES",
    "PARAMETER_SPECS",
    "PLANT_ONLY",
    "REGIMES",
    "SERIES_COLUMNS",
    "UNDEFINED_OUTPUTS",
    "SPECS",
    "ParamSpec",
    "Params",
    "SalesModel",
    "simulate",
    "sa_problem",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'relsim.model' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
