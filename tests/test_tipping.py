"""Tipping points: logistic boundary with bootstrap, 2-D map, bisection with replicates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from analysis_store import runs_from_function, write_store
from relsim.analysis import tipping as tp
from relsim.experiments.cli import main

THRESHOLD = 0.37
SLOPE = 2.0
NOISE_SD = 0.3


def _noisy_delta(x, rng, threshold=THRESHOLD, slope=SLOPE, sd=NOISE_SD):
    # Symmetric noise: P(delta > 0) = 1/2 exactly at the threshold.
    return slope * (x - threshold) + rng.normal(0.0, sd, np.shape(x))


def test_logistic_recovers_known_threshold_within_its_interval():
    rng = np.random.default_rng(11)
    x = rng.uniform(0.0, 1.0, 2000)
    delta = _noisy_delta(x, rng)
    tip = tp.logistic_tipping(x, delta, (0.0, 1.0), factor="x", seed=4)
    assert tip.direction == tp.INCREASING
    assert tip.ci_low <= THRESHOLD <= tip.ci_high
    # 2000 pairs with a noise band of about +-0.15 around the threshold: the 95% interval
    # is a few hundredths wide; 0.1 would mean the bootstrap is broken.
    assert tip.ci_high - tip.ci_low < 0.1
    assert abs(tip.threshold - THRESHOLD) < 0.05


def test_logistic_direction_decreasing_and_scaled_range():
    rng = np.random.default_rng(12)
    x = rng.uniform(10.0, 30.0, 1500)
    delta = -(x - 22.0) + rng.normal(0.0, 2.0, x.size)
    tip = tp.logistic_tipping(x, delta, (10.0, 30.0), seed=1)
    assert tip.direction == tp.DECREASING
    assert tip.ci_low <= 22.0 <= tip.ci_high


def test_logistic_with_perfect_separation_stays_finite():
    x = np.linspace(0.0, 1.0, 101)
    delta = np.where(x > 0.6, 1.0, -1.0)
    tip = tp.logistic_tipping(x, delta, (0.0, 1.0), seed=2)
    # The half-probability point lies in the gap between the last negative and first
    # positive design point (0.60 and 0.61).
    assert 0.59 <= tip.threshold <= 0.62
    assert np.isfinite(tip.ci_low) and np.isfinite(tip.ci_high)


def test_logistic_without_a_crossing_is_nan_with_a_note():
    rng = np.random.default_rng(13)
    x = rng.uniform(0.0, 1.0, 300)
    tip = tp.logistic_tipping(x, 5.0 + x, (0.0, 1.0))
    assert np.isnan(tip.threshold)
    assert "no sign change" in tip.note
    outside = tp.logistic_tipping(x, _noisy_delta(x, rng, threshold=1.6, sd=0.05), (0.0, 1.0))
    assert np.isnan(outside.threshold) or "outside" in outside.note


def test_tipping_map_zero_contour_on_a_grid():
    xs, ys = np.meshgrid(np.linspace(0, 1, 5), np.linspace(0, 1, 4))
    pairs = pd.DataFrame({"a": xs.ravel(), "b": ys.ravel()})
    pairs["delta"] = pairs["a"] + pairs["b"] - 1.0
    grid = tp.tipping_map(pairs, "delta", "a", "b", {"a": (0, 1), "b": (0, 1)})
    assert len(grid) == 20 and (grid["n"] == 1).all()
    cell = grid[(grid["a"] == 1.0) & (grid["b"] == 0.0)]
    assert cell["mean_delta"].iloc[0] == pytest.approx(0.0)


def _evaluator(threshold, sd, seed=5):
    """Paired deltas at x for replicates 0..n-1 with common random numbers."""

    def evaluate(x, index, n):
        out = []
        for r in range(n):
            rng = np.random.default_rng([seed, index, r])
            common = rng.normal(0.0, 1.0)  # shared by both regimes: cancels in the delta
            a = SLOPE * x + common + rng.normal(0.0, sd)
            b = SLOPE * threshold + common
            out.append(a - b)
        return np.array(out)

    return evaluate


@pytest.mark.parametrize("width", [0.02, 0.005])
def test_bisection_narrows_the_interval_as_asked(width):
    truth = 0.33
    result = tp.bisect_sign_change(_evaluator(truth, sd=0.005), 0.0, 1.0, width=width,
                                   replicates=4, max_replicates=64)
    assert result.converged, result.note
    assert result.ci_high - result.ci_low <= width
    assert result.ci_low <= truth <= result.ci_high
    assert result.direction == tp.INCREASING
    assert result.ci_low <= result.threshold <= result.ci_high


def test_bisection_stops_in_the_noise_band_and_says_so():
    truth = 0.33
    result = tp.bisect_sign_change(_evaluator(truth, sd=0.5), 0.0, 1.0, width=1e-4,
                                   replicates=4, max_replicates=8)
    assert not result.converged
    assert "noise band" in result.note
    assert result.ci_low <= truth <= result.ci_high
    # The bracket's ends are points whose sign was resolved; the unresolved ones lie inside.
    resolved = {p["x"]: p["resolved"] for p in result.points}
    assert resolved[result.ci_low] and resolved[result.ci_high]
    assert any(not r for r in resolved.values())


def test_bisection_rejects_a_range_without_sign_change():
    with pytest.raises(ValueError, match="same sign"):
        tp.bisect_sign_change(_evaluator(2.0, sd=0.01), 0.0, 1.0, width=0.01)
    with pytest.raises(ValueError, match="reversed"):
        tp.bisect_sign_change(_evaluator(0.5, sd=0.01), 1.0, 0.0, width=0.01)


def _regime_model(points, regime, rng):
    # Relationship value = 3 (chaos - 0.4) + noise; `other` is irrelevant.
    base = rng.normal(100.0, 10.0, len(points))  # common to both regimes (same seed)
    chaos = points["chaos"].to_numpy()
    bonus = 3.0 * (chaos - 0.4) + rng.normal(0.0, 0.5, len(points))
    return {"profit": base + (bonus if regime == "relationship" else 0.0)}


def test_analyze_lhs_design_writes_deltas_and_tipping(tmp_path):
    rng = np.random.default_rng(21)
    design = pd.DataFrame({"row": np.arange(200), "chaos": rng.uniform(0, 1, 200),
                           "other": rng.uniform(0, 1, 200)})
    runs = runs_from_function(design, _regime_model, replicates=4,
                              regimes=["relationship", "sacred"])
    exp = write_store(tmp_path, "chaos", design="lhs",
                      factors={"chaos": [0.0, 1.0], "other": [0.0, 1.0]},
                      design_matrix=design, runs=runs, outputs=["profit"],
                      compare=["relationship", "sacred"])
    assert main(["analyze", str(exp)]) == 0
    deltas = pd.read_csv(exp / "analysis" / "delta_profit.csv")
    assert len(deltas) == 200 and {"chaos", "mean", "ci_low", "ci_high"} <= set(deltas)
    tipping = pd.read_csv(exp / "analysis" / "tipping_profit.csv").set_index("factor")
    assert list(tipping.columns[:4]) == ["threshold", "ci_low", "ci_high", "direction"]
    assert tipping.loc["chaos", "ci_low"] <= 0.4 <= tipping.loc["chaos", "ci_high"]
    assert tipping.loc["chaos", "direction"] == "increasing"
    grid = pd.read_csv(exp / "analysis" / "tipping_map_profit.csv")
    assert set(grid["x_factor"]) == {"chaos"} and set(grid["y_factor"]) == {"other"}


def test_analyze_bad_directory_is_a_clear_error(tmp_path, capsys):
    assert main(["analyze", str(tmp_path / "missing")]) == 2
    assert "does not exist" in " ".join(capsys.readouterr().err.split())  # wrapped
    assert main(["analyze", str(tmp_path)]) == 2
    err = " ".join(capsys.readouterr().err.split())  # the message is wrapped
    assert "holds no stored experiment" in err and "Traceback" not in err


def test_clustered_bootstrap_is_wider_when_replicates_share_other_factors():
    # 60 design rows x 10 replicates; a second factor shifts every replicate of a row
    # alike. Resampling pairs treats the 600 pairs as independent; resampling rows does
    # not, so its interval must be wider (here by far more than bootstrap noise).
    rng = np.random.default_rng(31)
    rows = np.repeat(np.arange(60), 10)
    x = np.repeat(rng.uniform(0, 1, 60), 10)
    shared = np.repeat(rng.normal(0, 1.0, 60), 10)  # the other factors' effect per row
    delta = 2.0 * (x - 0.5) + shared + rng.normal(0, 0.1, rows.size)
    naive = tp.logistic_tipping(x, delta, (0, 1), seed=3)
    clustered = tp.logistic_tipping(x, delta, (0, 1), seed=3, groups=rows)
    assert clustered.threshold == naive.threshold  # same fit, different interval
    width = clustered.ci_high - clustered.ci_low
    assert width > 1.5 * (naive.ci_high - naive.ci_low)
    assert clustered.ci_low <= 0.5 <= clustered.ci_high


def test_analyze_map_factors_are_chosen_and_remembered(tmp_path, capsys):
    rng = np.random.default_rng(22)
    design = pd.DataFrame({"row": np.arange(120), "chaos": rng.uniform(0, 1, 120),
                           "other": rng.uniform(0, 1, 120), "third": rng.uniform(0, 1, 120)})
    runs = runs_from_function(design, _regime_model, replicates=2,
                              regimes=["relationship", "sacred"])
    exp = write_store(tmp_path, "three", design="lhs",
                      factors={"chaos": [0, 1], "other": [0, 1], "third": [0, 1]},
                      design_matrix=design, runs=runs, outputs=["profit"],
                      compare=["relationship", "sacred"])
    assert main(["analyze", str(exp), "--map", "third", "chaos"]) == 0
    assert main(["analyze", str(exp)]) == 0  # no --map: the remembered pair
    grid = pd.read_csv(exp / "analysis" / "tipping_map_profit.csv")
    assert set(grid["x_factor"]) == {"third"} and set(grid["y_factor"]) == {"chaos"}
    assert main(["analyze", str(exp), "--map", "chaos", "nosuch"]) == 2
    assert "two different factors" in " ".join(capsys.readouterr().err.split())
