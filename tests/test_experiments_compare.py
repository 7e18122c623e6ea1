"""Experiment files v2: named comparisons, contrasts of comparisons, 1-D axes.

Uses `sweep_models.styled`, whose comparisons are known in closed form: with regimes
``relationship`` (rel 1, disc 0), ``transactional`` (0, 0), ``sacred_relationship`` (1, 1)
and ``sacred`` (0, 1), ``relationship - transactional`` = 4 (x + z - 0.6) (plus own noise,
sd 0.05), ``sacred_relationship - sacred`` = -1, and their contrast
= -1 - 4 (x + z - 0.6). The common noise (sd 10) cancels in every paired difference, so a
difference that did not pair runs by seed would show it.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from analysis_store import runs_from_function, write_store
from relsim.analysis.analyze import analyze_path
from relsim.analysis.io import load_results
from relsim.analysis.report import build_report
from relsim.experiments import cli
from relsim.experiments.spec import load_experiment
from sweep_models import STYLED_SACRED, STYLED_SLOPE, STYLED_ZERO

HEAD = """
[experiment]
name = "{name}"
model = "sweep_models:styled"
design = "{design}"
{samples}
replicates = {replicates}
seed = 11
outputs = ["profit", "otd"]
"""
REGIMES = """
[regimes.relationship]
rel = 1.0
disc = 0.0
[regimes.transactional]
rel = 0.0
disc = 0.0
[regimes.sacred_relationship]
rel = 1.0
disc = 1.0
[regimes.sacred]
rel = 0.0
disc = 1.0
"""
COMPARE = """
[compare]
delta = ["relationship", "sacred"]
relationship_value = ["relationship", "transactional"]
relationship_value_sacred = ["sacred_relationship", "sacred"]

[contrast]
sacred_shrinks = ["relationship_value_sacred", "relationship_value"]
"""
AXIS = """
[axes.chaos]
x = [0.0, 1.0]
z = [0.0, 0.2]
"""
GRID = """
[factors]
chaos = {values = [0.0, 0.25, 0.5, 0.75, 1.0]}
"""
#: Along chaos, x + z = 1.2 t: relationship value crosses zero at t = 0.6 / 1.2.
CHAOS_ZERO = STYLED_ZERO / 1.2
#: The contrast -1 - 4 (1.2 t - 0.6) crosses zero at t = (0.6 - 0.25) / 1.2.
CONTRAST_ZERO = (STYLED_ZERO + STYLED_SACRED / STYLED_SLOPE) / 1.2


def experiment(tmp_path: Path, *, name: str = "v2", design: str = "grid", replicates: int = 4,
               samples: int | None = None, body: str = AXIS + GRID + REGIMES + COMPARE,
               file: str = "exp.toml") -> Path:
    text = HEAD.format(name=name, design=design, replicates=replicates,
                       samples=f"samples = {samples}" if samples else "") + body
    path = tmp_path / file
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def sweep(path: Path, out: Path) -> int:
    return cli.main(["sweep", str(path), "--out", str(out), "--quiet", "--workers", "1"])


def flat(err: str) -> str:
    return " ".join(err.split())


# --------------------------------------------------------------------------- validation

CHECKED = HEAD.replace("sweep_models:styled", "sweep_checked_model:simulate")
BAD = {
    "unknown regime in a comparison": (
        AXIS + GRID + REGIMES + '[compare]\nrv = ["relationship", "transactionl"]\n',
        "[compare]: 'rv' names unknown regime 'transactionl'; did you mean 'transactional'"),
    "comparison of a regime with itself": (
        AXIS + GRID + REGIMES + '[compare]\nrv = ["sacred", "sacred"]\n',
        "'rv' compares regime 'sacred' with itself"),
    "comparison not a pair": (
        AXIS + GRID + REGIMES + '[compare]\nrv = ["sacred"]\n',
        "[compare]: 'rv' must name two regimes"),
    "reserved comparison name": (
        AXIS + GRID + REGIMES + '[compare]\nmap = ["sacred", "relationship"]\n',
        "'map' is reserved"),
    "contrast of an unknown comparison": (
        AXIS + GRID + REGIMES + COMPARE.replace('"relationship_value"]', '"relationship_val"]'),
        "[contrast]: 'sacred_shrinks' names unknown comparison 'relationship_val'; did you "
        "mean 'relationship_value'"),
    "contrast without comparisons": (
        AXIS + GRID + REGIMES + '[contrast]\nc = ["a", "b"]\n',
        "[contrast]: needs the comparisons it contrasts, declared in [compare]"),
    "contrast named like a comparison": (
        AXIS + GRID + REGIMES + COMPARE.replace("sacred_shrinks =", "relationship_value ="),
        "'relationship_value' is already the name of a comparison"),
    "axis end not a pair": (
        "[axes.chaos]\nx = [0.0]\n" + GRID + REGIMES,
        "[axes.chaos]: 'x' must be two numbers [value at 0, value at 1]"),
    "axis with no parameters": (
        "[axes.chaos]\n" + GRID + REGIMES,
        "[axes.chaos]: must list the parameters the axis moves"),
    "axis parameter also a factor": (
        AXIS + "[factors]\nchaos = {values = [0.0, 1.0]}\nx = {values = [0.0, 1.0]}\n"
        + REGIMES, "'x' is moved by axis 'chaos' and also varied in [factors]"),
    "axis parameter also fixed": (
        AXIS + "[params]\nz = 0.1\n" + GRID + REGIMES,
        "'z' is moved by axis 'chaos' and also fixed in [params]"),
    "axis parameter overridden by a regime": (
        AXIS + GRID + REGIMES.replace("rel = 0.0\ndisc = 1.0", "rel = 0.0\ndisc = 1.0\nx = 1"),
        "'x' is moved by axis 'chaos' and also overridden by [regimes.sacred]"),
    "parameter on two axes": (
        AXIS + "[axes.other]\nx = [0.0, 1.0]\n" + GRID + REGIMES,
        "'x' is already moved by axis 'chaos'"),
    "axis factor outside [0, 1]": (
        AXIS + "[factors]\nchaos = {values = [0.0, 1.5]}\n" + REGIMES,
        "axis 'chaos' = 1.5 is outside the axis range [0, 1]"),
}
BAD_CHECKED = {
    "unknown parameter on an axis": (
        "[axes.chaos]\nprocess_cv = [0.1, 0.9]\ndisruption_rat = [0.0, 0.15]\n"
        "[factors]\nchaos = [0.0, 1.0]\n",
        "unknown parameter 'disruption_rat'; did you mean 'disruption_rate'"),
    "axis end out of range": (
        "[axes.chaos]\nprocess_cv = [0.1, 0.9]\nutilization = [0.75, 1.2]\n"
        "[factors]\nchaos = [0.0, 1.0]\n",
        "[axes.chaos]: the end at 1: parameter 'utilization' = 1.2 is out of range"),
    "axis named like a parameter": (
        "[axes.utilization]\nprocess_cv = [0.1, 0.9]\n[factors]\nutilization = [0.0, 1.0]\n",
        "axis 'utilization' has the name of a model parameter"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_comparisons_contrasts_and_axes_exit_2(case, tmp_path, capsys):
    body, expected = BAD[case]
    path = experiment(tmp_path, body=body)
    assert sweep(path, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert expected in flat(err), flat(err)
    assert "Traceback" not in err and not (tmp_path / "out").exists()


@pytest.mark.parametrize("case", sorted(BAD_CHECKED))
def test_axes_are_validated_against_the_models_params(case, tmp_path, capsys):
    body, expected = BAD_CHECKED[case]
    path = tmp_path / "exp.toml"
    path.write_text(CHECKED.format(name="c", design="lhs", samples="samples = 4",
                                   replicates=1) + body)
    assert sweep(path, tmp_path / "out") == 2
    err = flat(capsys.readouterr().err)
    assert expected in err, err


def test_axis_resolves_for_the_models_params_and_fixed_in_params(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text(CHECKED.format(name="c", design="lhs", samples="samples = 4",
                                   replicates=1)
                    + "[params]\nchaos = 0.5\n[axes.chaos]\nprocess_cv = [0.1, 0.9]\n"
                      "customers = [20, 41]\n[factors]\nutilization = [0.6, 0.9]\n")
    exp = load_experiment(path)
    # [params] holds an axis coordinate: resolved, whole-number parameters rounded
    assert exp.defaults["process_cv"] == pytest.approx(0.5)
    assert exp.run_params({"utilization": 0.7}) == {"process_cv": 0.5, "customers": 30,
                                                    "utilization": 0.7}


# --------------------------------------------------------------------------- sweep + analysis


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    """A grid sweep along the chaos axis with four regimes, three comparisons, a contrast."""
    tmp = tmp_path_factory.mktemp("v2")
    path = experiment(tmp)
    out = tmp / "results"
    assert sweep(path, out) == 0
    report = analyze_path(out / "v2", seed=3)
    return path, out / "v2", report


def test_runs_table_stores_axis_value_and_resolved_parameters(analysed):
    _, store, _ = analysed
    runs = pd.read_parquet(store / "runs")
    assert {"chaos", "x", "z"} <= set(runs.columns)
    np.testing.assert_allclose(runs["x"], runs["chaos"])
    np.testing.assert_allclose(runs["z"], 0.2 * runs["chaos"])
    # what the model saw is what the table says
    np.testing.assert_allclose(runs["x_seen"], runs["x"])
    np.testing.assert_allclose(runs["z_seen"], runs["z"])
    manifest = json.loads((store / "manifest.json").read_text())
    assert manifest["axes"] == {"chaos": {"x": [0.0, 1.0], "z": [0.0, 0.2]}}
    assert set(manifest["compare"]) == {"delta", "relationship_value",
                                        "relationship_value_sacred"}
    assert manifest["contrast"] == {"sacred_shrinks": ["relationship_value_sacred",
                                                       "relationship_value"]}


def test_analysis_writes_every_comparisons_files(analysed):
    _, store, report = analysed
    names = {p.name for p in (store / "analysis").iterdir()}
    for output in ("profit", "otd"):
        # version-1 names for the comparison called delta
        assert {f"delta_{output}.csv", f"tipping_{output}.csv"} <= names
        for diff in ("relationship_value", "relationship_value_sacred", "sacred_shrinks"):
            assert {f"delta_{diff}_{output}.csv", f"tipping_{diff}_{output}.csv"} <= names
    assert not [w for w in report.warnings if "skipped" in w], report.warnings


def test_comparison_values_are_paired_differences(analysed):
    _, store, _ = analysed
    a = store / "analysis"
    rv = pd.read_csv(a / "delta_relationship_value_profit.csv")
    truth = STYLED_SLOPE * (1.2 * rv["chaos"] - STYLED_ZERO)
    # common noise (sd 10) cancels: only the own noise (sd 0.05, 4 replicates) is left
    np.testing.assert_allclose(rv["mean"], truth, atol=0.15)
    assert (rv["ci_high"] - rv["ci_low"]).max() < 0.5
    sacred = pd.read_csv(a / "delta_relationship_value_sacred_profit.csv")
    np.testing.assert_allclose(sacred["mean"], STYLED_SACRED, atol=0.15)
    # the contrast is the paired difference of the two comparisons, replicate by replicate
    contrast = pd.read_csv(a / "delta_sacred_shrinks_profit.csv")
    np.testing.assert_allclose(contrast["mean"], sacred["mean"] - rv["mean"], atol=1e-9)
    np.testing.assert_allclose(contrast["mean"], STYLED_SACRED - truth, atol=0.15)
    assert (contrast["n"] == 4).all()


def test_tipping_along_the_axis_for_each_comparison(analysed):
    _, store, _ = analysed
    a = store / "analysis"
    rv = pd.read_csv(a / "tipping_relationship_value_profit.csv").iloc[0]
    assert rv["factor"] == "chaos" and rv["direction"] == "increasing"
    assert rv["ci_low"] <= CHAOS_ZERO <= rv["ci_high"]
    assert "at chaos" in rv["note"] and "x 0." in rv["note"]  # the threshold in parameters
    contrast = pd.read_csv(a / "tipping_sacred_shrinks_profit.csv").iloc[0]
    assert contrast["direction"] == "decreasing"
    assert contrast["ci_low"] <= CONTRAST_ZERO <= contrast["ci_high"]
    sacred = pd.read_csv(a / "tipping_relationship_value_sacred_profit.csv").iloc[0]
    assert np.isnan(sacred["threshold"])  # negative everywhere: no tipping point


def test_report_draws_every_comparison(analysed):
    _, store, _ = analysed
    result = build_report(store, seed=3)
    figures = {p.name for p in result.figures}
    for stem in ("relationship_profit_vs_chaos", "relationship_value_profit_vs_chaos",
                 "relationship_value_sacred_profit_vs_chaos", "sacred_shrinks_profit_vs_chaos"):
        assert {f"{stem}.png", f"{stem}.pdf"} <= figures, sorted(figures)
    tables = {p.name for p in result.tables}
    assert "tipping_sacred_shrinks_profit.tex" in tables
    caption = (store / "tables" / "tipping_sacred_shrinks_profit.tex").read_text()
    assert "(sacred_relationship - sacred) - (relationship - transactional)" in caption.replace(
        "\\_", "_")


@pytest.mark.parametrize("design,samples", [("sobol", 8), ("morris", 4), ("lhs", 8)])
def test_an_axis_is_a_factor_in_every_design(tmp_path, design, samples):
    body = AXIS + "[factors]\nchaos = [0.2, 0.8]\nw = [0.0, 1.0]\n" + REGIMES + COMPARE
    path = experiment(tmp_path, name=design, design=design, samples=samples, replicates=1,
                      body=body)
    out = tmp_path / "out"
    assert sweep(path, out) == 0
    runs = pd.read_parquet(out / design / "runs")
    assert runs["chaos"].between(0.2, 0.8).all() and runs["chaos"].nunique() > 2
    np.testing.assert_allclose(runs["z_seen"], 0.2 * runs["chaos"])
    report = analyze_path(out / design, seed=1)
    kind = "morris" if design == "morris" else "sobol"
    analysis = out / design / "analysis"
    if design != "lhs":
        for target in ("relationship_value_profit", "sacred_shrinks_profit", "delta_profit"):
            table = pd.read_csv(analysis / f"{kind}_{target}.csv")
            assert set(table["factor"]) == {"chaos", "w"}
    for stem in ("profit", "relationship_value_profit", "sacred_shrinks_profit"):
        assert (analysis / f"delta_{stem}.csv").is_file()
        assert (analysis / f"tipping_map_{stem}.csv").is_file()
    assert report.files


# --------------------------------------------------------------------------- version 1


def test_a_version_1_file_still_works(tmp_path):
    body = AXIS + GRID + REGIMES + '[compare]\ndelta = ["relationship", "transactional"]\n'
    path = experiment(tmp_path, name="v1", replicates=2, body=body)
    exp = load_experiment(path)
    assert exp.compare == ("relationship", "transactional")
    assert list(exp.comparisons) == ["delta"] and not exp.contrasts
    out = tmp_path / "out"
    assert sweep(path, out) == 0
    analyze_path(out / "v1", seed=1)
    names = {p.name for p in (out / "v1" / "analysis").iterdir()}
    assert {"delta_profit.csv", "tipping_profit.csv", "delta_otd.csv"} <= names
    assert not any(n.startswith("delta_delta") for n in names)


def test_identity_of_a_version_1_experiment_is_unchanged(tmp_path):
    """Stores written before version 2 resume: the identity hash leaves new keys out."""
    body = ("[factors]\nx = [0.0, 1.0]\n" + REGIMES
            + '[compare]\ndelta = ["sacred", "relationship"]\n')
    exp = load_experiment(experiment(tmp_path, design="lhs", samples=4, body=body))
    d = exp.to_dict()
    assert d["axes"] is None and d["contrast"] is None
    import hashlib

    old = {k: v for k, v in d.items()
           if k not in ("outputs", "compare", "description", "name", "contrast", "axes")}
    text = json.dumps(old, sort_keys=True, default=str)
    assert exp.identity() == hashlib.sha256(text.encode()).hexdigest()[:16]


@pytest.mark.parametrize("stored", [{"delta": ["a", "b"]}, ["a", "b"]])
def test_results_stored_by_version_1_still_analyse(tmp_path, stored):
    design = pd.DataFrame({"row": np.arange(6), "chaos": np.linspace(0, 1, 6)})

    def fn(points, regime, rng):
        noise = rng.normal(0.0, 5.0)
        value = (3.0 * (points["chaos"] - 0.5)) if regime == "a" else 0.0
        return {"profit": 100 + noise + value + rng.normal(0, 0.05, len(points))
                * (regime == "a")}

    runs = runs_from_function(design, fn, replicates=3, regimes=["a", "b"])
    root = write_store(tmp_path, "old", design="grid", factors={"chaos": [0.0, 1.0]},
                       design_matrix=design, runs=runs, outputs=["profit"])
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["compare"] = stored
    (root / "manifest.json").write_text(json.dumps(manifest))
    assert load_results(root).comparisons == {"delta": ("a", "b")}
    analyze_path(root, seed=1)
    rows = pd.read_csv(root / "analysis" / "delta_profit.csv")
    np.testing.assert_allclose(rows["mean"], 3.0 * (rows["chaos"] - 0.5), atol=0.2)
    assert (root / "analysis" / "tipping_profit.csv").is_file()


# --------------------------------------------------------------------------- relsim tipping


def tipping(path: Path, out: Path, *args: str) -> int:
    return cli.main(["tipping", str(path), "--out", str(out), "--workers", "1", *args])


def bisection_rows(out: Path, stem: str) -> pd.DataFrame:
    table = pd.read_csv(out / "v2" / "analysis" / f"tipping_{stem}.csv")
    return table[table["method"] == "bisection"]


def test_tipping_follows_the_chosen_comparison_along_the_axis(tmp_path, capsys):
    path, out = experiment(tmp_path), tmp_path / "out"
    assert tipping(path, out, "--compare", "relationship_value", "--factor", "chaos",
                   "--width", "0.01") == 0
    row = bisection_rows(out, "relationship_value_profit").iloc[0]
    assert row["ci_high"] - row["ci_low"] <= 0.01
    assert row["ci_low"] <= CHAOS_ZERO <= row["ci_high"]
    assert row["direction"] == "increasing" and "at chaos" in row["note"]
    printed = flat(capsys.readouterr().out)
    assert "tipping point of relationship_value profit along chaos" in printed
    assert (out / "v2" / "analysis" / "tipping_points_relationship_value_profit_chaos.csv"
            ).is_file()
    # a contrast is followed like a comparison: its four regimes share each seed
    assert tipping(path, out, "--compare", "sacred_shrinks", "--factor", "chaos",
                   "--width", "0.01") == 0
    row = bisection_rows(out, "sacred_shrinks_profit").iloc[0]
    assert row["ci_low"] <= CONTRAST_ZERO <= row["ci_high"]
    assert row["direction"] == "decreasing"


def test_tipping_set_fixes_other_parameters_and_records_them(tmp_path):
    path, out = experiment(tmp_path), tmp_path / "out"
    args = ["--compare", "relationship_value", "--factor", "x", "--low", "0", "--high", "1",
            "--width", "0.01"]
    assert tipping(path, out, *args, "--set", "z=0.1") == 0
    assert tipping(path, out, *args) == 0  # the file's own scenario: z at its default 0
    rows = bisection_rows(out, "relationship_value_profit")
    assert len(rows) == 2
    fixed = rows[rows["fixed"].fillna("") == "z=0.1"].iloc[0]
    plain = rows[rows["fixed"].fillna("") == ""].iloc[0]
    assert fixed["ci_low"] <= STYLED_ZERO - 0.1 <= fixed["ci_high"]
    assert plain["ci_low"] <= STYLED_ZERO <= plain["ci_high"]
    assert tipping(path, out, *args, "--set", "z=0.1") == 0  # a rerun replaces its row
    assert len(bisection_rows(out, "relationship_value_profit")) == 2


def test_tipping_by_gives_one_tipping_point_per_level(tmp_path, capsys):
    path, out = experiment(tmp_path), tmp_path / "out"
    assert sweep(path, out) == 0
    args = ["--compare", "relationship_value", "--factor", "x", "--low", "0", "--high", "1",
            "--width", "0.01", "--by", "z=0,0.2,0.7"]
    assert tipping(path, out, *args) == 0
    rows = bisection_rows(out, "relationship_value_profit").sort_values("by_value")
    assert list(rows["by_factor"]) == ["z"] * 3 and list(rows["by_value"]) == [0, 0.2, 0.7]
    for _, row in rows.iloc[:2].iterrows():  # x + z crosses 0.6 at x = 0.6 - z
        assert row["ci_low"] <= STYLED_ZERO - row["by_value"] <= row["ci_high"]
    assert np.isnan(rows.iloc[2]["threshold"]) and "same sign" in rows.iloc[2]["note"]
    assert "none" in flat(capsys.readouterr().out)
    assert tipping(path, out, *args) == 0  # rerun: replaced, not duplicated
    assert len(bisection_rows(out, "relationship_value_profit")) == 3
    result = build_report(out / "v2", seed=3)
    figures = {p.stem for p in result.figures}
    stem = "relationship_value_profit_x__by_z"
    assert {f"bisection_{stem}_0", f"bisection_{stem}_0.2", f"tipping_by_{stem}"} <= figures


BAD_TIPPING = {
    "unknown comparison": (["--compare", "relationship_vaule", "--factor", "chaos"],
                           "has no comparison or contrast of that name; did you mean "
                           "'relationship_value'"),
    "set the bisected factor": (["--compare", "delta", "--factor", "chaos", "--set",
                                 "chaos=0.2"], "'chaos' is the bisected factor"),
    "by the bisected factor": (["--compare", "delta", "--factor", "chaos", "--by", "chaos"],
                               "--by chaos is the bisected factor itself"),
    "set a regime's parameter": (["--compare", "delta", "--factor", "chaos", "--set",
                                  "disc=0.5"], "'disc' is overridden by regime"),
    "set an axis that moves the factor": (
        ["--compare", "delta", "--factor", "x", "--low", "0", "--high", "1", "--set",
         "chaos=0.5"], "axis 'chaos' moves ['x']"),
    "malformed set": (["--compare", "delta", "--factor", "chaos", "--set", "z"],
                      "--set expects NAME=VALUE"),
    "by levels unknown": (["--compare", "delta", "--factor", "chaos", "--by", "w"],
                          "its levels are unknown; list them"),
    "axis range left": (["--compare", "delta", "--factor", "chaos", "--high", "2"],
                        "leaves the axis range [0, 1]"),
}


@pytest.mark.parametrize("case", sorted(BAD_TIPPING))
def test_bad_tipping_scenarios_exit_2(case, tmp_path, capsys):
    args, expected = BAD_TIPPING[case]
    assert tipping(experiment(tmp_path), tmp_path / "out", *args) == 2
    err = capsys.readouterr().err
    assert expected in flat(err), flat(err)
    assert "Traceback" not in err


def test_tipping_without_compare_among_several_comparisons_exits_2(tmp_path, capsys):
    body = AXIS + GRID + REGIMES + COMPARE.replace('delta = ["relationship", "sacred"]\n', "")
    path = experiment(tmp_path, body=body)
    assert tipping(path, tmp_path / "out", "--factor", "chaos") == 2
    err = flat(capsys.readouterr().err)
    assert "has 3 comparisons and contrasts" in err and "choose one with --compare" in err


def test_tipping_set_is_validated_against_the_models_params(tmp_path, capsys):
    path = tmp_path / "exp.toml"
    path.write_text(CHECKED.format(name="c", design="lhs", samples="samples = 4",
                                   replicates=1)
                    + "[factors]\nutilization = [0.6, 0.9]\n[regimes.a]\ndiscipline = 0.0\n"
                      "[regimes.b]\ndiscipline = 1.0\n[compare]\nd = [\"a\", \"b\"]\n")
    assert tipping(path, tmp_path / "out", "--factor", "utilization", "--set",
                   "process_cv=7") == 2
    assert "parameter 'process_cv' = 7" in flat(capsys.readouterr().err)


def test_a_comparison_whose_regime_has_no_runs_is_skipped_with_a_warning(tmp_path):
    design = pd.DataFrame({"row": np.arange(4), "chaos": np.linspace(0, 1, 4)})
    runs = runs_from_function(design, lambda p, r, rng: {"profit": 1.0 * (r == "a")},
                              replicates=2, regimes=["a", "b"])
    root = write_store(tmp_path, "gap", design="grid", factors={"chaos": [0.0, 1.0]},
                       design_matrix=design, runs=runs, outputs=["profit"])
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["compare"] = {"delta": ["a", "b"], "other": ["a", "c"]}
    (root / "manifest.json").write_text(json.dumps(manifest))
    report = analyze_path(root, seed=1)
    assert any("compare 'other' skipped" in w and "'c'" in w for w in report.warnings)
    rows = pd.read_csv(root / "analysis" / "delta_profit.csv")
    np.testing.assert_allclose(rows["mean"], 1.0)


def test_an_axis_fixed_in_params_of_a_replicate_design(tmp_path):
    body = "[params]\nchaos = 0.5\n" + AXIS + REGIMES + COMPARE
    path = experiment(tmp_path, name="rep", design="replicate", replicates=3, body=body)
    out = tmp_path / "out"
    assert sweep(path, out) == 0
    runs = pd.read_parquet(out / "rep" / "runs")
    assert (runs["chaos"] == 0.5).all() and (runs["x_seen"] == 0.5).all()
    np.testing.assert_allclose(runs["z"], 0.1)
    analyze_path(out / "rep", seed=1)
    summary = pd.read_csv(out / "rep" / "analysis" / "replicate_summary.csv")
    rv = summary.set_index("target").loc["relationship_value_profit"]
    assert rv["ci_low"] <= STYLED_SLOPE * (0.6 - STYLED_ZERO) <= rv["ci_high"]
