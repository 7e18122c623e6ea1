"""Display names and units: the one table every figure, caption and table reads.

`analysis` never imports `model` (it reads stored results only), so the table lives here;
``tests/test_labels.py`` checks it against `relsim.model.params.PARAMETER_SPECS` (every
parameter has an entry, and its unit agrees with the parameter table's) and against the
model's outputs (`KPI_NAMES`, `SERIES_COLUMNS`) and the version-2 output names.

Units are words, never "(–)": a dimensionless quantity says what it is a share of, or
that it is a coefficient of variation, a probability, a multiplier or a 0–1 scale.

Names the table does not know fall back gracefully (`display`): ``style_<kpi>_<style>``
and ``<comparison>_<output>`` are composed from their parts; anything else is its name
with spaces for underscores and no unit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Display:
    """How a quantity is shown.

    Attributes:
        name: Short plain-language name (tick labels, legends); lower case.
        unit: The unit in words ("share", "days", "money/day"), or "" when unknown.
    """

    name: str
    unit: str

    @property
    def label(self) -> str:
        """Axis label: ``name (unit)``, or the name alone without a unit."""
        return f"{self.name} ({self.unit})" if self.unit else self.name


#: Unit words for the parameter table's unit symbols ("–" has no generic word: each
#: dimensionless parameter names its own in `PARAMETERS`).
UNIT_WORDS = {
    "day": "days", "h": "hours", "h/day": "hours/day", "1/day": "per day",
    "1/h": "per hour", "customer": "customers", "person": "people",
    "utility": "utility", "customer/h": "customers/hour", "money/h": "money/hour",
    "money/order": "money/order", "money/(order·day)": "money/order-day",
}

#: Every model parameter: short name and unit in words (tested against PARAMETER_SPECS).
PARAMETERS: dict[str, Display] = {k: Display(*v) for k, v in {
    "days": ("simulated days", "days"),
    "warmup_days": ("warm-up", "days"),
    "customers": ("initial customers", "customers"),
    "salespeople": ("salespeople", "people"),
    "capacity_hours": ("plant capacity", "hours/day"),
    "utilization": ("utilization", "share of capacity"),
    "work_mean_hours": ("mean work per order", "hours"),
    "work_cv": ("work-content variability", "CV"),
    "process_cv": ("execution noise", "CV"),
    "disruption_rate": ("disruption rate", "per day"),
    "disruption_severity": ("disruption severity", "share of a day"),
    "changeover_hours": ("changeover per preemption", "hours"),
    "preemption_prob": ("preemption probability", "probability"),
    "overtime_max": ("overtime allowance", "share of capacity"),
    "buffer_days": ("initial buffer", "days"),
    "buffer_target_otd": ("planner's on-time target", "share"),
    "rush_buffer_share": ("buffer kept by rush orders", "share of buffer"),
    "buffer_gain": ("buffer gain", "days"),
    "buffer_review_days": ("buffer review interval", "days"),
    "otd_window_days": ("on-time window", "days"),
    "discipline": ("schedule discipline", "probability"),
    "sales_autonomy": ("initial sales autonomy", "probability"),
    "autonomy_drift": ("autonomy drift", "probability per expedite"),
    "autonomy_recovery": ("autonomy recovery", "multiple of drift"),
    "influence": ("salesperson influence", "share of queue"),
    "influence_spread": ("spread of influence", "share of queue"),
    "relationship_focus": ("relationship focus", "share of spare time"),
    "sales_hours": ("salesperson hours", "hours/day"),
    "handling_hours_sales": ("handling time, sales", "hours"),
    "handling_hours_field": ("handling time, field", "hours"),
    "lobby_hours": ("time per lobbying", "hours"),
    "apology_hours": ("time per apology", "hours"),
    "upkeep_gain": ("upkeep gain", "per hour"),
    "apology_boost": ("apology boost", "share of gap"),
    "relationship_decay": ("relationship decay", "per day"),
    "relationship_init": ("initial relationship", "scale 0–1"),
    "relationship_loyalty": ("relationship loyalty", "weight 0–1"),
    "relationship_pull": ("relationship pull", "utility"),
    "trust_init": ("initial trust", "scale 0–1"),
    "trust_memory": ("trust memory weight", "weight 0–1"),
    "pad_max": ("maximal padding", "share of need"),
    "need_lt_mean": ("mean needed lead time", "days"),
    "need_lt_cv": ("needed lead-time variability", "CV"),
    "urgent_share": ("urgent orders", "share of orders"),
    "urgent_lt_factor": ("urgent lead-time factor", "multiple of need"),
    "complex_share": ("complex deals", "share of orders"),
    "complex_value_mult": ("complex-deal value", "multiple of routine"),
    "complex_win_base": ("complex-deal base win", "probability"),
    "complex_win_gain": ("complex-deal win gain", "probability per unit relationship"),
    "churn_trust": ("churn threshold", "loyalty 0–1"),
    "churn_hazard_max": ("maximal churn hazard", "per day"),
    "churn_base": ("base churn hazard", "per day"),
    "channel_temperature": ("channel-choice noise", "utility"),
    "effort_support": ("effort of support channel", "utility"),
    "effort_sales": ("effort of sales channel", "utility"),
    "effort_field": ("effort of field channel", "utility"),
    "acquisition_per_selling_hour": ("acquisition per selling hour", "customers/hour"),
    "revenue_per_work_hour": ("throughput per work hour", "money/hour"),
    "capacity_cost_per_hour": ("cost of a plant hour", "money/hour"),
    "overtime_cost_per_hour": ("cost of an overtime hour", "money/hour"),
    "cost_online": ("cost to serve, online", "money/order"),
    "cost_support": ("cost to serve, support", "money/order"),
    "cost_sales": ("cost to serve, sales", "money/order"),
    "cost_field": ("cost to serve, field", "money/order"),
    # Version 2 parameters (MODEL.md "Version 2").
    "buffer_release": ("buffer release", "probability"),
    "shift_hours": ("second shift", "hours/day"),
    "shift_trigger": ("second-shift trigger", "load, share of capacity"),
    "shift_review_days": ("second-shift review", "days"),
    "relationship_seller_share": ("relationship-style sellers", "share of salespeople"),
    "trust_need_weight": ("weight of need met in trust", "weight 0–1"),
    "lost_order_sensitivity": ("lost-order sensitivity", "per relative excess over need"),
    "market_size": ("market size", "customers"),
    "market_conversion": ("market conversion", "customers/hour"),
    "reputation_days": ("reputation memory", "days"),
    "crn_per_customer": ("demand stream per customer", "switch 0/1"),
    "late_penalty_per_day": ("late penalty", "money/order-day"),
}.items()}

#: Run KPIs (version 1 `KPI_NAMES` and the version-2 additions) and daily series.
OUTPUTS: dict[str, Display] = {k: Display(*v) for k, v in {
    "otd": ("on-time delivery", "share"),
    "otd_need": ("on time to need", "share"),
    "otd_request": ("on time to request", "share"),
    "lead_time_mean": ("mean lead time", "days"),
    "lead_time_p90": ("90th-percentile lead time", "days"),
    "quoted_lead_time_mean": ("mean quoted lead time", "days"),
    "wip_mean": ("work in process", "orders"),
    "throughput": ("throughput", "orders/day"),
    "buffer_final": ("final buffer", "days"),
    "trust_mean": ("mean trust", "scale 0–1"),
    "relationship_mean": ("mean relationship", "scale 0–1"),
    "padding_mean": ("mean padding", "share of need"),
    "expedite_rate": ("expedite requests", "share of orders"),
    "schedule_breaks_per_day": ("schedule breaks", "per day"),
    "changeover_hours": ("changeover losses", "hours/day"),
    "overtime_hours": ("overtime", "hours/day"),
    "share_online": ("online orders", "share"),
    "share_support": ("support orders", "share"),
    "share_sales": ("sales-desk orders", "share"),
    "share_field": ("field-sales orders", "share"),
    "sales_firefighting_share": ("sales time firefighting", "share"),
    "selling_hours": ("selling time", "hours/day"),
    "customers_active": ("active customers", "customers"),
    "churned": ("customers lost", "customers"),
    "acquired": ("customers acquired", "customers"),
    "complex_win_rate": ("complex deals won", "share"),
    "autonomy_final": ("final sales autonomy", "probability"),
    "revenue": ("revenue", "money/day"),
    "cost": ("cost", "money/day"),
    "profit": ("profit", "money/day"),
    "personal_channel_premium": ("personal-channel premium", "share"),
    # version 2 (MODEL.md "New outputs")
    "lost_orders": ("lost orders", "orders/day"),
    "lost_order_share": ("lost orders", "share of orders"),
    "lost_margin": ("lost margin", "money/day"),
    "lateness_need_mean": ("mean lateness to need", "days"),
    "late_penalty": ("late penalties", "money/day"),
    "trust_mean_all": ("mean trust, all customers", "scale 0–1"),
    "customers_active_mean": ("mean active customers", "customers"),
    "prospects_final": ("final prospects", "prospects"),
    "capacity_hours_mean": ("mean regular capacity", "hours/day"),
    "margin_per_customer_day": ("margin per customer-day", "money/customer-day"),
    "churn_rate": ("churn rate", "per 1000 customer-days"),
    # daily series (`SERIES_COLUMNS`)
    "wip_orders": ("orders in the schedule", "orders"),
    "wip_hours": ("planned work", "hours"),
    "buffer": ("safety buffer", "days"),
    "quoted_lead_time": ("quoted lead time", "days"),
    "lead_time": ("actual lead time", "days"),
    "otd_rolling": ("on-time delivery, rolling", "share"),
    "autonomy_mean": ("sales autonomy", "probability"),
    "expedite_requests": ("expedite requests", "orders/day"),
    "schedule_breaks": ("schedule breaks", "per day"),
    "orders_online": ("online", "orders/day"),
    "orders_support": ("support", "orders/day"),
    "orders_sales": ("sales desk", "orders/day"),
    "orders_field": ("field sales", "orders/day"),
    "hours_handling": ("order handling", "hours/day"),
    "hours_lobbying": ("lobbying", "hours/day"),
    "hours_apologising": ("apologising", "hours/day"),
    "hours_upkeep": ("relationship upkeep", "hours/day"),
    "hours_selling": ("selling", "hours/day"),
    "disruption": ("disruption loss", "share of a day"),
    "prospects": ("prospects", "customers"),
    "reputation": ("delivery reputation", "share"),
    "customers_relationship_style": ("customers of relationship sellers", "customers"),
    "customers_transactional_style": ("customers of transactional sellers", "customers"),
    "firefighting": ("firefighting (lobbying + apologising)", "hours/day"),
}.items()}

#: Regimes (version 1 and 2), with the short description used in captions.
REGIMES: dict[str, str] = {
    "relationship": "status quo: breakable schedule, relationship-style salespeople",
    "transactional": "breakable schedule, transactional salespeople",
    "mixed": "breakable schedule, half of the salespeople relationship-style",
    "sacred": "sacred schedule (re-plan, honest dates, added capacity), transactional",
    "sacred_relationship": "sacred schedule, relationship-style salespeople",
    "sacred_mixed": "sacred schedule, half of the salespeople relationship-style",
}

#: Selling styles of version 2's per-style outputs (``style_<kpi>_<style>``).
STYLES = {"relationship": "relationship-style customers",
          "transactional": "transactional customers",
          "diff": "relationship- minus transactional-style customers",
          "difference": "relationship- minus transactional-style customers"}


#: The 1-D axes of the experiments being drawn (`register_axes`): name -> display.
AXES: dict[str, Display] = {}


def register_axes(axes: Mapping[str, Mapping[str, Sequence[float]]]) -> None:
    """Know an experiment's 1-D axes (``[axes]``): a factor moving several parameters.

    An axis runs from 0 (every parameter at its first value) to 1 (at its second); it is
    shown as ``<name> axis (position 0–1)``.
    """
    for name in axes:
        AXES[str(name)] = Display(f"{str(name).replace('_', ' ')} axis", "position 0–1")


def axis_text(name: str, params: Mapping[str, Sequence[float]]) -> str:
    """``chaos axis: execution noise 0.1 → 0.9, disruption rate 0 → 0.2`` for captions."""
    moves = ", ".join(f"{factor(p).name} {float(v[0]):g} → {float(v[1]):g}"
                      for p, v in params.items())
    return f"{str(name).replace('_', ' ')} axis (0 → 1): {moves}"


def _fallback(name: str) -> Display:
    return Display(name.replace("_", " "), "")


def display(name: str, comparisons: Sequence[str] = ()) -> Display:
    """Return the display name and unit of a parameter, output, series or derived name.

    Args:
        name: A parameter, output or series name; ``style_<kpi>_<style>``;
            ``<comparison>_<output>`` for a comparison in ``comparisons`` (or ``delta``).
        comparisons: Names of the experiment's comparisons (``[compare]`` keys).

    Returns:
        The entry of the table, a composed entry, or the name with spaces and no unit.
    """
    if name in OUTPUTS:
        return OUTPUTS[name]
    if name in PARAMETERS:
        return PARAMETERS[name]
    if name in AXES:
        return AXES[name]
    if name.startswith("param_") and name[len("param_"):] in PARAMETERS:
        return PARAMETERS[name[len("param_"):]]
    if name.startswith("style_"):
        rest = name[len("style_"):]
        for style, words in STYLES.items():
            if rest.endswith(f"_{style}"):
                base = display(rest[: -len(style) - 1])
                return Display(f"{base.name}, {words}", base.unit)
    for comp in sorted({"delta", *comparisons}, key=len, reverse=True):
        if name.startswith(f"{comp}_"):
            base = display(name[len(comp) + 1:])
            return Display(f"Δ {base.name}", base.unit)
    return _fallback(name)


def factor(name: str) -> Display:
    """Display of a factor: the parameter's entry first.

    ``changeover_hours`` is both a parameter (hours per preemption) and an output (hours
    lost per day).
    """
    return PARAMETERS.get(name) or AXES.get(name) or display(name)


def label(name: str, comparisons: Sequence[str] = ()) -> str:
    """Axis label with its unit in words: ``profit (money/day)``."""
    return display(name, comparisons).label


def short(name: str, comparisons: Sequence[str] = ()) -> str:
    """Short name without unit (tick labels, legends)."""
    return display(name, comparisons).name


def known(name: str) -> bool:
    """Whether the table has an entry for ``name`` itself (no fallback)."""
    return name in OUTPUTS or name in PARAMETERS


def delta_label(output: str, pair: Sequence[str] | None = None) -> str:
    """Axis label of a paired difference: ``Δ profit (money/day)`` plus ``A − B``."""
    base = display(output)
    text = f"Δ {base.label}"
    if pair:
        text += f"\n{pair[0]} − {pair[1]}"
    return text


def regime_description(regime: str) -> str:
    """One-line description of a regime (empty for a regime the table does not know)."""
    return REGIMES.get(regime, "")
