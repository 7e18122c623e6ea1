"""The sweep engine under failure: bad values, hanging runs, dying workers, runaway failures,
damaged files, concurrent sweeps, a killed coordinator and changed code (issue 10, items
2, 4, 5 and 6). The tiny models live in tests/sweep_models.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from relsim.analysis import io as aio
from relsim.analysis.integrity import IntegrityError, read_verified, table_digest
from relsim.experiments import cli, read_runs, run_experiment
from relsim.experiments.errors import UserError
from relsim.experiments.runner import sweep
from relsim.experiments.store import ResultStore
from relsim.experiments.worker import resolve
from runs_table import DEADLINE_S, KEY, comparable

GRID = """
[experiment]
name = "grid"
model = "sweep_models:{model}"
design = "grid"
seed = 5
replicates = 2
{extra}
[factors]
x1 = {{values = [0.0, 0.25, 0.5, 0.75, 1.0]}}
"""


pytestmark = pytest.mark.usefixtures("test_models_importable")


def grid(tmp_path: Path, model: str, extra: str = "", samples: int | None = None) -> Path:
    text = GRID.format(model=model, extra=extra)
    if samples is not None:  # a longer sweep: an LHS design over x1 in [0, 1]
        text = text.replace('design = "grid"', f'design = "lhs"\nsamples = {samples}')
        text = text.replace("x1 = {values = [0.0, 0.25, 0.5, 0.75, 1.0]}", "x1 = [0.0, 1.0]")
    path = tmp_path / f"{model}.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def manifest_of(directory: Path) -> dict:
    return json.loads((directory / "manifest.json").read_text())


# --------------------------------------------------------------------------- item 5


def test_non_finite_outputs_are_stored_invalid_counted_and_left_out_by_analysis(tmp_path,
                                                                                capsys):
    # nonfinite(): NaN for x1 > 0.5 (4 runs), +inf for x1 == 0 (2 runs), finite otherwise
    path = grid(tmp_path, "nonfinite")
    status = cli.main(["sweep", str(path), "--out", str(tmp_path), "--quiet", "--workers", "1"])
    out, err = capsys.readouterr()
    assert status == 1
    assert "4 ok, 0 failed, 6 invalid, 0 pending" in out
    assert "6 runs returned a non-finite output" in err
    manifest = manifest_of(tmp_path / "grid")
    assert manifest["counts"] == {"ok": 4, "failed": 0, "invalid": 6, "pending": 0, "total": 10}
    runs = read_runs(tmp_path / "grid")
    bad = runs[(runs["x1"] > 0.5) | (runs["x1"] == 0)]
    assert (bad["status"] == "invalid").all() and bad["y"].isna().all()
    assert bad["z"].notna().all()  # the finite outputs of an invalid run are kept
    assert bad.loc[bad["x1"] == 0, "error"].eq("non-finite output(s): y=inf").all()
    assert bad.loc[bad["x1"] > 0.5, "error"].eq("non-finite output(s): y=nan").all()
    assert (runs.loc[~runs.index.isin(bad.index), "status"] == "ok").all()
    # a NaN in an output the model declares undefined in some runs (UNDEFINED_OUTPUTS)
    assert runs.loc[runs["x1"] == 0.25, "rate"].isna().all()
    assert (runs.loc[runs["x1"] == 0.25, "status"] == "ok").all()
    # analysis counts only ok runs
    results = aio.load_results(tmp_path / "grid")
    assert len(aio.ok_runs(results.runs)) == 4
    # --retry-failed reruns invalid runs too (deterministic here: they stay invalid)
    assert cli.main(["sweep", str(path), "--out", str(tmp_path), "--quiet", "--workers", "1",
                     "--retry-failed"]) == 1
    assert "0 already done" not in capsys.readouterr().out


def test_only_analysed_outputs_invalidate_a_run(tmp_path):
    # with outputs = ["z"], a NaN y (say, a rate undefined in that run) leaves the run ok
    sweep(grid(tmp_path, "nonfinite", extra='outputs = ["z"]'), tmp_path, workers=1)
    runs = read_runs(tmp_path / "grid")
    assert (runs["status"] == "ok").all() and runs["y"].isna().sum() == 6
    sweep(grid(tmp_path, "nonfinite", extra='outputs = ["z", "y"]'), tmp_path / "b", workers=1)
    assert (read_runs(tmp_path / "b" / "grid")["status"] == "invalid").sum() == 6


# --------------------------------------------------------------------------- item 4


@pytest.mark.parametrize(("model", "executor"), [("hang", "local"), ("sleepy", "serial")])
def test_a_run_over_its_timeout_is_failed_with_the_reason_and_the_sweep_goes_on(
        tmp_path, model, executor):
    # hang() loops forever, sleepy() sleeps an hour, both for x1 > 0.5 (4 of 10 runs)
    path = grid(tmp_path, model, extra="timeout_s = 0.3")
    started = time.monotonic()
    summary = sweep(path, tmp_path, workers=2, executor=executor)
    assert time.monotonic() - started < 30
    assert (summary.ok, summary.failed, summary.pending) == (6, 4, 0)
    runs = read_runs(tmp_path / "grid")
    slow = runs[runs["x1"] > 0.5]
    assert (slow["status"] == "failed").all()
    assert slow["error"].eq("timeout: the run took longer than 0.3 s (timeout_s)").all()
    assert slow["wall_s"].between(0.25, 10).all()
    assert manifest_of(tmp_path / "grid")["sessions"][-1]["timeout_s"] == 0.3


def test_the_cli_timeout_overrides_the_file_and_dask_threads_time_out_too(tmp_path, capsys):
    from distributed import LocalCluster

    path = grid(tmp_path, "hang", extra="timeout_s = 1000")
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address=None) as cluster:
        status = cli.main(["sweep", str(path), "--out", str(tmp_path), "--quiet",
                           "--scheduler", cluster.scheduler_address, "--timeout", "0.3"])
    assert status == 1
    assert "6 ok, 4 failed, 0 pending" in capsys.readouterr().out
    runs = read_runs(tmp_path / "grid")
    assert runs.loc[runs["x1"] > 0.5, "error"].str.startswith("timeout: ").all()


def test_bad_timeouts_are_rejected_with_a_message(tmp_path, capsys):
    path = grid(tmp_path, "flaky", extra="timeout_s = -1")
    assert cli.main(["sweep", str(path), "--out", str(tmp_path)]) == 2
    assert "'timeout_s' must be a positive number" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        cli.main(["sweep", str(grid(tmp_path, "flaky")), "--timeout", "0"])
    assert stop.value.code == 2
    for bad in ("0", "-3", "1.5", "x"):
        with pytest.raises(SystemExit) as stop:
            cli.main(["sweep", str(grid(tmp_path, "flaky")), "--max-failures", bad])
        assert stop.value.code == 2
    assert "--max-failures must be a whole number" in capsys.readouterr().err


def test_failed_runs_keep_their_full_traceback(tmp_path):
    sweep(grid(tmp_path, "always_fails"), tmp_path, workers=1)
    runs = read_runs(tmp_path / "grid")
    assert (runs["status"] == "failed").all()
    assert runs["error"].str.startswith("ZeroDivisionError: cannot divide by x1").all()
    trace = runs["traceback"].iloc[0]
    assert trace.startswith("Traceback (most recent call last):")
    assert "in always_fails" in trace and "in inner" in trace and "sweep_models.py" in trace


@pytest.mark.parametrize(("limit", "most"), [("3", 3), ("0.5", 31)])
def test_max_failures_stops_a_sweep_that_fails_everywhere(tmp_path, capsys, limit, most):
    path = grid(tmp_path, "always_fails", samples=200)  # 400 runs, every one fails
    status = cli.main(["sweep", str(path), "--out", str(tmp_path), "--quiet", "--workers", "1",
                       "--max-failures", limit])
    out, err = capsys.readouterr()
    assert status == 1 and "Traceback" not in err
    assert "sweep stopped early" in err and "--max-failures" in err
    assert "row 0, replicate 0: ZeroDivisionError: cannot divide by x1" in err  # first error
    manifest = manifest_of(tmp_path / "grid")
    ran = manifest["sessions"][-1]["runs"]
    # it stops at the first chunk boundary past the limit; chunks of one worker hold 1, 2,
    # 4, 8, 16 ... runs, so the share (checked from 20 runs on) stops it after 31
    assert ran <= most and manifest["counts"]["pending"] == 400 - ran
    assert manifest["stopped"] and manifest["status"] == "incomplete"
    assert len(read_runs(tmp_path / "grid")) == ran  # what ran is kept


# --------------------------------------------------------------------------- item 6


def noisy_store(tmp_path: Path) -> tuple[Path, Path]:
    path = tmp_path / "noisy.toml"
    path.write_text(textwrap.dedent("""
        [experiment]
        name = "noisy"
        model = "sweep_models:noisy"
        design = "lhs"
        samples = 24
        replicates = 2
        seed = 3
        series = true
        [factors]
        x1 = [0.0, 1.0]
        x2 = [0.0, 1.0]
        x3 = [0.0, 1.0]
        """))
    run_experiment(path, tmp_path / "out", workers=1, max_chunk_runs=8)
    return path, tmp_path / "out" / "noisy"


def test_the_checksum_of_a_table_is_stable_across_versions():
    # Stored parts carry this digest, so it is a file format: files written by earlier
    # versions must still verify. The value was computed by the code of 2026-11-27 before
    # the digest's null-free fast path; columns with and without nulls, of every kind.
    table = pa.table({"row": pa.array([0, 1, 2], pa.int64()),
                      "profit": pa.array([1.5, None, -0.25], pa.float64()),
                      "ok": pa.array([True, False, None]),
                      "regime": pa.array(["a", None, "sacred"]),
                      "error": pa.array([None, None, None], pa.null()),
                      "x": pa.array([0.1, 0.2, 0.3])})
    assert table_digest(table) == ("d3a8fe2dfaec777f979ed6d3e9b755af"
                                   "1eed1f17e557fc21c18b844449890546")
    assert table_digest(table.set_column(5, "x", pa.array([0.1, 0.2, 0.30000000000000004]))) \
        != table_digest(table)


def test_a_flipped_value_is_detected_on_read_and_by_verify(tmp_path, capsys):
    path, store = noisy_store(tmp_path)
    part = ResultStore(store).parts()[2]
    table = pq.read_table(part)  # keeps the recorded checksum in its metadata
    y = table.column("y").to_pylist()
    y[3] += 1e-9  # one value changes in its last bits; the file stays valid parquet
    pq.write_table(table.set_column(table.column_names.index("y"), "y", [y]), part)
    with pytest.raises(IntegrityError, match="checksum mismatch"):
        read_verified(part)
    with pytest.raises(IntegrityError, match=part.name):
        aio.load_results(store)  # analysis checks too
    assert cli.main(["analyze", str(store)]) == 2
    assert cli.main(["verify", str(store)]) == 2
    err = capsys.readouterr().err
    assert f"damaged: runs/{part.name}: checksum mismatch" in err
    assert f"relsim verify {store} --repair" in err
    assert f"relsim sweep {path} --out {store.parent}" in err


def test_a_part_corrupted_in_the_middle_is_named_and_repair_then_rerun_restores_it(tmp_path,
                                                                                  capsys):
    path, store = noisy_store(tmp_path)
    before = comparable(read_runs(store))
    part = ResultStore(store).parts()[1]
    held = pq.read_metadata(part).num_rows  # its runs (how many depends on the chunking)
    data = bytearray(part.read_bytes())
    middle = len(data) // 2
    data[middle - 100:middle + 100] = b"\xff" * 200
    part.write_bytes(bytes(data))
    capsys.readouterr()

    # the sweep (resume) and every reader stop with exit status 2 and a message
    status = cli.main(["sweep", str(path), "--out", str(tmp_path / "out"), "--quiet"])
    err = " ".join(capsys.readouterr().err.split())
    assert status == 2 and "Traceback" not in err
    assert f"{part} is damaged" in err
    assert f"'relsim verify {store} --repair'" in err
    assert f"'relsim sweep {path} --out {store.parent}' recomputes" in err

    assert cli.main(["verify", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"damaged: runs/{part.name}" in err
    assert cli.main(["verify", str(store), "--repair"]) == 2
    assert (store / "damaged" / "runs" / part.name).exists()
    assert (store / "damaged" / "series" / part.name).exists()  # its series go with it
    assert cli.main(["verify", str(store)]) == 0
    assert "0 damaged" in capsys.readouterr().out
    # rerunning the sweep recomputes exactly the runs of the damaged part, bit for bit
    status = cli.main(["sweep", str(path), "--out", str(tmp_path / "out"), "--quiet"])
    assert status == 0 and f"this run: {held} runs in" in capsys.readouterr().out
    pd.testing.assert_frame_equal(comparable(read_runs(store)), before)


def test_verify_on_an_intact_store_and_on_a_missing_one(tmp_path, capsys):
    _, store = noisy_store(tmp_path)
    assert cli.main(["verify", str(store)]) == 0
    out = capsys.readouterr().out
    files = 1 + 2 * len(ResultStore(store).parts())  # design, runs and series parts
    assert f"{files} files, {files} intact, 0 damaged, 0 without checksum" in out
    assert cli.main(["verify", str(tmp_path / "nothing")]) == 2
    assert "directory not found" in capsys.readouterr().err
    # a file written without a checksum (an older relsim) is read, and listed as unchecked
    part = ResultStore(store).parts()[0]
    table = pq.read_table(part)
    pq.write_table(table.replace_schema_metadata(None), part)
    assert len(read_runs(store)) == 48
    assert cli.main(["verify", str(tmp_path)]) == 1
    assert "1 without checksum" in capsys.readouterr().out


def sweep_command(path: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "relsim.experiments", "sweep", str(path), "--out", str(out),
            "--quiet", *extra]


def start_slow_sweep(tmp_path: Path, workers: int) -> tuple[subprocess.Popen, Path, Path]:
    path = tmp_path / "slow.toml"
    path.write_text(textwrap.dedent("""
        [experiment]
        name = "slow"
        model = "sweep_models:slow"
        design = "lhs"
        samples = 100
        replicates = 2
        seed = 11
        [params]
        sleep = 0.01
        [factors]
        x1 = [0.0, 1.0]
        """))
    out = tmp_path / "out"
    proc = subprocess.Popen(sweep_command(path, out, "--workers", str(workers)),
                            start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + DEADLINE_S
    while len(list((out / "slow" / "runs").glob("part-*.parquet"))) < 2:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the sweep wrote no parts in time"
        time.sleep(0.02)
    return proc, path, out


def test_a_second_sweep_into_the_same_directory_exits_2_and_nothing_is_duplicated(tmp_path,
                                                                                  capsys):
    proc, path, out = start_slow_sweep(tmp_path, workers=1)
    try:
        status = cli.main(["sweep", str(path), "--out", str(out), "--quiet"])
        err = " ".join(capsys.readouterr().err.split())
        assert proc.poll() is None, "the first sweep must still be running for this to mean much"
        assert status == 2 and "is in use by another relsim process" in err
        assert f"pid {proc.pid}" in err and "Traceback" not in err
        (out / "slow" / "shards" / "shard-000-of-001").mkdir(parents=True)
        (out / "slow" / "shards" / "shard-000-of-001" / "manifest.json").write_text("{}")
        assert cli.main(["merge", str(out / "slow")]) == 2  # merge respects the lock too
        assert "is in use by another relsim process" in " ".join(capsys.readouterr().err.split())
    finally:
        stdout, stderr = proc.communicate(timeout=DEADLINE_S)
    assert proc.returncode == 0, stderr
    raw = pd.read_parquet(out / "slow" / "runs")
    assert len(raw) == 200 and not raw.duplicated(KEY).any()
    assert len(set(raw["session"])) == 1
    # the lock is free again
    assert cli.main(["sweep", str(path), "--out", str(out), "--quiet"]) == 0


def test_workers_end_when_the_coordinator_is_killed(tmp_path):
    proc, path, out = start_slow_sweep(tmp_path, workers=2)
    try:
        coordinator = psutil.Process(proc.pid)
        deadline = time.monotonic() + DEADLINE_S
        while len(coordinator.children(recursive=True)) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        workers = coordinator.children(recursive=True)
        os.kill(proc.pid, signal.SIGKILL)  # the coordinator only, not its process group
        proc.wait(timeout=DEADLINE_S)
        gone, alive = psutil.wait_procs(workers, timeout=10)
        assert not alive, f"orphaned workers: {[p.pid for p in alive]}"
        assert {p.pid for p in gone} == {w.pid for w in workers}
    finally:
        with_group = [p for p in psutil.process_iter() if p.pid != os.getpid()]
        for p in with_group:
            try:
                if os.getpgid(p.pid) == proc.pid:
                    p.kill()
            except (ProcessLookupError, psutil.Error):
                pass
    # the lock died with its holder: a rerun resumes and completes
    rerun = subprocess.run(sweep_command(path, out, "--workers", "2"), capture_output=True,
                           text=True, timeout=DEADLINE_S)
    assert rerun.returncode == 0, rerun.stderr
    assert "200 ok, 0 failed, 0 pending" in rerun.stdout


# --------------------------------------------------------------------------- item 2

MODEL_V1 = '''
def simulate(params, seed):
    if params["x1"] > 0.5:
        raise RuntimeError("version 1 fails here")
    return {"y": params["x1"]}
'''
MODEL_V2 = '''
def simulate(params, seed):
    # version 2 no longer fails
    return {"y": params["x1"] * 2.0}
'''


def use_model(tmp_path: Path, monkeypatch, source: str) -> None:
    (tmp_path / "fpmodel.py").write_text(source, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("fpmodel", None)
    resolve.cache_clear()


def test_each_session_records_its_provenance_and_each_run_its_session(tmp_path, monkeypatch):
    use_model(tmp_path, monkeypatch, MODEL_V1)
    path = grid(tmp_path, "x").with_name("fp.toml")
    path.write_text(grid(tmp_path, "x").read_text().replace("sweep_models:x", "fpmodel:simulate"))
    first = sweep(path, tmp_path / "out", workers=1, shard=(0, 2))
    second = sweep(path, tmp_path / "out", workers=1, shard=(1, 2))
    assert first.session != second.session
    store = tmp_path / "out" / "grid" / "shards" / "shard-000-of-002"
    manifest = manifest_of(store)
    session = manifest["sessions"][-1]
    assert session["id"] == first.session
    code = session["provenance"]["code"]
    assert code["package"] == "fpmodel" and code["files"] == 1 and len(code["sha256"]) == 16
    assert session["provenance"]["versions"]["pandas"] == pd.__version__
    assert session["provenance"]["host"] and "commit" in session["provenance"]["git"]
    assert set(read_runs(store)["session"]) == {first.session}
    # merged, the runs keep their sessions; the merged store remembers the shards' code
    assert cli.main(["merge", str(tmp_path / "out" / "grid")]) == 1  # v1 fails for x1 > 0.5
    merged = read_runs(tmp_path / "out" / "grid")
    assert set(merged["session"]) == {first.session, second.session}
    assert manifest_of(tmp_path / "out" / "grid")["code_versions"] == [code["sha256"]]
    use_model(tmp_path, monkeypatch, MODEL_V2)
    with pytest.raises(UserError, match="holds runs computed by other code"):
        sweep(path, tmp_path / "out", workers=1, retry_failed=True)


def test_resume_with_changed_code_stops_unless_allowed_and_then_records_it(tmp_path,
                                                                         monkeypatch, capsys):
    use_model(tmp_path, monkeypatch, MODEL_V1)
    path = tmp_path / "fp.toml"
    path.write_text(grid(tmp_path, "x").read_text().replace("sweep_models:x", "fpmodel:simulate"))
    out = str(tmp_path / "out")
    # version 1 fails for x1 > 0.5; the sweep stops at the first failure, runs are pending
    assert cli.main(["sweep", str(path), "--out", out, "--quiet", "--workers", "1",
                     "--max-failures", "1"]) == 1
    before = manifest_of(tmp_path / "out" / "grid")
    assert before["counts"]["pending"] > 0 and before["counts"]["failed"] > 0
    v1 = before["sessions"][-1]["provenance"]["code"]["sha256"]

    use_model(tmp_path, monkeypatch, MODEL_V2)  # the model's code changes
    capsys.readouterr()
    for extra in ([], ["--retry-failed"]):
        status = cli.main(["sweep", str(path), "--out", out, "--quiet", "--workers", "1",
                           *extra])
        err = " ".join(capsys.readouterr().err.split())
        assert status == 2 and "holds runs computed by other code" in err
        assert v1 in err and "--allow-code-change" in err and "Traceback" not in err
    assert manifest_of(tmp_path / "out" / "grid")["sessions"] == before["sessions"]

    status = cli.main(["sweep", str(path), "--out", out, "--quiet", "--workers", "1",
                       "--retry-failed", "--allow-code-change"])
    assert status == 0
    manifest = manifest_of(tmp_path / "out" / "grid")
    v2 = manifest["sessions"][-1]["provenance"]["code"]["sha256"]
    assert v2 != v1
    assert [(c["from"], c["to"]) for c in manifest["code_changes"]] == [(v1, v2)]
    assert manifest["sessions"][-1]["code_change_allowed"]["from"] == v1
    runs = read_runs(tmp_path / "out" / "grid")
    by_session = runs.groupby("session")["x1"].agg(["min", "max", "size"])
    assert len(by_session) == 2  # old-code and new-code runs can be told apart
    new = runs[runs["session"] == manifest["sessions"][-1]["id"]]
    assert (new["x1"] > 0.5).all() and (new["y"] == 2 * new["x1"]).all()
    # resuming again with the same (new) code needs no flag
    assert cli.main(["sweep", str(path), "--out", out, "--quiet", "--workers", "1"]) == 0
