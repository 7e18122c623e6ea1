"""Run KPIs: measured over the days after warm-up, from the run's order records.

Order-level KPIs use the orders *delivered* inside the measurement window
[warmup_days, days); flow KPIs (shares, padding, quotes, expedites) use the orders
*placed* inside it. Money and hours are per measured day. See docs/ODD.md, "Observation".
"""

from __future__ import annotations

import math
from operator import attrgetter
from typing import TYPE_CHECKING

import numpy as np
from relsim.model.agents import LOST_DATE, SALES, STYLES

if TYPE_CHECKING:  # pragma: no cover
    from relsim.model.model import SalesModel

#: Names of the KPIs, in the order they are returned.
KPI_NAMES = (
    "otd", "otd_need", "otd_request", "lead_time_mean", "lead_time_p90",
    "quoted_lead_time_mean", "wip_mean", "throughput", "buffer_final", "trust_mean",
    "relationship_mean", "padding_mean", "expedite_rate", "schedule_breaks_per_day",
    "changeover_hours", "overtime_hours", "share_online", "share_support", "share_sales",
    "share_field", "sales_firefighting_share", "selling_hours", "customers_active", "churned",
    "acquired", "complex_win_rate", "autonomy_final", "revenue", "cost", "profit",
    "personal_channel_premium",
    # Version 2 (MODEL.md "New outputs").
    "lost_orders", "lost_order_share", "lost_margin", "lateness_need_mean", "late_penalty",
    "trust_mean_all", "customers_active_mean", "prospects_final", "capacity_hours_mean",
)

#: Unit of each KPI (docs/ODD.md, "Outputs"): shown by `relsim run`, checked against
#: the ODD table by the tests. "share" is a proportion in [0, 1].
OUTPUT_UNITS: dict[str, str] = {
    "otd": "share",
    "otd_need": "share",
    "otd_request": "share",
    "lead_time_mean": "day",
    "lead_time_p90": "day",
    "quoted_lead_time_mean": "day",
    "wip_mean": "orders",
    "throughput": "orders/day",
    "buffer_final": "day",
    "trust_mean": "share",
    "relationship_mean": "share",
    "padding_mean": "share",
    "expedite_rate": "share",
    "schedule_breaks_per_day": "1/day",
    "changeover_hours": "h/day",
    "overtime_hours": "h/day",
    "share_online": "share",
    "share_support": "share",
    "share_sales": "share",
    "share_field": "share",
    "sales_firefighting_share": "share",
    "selling_hours": "h/day",
    "customers_active": "customers",
    "churned": "customers",
    "acquired": "customers",
    "complex_win_rate": "share",
    "autonomy_final": "share",
    "revenue": "money/day",
    "cost": "money/day",
    "profit": "money/day",
    "personal_channel_premium": "share",
    "lost_orders": "orders/day",
    "lost_order_share": "share",
    "lost_margin": "money/day",
    "lateness_need_mean": "day",
    "late_penalty": "money/day",
    "trust_mean_all": "share",
    "customers_active_mean": "customers",
    "prospects_final": "customers",
    "capacity_hours_mean": "h/day",
}

#: Figures compared between the customers of the two selling styles within a run.
STYLE_KPIS = ("margin_per_customer_day", "otd_need", "lost_order_share", "churn_rate")
#: ``style_<kpi>_relationship``, ``style_<kpi>_transactional`` and ``style_<kpi>_diff``
#: (relationship minus transactional; NaN unless both styles have customers).
STYLE_KPI_NAMES = tuple(
    f"style_{k}_{suffix}" for k in STYLE_KPIS for suffix in (*STYLES, "diff")
)
KPI_NAMES = KPI_NAMES + STYLE_KPI_NAMES
_STYLE_UNITS = {"margin_per_customer_day": "money/(customer·day)", "otd_need": "share",
                "lost_order_share": "share", "churn_rate": "1/(1000 customer·day)"}
OUTPUT_UNITS.update({name: _STYLE_UNITS[k] for k in STYLE_KPIS
                     for name in STYLE_KPI_NAMES if name.startswith(f"style_{k}_")})

#: Outputs that are NaN *by definition* in some runs, not by failure: a figure of a selling
#: style without customers (or its difference), prospects of an unbounded market, the
#: autonomy of relationship-style salespeople where there are none, the complex-deal win
#: rate without complex deals, and the personal-channel premium without orders in both
#: channel groups. The sweep runner stores a run whose other outputs are not finite as
#: ``invalid``; NaN in these is a documented "undefined".
UNDEFINED_OUTPUTS = frozenset({
    *STYLE_KPI_NAMES, "prospects_final", "autonomy_final", "complex_win_rate",
    "personal_channel_premium",
})

#: The 90th percentile of lead time.
P90 = 90.0


def _safe_mean(x: np.ndarray) -> float:
    return float(x.mean()) if x.size else math.nan


#: Order-table columns: (Order attribute, dtype).
ORDER_COLUMNS = {
    "arrival": ("arrival", float),
    "finish": ("finish", float),
    "promised": ("promised_date", float),
    "requested": ("requested_date", float),
    "need": ("need_date", float),
    "quote": ("quote_date", float),
    "channel": ("channel", np.int64),
    "lost": ("lost", bool),
    "lost_to": ("lost_to", np.int64),
    "salesperson": ("salesperson", np.int64),
    "complex": ("complex", bool),
    "expedite": ("expedite", bool),
    "work": ("work", float),
    "padding": ("padding", float),
}


def order_table(m: SalesModel) -> dict[str, np.ndarray]:
    """Columns of all orders of the run as numpy arrays (open orders have finish NaN)."""
    orders = m.orders
    return {col: np.fromiter(map(attrgetter(attr), orders), dtype=dtype, count=len(orders))
            for col, (attr, dtype) in ORDER_COLUMNS.items()}


def compute_kpis(m: SalesModel) -> dict[str, float]:
    """The KPIs of a finished (or partly run) model."""
    p = m.p
    start = float(p.warmup_days)
    end = float(m.day_index)
    span = max(end - start, 1e-12)
    t = m.totals
    days = max(t.days, 1)
    o = order_table(m)
    arrival, finish, lost = o["arrival"], o["finish"], o["lost"]
    delivered = ~lost & ~np.isnan(finish)
    win = delivered & (finish >= start)
    lt = finish[win] - arrival[win]
    placed = arrival >= start
    quoted = placed & ~np.isnan(o["quote"])
    # Time-average WIP, integrated by the plant over the window (orders in the system).
    wip_mean = float(m.plant.wip_area / span)
    entered = ~np.isnan(o["quote"])  # lost complex deals never get a quote
    ch = o["channel"][placed]
    n_placed = max(ch.size, 1)
    shares = [float((ch == c).sum() / n_placed) if ch.size else math.nan for c in range(4)]
    # The personal channels (agents.PERSONAL) are sales and field, the last two: a
    # comparison instead of np.isin (which costs 0.3-0.5 ms per run, sorting).
    personal = o["channel"] >= SALES
    met = finish <= o["requested"]
    prem = math.nan
    if (win & personal).any() and (win & ~personal).any():
        prem = float(met[win & personal].mean() - met[win & ~personal].mean())
    cx = placed & o["complex"]
    complex_win = float(entered[cx].mean()) if cx.any() else math.nan
    n_sales = p.salespeople * days * p.sales_hours
    fire = t.hours["lobbying"] + t.hours["apologising"]
    revenue = t.revenue / days
    cost = t.cost / days
    n_active = len(m.active_ids)
    lost_date = placed & (o["lost_to"] == LOST_DATE)
    lateness = np.maximum(finish[win] - o["need"][win], 0.0)
    n_seen = int(m.seen.sum())
    kpis = {
        "otd": _safe_mean(finish[win] <= o["promised"][win]),
        "otd_need": _safe_mean(finish[win] <= o["need"][win]),
        "otd_request": _safe_mean(met[win]),
        "lead_time_mean": _safe_mean(lt),
        "lead_time_p90": float(np.percentile(lt, P90)) if lt.size else math.nan,
        "quoted_lead_time_mean": _safe_mean(o["quote"][quoted] - arrival[quoted]),
        "wip_mean": wip_mean,
        "throughput": float(win.sum() / span),
        "buffer_final": float(m.planner.buffer),
        "trust_mean": t.trust_sum / days,
        "relationship_mean": t.rel_sum / days,
        "padding_mean": _safe_mean(o["padding"][placed]),
        "expedite_rate": float(t.expedite_requests / n_placed),
        "schedule_breaks_per_day": t.schedule_breaks / days,
        "changeover_hours": t.changeover_hours / days,
        "overtime_hours": t.overtime_hours / days,
        "share_online": shares[0],
        "share_support": shares[1],
        "share_sales": shares[2],
        "share_field": shares[3],
        "sales_firefighting_share": fire / n_sales if n_sales > 0 else math.nan,
        "selling_hours": t.hours["selling"] / days,
        "customers_active": float(n_active),
        "churned": float(t.churned),
        "acquired": float(t.acquired),
        "complex_win_rate": complex_win,
        "autonomy_final": _safe_mean(np.array([sp.autonomy for sp in m.salespeople
                                               if sp.relational])),
        "revenue": revenue,
        "cost": cost,
        "profit": revenue - cost,
        "personal_channel_premium": prem,
        "lost_orders": float(lost_date.sum() / days),
        "lost_order_share": _safe_mean(lost_date[entered & placed]),
        "lost_margin": t.lost_margin / days,
        "lateness_need_mean": _safe_mean(lateness),
        "late_penalty": t.late_penalty / days,
        "trust_mean_all": float(m.trust[m.seen].mean()) if n_seen else math.nan,
        "customers_active_mean": t.customers_active / days,
        "prospects_final": float(m.prospects) if m.bounded else math.nan,
        "capacity_hours_mean": t.capacity_hours / days,
    }
    kpis.update(style_kpis(m, o, win, placed, entered))
    return kpis


def style_kpis(m: SalesModel, o: dict[str, np.ndarray], win: np.ndarray,
               placed: np.ndarray, entered: np.ndarray) -> dict[str, float]:
    """The salesperson's view: the customers of each selling style, within one run.

    Margin per customer-day is the throughput of the style's delivered orders less their
    cost to serve (channel) and late penalties, per customer-day of the style's customers
    (plant costs are shared and left out). ``churn_rate`` is defections per 1,000
    customer-days. Each figure is NaN for a style without customers; the difference is
    relationship minus transactional.
    """
    p = m.p
    style_of = np.array([sp.style for sp in m.salespeople], dtype=np.int64)
    style = style_of[o["salesperson"]]
    value = np.where(o["complex"], p.complex_value_mult, 1.0) * o["work"] \
        * p.revenue_per_work_hour
    late_days = np.maximum(o["finish"] - o["promised"], 0.0)
    penalty = np.where(win, p.late_penalty_per_day * np.nan_to_num(late_days), 0.0)
    channel_cost = np.asarray(m.channel_cost)[o["channel"]]
    met = o["finish"] <= o["need"]
    lost_date = o["lost_to"] == LOST_DATE
    t = m.totals
    out: dict[str, float] = {}
    per_style: dict[str, list[float]] = {k: [] for k in STYLE_KPIS}
    for s, name in enumerate(STYLES):
        mine = style == s
        cdays = t.customer_days_style[s]
        if cdays <= 0:
            figures = dict.fromkeys(STYLE_KPIS, math.nan)
        else:
            margin = (value[win & mine].sum() - channel_cost[placed & mine].sum()
                      - penalty[mine].sum())
            figures = {
                "margin_per_customer_day": float(margin / cdays),
                "otd_need": _safe_mean(met[win & mine]),
                "lost_order_share": _safe_mean(lost_date[entered & placed & mine]),
                "churn_rate": 1000.0 * t.churned_style[s] / cdays,
            }
        for k, v in figures.items():
            out[f"style_{k}_{name}"] = v
            per_style[k].append(v)
    for k, (rel, trans) in per_style.items():
        out[f"style_{k}_diff"] = rel - trans
    return out
