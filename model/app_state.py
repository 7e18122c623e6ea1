"""What the explorer reads from a running `SalesModel`: the one place that knows its state.

The explorer (`relsim.model.app`) draws only what these functions return, so a change of
the model's internals is absorbed here. Every attribute the model may or may not have
(the version-2 mechanisms: lost orders, a second shift, selling styles, per-customer
order rates) is read with ``getattr`` and a fallback, so the explorer works with the
model before and after they exist and shows a mechanism as soon as the model has it.

Nothing here imports Solara or matplotlib: the adapter is plain Python and numpy.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from relsim.model import agents
from relsim.model.agents import CHANNELS
from relsim.model.params import PARAMETER_SPECS, SPECS, ParamSpec

#: Parameters the explorer offers as sliders, in this order within their ODD group. Names
#: the model does not have (yet) are skipped, so version-2 parameters appear when they exist.
SLIDER_NAMES = (
    "days", "warmup_days",
    "utilization", "process_cv", "disruption_rate", "changeover_hours",
    "discipline", "buffer_release", "overtime_max", "shift_hours",
    "relationship_seller_share", "relationship_focus", "influence",
    "market_size", "complex_share", "pad_max",
)

#: First parameter of each group of the ODD's parameter table (the order of
#: `PARAMETER_SPECS`); a parameter belongs to the group of the last anchor before it.
GROUP_ANCHORS = {
    "days": "Run control",
    "customers": "Market",
    "capacity_hours": "Plant",
    "overtime_max": "Planner",
    "relationship_seller_share": "Salespeople",
    "sales_autonomy": "Salespeople",
    "trust_init": "Customers",
    "revenue_per_work_hour": "Money",
}

#: Slider ranges where a parameter's valid range is too wide for a slider (valid ranges
#: are still shown and enforced by `Params`); other wide ranges use the SA range.
UI_RANGES = {
    "days": (30, 3000),
    "warmup_days": (0, 1000),
    "customers": (5, 500),
    "market_size": (0, 1000),
}
#: A valid range wider than this is too wide for a slider.
WIDE = 1000.0

#: The explorer's defaults where they differ from the model's: KPIs are measured from
#: day 0 ("so far"), where `relsim run` skips a 180-day warm-up.
APP_DEFAULTS = {"warmup_days": 0}

#: Days of history behind "recent" figures (sales hours, customers' order rates).
RECENT_DAYS = 30

#: Series the vicious-cycle view draws, as (column, label, unit kind).
CYCLE_DAYS = (
    ("buffer", "buffer", "day"),
    ("quoted_lead_time", "quoted lead time", "day"),
    ("lead_time", "actual lead time", "day"),
)
CYCLE_SHARES = (
    ("otd_rolling", "on-time (20 d)"),
    ("trust_mean", "trust"),
    ("autonomy_mean", "autonomy"),
)
#: Lost orders per day, under the names the model may give the series (version 2).
LOST_COLUMNS = ("lost_orders", "orders_lost")

#: KPIs shown in the table, with a label; names the model does not return are skipped.
KPI_ROWS = (
    ("otd", "on-time vs promise"),
    ("otd_need", "on-time vs need"),
    ("lead_time_mean", "lead time (d)"),
    ("quoted_lead_time_mean", "quoted lead time (d)"),
    ("buffer_final", "buffer now (d)"),
    ("trust_mean", "trust"),
    ("expedite_rate", "expedite requests / order"),
    ("schedule_breaks_per_day", "schedule breaks / day"),
    ("overtime_hours", "overtime (h/day)"),
    ("capacity_hours_mean", "regular capacity incl. shift (h/day)"),
    ("lost_orders", "lost orders / day"),
    ("lost_order_share", "lost-order share"),
    ("late_penalty", "late penalties / day"),
    ("share_online", "share online"),
    ("share_field", "share field"),
    ("sales_firefighting_share", "sales firefighting share"),
    ("customers_active", "active customers"),
    ("churned", "churned"),
    ("profit", "profit / day"),
)


def slider_specs() -> list[tuple[str, list[ParamSpec]]]:
    """The slider parameters grouped as in the ODD's parameter table, groups in its order.

    Returns:
        A list of (group name, specs) with the specs in the order of `SLIDER_NAMES`.
    """
    groups: dict[str, str] = {}
    current = "Run control"
    for spec in PARAMETER_SPECS:
        current = getattr(spec, "group", None) or GROUP_ANCHORS.get(spec.name, current)
        groups[spec.name] = current
    order: list[str] = []
    for spec in PARAMETER_SPECS:
        if groups[spec.name] not in order:
            order.append(groups[spec.name])
    chosen: dict[str, list[ParamSpec]] = {g: [] for g in order}
    for name in SLIDER_NAMES:
        if name in SPECS:
            chosen[groups[name]].append(SPECS[name])
    return [(g, specs) for g, specs in chosen.items() if specs]


def slider_range(spec: ParamSpec) -> tuple[float, float, float]:
    """(min, max, step) of the slider of a parameter, inside its valid range."""
    lo, hi = spec.low, spec.high
    if spec.name in UI_RANGES:
        lo, hi = UI_RANGES[spec.name]
    elif hi - lo > WIDE:
        lo, hi = spec.sa_range or (lo, lo + WIDE)
    lo, hi = max(lo, spec.low), min(hi, spec.high)
    if spec.kind is int:
        return lo, hi, max(1, int(round((hi - lo) / 200)))
    span = hi - lo
    step = 10 ** math.floor(math.log10(span / 100)) if span > 0 else 0.01
    return lo, hi, step


def default_value(name: str) -> float:
    """The explorer's starting value of a parameter (the model's default unless noted)."""
    return APP_DEFAULTS.get(name, SPECS[name].default)


# --------------------------------------------------------------------------- per day
@dataclass
class History:
    """What the explorer records of a run after each step (the model keeps no such log).

    Attributes:
        hours: Per day, each salesperson's hours by activity (a list of dicts).
    """

    hours: deque = field(default_factory=lambda: deque(maxlen=RECENT_DAYS))

    def record(self, m: Any) -> None:
        """Store today's figures of model ``m`` (call after each step)."""
        self.hours.append([dict(sp.hours) for sp in m.salespeople])


def day(m: Any) -> int:
    """Days simulated so far."""
    return int(getattr(m, "day_index", getattr(m, "steps", 0)))


def activities(m: Any) -> tuple[str, ...]:
    """Salespeople's activities, in the model's order."""
    sps = m.salespeople
    acts = getattr(type(sps[0]), "ACTIVITIES", None) if sps else None
    return tuple(acts or (sps[0].hours if sps else ()))


def style_of(sp: Any) -> str | None:
    """A salesperson's selling style, or None when the model has no styles."""
    style = getattr(sp, "style", None)
    if style is None:
        return None
    if isinstance(style, int) and not isinstance(style, bool):  # an index into STYLES
        names = getattr(agents, "STYLES", ("relationship", "transactional"))
        return names[style] if 0 <= style < len(names) else str(style)
    return str(getattr(style, "name", style)).lower()


# --------------------------------------------------------------------------- schedule
@dataclass
class ScheduleRow:
    """One open order as the schedule view draws it (times in days)."""

    uid: int
    position: int
    channel: str
    start: float
    finish: float
    promised: float
    buffer: float
    protected: bool
    expedited: bool
    in_process: bool
    urgent: bool
    complex: bool


def capacity_today(m: Any) -> dict[str, float]:
    """Today's plant capacity in hours: regular, extra shift, overtime, disruption loss."""
    p = m.p
    plant, planner = m.plant, m.planner
    regular = float(p.capacity_hours)
    shift = 0.0
    with_shift = getattr(m, "regular_hours", None)  # regular hours incl. a second shift
    if isinstance(with_shift, int | float) and not isinstance(with_shift, bool):
        shift = max(float(with_shift) - regular, 0.0)
    elif getattr(m, "shift_on", getattr(planner, "shift_on", False)) is True:
        shift = float(getattr(p, "shift_hours", 0.0))
    overtime = float(getattr(planner, "overtime", 0.0))
    loss = float(getattr(plant, "disrupted", 0.0)) * (regular + shift)
    rate = float(getattr(plant, "rate", regular + shift + overtime - loss))
    return {"regular": regular, "shift": shift, "overtime": overtime, "disruption": loss,
            "rate": rate}


def schedule_rows(m: Any, limit: int = 40) -> tuple[list[ScheduleRow], int]:
    """The planner's open orders in sequence, forward-loaded at today's capacity.

    Planned start and finish use the planned work still to do (what the planner knows)
    at today's processing rate.

    Returns:
        The first ``limit`` orders and the number of open orders in all.
    """
    sched = list(m.planner.schedule)
    rate = capacity_today(m)["rate"]
    if rate <= 0:
        rate = float(m.p.capacity_hours)
    now = float(getattr(m, "now", day(m)))
    cum = 0.0
    rows = []
    for i, o in enumerate(sched[:limit]):
        planned = o.work * (o.remaining / o.total) if o.total > 0 else 0.0
        start = now + cum / rate
        cum += planned
        promised = float(o.promised_date)
        quote = float(getattr(o, "quote_date", math.nan))
        rows.append(ScheduleRow(
            uid=int(o.uid), position=i, channel=CHANNELS[o.channel], start=start,
            finish=now + cum / rate, promised=promised, buffer=float(getattr(o, "buffer", 0.0)),
            protected=bool(promised == quote), expedited=bool(getattr(o, "expedited", False)),
            in_process=bool(i == 0 and o.remaining < o.total), urgent=bool(o.urgent),
            complex=bool(o.complex),
        ))
    return rows, len(sched)


# --------------------------------------------------------------------------- series
def series(m: Any) -> dict[str, np.ndarray]:
    """The daily series collected so far, as numpy arrays by column."""
    dc = getattr(m, "datacollector", None)
    if dc is None:
        return {}
    return {k: np.asarray(v, dtype=float) for k, v in dc.model_vars.items()}


def rolling(x: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over ``window`` days, ignoring NaN (NaN where a window has none)."""
    if x.size == 0:
        return x
    ok = ~np.isnan(x)
    c = np.concatenate([[0.0], np.cumsum(np.where(ok, x, 0.0))])
    n = np.concatenate([[0], np.cumsum(ok)])
    idx = np.arange(1, x.size + 1)
    lo = np.maximum(idx - window, 0)
    count = n[idx] - n[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, (c[idx] - c[lo]) / np.maximum(count, 1), np.nan)


def lost_orders(s: dict[str, np.ndarray]) -> np.ndarray | None:
    """Lost orders per day when the model records them, else None."""
    for name in LOST_COLUMNS:
        if name in s:
            return s[name]
    return None


def channel_shares(s: dict[str, np.ndarray], window: int = 20) -> dict[str, np.ndarray]:
    """Share of orders by channel over a trailing window of days."""
    counts = {c: s.get(f"orders_{c}", np.zeros(0)) for c in CHANNELS}
    n = len(next(iter(counts.values()))) if counts else 0
    if n == 0:
        return {c: np.zeros(0) for c in CHANNELS}
    sums = {c: rolling(v, window) for c, v in counts.items()}
    total = sum(sums.values())
    with np.errstate(invalid="ignore", divide="ignore"):
        return {c: np.where(total > 0, v / total, np.nan) for c, v in sums.items()}


# --------------------------------------------------------------------------- people
@dataclass
class SalespersonRow:
    """A salesperson as the sales view draws it."""

    idx: int
    style: str | None
    influence: float
    autonomy: float
    hours: dict[str, float]
    customers: int
    trust: float
    relationship: float
    churned: int


def _customer_arrays(m: Any) -> dict[str, np.ndarray]:
    """Trust, relationship, active flag, salesperson and "has been a customer" of every slot.

    Read from the model's arrays when it keeps them, else from the agents. A slot that has
    never been a customer (a prospect of a bounded market) has ``seen`` False.
    """
    cs = m.customer_list
    n = len(cs)
    if all(hasattr(m, a) for a in ("trust", "rel", "is_active", "owner")):
        active = np.asarray(m.is_active[:n], dtype=bool)
        seen = np.asarray(m.seen[:n], dtype=bool) | active if hasattr(m, "seen") \
            else np.ones(n, dtype=bool)
        return {"trust": np.asarray(m.trust[:n], dtype=float),
                "relationship": np.asarray(m.rel[:n], dtype=float),
                "active": active, "owner": np.asarray(m.owner[:n], dtype=int), "seen": seen}
    here = [c is not None for c in cs]
    return {"trust": np.array([float(c.trust) if c else np.nan for c in cs]),
            "relationship": np.array([float(c.relationship) if c else np.nan for c in cs]),
            "active": np.array([bool(c and getattr(c, "active", True)) for c in cs], dtype=bool),
            "owner": np.array([int(c.salesperson.idx) if c else -1 for c in cs], dtype=int),
            "seen": np.array(here, dtype=bool)}


def salespeople(m: Any, history: History) -> list[SalespersonRow]:
    """Each salesperson: mean daily hours by activity over the recent days, and customers."""
    acts = activities(m)
    arrays = _customer_arrays(m)
    owner, active, seen = arrays["owner"], arrays["active"], arrays["seen"]
    trust, rel = arrays["trust"], arrays["relationship"]
    days = list(history.hours)
    rows = []
    for sp in m.salespeople:
        mine = owner == sp.idx
        act = mine & active
        hours = {a: (float(np.mean([d[sp.idx].get(a, 0.0) for d in days])) if days else 0.0)
                 for a in acts}
        rows.append(SalespersonRow(
            idx=int(sp.idx), style=style_of(sp), influence=float(sp.influence),
            autonomy=float(sp.autonomy), hours=hours, customers=int(act.sum()),
            trust=float(trust[act].mean()) if act.any() else math.nan,
            relationship=float(rel[act].mean()) if act.any() else math.nan,
            churned=int((mine & ~active & seen).sum()),
        ))
    return rows


def customers(m: Any) -> dict[str, np.ndarray]:
    """Every customer so far: trust, relationship, active, owner and orders per 30 days.

    Slots that have never been customers (prospects) are left out.

    The order rate is the customer's own expected rate when the model gives one, else the
    orders it placed over the last `RECENT_DAYS` days (per 30 days).
    """
    n = len(m.customer_list)
    rate = np.zeros(n)
    own = [getattr(c, "order_rate", getattr(c, "rate", None)) for c in m.customer_list]
    if n and all(isinstance(r, int | float) and not isinstance(r, bool) for r in own):
        rate = np.asarray(own, dtype=float) * 30.0
    else:
        now = float(getattr(m, "now", day(m)))
        since = now - RECENT_DAYS
        for o in reversed(m.orders):
            if o.arrival < since:
                break
            rate[o.customer] += 1.0
        rate *= 30.0 / max(min(now, RECENT_DAYS), 1.0)
    arrays = {**_customer_arrays(m), "rate": rate}
    keep = arrays.pop("seen")
    return {k: v[keep] for k, v in arrays.items()}


# --------------------------------------------------------------------------- KPIs
def kpis(m: Any) -> dict[str, float]:
    """The run's KPIs so far (after `warmup_days`), those of `KPI_ROWS` the model returns."""
    if day(m) <= int(m.p.warmup_days):
        return {}
    try:
        values = m.kpis()
    except (ValueError, ZeroDivisionError, IndexError):
        return {}
    return {k: float(values[k]) for k, _ in KPI_ROWS if k in values}
