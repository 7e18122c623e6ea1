"""The demo pipeline end to end on shrunken copies of its embedded experiment files."""

from __future__ import annotations

import json
import tomllib

import pandas as pd
import pytest
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
        if table == "regimes":
            for name, overrides in body.items():
                lines.append(f"[regimes.{name}]")
                lines += [f"{k} = {_value(v)}" for k, v in overrides.items()]
            continue
        lines.append(f"[{table}]")
        lines += [f"{k} = {_value(v)}" for k, v in body.items()]
    return "\n".join(lines) + "\n"


def _shrunk(tmp_path):
    paths = []
    for name in demo.DEMO_FILES:
        data = tomllib.loads((demo.STUDIES / name).read_text())
        data["params"].update(SHORT)
        data["experiment"]["replicates"] = 2
        if data["experiment"]["design"] == "sobol":
            data["experiment"]["samples"] = 4
        if data["experiment"]["design"] == "grid":
            data["factors"] = {k: {"values": [0.0, 0.5, 1.0]} for k in data["factors"]}
        path = tmp_path / name
        path.write_text(_toml(data))
        paths.append(path)
    return paths


def test_demo_files_are_valid_and_sized_as_documented():
    from relsim.experiments.spec import load_experiment

    exps = [load_experiment(demo.STUDIES / name) for name in demo.DEMO_FILES]
    series, chaos, sobol = exps
    assert series.series and series.compare == ("relationship", "sacred")
    assert len(chaos.factors) == 1 and chaos.compare is not None
    assert sobol.design == "sobol" and sobol.compare is not None


@pytest.mark.slow
def test_demo_pipeline_writes_summary_figures_and_tables(tmp_path, capsys):
    out = tmp_path / "demo"
    assert demo.run_study(_shrunk(tmp_path), out, workers=1, max_replicates=4) in (0, 1)
    text = capsys.readouterr().out
    assert "=== relsim demo: summary ===" in text
    assert "Relationship value (profit" in text and "Top factors" in text
    figures = out / "figures"
    for stem in ("demo-series__vicious_cycle", "demo-series__channel_mix",
                 "demo-series__sales_time", "demo-chaos__relationship_profit_vs_process_cv",
                 "demo-sobol__sobol_delta_profit"):
        assert (figures / f"{stem}.pdf").stat().st_size > 1000
        assert (figures / f"{stem}.png").stat().st_size > 1000
        assert str(figures / f"{stem}.pdf") in text  # the summary names the main figures
    assert (out / "tables").is_dir()
    assert "=== relsim demo: summary ===" in (out / demo.SUMMARY_FILE).read_text()
    deltas = pd.read_csv(out / "demo-chaos" / "analysis" / "delta_profit.csv")
    assert len(deltas) == 3


def test_sign_change_bracket():
    rows = pd.DataFrame({"x": [0.0, 0.5, 1.0, 1.5], "mean": [-2.0, -1.0, 3.0, 4.0]})
    assert demo.sign_change_bracket(rows, "x") == (0.5, 1.0)
    assert demo.sign_change_bracket(rows.assign(mean=[1, 2, 3, 4]), "x") is None
