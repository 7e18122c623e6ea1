"""The sweep pipeline: SALib designs, seeds, executors, shards, failures, series, store."""

from __future__ import annotations

import json
import math
import multiprocessing
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from relsim.experiments import cli, merge_shards, read_runs, run_experiment, sweep
from relsim.experiments.seeds import run_seed
from relsim.experiments.spec import load_experiment
from relsim.experiments.store import ResultStore, read_parts
from runs_table import comparable
from SALib.analyze import sobol as sobol_analyze
from SALib.sample import sobol as sobol_sample

TESTS = Path(__file__).resolve().parent
PI = math.pi


pytestmark = pytest.mark.usefixtures("test_models_importable")


def write(tmp_path: Path, text: str, name: str = "exp.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- Ishigami

ISHIGAMI = f"""
[experiment]
name = "ishigami"
model = "sweep_models:ishigami"
design = "sobol"
samples = 1024
calc_second_order = true
seed = 12345
outputs = ["y"]
[factors]
x1 = [{-PI!r}, {PI!r}]
x2 = [{-PI!r}, {PI!r}]
x3 = [{-PI!r}, {PI!r}]
"""
# Analytic indices of Ishigami (a = 7, b = 0.1), REFERENCES.md.
S1 = [0.3139, 0.4424, 0.0]
ST = [0.5576, 0.4424, 0.2437]
S13 = ST[0] - S1[0]  # x1-x3 is the only interaction
# SALib's own regression tolerances for Ishigami (SALib tests/test_regression.py).
ATOL, RTOL = 5e-2, 1e-1


def test_pipeline_recovers_ishigami_sobol_indices(tmp_path):
    exp_path = write(tmp_path, ISHIGAMI)
    directory = run_experiment(exp_path, tmp_path / "out", executor="serial")
    manifest = json.loads((directory / "manifest.json").read_text())
    runs = read_runs(directory)
    design = pd.read_parquet(directory / "design.parquet")
    problem = manifest["problem"]
    # the design is SALib's own seeded Sobol sample, row for row
    expected_x = sobol_sample.sample(problem, 1024, calc_second_order=True, seed=12345)
    assert_allclose(design[["x1", "x2", "x3"]].to_numpy(), expected_x, rtol=0, atol=0)
    assert manifest["counts"] == {"ok": 8192, "failed": 0, "invalid": 0, "pending": 0,
                                  "total": 8192}
    assert (runs["row"].to_numpy() == np.arange(8192)).all()
    si = sobol_analyze.analyze(problem, runs["y"].to_numpy(),
                               calc_second_order=manifest["calc_second_order"], seed=1)
    assert_allclose(si["S1"], S1, atol=ATOL, rtol=RTOL)
    assert_allclose(si["ST"], ST, atol=ATOL, rtol=RTOL)
    assert_allclose([si["S2"][0, 1], si["S2"][0, 2], si["S2"][1, 2]], [0.0, S13, 0.0],
                    atol=ATOL, rtol=RTOL)


# --------------------------------------------------------------------------- identity

NOISY = """
[experiment]
name = "noisy"
model = "sweep_models:noisy"
design = "lhs"
samples = 30
replicates = 2
seed = 777
[params]
noise = 0.5
[factors]
x1 = [-3.0, 3.0]
x2 = [-3.0, 3.0]
x3 = [-3.0, 3.0]
[regimes.a]
shift = 0.0
[regimes.b]
shift = 1
[compare]
delta = ["a", "b"]
"""


@pytest.fixture(scope="module")
def noisy_reference(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reference")
    path = write(tmp, NOISY)
    directory = run_experiment(path, tmp / "out", workers=1)
    return path, comparable(read_runs(directory))


def test_reference_table_has_seeds_regimes_and_common_random_numbers(noisy_reference):
    _, ref = noisy_reference
    assert len(ref) == 30 * 2 * 2
    assert set(ref["regime"]) == {"a", "b"}
    assert (ref["status"] == "ok").all() and (ref["error"] == "").all()
    expected = [run_seed(777, r, p) for r, p in zip(ref["row"], ref["replicate"], strict=True)]
    assert ref["seed"].tolist() == expected
    # regimes of a pair share the seed: common random numbers (u depends on the seed only)
    a, b = (ref[ref["regime"] == g].reset_index(drop=True) for g in "ab")
    assert (a["seed"] == b["seed"]).all() and (a["u"] == b["u"]).all()
    assert (a["shift_seen"] == 0.0).all() and (b["shift_seen"] == 1.0).all()
    assert ref["shift"].dtype == np.float64  # 0.0 and 1 in the file: one float column
    assert (ref["traceback"] == "").all()
    assert {"noise", "x1", "x2", "x3", "y", "u"} <= set(ref.columns)


def test_two_workers_dask_and_merged_shards_match_one_worker(noisy_reference, tmp_path,
                                                            monkeypatch):
    path, ref = noisy_reference
    two = run_experiment(path, tmp_path / "two", workers=2, executor="local")
    pd.testing.assert_frame_equal(comparable(read_runs(two)), ref)
    if "forkserver" in multiprocessing.get_all_start_methods():  # the Python 3.14+ default
        monkeypatch.setenv("RELSIM_START_METHOD", "forkserver")
        server = run_experiment(path, tmp_path / "server", workers=2, executor="local")
        pd.testing.assert_frame_equal(comparable(read_runs(server)), ref)
        monkeypatch.delenv("RELSIM_START_METHOD")

    dask = run_experiment(path, tmp_path / "dask", workers=2, executor="dask")
    pd.testing.assert_frame_equal(comparable(read_runs(dask)), ref)
    assert json.loads((dask / "manifest.json").read_text())["sessions"][-1]["executor"] == (
        "DaskExecutor")

    out = tmp_path / "shards"
    for i in range(3):
        summary = sweep(path, out, shard=(i, 3), executor="serial")
        assert summary.pending == 0 and summary.ok == 40  # rows i, i+3, ... x 2 reps x 2
    with pytest.raises(Exception, match="unmerged shards"):
        read_runs(out / "noisy")
    merged = merge_shards(out)
    assert [m.exit_status for m in merged] == [0]
    pd.testing.assert_frame_equal(comparable(read_runs(out / "noisy")), ref)
    manifest = json.loads((out / "noisy" / "manifest.json").read_text())
    assert manifest["counts"]["ok"] == 120 and manifest["shard"] is None
    assert len(manifest["merged_from"]) == 3
    # merging again is idempotent
    merge_shards(out / "noisy")
    raw = read_parts(ResultStore(out / "noisy").parts())
    assert len(raw) == 120


def test_resume_skips_finished_runs(noisy_reference, tmp_path, monkeypatch):
    path, ref = noisy_reference
    # a killed sweep never reaches its final compaction: its chunks stay separate parts
    with monkeypatch.context() as m:
        m.setattr(ResultStore, "coalesce", lambda self, max_runs=0: 0)
        first = sweep(path, tmp_path, executor="serial")
    assert first.ran == 120 and first.skipped == 0
    store = ResultStore(first.path)
    parts = store.parts()
    # lose some parts, as if killed before writing them
    for part in parts[len(parts) // 2:]:
        part.unlink()
    second = sweep(path, tmp_path, executor="serial")
    assert 0 < second.ran < 120 and second.skipped + second.ran == 120
    assert second.exit_status == 0
    pd.testing.assert_frame_equal(comparable(read_runs(first.path)), ref)
    third = sweep(path, tmp_path, executor="serial")
    assert third.ran == 0
    manifest = json.loads((first.path / "manifest.json").read_text())
    assert len(manifest["sessions"]) == 3
    assert manifest["status"] == "complete"


# --------------------------------------------------------------------------- failures

FLAKY = """
[experiment]
name = "flaky"
model = "sweep_models:flaky"
design = "grid"
seed = 5
replicates = 2
[factors]
x1 = {values = [0.0, 0.25, 0.5, 0.75, 1.0]}
"""


def test_failing_runs_are_recorded_and_the_rest_complete(tmp_path, capsys):
    path = write(tmp_path, FLAKY)
    status = cli.main(["sweep", str(path), "--out", str(tmp_path), "--quiet", "--workers", "2"])
    captured = capsys.readouterr()
    assert status == 1
    assert "3 ok" not in captured.out and "6 ok, 4 failed, 0 pending" in captured.out
    assert "x1 too large" in captured.err and "--retry-failed" in captured.err
    runs = read_runs(tmp_path / "flaky")
    failed = runs[runs["status"] == "failed"]
    ok = runs[runs["status"] == "ok"]
    assert sorted(failed["x1"].unique()) == [0.75, 1.0]
    assert failed["error"].str.startswith("ValueError: x1 too large: ").all()
    assert failed["y"].isna().all()
    assert len(ok) == 6 and ok["y"].notna().all() and (ok["error"] == "").all()
    manifest = json.loads((tmp_path / "flaky" / "manifest.json").read_text())
    assert manifest["counts"] == {"ok": 6, "failed": 4, "invalid": 0, "pending": 0,
                                  "total": 10}


def test_retry_failed_replaces_failed_rows(tmp_path, monkeypatch):
    exp = FLAKY.replace("sweep_models:flaky", "sweep_models:sometimes")
    path = write(tmp_path, exp)
    monkeypatch.setenv("SWEEP_FAIL", "1")
    first = sweep(path, tmp_path, executor="serial")
    assert (first.ok, first.failed) == (6, 4)
    again = sweep(path, tmp_path, executor="serial")  # resume: failed runs are not rerun
    assert again.ran == 0 and again.failed == 4
    monkeypatch.delenv("SWEEP_FAIL")
    retry = sweep(path, tmp_path, executor="serial", retry_failed=True)
    assert retry.ran == 4 and (retry.ok, retry.failed) == (10, 0) and retry.exit_status == 0
    raw = read_parts(ResultStore(first.path).parts())
    assert len(raw) == 10 and not raw.duplicated(["row", "replicate", "regime"]).any()
    clean = sweep(path, tmp_path / "clean", executor="serial")
    pd.testing.assert_frame_equal(comparable(read_runs(first.path)),
                                  comparable(read_runs(clean.path)))
    # every part has the same columns after compaction (a part of only failures had no y)
    schemas = {tuple(pd.read_parquet(p).columns) for p in ResultStore(first.path).parts()}
    assert len(schemas) == 1


# --------------------------------------------------------------------------- series, replicate

SERIES = """
[experiment]
name = "series"
model = "sweep_models:noisy"
design = "replicate"
replicates = 3
series = true
seed = 3
[params]
x1 = 0.1
x2 = 0.2
x3 = 0.3
days = 4
"""


def test_series_are_stored_with_run_keys(tmp_path):
    directory = run_experiment(write(tmp_path, SERIES), tmp_path, workers=1)
    runs = read_runs(directory)
    series = pd.read_parquet(directory / "series")
    assert len(runs) == 3 and len(series) == 3 * 4
    assert list(series.columns[:5]) == ["row", "replicate", "regime", "seed", "day"]
    merged = series.merge(runs[["row", "replicate", "seed"]], on=["row", "replicate"])
    assert (merged["seed_x"] == merged["seed_y"]).all()
    assert "series" not in runs.columns
    design = pd.read_parquet(directory / "design.parquet")
    assert list(design.columns) == ["row"] and len(design) == 1


def test_morris_and_grid_designs(tmp_path):
    morris = write(tmp_path, """
        [experiment]
        name = "m"
        model = "sweep_models:ishigami"
        design = "morris"
        samples = 6
        levels = 4
        seed = 2
        [factors]
        x1 = [-3.0, 3.0]
        x2 = [-3.0, 3.0]
        x3 = [-3.0, 3.0]
        """, "m.toml")
    directory = run_experiment(morris, tmp_path, executor="serial")
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["design_rows"] == 6 * 4 and manifest["num_levels"] == 4
    assert manifest["levels"] == 4
    design = pd.read_parquet(directory / "design.parquet")
    levels = np.linspace(-3.0, 3.0, 4)
    assert np.isin(design["x1"].round(9), levels.round(9)).all()

    grid = write(tmp_path, """
        [experiment]
        name = "g"
        model = "sweep_models:ishigami"
        design = "grid"
        seed = 2
        [params]
        x3 = 0.0
        [factors]
        x1 = {values = [0.0, 1.0, 2.0]}
        x2 = {values = [0.0, 0.5]}
        """, "g.toml")
    gdir = run_experiment(grid, tmp_path, executor="serial")
    gdesign = pd.read_parquet(gdir / "design.parquet")
    assert gdesign[["x1", "x2"]].values.tolist() == [
        [0.0, 0.0], [0.0, 0.5], [1.0, 0.0], [1.0, 0.5], [2.0, 0.0], [2.0, 0.5]]


def test_params_precedence_and_checked_model(tmp_path):
    path = write(tmp_path, """
        [experiment]
        name = "p"
        model = "sweep_checked_model:simulate"
        design = "grid"
        seed = 4
        [params]
        discipline = 0.5
        [factors]
        utilization = {values = [0.6, 0.7]}
        [regimes.keep]
        [regimes.sacred]
        discipline = 1.0
        """)
    runs = read_runs(run_experiment(path, tmp_path, executor="serial"))
    keep = runs[runs["regime"] == "keep"]
    sacred = runs[runs["regime"] == "sacred"]
    assert (keep["d"] == 0.5).all() and (sacred["d"] == 1.0).all()  # regime beats [params]
    assert sorted(runs["y"].unique()) == [0.6, 0.7]  # factor values reach the model
    manifest = json.loads((tmp_path / "p" / "manifest.json").read_text())
    assert manifest["defaults"]["discipline"] == 0.5 and "capacity_hours" in manifest["defaults"]
    assert "capacity_hours" not in runs.columns  # only the experiment's parameters stored


def test_load_experiment_round_trip(tmp_path):
    exp = load_experiment(write(tmp_path, NOISY))
    assert exp.regime_names == ["a", "b"] and exp.compare == ("a", "b")
    assert exp.to_dict()["factors"][0] == {"name": "x1", "bounds": [-3.0, 3.0],
                                           "integer": False}


def test_store_counts_of_an_empty_store(tmp_path):
    store = ResultStore(tmp_path)
    counts = store.counts(expected={(0, 0, ""), (1, 0, "")})
    assert (counts.ok, counts.failed, counts.pending) == (0, 0, 2)


def test_cli_sweep_on_an_existing_dask_scheduler_with_progress(noisy_reference, tmp_path,
                                                               capsys, monkeypatch):
    from distributed import LocalCluster

    monkeypatch.setenv("RELSIM_PROGRESS_INTERVAL", "0")  # off a terminal: a line per update

    path, ref = noisy_reference
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster:
        status = cli.main(["sweep", str(path), "--out", str(tmp_path),
                           "--scheduler", cluster.scheduler_address])
    assert status == 0
    captured = capsys.readouterr()
    assert "120 ok, 0 failed, 0 pending" in captured.out
    assert "relsim: sweep noisy: 120/120 runs (100%)" in captured.err  # not --quiet
    pd.testing.assert_frame_equal(comparable(read_runs(tmp_path / "noisy")), ref)
    manifest = json.loads((tmp_path / "noisy" / "manifest.json").read_text())
    assert manifest["sessions"][-1]["scheduler"] == cluster.scheduler_address


def test_a_run_that_kills_its_worker_is_retried_then_failed_and_the_sweep_goes_on(tmp_path,
                                                                                 capsys):
    # crash() calls os._exit(3) for x1 > 0.5: 4 of the 10 runs kill their worker
    path = write(tmp_path, FLAKY.replace("sweep_models:flaky", "sweep_models:crash"))
    status = cli.main(["sweep", str(path), "--out", str(tmp_path), "--quiet", "--workers", "2"])
    err = capsys.readouterr().err
    assert status == 1
    assert "Traceback" not in err and "worker died (exit code 3)" in err
    manifest = json.loads((tmp_path / "flaky" / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["counts"] == {"ok": 6, "failed": 4, "invalid": 0, "pending": 0, "total": 10}
    # each killing run was tried twice alone, each death replaced the pool's workers
    assert manifest["sessions"][-1]["worker_restarts"] >= 4
    stored = read_runs(tmp_path / "flaky")
    dead = stored[stored["x1"] > 0.5]
    assert (dead["status"] == "failed").all()
    assert dead["error"].str.startswith("worker died (exit code 3)").all()
    assert (stored.loc[stored["x1"] <= 0.5, "status"] == "ok").all()
