"""Design matrices: SALib samplers (and a full-factorial grid) for an experiment.

Sampled designs use SALib's own samplers, each seeded with the experiment's master seed,
so the design is reproducible: ``sobol`` (`SALib.sample.sobol`, not the deprecated
``saltelli`` module), ``morris`` (`SALib.sample.morris`) and ``lhs``
(`SALib.sample.latin`). ``grid`` is the full factorial of the factors' values (first
factor slowest) and ``replicate`` is a single row with no factors.

Factors that are whole numbers in the model's ``Params`` are rounded after sampling.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd
from relsim.experiments.spec import Experiment


def salib_problem(exp: Experiment) -> dict[str, Any] | None:
    """The SALib problem dict of the experiment's factors (None without numeric factors)."""
    if not exp.factors or any(f.low != f.low for f in exp.factors):  # NaN: non-numeric grid
        return None
    return {
        "num_vars": len(exp.factors),
        "names": exp.factor_names,
        "bounds": [[float(f.low), float(f.high)] for f in exp.factors],
    }


def _sample(exp: Experiment, problem: dict[str, Any]) -> np.ndarray:
    if exp.design == "sobol":
        from SALib.sample import sobol

        return sobol.sample(problem, exp.samples, calc_second_order=exp.calc_second_order,
                            seed=exp.seed)
    if exp.design == "morris":
        from SALib.sample import morris

        return morris.sample(problem, exp.samples, num_levels=exp.levels, seed=exp.seed)
    if exp.design == "lhs":
        from SALib.sample import latin

        return latin.sample(problem, exp.samples, seed=exp.seed)
    raise ValueError(f"not a sampled design: {exp.design}")


def build_design(exp: Experiment) -> pd.DataFrame:
    """The design matrix: one row per design point, column ``row`` plus one per factor.

    Args:
        exp: A validated experiment.

    Returns:
        A DataFrame with ``row`` = 0..n-1 and the factor columns in file order.
    """
    names = exp.factor_names
    if exp.design == "replicate":
        return pd.DataFrame({"row": np.zeros(1, dtype=np.int64)})
    if exp.design == "grid":
        points = list(itertools.product(*(f.values for f in exp.factors)))
        frame = pd.DataFrame(points, columns=names)
    else:
        problem = salib_problem(exp)
        frame = pd.DataFrame(_sample(exp, problem), columns=names)
    for f in exp.factors:
        if f.integer:
            frame[f.name] = np.rint(frame[f.name].astype(float)).astype(np.int64)
    frame.insert(0, "row", np.arange(len(frame), dtype=np.int64))
    return frame


def design_summary(exp: Experiment, design: pd.DataFrame) -> dict[str, Any]:
    """The design facts analysis needs to rebuild SALib calls from manifest.json alone."""
    return {
        "design": exp.design,
        "samples": exp.samples,
        "design_rows": len(design),
        "problem": salib_problem(exp),
        "calc_second_order": exp.calc_second_order if exp.design == "sobol" else None,
        "num_levels": exp.levels if exp.design == "morris" else None,
    }
