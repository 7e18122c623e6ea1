"""The parameter set of the relsim model: names, defaults, units, valid ranges, meaning.

`PARAMETER_SPECS` is the single source of truth for every parameter: the model reads its
values from `Params`, the experiment runner validates factor names and bounds against it,
and `docs/ODD.md`'s parameter table is tested against it.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ParamSpec:
    """Metadata of one model parameter.

    Attributes:
        name: Parameter name (part of the public interface).
        default: Default value.
        low: Smallest valid value (inclusive).
        high: Largest valid value (inclusive).
        unit: Unit, "–" for dimensionless.
        meaning: One line of meaning (shown in the ODD parameter table).
        sa_range: Range used in sensitivity analyses (MODEL.md), or None if not varied.
        kind: ``float`` or ``int``.
    """

    name: str
    default: float
    low: float
    high: float
    unit: str
    meaning: str
    sa_range: tuple[float, float] | None = None
    kind: type = float


def _p(name, default, low, high, unit, meaning, sa=None, kind=float) -> ParamSpec:
    return ParamSpec(name, default, low, high, unit, meaning, sa, kind)


INF = math.inf

#: Every parameter, grouped as in the ODD document.
PARAMETER_SPECS: tuple[ParamSpec, ...] = (
    # --- run control
    _p("days", 720, 1, 10_000_000, "day", "simulated working days", kind=int),
    _p("warmup_days", 180, 0, 10_000_000, "day", "days excluded from KPIs", kind=int),
    # --- market
    _p("customers", 60, 1, 1_000_000, "customer", "initial customers", kind=int),
    _p("salespeople", 4, 1, 10_000, "person", "salespeople", kind=int),
    # --- plant
    _p("capacity_hours", 16.0, 0.1, 1e6, "h/day", "regular plant hours per day"),
    _p("utilization", 0.85, 0.01, 0.99, "–",
       "expected offered work / regular capacity (sets the total order rate)", (0.5, 0.97)),
    _p("work_mean_hours", 8.0, 0.01, 1e6, "h", "mean work content of an order"),
    _p("work_cv", 0.5, 0.0, 3.0, "–", "CV of work content between orders (lognormal)", (0.0, 1.5)),
    _p("process_cv", 0.3, 0.0, 3.0, "–",
       "CV of actual vs planned work (execution noise, lognormal)", (0.0, 1.0)),
    _p("disruption_rate", 0.02, 0.0, 1.0, "1/day", "daily probability of a disruption",
       (0.0, 0.2)),
    _p("disruption_severity", 0.5, 0.0, 1.0, "–",
       "mean share of a day's capacity lost in a disruption", (0.0, 1.0)),
    _p("changeover_hours", 1.0, 0.0, 100.0, "h", "capacity lost per preemption", (0.0, 4.0)),
    _p("preemption_prob", 1.0, 0.0, 1.0, "–",
       "probability that an order put ahead of the order in process preempts it"),
    # --- planner
    _p("overtime_max", 0.25, 0.0, 1.0, "–",
       "extra capacity (share of regular hours) the planner may add as overtime, whatever the "
       "discipline (lever of the remedy; 0 = none)", (0.0, 1.0)),
    _p("shift_hours", 0.0, 0.0, 1e6, "h/day",
       "regular hours of a second shift added under sustained load (lever of the remedy; "
       "0 = no shift)", (0.0, 16.0)),
    _p("shift_trigger", 1.0, 0.01, 10.0, "–",
       "planned load (work accepted into the schedule per day) / regular capacity without "
       "the shift, above which the shift is added"),
    _p("shift_review_days", 20, 1, 10_000, "day",
       "period over which the load must stay above (below) the trigger to add (remove) "
       "the shift", kind=int),
    _p("buffer_days", 2.0, 0.0, 1000.0, "day", "initial safety buffer", (0.0, 10.0)),
    _p("buffer_target_otd", 0.95, 0.0, 1.0, "–", "on-time target of the planner"),
    _p("rush_buffer_share", 0.5, 0.0, 1.0, "–",
       "share of the buffer a re-planned rush order must keep (simplified DBR safe date)"),
    _p("buffer_release", 0.0, 0.0, 1.0, "–",
       "weight of TOC buffer release: the buffer shrinks when orders use only its green "
       "third (lever of the remedy; 0 = ratchet only)", (0.0, 1.0)),
    _p("buffer_gain", 0.5, 0.0, 100.0, "day", "buffer change per review per unit OTD gap",
       (0.0, 2.0)),
    _p("buffer_review_days", 5, 1, 10_000, "day", "days between buffer reviews", kind=int),
    _p("otd_window_days", 20, 1, 10_000, "day",
       "window of deliveries behind the planner's recent on-time rate", kind=int),
    _p("discipline", 0.0, 0.0, 1.0, "–",
       "probability a schedule break (insertion, lobbying) is refused and the order "
       "re-planned (lever of the remedy; regime)", (0.0, 1.0)),
    # --- salespeople
    _p("relationship_seller_share", 1.0, 0.0, 1.0, "–",
       "share of salespeople with the relationship style (promise, insert, lobby, upkeep); "
       "the others are transactional (regime)", (0.0, 1.0)),
    _p("sales_autonomy", 0.5, 0.0, 1.0, "–",
       "initial autonomy: probability of promising without the planner", (0.0, 1.0)),
    _p("autonomy_drift", 0.05, 0.0, 1.0, "–",
       "step of autonomy toward 1 per expedite the planner's quote cannot meet", (0.0, 0.5)),
    _p("autonomy_recovery", 0.2, 0.0, 10.0, "–",
       "fall-back step of autonomy, relative to the drift, per acceptable quote"),
    _p("influence", 0.5, 0.0, 1.0, "–", "mean salesperson clout (share of queue jumped)",
       (0.0, 1.0)),
    _p("influence_spread", 0.1, 0.0, 0.5, "–",
       "half-width of the uniform spread of clout between salespeople"),
    _p("relationship_focus", 0.7, 0.0, 1.0, "–",
       "share of spare sales time spent on relationship upkeep (regime)", (0.0, 1.0)),
    _p("sales_hours", 8.0, 0.0, 24.0, "h/day", "working hours of a salesperson per day"),
    _p("handling_hours_sales", 0.5, 0.0, 24.0, "h", "salesperson time per order via sales"),
    _p("handling_hours_field", 2.0, 0.0, 24.0, "h", "salesperson time per order via field"),
    _p("lobby_hours", 0.5, 0.0, 24.0, "h",
       "time to use influence once: insert an order or lobby for its priority"),
    _p("apology_hours", 0.25, 0.0, 24.0, "h", "time to apologise once to a customer"),
    _p("upkeep_gain", 0.05, 0.0, 10.0, "1/h",
       "relationship gain per upkeep hour spent on one customer"),
    _p("apology_boost", 0.1, 0.0, 1.0, "–",
       "relationship gain (share of the gap to 1) when a salesperson fights for an order",
       (0.0, 0.5)),
    _p("relationship_decay", 0.005, 0.0, 1.0, "1/day", "daily decay of relationship strength"),
    _p("relationship_init", 0.3, 0.0, 1.0, "–", "initial relationship strength"),
    _p("relationship_loyalty", 0.5, 0.0, 1.0, "–",
       "how much relationship strength cushions low trust", (0.0, 1.0)),
    _p("relationship_pull", 0.15, 0.0, 10.0, "utility",
       "channel-utility bonus per unit relationship (sales; field twice)"),
    # --- customers
    _p("trust_init", 0.8, 0.0, 1.0, "–", "initial trust"),
    _p("trust_memory", 0.2, 0.0, 1.0, "–", "smoothing weight of the newest delivery",
       (0.02, 0.5)),
    _p("trust_need_weight", 0.5, 0.0, 1.0, "–",
       "weight of need met (vs promise kept) in what trust learns from a delivery "
       "(0 = promise only, version 1)", (0.0, 1.0)),
    _p("lost_order_sensitivity", 1.0, 0.0, 1000.0, "–",
       "how fast an order goes to a competitor as the offered lead time exceeds the need: "
       "P(lost) = 1 - exp(-s * excess / need), cushioned by relationship (0 = never lost)",
       (0.0, 3.0)),
    _p("pad_max", 0.5, 0.0, 0.99, "–", "maximal padding of requested lead time", (0.0, 0.9)),
    _p("need_lt_mean", 6.0, 0.01, 1e9, "day", "mean true needed lead time"),
    _p("need_lt_cv", 0.5, 0.0, 3.0, "–", "CV of the needed lead time (lognormal)"),
    _p("urgent_share", 0.1, 0.0, 1.0, "–", "share of genuinely urgent orders", (0.0, 0.5)),
    _p("urgent_lt_factor", 0.3, 0.0, 1.0, "–", "needed lead time of an urgent order, relative"),
    _p("complex_share", 0.1, 0.0, 1.0, "–", "share of complex deals", (0.0, 0.6)),
    _p("complex_value_mult", 5.0, 0.0, 1000.0, "–", "value of a complex deal vs routine"),
    _p("complex_win_base", 0.3, 0.0, 1.0, "–", "win probability with no relationship"),
    _p("complex_win_gain", 0.4, 0.0, 1.0, "–", "extra win probability per unit relationship",
       (0.0, 0.7)),
    _p("churn_trust", 0.4, 0.0, 1.0, "–", "loyalty below which customers defect", (0.0, 0.8)),
    _p("churn_hazard_max", 0.02, 0.0, 1.0, "1/day", "daily defection hazard at zero loyalty"),
    _p("churn_base", 0.007, 0.0, 1.0, "1/day",
       "daily defection hazard for other reasons (competitors' offers) at zero loyalty"),
    _p("channel_temperature", 0.05, 0.001, 10.0, "utility", "noise of channel choice (logit)",
       (0.01, 0.5)),
    _p("effort_support", 0.05, 0.0, 10.0, "utility", "customer effort of the support channel"),
    _p("effort_sales", 0.15, 0.0, 10.0, "utility", "customer effort of the sales channel"),
    _p("effort_field", 0.3, 0.0, 10.0, "utility", "customer effort of the field channel"),
    _p("acquisition_per_selling_hour", 0.002, 0.0, 1.0, "customer/h",
       "new customers per selling hour (unbounded market, market_size = 0)", (0.0, 0.01)),
    _p("market_size", 72, 0, 10_000_000, "customer",
       "potential customers: active plus prospects (bounded market; 0 = unbounded, "
       "version 1)", kind=int),
    _p("market_conversion", 0.1, 0.0, 1000.0, "customer/h",
       "customers won per selling hour when the whole market is prospects and the "
       "delivery reputation is perfect (bounded market)", (0.02, 0.3)),
    _p("reputation_days", 60.0, 1.0, 1e6, "day",
       "memory of the market's delivery reputation (share of orders delivered to need)"),
    _p("crn_per_customer", 1, 0, 1, "–",
       "1: each customer's orders come from its own random stream (pairs stay paired); "
       "0: one demand stream matched to customers by list position (version 1)", kind=int),
    # --- money
    _p("revenue_per_work_hour", 150.0, 0.0, 1e9, "money/h",
       "throughput (price less truly variable cost) per hour of routine work"),
    _p("capacity_cost_per_hour", 50.0, 0.0, 1e9, "money/h", "cost of a regular plant hour"),
    _p("overtime_cost_per_hour", 75.0, 0.0, 1e9, "money/h", "cost of an overtime hour"),
    _p("cost_online", 2.0, 0.0, 1e9, "money/order", "cost to serve an order online"),
    _p("cost_support", 10.0, 0.0, 1e9, "money/order", "cost to serve an order via support"),
    _p("cost_sales", 40.0, 0.0, 1e9, "money/order", "cost to serve an order via sales"),
    _p("cost_field", 150.0, 0.0, 1e9, "money/order", "cost to serve an order via field sales"),
    _p("late_penalty_per_day", 12.0, 0.0, 1e9, "money/(order·day)",
       "price of lateness: paid per order per day delivered after its promise "
       "(accounting only; 0 = free)", (0.0, 50.0)),
)

SPECS: dict[str, ParamSpec] = {s.name: s for s in PARAMETER_SPECS}


def _check(spec: ParamSpec, value: Any) -> float | int:
    """Coerce and range-check one value; raise ValueError naming the parameter."""
    if isinstance(value, bool):
        raise ValueError(f"parameter '{spec.name}' must be a number, got {value!r}")
    if not isinstance(value, int | float):
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ValueError(
                f"parameter '{spec.name}' must be a number, got {value!r} "
                f"(valid range {spec.low:g} to {spec.high:g} {spec.unit})"
            ) from None
    if not math.isfinite(value):
        raise ValueError(
            f"parameter '{spec.name}' = {value!r} is out of range: valid range is "
            f"{spec.low:g} to {spec.high:g} ({spec.unit}; {spec.meaning})"
        )
    if spec.kind is int:
        if float(value) != int(value):
            raise ValueError(
                f"parameter '{spec.name}' must be a whole number, got {value!r} "
                f"(valid range {spec.low:g} to {spec.high:g})"
            )
        value = int(value)
    else:
        value = float(value)
    if not (math.isfinite(value) and spec.low <= value <= spec.high):
        raise ValueError(
            f"parameter '{spec.name}' = {value!r} is out of range: valid range is "
            f"{spec.low:g} to {spec.high:g} ({spec.unit}; {spec.meaning})"
        )
    return value


def unknown_name_error(name: str) -> ValueError:
    """A ValueError for an unknown parameter name, listing close matches."""
    close = difflib.get_close_matches(name, list(SPECS), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return ValueError(
        f"unknown parameter '{name}'{hint} (see docs/ODD.md for the {len(SPECS)} parameters)"
    )


class _ParamsMethods:
    """Behaviour of `Params` (the fields are generated from `PARAMETER_SPECS`)."""

    __slots__ = ()

    def __post_init__(self) -> None:
        for spec in PARAMETER_SPECS:
            object.__setattr__(self, spec.name, _check(spec, getattr(self, spec.name)))
        if self.market_size and self.market_size < self.customers:
            raise ValueError(
                f"parameter 'market_size' = {self.market_size} must be 0 (unbounded market) "
                f"or at least 'customers' = {self.customers} (the initial active customers "
                "are part of the market)"
            )
        if self.warmup_days >= self.days:
            raise ValueError(
                f"parameter 'warmup_days' = {self.warmup_days} must be smaller than "
                f"'days' = {self.days} (KPIs are measured after the warm-up)"
            )

    @classmethod
    def from_dict(cls, values: dict[str, Any] | Params | None = None, **more: Any) -> Params:
        """Build from a mapping of overrides; unknown names raise ValueError with hints."""
        base = values.as_dict() if isinstance(values, _ParamsMethods) else dict(values or {})
        base.update(more)
        for name in base:
            if name not in SPECS:
                raise unknown_name_error(name)
        return cls(**base)

    def replace(self, **changes: Any) -> Params:
        """Return a copy with some parameters changed (validated)."""
        return type(self).from_dict(self, **changes)

    def as_dict(self) -> dict[str, float | int]:
        """All parameters as a flat dict."""
        return {s.name: getattr(self, s.name) for s in PARAMETER_SPECS}

    @staticmethod
    def specs() -> dict[str, ParamSpec]:
        """Metadata of every parameter, by name."""
        return dict(SPECS)


Params = dataclasses.make_dataclass(
    "Params",
    [(s.name, s.kind, field(default=s.default, metadata={"spec": s})) for s in PARAMETER_SPECS],
    bases=(_ParamsMethods,),
    frozen=True,
    namespace={
        "__module__": __name__,
        "__doc__": """The model's parameter set, validated on construction.

    Every parameter of `PARAMETER_SPECS` is a field with its default. Construction coerces
    each value to its type and raises ``ValueError`` naming a bad parameter, its value and
    its valid range. Use `Params.from_dict` for dictionaries that may contain unknown names
    (an unknown name is an error listing close matches).

    Example:
        >>> p = Params(utilization=0.9)
        >>> p.replace(discipline=1.0).discipline
        1.0
    """,
    },
)


def coerce_params(params: dict[str, Any] | Params | None) -> Params:
    """Accept a Params or a dict of overrides and return validated Params."""
    if isinstance(params, Params):
        return params
    return Params.from_dict(params)


#: Operations of the status quo: the schedule may be broken, the buffer only ratchets up,
#: no capacity is added (MODEL.md "Version 2", regimes).
BREAKABLE_OPS: dict[str, float] = {
    "discipline": 0.0, "buffer_release": 0.0, "overtime_max": 0.0, "shift_hours": 0.0,
}
#: Operations of the remedy: a sacred schedule (re-plan, honest dates), buffer release,
#: overtime and a second shift under sustained load.
SACRED_OPS: dict[str, float] = {
    "discipline": 1.0, "buffer_release": 1.0, "overtime_max": 0.25, "shift_hours": 8.0,
}
#: Salespeople: all relationship style, all transactional, or half and half.
_STYLES = {"relationship": 1.0, "transactional": 0.0, "mixed": 0.5}
#: Relationship-style salespeople spend most spare time on upkeep (MODEL.md).
RELATIONSHIP_FOCUS = 0.7

#: Sales-organisation regimes: parameter overrides (MODEL.md "Version 2", regimes). Every
#: regime sets every lever, so a regime means the same thing whatever the defaults.
REGIMES: dict[str, dict[str, float]] = {
    # The article's status quo: breakable schedule, relationship-style salespeople.
    "relationship": {**BREAKABLE_OPS, "relationship_seller_share": 1.0,
                     "relationship_focus": RELATIONSHIP_FOCUS},
    "transactional": {**BREAKABLE_OPS, "relationship_seller_share": 0.0,
                      "relationship_focus": RELATIONSHIP_FOCUS},
    "mixed": {**BREAKABLE_OPS, "relationship_seller_share": 0.5,
              "relationship_focus": RELATIONSHIP_FOCUS},
    # The article's remedy: the schedule is sacred, salespeople sell.
    "sacred": {**SACRED_OPS, "relationship_seller_share": 0.0,
               "relationship_focus": RELATIONSHIP_FOCUS},
    "sacred_relationship": {**SACRED_OPS, "relationship_seller_share": 1.0,
                            "relationship_focus": RELATIONSHIP_FOCUS},
    "sacred_mixed": {**SACRED_OPS, "relationship_seller_share": 0.5,
                     "relationship_focus": RELATIONSHIP_FOCUS},
}

#: Overrides that switch every behaviour off: the plant alone is an M/G/1 FCFS queue
#: (MODEL.md "Verification"). No padding, urgency, complexity, churn, acquisition, bounded
#: market, lost orders, disruption, execution noise, overtime, shift or changeover;
#: discipline 1; needs so lax that nobody asks for an expedite. Kept complete as
#: mechanisms are added (a test checks that every mechanism's neutral setting is here).
PLANT_ONLY: dict[str, float] = {
    "pad_max": 0.0, "urgent_share": 0.0, "complex_share": 0.0, "churn_trust": 0.0,
    "churn_base": 0.0, "acquisition_per_selling_hour": 0.0, "market_size": 0,
    "lost_order_sensitivity": 0.0, "disruption_rate": 0.0, "process_cv": 0.0,
    "overtime_max": 0.0, "shift_hours": 0.0, "buffer_release": 0.0, "discipline": 1.0,
    "need_lt_mean": 1e6, "need_lt_cv": 0.0, "changeover_hours": 0.0,
    "late_penalty_per_day": 0.0,
}


def sa_problem(names: list[str] | None = None) -> dict[str, Any]:
    """A SALib problem dict over the parameters that have an SA range (or the given names)."""
    chosen = [s for s in PARAMETER_SPECS if s.sa_range is not None]
    if names is not None:
        chosen = [SPECS[n] for n in names]
    return {
        "num_vars": len(chosen),
        "names": [s.name for s in chosen],
        "bounds": [list(s.sa_range or (s.low, s.high)) for s in chosen],
    }
