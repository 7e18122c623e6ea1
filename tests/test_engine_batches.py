"""Columnar chunks (`Batch`): the same runs as one task per run, in fewer and larger parts."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from relsim.experiments.design import build_design
from relsim.experiments.runner import (
    BatchFactory,
    Chunker,
    TaskFactory,
    batch_table,
    param_columns,
    run_keys,
)
from relsim.experiments.spec import load_experiment
from relsim.experiments.worker import resolve, run_batch, run_one

TESTS = Path(__file__).resolve().parent


pytestmark = pytest.mark.usefixtures("test_models_importable")


REGIMES = """
[experiment]
name = "batches"
model = "sweep_models:flaky"
design = "grid"
replicates = 2
seed = 21
[params]
noise = 0.5
shift = 0.0
label = "base"
[factors]
x1 = {values = [0.0, 0.4, 0.6, 1.0]}
flag = {values = [true, false]}
[regimes.a]
[regimes.b]
shift = 2
label = "other"
"""

AXES = """
[experiment]
name = "axes"
model = "sweep_models:styled"
design = "grid"
replicates = 2
seed = 5
[params]
w = 2
[axes.chaos]
x = [0.0, 1.0]
z = [0.0, 0.2]
[factors]
chaos = {values = [0.0, 0.5, 1.0]}
[regimes.rel]
rel = 1.0
[regimes.tx]
rel = 0.0
"""


def _experiment(tmp_path: Path, text: str):
    path = tmp_path / "exp.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    exp = load_experiment(path)
    return exp, build_design(exp)


@pytest.mark.parametrize("text", [REGIMES, AXES], ids=["regimes", "axes"])
def test_a_batch_holds_the_parameters_seeds_and_stored_values_of_one_task_per_run(tmp_path,
                                                                                  text):
    exp, design = _experiment(tmp_path, text)
    keys = list(run_keys(len(design), exp.replicates, exp.regime_names))
    tasks = [TaskFactory(exp, design)(k) for k in keys]
    batch = BatchFactory(exp, design)(keys)

    assert batch.keys() == keys and len(batch) == len(keys)
    assert batch.seeds() == [t.seed for t in tasks]
    made = list(batch.run_params())
    assert made == [t.params for t in tasks]
    # same values, same types, same key order (a model may iterate over its parameters)
    assert [[(k, type(v)) for k, v in p.items()] for p in made] == \
        [[(k, type(v)) for k, v in t.params.items()] for t in tasks]
    defaults = exp.defaults or {}
    for name in param_columns(exp):
        expected = [t.params.get(name, t.recorded.get(name, defaults.get(name))) for t in tasks]
        assert batch.column(name, defaults.get(name)) == expected, name
    # a slice is the batch of those runs (how a worker's death is isolated run by run)
    for i in (0, 3, len(keys) - 1):
        one = batch[i:i + 1]
        assert one.keys() == [keys[i]] and list(one.run_params()) == [tasks[i].params]
        assert one.seeds() == [tasks[i].seed]


def test_run_batch_returns_as_columns_what_run_one_returns_per_run(tmp_path):
    exp, design = _experiment(tmp_path, REGIMES)
    keys = list(run_keys(len(design), exp.replicates, exp.regime_names))
    tasks = [TaskFactory(exp, design)(k) for k in keys]
    batch = BatchFactory(exp, design)(keys)
    records = [run_one(resolve(exp.model), t, False) for t in tasks]
    result = run_batch(exp.model, batch)

    assert result.status == [r.status for r in records]
    assert {"ok", "failed"} == set(result.status)  # flaky raises for x1 > 0.5
    assert result.error == [r.error for r in records]
    assert result.seeds == [r.seed for r in records]
    assert list(result.outputs) == ["y"]
    for got, r in zip(result.outputs["y"], records, strict=True):
        want = r.outputs.get("y", math.nan)
        assert got == want or (math.isnan(got) and math.isnan(want))
    assert all(t.strip().endswith(e.split(": ", 1)[1]) for t, e, s in
               zip(result.traceback, result.error, result.status, strict=True) if s == "failed")

    params = param_columns(exp)
    table = batch_table(batch, result, params, ["y"], exp.defaults or {}, "s1")
    assert table.num_rows == len(keys)
    assert table.column("label").to_pylist() == [t.params["label"] for t in tasks]
    assert table.column("flag").to_pylist() == [t.params["flag"] for t in tasks]
    assert table.column("session").to_pylist() == ["s1"] * len(keys)


def test_a_cheap_model_is_swept_in_few_large_chunks():
    """8,192 runs of 25 us on 2 workers: a handful of parts, not hundreds."""
    keys = [(i, 0, "") for i in range(8192)]
    chunker = Chunker(keys, workers=2)
    sizes = []
    for chunk in chunker:
        sizes.append(len(chunk))
        # a chunk's fixed cost (1 ms) plus 25 us per run, as a worker reports it
        chunker.observe(len(chunk), 1e-3 + 25e-6 * len(chunk))
    assert sum(sizes) == 8192
    assert len(sizes) <= 12, sizes
    assert max(sizes) >= 2000, sizes


def test_an_expensive_model_still_gets_short_chunks_and_a_balanced_tail():
    """40 ms runs: chunks of about CHUNK_TARGET_S (2 s), the last ones smaller."""
    keys = [(i, 0, "") for i in range(800)]
    chunker = Chunker(keys, workers=2)
    sizes = []
    for chunk in chunker:
        sizes.append(len(chunk))
        chunker.observe(len(chunk), 0.04 * len(chunk))
    assert sum(sizes) == 800
    assert max(sizes) <= 50  # 2 s of 40 ms runs
    assert sizes[-1] < max(sizes)


def test_workers_start_before_the_sweep_builds_anything_that_grows_with_its_runs(
        tmp_path, monkeypatch):
    """Forked workers would copy the design, the run keys and the design write's buffers.

    So the executor starts before `_prepare` makes them (issue 12: memory flat in runs).
    """
    from relsim.experiments import runner

    events: list[str] = []
    make_executor, prepare = runner.make_executor, runner._prepare

    def recording_executor(*args, **kwargs):
        events.append("executor")
        return make_executor(*args, **kwargs)

    def recording_prepare(*args, **kwargs):
        events.append("prepare")
        return prepare(*args, **kwargs)

    monkeypatch.setattr(runner, "make_executor", recording_executor)
    monkeypatch.setattr(runner, "_prepare", recording_prepare)
    path = tmp_path / "exp.toml"
    path.write_text(textwrap.dedent(REGIMES), encoding="utf-8")
    summary = runner.sweep(path, tmp_path / "out", workers=2, executor="local")
    assert events == ["executor", "prepare"]
    assert summary.ok + summary.failed == 4 * 2 * 2 * 2 and summary.pending == 0


@pytest.mark.parametrize("executor", ["local", "dask"])
def test_a_directory_of_another_experiment_version_stops_before_any_worker_starts(
        tmp_path, monkeypatch, executor):
    """Bad input is reported at once, not after a pool or a Dask cluster has started."""
    from relsim.experiments import runner
    from relsim.experiments.errors import UserError

    path = tmp_path / "exp.toml"
    path.write_text(textwrap.dedent(REGIMES), encoding="utf-8")
    runner.sweep(path, tmp_path / "out", workers=1, executor="serial")
    path.write_text(textwrap.dedent(REGIMES).replace("seed = 21", "seed = 22"),
                    encoding="utf-8")
    started: list[str] = []
    monkeypatch.setattr(runner, "make_executor", lambda *a, **k: started.append("executor"))
    with pytest.raises(UserError, match="holds results of a different version"):
        runner.sweep(path, tmp_path / "out", workers=2, executor=executor)
    assert started == []


def test_dask_and_serial_sweeps_plan_before_their_executor_starts(tmp_path, monkeypatch):
    """Only forked local workers gain from starting first; the others check first."""
    from relsim.experiments import runner

    events: list[str] = []
    make_executor, prepare = runner.make_executor, runner._prepare
    monkeypatch.setattr(runner, "make_executor",
                        lambda *a, **k: events.append("executor") or make_executor(*a, **k))
    monkeypatch.setattr(runner, "_prepare",
                        lambda *a, **k: events.append("prepare") or prepare(*a, **k))
    path = tmp_path / "exp.toml"
    path.write_text(textwrap.dedent(REGIMES), encoding="utf-8")
    runner.sweep(path, tmp_path / "out", workers=1, executor="serial")
    assert events == ["prepare", "executor"]


# ------------------------------------------------------------------ combining small parts


def _sweep_regimes(tmp_path: Path, out: str, coalesce: bool, monkeypatch) -> Path:
    from relsim.experiments import runner
    from relsim.experiments.store import ResultStore

    path = tmp_path / "exp.toml"
    path.write_text(textwrap.dedent(REGIMES), encoding="utf-8")
    with monkeypatch.context() as m:
        if not coalesce:
            m.setattr(ResultStore, "coalesce", lambda self, max_runs=0: 0)
        # chunks of at most 3 runs: 32 runs in at least 11 parts
        summary = runner.sweep(path, tmp_path / out, workers=1, executor="serial",
                               max_chunk_runs=3)
    return summary.path


def test_a_finished_sweep_combines_its_small_parts_and_its_table_is_unchanged(
        tmp_path, monkeypatch):
    from relsim.experiments import read_runs
    from relsim.experiments.store import ResultStore
    from runs_table import comparable

    separate = _sweep_regimes(tmp_path, "separate", False, monkeypatch)
    combined = _sweep_regimes(tmp_path, "combined", True, monkeypatch)
    assert len(ResultStore(separate).parts()) >= 11
    assert len(ResultStore(combined).parts()) == 1  # 32 runs fit one part of 8,192
    a, b = read_runs(separate), read_runs(combined)
    assert len(b) == 32 and (b["status"] == "failed").sum() > 0  # failed runs kept too
    assert comparable(a).equals(comparable(b))


def test_combining_respects_the_size_limit_and_a_kill_midway_loses_nothing(
        tmp_path, monkeypatch):
    import shutil

    from relsim.experiments import read_runs
    from relsim.experiments.store import ResultStore
    from runs_table import comparable

    root = _sweep_regimes(tmp_path, "out", False, monkeypatch)
    store = ResultStore(root)
    before = comparable(read_runs(root))
    kept = tmp_path / "kept"
    kept.mkdir()
    for part in store.parts():
        shutil.copy(part, kept / part.name)
    assert store.coalesce(max_runs=10) > 0
    sizes = [pq.read_metadata(p).num_rows for p in store.parts()]
    assert max(sizes) <= 10 and sum(sizes) == 32
    # a kill after a combined part was written but before its old parts were removed
    # leaves identical rows twice: the table is unchanged and the next compaction
    # removes the copies
    for part in kept.iterdir():
        shutil.copy(part, store.runs_dir / part.name)
    assert comparable(read_runs(root)).equals(before)
    store.compact()
    assert sum(pq.read_metadata(p).num_rows for p in store.parts()) == 32
    assert comparable(read_runs(root)).equals(before)


def test_a_store_with_daily_series_keeps_its_parts_paired(tmp_path):
    from relsim.experiments import runner
    from relsim.experiments.store import ResultStore

    path = tmp_path / "exp.toml"
    path.write_text(textwrap.dedent("""
        [experiment]
        name = "series"
        model = "sweep_models:noisy"
        design = "lhs"
        samples = 16
        seed = 4
        series = true
        [factors]
        x1 = [-3.14, 3.14]
        x2 = [-3.14, 3.14]
        x3 = [-3.14, 3.14]
    """), encoding="utf-8")
    summary = runner.sweep(path, tmp_path / "out", workers=1, executor="serial",
                           max_chunk_runs=3)
    store = ResultStore(summary.path)
    runs = sorted(p.name for p in store.parts())
    assert summary.ok == 16 and len(runs) >= 6  # chunks of at most 3 runs
    assert runs == sorted(p.name for p in store.series_dir.glob("part-*.parquet"))
