"""relsim's market model: customers, salespeople, a planner and a plant (Mesa).

Public API (docs/ODD.md describes the model):

- `simulate(params, seed, *, series=False)`: one run, returns the run KPIs.
- `Params`: the validated parameter set; `REGIMES`: named parameter overrides.
- `SalesModel`: the Mesa model for interactive and Mesa-native use.
"""

from relsim.model.kpis import KPI_NAMES, UNDEFINED_OUTPUTS
from relsim.model.model import SERIES_COLUMNS, SalesModel, simulate
from relsim.model.params import (
    PARAMETER_SPECS,
    PLANT_ONLY,
    REGIMES,
    SPECS,
    Params,
    ParamSpec,
    sa_problem,
)

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
