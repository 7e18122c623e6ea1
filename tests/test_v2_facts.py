"""Model v2 (MODEL.md "Version 2", issue 8): the reviewer's cases and stylized facts 1-6.

Each fact is either reproduced or, where the model refutes it, pinned by a test of what the
model does instead, with the measured figures in comments (/work/helpers/v2-findings.md
and the ODD cite them). Regimes are compared with common random numbers (same seeds), so
differences are paired.

Criterion: a two-sided 99% Student-t interval of the mean paired difference over the
replicates (fixed seeds ``range(N)``); "excludes zero" is the test of an effect, "contains
zero" the test of no effect (only where the model's mechanisms give a reason for none).
Figures in comments are mean [99% interval] per day over the seeds of the test unless
said otherwise; "measured with 20 seeds" marks figures from the findings' wider runs.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pytest
from relsim import model
from scipy import stats

N = 16
SEEDS = tuple(range(N))
CALM = dict(process_cv=0.0, disruption_rate=0.0)
CHAOS = dict(process_cv=0.6, disruption_rate=0.1)
ORDINARY = dict(complex_share=0.0)


@cache
def _runs(regime: str, overrides: tuple, n: int, series: bool) -> tuple[dict, ...]:
    p = dict(model.REGIMES[regime], **dict(overrides))
    out = []
    for s in range(n):
        k = model.simulate(p, s, series=series)
        if series:  # keep only the columns the tests read (memory)
            k["series"] = k["series"][list(SERIES_KEPT)].copy()
        out.append(k)
    return tuple(out)


SERIES_KEPT = ("buffer", "quoted_lead_time", "otd_rolling", "customers_active",
               "hours_handling", "hours_lobbying", "hours_apologising", "hours_upkeep",
               "hours_selling")


def runs(regime: str, n: int = N, series: bool = False, **over) -> tuple[dict, ...]:
    return _runs(regime, tuple(sorted(over.items())), n, series)


def kpi(regime: str, name: str, n: int = N, series: bool = False, **over) -> np.ndarray:
    return np.array([r[name] for r in runs(regime, n, series, **over)], dtype=float)


def value(a: str, b: str, name: str = "profit", n: int = N, **over) -> np.ndarray:
    """Paired difference a - b per seed."""
    return kpi(a, name, n, **over) - kpi(b, name, n, **over)


def interval(x, level: float = 0.99) -> tuple[float, float]:
    """Two-sided Student-t interval of the mean."""
    x = np.asarray(x, dtype=float)
    half = stats.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size)
    return float(x.mean() - half), float(x.mean() + half)


def positive(x) -> bool:
    return interval(x)[0] > 0


def negative(x) -> bool:
    return interval(x)[1] < 0


def contains_zero(x) -> bool:
    lo, hi = interval(x)
    return lo <= 0 <= hi


# ============================================================================ reviewer's cases
def test_long_quote_loses_orders_and_profit():
    """Issue 8's first case: a sacred planner that quotes long (buffer fixed at 8 days).

    Version 1 rewarded it (trust learned promise only, no order was lost). Now customers
    judge the offered date against their need: with a quote of ~8.6 days against a mean
    need of 6, about 40% of offered quotes lose the order (managed buffer: 2%), trust over
    every customer falls (0.68 vs 0.94) and profit collapses. Measured with 16 seeds (99%):
    profit -987 [-1,047, -928] per day, lost orders +0.67 [0.63, 0.70] per day, churned +57.
    """
    long = dict(buffer_days=8.0, buffer_gain=0.0)
    d_profit = kpi("sacred", "profit", 12, **long) - kpi("sacred", "profit", 12)
    d_lost = kpi("sacred", "lost_orders", 12, **long) - kpi("sacred", "lost_orders", 12)
    d_trust = kpi("sacred", "trust_mean_all", 12, **long) - kpi("sacred", "trust_mean_all", 12)
    assert negative(d_profit), interval(d_profit)
    assert positive(d_lost), interval(d_lost)
    assert negative(d_trust), interval(d_trust)


def test_chaotic_status_quo_pays_late_penalties():
    """Issue 8's second case: lateness now has a price, and chaos pays it.

    The status quo (``relationship``) pays 13.8/day even in a calm plant (no execution
    noise, no disruption): its salespeople promise requested dates the plant cannot keep
    (insertions without re-planning). Chaos adds to it: 41/day at process_cv 0.6 and
    disruption_rate 0.1 (20 seeds: chaos - calm = +27.5 [17.6, 37.4] at 95%). The sacred
    plant at the same chaos pays about 0.7/day (honest dates, re-planning, added capacity).
    """
    chaos = kpi("relationship", "late_penalty", series=True, **CHAOS)
    calm = kpi("relationship", "late_penalty", series=True, **CALM)
    assert positive(chaos - calm), interval(chaos - calm)
    sacred = kpi("sacred", "late_penalty", **CHAOS)
    assert positive(chaos - sacred)
    assert sacred.mean() < 0.05 * chaos.mean()


@pytest.mark.slow
def test_horizon_relationship_value_and_customer_base_steady():
    """Issue 8's third case: results no longer depend on the horizon as linear growth did.

    Version 1: relationship value -163 at 720 days and -291 at 1,440 days (a 79% change).
    Version 2 (bounded market): relationship - transactional profit at 1,440 minus at 720
    days, paired by seed, has a 99% interval that contains zero (16 seeds: -19 [-58, 19]
    on a value of +260), and the interval is narrow enough to have caught version 1's
    change (half-width under a quarter of the value). Something remains: with 20 seeds at
    95% the change is -28 [-53, -4] (-11%), the status quo's own slow decay (its buffer
    keeps ratcheting and its customer base drifts from ~67.5 at day 300 to ~65 by day 900),
    the vicious cycle the article describes, not the market's growth.

    The customer base is near its steady state by the end of the warm-up (day 180): the
    market's time constant is short (transactional reaches 70.5 of 72 by day ~120). In both
    regimes the mean over the last 30 warm-up days minus the mean over the last 240 days
    of the 1,440-day run has a 99% interval (over the runs) that contains zero and lies
    inside +-5% of the market (3.6 customers): relationship +0.05 [-3.2, 3.3],
    transactional -0.67 [-1.7, 0.4] (16 seeds). Single runs fluctuate by a few customers.
    """
    long = dict(days=1440)
    v720 = value("relationship", "transactional")
    v1440 = kpi("relationship", "profit", series=True, **long) - kpi(
        "transactional", "profit", series=True, **long)
    lo, hi = interval(v1440 - v720)
    assert lo <= 0 <= hi, (lo, hi)
    assert (hi - lo) / 2 < 0.25 * v720.mean(), (lo, hi, v720.mean())
    warm = model.Params().warmup_days
    for regime in ("relationship", "transactional"):
        gap = []
        for r in runs(regime, series=True, **long):
            active = r["series"]["customers_active"].to_numpy()
            gap.append(active[warm - 30:warm].mean() - active[-240:].mean())
        lo, hi = interval(gap)
        bound = 0.05 * model.Params().market_size
        assert -bound < lo <= 0 <= hi < bound, (regime, lo, hi)


# ============================================================================ pairing
PAIRING_SEEDS = 30


@pytest.mark.slow
def test_pairing_sd_per_customer_streams_vs_list_matching():
    """The paired SD of a profit difference, per-customer streams vs version 1's matching.

    Measured, relationship - transactional profit per day (same seeds in both regimes):
    per-customer streams (``crn_per_customer`` = 1) 72.1, version 1's single stream matched
    by list position (0) 75.7 with 30 seeds; with 100 seeds 82.0 vs 81.8, and for
    sacred - relationship 91.6 vs 92.3, mixed - transactional 62.7 vs 59.8. Unpaired (the
    SD of the difference of independent runs): about 125. So common seeds halve the
    variance of a regime difference, but per-customer streams do **not** pair better than
    version 1's matching: version 1's single stream already kept the timing and size of
    the market's orders common, and the paired SD comes from what differs by design
    (complex bids won, lost orders, churn and acquisition that follow the regime).
    Resolving 2% of profit (~35/day) at 95% takes about (1.96 * 80 / 35)^2 = 20 replicates.

    Pinned: the two paired SDs agree within 25%, and both are below 3/4 of the unpaired SD.
    """
    sd, unpaired = {}, {}
    for crn in (1, 0):
        a = kpi("relationship", "profit", PAIRING_SEEDS, crn_per_customer=crn)
        b = kpi("transactional", "profit", PAIRING_SEEDS, crn_per_customer=crn)
        sd[crn] = float((a - b).std(ddof=1))
        unpaired[crn] = math.sqrt(a.var(ddof=1) + b.var(ddof=1))
        assert sd[crn] < 0.75 * unpaired[crn], (crn, sd[crn], unpaired[crn])
    assert 0.8 < sd[1] / sd[0] < 1.25, sd


# ============================================================================ styles
def test_styles_alike_have_no_within_run_difference():
    """Both styles set alike (discipline 1, relationship_focus 0): style_*_diff is zero.

    At discipline 1 nothing can break the schedule; with no upkeep both styles spend their
    spare time selling, so the two groups of customers differ only by the random
    assignment of customers to salespeople. 16 seeds (99%): margin per customer-day
    +0.87 [-1.45, 3.19], on-time to need +0.002 [-0.003, 0.008], lost-order share
    0.001 [-0.005, 0.006], churn per 1,000 customer-days -0.10 [-0.27, 0.07].
    """
    for name in ("margin_per_customer_day", "otd_need", "lost_order_share", "churn_rate"):
        d = kpi("sacred_mixed", f"style_{name}_diff", relationship_focus=0.0)
        assert contains_zero(d), (name, interval(d))


def test_styles_in_a_sacred_plant_differ_only_through_upkeep():
    """``sacred_mixed``: nobody breaks the schedule, so delivery is the same for both
    styles' customers; relationship strength (bought by upkeep) is what differs.

    What it buys, 16 seeds (99%): margin per customer-day +5.7 [3.5, 7.8]
    (complex deals won: win probability rises with relationship strength), lost-order
    share -0.008 [-0.013, -0.003] (the relationship cushions a long quote), churn
    -0.26 [-0.45, -0.06] per 1,000 customer-days (the relationship cushions low trust);
    on-time to need +0.003 [-0.004, 0.010], i.e. no difference. With ordinary deals only
    (complex_share 0) the margin difference vanishes: +0.57 [-1.16, 2.30].
    """
    # Nothing is inserted or lobbied at discipline 1.
    assert kpi("sacred_mixed", "schedule_breaks_per_day").max() == 0
    assert contains_zero(kpi("sacred_mixed", "style_otd_need_diff"))
    assert positive(kpi("sacred_mixed", "style_margin_per_customer_day_diff"))
    assert negative(kpi("sacred_mixed", "style_lost_order_share_diff"))
    assert negative(kpi("sacred_mixed", "style_churn_rate_diff"))
    assert contains_zero(kpi("sacred_mixed", "style_margin_per_customer_day_diff", **ORDINARY))


# ============================================================================ stylized facts
def _rise(regime: str, column: str, **over) -> np.ndarray:
    """Change of a daily series from the first to the last 90 measured days, per run."""
    early, late = slice(180, 270), slice(-90, None)
    return np.array([r["series"][column].iloc[late].mean() - r["series"][column].iloc[early].mean()
                     for r in runs(regime, series=True, **over)])


def test_fact1_lead_time_syndrome_in_relationship_bounded_in_sacred():
    """Fact 1 (reproduced): in the chaotic status quo buffer and quotes ratchet up while
    on-time delivery does not improve; in ``sacred`` the buffer stays bounded.

    Bounded market, process_cv 0.6, disruption_rate 0.1, 16 seeds. The status quo's buffer
    ends near 20 days (from 2); the sacred buffer is released to ~0.4 days.
    """
    buf = _rise("relationship", "buffer", **CHAOS)
    quote = _rise("relationship", "quoted_lead_time", **CHAOS)
    otd = _rise("relationship", "otd_rolling", **CHAOS)
    assert positive(buf) and (buf > 0).all()
    assert positive(quote)
    # On-time delivery does not improve: -0.11 [-0.31, +0.09] from the first to the last
    # 90 measured days (the rolling 20-day rate is noisy in a chaotic plant), while the
    # buffer grows by 13.6 [9.4, 17.9] days; and it stays below the planner's target
    # (late period 0.65 [0.47, 0.83] vs 0.95), which is why the ratchet never stops.
    assert interval(otd)[1] < 0.1, interval(otd)
    late = np.array([r["series"]["otd_rolling"].iloc[-90:].mean()
                     for r in runs("relationship", series=True, **CHAOS)])
    assert interval(late)[1] < model.Params().buffer_target_otd
    sacred = kpi("sacred", "buffer_final", **CHAOS)
    initial = model.Params().buffer_days
    assert interval(sacred)[1] < initial
    assert kpi("relationship", "buffer_final", series=True, **CHAOS).min() > 3 * initial


def test_fact2_sacred_on_time_and_faster_in_the_same_bounded_market():
    """Fact 2 (reproduced, where version 1 failed in the open market): in the default
    bounded market ``sacred`` delivers on time (0.974) with a mean lead time ~1.35 days vs
    ~3.55 in ``relationship`` (16 seeds). Its plant is not overloaded: the second shift,
    triggered by the planned load, runs on ~48% of the measured days (regular capacity
    ~19.8 h/day on average; see fact 6 for what that costs)."""
    otd = kpi("sacred", "otd")
    assert interval(otd)[0] >= 0.9
    d = value("relationship", "sacred", "lead_time_mean")
    assert positive(d), interval(d)


def test_fact3_channel_shift():
    """Fact 3 (reproduced): reliable delivery drives orders to online/support (sacred 0.78
    vs relationship 0.12 of orders, 16 seeds), chaos drives them to sales/field (status quo: 0.86
    calm vs 0.94 chaotic; 20 seeds)."""
    efficient = ("share_online", "share_support")
    d = sum(value("sacred", "relationship", k) for k in efficient)
    assert positive(d) and (d > 0).all()
    personal = ("share_sales", "share_field")
    chaotic = sum(kpi("relationship", k, series=True, **CHAOS) for k in personal)
    calm = sum(kpi("relationship", k, series=True, **CALM) for k in personal)
    assert positive(chaotic - calm), interval(chaotic - calm)


def _hours_share(regime: str, columns: tuple[str, ...], **over) -> np.ndarray:
    """Share of all sales hours (measured days) spent on the given activities, per run."""
    warm = model.Params().warmup_days
    cols = [f"hours_{c}" for c in ("handling", "lobbying", "apologising", "upkeep", "selling")]
    out = []
    for r in runs(regime, series=True, **over):
        s = r["series"].iloc[warm:]
        out.append(s[[f"hours_{c}" for c in columns]].to_numpy().sum() / s[cols].to_numpy().sum())
    return np.array(out)


def test_fact4_relationship_work_and_firefighting():
    """Fact 4 (reproduced, v2 wording): in ``relationship`` most sales time is relationship
    work (upkeep plus firefighting), and firefighting grows with chaos; in ``sacred`` most
    goes to selling.

    Status quo: relationship work 0.68 of sales hours calm, 0.69 chaotic; firefighting
    (lobbying and apologising, KPI sales_firefighting_share) 0.056 calm vs 0.13 chaotic
    (20 seeds). Sacred: selling 31.7 of 32 hours a day.
    """
    rel_work = ("upkeep", "lobbying", "apologising")
    for scenario in (CALM, CHAOS):
        share = _hours_share("relationship", rel_work, **scenario)
        assert interval(share)[0] > 0.5, interval(share)
    fire = kpi("relationship", "sales_firefighting_share", series=True, **CHAOS) - kpi(
        "relationship", "sales_firefighting_share", series=True, **CALM)
    assert positive(fire), interval(fire)
    p = model.Params()
    selling = kpi("sacred", "selling_hours") / (p.salespeople * p.sales_hours)
    assert interval(selling)[0] > 0.5


def test_fact5_salesperson_view_reproduced():
    """Fact 5, the salesperson's view (reproduced): within a ``mixed`` plant the customers of
    relationship-style salespeople fare better, more so with chaos, and not in a sacred
    plant once complex deals (which upkeep wins) are set aside.

    Margin per customer-day, relationship minus transactional customers (20 seeds, 95%):
    mixed calm +9.5 [8.0, 11.1], chaotic +14.8 [12.9, 16.7], chaotic - calm +5.2
    [4.3, 6.2]; it comes from orders kept (lost-order share -0.24 chaotic: a promise keeps
    the order an honest long quote would lose), not from better delivery (on-time to need
    +0.03). Sacred plant, chaotic (16 seeds, 99%): +5.7 [3.7, 7.7] (complex wins only), and
    +0.66 [-0.93, 2.25] with ordinary deals only.
    """
    name = "style_margin_per_customer_day_diff"
    calm, chaos = kpi("mixed", name, **CALM), kpi("mixed", name, **CHAOS)
    assert positive(calm) and positive(chaos)
    assert positive(chaos - calm), interval(chaos - calm)
    assert negative(kpi("mixed", "style_lost_order_share_diff", **CHAOS))
    sacred = kpi("sacred_mixed", name, **CHAOS)
    assert positive(chaos - sacred)
    assert contains_zero(kpi("sacred_mixed", name, **CHAOS, **ORDINARY))


def test_fact5_firm_view_complexity_not_chaos():
    """Fact 5, the firm's view: relationship value = profit(relationship) -
    profit(transactional), paired by seed.

    Reproduced: negative in a calm plant with ordinary deals (20 seeds: -51 [-67, -35] at
    95%), and raised by complex deals (calm, complex_share 0.1: +262 [233, 292]; complex
    deals are worth 5x and won with probability 0.3 + 0.4 x relationship strength).
    Refuted: it does not rise with chaos. Chaotic minus calm is +9 [-13, 30] with ordinary
    deals and -12 [-38, 14] with complex ones: at the firm's level the contest for the
    schedule is roughly zero-sum (what relationship customers win, others lose), while the
    orders kept by promises cost late penalties and the relationship style's selling time.
    Not resolved: the value in a sacred plant (``sacred_relationship - sacred``) is not
    distinguishably smaller than in a breakable one at the same chaos (16 seeds, 99%;
    chaotic, ordinary deals: breakable minus sacred +20 [-29, 68]; calm -6 [-29, 17]).
    """
    calm0 = value("relationship", "transactional", **CALM, **ORDINARY)
    chaos0 = value("relationship", "transactional", **CHAOS, **ORDINARY)
    calm = value("relationship", "transactional", **CALM)
    assert negative(calm0), interval(calm0)
    assert positive(calm - calm0)
    assert positive(calm)
    # What the model does instead of rising with chaos: no detectable change.
    assert contains_zero(chaos0 - calm0), interval(chaos0 - calm0)
    sacred0 = value("sacred_relationship", "sacred", **CHAOS, **ORDINARY)
    assert contains_zero(chaos0 - sacred0), interval(chaos0 - sacred0)


def test_fact6_remedy_value_and_levers():
    """Fact 6: remedy value = profit(sacred) - profit(relationship), and its levers.

    Refuted at the default scenario: -218 [-286, -149] (16 seeds, 99%, shift triggered by
    the planned load), because the remedy also replaces relationship-style salespeople, who
    win complex deals (style alone: transactional - relationship = -260); operations alone
    (sacred_relationship - relationship) +7 [-44, 58]. Reproduced with ordinary deals: +87
    [35, 139], and +185 [133, 237] in a chaotic plant.

    Levers, each removed from ``sacred_relationship`` (chaotic plant, ordinary deals;
    contribution = with minus without; 16 seeds, 99%, shift triggered by the planned
    load): buffer release +79 [54, 104], overtime +31 [-2, 65] (not resolved, but not
    negative), second shift -30 [-58, -2] (8 h at regular cost with the planned load near
    the trigger: it costs more than it earns), discipline -3 [-26, 20] (buffer release,
    overtime and the shift absorb the salespeople's breaks). So not every lever
    contributes: the shift costs, discipline is about neutral. In the all-transactional
    ``sacred`` regime discipline changes nothing at all (nobody breaks the schedule),
    which the exact check below pins.
    """
    assert negative(value("sacred", "relationship"))
    assert positive(value("sacred", "relationship", **ORDINARY))
    assert positive(value("sacred", "relationship", **CHAOS, **ORDINARY))
    scenario = dict(CHAOS, **ORDINARY)
    full = kpi("sacred_relationship", "profit", **scenario)

    def contribution(lever: str) -> np.ndarray:
        return full - kpi("sacred_relationship", "profit", **scenario, **{lever: 0.0})

    assert positive(contribution("buffer_release"))
    assert not negative(contribution("overtime_max"))
    assert negative(contribution("shift_hours"))
    assert contains_zero(contribution("discipline")), interval(contribution("discipline"))
    # Exact: with transactional salespeople only, discipline has nothing to refuse.
    sacred = model.simulate(dict(model.REGIMES["sacred"], **scenario), 0)
    breakable = model.simulate(dict(model.REGIMES["sacred"], **scenario, discipline=0.0), 0)
    assert all(sacred[k] == breakable[k] or (math.isnan(sacred[k]) and math.isnan(breakable[k]))
               for k in sacred)


def test_styles_in_a_sacred_plant_relationship_strength_and_complex_wins():
    """What upkeep buys in ``sacred_mixed``, per customer group at the end of the run.

    Relationship strength of active customers: relationship style 0.739 vs transactional
    0.030 (8 seeds; upkeep of 0.7 of spare time against a decay of 0.5%/day). Complex bids
    won (measured window): 0.60 vs 0.35, as the bid rule gives (0.3 + 0.4 x strength:
    0.60 vs 0.31). Sign test: every seed goes the same way (p = 2**-8 one-sided).
    """
    from relsim.model import SalesModel
    from relsim.model.agents import LOST_BID

    warm = model.Params().warmup_days
    for seed in range(8):
        m = SalesModel(model.REGIMES["sacred_mixed"], seed=seed, series=False)
        m.run()
        style = np.array([m.salespeople[int(o)].style for o in m.owner])
        rel = [m.rel[m.is_active & (style == s)].mean() for s in (0, 1)]
        assert rel[0] > 0.6 and rel[1] < 0.1, rel
        bids = [[o.lost_to != LOST_BID for o in m.orders if o.complex and o.arrival >= warm
                 and m.salespeople[o.salesperson].style == s] for s in (0, 1)]
        assert np.mean(bids[0]) > np.mean(bids[1]), seed
