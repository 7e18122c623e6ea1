"""relsim's interactive explorer, on Mesa's SolaraViz: ``solara run relsim.model.app``.

Watch the vicious cycle happen: one plant, or two side by side (two regimes, one seed,
stepping together, so both see the same customers' demand). Mesa's SolaraViz gives the
controls (play/pause/step/reset, the play interval as speed, days per redraw; its
threads on, so the views redraw from the latest day while the model plays on); the
scenario panel in the sidebar sets the regime(s), the seed and the parameters that
matter, grouped like the ODD's parameter table, and any change there starts the model
afresh with the new values. The views (the plant's schedule now, the vicious cycle over
time, the channel mix, salespeople's hours, customers, KPIs so far) redraw after every
step. ``relsim app`` starts it and prints its address.

Everything the views read from the model goes through `relsim.model.app_state`, the one
place that knows the model's internals. Needs the ``app`` extra (``pip install -e
'.[app]'``); ``import relsim.model`` does not import this module.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import ipywidgets
import mesa
import reacton.ipywidgets as rw
import solara
from mesa.visualization import SolaraViz
from relsim.model import app_state as st
from relsim.model import app_views as views
from relsim.model.model import SalesModel
from relsim.model.params import REGIMES, SPECS

#: The regime choice that applies no overrides: the sliders alone set the parameters.
CUSTOM = "custom"
REGIME_CHOICES = [*REGIMES, CUSTOM]

#: Milliseconds between days while playing (SolaraViz's "Play Interval" slider).
PLAY_INTERVAL_MS = 100
#: SolaraViz's "Use Threads": the model steps in one thread and the views redraw in
#: another, showing the latest day each time (with Mesa 3.3 and Solara 1.64, the
#: unthreaded play loop only redraws when it stops).
USE_THREADS = True


def default_settings() -> dict[str, Any]:
    """The explorer's starting scenario: the article's two regimes side by side."""
    names = list(REGIMES)
    return {
        "side_by_side": True,
        "regime": names[0],
        "compare": "sacred" if "sacred" in REGIMES else names[-1],
        "seed": 1,
        "params": {s.name: st.default_value(s.name) for _, g in st.slider_specs() for s in g},
    }


def normalise_settings(settings: Any = None) -> dict[str, Any]:
    """Settings from a dict, a reactive holding one (``.value``), or None for the defaults.

    Raises:
        ValueError: Unknown regime or parameter, or a seed that is not a whole number >= 0.
    """
    if settings is not None and not isinstance(settings, Mapping) and hasattr(settings, "value"):
        settings = settings.value
    out = default_settings()
    for key, value in dict(settings or {}).items():
        if key == "params":
            out["params"] = {**out["params"], **dict(value)}
        elif key in out:
            out[key] = value
        else:
            raise ValueError(f"unknown explorer setting {key!r} (known: {', '.join(out)})")
    for key in ("regime", "compare"):
        if out[key] not in REGIME_CHOICES:
            raise ValueError(f"unknown regime {out[key]!r}; choose one of "
                             f"{', '.join(REGIME_CHOICES)}")
    for name in out["params"]:
        if name not in SPECS:
            raise ValueError(f"unknown parameter {name!r}")
    seed = out["seed"]
    if isinstance(seed, float) and seed.is_integer():
        seed = int(seed)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a whole number >= 0, got {seed!r}")
    out["seed"] = seed
    return out


def settings_from_query(search: str | None) -> dict[str, Any]:
    """Settings from a page address's query, e.g. ``?compare=sacred&utilization=0.93``.

    Keys: ``regime``, ``compare`` (the second regime; ``single=1`` shows one run), ``seed``
    and any parameter name. A link to the explorer can so open a scenario.

    Raises:
        ValueError: An unknown key or a value that is not a number.
    """
    out: dict[str, Any] = {}
    params: dict[str, Any] = {}
    for key, raw in parse_qsl(search or "", keep_blank_values=True):
        if key in ("regime", "compare"):
            out[key] = raw
        elif key == "single":
            out["side_by_side"] = raw.lower() in ("0", "false", "no")
        elif key == "seed" or key in SPECS:
            try:
                value = float(raw)
            except ValueError:
                raise ValueError(f"{key}={raw!r} in the address is not a number") from None
            if key == "seed":
                out["seed"] = value
            else:
                params[key] = int(value) if SPECS[key].kind is int else value
        else:
            raise ValueError(f"unknown key {key!r} in the address (regime, compare, single, "
                             f"seed or a parameter name)")
    if params:
        out["params"] = params
    return out


def regimes_shown(settings: Mapping[str, Any]) -> list[str]:
    """The regime of each run shown: one, or two side by side."""
    if settings["side_by_side"]:
        return [settings["regime"], settings["compare"]]
    return [settings["regime"]]


def run_params(settings: Mapping[str, Any], regime: str) -> dict[str, Any]:
    """A run's parameters: the sliders, then the regime's overrides (none for custom)."""
    return {**settings["params"], **REGIMES.get(regime, {})}


@dataclass
class RunView:
    """One run the explorer shows: a label, its model and what the explorer records."""

    label: str
    model: SalesModel
    history: st.History


class Explorer(mesa.Model):
    """A Mesa model holding one `SalesModel`, or two that step together (side by side).

    Both runs of a pair use the same seed, so their demand draws are identical
    (common random numbers: see `SalesModel`).

    Args:
        settings: The scenario (see `default_settings`), a reactive holding it, or None.

    Raises:
        ValueError: Bad settings or parameter values (from `model.Params`).
    """

    def __init__(self, settings: Any = None) -> None:
        s = normalise_settings(settings)
        super().__init__(rng=s["seed"])
        self.settings = s
        regimes = regimes_shown(s)
        labels = list(regimes)
        if len(labels) == 2 and labels[0] == labels[1]:
            labels = [f"{labels[0]} (A)", f"{labels[1]} (B)"]
        self.runs = [
            RunView(label, SalesModel(run_params(s, regime), seed=s["seed"]), st.History())
            for label, regime in zip(labels, regimes, strict=True)
        ]
        self.days = int(self.runs[0].model.p.days)
        #: Held while a day is simulated and while the views read the model: with
        #: SolaraViz's threads, drawing and stepping run at the same time.
        self.lock = threading.RLock()

    @property
    def day(self) -> int:
        """Days simulated so far."""
        return st.day(self.runs[0].model)

    def step(self) -> None:
        """One day in every run; stops (``running`` False) after the run's ``days``."""
        with self.lock:
            for run in self.runs:
                run.model.step()
                run.history.record(run.model)
            self.running = self.day < self.days

    def view_runs(self) -> list[tuple[str, SalesModel, st.History]]:
        """The runs as the view functions take them."""
        return [(r.label, r.model, r.history) for r in self.runs]


# --------------------------------------------------------------------------- views
def _figure(fig) -> solara.Element:
    """A figure as a PNG image that fits its cell (fast zlib level: redraw speed counts)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", pil_kwargs={"compress_level": 1})
    return rw.Image(value=buf.getvalue(), format="png",
                    layout=ipywidgets.Layout(width="100%", height="auto"))


def _draw(model: Explorer, draw) -> solara.Element:
    with model.lock:  # build the figure from a consistent day; encode it outside the lock
        fig = draw(model.view_runs())
    return _figure(fig)


def ScheduleView(model: Explorer):
    """The plant's schedule now."""
    return _draw(model, views.schedule_figure)


def CycleView(model: Explorer):
    """The vicious cycle over time."""
    return _draw(model, views.cycle_figure)


def ChannelView(model: Explorer):
    """Channel mix over time."""
    return _draw(model, views.channel_figure)


def SalesView(model: Explorer):
    """Salespeople's hours by activity and their customers."""
    return _draw(model, views.sales_figure)


def CustomerView(model: Explorer):
    """Customers: trust x relationship."""
    return _draw(model, views.customers_figure)


def KpiView(model: Explorer):
    """KPIs so far (and their difference side by side)."""
    with model.lock:
        text = views.kpi_html(model.view_runs())
    return solara.HTML(tag="div", unsafe_innerHTML=text)


#: SolaraViz components, all on page 0, in reading order.
COMPONENTS = [(c, 0) for c in (ScheduleView, CycleView, ChannelView, SalesView,
                               CustomerView, KpiView)]


@solara.component
def DayBanner(model: solara.Reactive[Explorer]):
    """The day shown, the runs and the seed, above the views."""
    from mesa.visualization.utils import update_counter

    update_counter.get()
    m = model.value
    names = " vs ".join(r.label for r in m.runs)
    solara.Text(f"Day {m.day} of {m.days} · {names} · seed {m.settings['seed']}",
                style={"font-size": "20px", "margin": "4px 0 0 16px"}, classes=["relsim-day"])


def _slider_caption(spec, regimes: list[str]) -> str:
    lo, hi = spec.low, spec.high
    text = f"{spec.meaning}; valid {lo:g} to {hi:g} {spec.unit}"
    owned = {r: REGIMES[r][spec.name] for r in regimes if spec.name in REGIMES.get(r, {})}
    if owned:
        text += "; set by " + ", ".join(f"{r} = {v:g}" for r, v in owned.items())
    return text


@solara.component
def ScenarioPanel(settings: solara.Reactive[dict], model: solara.Reactive[Explorer]):
    """Regime(s), seed and parameter sliders; any change restarts the model with it."""
    error = solara.use_reactive(None)
    s = settings.value
    regimes = regimes_shown(s)

    def apply(**changes: Any) -> None:
        new = {**s, **changes}
        try:
            fresh = Explorer(new)
        except ValueError as exc:
            error.set(str(exc))
            return
        error.set(None)
        settings.set(new)
        model.set(fresh)

    with solara.Card("Scenario", subtitle="any change restarts the model"):
        solara.Checkbox(label="side by side (two regimes, one seed)", value=s["side_by_side"],
                        on_value=lambda v: apply(side_by_side=bool(v)))
        solara.Select("regime A" if s["side_by_side"] else "regime", values=REGIME_CHOICES,
                      value=s["regime"], on_value=lambda v: apply(regime=v))
        if s["side_by_side"]:
            solara.Select("regime B", values=REGIME_CHOICES, value=s["compare"],
                          on_value=lambda v: apply(compare=v))
        solara.InputInt("seed", value=s["seed"], on_value=lambda v: apply(seed=v))
        if error.value:
            solara.Error(error.value)
    groups = st.slider_specs()
    with solara.Card("Parameters", subtitle="grouped as in the ODD; a change restarts the model"):
        with solara.v.ExpansionPanels(multiple=True, accordion=True, flat=True,
                                      v_model=list(range(len(groups)))):
            for group, specs in groups:
                with solara.v.ExpansionPanel():
                    solara.v.ExpansionPanelHeader(children=[group],
                                                  class_="font-weight-bold px-2")
                    with solara.v.ExpansionPanelContent():
                        for spec in specs:
                            _ParameterSlider(spec, s, regimes, apply)


def _ParameterSlider(spec, s: dict, regimes: list[str], apply) -> None:
    """One parameter: a slider labelled with its value and unit, its meaning and range."""
    owned = [r for r in regimes if spec.name in REGIMES.get(r, {})]
    lo, hi, step = st.slider_range(spec)
    value = s["params"][spec.name]
    unit = f" {spec.unit}" if spec.unit != "–" else ""
    label = f"{spec.name} = {value:g}{unit}"
    if owned and len(owned) < len(regimes):
        label += f" ({', '.join(owned)}: its own value)"
    elif owned:
        label = f"{spec.name}: set by the regime"
        if len({REGIMES[r][spec.name] for r in owned}) == 1:
            value = REGIMES[owned[0]][spec.name]
            label = f"{spec.name} = {value:g}{unit} (regime)"
    solara.v.Html(tag="div", children=[label], style_="font-size: 13px; margin-top: 6px")
    slider = solara.SliderInt if spec.kind is int else solara.SliderFloat
    slider("", value=value, min=lo, max=hi, step=step, thumb_label=False,
           disabled=len(owned) == len(regimes),
           on_value=lambda v: apply(params={**s["params"], spec.name: v}))
    solara.v.Html(tag="div", children=[_slider_caption(spec, regimes)],
                  style_="font-size: 11px; color: #666; line-height: 1.2; margin: -6px 0 4px 0")


try:  # Solara's sidebar portal, to put the scenario after SolaraViz's own cards
    from solara.components.applayout import sidebar_portal as _sidebar_portal
except ImportError:  # pragma: no cover (a Solara without it: solara.Sidebar's order)
    _sidebar_portal = None


@solara.component
def SidebarAfter(children=[]):  # noqa: B006 (Solara's own signature for children)
    """Like `solara.Sidebar`, but placed after every other sidebar content (Mesa's cards)."""
    if _sidebar_portal is None or not hasattr(_sidebar_portal, "use_portal_add"):
        solara.Sidebar(children=children)
    else:
        _sidebar_portal.use_portal_add(children, 1 << 30)


#: Hides SolaraViz's "Model Parameters" card when it is empty (the explorer's parameters
#: are in its own panel, which restarts the model on every change).
CSS = ".v-card:has(> .v-card__text > .v-sheet:empty) { display: none; }"


@solara.component
def Page(settings: solara.Reactive[dict] | None = None,
         model: solara.Reactive[Explorer] | None = None):
    """The explorer page (what ``solara run relsim.model.app`` serves).

    Args:
        settings: The scenario as a reactive dict (created here when not given).
        model: The reactive `Explorer` shown (created here from ``settings`` when not given).
    """
    try:
        search = solara.use_router().search
    except Exception:  # rendered outside a router (tests, notebooks): no address
        search = None

    def initial() -> tuple[dict[str, Any], Explorer | None, str | None]:
        if settings is not None:
            return settings.value, None, None
        try:
            wanted = normalise_settings(settings_from_query(search))
            return wanted, Explorer(wanted), None
        except ValueError as exc:
            defaults = default_settings()
            return defaults, Explorer(defaults), f"The address's scenario was not used: {exc}"

    first, first_model, query_error = solara.use_memo(initial, [])
    own_settings = solara.use_reactive(first)
    settings = settings if settings is not None else own_settings
    own_model = solara.use_reactive(first_model)
    model = model if model is not None else own_model
    solara.Style(CSS)
    with SidebarAfter():
        ScenarioPanel(settings, model)
    if query_error:
        solara.Warning(query_error)
    DayBanner(model)
    # A fixed model parameter: SolaraViz's Reset rebuilds Explorer(settings=...) from the
    # live scenario, so Reset keeps what the scenario panel set.
    SolaraViz(model, components=COMPONENTS, model_params={"settings": settings},
              name="relsim explorer: the vicious cycle, step by step",
              play_interval=PLAY_INTERVAL_MS, use_threads=USE_THREADS)
