"""Issue 11: labels from one table, supported claims only, captions, the results document,
and a programmatic check of every figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.offsetbox import AnchoredText
from relsim.analysis import figures as fg
from relsim.analysis import labels as lb
from relsim.analysis.claims import UNSUPPORTED, crossing_support
from test_report import make_demo_like_store, synthetic_series

#: Version-2 outputs (MODEL.md "New outputs") the table covers by name.
V2_OUTPUTS = ["lost_orders", "lost_order_share", "lost_margin", "otd_need",
              "lateness_need_mean", "late_penalty", "trust_mean_all", "customers_active_mean",
              "prospects_final", "capacity_hours_mean"]
V2_REGIMES = ["relationship", "transactional", "mixed", "sacred", "sacred_relationship",
              "sacred_mixed"]
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(autouse=True)
def _close_figures():
    import matplotlib.pyplot as plt

    yield
    plt.close("all")


def _notes(ax) -> str:
    return " ".join(c.txt.get_text() for c in ax.get_children() if isinstance(c, AnchoredText))


# ------------------------------------------------------------------ labels
def test_label_table_covers_every_parameter_with_its_unit_in_words():
    from relsim.model.params import PARAMETER_SPECS

    for spec in PARAMETER_SPECS:
        assert spec.name in lb.PARAMETERS, f"no display name for parameter {spec.name}"
        shown = lb.PARAMETERS[spec.name]
        assert shown.unit and shown.unit != "–", spec.name
        if spec.unit != "–":  # a dimensioned unit must be the parameter table's, in words
            assert shown.unit == lb.UNIT_WORDS[spec.unit], (spec.name, spec.unit, shown.unit)
        assert "(–)" not in lb.factor(spec.name).label


def test_label_table_covers_every_output_series_and_v2_name():
    from relsim.model import KPI_NAMES
    from relsim.model.kpis import STYLE_KPI_NAMES
    from relsim.model.model import SERIES_COLUMNS

    plain = [n for n in (*KPI_NAMES, *SERIES_COLUMNS, *V2_OUTPUTS)
             if n not in STYLE_KPI_NAMES]
    missing = [n for n in plain if n != "day" and not lb.known(n)]
    assert not missing, missing
    assert all(lb.display(n).unit for n in (*KPI_NAMES, *V2_OUTPUTS))  # styles composed too
    assert lb.display("style_churn_rate_diff").name == (
        "churn rate, relationship- minus transactional-style customers")
    assert set(V2_REGIMES) <= set(lb.REGIMES)
    # Composed and unknown names fall back gracefully.
    style = lb.display("style_otd_need_relationship")
    assert style == lb.Display("on time to need, relationship-style customers", "share")
    assert lb.display("relationship_value_profit", ["relationship_value"]).label == \
        "Δ profit (money/day)"
    assert lb.display("some_new_kpi") == lb.Display("some new kpi", "")
    assert lb.label("some_new_kpi") == "some new kpi"
    # A factor named like an output shows as the parameter.
    assert lb.factor("changeover_hours").label == "changeover per preemption (hours)"


def test_every_v2_regime_has_its_own_fixed_colour():
    colors = fg.regime_colors(V2_REGIMES)
    assert len(set(colors.values())) == len(V2_REGIMES)
    assert fg.regime_colors(["sacred"])["sacred"] == colors["sacred"]
    assert fg.regime_colors(["x", "relationship"])["x"] != colors["relationship"]


# ------------------------------------------------------------------ supported claims
def _rows(means, half, xs=None):
    xs = np.linspace(0, 1, len(means)) if xs is None else xs
    means = np.asarray(means, float)
    return pd.DataFrame({"f": xs, "mean": means, "ci_low": means - half,
                         "ci_high": means + half, "n": 4})


def test_unsupported_crossing_draws_no_line_and_says_why():
    # The case: positive mean at every level, every interval spanning zero.
    rows = _rows([30, 20, 25, 10, 15, 5, 12, 8, 6, 4, 9], half=40.0)
    tip = pd.Series({"factor": "f", "threshold": 0.84, "ci_low": 0.6, "ci_high": 0.95,
                     "method": "logistic", "note": ""})
    verdict = crossing_support(rows, "f", dict(tip), (0, 1))
    assert not verdict.supported and "do not differ in sign" in verdict.reason
    fig = fg.relationship_vs_factor(rows, "f", "profit", tip, bounds=(0, 1))
    ax = fig.axes[0]
    assert not [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert not ax.patches  # no shaded interval
    assert UNSUPPORTED in _notes(ax)
    # An interval cut at the range edge is not supported either.
    edge = dict(tip, ci_high=1.0)
    strong = _rows(np.linspace(-100, 100, 11), half=5.0)
    assert "edge" in crossing_support(strong, "f", edge, (0, 1)).reason


def test_supported_crossing_is_drawn():
    rows = _rows(np.linspace(-100, 100, 11), half=15.0)
    tip = pd.Series({"factor": "f", "threshold": 0.5, "ci_low": 0.45, "ci_high": 0.55,
                     "method": "logistic"})
    verdict = crossing_support(rows, "f", dict(tip), (0, 1))
    assert verdict.supported, verdict.reason
    assert verdict.below.sign == -1 and verdict.above.sign == 1
    fig = fg.relationship_vs_factor(rows, "f", "profit", tip, comparison=("a", "b"),
                                    bounds=(0, 1))
    ax = fig.axes[0]
    assert [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert UNSUPPORTED not in _notes(ax)
    assert ax.get_xlim() == (0.0, 1.0)
    assert ax.get_ylabel() == "Δ profit (money/day)\na − b"


def test_report_tipping_table_marks_support_and_gives_the_reason(tmp_path):
    from relsim.analysis.io import load_results
    from relsim.analysis.report import tipping_support

    make_demo_like_store(tmp_path)
    from relsim.analysis.analyze import analyze_path

    analyze_path(tmp_path / "chaos", seed=1)
    results = load_results(tmp_path / "chaos")
    rows = pd.read_csv(results.analysis_dir / "delta_profit.csv")
    tipping = pd.DataFrame([
        {"factor": "process_cv", "threshold": 0.45, "ci_low": 0.2, "ci_high": 0.7,
         "direction": "increasing", "method": "logistic", "note": ""},
        {"factor": "process_cv", "threshold": 0.9, "ci_low": 0.7, "ci_high": 1.0,
         "direction": "increasing", "method": "logistic", "note": ""}])
    from relsim.analysis.deltas import differences

    diff = differences(results.comparisons, results.contrasts)[0]
    judged = tipping_support(results, diff, "profit", tipping, rows)
    # The synthetic delta is 200 (cv - 0.45) + 10 ± noise (SD 20, 6 replicates): the
    # nearest levels outside [0.2, 0.7], 0.125 and 0.75, have means -65 and +60 ± ~21.
    assert judged["supported"].tolist() == [True, False]
    assert judged["note"].iloc[1].startswith(UNSUPPORTED) and "edge" in judged["note"].iloc[1]


# ------------------------------------------------------------------ map and bisection
def _grid_map(replicates: int, rows_per_cell: int, side: int = 5) -> pd.DataFrame:
    xs, ys = np.meshgrid(np.linspace(0, 1, side), np.linspace(0, 0.6, side))
    return pd.DataFrame({"x_factor": "process_cv", "y_factor": "complex_share",
                         "x": xs.ravel(), "y": ys.ravel(),
                         "mean_delta": (xs - 0.5).ravel() + 0.01,
                         "n": replicates * rows_per_cell, "rows": rows_per_cell})


def test_grid_map_counts_cells_by_their_pairs_and_keeps_to_the_ranges():
    bounds = {"process_cv": (0.0, 1.0), "complex_share": (0.0, 0.6)}
    # A 2-factor grid: each cell is one design row with 4 replicates: nothing is thin.
    fig = fg.tipping_map_plot(_grid_map(4, 1), "profit", 4, bounds=bounds, levels=True)
    ax = fig.axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert not any("design rows" in t or "pairs in the cell" in t for t in legend)
    assert ax.get_xlim() == (0.0, 1.0) and ax.get_ylim() == (0.0, 0.6)
    # Two replicates per cell are too few: hatched, and the legend says by what rule.
    fig = fg.tipping_map_plot(_grid_map(2, 1), "profit", 2, bounds=bounds, levels=True)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "< 3 pairs in the cell (25)" in legend
    # The same counts as bins of a global design: one design row per cell is thin.
    marked, rule = fg.thin_cells(_grid_map(4, 1), levels=False)
    assert marked["thin"].all() and rule == "< 3 design rows in the cell"
    # Levels are recognised without being told: cell centres are not equal-bin midpoints.
    fig = fg.tipping_map_plot(_grid_map(4, 1), "profit", 4, bounds=bounds)
    assert not any("design rows" in t.get_text() for t in fig.axes[0].get_legend().get_texts())


def test_bisection_figure_replays_the_bracket_and_shows_replicates():
    points = pd.DataFrame({"c": [0.0, 0.6, 0.3, 0.15, 0.225, 0.26],
                           "mean": [-300.0, 500.0, 20.0, -200.0, -90.0, 60.0],
                           "ci_low": [-350, 300, -80, -300, -150, 10],
                           "ci_high": [-250, 700, 120, -100, -30, 110],
                           "n": [8, 8, 32, 8, 16, 16],
                           "resolved": [True, True, False, True, True, True]})
    steps = fg.bracket_steps(points, "c")
    assert steps[["low", "high"]].iloc[1:].to_numpy().tolist() == [
        [0.0, 0.6], [0.0, 0.6], [0.15, 0.6], [0.225, 0.6], [0.225, 0.26]]
    tip = pd.Series({"threshold": 0.24, "ci_low": 0.225, "ci_high": 0.26,
                     "method": "bisection"})
    fig = fg.bisection_plot(points, "c", "profit", tip, comparison=("relationship", "sacred"))
    top, bottom = fig.axes
    assert sorted(t.get_text() for t in top.texts) == sorted(str(n) for n in points["n"])
    assert bottom.get_xlabel() == "bisection step"
    assert [ln for ln in bottom.get_lines() if ln.get_linestyle() == "--"]  # supported
    assert bottom.get_ylim() == (0.0, 0.6)


# ------------------------------------------------------------------ report, captions, document
@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    from relsim.experiments.cli import main

    root = tmp_path_factory.mktemp("journal")
    make_demo_like_store(root)
    import json

    for exp in root.iterdir():
        manifest = json.loads((exp / "manifest.json").read_text())
        manifest["samples"] = 64 if exp.name == "sobol" else None
        manifest["provenance"] = {"git": {"commit": COMMIT, "dirty": False},
                                  "versions": {"python": "3.11.7", "mesa": "3.3.1",
                                               "relsim": "0.1.0", "SALib": "1.6.0"}}
        (exp / "manifest.json").write_text(json.dumps(manifest))
    problems = {}
    original = fg.save_figure

    def checked(fig, directory, stem):
        problems[stem] = fg.figure_problems(fig)
        return original(fig, directory, stem)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fg, "save_figure", checked)
        assert main(["report", str(root), "--document"]) == 0
    (root / "problems.json").write_text(json.dumps(problems))
    return root


def test_every_reported_figure_passes_the_programmatic_check(reported):
    import json

    problems = json.loads((reported / "problems.json").read_text())
    assert len(problems) >= 9  # series, deltas, Sobol, map of the small store
    assert {stem: p for stem, p in problems.items() if p} == {}


def test_every_figure_has_a_caption_from_the_manifest(reported):
    figures = reported / "figures"
    stems = sorted(p.stem for p in figures.glob("*.png"))
    assert stems
    for stem in stems:
        md = (figures / f"{stem}.caption.md").read_text()
        tex = (figures / f"{stem}.caption.tex").read_text()
        assert md.startswith("**") and "commit 0123456" in md, stem
        assert tex.startswith(r"\caption{\textbf{") and rf"\label{{fig:{stem}}}" in tex
        assert "Δ" not in tex and "_" not in tex.replace(r"\_", "").split(r"\label")[0]
    sobol = (figures / "sobol__sobol_delta_profit.caption.md").read_text()
    assert "N = 64" in sobol and "2 replicates" in sobol and "Master seed 7" in sobol
    assert "relationship − sacred" in sobol
    chaos = (figures / "chaos__relationship_profit_vs_process_cv.caption.md").read_text()
    assert "9 design rows" in chaos and "6 replicates" in chaos and "95% t interval" in chaos


def test_document_holds_every_figure_caption_table_and_methods(reported):
    md = (reported / "results.md").read_text()
    page = (reported / "results.html").read_text()
    for png in (reported / "figures").glob("*.png"):
        assert f"](figures/{png.name})" in md
        assert f'<figure id="{png.stem}">' in page
    assert page.count("data:image/png;base64,") == len(list((reported / "figures").glob("*.png")))
    assert "src=\"figures/" not in page  # standalone: nothing linked
    for text in ("## Methods", "Master seed 7", "commit 0123456", "Mesa 3.3.1", "SALib 1.6.0",
                 "Ranked by total index ST", "Tipping points of the profit difference",
                 "supported"):
        assert text in md, text
    assert "<table>" in page


def test_every_figure_passes_the_programmatic_check():
    """No text outside the canvas, no overlapping ticks, every axis labelled with a unit."""
    fg.set_style()
    series = synthetic_series()
    rows = _rows(np.linspace(-100, 100, 11), half=15.0).rename(columns={"f": "process_cv"})
    tip = pd.Series({"factor": "process_cv", "threshold": 0.5, "ci_low": 0.45,
                     "ci_high": 0.55, "method": "logistic"})
    rng = np.random.default_rng(2)
    scatter = pd.DataFrame({"pad_max": rng.uniform(0, 1, 300), "mean": rng.normal(0, 1, 300)})
    scatter["ci_low"], scatter["ci_high"] = scatter["mean"] - 1, scatter["mean"] + 1
    sobol = pd.DataFrame({"factor": ["process_cv", "complex_share", "complex_win_gain"],
                          "S1": [0.2, -0.3, 0.5], "S1_conf": [0.1, 0.6, 0.2],
                          "ST": [3.35, 0.5, 0.6], "ST_conf": [9.7, 0.2, 0.3]})
    morris = pd.DataFrame({"factor": ["process_cv", "complex_share"], "mu_star": [3.0, 1.0],
                           "mu_star_conf": [0.5, 0.2], "sigma": [2.0, 0.5]})
    points = pd.DataFrame({"complex_share": [0.0, 0.6, 0.3, 0.15], "mean": [-3.0, 5, 1, -2],
                           "ci_low": [-4.0, 4, 0.5, -3], "ci_high": [-2.0, 6, 1.5, -1],
                           "n": [4, 4, 8, 4], "resolved": [True] * 4})
    bounds = {"process_cv": (0.0, 1.0), "complex_share": (0.0, 0.6)}
    figures = {
        "vicious_cycle": fg.vicious_cycle(series, 30, 20, note="incomplete: 3 of 9 runs"),
        "channel_mix": fg.channel_mix(series, 30, note="incomplete"),
        "sales_time": fg.sales_time(series, 30, note="incomplete"),
        "relationship": fg.relationship_vs_factor(rows, "process_cv", "profit", tip,
                                                  bounds=(0, 1),
                                                  comparison=("relationship", "sacred")),
        "scatter": fg.relationship_vs_factor(scatter, "pad_max", "otd", None),
        "bisection": fg.bisection_plot(points, "complex_share", "profit", None),
        "sobol": fg.sobol_bars(sobol, "delta_profit", 0.2, note="incomplete"),
        "morris": fg.morris_plot(morris, "delta_profit"),
        "map": fg.tipping_map_plot(_grid_map(4, 1), "profit", 4, bounds=bounds),
    }
    import matplotlib.pyplot as plt

    for name, fig in figures.items():
        assert fg.figure_problems(fig) == [], name
    plt.close("all")


def test_figure_check_catches_what_it_claims_to():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [0, 1])
    ax.set_xlabel("utilization (–)")
    ax.text(1.5, 0.5, "a note floating outside", transform=ax.transAxes)
    problems = fg.figure_problems(fig)
    assert any("outside the canvas" in p for p in problems)
    assert any("unlabelled y axis" in p for p in problems)
    assert any("x axis without a unit" in p for p in problems)
    fig, ax = plt.subplots(figsize=(1.2, 1))
    ax.set_xticks(range(6), [f"long label {i}" for i in range(6)])
    assert any("overlapping x tick labels" in p for p in fg.figure_problems(fig))
