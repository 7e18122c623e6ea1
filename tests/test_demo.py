"""The demo pipeline end to end on shrunken copies of its embedded experiment files."""

from __future__ import annotations

import json
import tomllib

import pandas as pd
import pytest
from relsim import model
from relsim.experiments import demo

#: Shrink the demo so the test runs in seconds: short runs, few replicates and points.
SHORT = {"days": 120, "warmup_days": 40}


def _value(value) -> str:
    # JSON scalars and lists of numbers/strings are valid TOML values.
    if isinstance(value, dict):
        return "{values = " + json.dumps(value["values"]) + "}"
    return json.dumps(value)


def _toml(data: dict) -> str:
    lines = []
    for table, body in data.items():
        if table in ("regimes", "axes"):
            for name, inner in body.items():
                lines.append(f"[{table}.{name}]")
                lines += [f"{k} = {_value(v)}" for k, v in inner.items()]
            continue
        lines.append(f"[{table}]")
        lines += [f"{k} = {_value(v)}" for k, v in body.items()]
    return "\n".join(lines) + "\n"


def _shrunk(tmp_path):
    paths = []
    for name in demo.DEMO_FILES:
        data = tomllib.loads((demo.STUDIES / name).read_text())
        data["params"].update(SHORT)
        data["experiment"]["replicates"] = 3
        if data["experiment"]["design"] == "sobol":
            data["experiment"]["samples"] = 4
        if data["experiment"]["design"] == "grid":
            data["factors"] = {k: {"values": [0.0, 0.5, 1.0]} for k in data["factors"]}
        path = tmp_path / name
        path.write_text(_toml(data))
        paths.append(path)
    return paths


def test_demo_files_are_valid_and_answer_the_version_2_question():
    from relsim.experiments.spec import load_experiment

    exps = {name: load_experiment(demo.STUDIES / name) for name in demo.DEMO_FILES}
    assert exps[demo.SERIES_FILE].series
    for key in (demo.CHAOS_FILE, demo.ORDINARY_FILE, demo.COMPLEXITY_FILE):
        exp = exps[key]
        assert set(exp.regimes) == set(model.REGIMES)  # all six, for every estimand
        assert set(exp.comparisons) == {"relationship_value", "relationship_value_sacred",
                                        "remedy_value"}
        assert exp.contrasts == {"sacred_minus_breakable": ("relationship_value_sacred",
                                                            "relationship_value")}
        assert demo.SALESPERSON_VIEW in exp.outputs
    assert exps[demo.CHAOS_FILE].factor_names == ["chaos"] and "chaos" in \
        exps[demo.CHAOS_FILE].axes
    assert exps[demo.ORDINARY_FILE].params["complex_share"] == 0.0
    assert exps[demo.COMPLEXITY_FILE].factor_names == ["complex_share"]
    assert set(exps[demo.MAP_FILE].factor_names) == set(demo.MAP_FACTORS)
    assert exps[demo.SOBOL_FILE].design == "sobol"
    levers = exps[demo.LEVERS_FILE].comparisons
    assert {"remedy_value", "lever_discipline", "lever_buffer_release", "lever_overtime",
            "lever_shift", "lever_selling"} == set(levers)


@pytest.mark.slow
def test_demo_pipeline_writes_summary_figures_and_tables(tmp_path, capsys):
    out = tmp_path / "demo"
    assert demo.run_study(_shrunk(tmp_path), out, workers=1, max_replicates=4) in (0, 1)
    text = capsys.readouterr().out
    assert "=== relsim demo: summary ===" in text
    for fragment in ("the vicious cycle", "remedy value and each lever",
                     "firm's relationship value, breakable plant",
                     "firm's relationship value, sacred plant", "the salesperson's view",
                     "Top factors", "Resolution (demo-chaos"):
        assert fragment.lower() in text.lower(), fragment
    figures = out / "figures"
    assert len(list(figures.glob("*.png"))) >= 10
    for png in figures.glob("*.png"):  # every figure has its caption
        assert (figures / f"{png.stem}.caption.md").stat().st_size > 100, png.name
    assert (out / "tables").is_dir()
    assert "vicious_cycle" in (out / "results.html").read_text()  # the results document
    assert "=== relsim demo: summary ===" in (out / demo.SUMMARY_FILE).read_text()
    analysis = out / "demo-chaos" / "analysis"
    for stem in ("delta_relationship_value_profit", "delta_relationship_value_sacred_profit",
                 "delta_remedy_value_profit", "delta_sacred_minus_breakable_profit",
                 f"delta_{demo.SALESPERSON_VIEW}_mixed",
                 f"delta_{demo.SALESPERSON_VIEW}_sacred_mixed"):
        assert len(pd.read_csv(analysis / f"{stem}.csv")) == 3, stem


def test_sign_change_bracket():
    rows = pd.DataFrame({"x": [0.0, 0.5, 1.0, 1.5], "mean": [-2.0, -1.0, 3.0, 4.0]})
    assert demo.sign_change_bracket(rows, "x") == (0.5, 1.0)
    assert demo.sign_change_bracket(rows.assign(mean=[1, 2, 3, 4]), "x") is None


def test_sign_change_bracket_spans_levels_whose_sign_is_not_resolved():
    # The demo's case: +1 [-18, 20] at 0.25 lies between resolved +21 and -42.
    rows = pd.DataFrame({"x": [0.0, 0.125, 0.25, 0.375, 0.5],
                         "mean": [35.0, 21.0, 1.0, -42.0, -72.0],
                         "ci_low": [18.0, 6.0, -18.0, -68.0, -99.0],
                         "ci_high": [53.0, 36.0, 20.0, -16.0, -44.0]})
    assert demo.sign_change_bracket(rows, "x") == (0.125, 0.375)
    unresolved = rows.assign(ci_low=rows["mean"] - 100, ci_high=rows["mean"] + 100)
    assert demo.sign_change_bracket(unresolved, "x") is None
