"""The explorer (relsim.model.app) without a browser: Solara renders it in-process.

The page is rendered inside Solara's AppLayout (which collects the sidebar), and the
tests press its buttons and move its sliders through the widgets, as the browser would.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
from relsim import model
from relsim.model import app_state as st
from relsim.model.params import PARAMETER_SPECS, SPECS

solara = pytest.importorskip("solara", reason="the app extra is not installed")
ipywidgets = pytest.importorskip("ipywidgets")
v = pytest.importorskip("ipyvuetify")
from relsim.model import app  # noqa: E402 (after the skip)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture
def small_figures(monkeypatch):
    """Blank images for tests that do not look at them (drawing text dominates their time:
    test_step_advances_the_day_and_changes_the_charts draws the real ones)."""
    from matplotlib.figure import Figure

    for name in ("schedule_figure", "cycle_figure", "channel_figure", "sales_figure",
                 "customers_figure"):
        monkeypatch.setattr(app.views, name, lambda runs: Figure(figsize=(1, 1), dpi=10))


class Rendered:
    """The rendered page and the reactive model it shows."""

    def __init__(self):
        self.settings = solara.reactive(app.default_settings())
        self.model = solara.reactive(app.Explorer(self.settings.value))
        page = app.Page(settings=self.settings, model=self.model)
        _, self.rc = solara.render(solara.AppLayout(children=[page]), handle_error=False)

    def find(self, *args, **kwargs):
        return self.rc.find(*args, **kwargs)


def render() -> Rendered:
    """Render the page as the browser gets it (in Solara's AppLayout)."""
    return render_page()


def render_page() -> Rendered:
    return Rendered()


def walk(widget):
    """Every widget under ``widget`` (depth first)."""
    yield widget
    for attr in ("children", "items"):  # items: the cells of SolaraViz's grid
        kids = getattr(widget, attr, None) or []
        for child in kids.values() if isinstance(kids, dict) else kids:
            if isinstance(child, ipywidgets.Widget):
                yield from walk(child)


def texts(rc) -> list[str]:
    """The plain-text children of every HTML element on the page."""
    return [c for w in walk(rc.rc.container) if isinstance(w, v.Html)
            for c in (w.children or []) if isinstance(c, str)]


def banner(rc) -> str:
    return rc.find(v.Html, class_="relsim-day").widget.children[0]


def press(rc, label: str) -> None:
    rc.find(v.Btn, children=[label]).widget.fire_event("click", None)


def images(rc) -> list[bytes]:
    return [bytes(w.value) for w in rc.find(ipywidgets.Image).widgets]


def kpi_html(rc) -> str:
    return next(w.unsafe_innerHTML for w in walk(rc.rc.container)
                if "KPIs so far" in (getattr(w, "unsafe_innerHTML", "") or ""))


def explorer_of(rc) -> app.Explorer:
    """The Explorer the page shows."""
    return rc.model.value


def param_sliders(rc) -> dict[str, v.Slider]:
    """The parameter sliders of the scenario panel, by parameter name."""
    mine = [w for w in rc.find(v.Slider).widgets if not w.label]
    names = [s.name for _, specs in st.slider_specs() for s in specs]
    assert len(mine) == len(names)
    return dict(zip(names, mine, strict=True))


def test_import_relsim_model_does_not_import_solara():
    code = ("import sys, relsim.model; "
            "print('solara' in sys.modules, 'relsim.model.app' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False"]


def test_app_renders_views_controls_and_grouped_sliders():
    rc = render()
    assert banner(rc).startswith("Day 0 of 720 · relationship vs sacred · seed 1")
    pngs = images(rc)
    assert len(pngs) == 5 and all(p.startswith(b"\x89PNG") and len(p) > 5000 for p in pngs)
    for label in ("Reset", "Step", "▶"):
        rc.find(v.Btn, children=[label]).assert_single()
    # Sliders: every name of SLIDER_NAMES the model has, grouped in the ODD's order.
    groups = st.slider_specs()
    names = [s.name for _, specs in groups for s in specs]
    assert names == [n for n in st.SLIDER_NAMES if n in SPECS]
    assert [g for g, _ in groups] == ["Run control", "Plant", "Planner", "Salespeople",
                                      "Customers"]
    labels = texts(rc)
    assert "changeover_hours = 1 h" in labels
    assert "disruption_rate = 0.02 1/day" in labels
    sliders = param_sliders(rc)
    util = sliders["utilization"]
    assert (util.min, util.max) == (SPECS["utilization"].low, SPECS["utilization"].high)
    # Parameters the two regimes set are not free sliders in side-by-side mode.
    assert sliders["discipline"].disabled and not util.disabled


def test_step_advances_the_day_and_changes_the_charts():
    rc = render()
    before, kpis_before = images(rc), kpi_html(rc)
    press(rc, "Step")
    press(rc, "Step")
    assert banner(rc).startswith("Day 2 of 720")
    after = images(rc)
    changed = [a != b for a, b in zip(before, after, strict=True)]
    assert changed[1] and changed[2], "the vicious-cycle and channel charts must redraw"
    assert sum(changed) >= 4
    assert kpi_html(rc) != kpis_before and "on-time vs promise" in kpi_html(rc)


def test_changing_a_parameter_restarts_the_model_with_the_new_value(small_figures):
    rc = render()
    press(rc, "Step")
    rc.model.value.step()  # a second day without a redraw
    assert explorer_of(rc).day == 2
    param_sliders(rc)["utilization"].v_model = 0.6
    assert banner(rc).startswith("Day 0 of")
    m = explorer_of(rc)
    assert [r.model.p.utilization for r in m.runs] == [0.6, 0.6]
    # ... and SolaraViz's Reset rebuilds from the scenario panel, keeping the change.
    m.step()
    press(rc, "Reset")
    m = explorer_of(rc)
    assert m.day == 0 and m.runs[0].model.p.utilization == 0.6


def test_regime_seed_and_mode_controls(small_figures):
    rc = render()
    rc.find(v.Select, label="regime B").widget.v_model = "custom"
    m = explorer_of(rc)
    assert [r.label for r in m.runs] == ["relationship", "custom"]
    assert m.runs[1].model.p.discipline == SPECS["discipline"].default
    seed = rc.find(v.TextField, label="seed").widget
    seed.v_model = "7"
    seed.fire_event("focusout", None)  # Solara applies typed input on leaving it
    assert explorer_of(rc).settings["seed"] == 7
    rc.find(v.Checkbox, label="side by side (two regimes, one seed)").widget.v_model = False
    m = explorer_of(rc)
    assert len(m.runs) == 1 and banner(rc).endswith("relationship · seed 7")
    # One regime shown: its own parameters are fixed, the others free.
    assert param_sliders(rc)["discipline"].disabled


def test_invalid_combination_is_reported_and_the_model_kept(small_figures):
    rc = render()
    press(rc, "Step")
    param_sliders(rc)["warmup_days"].v_model = 800  # >= days (720)
    assert banner(rc).startswith("Day 1 of"), "the running model is kept"
    errors = [w for w in rc.find(v.Alert).widgets if "warmup_days" in str(w.children)]
    assert errors


def _demand(m: model.SalesModel, day: int):
    return [(o.arrival, o.work, o.need_date, o.urgent, o.complex, o.customer)
            for o in m.orders if o.arrival < day]


def test_side_by_side_runs_share_the_seed_and_demand_draws():
    e = app.Explorer({"seed": 11})
    a, b = (r.model for r in e.runs)
    assert a.p.discipline != b.p.discipline  # two regimes
    e.step()
    da, db = _demand(a, 1), _demand(b, 1)
    assert len(da) > 0 and da == db  # identical demand draws on the first day
    # Same regime on both sides: the two runs are identical, day after day.
    e = app.Explorer({"seed": 11, "compare": "relationship"})
    for _ in range(40):
        e.step()
    sa, sb = (st.series(r.model) for r in e.runs)
    for col in ("buffer", "wip_orders", "trust_mean", "orders_online"):
        np.testing.assert_array_equal(sa[col], sb[col])
    assert [r.label for r in e.runs] == ["relationship (A)", "relationship (B)"]


def test_explorer_stops_after_days_and_validates_settings():
    e = app.Explorer({"params": {"days": 30}})
    for _ in range(30):
        e.step()
    assert e.day == 30 and not e.running
    with pytest.raises(ValueError, match="unknown regime"):
        app.Explorer({"regime": "nonsense"})
    with pytest.raises(ValueError, match="seed"):
        app.Explorer({"seed": -1})
    with pytest.raises(ValueError, match="unknown parameter"):
        app.Explorer({"params": {"utilisation": 0.5}})


# --------------------------------------------------------------------------- adapter
def test_new_parameters_appear_in_their_odd_group(monkeypatch):
    """A name in SLIDER_NAMES appears as a slider as soon as PARAMETER_SPECS has it."""
    monkeypatch.setattr(st, "SLIDER_NAMES", (*st.SLIDER_NAMES, "new_knob"))
    assert "new_knob" not in [s.name for _, g in st.slider_specs() for s in g]
    new = replace(SPECS["customers"], name="new_knob", default=200, low=1, high=1e6,
                  sa_range=(10, 400))
    pos = [s.name for s in PARAMETER_SPECS].index("customers") + 1
    specs = (*PARAMETER_SPECS[:pos], new, *PARAMETER_SPECS[pos:])
    monkeypatch.setattr(st, "PARAMETER_SPECS", specs)
    monkeypatch.setattr(st, "SPECS", {s.name: s for s in specs})
    groups = dict(st.slider_specs())
    assert [s.name for s in groups["Market"]] == ["new_knob"]
    assert st.slider_range(new)[:2] == (10, 400)  # too wide a valid range: the SA range


def test_version_2_parameters_are_sliders_in_their_groups():
    groups = {g: [s.name for s in specs] for g, specs in st.slider_specs()}
    for name, group in (("relationship_seller_share", "Salespeople"),
                        ("buffer_release", "Planner"), ("overtime_max", "Planner"),
                        ("shift_hours", "Planner"), ("market_size", "Customers")):
        if name in SPECS:
            assert name in groups[group]


def test_adapter_reads_styles_shift_and_lost_orders():
    params = {**model.REGIMES.get("sacred_mixed", {}), "days": 120, "warmup_days": 0,
              "utilization": 0.97}
    m = model.SalesModel(params, seed=3)
    hist = st.History()
    for _ in range(100):
        m.step()
        hist.record(m)
    rows = st.salespeople(m, hist)
    styles = {r.style for r in rows}
    if "relationship_seller_share" in SPECS:  # version 2: both styles in a mixed plant
        assert styles == {"relationship", "transactional"}
        assert st.lost_orders(st.series(m)) is not None
    cap = st.capacity_today(m)
    assert cap["shift"] == max(getattr(m, "regular_hours", m.p.capacity_hours)
                               - m.p.capacity_hours, 0.0)
    # Without those attributes: no style, no lost orders.
    from types import SimpleNamespace

    assert st.style_of(SimpleNamespace()) is None
    assert st.style_of(SimpleNamespace(style="Relationship")) == "relationship"
    assert st.lost_orders({"orders_online": np.ones(2)}) is None
    # Hours by activity are the recent daily means of what the salespeople did.
    total = sum(sum(r.hours.values()) for r in rows)
    assert total == pytest.approx(m.p.salespeople * m.p.sales_hours, rel=1e-9)


def test_schedule_rows_forward_load_the_planners_sequence():
    m = model.SalesModel({"utilization": 0.97, "days": 400, "warmup_days": 0}, seed=5)
    while len(m.planner.schedule) < 4:
        m.step()
    rows, total = st.schedule_rows(m, limit=1000)
    assert total == len(m.planner.schedule) and len(rows) == total > 0
    rate = st.capacity_today(m)["rate"]
    planned = sum(o.work * o.remaining / o.total for o in m.planner.schedule)
    assert rows[-1].finish - m.now == pytest.approx(planned / rate)
    assert all(a.finish <= b.start + 1e-12 for a, b in zip(rows, rows[1:], strict=False))


def test_rolling_mean_ignores_missing_days():
    x = np.array([1.0, np.nan, 3.0, 5.0])
    np.testing.assert_allclose(st.rolling(x, 2), [1.0, 1.0, 3.0, 4.0])


# --------------------------------------------------------------------------- CLI
def test_relsim_app_bad_input_exits_2(capsys, monkeypatch):
    from relsim.experiments import cli, cli_app

    assert cli.main(["app", "--port", "70000"]) == 2
    assert "--port" in capsys.readouterr().err
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert cli.main(["app", "--port", str(port)]) == 2
        assert "in use" in capsys.readouterr().err
    monkeypatch.setattr(cli_app.importlib.util, "find_spec", lambda name: None)
    assert cli.main(["app"]) == 2
    assert ".[app]" in capsys.readouterr().err


def test_a_scenario_in_the_address():
    got = app.normalise_settings(app.settings_from_query(
        "regime=sacred&compare=relationship&seed=4&utilization=0.9&days=100"))
    assert (got["regime"], got["compare"], got["seed"]) == ("sacred", "relationship", 4)
    assert got["params"]["utilization"] == 0.9 and got["params"]["days"] == 100
    assert isinstance(got["params"]["days"], int)
    assert app.settings_from_query("single=1")["side_by_side"] is False
    assert app.settings_from_query(None) == {}
    with pytest.raises(ValueError, match="unknown key 'utilisation'"):
        app.settings_from_query("utilisation=0.9")
    with pytest.raises(ValueError, match="not a number"):
        app.settings_from_query("seed=abc")


def test_adapter_reads_customers_from_the_agents_without_the_arrays():
    m = model.SalesModel({"days": 40, "warmup_days": 0}, seed=3)
    for _ in range(30):
        m.step()
    from_arrays = st.customers(m)

    class AgentsOnly:  # a model that keeps customer state on the agents only
        def __init__(self, inner):
            self._inner = inner

        def __getattr__(self, name):
            if name in ("trust", "rel", "is_active", "owner"):
                raise AttributeError(name)
            return getattr(self._inner, name)

    from_agents = st.customers(AgentsOnly(m))
    for key in ("trust", "relationship", "active", "owner", "rate"):
        np.testing.assert_array_equal(from_arrays[key], from_agents[key])
