"""Sobol and Morris analysis through `relsim analyze` on models with known indices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from analysis_store import runs_from_function, write_store
from relsim.analysis import sensitivity as sa
from relsim.experiments.cli import main
from SALib.sample import morris as morris_sample
from SALib.sample import sobol as sobol_sample

LINEAR = {"a": 4.0, "b": 2.0, "c": 1.0}
# y = 4a + 2b + c on U(0,1)^3: Var = (16 + 4 + 1)/12, so S1 = ST = 16/21, 4/21, 1/21.
EXPECTED_S = {"a": 16 / 21, "b": 4 / 21, "c": 1 / 21}
FACTORS = {name: [0.0, 1.0] for name in LINEAR}
PROBLEM = {"num_vars": 3, "names": list(LINEAR), "bounds": [[0.0, 1.0]] * 3}
N_BASE = 1024
REPLICATES = 3
NOISE_SD = 0.05
# With N = 1024 (seeded design and bootstrap) SALib's 95% half-widths for this model range
# from 0.004 (ST of c) to 0.07 (S1 of a). Each estimate must be within 0.06 of the exact
# value (about one half-width of the noisiest index) and within its own 95% interval
# widened by 0.02 (the interval is itself a bootstrap estimate).
TOLERANCE = 0.06


def _linear(points, regime, rng):
    y = sum(coef * points[name].to_numpy() for name, coef in LINEAR.items())
    return {"y": y + rng.normal(0.0, NOISE_SD, len(points)), "z": 1.0}


def _sobol_store(tmp_path, **extra):
    x = sobol_sample.sample(PROBLEM, N_BASE, calc_second_order=False, seed=3)
    design = pd.DataFrame(x, columns=list(LINEAR))
    design.insert(0, "row", np.arange(len(design)))
    runs = runs_from_function(design, _linear, replicates=REPLICATES, regimes=[""])
    return write_store(tmp_path, "linear", design="sobol", factors=FACTORS,
                       design_matrix=design, runs=runs, outputs=["y"],
                       extra={"calc_second_order": False, **extra})


def test_sobol_of_linear_model_recovers_known_indices(tmp_path):
    exp = _sobol_store(tmp_path)
    assert main(["analyze", str(tmp_path)]) == 0  # parent dir with one experiment
    table = pd.read_csv(exp / "analysis" / "sobol_y.csv").set_index("factor")
    assert list(table.columns[:4]) == ["S1", "S1_conf", "ST", "ST_conf"]
    for name, expected in EXPECTED_S.items():
        for index in ("S1", "ST"):
            value, conf = table.loc[name, index], table.loc[name, f"{index}_conf"]
            assert abs(value - expected) < TOLERANCE, (name, index, value)
            assert abs(value - expected) <= conf + 0.02, (name, index, value, conf)
    # Replicate noise: var(noise)/R over var(4a + 2b + c) = (0.05^2 / 3) / (21/12).
    share = table["replicate_noise_share"].iloc[0]
    expected_share = NOISE_SD**2 / REPLICATES / (21 / 12)
    assert share == pytest.approx(expected_share, rel=0.3)


def test_sobol_is_reproducible_with_a_seed(tmp_path):
    exp = _sobol_store(tmp_path)
    assert main(["analyze", str(exp), "--seed", "5"]) == 0
    first = pd.read_csv(exp / "analysis" / "sobol_y.csv")
    assert main(["analyze", str(exp), "--seed", "5"]) == 0
    pd.testing.assert_frame_equal(first, pd.read_csv(exp / "analysis" / "sobol_y.csv"))


def test_sobol_skips_output_with_a_failed_row_and_says_so(tmp_path, capsys):
    exp = _sobol_store(tmp_path)
    for part in sorted((exp / "runs").glob("*.parquet")):  # every replicate of row 0 fails
        runs = pd.read_parquet(part)
        runs.loc[runs["row"] == 0, "status"] = "failed"
        runs.loc[runs["row"] == 0, "y"] = np.nan
        runs.to_parquet(part, index=False)
    assert main(["analyze", str(exp)]) == 0
    err = " ".join(capsys.readouterr().err.split())  # the message is wrapped
    assert "sobol indices of 'y' skipped" in err
    assert not (exp / "analysis" / "sobol_y.csv").exists()
    summary = pd.read_csv(exp / "analysis" / "summary.csv").set_index("target")
    assert summary.loc["y", "rows_missing"] == 1


def test_morris_of_linear_model(tmp_path):
    levels = 4
    x = morris_sample.sample(PROBLEM, 20, num_levels=levels, seed=2)
    design = pd.DataFrame(x, columns=list(LINEAR))
    design.insert(0, "row", np.arange(len(design)))
    runs = runs_from_function(design, _linear, replicates=2, regimes=[""])
    runs["y"] = sum(c * runs[n] for n, c in LINEAR.items())  # noise-free: exact effects
    exp = write_store(tmp_path, "morris", design="morris", factors=FACTORS,
                      design_matrix=design, runs=runs, outputs=["y"],
                      extra={"levels": levels})
    assert main(["analyze", str(exp)]) == 0
    table = pd.read_csv(exp / "analysis" / "morris_y.csv").set_index("factor")
    # Elementary effects of a linear function on [0, 1] are its coefficients, exactly.
    for name, coef in LINEAR.items():
        assert table.loc[name, "mu_star"] == pytest.approx(coef, rel=1e-9)
        assert table.loc[name, "sigma"] == pytest.approx(0.0, abs=1e-9)


def test_noise_share_formula():
    # Two rows with means 0 and 2 (var of means 2), within variance 1 with 2 replicates:
    # noise = mean(1/2, 1/2) = 0.5, share = 0.25.
    table = pd.DataFrame({"row": [0, 0, 1, 1], "v": [-1 / np.sqrt(2), 1 / np.sqrt(2),
                                                      2 - 1 / np.sqrt(2), 2 + 1 / np.sqrt(2)]})
    assert sa.replicate_noise_share(table, "v") == pytest.approx(0.25)


def test_salib_seed_is_never_zero():
    assert all(sa.salib_seed(s) != 0 for s in range(50))


def test_all_runs_failed_is_a_clear_error(tmp_path, capsys):
    exp = _sobol_store(tmp_path)
    for part in sorted((exp / "runs").glob("*.parquet")):
        runs = pd.read_parquet(part).drop(columns=["y", "z"])
        runs["status"], runs["error"] = "failed", "ValueError: boom"
        runs.to_parquet(part, index=False)
    assert main(["analyze", str(exp)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "failed, nothing to analyse" in err and "ValueError: boom" in err
