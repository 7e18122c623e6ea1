"""Stylized facts 1-4 of MODEL.md, with replicates and a stated statistical criterion.

Regimes are compared with common random numbers (same seeds), so differences are paired.
Criteria: a paired mean difference beyond three standard errors of the replicate
differences (with 8 replicates, t with 7 degrees of freedom: about 98% two-sided), or a
sign test where every one of the eight pairs goes the same way (p = 2**-8 one-sided under
the null of no effect).

Facts 1 and 2 are checked in a *closed market* (no acquisition, no competitor churn): with
an open market the status quo loses customers (little selling), which lowers its load and
partly relieves its chaos, a balancing loop documented in docs/ODD.md.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
from relsim import model

SEEDS = tuple(range(8))
CHAOS = dict(disruption_rate=0.2, process_cv=0.6)
CLOSED = dict(acquisition_per_selling_hour=0.0, churn_base=0.0)
#: Days [180, 270) are the first quarter after warm-up; the last 90 days end the run.
EARLY, LATE = slice(180, 270), slice(-90, None)


@cache
def runs(regime: str, scenario: str, n: int = len(SEEDS)) -> tuple[dict, ...]:
    extra = {"default": {}, "chaos": CHAOS, "closed": CLOSED,
             "closed-chaos": dict(CHAOS, **CLOSED)}[scenario]
    p = dict(model.REGIMES[regime], **extra)
    return tuple(model.simulate(p, s, series=True) for s in range(n))


def kpi(regime: str, scenario: str, name: str, n: int = len(SEEDS)) -> np.ndarray:
    return np.array([r[name] for r in runs(regime, scenario, n)])


def rise(regime: str, scenario: str, column: str, n: int = len(SEEDS)) -> np.ndarray:
    """Change of a daily series from the first to the last 90 measured days, per run."""
    return np.array([r["series"][column].iloc[LATE].mean() - r["series"][column].iloc[EARLY].mean()
                     for r in runs(regime, scenario, n)])


def se(x: np.ndarray) -> float:
    return float(x.std(ddof=1) / math.sqrt(x.size))


def test_fact1_lead_time_syndrome_in_relationship_bounded_in_sacred():
    # Sixteen replicates: the on-time rate of a chaotic plant is noisy.
    buf = rise("relationship", "closed-chaos", "buffer", 16)
    quote = rise("relationship", "closed-chaos", "quoted_lead_time", 16)
    otd = rise("relationship", "closed-chaos", "otd_rolling", 16)
    # Buffer and quoted lead time ratchet up in every replicate (sign test) ...
    assert (buf > 0).all() and buf.mean() > 3 * se(buf)
    assert (quote > 0).all()
    # ... while on-time delivery does not improve: the upper 3-SE bound of its change is
    # below a practically negligible gain of 2 points.
    assert otd.mean() + 3 * se(otd) < 0.02
    # In sacred the buffer stays bounded: over the run it moves by less than its initial
    # size (upper 3-SE bound of |change|), where the status quo's grows several-fold.
    sac = rise("sacred", "closed-chaos", "buffer", 16)
    initial = model.Params().buffer_days
    assert abs(sac.mean()) + 3 * se(sac) < initial
    assert buf.mean() > 3 * initial


def test_fact2_sacred_delivers_on_time_with_shorter_lead_times():
    otd = kpi("sacred", "closed", "otd")
    assert otd.mean() - 3 * se(otd) >= 0.9
    d = kpi("relationship", "closed", "lead_time_mean") - kpi("sacred", "closed",
                                                              "lead_time_mean")
    assert d.mean() > 3 * se(d)


def test_fact3_channel_shift():
    efficient = "share_online", "share_support"
    sac = sum(kpi("sacred", "default", k) for k in efficient)
    rel = sum(kpi("relationship", "default", k) for k in efficient)
    d = sac - rel
    # Reliable delivery drives orders to online/support ...
    assert d.mean() > 3 * se(d) and (d > 0).all()
    # ... and chaos drives them to sales/field (within the status quo, paired by seed).
    personal = ("share_sales", "share_field")
    calm = sum(kpi("relationship", "default", k) for k in personal)
    chaotic = sum(kpi("relationship", "chaos", k) for k in personal)
    assert (chaotic > calm).all()


def test_fact4_firefighting_grows_with_chaos_in_relationship():
    # Emergent part of fact 4: in the status quo, the time salespeople spend inserting,
    # lobbying and apologising grows with chaos (every pair). The sacred side holds by
    # construction (no schedule breaks at discipline = 1; relationship_focus = 0.1 sends
    # spare time to selling) and is therefore not tested; the *size* of the share is not
    # "large" at the default staffing (docs/ODD.md, "Stylized facts").
    calm = kpi("relationship", "closed", "sales_firefighting_share")
    chaotic = kpi("relationship", "closed-chaos", "sales_firefighting_share")
    d = chaotic - calm
    assert (d > 0).all() and d.mean() > 3 * se(d)
