"""The Mesa model: one step is one working day, continuous time within the day.

Daily process (MODEL.md): start of day (disruption, overtime, lobbying), then the day's
orders arrive at their (fractional) times and the plant works between arrivals, then the
end of day (sales time allocation, relationship upkeep and decay, churn, acquisition in a
bounded market with a delivery reputation, second-shift and buffer reviews, observation).

Common random numbers (MODEL.md "Version 2", mechanism 7): each customer's order stream
(arrival times, work, execution noise, need, urgency, complexity, and the uniforms of its
channel choice, bid and lost-order decisions) comes from its own generator derived from
(seed, customer), so two regimes see the same customers' demand even after their sets of
active customers differ. ``crn_per_customer = 0`` restores version 1's single demand
stream matched to customers by list position (to measure what the pairing buys).
"""

from __future__ import annotations

import gc
import heapq
import math
from typing import Any

import mesa
import numpy as np
from relsim.model.agents import (
    FIELD,
    LOST_BID,
    LOST_CHURN,
    LOST_DATE,
    ONLINE,
    RELATIONSHIP_STYLE,
    SALES,
    SUPPORT,
    TRANSACTIONAL_STYLE,
    Customer,
    Order,
    Planner,
    Plant,
    Salesperson,
)
from relsim.model.kpis import compute_kpis
from relsim.model.params import Params, coerce_params
from relsim.model.randomness import (
    BLOCK,
    Poisson,
    ScreenedUniforms,
    Stream,
    generator_from_state,
    lognormal_params,
    spawn_states,
    stream_from_state,
)


class DayStats:
    """Counters of one day, reset each morning (observation, KPIs and series)."""

    COUNTS = (
        "expedite_requests", "schedule_breaks", "delivered", "on_time",
        "protected", "churned", "acquired", "lost_orders", "need_met",
    )
    AMOUNTS = (
        "changeover_hours", "overtime_hours", "revenue", "cost", "lead_time_sum",
        "penetration_sum", "padding_sum", "late_penalty", "lost_margin", "planned_work",
    )
    __slots__ = ("orders", *COUNTS, *AMOUNTS)

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Zero every counter (`COUNTS` to 0, `AMOUNTS` to 0.0; written out: it runs daily)."""
        self.orders = [0, 0, 0, 0]
        self.expedite_requests = self.schedule_breaks = self.delivered = self.on_time = 0
        self.protected = self.churned = self.acquired = self.lost_orders = self.need_met = 0
        self.changeover_hours = self.overtime_hours = self.revenue = self.cost = 0.0
        self.lead_time_sum = self.penetration_sum = self.padding_sum = 0.0
        self.late_penalty = self.lost_margin = self.planned_work = 0.0


SERIES_COLUMNS = (
    "day", "wip_orders", "wip_hours", "buffer", "quoted_lead_time", "lead_time", "otd_rolling",
    "trust_mean", "relationship_mean", "padding_mean", "autonomy_mean", "expedite_requests",
    "schedule_breaks", "changeover_hours", "overtime_hours", "orders_online", "orders_support",
    "orders_sales", "orders_field", "hours_handling", "hours_lobbying", "hours_apologising",
    "hours_upkeep", "hours_selling", "customers_active", "revenue", "cost", "disruption",
    "lost_orders", "lost_margin", "late_penalty", "capacity_hours", "prospects", "reputation",
    "customers_relationship_style", "customers_transactional_style",
)

#: Spawn key of the per-customer streams under the run's seed.
_CUSTOMER_KEY = 1_000_003


def _spawn_streams(rng: np.random.Generator) -> tuple:
    """The model's child generators and streams, seeded in two batches.

    The same generators as ``rng.spawn(6)`` (demand, plant, behaviour, setup, churn,
    market), with each of the first three's ``spawn(3)`` wrapped in a `Stream`.

    Returns:
        (demand stream, plant stream, behaviour stream, behaviour, setup, churn and market
        generators).
    """
    ss = rng.bit_generator.seed_seq
    if type(ss) is not np.random.SeedSequence or ss.pool_size != 4:  # pragma: no cover
        kids = rng.spawn(6)
        return (*(Stream(k) for k in kids[:3]), *kids[2:])
    key, first = list(ss.spawn_key), ss.n_children_spawned
    kids = spawn_states(ss.entropy, np.array([key + [first + i] for i in range(6)]))
    grand = spawn_states(ss.entropy, np.array(
        [key + [first + i, j] for i in range(3) for j in range(3)]))
    streams = tuple(Stream(None, children=tuple(generator_from_state(g)
                                                for g in grand[3 * i:3 * i + 3]))
                    for i in range(3))
    return (*streams, *(generator_from_state(k) for k in kids[2:]))


def _customer_states(entropy: int, lo: int, hi: int) -> np.ndarray:
    """Seed states (hi - lo, 3, 4) of customers lo..hi-1: their streams' three generators.

    Customer ``idx``'s stream is ``Stream(default_rng(SeedSequence(entropy,
    spawn_key=(_CUSTOMER_KEY, idx))))``, whose generators have the keys ``(_CUSTOMER_KEY,
    idx, j)``, j = 0, 1, 2.
    """
    idx = np.repeat(np.arange(lo, hi, dtype=np.int64), 3)
    kind = np.tile(np.arange(3, dtype=np.int64), hi - lo)
    keys = np.column_stack([np.full(idx.size, _CUSTOMER_KEY, dtype=np.int64), idx, kind])
    return spawn_states(entropy, keys).reshape(hi - lo, 3, 4)


def _churn_bound(p: Params) -> float:
    """An upper bound of any customer's daily defection hazard (see `_end_of_day`).

    Disloyalty is at most 1 and the steep part is clipped to 1, so the hazard is at most
    ``churn_base + churn_hazard_max`` (``churn_base`` without the steep part); rounding is
    monotone, and the bound is widened a little more for safety. A draw at or above it
    cannot be a defection.
    """
    top = p.churn_base + (p.churn_hazard_max if p.churn_trust > 0 else 0.0)
    return top * (1.0 + 1e-9) + 1e-300


class SalesModel(mesa.Model):
    """A supplier's market: customers, salespeople, one planner and one plant.

    Args:
        params: A `Params` or a dict of overrides of the defaults.
        seed: Seed of the model's random generator (all randomness flows from it).
        series: Collect the daily series with a Mesa ``DataCollector`` (the default, for
            interactive use; `simulate` switches it off unless asked).

    Example:
        >>> m = SalesModel({"days": 200, "warmup_days": 50}, seed=1)
        >>> m.run()
        >>> round(m.kpis()["otd"], 3) <= 1.0
        True
    """

    def __init__(self, params: dict | Params | None = None, *, seed: int | None = 0,
                 series: bool = True) -> None:
        if seed is not None and (not isinstance(seed, int | np.integer) or seed < 0):
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        super().__init__(rng=seed)
        p = coerce_params(params)
        self.p = p
        #: Steep part of the defection hazard (`set_trust`): 1 - churn_trust, 1 / churn_trust
        #: (computed once; None without a steep part).
        self._steep = (1.0 - p.churn_trust, 1.0 / p.churn_trust) if p.churn_trust > 0 else None
        #: 1 / channel_temperature, for channel choice (computed once).
        self.inv_temperature = 1.0 / p.channel_temperature
        self.now = 0.0
        self.day_index = 0
        self.day = DayStats()
        # Independent child streams: demand, plant and behaviour draws do not disturb each
        # other, so regimes run with the same seed see the same demand (common random numbers).
        (self.demand, self.plant_draws, self.behaviour, behaviour_rng, setup_rng, churn_rng,
         market_rng) = _spawn_streams(self.rng)
        #: Poisson draws of the acquisitions (unbounded market; the behaviour generator).
        self.behaviour_poisson = Poisson(behaviour_rng)
        #: The daily defection draws, one per customer slot (see `_end_of_day`).
        self.churn_draws = ScreenedUniforms(churn_rng, _churn_bound(p))
        #: Poisson draws of the prospects won (bounded market).
        self.market_poisson = Poisson(market_rng)
        #: Root of the per-customer streams: (seed, customer) -> generator.
        self._entropy = int(seed) if seed is not None else int(setup_rng.integers(2**63))
        self.effort = (0.0, p.effort_support, p.effort_sales, p.effort_field)
        self.channel_cost = (p.cost_online, p.cost_support, p.cost_sales, p.cost_field)
        self.work_mu, self.work_sigma = lognormal_params(p.work_mean_hours, p.work_cv)
        self.noise_mu, self.noise_sigma = lognormal_params(1.0, p.process_cv)
        self.need_mu, self.need_sigma = lognormal_params(p.need_lt_mean, p.need_lt_cv)
        #: Orders per day per customer: total offered work = utilization * capacity with
        #: the initial customers active.
        self.rate_per_customer = (
            p.utilization * p.capacity_hours / p.work_mean_hours / p.customers
        )
        #: Regular plant hours per day, including a second shift while it runs.
        self.regular_hours = p.capacity_hours
        self.shift_on = False
        #: The market's view of the supplier's delivery: share of orders delivered to need
        #: (lost orders count as not delivered), exponentially smoothed over days.
        self.reputation = p.trust_init
        self.bounded = p.market_size > 0
        self.per_customer = p.crn_per_customer == 1

        self.planner = Planner(self)
        self.plant = Plant(self)
        lo = max(0.0, p.influence - p.influence_spread)
        hi = min(1.0, p.influence + p.influence_spread)
        infl = setup_rng.uniform(lo, hi, p.salespeople) if hi > lo else [p.influence] * \
            p.salespeople
        n_rel = round(p.relationship_seller_share * p.salespeople)
        #: Any relationship-style salesperson (only they lobby).
        self._relational = n_rel > 0
        self.salespeople = [
            Salesperson(self, s, float(infl[s]),
                        RELATIONSHIP_STYLE if s < n_rel else TRANSACTIONAL_STYLE)
            for s in range(p.salespeople)
        ]

        # Customer state arrays: one slot per potential customer of a bounded market; an
        # unbounded market grows them by doubling as customers are acquired.
        size = p.market_size if self.bounded else max(16, 2 * p.customers)
        self.trust = np.full(size, p.trust_init)
        self.rel = np.zeros(size)
        self.owner = np.zeros(size, dtype=np.int64)
        self.is_active = np.zeros(size, dtype=bool)
        #: `is_active` as 0.0/1.0 (the daily means of trust and relationship over the active
        #: customers are dot products with it: the same BLAS call as ``x @ is_active``).
        self.active_f = np.zeros(size)
        #: Per slot, an upper bound of today's defection hazard given its trust (-1 for a
        #: prospect): a defection draw at or above it cannot be a defection (`set_trust`).
        self._hazard_ub = [-1.0] * size
        #: Customers active at some time of the measured window (trust_mean_all).
        self.seen = np.zeros(size, dtype=bool)
        self._upkeep_per_customer = np.zeros(p.salespeople)
        #: Share of its gap to 1 each salesperson's customers' relationship closes today.
        self._upkeep_closed = np.zeros(p.salespeople)
        #: Active customers by the selling style of their salesperson.
        self.customers_by_style = [0, 0]
        #: Views of the per-slot arrays over the slots in use and scratch arrays for the
        #: daily update (`_slot_views`; made again when slots are added).
        self._views: tuple | None = None
        self.customer_list: list[Customer | None] = []
        self.streams: list[Stream] = []
        #: Seed states of the slots' streams, computed for all slots at once.
        self._slot_states = _customer_states(self._entropy, 0, size)
        #: Values drawn per refill of a customer's stream (uniform, normal, exponential):
        #: about what one customer uses in a run (speed only; the values do not depend on it).
        n_orders = self.rate_per_customer * p.days
        self._stream_blocks = tuple(min(BLOCK, int(k * n_orders) + 8) for k in (5, 3, 1))
        self.active_ids: list[int] = []
        self._active_pos: dict[int, int] = {}
        self.orders: list[Order] = []
        #: Next order time of every customer with a live order stream: (time, customer).
        self._arrivals: list[tuple[float, int]] = []
        self._next_arrival = math.inf  # version 1's single stream
        n_slots = p.market_size if self.bounded else p.customers
        quote_lt = self.planner.standard_quote_lt()
        for idx in range(n_slots):
            self._new_slot(idx)
            if idx < p.customers:
                self._activate(idx, quote_lt)
            if self.per_customer:
                self._schedule_customer(idx, 0.0)
        if not self.per_customer:
            self._schedule_next_arrival(0.0)
        # Daily records (whole run): deliveries and on-time counts for the rolling OTD (the
        # counts in lists, exact in any order; the amounts in arrays, summed by numpy).
        self.delivered_by_day = [0] * p.days
        self.on_time_by_day = [0] * p.days
        self.penetration_by_day = np.zeros(p.days)
        self.protected_by_day = [0] * p.days
        self.planned_by_day = np.zeros(p.days)
        self.totals = _Totals()
        self.datacollector = None
        if series:
            self.datacollector = mesa.DataCollector(
                model_reporters={c: _reporter(c) for c in SERIES_COLUMNS}
            )
            self._series_row: dict[str, float] = {}

    # ------------------------------------------------------------------ customers
    def _new_slot(self, idx: int) -> None:
        """A potential customer: its own random stream and its salesperson (both fixed)."""
        if idx >= self.trust.size:
            self._grow()
        stream = stream_from_state(self._slot_states[idx], self._stream_blocks)
        self.streams.append(stream)
        self.customer_list.append(None)
        # Customers are assigned to salespeople at random, by the customer's own stream.
        self.owner[idx] = min(int(stream.uniform() * len(self.salespeople)),
                              len(self.salespeople) - 1)

    def _activate(self, idx: int, quote_lt: float) -> Customer:
        """A potential customer becomes (again) an active customer."""
        sp = self.salespeople[int(self.owner[idx])]
        c = Customer(self, idx, sp, quote_lt)
        sp.portfolio += 1
        self.customers_by_style[sp.style] += 1
        self.set_trust(idx, self.p.trust_init)
        self.rel[idx] = self.p.relationship_init
        self.is_active[idx] = True
        self.active_f[idx] = 1.0
        self.customer_list[idx] = c
        self._active_pos[idx] = len(self.active_ids)
        self.active_ids.append(idx)
        return c

    def _grow(self) -> None:
        n = self.trust.size
        self.trust = np.concatenate([self.trust, np.full(n, self.p.trust_init)])
        self.rel = np.concatenate([self.rel, np.zeros(n)])
        self.owner = np.concatenate([self.owner, np.zeros(n, dtype=np.int64)])
        self.is_active = np.concatenate([self.is_active, np.zeros(n, dtype=bool)])
        self.active_f = np.concatenate([self.active_f, np.zeros(n)])
        self._hazard_ub.extend([-1.0] * n)
        self.seen = np.concatenate([self.seen, np.zeros(n, dtype=bool)])
        self._slot_states = np.concatenate(
            [self._slot_states, _customer_states(self._entropy, n, 2 * n)])
        self._views = None

    def _slot_views(self) -> tuple:
        """(n, rel, owner, trust, active_f) over the n slots in use, and a scratch array.

        Made once per number of slots (a bounded market's never changes) instead of
        slicing every array every day.
        """
        n = len(self.customer_list)
        v = self._views
        if v is None or v[0] != n:
            v = self._views = (n, self.rel[:n], self.owner[:n], self.trust[:n],
                               self.active_f[:n], np.empty(n))
        return v

    def _churn_customer(self, idx: int, now: float) -> None:
        """A customer defects: its open orders are lost with it; it becomes a prospect."""
        c = self.customer_list[idx]
        c.active = False
        self.is_active[idx] = False
        self.active_f[idx] = 0.0
        self._hazard_ub[idx] = -1.0
        c.salesperson.portfolio -= 1
        self.customers_by_style[c.salesperson.style] -= 1
        pos = self._active_pos.pop(idx)
        last = self.active_ids.pop()
        if last != idx:
            self.active_ids[pos] = last
            self._active_pos[last] = pos
        for order in list(c.open_orders.values()):
            order.lost = True
            order.lost_to = LOST_CHURN
            order.finish = now
            self.planner.remove(order)
        c.open_orders.clear()
        c.remove()
        self.customer_list[idx] = None

    def set_trust(self, idx: int, value: float) -> None:
        """Set customer ``idx``'s trust (and the bound of its hazard that churn screens by).

        The bound is the hazard of `_end_of_day` with relationship strength 0: disloyalty
        ``(1 - trust) * (1 - w * relationship)`` is at most ``1 - trust``, and every later
        step is monotone (in floating point too), so the real hazard never exceeds it.
        """
        self.trust[idx] = value
        disloyalty = 1.0 - value
        bound = disloyalty * self.p.churn_base
        if self._steep is not None:
            offset, scale = self._steep
            steep = (disloyalty - offset) * scale
            # min(max(steep, 0.0), 1.0), written out (this runs per order)
            clipped = 0.0 if steep < 0.0 else (1.0 if steep > 1.0 else steep)
            bound += clipped * self.p.churn_hazard_max
        self._hazard_ub[idx] = bound

    @property
    def demand_rate(self) -> float:
        """Total order rate (orders per day) of the active customers."""
        return len(self.active_ids) * self.rate_per_customer

    @property
    def prospects(self) -> int:
        """Potential customers not buying from the supplier (bounded market; else 0)."""
        return self.p.market_size - len(self.active_ids) if self.bounded else 0

    def _schedule_customer(self, idx: int, now: float) -> None:
        """The next order time of customer ``idx`` (its own Poisson stream)."""
        lam = self.rate_per_customer
        if lam > 0:
            nxt = now + self.streams[idx].exponential() / lam
            heapq.heappush(self._arrivals, (nxt, idx))

    def _schedule_next_arrival(self, now: float) -> None:
        lam = self.demand_rate
        self._next_arrival = now + self.demand.exponential() / lam if lam > 0 else math.inf

    def _rescale_next_arrival(self, now: float, old_rate: float) -> None:
        """Version 1's single stream: keep the Poisson process exact when the rate changes."""
        new_rate = self.demand_rate
        if self.per_customer or new_rate == old_rate:
            return
        if old_rate > 0 and math.isfinite(self._next_arrival) and new_rate > 0:
            self._next_arrival = now + (self._next_arrival - now) * old_rate / new_rate
        else:
            self._schedule_next_arrival(now)

    def _order_arrives(self, ta: float) -> None:
        """Version 1's single stream: draw the next order's customer among the active ones."""
        d = self.demand
        idx = self.active_ids[int(d.uniform() * len(self.active_ids))]
        self._arrival(ta, idx, d)
        self._schedule_next_arrival(ta)

    def _customer_orders(self, t: float, end: float) -> float:
        """The customers' orders that arrive before ``end``, the plant working in between.

        Each time the earliest order arrives; it is placed if its customer is active. The
        customer's next order time is drawn (from its own exponentials) and replaces this
        one in the heap of arrivals; a prospect's order is skipped (it buys elsewhere) with
        the same draws consumed, so its stream stays aligned across regimes.

        Returns:
            The time of the last arrival (``t`` if none).
        """
        arrivals, streams, customers = self._arrivals, self.streams, self.customer_list
        plant, lam, bounded = self.plant, self.rate_per_customer, self.bounded
        while arrivals and (ta := arrivals[0][0]) < end:
            plant.advance(t, ta)
            t = ta
            idx = arrivals[0][1]
            stream = streams[idx]
            cust = customers[idx]  # None: a prospect (or a customer gone for good)
            if lam > 0 and (bounded or cust is not None):
                heapq.heapreplace(arrivals, (ta + stream.exponential() / lam, idx))
            else:
                heapq.heappop(arrivals)
            if cust is not None:
                self._arrival(ta, idx, stream)
            else:
                _skip_order(stream)
        return t

    # ------------------------------------------------------------------ orders
    def _arrival(self, t: float, idx: int, d: Stream) -> None:
        """An order arrives: needs, padding, channel, quote, promise (MODEL.md steps 1-4).

        Every order consumes the same pattern of draws from its customer's stream, used or
        not, so demand stays common across regimes.
        """
        p = self.p
        z_work, z_need, z_noise = d.normal.take(3)
        u_urgent, u_complex, u_win, u_channel, u_lost = d.uniform.take(5)
        cust = self.customer_list[idx]
        work = math.exp(self.work_mu + self.work_sigma * z_work)
        actual = work * math.exp(self.noise_mu + self.noise_sigma * z_noise)
        urgent = u_urgent < p.urgent_share
        complex_ = u_complex < p.complex_share
        need_lt = math.exp(self.need_mu + self.need_sigma * z_need)
        if urgent:
            need_lt *= p.urgent_lt_factor
        padding = cust.padding()
        req_lt = need_lt * (1.0 - padding)
        wish = cust.wants_expedite(req_lt)
        channel = cust.choose_channel(complex_ or wish, u_channel)
        sp = cust.salesperson
        order = Order(len(self.orders), idx, channel, t, work, actual, t + need_lt,
                      t + req_lt, urgent, complex_, sp.idx)
        order.padding = padding
        day = self.day
        day.orders[channel] += 1
        day.cost += self.channel_cost[channel]
        day.padding_sum += padding
        self.orders.append(order)
        personal = channel >= SALES
        if personal:
            sp.handle(channel)
        if complex_:
            win = p.complex_win_base + p.complex_win_gain * self.rel.item(idx)
            if u_win >= win:
                order.lost = True
                order.lost_to = LOST_BID
                order.finish = t
                order.quote_date = order.promised_date = math.nan
                return
        planner = self.planner
        quote = planner.quote(t, work)
        order.quote_date = quote
        order.buffer = planner.buffer
        cust.last_quote_lt = quote - t
        if order.requested_date >= quote:
            order.promised_date = order.requested_date
            planner.append(order)
            if personal:
                sp.drift_autonomy(False)
        elif not personal:
            self._offer_quote(order, cust, u_lost)
        else:
            self._expedite(order, sp, t, cust, u_lost)
        if not order.lost:
            cust.open_orders[order.uid] = order
            day.planned_work += work  # accepted into the schedule: the planned load

    def _offer_quote(self, order: Order, cust: Customer, u_lost: float) -> None:
        """The planner's date is offered: the order is scheduled, or goes elsewhere."""
        t = order.arrival
        if cust.goes_elsewhere(order.quote_date - t, order.need_date - t, u_lost):
            order.lost = True
            order.lost_to = LOST_DATE
            order.finish = t
            cust.lose_order(order)
            p = self.p
            value = p.complex_value_mult if order.complex else 1.0
            self.day.lost_orders += 1
            self.day.lost_margin += order.work * p.revenue_per_work_hour * value
            return
        order.promised_date = order.quote_date
        self.planner.append(order)

    def _expedite(self, order: Order, sp: Salesperson, t: float, cust: Customer,
                  u_lost: float) -> None:
        """The expedite request of article step 1, handled by step 2-4 or by re-planning."""
        self.day.expedite_requests += 1
        order.expedite = True
        sp.drift_autonomy(True)
        planner = self.planner
        if sp.promise_without_planner(self.behaviour.uniform()):
            order.expedited = True
            order.promised_date = order.requested_date
            sp.hours["lobbying"] += self.p.lobby_hours  # step 3 is influence work too
            planner.insert_unplanned(order, sp.influence, self.behaviour.uniform())
        elif planner.replan_expedite(order, t):
            order.promised_date = order.requested_date
        else:
            self._offer_quote(order, cust, u_lost)

    def deliver(self, order: Order, t: float) -> None:
        """The plant finishes an order: customer learning, planner records, money."""
        order.finish = t
        self.planner.remove(order)
        cust = self.customer_list[order.customer]
        cust.open_orders.pop(order.uid, None)
        cust.learn_from_delivery(order)
        p = self.p
        day = self.day
        on_time = t <= order.promised_date
        day.delivered += 1
        day.on_time += on_time
        day.need_met += t <= order.need_date
        day.lead_time_sum += t - order.arrival
        if order.promised_date == order.quote_date and order.buffer > 0:
            # Buffer penetration of an order the planner's buffer protects (TOC buffer
            # management): the share of its buffer used by the time it was delivered.
            pen = (t - (order.quote_date - order.buffer)) / order.buffer
            day.penetration_sum += min(max(pen, 0.0), 1.0)
            day.protected += 1
        value = p.complex_value_mult if order.complex else 1.0
        day.revenue += order.work * p.revenue_per_work_hour * value
        if not on_time and p.late_penalty_per_day > 0.0:
            # The price of lateness: accounting only, no agent reacts to it.
            penalty = p.late_penalty_per_day * (t - order.promised_date)
            day.late_penalty += penalty
            day.cost += penalty

    # ------------------------------------------------------------------ the day
    def step(self) -> None:
        """One working day."""
        p = self.p
        d = self.day_index
        if d >= len(self.delivered_by_day):  # Mesa-native use may step past `days`
            self._extend_daily_records()
        t = float(d)
        self.now = t
        day = self.day
        day.reset()
        planner, plant = self.planner, self.plant
        # Start of day: disruption, the planner's overtime, salespeople lobby.
        loss = plant.disruption_loss(*self.plant_draws.uniform.take(2))
        overtime = planner.decide_overtime(t)
        plant.start_day(loss, overtime)
        day.overtime_hours = overtime
        day.cost += overtime * p.overtime_cost_per_hour + self.regular_hours * \
            p.capacity_cost_per_hour
        for sp in self.salespeople:
            sp.start_day()
        if p.discipline < 1.0 and planner.schedule and self._relational:
            self._lobbying(t)
        # The day's arrivals, with the plant working in between.
        end = t + 1.0
        if self.per_customer:
            t = self._customer_orders(t, end)
        else:
            while (ta := self._next_arrival) < end:
                plant.advance(t, ta)
                t = ta
                self._order_arrives(ta)
        plant.advance(t, end)
        self.now = end
        self._end_of_day(d, end)
        self.day_index += 1

    def _extend_daily_records(self) -> None:
        for name in ("delivered_by_day", "on_time_by_day", "protected_by_day"):
            a = getattr(self, name)
            a.extend([0] * len(a))
        for name in ("penetration_by_day", "planned_by_day"):
            a = getattr(self, name)
            setattr(self, name, np.concatenate([a, np.zeros_like(a)]))

    def _lobbying(self, now: float) -> None:
        """Article step 5: relationship-style salespeople fight for their customers' orders."""
        refuse = self.p.discipline
        beh = self.behaviour
        for order in self.planner.projected_late(now):
            if order.channel < SALES:
                continue
            sp = self.salespeople[order.salesperson]
            if not sp.relational:
                continue
            if beh.uniform() < refuse or not sp.can_lobby():
                continue
            sp.lobby(order, beh.uniform())

    def _end_of_day(self, d: int, now: float) -> None:
        p = self.p
        day = self.day
        n = len(self.customer_list)
        # Sales time: spare hours to upkeep and selling; upkeep raises relationships.
        upkeep = self._upkeep_per_customer
        selling = 0.0
        for sp in self.salespeople:
            u, s = sp.allocate_spare_time()
            upkeep[sp.idx] = u / sp.portfolio if sp.portfolio > 0 else 0.0
            selling += s
        _, rel, owner, _, _, gap = self._slot_views()
        # Upkeep over the day, dr/dt = upkeep_gain * h * (1 - r), solved exactly: r moves a
        # share 1 - exp(-upkeep_gain * h) of its gap to 1 (saturating, never above 1). The
        # share is the same for all customers of a salesperson: computed per salesperson.
        # (Without relationship-style salespeople every share is 1 - exp(-0) = 0 and adding
        # 0 * (1 - r) leaves r as it is: skipped.) In place, into preallocated arrays (the
        # output passed positionally: numpy parses it faster than ``out=``).
        if self._relational:
            closed = self._upkeep_closed
            np.multiply(upkeep, -p.upkeep_gain, closed)
            np.exp(closed, closed)
            np.subtract(1.0, closed, closed)
            gain = closed[owner]  # each customer's salesperson's share
            np.subtract(1.0, rel, gap)
            np.multiply(gain, gap, gain)
            np.add(rel, gain, rel)
        np.multiply(rel, 1.0 - p.relationship_decay, rel)
        # Churn: loyal customers resist competitors' offers (churn_base), and the hazard
        # rises steeply as loyalty falls below churn_trust. One draw per customer slot per
        # day from a stream of its own (aligned across regimes). Draws at or above the
        # largest possible hazard decide nothing: only the others are looked at.
        old_rate = 0.0 if self.per_customer else self.demand_rate  # version 1's stream only
        measured = d >= p.warmup_days
        slots, draws = self.churn_draws.take(n, p.days - d)
        if slots:
            trust = self.trust
            loyalty, base = p.relationship_loyalty, p.churn_base
            ub = self._hazard_ub
            for idx, draw in zip(slots, draws, strict=True):
                if draw >= ub[idx]:  # at or above the bound (a prospect's is -1)
                    continue
                # 1 - loyalty, where loyalty = 1 - (1 - trust) * (1 - w * relationship)
                disloyalty = (1.0 - trust.item(idx)) * (1.0 - loyalty * rel.item(idx))
                hazard = disloyalty * base
                if p.churn_trust > 0:
                    # (churn_trust - loyalty) / churn_trust, clipped to [0, 1]
                    steep = (disloyalty - (1.0 - p.churn_trust)) * (1.0 / p.churn_trust)
                    hazard += min(max(steep, 0.0), 1.0) * p.churn_hazard_max
                if draw < hazard:
                    if measured:
                        self.totals.churned_style[
                            self.salespeople[self.owner.item(idx)].style] += 1
                    self._churn_customer(idx, now)
                    day.churned += 1
        self._acquire(selling, now)
        if not self.per_customer:
            self._rescale_next_arrival(now, old_rate)
        # The market's delivery reputation learns today's deliveries and lost orders.
        events = day.delivered + day.lost_orders
        if events:
            self.reputation += (day.need_met / events - self.reputation) / p.reputation_days
        # Planner's records, second-shift and buffer reviews.
        self.delivered_by_day[d] = day.delivered
        self.on_time_by_day[d] = day.on_time
        self.penetration_by_day[d] = day.penetration_sum
        self.protected_by_day[d] = day.protected
        self.planned_by_day[d] = day.planned_work
        if (d + 1) % p.shift_review_days == 0:
            lo = max(0, d + 1 - p.shift_review_days)
            load = float(self.planned_by_day[lo:d + 1].mean()) / p.capacity_hours
            self.planner.review_shift(load)
        if (d + 1) % p.buffer_review_days == 0:
            lo = max(0, d + 1 - p.otd_window_days)
            delivered = sum(self.delivered_by_day[lo:d + 1])
            if delivered:
                otd = sum(self.on_time_by_day[lo:d + 1]) / delivered
                protected = sum(self.protected_by_day[lo:d + 1])
                # With no protected order to judge by, the buffer is in the red: keep it.
                pen = self.penetration_by_day[lo:d + 1].sum() / protected if protected \
                    else 1.0
                self.planner.review_buffer(float(otd), float(pen))
        if measured:
            self.totals.add(day, self)
        if self.datacollector is not None:
            self._observe(d, selling)
            self.datacollector.collect(self)

    def _acquire(self, selling: float, now: float) -> None:
        """Selling wins customers: prospects of a bounded market, or new ones (version 1).

        Bounded market: a Poisson number with mean ``market_conversion * selling hours *
        prospects / market_size * reputation``; the prospects won are the lowest-numbered
        ones (so regimes that win the same number win the same customers). Unbounded: a
        Poisson number with mean ``acquisition_per_selling_hour * selling hours``.
        """
        p = self.p
        if self.bounded:
            prospects = p.market_size - len(self.active_ids)  # self.prospects
            lam = p.market_conversion * selling * prospects / p.market_size * self.reputation
            won = self.market_poisson(max(lam, 0.0))
            if won:
                quote_lt = self.planner.standard_quote_lt()
                measured = self.day_index >= p.warmup_days
                for idx in np.flatnonzero(~self.is_active)[:won].tolist():
                    self._activate(idx, quote_lt)
                    if measured:
                        self.seen[idx] = True  # see _Totals.add
                    self.day.acquired += 1
            return
        lam = p.acquisition_per_selling_hour * selling
        if lam > 0:
            quote_lt = self.planner.standard_quote_lt()
            measured = self.day_index >= p.warmup_days
            for _ in range(self.behaviour_poisson(lam)):
                idx = len(self.customer_list)
                self._new_slot(idx)
                self._activate(idx, quote_lt)
                if measured:
                    self.seen[idx] = True  # see _Totals.add
                if self.per_customer:
                    self._schedule_customer(idx, now)
                self.day.acquired += 1

    def _observe(self, d: int, selling: float) -> None:
        """Fill the row of daily series that the DataCollector reads."""
        day = self.day
        n = len(self.customer_list)
        act = self.is_active[:n]
        n_act = int(act.sum())
        hours = {k: _float_total(sp.hours[k] for sp in self.salespeople)
                 for k in Salesperson.ACTIVITIES}
        lo = max(0, d + 1 - self.p.otd_window_days)
        deliv = sum(self.delivered_by_day[lo:d + 1])
        placed = sum(day.orders)
        self._series_row = {
            "day": d,
            "wip_orders": len(self.planner.schedule),
            "wip_hours": self.planner.planned_load(),
            "buffer": self.planner.buffer,
            "quoted_lead_time": self.planner.standard_quote_lt(),
            "lead_time": day.lead_time_sum / day.delivered if day.delivered else math.nan,
            "otd_rolling": sum(self.on_time_by_day[lo:d + 1]) / deliv if deliv else math.nan,
            "trust_mean": float(self.trust[:n][act].mean()) if n_act else math.nan,
            "relationship_mean": float(self.rel[:n][act].mean()) if n_act else math.nan,
            "padding_mean": day.padding_sum / placed if placed else math.nan,
            "autonomy_mean": _autonomy(self.salespeople),
            "expedite_requests": day.expedite_requests,
            "schedule_breaks": day.schedule_breaks,
            "changeover_hours": day.changeover_hours,
            "overtime_hours": day.overtime_hours,
            "orders_online": day.orders[ONLINE],
            "orders_support": day.orders[SUPPORT],
            "orders_sales": day.orders[SALES],
            "orders_field": day.orders[FIELD],
            **{f"hours_{k}": v for k, v in hours.items()},
            "customers_active": n_act,
            "revenue": day.revenue,
            "cost": day.cost,
            "disruption": self.plant.disrupted,
            "lost_orders": day.lost_orders,
            "lost_margin": day.lost_margin,
            "late_penalty": day.late_penalty,
            "capacity_hours": self.regular_hours,
            "prospects": self.prospects if self.bounded else math.nan,
            "reputation": self.reputation if self.bounded else math.nan,
            "customers_relationship_style": sum(
                sp.portfolio for sp in self.salespeople if sp.relational),
            "customers_transactional_style": sum(
                sp.portfolio for sp in self.salespeople if not sp.relational),
        }

    # ------------------------------------------------------------------ running
    def run(self) -> None:
        """Run all ``days`` steps (each through Mesa's `step`: its counter and clock move)."""
        for _ in range(self.p.days - self.day_index):
            self.step()

    def _run_unwrapped(self) -> None:
        """Run all ``days`` steps without Mesa's step wrapper (for `simulate` only).

        Mesa replaces ``model.step`` by a wrapper that counts steps and, from Mesa 3.5,
        advances its event clock through its event list: about 10 µs a day there, a third
        of a default run's daily cost. A run whose model is discarded after its KPIs needs
        neither, so `simulate` calls the model's own `step` (the same day, the same
        results); Mesa's ``steps`` is still counted.
        """
        day = type(self).step
        for _ in range(self.p.days - self.day_index):
            self.steps += 1  # as Mesa's wrapper does, before the step
            day(self)

    def kpis(self) -> dict[str, float]:
        """Run KPIs after warm-up (MODEL.md "Outputs"); a flat dict of floats."""
        return compute_kpis(self)

    def series_frame(self):
        """The daily series as a pandas DataFrame (requires ``series=True``)."""
        if self.datacollector is None:
            raise ValueError("series were not collected: create the model with series=True")
        df = self.datacollector.get_model_vars_dataframe().reset_index(drop=True)
        return df


def _float_total(values) -> float:
    """Left-to-right sum of floats, the same on every Python (3.12+'s sum() compensates)."""
    total = 0.0
    for v in values:
        total += v
    return total


def _autonomy(salespeople: list[Salesperson]) -> float:
    """Mean autonomy of the relationship-style salespeople (NaN without any)."""
    values = [sp.autonomy for sp in salespeople if sp.relational]
    return float(np.mean(values)) if values else math.nan


def _skip_order(d: Stream) -> None:
    """Consume one order's draws (the pattern of `SalesModel._arrival`) without placing it."""
    d.normal.take(3)
    d.uniform.take(5)


def _reporter(column: str):
    return lambda m: m._series_row[column]


_TOTAL_HOURS = ("lobbying", "apologising", "selling")


class _Totals:
    """Sums over the measured days (after warm-up) of the daily counters."""

    def __init__(self) -> None:
        self.days = 0
        self.schedule_breaks = 0
        self.expedite_requests = 0
        self.changeover_hours = 0.0
        self.overtime_hours = 0.0
        self.revenue = 0.0
        self.cost = 0.0
        self.churned = 0
        self.acquired = 0
        #: Hours of the activities the KPIs report (firefighting, selling).
        self.hours = dict.fromkeys(_TOTAL_HOURS, 0.0)
        self.trust_sum = 0.0
        self.rel_sum = 0.0
        self.lost_orders = 0
        self.lost_margin = 0.0
        self.late_penalty = 0.0
        self.capacity_hours = 0.0
        self.customers_active = 0
        #: Customer-days and defections by the selling style of the customer's salesperson.
        self.customer_days_style = [0, 0]
        self.churned_style = [0, 0]

    def add(self, day: DayStats, m: SalesModel) -> None:
        """Add one measured day (the sums run day by day, in the same order)."""
        first = self.days == 0
        self.days += 1
        self.schedule_breaks += day.schedule_breaks
        self.expedite_requests += day.expedite_requests
        self.changeover_hours += day.changeover_hours
        self.overtime_hours += day.overtime_hours
        self.revenue += day.revenue
        self.cost += day.cost
        self.churned += day.churned
        self.acquired += day.acquired
        self.lost_orders += day.lost_orders
        self.lost_margin += day.lost_margin
        self.late_penalty += day.late_penalty
        self.capacity_hours += m.regular_hours
        n_active = len(m.active_ids)
        self.customers_active += n_active
        cds, by_style = self.customer_days_style, m.customers_by_style
        cds[0] += by_style[0]
        cds[1] += by_style[1]
        hours = self.hours
        lobbying, apologising, selling = hours["lobbying"], hours["apologising"], \
            hours["selling"]
        for sp in m.salespeople:
            h = sp.hours
            lobbying += h["lobbying"]
            apologising += h["apologising"]
            selling += h["selling"]
        hours["lobbying"], hours["apologising"], hours["selling"] = \
            lobbying, apologising, selling
        # `seen`: customers active at the end of some measured day. All of today's on the
        # first measured day; after it, `_acquire` marks each customer it activates.
        if first:
            n = len(m.customer_list)
            m.seen[:n] |= m.is_active[:n]
        if n_active:
            # Means over the active customers: dot products with the 0/1 activity vector
            # (numpy's dot of float64 vectors, the same as ``trust @ is_active``).
            _, rel, _, trust, active, _ = m._slot_views()
            self.trust_sum += trust.dot(active).item() / n_active
            self.rel_sum += rel.dot(active).item() / n_active

def simulate(params: dict[str, Any] | Params | None = None, seed: int = 0, *,
             series: bool = False) -> dict[str, Any]:
    """Run one simulation and return its KPIs.

    Pure: no files, no global state. Same parameters and seed give identical outputs.

    Args:
        params: A `Params` or a dict of overrides of the defaults (see `model.REGIMES`).
        seed: Seed of the run's random generator.
        series: Also return the daily series as a DataFrame under the key ``"series"``.

    Returns:
        The run KPIs, a flat dict of floats (plus ``"series"`` when asked for).
    """
    # The cyclic garbage collector is paused during the run (a run makes no garbage cycles
    # worth collecting before it ends, and with thousands of live generators and agents
    # its passes cost up to a quarter of a run); it is restored as it was.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        m = SalesModel(params, seed=seed, series=series)
        try:
            if series:  # the DataCollector's records follow Mesa's clock
                m.run()
            else:
                m._run_unwrapped()
            out: dict[str, Any] = m.kpis()
            if series:
                out["series"] = m.series_frame()
        finally:
            _forget_model(m)
    finally:
        if gc_was_enabled:
            gc.enable()
    return out


def _forget_model(m: mesa.Model) -> None:
    """Drop Mesa's class-level reference to a finished model.

    Mesa 3.3 keys ``Agent._ids`` by model instance and never releases it (mesa#3179, fixed
    upstream by mesa#3180), so every model would stay in memory; `simulate` must leave no
    global state behind.
    """
    registry = getattr(mesa.Agent, "_ids", None)
    if isinstance(registry, dict):
        registry.pop(m, None)
