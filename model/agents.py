"""The model's vocabulary: orders and the Mesa agents Customer, Salesperson, Planner, Plant.

Each mechanism of the article has a method named after it, so a reader can find it:

- ``Customer.padding``: requests padded as trust falls (article step 10).
- ``Customer.goes_elsewhere`` / ``Customer.lose_order``: an offered date beyond the need
  sends the order to a competitor (step 10, "the customers who do not go elsewhere").
- ``Customer.choose_channel``: channel choice, online > support > sales > field.
- ``Customer.learn_from_delivery``: trust and experienced channel reliability.
- ``Salesperson.promise_without_planner`` / ``Salesperson.lobby``: steps 2-3 and 5-6, by
  relationship-style salespeople only; transactional ones give the planner's date.
- ``Salesperson.drift_autonomy``: step 9, ignoring an unrealistic planner.
- ``Planner.quote``, ``Planner.insert_unplanned``, ``Planner.replan_expedite``: honest
  quotes, step 4 (insertion without re-planning) and the sacred alternative.
- ``Planner.decide_overtime``, ``Planner.review_shift`` and ``Planner.review_buffer``: added
  capacity (overtime, a second shift) and step 8 with TOC buffer release.
- ``Plant.advance``: a work-conserving server in continuous time; ``Plant.preempt``: the
  changeover cost of a schedule break (step 7).

State that every customer carries and that changes every day (relationship strength) or is
read in bulk (trust, for churn) lives in numpy arrays on the model, indexed by
``Customer.idx``; the agent exposes it as properties. Daily updates of those arrays are
vectorised; nothing loops over idle customers.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import mesa

if TYPE_CHECKING:  # pragma: no cover
    from relsim.model.model import SalesModel

#: Channels, in order of efficiency (article: online > support > sales > field).
ONLINE, SUPPORT, SALES, FIELD = 0, 1, 2, 3
CHANNELS = ("online", "support", "sales", "field")
PERSONAL = (SALES, FIELD)
#: Selling styles (MODEL.md "Version 2", mechanism 6).
RELATIONSHIP_STYLE, TRANSACTIONAL_STYLE = 0, 1
STYLES = ("relationship", "transactional")
#: Why an order was lost: not lost, a complex bid lost to a competitor, the offered date
#: beyond the need (the order went to a competitor), its customer defected.
NOT_LOST, LOST_BID, LOST_DATE, LOST_CHURN = 0, 1, 2, 3

#: Relationship bonus multiplier by channel: personal channels only; a field visit draws on
#: the relationship twice as strongly as a call to the salesperson.
RELATIONSHIP_WEIGHT = (0.0, 0.0, 1.0, 2.0)


class Order:
    """A customer order (a plain record, not an agent). Times are in days, work in hours.

    Attributes:
        uid: Sequence number of the order.
        customer: Index of the ordering customer.
        channel: Channel index (ONLINE, SUPPORT, SALES, FIELD).
        arrival: Arrival time (fractional day).
        work: Planned work content (hours), what the planner knows.
        total: Actual work (hours) including changeover losses added while in process.
        remaining: Actual work still to do (hours).
        need_date: Date the customer truly needs the order.
        requested_date: Date the customer asks for (padded need).
        quote_date: The planner's honest quote (projected finish + buffer).
        promised_date: The date promised to the customer.
        urgent: Genuinely urgent order.
        complex: Complex deal (value multiplier applies).
        expedite: The customer asked for a date earlier than the quote.
        expedited: Promised by a salesperson without the planner (and inserted).
        finish: Delivery time (NaN while open), or cancellation time if lost.
        lost: Not produced: a complex bid lost, the order went elsewhere because of the
            offered date, or its customer defected (``lost_to`` says which).
        lost_to: NOT_LOST, LOST_BID, LOST_DATE or LOST_CHURN.
        salesperson: Index of the customer's salesperson.
        buffer: The planner's buffer (days) inside the quote when it was made.
        padding: Share of the need hidden from the supplier (requested = need * (1 - padding)).
    """

    __slots__ = (
        "uid", "customer", "channel", "arrival", "work", "total", "remaining",
        "need_date", "requested_date", "quote_date", "promised_date", "urgent", "complex",
        "expedite", "expedited", "finish", "lost", "lost_to", "salesperson", "buffer",
        "padding",
    )

    def __init__(self, uid, customer, channel, arrival, work, actual, need_date,
                 requested_date, urgent, complex_, salesperson):
        self.uid = uid
        self.customer = customer
        self.channel = channel
        self.arrival = arrival
        self.work = work
        self.total = actual
        self.remaining = actual
        self.need_date = need_date
        self.requested_date = requested_date
        self.quote_date = math.nan
        self.promised_date = math.nan
        self.urgent = urgent
        self.complex = complex_
        self.expedite = False
        self.expedited = False
        self.finish = math.nan
        self.lost = False
        self.lost_to = NOT_LOST
        self.salesperson = salesperson
        self.buffer = 0.0
        self.padding = 0.0

    def planned_remaining(self) -> float:
        """Planned work (hours) still to do, as the planner sees it."""
        return self.work * (self.remaining / self.total) if self.total > 0 else 0.0


class Customer(mesa.Agent):
    """A buying organisation with ordinary and occasional complex orders.

    State in the model's arrays: ``trust`` (0..1) in the supplier's promises and
    ``relationship`` (0..1) with its salesperson. Own state: experienced reliability per
    channel, last quoted lead time, its salesperson, its open orders, active flag.
    """

    def __init__(self, model: SalesModel, idx: int, salesperson: Salesperson,
                 quote_lt: float) -> None:
        super().__init__(model)
        self.idx = idx
        self.salesperson = salesperson
        p = model.p
        self.reliability = [p.trust_init] * 4
        self.last_quote_lt = quote_lt
        self.open_orders: dict[int, Order] = {}
        self.active = True

    @property
    def trust(self) -> float:
        """Trust in the supplier's promises (0..1)."""
        return float(self.model.trust[self.idx])

    @property
    def relationship(self) -> float:
        """Relationship strength with its salesperson (0..1)."""
        return float(self.model.rel[self.idx])

    def padding(self) -> float:
        """Padding (article step 10): the share of its need a customer hides as trust falls.

        The requested lead time is the needed one times ``1 - padding``.
        """
        m = self.model
        return m.p.pad_max * (1.0 - m.trust.item(self.idx))


    def wants_expedite(self, requested_lt: float) -> bool:
        """Expects the quote to exceed the requested date: only a salesperson can negotiate."""
        return self.last_quote_lt > requested_lt

    def choose_channel(self, personal_only: bool, u: float) -> int:
        """Multinomial logit over channel utilities (reliability − effort + relationship).

        Args:
            personal_only: Only sales and field are open (complex deal or expedite wish).
            u: A U[0,1) variate.

        Returns:
            The chosen channel index.
        """
        m = self.model
        rel_bonus = m.p.relationship_pull * m.rel.item(self.idx)
        r, effort, weight = self.reliability, m.effort, RELATIONSHIP_WEIGHT
        inv_t = m.inv_temperature  # 1 / channel_temperature
        exp = math.exp
        # Utility of channel c: r[c] - effort[c] + weight[c] * rel_bonus; the chosen channel
        # is the first whose cumulative weight exp((utility - top) / temperature) exceeds
        # u times the total (written out for two and four channels: this runs per order).
        x2 = r[2] - effort[2] + weight[2] * rel_bonus
        x3 = r[3] - effort[3] + weight[3] * rel_bonus
        if personal_only:
            top = x3 if x3 > x2 else x2  # max(): the first of equal values
            w2, w3 = exp((x2 - top) * inv_t), exp((x3 - top) * inv_t)
            # Plain left-to-right additions, not sum(): Python 3.12+ sums floats with
            # compensation, which would make results differ between Python versions.
            target = u * (w2 + w3)
            return SALES if target < w2 else FIELD
        x0 = r[0] - effort[0] + weight[0] * rel_bonus
        x1 = r[1] - effort[1] + weight[1] * rel_bonus
        top = x0
        if x1 > top:
            top = x1
        if x2 > top:
            top = x2
        if x3 > top:
            top = x3
        w0, w1 = exp((x0 - top) * inv_t), exp((x1 - top) * inv_t)
        w2, w3 = exp((x2 - top) * inv_t), exp((x3 - top) * inv_t)
        target = u * (w0 + w1 + w2 + w3)
        acc = w0
        if target < acc:
            return ONLINE
        acc += w1
        if target < acc:
            return SUPPORT
        acc += w2
        if target < acc:
            return SALES
        return FIELD

    def goes_elsewhere(self, offered_lt: float, need_lt: float, u: float) -> bool:
        """Article step 10: an offered date beyond the need sends the order to a competitor.

        The customer judges the offered lead time against its *need* (padding is only its
        negotiating tactic): with a relative excess ``x = (offered - need) / need`` the order
        is lost with probability ``1 - exp(-lost_order_sensitivity * x)``, lowered by the
        relationship (times ``1 - relationship_loyalty * relationship``): a customer who
        trusts its salesperson gives the supplier the benefit of the doubt.

        Args:
            offered_lt: Offered lead time (days).
            need_lt: Needed lead time (days).
            u: A U[0,1) variate from the customer's own stream.
        """
        m = self.model
        s = m.p.lost_order_sensitivity
        excess = offered_lt - need_lt
        if s <= 0.0 or excess <= 0.0:
            return False
        cushion = 1.0 - m.p.relationship_loyalty * m.rel.item(self.idx)
        return u < (1.0 - math.exp(-s * excess / need_lt)) * cushion

    def lose_order(self, order: Order) -> None:
        """Having bought elsewhere lowers loyalty like a broken promise (trust and channel)."""
        m = self.model
        w = m.p.trust_memory
        trust = m.trust.item(self.idx)
        m.set_trust(self.idx, trust - w * trust)
        self.reliability[order.channel] -= w * self.reliability[order.channel]

    def learn_from_delivery(self, order: Order) -> None:
        """Trust learns promise kept and need met; the channel's reliability learns met.

        Trust moves toward ``(1 - trust_need_weight) * kept + trust_need_weight * need_met``
        (weight 0 is version 1: promise only). The channel's reliability learns whether the
        requested date was met.
        """
        m = self.model
        w = m.p.trust_memory
        kept = 1.0 if order.finish <= order.promised_date else 0.0
        nw = m.p.trust_need_weight
        if nw > 0.0:
            need_met = 1.0 if order.finish <= order.need_date else 0.0
            kept += nw * (need_met - kept)
        met = 1.0 if order.finish <= order.requested_date else 0.0
        trust = m.trust.item(self.idx)
        m.set_trust(self.idx, trust + w * (kept - trust))
        r = self.reliability
        r[order.channel] += w * (met - r[order.channel])


class Salesperson(mesa.Agent):
    """A salesperson with a portfolio of customers, clout, autonomy and a selling style.

    A relationship-style salesperson promises requested dates without the planner as its
    autonomy allows, inserts and lobbies with its clout, and spends ``relationship_focus``
    of its spare time on upkeep. A transactional one gives the planner's date, never inserts
    or lobbies, and spends all spare time selling. ``discipline`` still decides whether a
    break is allowed at all.

    Attributes:
        idx: Index of the salesperson.
        style: RELATIONSHIP_STYLE or TRANSACTIONAL_STYLE.
        influence: Clout, the share of the queue an order it pushes jumps over (0..1).
        autonomy: Probability of promising a date without asking the planner (0..1).
        portfolio: Number of active customers it serves.
        hours: Today's hours by activity.
    """

    ACTIVITIES = ("handling", "lobbying", "apologising", "upkeep", "selling")

    def __init__(self, model: SalesModel, idx: int, influence: float, style: int) -> None:
        super().__init__(model)
        self.idx = idx
        self.style = style
        self.relational = style == RELATIONSHIP_STYLE
        self.influence = influence
        self.autonomy = model.p.sales_autonomy if self.relational else 0.0
        self.portfolio = 0
        self.hours = _NO_HOURS.copy()

    def start_day(self) -> None:
        """A fresh working day."""
        self.hours = _NO_HOURS.copy()  # a copy of a zero template: cheaper than fromkeys

    def busy_hours(self) -> float:
        """Hours already used today for orders, lobbying and apologies."""
        h = self.hours  # `can_lobby` repeats this sum inline (hot path): keep them alike
        return h["handling"] + h["lobbying"] + h["apologising"]

    def handle(self, channel: int) -> None:
        """Time spent taking an order through a personal channel."""
        p = self.model.p
        self.hours["handling"] += p.handling_hours_field if channel == FIELD \
            else p.handling_hours_sales

    def promise_without_planner(self, u: float) -> bool:
        """Article step 2: say yes to the expedite without consulting the planner."""
        return self.relational and u < self.autonomy * (1.0 - self.model.p.discipline)

    def drift_autonomy(self, quote_unacceptable: bool) -> None:
        """Article step 9: unrealistic quotes push salespeople to ignore the planner."""
        if not self.relational:
            return
        p = self.model.p
        if quote_unacceptable:
            self.autonomy += p.autonomy_drift * (1.0 - self.autonomy)
        else:
            self.autonomy -= p.autonomy_drift * p.autonomy_recovery * self.autonomy
            self.autonomy = max(self.autonomy, 0.0)

    def can_lobby(self) -> bool:
        """Enough hours left today to lobby for one order and apologise."""
        p = self.model.p
        h = self.hours  # busy_hours(), written out (a call per order); keep them alike
        busy = h["handling"] + h["lobbying"] + h["apologising"]
        return busy + p.lobby_hours + p.apology_hours <= p.sales_hours

    def lobby(self, order: Order, u: float) -> None:
        """Article steps 5-6: push the order ahead inside, apologise outside."""
        m = self.model
        p = m.p
        self.hours["lobbying"] += p.lobby_hours
        self.hours["apologising"] += p.apology_hours
        m.planner.jump(order, self.influence, u)
        i = order.customer
        rel = m.rel.item(i)
        m.rel[i] = rel + p.apology_boost * (1.0 - rel)

    def allocate_spare_time(self) -> tuple[float, float]:
        """End of day: spare hours go to relationship upkeep and to selling.

        Returns:
            (upkeep hours, selling hours).
        """
        p = self.model.p
        h = self.hours
        # spare = sales hours - busy_hours() (written out: this runs daily)
        spare = max(0.0, p.sales_hours - (h["handling"] + h["lobbying"] + h["apologising"]))
        upkeep = p.relationship_focus * spare if self.relational else 0.0
        h["upkeep"] = upkeep
        h["selling"] = spare - upkeep
        return upkeep, spare - upkeep


#: A salesperson's hours of a day before it starts.
_NO_HOURS = dict.fromkeys(Salesperson.ACTIVITIES, 0.0)


class Planner(mesa.Agent):
    """The planner: owns the schedule (the sequence of open orders), the buffer, overtime.

    Attributes:
        schedule: Open orders in planned sequence; ``schedule[0]`` is in process.
        planned_total: Sum of planned work (hours) of scheduled orders.
        buffer: Safety buffer (days) added to projected finishes in quotes.
        overtime: Overtime hours decided for today.
    """

    def __init__(self, model: SalesModel) -> None:
        super().__init__(model)
        self.schedule: list[Order] = []
        self.planned_total = 0.0
        #: Scheduled orders the plant has worked on (the head, and orders preempted while
        #: in process), by uid in the order they were started: their planned work is only
        #: partly still to do.
        self.started: dict[int, Order] = {}
        self.buffer = model.p.buffer_days
        self.overtime = 0.0

    # -- load -----------------------------------------------------------------------
    def planned_load(self) -> float:
        """Planned work still to do in the schedule (hours)."""
        load = self.planned_total
        for o in self.started.values():
            # o.work - o.planned_remaining(), written out (this runs per order)
            load -= o.work - (o.work * (o.remaining / o.total) if o.total > 0 else 0.0)
        return load

    def quote(self, now: float, work: float) -> float:
        """Honest quote: projected finish at the end of the schedule + buffer (a date)."""
        return now + (self.planned_load() + work) / self.model.regular_hours + self.buffer

    def standard_quote_lt(self) -> float:
        """Quoted lead time for an average order placed now (days)."""
        m = self.model
        return (self.planned_load() + m.p.work_mean_hours) / m.regular_hours + self.buffer

    # -- sequence changes -------------------------------------------------------------
    def append(self, order: Order) -> None:
        """Add an order at the end of the schedule (first come, first served)."""
        self.schedule.append(order)
        self.planned_total += order.work

    def remove(self, order: Order) -> None:
        """Take an order out of the schedule (delivered or cancelled)."""
        self.schedule.remove(order)
        self.planned_total -= order.work
        self.started.pop(order.uid, None)

    def _put_ahead(self, order: Order, pos: int, influence: float, u: float) -> None:
        """Move ``order`` (at ``pos``, or new if pos is None) ahead by clout.

        It passes ``floor(influence * n + u)`` of the ``n`` orders ahead of it (stochastic
        rounding, so the expected share passed is the clout). Passing all of them displaces
        the order in process (one already worked on): with probability ``preemption_prob``
        it is preempted (a changeover), otherwise the pushed order goes right behind it.
        An order at the head that no work has been done on yet is passed at no cost.
        """
        m = self.model
        sched = self.schedule
        n = len(sched) if pos is None else pos
        k = int(influence * n + u)
        if k > n:  # min(n, k)
            k = n
        if k <= 0:
            if pos is None:
                sched.append(order)
            return
        new = n - k
        if pos is not None:
            del sched[pos]
        if new == 0 and sched and sched[0].remaining < sched[0].total:
            # The head has been worked on: putting an order before it displaces it.
            if m.behaviour.uniform() < m.p.preemption_prob:
                m.plant.preempt(sched[0])
            else:
                new = 1
        sched.insert(new, order)
        if new != n:  # the order really moved (not put back behind the order in process)
            m.day.schedule_breaks += 1

    def insert_unplanned(self, order: Order, influence: float, u: float) -> None:
        """Article steps 3-4: the salesperson inserts the order; nobody re-plans."""
        self.planned_total += order.work
        self._put_ahead(order, None, influence, u)

    def jump(self, order: Order, influence: float, u: float) -> None:
        """Article step 5: lobbying moves an open order ahead in the sequence."""
        pos = self.schedule.index(order)
        if pos > 0:
            self._put_ahead(order, pos, influence, u)

    def replan_expedite(self, order: Order, now: float) -> bool:
        """The sacred alternative to step 4: re-plan (earliest due date) with overtime.

        The order gets its requested date only if, put in earliest-due-date position behind
        the order in process, at regular capacity plus the overtime the planner may add, it
        is projected to finish with ``rush_buffer_share`` of the buffer to spare before that
        date (the simplified-DBR safe date) and every other promise that was being kept is
        still kept.

        Returns:
            True when the requested date was granted (the order is then scheduled).
        """
        p = self.model.p
        cap = self.model.regular_hours * (1.0 + p.overtime_max)
        due = order.requested_date
        sched = self.schedule
        cum = 0.0
        j = len(sched)
        for i, o in enumerate(sched):
            if i > 0 and o.promised_date > due:
                j = i
                break
            cum += o.work * (o.remaining / o.total)
        # Simplified DBR: the safe date is the projected finish plus part of the buffer.
        if now + (cum + order.work) / cap + p.rush_buffer_share * self.buffer > due:
            return False
        shift = order.work / cap
        for o in sched[j:]:
            cum += o.work * (o.remaining / o.total)
            finish = now + cum / cap
            if finish <= o.promised_date < finish + shift:
                return False
        sched.insert(j, order)
        self.planned_total += order.work
        return True

    # -- daily decisions ---------------------------------------------------------------
    def decide_overtime(self, now: float) -> float:
        """Added capacity: overtime hours today if the schedule's dates demand it.

        The required rate is the largest cumulative planned work up to an order divided by
        the time left to its promised date (at least one day); overtime covers the excess
        over regular capacity, up to ``overtime_max`` of it (whatever the discipline: a
        lever of its own).
        """
        regular = self.model.regular_hours
        allowed = regular * self.model.p.overtime_max
        self.overtime = 0.0
        if allowed <= 0.0 or not self.schedule:
            return 0.0
        cum = 0.0
        need = 0.0
        for o in self.schedule:
            cum += o.work * (o.remaining / o.total)
            rate = cum / max(o.promised_date - now, 1.0)
            if rate > need:
                need = rate
        self.overtime = float(min(allowed, max(0.0, need - regular)))
        return self.overtime

    def projected_late(self, now: float) -> list[Order]:
        """Open orders whose projected finish (forward loading) is after their promise."""
        cap = self.model.regular_hours + self.overtime
        cum = 0.0
        late = []
        for o in self.schedule:
            cum += o.work * (o.remaining / o.total)
            if now + cum / cap > o.promised_date:
                late.append(o)
        return late

    def review_buffer(self, otd: float, penetration: float) -> None:
        """Article step 8 and TOC buffer management.

        Below the on-time target the buffer grows by ``buffer_gain`` days per unit of
        shortfall. At or above target a planner allowed to release buffer shrinks it when
        recent orders used only the green third of their buffer (penetration < 1/3); the
        shrink is weighted by ``buffer_release`` (0: the status quo only ratchets up).
        """
        p = self.model.p
        if otd < p.buffer_target_otd:
            self.buffer += p.buffer_gain * (p.buffer_target_otd - otd)
        elif penetration < GREEN_ZONE:
            self.buffer -= p.buffer_release * p.buffer_gain * (GREEN_ZONE - penetration)
            self.buffer = max(self.buffer, 0.0)

    def review_shift(self, load: float) -> None:
        """Added capacity: a second shift under sustained load ("a second shift, say").

        ``load`` is the planned load: the work of the orders accepted into the schedule
        (not bids lost or orders gone to a competitor) per day over the last
        ``shift_review_days`` days, over regular capacity without the shift. Above
        ``shift_trigger`` the shift (``shift_hours`` of regular capacity at regular cost) is
        added; with the shift on, it is removed when the
        load falls below ``SHIFT_RELEASE`` of the trigger (hysteresis, so a load near the
        trigger does not toggle it every review).
        """
        m = self.model
        p = m.p
        if p.shift_hours <= 0.0:
            return
        if not m.shift_on and load > p.shift_trigger:
            m.shift_on = True
        elif m.shift_on and load < SHIFT_RELEASE * p.shift_trigger:
            m.shift_on = False
        m.regular_hours = p.capacity_hours + (p.shift_hours if m.shift_on else 0.0)


#: Buffer management zones: the green third of the buffer.
GREEN_ZONE = 1.0 / 3.0
#: The second shift is removed when the load falls below this share of its trigger.
SHIFT_RELEASE = 0.85


class Plant(mesa.Agent):
    """The drum: one work-conserving server processing the planner's sequence.

    Capacity is a rate (hours of work per day) that holds over the whole day: regular
    hours plus today's overtime minus today's disruption loss.
    """

    def __init__(self, model: SalesModel) -> None:
        super().__init__(model)
        self.rate = model.regular_hours
        self.disrupted = 0.0
        self.busy_hours = 0.0
        self.offered_hours = 0.0
        self.changeover_hours = 0.0
        #: Time integral of the number of orders in the system since ``wip_from`` (days).
        self.wip_area = 0.0
        self.wip_from = float(model.p.warmup_days)

    def disruption_loss(self, u1: float, u2: float) -> float:
        """Share of today's capacity lost: a disruption with prob. ``disruption_rate``.

        The loss is uniform with mean ``disruption_severity`` on the widest interval
        inside [0, 1]: U(0, 2s) for s <= 1/2, U(2s − 1, 1) above.
        """
        p = self.model.p
        if u1 >= p.disruption_rate:
            return 0.0
        s = p.disruption_severity
        lo, hi = (0.0, 2.0 * s) if s <= 0.5 else (2.0 * s - 1.0, 1.0)
        return lo + (hi - lo) * u2

    def start_day(self, loss: float, overtime: float) -> None:
        """Set today's processing rate."""
        self.disrupted = loss
        self.rate = self.model.regular_hours * (1.0 - loss) + overtime
        self.offered_hours += self.rate

    def preempt(self, order: Order) -> None:
        """A schedule break displaces the order in process: changeover capacity is lost."""
        c = self.model.p.changeover_hours
        order.total += c
        order.remaining += c
        self.changeover_hours += c
        self.model.day.changeover_hours += c

    def advance(self, t: float, t_end: float) -> None:
        """Process the sequence from time ``t`` to ``t_end`` (days), delivering orders.

        Also integrates the number of orders in the system over time (after warm-up), an
        observation of WIP independent of the order records.
        """
        planner = self.model.planner
        sched = planner.schedule
        rate = self.rate
        if t >= self.wip_from:
            self.wip_area += len(sched) * (t_end - t)
        if rate <= 0.0:
            return
        deliver = self.model.deliver
        started = planner.started
        while sched and t < t_end:
            head = sched[0]
            if head.uid not in started:
                started[head.uid] = head
            dt = head.remaining / rate
            if t + dt <= t_end:
                t += dt
                self.busy_hours += head.remaining
                head.remaining = 0.0
                deliver(head, t)
                if t >= self.wip_from:
                    self.wip_area -= t_end - t  # one order fewer for the rest of the span
            else:
                done = (t_end - t) * rate
                head.remaining -= done
                self.busy_hours += done
                t = t_end
