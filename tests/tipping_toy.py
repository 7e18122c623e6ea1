"""A toy model with a known tipping point, for the bisection tests.

``profit`` = 100 + common noise + (1 - discipline) * 3 * (chaos - 0.42) + small noise that
only the relationship regime draws. Both regimes share the seed, so the common noise
cancels in the paired delta (common random numbers) and the delta crosses zero at 0.42.
"""

import numpy as np

TRUE_THRESHOLD = 0.42
SLOPE = 3.0
COMMON_SD = 10.0
OWN_SD = 0.02


def simulate(params, seed):
    rng = np.random.default_rng(seed)
    common = rng.normal(0.0, COMMON_SD)
    own = rng.normal(0.0, OWN_SD)
    gain = (1.0 - params.get("discipline", 0.0)) * (
        SLOPE * (params.get("chaos", 0.5) - TRUE_THRESHOLD) + own)
    return {"profit": 100.0 + common + gain, "otd": 0.9}


def broken(params, seed):
    if params.get("chaos", 0.0) > 0.5:
        raise RuntimeError("the plant exploded")
    return simulate(params, seed)
