"""`relsim tipping`: bisection along one factor with common random numbers."""

from __future__ import annotations

import pandas as pd
import pytest
import tipping_toy
from relsim.experiments.cli import main

EXPERIMENT = """
[experiment]
name = "toy"
model = "tipping_toy:simulate"
design = "lhs"
samples = 8
replicates = 4
seed = 3
outputs = ["profit"]

[factors]
chaos = [0.0, 1.0]

[regimes.relationship]
discipline = 0.0
[regimes.sacred]
discipline = 1.0
{compare}
"""
COMPARE = '[compare]\ndelta = ["relationship", "sacred"]\n'


def _write(tmp_path, compare=COMPARE, name="toy.toml"):
    path = tmp_path / name
    path.write_text(EXPERIMENT.format(compare=compare))
    return path


@pytest.mark.parametrize("width", [0.05, 0.01])
def test_bisection_brackets_the_known_threshold_as_narrow_as_asked(tmp_path, width):
    exp = _write(tmp_path)
    out = tmp_path / "results"
    assert main(["tipping", str(exp), "--factor", "chaos", "--width", str(width),
                 "--out", str(out), "--workers", "1"]) == 0
    table = pd.read_csv(out / "toy" / "analysis" / "tipping_profit.csv")
    row = table[table["method"] == "bisection"].iloc[0]
    assert row["ci_high"] - row["ci_low"] <= width
    assert row["ci_low"] <= tipping_toy.TRUE_THRESHOLD <= row["ci_high"]
    assert row["direction"] == "increasing"
    points = pd.read_csv(out / "toy" / "analysis" / "tipping_points_profit_chaos.csv")
    assert {"chaos", "mean", "ci_low", "ci_high", "n"} <= set(points.columns)
    # Common random numbers: the common noise (sd 10) cancels, so the paired deltas at the
    # lower end scatter only by the regime's own noise (sd 0.02): the 95% interval of the
    # mean of 4 replicates is far narrower than 1.
    lower = points.iloc[0]
    assert lower["ci_high"] - lower["ci_low"] < 0.2


def test_bisection_rerun_replaces_its_row(tmp_path):
    exp = _write(tmp_path)
    out = tmp_path / "results"
    args = ["tipping", str(exp), "--factor", "chaos", "--out", str(out), "--workers", "1"]
    assert main(args) == 0 and main(args) == 0
    table = pd.read_csv(out / "toy" / "analysis" / "tipping_profit.csv")
    assert (table["method"] == "bisection").sum() == 1


def test_bisection_bad_input_exits_2(tmp_path, capsys):
    exp = _write(tmp_path)
    assert main(["tipping", str(exp), "--factor", "nosuch", "--workers", "1",
                 "--out", str(tmp_path)]) == 2
    assert "not a factor" in " ".join(capsys.readouterr().err.split())  # wrapped
    plain = _write(tmp_path, compare="", name="plain.toml")
    assert main(["tipping", str(plain), "--factor", "chaos", "--workers", "1",
                 "--out", str(tmp_path)]) == 2
    assert "[compare]" in " ".join(capsys.readouterr().err.split())  # wrapped
    assert main(["tipping", str(exp), "--factor", "chaos", "--low", "0.6", "--high", "0.9",
                 "--workers", "1", "--out", str(tmp_path)]) == 2
    assert "same sign" in " ".join(capsys.readouterr().err.split())


@pytest.mark.parametrize("command", ["analyze", "report", "tipping", "demo"])
def test_help_of_analysis_commands(command, capsys):
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: relsim {command}") and "%%" not in text


def test_a_failing_model_ends_the_bisection_with_a_message(tmp_path, capsys):
    path = tmp_path / "broken.toml"
    path.write_text(EXPERIMENT.format(compare=COMPARE).replace("tipping_toy:simulate",
                                                               "tipping_toy:broken"))
    assert main(["tipping", str(path), "--factor", "chaos", "--workers", "1",
                 "--out", str(tmp_path)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "the model failed at chaos = 1" in err and "the plant exploded" in err
