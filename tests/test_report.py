"""`relsim report` on small stored results writes every figure file, each non-empty."""

from __future__ import annotations

import numpy as np
import pandas as pd
from analysis_store import runs_from_function, write_store
from relsim.analysis.tables import to_latex
from relsim.experiments.cli import main
from SALib.sample import sobol as sobol_sample

DAYS = 120
REGIMES = ["relationship", "sacred"]
CHANNELS = ("online", "support", "sales", "field")
ACTIVITIES = ("handling", "lobbying", "apologising", "upkeep", "selling")


def synthetic_series(replicates: int = 3, seed: int = 0) -> pd.DataFrame:
    """Daily series shaped like the model's: a ratcheting buffer under relationship."""
    rng = np.random.default_rng(seed)
    frames = []
    day = np.arange(DAYS)
    for r in range(replicates):
        for regime in REGIMES:
            chaotic = regime == "relationship"
            drift = 0.03 if chaotic else 0.0
            frame = pd.DataFrame({"row": 0, "replicate": r, "regime": regime, "seed": r,
                                  "day": day})
            frame["buffer"] = 2 + drift * day + rng.normal(0, 0.2, DAYS)
            frame["quoted_lead_time"] = frame["buffer"] + 3
            frame["lead_time"] = 4 + (2 if chaotic else 0) + rng.normal(0, 1, DAYS)
            frame["otd_rolling"] = np.clip((0.7 if chaotic else 0.95)
                                           + rng.normal(0, 0.03, DAYS), 0, 1)
            frame["trust_mean"] = 0.8 - (0.002 * day if chaotic else 0)
            frame["padding_mean"] = 0.1 + (0.001 * day if chaotic else 0)
            frame["autonomy_mean"] = 0.5 + (0.002 * day if chaotic else -0.001 * day)
            weights = (1, 2, 4, 2) if chaotic else (6, 2, 1, 0.5)
            for c, w in zip(CHANNELS, weights, strict=True):
                frame[f"orders_{c}"] = rng.poisson(w, DAYS)
            for a, h in zip(ACTIVITIES, (6, 8, 3, 10, 5) if chaotic else (2, 0, 0, 3, 27),
                            strict=True):
                frame[f"hours_{a}"] = np.maximum(0, h + rng.normal(0, 1, DAYS))
            frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _kpis(points, regime, rng):
    chaos = points["process_cv"].to_numpy() if "process_cv" in points else 0.5
    other = points["complex_share"].to_numpy() if "complex_share" in points else 0.1
    base = rng.normal(1000.0, 50.0, len(points))
    value = 200.0 * (chaos - 0.45) + 100.0 * other + rng.normal(0, 20.0, len(points))
    rel = regime == "relationship"
    return {"profit": base + (value if rel else 0.0),
            "otd": np.clip(0.9 - (0.3 * chaos if rel else 0.05) + rng.normal(0, 0.02), 0, 1)}


def make_demo_like_store(root):
    """Three experiments: series (replicate), a 1-D chaos grid, a small Sobol design."""
    design = pd.DataFrame({"row": [0]})
    runs = runs_from_function(design, _kpis, replicates=3, regimes=REGIMES)
    write_store(root, "series", design="replicate", factors={}, design_matrix=design,
                runs=runs, outputs=["profit", "otd"], series=synthetic_series(),
                compare=REGIMES, extra={"params": {"warmup_days": 30}})
    grid = pd.DataFrame({"row": np.arange(9), "process_cv": np.linspace(0, 1, 9)})
    runs = runs_from_function(grid, _kpis, replicates=6, regimes=REGIMES)
    write_store(root, "chaos", design="grid", factors={"process_cv": [0.0, 1.0]},
                design_matrix=grid, runs=runs, outputs=["profit", "otd"], compare=REGIMES)
    problem = {"num_vars": 3, "names": ["process_cv", "complex_share", "influence"],
               "bounds": [[0, 1], [0, 0.6], [0, 1]]}
    x = sobol_sample.sample(problem, 64, calc_second_order=True, seed=1)
    sob = pd.DataFrame(x, columns=problem["names"])
    sob.insert(0, "row", np.arange(len(sob)))
    runs = runs_from_function(sob, _kpis, replicates=2, regimes=REGIMES)
    write_store(root, "sobol", design="sobol",
                factors=dict(zip(problem["names"], problem["bounds"], strict=True)),
                design_matrix=sob, runs=runs, outputs=["profit"], compare=REGIMES,
                extra={"calc_second_order": True})


EXPECTED_STEMS = [
    "series__vicious_cycle", "series__channel_mix", "series__sales_time",
    "chaos__relationship_profit_vs_process_cv", "chaos__relationship_otd_vs_process_cv",
    "sobol__sobol_delta_profit", "sobol__sobol_profit_sacred", "sobol__tipping_map_profit",
    "sobol__relationship_profit_vs_process_cv",
]


def test_report_writes_every_figure_non_empty(tmp_path):
    make_demo_like_store(tmp_path)
    assert main(["report", str(tmp_path)]) == 0
    figures = tmp_path / "figures"
    for stem in EXPECTED_STEMS:
        for ext in ("pdf", "png"):
            path = figures / f"{stem}.{ext}"
            assert path.is_file(), path
            assert path.stat().st_size > 1000, path  # a real drawing, not an empty file
    assert (tmp_path / "tables" / "chaos__tipping_profit.tex").is_file()
    assert (tmp_path / "tables" / "sobol__sobol2_delta_profit.tex").is_file()  # 2nd order
    assert (tmp_path / "tables" / "series__outputs_by_regime.csv").is_file()
    written = {p.stem for p in figures.glob("*.png")}
    assert written == {p.stem for p in figures.glob("*.pdf")}


def test_report_on_one_experiment_has_plain_names(tmp_path):
    make_demo_like_store(tmp_path)
    assert main(["report", str(tmp_path / "chaos")]) == 0
    assert (tmp_path / "chaos" / "figures" / "relationship_profit_vs_process_cv.png").is_file()


def test_latex_table_escapes_and_rounds():
    frame = pd.DataFrame({"factor": ["process_cv"], "S1": [0.123456], "n": [4],
                          "x": [float("nan")]})
    tex = to_latex(frame, "Sobol 5% test", "tab:x")
    assert r"process\_cv & 0.123 & 4 & -- \\" in tex
    assert r"Sobol 5\% test" in tex and r"\toprule" in tex


def test_report_draws_morris_screening(tmp_path):
    from SALib.sample import morris as morris_sample

    problem = {"num_vars": 2, "names": ["process_cv", "complex_share"],
               "bounds": [[0.0, 1.0], [0.0, 0.6]]}
    x = morris_sample.sample(problem, 10, num_levels=4, seed=3)
    design = pd.DataFrame(x, columns=problem["names"])
    design.insert(0, "row", np.arange(len(design)))
    runs = runs_from_function(design, _kpis, replicates=2, regimes=REGIMES)
    write_store(tmp_path, "screen", design="morris",
                factors=dict(zip(problem["names"], problem["bounds"], strict=True)),
                design_matrix=design, runs=runs, outputs=["profit"], compare=REGIMES,
                extra={"levels": 4})
    assert main(["report", str(tmp_path)]) == 0
    for ext in ("pdf", "png"):
        assert (tmp_path / "figures" / f"morris_delta_profit.{ext}").stat().st_size > 1000
    table = pd.read_csv(tmp_path / "tables" / "morris_delta_profit.csv").set_index("factor")
    # The synthetic delta is 200 process_cv + 100 complex_share + noise: process_cv's
    # effect over its range (200) exceeds complex_share's (100 * 0.6 = 60).
    assert table.loc["process_cv", "mu_star"] > table.loc["complex_share", "mu_star"]


def test_analysis_never_imports_experiments_or_model():
    import subprocess
    import sys

    code = ("import sys, analysis.report, analysis.analyze; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('experiments', 'model')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_report_reanalyses_when_runs_are_newer(tmp_path):
    import os

    make_demo_like_store(tmp_path)
    exp = tmp_path / "chaos"
    assert main(["report", str(exp)]) == 0
    before = pd.read_csv(exp / "analysis" / "delta_profit.csv")["mean"]
    later = (exp / "analysis" / "summary.csv").stat().st_mtime + 10
    for part in (exp / "runs").glob("*.parquet"):  # a resumed sweep rewrote the runs
        runs = pd.read_parquet(part)
        runs.loc[runs["regime"] == "relationship", "profit"] += 1000.0
        runs.to_parquet(part, index=False)
        os.utime(part, (later, later))
    assert main(["report", str(exp)]) == 0
    after = pd.read_csv(exp / "analysis" / "delta_profit.csv")["mean"]
    assert np.allclose(after - before, 1000.0)


def test_report_draws_a_stored_bisection(tmp_path):
    make_demo_like_store(tmp_path)
    analysis = tmp_path / "chaos" / "analysis"
    assert main(["analyze", str(tmp_path / "chaos")]) == 0
    points = pd.DataFrame({"process_cv": [0.0, 1.0, 0.5, 0.25, 0.375],
                           "mean": [-80.0, 120.0, 10.0, -30.0, -5.0],
                           "ci_low": [-90.0, 100.0, 2.0, -40.0, -12.0],
                           "ci_high": [-70.0, 140.0, 18.0, -20.0, 2.0],
                           "n": [4, 4, 8, 8, 32], "resolved": [True, True, True, True, False]})
    points.to_csv(analysis / "tipping_points_profit_process_cv.csv", index=False)
    tipping = pd.read_csv(analysis / "tipping_profit.csv")
    extra = {"factor": "process_cv", "threshold": 0.4, "ci_low": 0.25, "ci_high": 0.5,
             "direction": "increasing", "method": "bisection"}
    pd.concat([tipping, pd.DataFrame([extra])]).to_csv(analysis / "tipping_profit.csv",
                                                        index=False)
    assert main(["report", str(tmp_path / "chaos")]) == 0
    figure = tmp_path / "chaos" / "figures" / "bisection_profit_process_cv.png"
    assert figure.stat().st_size > 1000


def _map_grid(values, rows):
    side = int(np.sqrt(len(values)))
    xs, ys = np.meshgrid(np.linspace(0, 1, side), np.linspace(0, 1, side))
    return pd.DataFrame({"x_factor": "a", "y_factor": "b", "x": xs.ravel(), "y": ys.ravel(),
                         "mean_delta": values, "n": 2 * np.asarray(rows), "rows": rows})


def test_tipping_map_draws_the_zero_line_only_when_cells_agree():
    from relsim.analysis import figures as fg

    side = 7
    xs, _ = np.meshgrid(np.linspace(0, 1, side), np.linspace(0, 1, side))
    clean = _map_grid((xs - 0.5).ravel() + 0.01, np.full(side * side, 5))
    fig = fg.tipping_map_plot(clean, "delta_profit")
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any(t.startswith("Δ = 0 of the smoothed map") for t in texts)
    noise = np.random.default_rng(0).normal(size=side * side)
    rows = np.full(side * side, 5)
    rows[0] = 1
    fig = fg.tipping_map_plot(_map_grid(noise, rows), "delta_profit")
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert fg.sign_agreement(noise.reshape(side, side),
                             fg.smoothed_surface(noise.reshape(side, side))) < 0.8
    assert not fig.axes[0].collections[1:]  # no contour drawn
    assert any(n.startswith("no supported sign change") for n in _notes(fig.axes[0]))
    assert any("pairs in the cell" in t for t in texts)  # levels: thin = few pairs


def test_sobol_bars_keep_the_axis_and_write_outliers():
    from relsim.analysis import figures as fg

    table = pd.DataFrame({"factor": ["a", "b"], "S1": [0.2, -0.3], "S1_conf": [0.1, 0.6],
                          "ST": [3.35, 0.5], "ST_conf": [9.7, 0.2]})
    fig = fg.sobol_bars(table, "lead_time_mean_sacred", 0.12)
    ax = fig.axes[0]
    assert ax.get_xlim() == fg.SOBOL_XLIM
    texts = [t.get_text() for t in ax.texts]
    assert "ST = 3.35 ± 9.7 (right of the axis)" in texts
    assert "S1 = -0.30 ± 0.6 (left of the axis)" in texts
    assert ax.get_title() == "Mean lead time, sacred"  # short: the detail is in the caption
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "CI beyond the axis" in legend  # the caret is explained by its own marker


def test_relationship_scatter_uses_robust_limits_and_says_so():
    from relsim.analysis import figures as fg

    rng = np.random.default_rng(1)
    rows = pd.DataFrame({"f": rng.uniform(0, 1, 400), "mean": rng.normal(0, 1, 400)})
    rows.loc[:4, "mean"] = [80.0, -90.0, 70.0, 60.0, -75.0]  # outliers
    rows["ci_low"], rows["ci_high"] = rows["mean"] - 1, rows["mean"] + 1
    tip = pd.Series({"threshold": 0.9, "ci_low": 0.8, "ci_high": 1.0, "method": "logistic"})
    fig = fg.relationship_vs_factor(rows, "f", "delta_profit", tip)
    ax = fig.axes[0]
    assert ax.get_ylim()[1] < 20
    notes = " ".join(_notes(ax))
    assert "5 of 400 design points outside the axis" in notes
    # The interval [0.8, 1.0] reaches the edge of the range: not a supported crossing.
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "tipping point estimate" not in legend and "no supported sign change" in notes
    fig = fg.relationship_vs_factor(rows, "f", "delta_profit", pd.Series({"threshold": np.nan}))
    assert "no supported sign change" in " ".join(_notes(fig.axes[0]))


def _notes(ax) -> list[str]:
    """Texts of the notes written inside the axes (AnchoredText boxes)."""
    from matplotlib.offsetbox import AnchoredText

    return [c.txt.get_text() for c in ax.get_children() if isinstance(c, AnchoredText)]


def test_series_figures_label_warmup_window_and_bands():
    from relsim.analysis import figures as fg

    series = synthetic_series()
    fig = fg.vicious_cycle(series, warmup=30, otd_window=20)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any(t.startswith("end of warm-up") for t in legend)
    titles = [ax.get_title() for ax in fig.axes]
    assert "On-time delivery, last 20 days" in titles
    assert fg.otd_title(None) == "On-time delivery, rolling 20-day"
    assert any("share of need hidden" in ax.get_ylabel() for ax in fig.axes)
    fig = fg.channel_mix(series, warmup=30)
    time_axes = fig.axes[:2]
    for ax in time_axes:  # four channels, each its own colour, line style and marker
        lines = [ln for ln in ax.get_lines() if ln.get_label() in fg.CHANNELS]
        assert len(lines) == 4
        assert len({ln.get_linestyle() for ln in lines}) == 4
        assert len({ln.get_marker() for ln in lines}) == 4
    fig = fg.sales_time(series, warmup=30)
    assert fig.axes[0].get_ylabel() == "sales team\n(hours/day)"
    fire = [ax for ax in fig.axes if ax.get_title().startswith("Firefighting")]
    assert len(fire) == 1 and fire[0].get_ylabel() == "firefighting\n(hours/day)"
    # The synthetic relationship runs lobby 8 h and apologise 3 h a day: 11 h on its axis.
    relationship = [ln for ln in fire[0].get_lines() if ln.get_label() == "relationship"][0]
    assert abs(np.mean(relationship.get_ydata()[40:]) - 11.0) < 1.0
