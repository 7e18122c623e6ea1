"""Small models for testing the sweep runner: any ``fn(params, seed) -> dict`` works.

`ishigami` is deterministic (it ignores the seed), so the whole pipeline can be checked
against the Ishigami function's analytic Sobol indices. `noisy` uses the seed, so seed
handling shows in its outputs. `flaky` raises on part of the input space. `slow` sleeps,
for the kill-and-resume test. `nonfinite` returns NaN or inf on part of the input space;
`hang` and `sleepy` never return there; `crash` kills its worker; `always_fails` raises.
(`sweep_checked_model` exposes ``Params`` and is validated like our model.)
"""

from __future__ import annotations

import math
import os
import time

import numpy as np
import pandas as pd

ISHIGAMI_A = 7.0
ISHIGAMI_B = 0.1


def ishigami(params: dict, seed: int) -> dict[str, float]:
    """Ishigami function (a = 7, b = 0.1) of x1, x2, x3."""
    x1, x2, x3 = params["x1"], params["x2"], params["x3"]
    y = math.sin(x1) + ISHIGAMI_A * math.sin(x2) ** 2 + ISHIGAMI_B * x3**4 * math.sin(x1)
    return {"y": y}


def noisy(params: dict, seed: int, series: bool = False) -> dict:
    """Ishigami plus seeded noise; optional daily series; also echoes a regime parameter."""
    rng = np.random.default_rng(seed)
    out: dict = {
        "y": ishigami(params, seed)["y"] + rng.normal(0.0, params.get("noise", 1.0)),
        "u": float(rng.random()),
        "shift_seen": float(params.get("shift", 0.0)),
    }
    if series:
        days = int(params.get("days", 3))
        out["series"] = pd.DataFrame({"day": np.arange(days), "v": rng.random(days)})
    return out


def flaky(params: dict, seed: int) -> dict[str, float]:
    """Raises for x1 > 0.5; otherwise returns x1 + the seed's first uniform."""
    if params["x1"] > 0.5:
        raise ValueError(f"x1 too large: {params['x1']:.6f}")
    return {"y": params["x1"] + float(np.random.default_rng(seed).random())}


def slow(params: dict, seed: int) -> dict[str, float]:
    """Sleeps params['sleep'] seconds, then returns seeded values."""
    time.sleep(params.get("sleep", 0.01))
    rng = np.random.default_rng(seed)
    return {"y": params["x1"] * float(rng.normal()), "z": float(rng.random())}


def sometimes(params: dict, seed: int) -> dict[str, float]:
    """Like `flaky`, but fails only while the environment variable SWEEP_FAIL is set."""
    if os.environ.get("SWEEP_FAIL") and params["x1"] > 0.5:
        raise RuntimeError(f"transient failure at x1 = {params['x1']}")
    return {"y": params["x1"] + float(np.random.default_rng(seed).random())}


def crash(params: dict, seed: int) -> dict[str, float]:
    """Kills its own (worker) process for x1 > 0.5, like a segfault or the OOM killer."""
    if params["x1"] > 0.5:
        os._exit(3)
    return {"y": params["x1"]}


#: `styled`: slope of the relationship value along x + z where the schedule is breakable.
STYLED_SLOPE = 4.0
#: `styled`: where x + z makes the breakable plant's relationship value zero.
STYLED_ZERO = 0.6
#: `styled`: relationship value (a cost) in a sacred plant, whatever x and z.
STYLED_SACRED = -1.0


def styled(params: dict, seed: int) -> dict[str, float]:
    """A regime-aware toy with known comparisons (reads regime parameters ``rel``, ``disc``).

    ``profit`` = 100 + common noise (sd 10, the same for every regime with the seed, so it
    cancels in paired differences) + ``rel`` x (breakable: 4 (x + z - 0.6); sacred: -1) +
    ``rel`` x own noise (sd 0.05). So with ``rel`` 1/0 and ``disc`` 0/1:
    relationship - transactional = 4 (x + z - 0.6), sacred_relationship - sacred = -1, and
    their contrast (sacred's minus breakable's) = -1 - 4 (x + z - 0.6). ``w`` is inert.
    """
    rng = np.random.default_rng(seed)
    common = rng.normal(0.0, 10.0)
    own = rng.normal(0.0, 0.05)
    x, z = float(params.get("x", 0.5)), float(params.get("z", 0.0))
    rel, disc = float(params.get("rel", 0.0)), float(params.get("disc", 0.0))
    value = rel * ((1.0 - disc) * STYLED_SLOPE * (x + z - STYLED_ZERO) + disc * STYLED_SACRED)
    return {"profit": 100.0 + common + value + rel * own, "otd": 0.8 + 0.1 * disc,
            "x_seen": x, "z_seen": z, "w_seen": float(params.get("w", 0.0))}


#: Outputs NaN by definition in some runs (`nonfinite`'s ``rate``): a NaN there is no error.
UNDEFINED_OUTPUTS = ("rate",)


def nonfinite(params: dict, seed: int) -> dict[str, float]:
    """Returns y NaN for x1 > 0.5, +inf for x1 == 0, finite elsewhere; rate undefined at 0.25."""
    x1 = params["x1"]
    y = math.nan if x1 > 0.5 else (math.inf if x1 == 0 else x1)
    rate = math.nan if x1 == 0.25 else 0.5
    return {"y": y, "z": float(np.random.default_rng(seed).random()), "rate": rate}


def hang(params: dict, seed: int) -> dict[str, float]:
    """Never returns for x1 > 0.5 (a busy Python loop); otherwise returns x1."""
    if params["x1"] > 0.5:
        while True:
            pass
    return {"y": params["x1"] + float(np.random.default_rng(seed).random())}


def sleepy(params: dict, seed: int) -> dict[str, float]:
    """Sleeps an hour for x1 > 0.5 (a blocked run); otherwise returns x1."""
    if params["x1"] > 0.5:
        time.sleep(3600)
    return {"y": params["x1"]}


def always_fails(params: dict, seed: int) -> dict[str, float]:
    """Raises on every run, from a nested call (so the traceback has several frames)."""
    def inner(x: float) -> float:
        raise ZeroDivisionError(f"cannot divide by x1 = {x}")

    return {"y": inner(params["x1"])}
