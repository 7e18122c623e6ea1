"""The explorer's views as matplotlib figures, drawn from `app_state` only.

Each function takes the runs shown (one, or two side by side: ``[(label, model,
history), ...]``) and returns a new `matplotlib.figure.Figure` (no pyplot state, so
sessions and threads do not share figures), as Mesa's own plot components do.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from relsim.model import app_state as st
from relsim.model.agents import CHANNELS

#: Colour-blind safe colours (seaborn "colorblind").
CHANNEL_COLOURS = {"online": "#0173b2", "support": "#029e73", "sales": "#de8f05",
                   "field": "#d55e00"}
ACTIVITY_COLOURS = {"handling": "#949494", "lobbying": "#d55e00", "apologising": "#cc78bc",
                    "upkeep": "#de8f05", "selling": "#0173b2"}
STYLE_MARKERS = {"relationship": "♥", "transactional": "$"}
STYLE_COLOURS = {"relationship": "#de8f05", "transactional": "#0173b2", None: "#0173b2"}
RUN_LINESTYLES = ("-", "--")
METRIC_COLOURS = ("#0173b2", "#de8f05", "#029e73", "#d55e00", "#cc78bc", "#56b4e9", "#ca9161")

#: Figure size (inches) and resolution: about 600 x 350 px, half the width of a laptop
#: screen, the size of a cell of SolaraViz's grid.
FIGSIZE = (6.6, 3.9)
DPI = 80

Run = tuple[str, Any, "st.History"]


def _figure(ncols: int = 1, nrows: int = 1, *, left: float = 0.08, bottom: float = 0.2,
            top: float = 0.86, wspace: float = 0.25, **kw) -> tuple[Figure, np.ndarray]:
    # Margins are set by hand: constrained layout would triple the drawing time.
    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    fig.subplots_adjust(left=left, right=0.98, bottom=bottom, top=top, wspace=wspace,
                        hspace=0.35)
    for ax in axes.flat:
        ax.tick_params(labelsize=7)
        ax.locator_params(nbins=4)  # fewer tick labels: text is most of the drawing time
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    return fig, axes


def _title(ax, text: str) -> None:
    ax.set_title(text, fontsize=8.5, loc="left")


# --------------------------------------------------------------------------- schedule
def schedule_figure(runs: Sequence[Run], limit: int = 25) -> Figure:
    """The plant's schedule now: open orders along time, as the planner has them."""
    fig, axes = _figure(ncols=len(runs), left=0.03, top=0.84, bottom=0.24, wspace=0.12)
    for ax, (label, m, _) in zip(axes[0], runs, strict=True):
        rows, total = st.schedule_rows(m, limit)
        cap = st.capacity_today(m)
        now = float(getattr(m, "now", st.day(m)))
        for r in rows:
            y = r.position
            colour = CHANNEL_COLOURS.get(r.channel, "#777777")
            if math.isfinite(r.promised):  # the order's buffer: planned finish to promise
                ax.plot([r.finish, r.promised], [y, y], lw=1.0, solid_capstyle="butt",
                        color=colour if r.promised >= r.finish else "#c00000", alpha=0.45)
            ax.barh(y, max(r.finish - r.start, 0.02), left=r.start, height=0.72, color=colour,
                    edgecolor="black" if r.in_process else "none", linewidth=1.2,
                    hatch="////" if r.expedited else None)
            if math.isfinite(r.promised):
                late = r.finish > r.promised
                ax.plot(r.promised, y, marker="|", ms=8, mew=2,
                        color="#c00000" if late else "black")
        ax.axvline(now, color="#555555", lw=0.8, ls=":")
        ax.invert_yaxis()
        ax.set_ylim(max(len(rows), 10) - 0.4, -0.7)
        ax.set_yticks([])
        ax.set_xlabel("day", fontsize=7.5)
        ends = [now + 5.0] + [r.finish for r in rows]
        ends += [r.promised for r in rows if math.isfinite(r.promised)]
        ax.set_xlim(now - 0.2, max(ends) + 0.5)
        parts = [f"{cap['regular']:.0f} h"]
        if cap["shift"] > 0:
            parts.append(f"+ {cap['shift']:.0f} h shift")
        if cap["overtime"] > 0:
            parts.append(f"+ {cap['overtime']:.1f} h overtime")
        if cap["disruption"] > 0:
            parts.append(f"− {cap['disruption']:.1f} h disruption")
        more = f", first {len(rows)} shown" if total > len(rows) else ""
        buf = float(getattr(m.planner, "buffer", math.nan))
        _title(ax, f"{label}: {total} open orders{more}, planner's buffer {buf:.1f} d\n"
                   f"capacity today "
                   f"{' '.join(parts)} = {cap['rate']:.1f} h/day")
    handles = [Patch(color=c, label=n) for n, c in CHANNEL_COLOURS.items()]
    handles += [Patch(facecolor="white", edgecolor="black", hatch="////", label="inserted"),
                Patch(facecolor="white", edgecolor="black", lw=1.2, label="in process"),
                Line2D([], [], color="black", marker="|", ls="none", mew=2, label="promised"),
                Line2D([], [], color="#c00000", marker="|", ls="none", mew=2,
                       label="promised, projected late"),
                Line2D([], [], color="#777777", lw=1.2, alpha=0.5,
                       label="buffer: planned finish to promise")]
    fig.legend(handles=handles, loc="lower center", ncol=5, fontsize=6.5,
               frameon=False)
    return fig


# --------------------------------------------------------------------------- cycle
def cycle_figure(runs: Sequence[Run], window: int = 10) -> Figure:
    """The vicious cycle over time: buffer and lead times; on-time, trust, padding, autonomy."""
    data = [(label, st.series(m)) for label, m, _ in runs]
    lost = [st.lost_orders(s) for _, s in data]
    has_lost = any(x is not None for x in lost)
    fig, axes = _figure(nrows=3 if has_lost else 2, sharex=True, top=0.92, bottom=0.24)
    ax_days, ax_share = axes[0, 0], axes[1, 0]
    for k, (_, s) in enumerate(data):
        ls = RUN_LINESTYLES[k % 2]
        if not s:
            continue
        x = s["day"] + 1
        for j, (col, _, _) in enumerate(st.CYCLE_DAYS):
            if col in s:
                y = st.rolling(s[col], window) if col == "lead_time" else s[col]
                ax_days.plot(x, y, ls=ls, color=METRIC_COLOURS[j], lw=1.2)
        for j, (col, _) in enumerate(st.CYCLE_SHARES):
            if col in s:
                ax_share.plot(x, s[col], ls=ls, color=METRIC_COLOURS[3 + j], lw=1.2)
        if has_lost and lost[k] is not None:
            axes[2, 0].plot(x, st.rolling(lost[k], window), ls=ls, color="#c00000", lw=1.2)
    ax_days.set_ylabel("days", fontsize=7.5)
    ax_share.set_ylabel("share", fontsize=7.5)
    ax_share.set_ylim(-0.02, 1.02)
    if has_lost:
        axes[2, 0].set_ylabel("lost / day", fontsize=7.5)
    axes[-1, 0].set_xlabel("day", fontsize=7.5)
    _title(ax_days, f"The vicious cycle (actual lead time: {window}-day mean of deliveries)")
    h1 = [Line2D([], [], color=METRIC_COLOURS[j], label=lab)
          for j, (_, lab, _) in enumerate(st.CYCLE_DAYS)]
    h2 = [Line2D([], [], color=METRIC_COLOURS[3 + j], label=lab)
          for j, (_, lab) in enumerate(st.CYCLE_SHARES)]
    runs_h = [Line2D([], [], color="black", ls=RUN_LINESTYLES[k % 2], label=label)
              for k, (label, _) in enumerate(data)] if len(data) > 1 else []
    fig.legend(handles=h1 + h2 + runs_h, loc="lower center", ncol=5, fontsize=6.5,
               frameon=False)
    return fig


# --------------------------------------------------------------------------- channels
def channel_figure(runs: Sequence[Run], window: int = 20) -> Figure:
    """Channel mix over time: share of orders by channel over a trailing window."""
    fig, axes = _figure(ncols=len(runs), sharey=True)
    for ax, (label, m, _) in zip(axes[0], runs, strict=True):
        s = st.series(m)
        shares = st.channel_shares(s, window)
        if s:
            x = s["day"] + 1
            ys = [np.nan_to_num(shares[c]) for c in CHANNELS]
            ax.stackplot(x, ys, colors=[CHANNEL_COLOURS[c] for c in CHANNELS],
                         labels=list(CHANNELS), alpha=0.9)
        ax.set_ylim(0, 1)
        ax.set_xlabel("day", fontsize=7.5)
        _title(ax, f"{label}: channel mix ({window}-day window)")
    axes[0, 0].set_ylabel("share of orders", fontsize=7.5)
    handles = [Patch(color=c, label=n) for n, c in CHANNEL_COLOURS.items()]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=7, frameon=False)
    return fig


# --------------------------------------------------------------------------- sales
def sales_figure(runs: Sequence[Run]) -> Figure:
    """Salespeople's hours by activity (recent daily mean), style, and how customers fare."""
    fig, axes = _figure(ncols=len(runs), sharex=True, left=0.06, wspace=0.18)
    acts: tuple[str, ...] = ()
    for ax, (label, m, hist) in zip(axes[0], runs, strict=True):
        rows = st.salespeople(m, hist)
        acts = st.activities(m)
        left = np.zeros(len(rows))
        for a in acts:  # one call per activity: stacked bars over all salespeople
            h = np.array([r.hours.get(a, 0.0) for r in rows])
            ax.barh(np.arange(len(rows)), h, left=left, height=0.5,
                    color=ACTIVITY_COLOURS.get(a, "#777777"))
            left += h
        for i, r in enumerate(rows):
            trust = "–" if math.isnan(r.trust) else f"{r.trust:.2f}"
            ax.text(0, i - 0.3, f"{r.customers} customers, their trust {trust}, relationship "
                    f"{r.relationship:.2f}" + (f", {r.churned} left" if r.churned else ""),
                    fontsize=6, va="bottom", ha="left")
        names = [f"S{r.idx + 1}" + (f"\n{STYLE_MARKERS.get(r.style, r.style[:1])}"
                                    if r.style else "") for r in rows]
        ax.set_yticks(range(len(rows)), names, fontsize=7)
        for tick, r in zip(ax.get_yticklabels(), rows, strict=True):
            tick.set_color(STYLE_COLOURS.get(r.style, "black") if r.style else "black")
        ax.invert_yaxis()
        ax.set_xlabel(f"hours per day (mean of last {st.RECENT_DAYS} days)", fontsize=7)
        _title(ax, f"{label}: salespeople")
    handles = [Patch(color=ACTIVITY_COLOURS.get(a, "#777777"), label=a) for a in acts]
    if any(st.style_of(sp) for _, m, _ in runs for sp in m.salespeople):
        handles += [Line2D([], [], ls="none", label=f"{mk} {name} style")
                    for name, mk in STYLE_MARKERS.items()]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=6.5,
               frameon=False)
    return fig


# --------------------------------------------------------------------------- customers
def customers_figure(runs: Sequence[Run]) -> Figure:
    """Customers as points: trust x relationship strength, size = order rate, churned grey."""
    fig, axes = _figure(ncols=len(runs), sharey=True)
    for ax, (label, m, _) in zip(axes[0], runs, strict=True):
        c = st.customers(m)
        styles = [st.style_of(sp) for sp in m.salespeople]
        size = 6 + 14 * np.sqrt(c["rate"])
        gone = ~c["active"]
        ax.scatter(c["trust"][gone], c["relationship"][gone], s=size[gone], c="#bbbbbb",
                   alpha=0.5, linewidths=0, label="left")
        colours = [STYLE_COLOURS.get(styles[o], "#0173b2") if styles else "#0173b2"
                   for o in c["owner"][~gone]]
        ax.scatter(c["trust"][~gone], c["relationship"][~gone], s=size[~gone], c=colours,
                   alpha=0.75, linewidths=0.3, edgecolors="white", label="active")
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("trust", fontsize=7.5)
        _title(ax, f"{label}: {int((~gone).sum())} active, {int(gone.sum())} left")
    axes[0, 0].set_ylabel("relationship strength", fontsize=7.5)
    handles = [Line2D([], [], ls="none", marker="o", color="#0173b2", label="active customer"),
               Line2D([], [], ls="none", marker="o", color="#bbbbbb", label="left (churned)"),
               Line2D([], [], ls="none", marker="o", color="#777777", ms=3,
                      label=f"size: orders per 30 days (last {st.RECENT_DAYS})")]
    if any(st.style_of(sp) for _, m, _ in runs for sp in m.salespeople):
        handles[0] = Line2D([], [], ls="none", marker="o", color=STYLE_COLOURS["relationship"],
                            label="relationship-style seller's")
        handles.insert(1, Line2D([], [], ls="none", marker="o",
                                 color=STYLE_COLOURS["transactional"],
                                 label="transactional seller's"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=6.5,
               frameon=False)
    return fig


# --------------------------------------------------------------------------- KPIs
def _fmt(x: float) -> str:
    if x is None or not math.isfinite(x):
        return "–"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.2f}" if abs(x) >= 1 else f"{x:.3f}"


def kpi_html(runs: Sequence[Run]) -> str:
    """The run's KPIs so far as an HTML table; side by side adds their difference."""
    values = [(label, st.kpis(m)) for label, m, _ in runs]
    m0 = runs[0][1]
    warm = int(m0.p.warmup_days)
    head = (f"KPIs so far (days 0–{st.day(m0)})" if warm == 0 else
            f"KPIs so far, measured after the {warm}-day warm-up (day {st.day(m0)})")
    out = [f'<div style="font-size:11px;line-height:1.25"><b>{html.escape(head)}</b>']
    if not any(v for _, v in values):
        out.append("<p>No measured day yet: step the model.</p></div>")
        return "".join(out)
    cols = [label for label, _ in values]
    if len(values) == 2:
        cols.append(f"{cols[1]} − {cols[0]}")
    cell = 'style="padding:0 8px;text-align:right"'
    out.append('<table style="border-collapse:collapse;margin-top:4px">')
    out.append("<tr><th></th>" + "".join(f"<th {cell}>{html.escape(c)}</th>" for c in cols)
               + "</tr>")
    for key, name in st.KPI_ROWS:
        if not any(key in v for _, v in values):
            continue
        xs = [v.get(key, math.nan) for _, v in values]
        cells = [_fmt(x) for x in xs]
        if len(values) == 2:
            d = xs[1] - xs[0]
            cells.append(("+" if d > 0 else "") + _fmt(d))
        out.append(f'<tr style="border-top:1px solid #eee"><td style="padding:0 4px">'
                   f"{html.escape(name)}</td>" + "".join(f"<td {cell}>{c}</td>" for c in cells)
                   + "</tr>")
    out.append("</table></div>")
    return "".join(out)
