"""Stylized facts 1 and 2 in a closed market (version 1's check, kept with v2 parameters).

The version 2 facts 1-6 are tested in the default *bounded* market in
``tests/test_v2_facts.py``; facts 3 and 4 of version 1 and ``tests/test_fact5.py`` (v1's
relationship value ``relationship - sacred``) are superseded there. What stays here is
that facts 1 and 2 need no market feedback at all: with a fixed customer base the status
quo's buffer still ratchets and the sacred plant still delivers on time and faster.

Regimes are compared with common random numbers (same seeds), so differences are paired.
Criteria: a paired mean difference beyond three standard errors of the replicate
differences (with 8 replicates, t with 7 degrees of freedom: about 98% two-sided), or a
sign test where every one of the eight pairs goes the same way (p = 2**-8 one-sided under
the null of no effect).

A *closed market* in version 2: an unbounded market (``market_size`` = 0) without
acquisition and without churn (neither competitors' offers nor low trust), so the customer
base is the initial 60 throughout. Orders can still go elsewhere one at a time (lost
orders), which is an order-level, not a market-level, feedback.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
from relsim import model

SEEDS = tuple(range(8))
CHAOS = dict(disruption_rate=0.2, process_cv=0.6)
CLOSED = dict(market_size=0, acquisition_per_selling_hour=0.0, churn_base=0.0,
              churn_trust=0.0)
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
    # ... while on-time delivery does not improve. Version 2 (lost orders, trust learning
    # need, no churn to relieve the load): it *falls* by 0.20 on average (SE 0.08; single
    # runs from -0.81 to +0.30, the rolling 20-day rate of a chaotic plant is noisy), so
    # the criterion is an upper 3-SE bound below a gain of 10 points and a negative mean.
    assert otd.mean() < 0 and otd.mean() + 3 * se(otd) < 0.10
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
