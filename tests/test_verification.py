"""Verification of the plant against queueing theory, conservation and determinism.

Tolerances come from the replicate spread (standard errors over independent seeds), not
from hand-picked percentages: a check passes when theory lies within three standard errors
of the simulated mean (with 6-12 replicates, t-distributed: a two-sided band of about
97-99%), plus a stated allowance where a finite-horizon effect exists. The statistical
tests also assert that their standard error is small enough for the check to have power.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from relsim import model
from relsim.model import SalesModel

#: Every behaviour switched off (``model.PLANT_ONLY``, kept complete by the model: no
#: padding, urgency, complexity, churn, acquisition, bounded market, lost orders,
#: disruption, execution noise, overtime, shift; discipline = 1). Needs so lax that nobody
#: asks for an expedite, so the schedule stays first come, first served.
PLANT_ONLY = model.PLANT_ONLY
SEEDS = range(12)
#: Long runs for steady-state means: about 15,000 orders per run at 85% load.
LONG = dict(days=9_000, warmup_days=500)


def pollaczek_khinchine(rho: float, mean_s: float, cv: float) -> float:
    """M/G/1 FCFS mean sojourn time W = E[S] + rho E[S] (1 + cv^2) / (2 (1 - rho))."""
    return mean_s + rho * mean_s * (1.0 + cv * cv) / (2.0 * (1.0 - rho))


def _mean_se(values) -> tuple[float, float]:
    a = np.asarray(values, dtype=float)
    return float(a.mean()), float(a.std(ddof=1) / math.sqrt(a.size))


@pytest.mark.parametrize("rho", [0.5, 0.85])
@pytest.mark.parametrize("cv", [0.0, 1.0])
def test_mg1_mean_lead_time_matches_pollaczek_khinchine(rho, cv):
    p = dict(PLANT_ONLY, **LONG, utilization=rho, work_cv=cv)
    lts = [model.simulate(p, s)["lead_time_mean"] for s in SEEDS]
    mean, se = _mean_se(lts)
    params = model.Params.from_dict(p)
    theory = pollaczek_khinchine(rho, params.work_mean_hours / params.capacity_hours, cv)
    # Power: the replicate standard error must be a small share of the target (near
    # saturation with lognormal work of CV 1 the mean converges slowly: about 4% here).
    assert se < 0.05 * theory
    # Warm-up bias is negligible after 500 days (relaxation time ~ E[S]/(1-rho)^2 ~ 22 days
    # at rho = 0.85).
    assert abs(mean - theory) < 3.0 * se + 1e-9, (mean, theory, se)


@pytest.mark.parametrize(
    "extra",
    [PLANT_ONLY, dict(model.REGIMES["relationship"], churn_trust=0.0, churn_base=0.0, market_size=0,
                      acquisition_per_selling_hour=0.0,
                      disruption_rate=0.1, process_cv=0.6)],
    ids=["plant-only", "relationship-chaos"],
)
def test_littles_law(extra):
    # L = lambda W on one long sample path. WIP is integrated by the plant (orders in the
    # system over time), independently of the order records that give throughput and lead
    # time; they agree up to edge effects (orders straddling the window ends), of order
    # WIP * W / T, well under 2% with T = 8,500 days.
    k = model.simulate(dict(extra, **LONG), seed=11)
    little = k["throughput"] * k["lead_time_mean"]
    assert k["wip_mean"] > 0.5
    assert little == pytest.approx(k["wip_mean"], rel=0.02)


def _run(params: dict, seed: int) -> SalesModel:
    m = SalesModel(params, seed=seed)
    m.run()
    return m


def test_conservation_of_orders_and_work():
    # The full status-quo model with chaos and churn: customers defect with open orders.
    m = _run(dict(model.REGIMES["relationship"], disruption_rate=0.2, process_cv=0.6,
                  churn_trust=0.8), seed=5)
    orders = m.orders
    in_schedule = m.planner.schedule
    assert len({id(o) for o in in_schedule}) == len(in_schedule), "an order scheduled twice"
    delivered = [o for o in orders if not o.lost and not math.isnan(o.finish)]
    lost = [o for o in orders if o.lost]
    open_ = [o for o in orders if not o.lost and math.isnan(o.finish)]
    assert len(delivered) + len(lost) + len(open_) == len(orders)
    assert {id(o) for o in open_} == {id(o) for o in in_schedule}
    assert sum(1 for o in lost if not math.isnan(o.quote_date)) > 0, "churn lost no order"
    assert all(o.remaining == 0.0 for o in delivered)
    # Work: what the plant did is exactly the work put into orders (including changeovers),
    # and never more than the capacity offered.
    done = sum(o.total - o.remaining for o in orders)
    assert m.plant.busy_hours == pytest.approx(done, rel=1e-9)
    assert m.plant.busy_hours <= m.plant.offered_hours + 1e-9
    assert m.plant.changeover_hours > 0
    assert m.planner.planned_total == pytest.approx(sum(o.work for o in in_schedule), abs=1e-6)


def _reordering_pair(seed: int, work_cv: float) -> tuple[dict, dict]:
    """FCFS baseline and the same arrivals with expedites inserted without changeover."""
    base = dict(PLANT_ONLY, days=4_000, warmup_days=300, utilization=0.85, work_cv=work_cv)
    reorder = dict(base, need_lt_mean=6.0, need_lt_cv=0.5, urgent_share=0.3, discipline=0.0,
                   sales_autonomy=1.0, autonomy_drift=0.0, preemption_prob=0.0)
    return model.simulate(base, seed), model.simulate(reorder, seed)


@pytest.mark.parametrize("work_cv", [0.0, 0.5])
def test_reordering_without_changeover_keeps_mean_widens_p90(work_cv):
    # Kleinrock's conservation law: a work-conserving, non-preemptive reordering that does
    # not look at service times leaves the mean flow time unchanged. Both runs share the
    # seed, so the arrivals and work contents are identical (common random numbers): the
    # paired difference isolates the reordering. Priority to expedites widens the tail.
    pairs = [_reordering_pair(s, work_cv) for s in range(6)]
    breaks = [r["schedule_breaks_per_day"] for _, r in pairs]
    assert min(breaks) > 0.3, "the reordered runs must actually reorder"
    d_mean, se_mean = _mean_se([r["lead_time_mean"] - b["lead_time_mean"] for b, r in pairs])
    d_p90, se_p90 = _mean_se([r["lead_time_p90"] - b["lead_time_p90"] for b, r in pairs])
    base_mean = np.mean([b["lead_time_mean"] for b, _ in pairs])
    # Power: paired common random numbers make the difference precise (under 2% of the mean).
    assert se_mean < 0.02 * base_mean
    assert abs(d_mean) < 3.0 * se_mean + 0.01 * base_mean, (d_mean, se_mean)
    assert d_p90 > 3.0 * se_p90 and d_p90 > 0.05 * base_mean, (d_p90, se_p90)


def test_changeovers_raise_the_mean_lead_time():
    # The same preemptive reordering with and without a changeover cost: lost capacity
    # raises the mean lead time (MODEL.md step 6, the article's step 7). Both arms preempt,
    # so the difference is the changeover alone.
    base = dict(PLANT_ONLY, days=3_000, warmup_days=300, need_lt_mean=6.0, urgent_share=0.3,
                discipline=0.0, sales_autonomy=1.0, autonomy_drift=0.0, preemption_prob=1.0)
    diffs = [
        model.simulate(dict(base, changeover_hours=2.0), s)["lead_time_mean"]
        - model.simulate(dict(base, changeover_hours=0.0), s)["lead_time_mean"]
        for s in range(6)
    ]
    d, se = _mean_se(diffs)
    assert d > 3.0 * se and d > 0


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        (math.isnan(a[k]) and math.isnan(b[k])) or a[k] == b[k] for k in a
    )


@pytest.mark.parametrize("regime", ["relationship", "sacred"])
def test_same_seed_same_outputs_different_seed_different(regime):
    p = dict(model.REGIMES[regime], disruption_rate=0.1)
    a = model.simulate(p, 42)
    model.simulate(dict(p, utilization=0.95), 7)  # another run in between leaks nothing
    b, c = model.simulate(p, 42), model.simulate(p, 43)
    assert _same(a, b)
    assert not _same(a, c)
    sa = model.simulate(p, 42, series=True)["series"]
    sb = model.simulate(p, 42, series=True)["series"]
    assert sa.equals(sb)
    assert len(sa) == model.Params().days


def test_kpis_are_a_flat_dict_of_floats():
    k = model.simulate({}, 0)
    assert set(k) == set(model.KPI_NAMES)
    assert all(type(v) is float for v in k.values())


def test_simulate_leaves_no_model_behind():
    import gc
    import weakref

    seen = []
    original = SalesModel.__init__

    def spy(self, *a, **k):
        original(self, *a, **k)
        seen.append(weakref.ref(self))

    SalesModel.__init__ = spy
    try:
        model.simulate({"days": 30, "warmup_days": 5}, 1)
    finally:
        SalesModel.__init__ = original
    gc.collect()
    assert seen and seen[0]() is None, "the finished model is still referenced"
