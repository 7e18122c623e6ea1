"""A stand-in model whose module exposes the model's ``Params``.

The experiment validator then checks parameter names and ranges against ``Params``
exactly as for ``relsim.model:simulate``, without running the (slower) real model.
"""

from __future__ import annotations

from relsim.model.params import Params  # noqa: F401 - the validator looks for module.Params


def simulate(params: dict, seed: int) -> dict[str, float]:
    """Echo two parameters as outputs."""
    return {"y": float(params.get("utilization", 0.85)),
            "d": float(params.get("discipline", -1.0))}
