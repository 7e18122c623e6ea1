"""Command-line sweeps: a real SIGKILL mid-sweep and resume; SLURM array scripts; merge."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
from relsim.experiments import cli, read_runs, run_experiment
from relsim.experiments.store import ResultStore, read_parts
from runs_table import DEADLINE_S, KEY, comparable

SLOW = """
[experiment]
name = "slow"
model = "sweep_models:slow"
design = "lhs"
samples = 200
replicates = 2
seed = 11
[params]
sleep = 0.01
[factors]
x1 = [0.0, 1.0]
"""


pytestmark = pytest.mark.usefixtures("test_models_importable")


def sweep_command(path: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "relsim.experiments", "sweep", str(path), "--out", str(out),
            "--workers", "2", "--quiet"]


def test_sigkill_mid_sweep_then_rerun_gives_the_uninterrupted_table(tmp_path):
    path = tmp_path / "slow.toml"
    path.write_text(SLOW)
    out = tmp_path / "out"
    runs_dir = out / "slow" / "runs"
    proc = subprocess.Popen(sweep_command(path, out), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + DEADLINE_S
    try:
        while len(list(runs_dir.glob("part-*.parquet"))) < 3:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the sweep wrote no parts in time"
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its worker processes
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    stored = read_parts(ResultStore(out / "slow").parts())
    assert 0 < len(stored) < 400, "the kill must happen mid-sweep for this test to mean much"

    rerun = subprocess.run(sweep_command(path, out), capture_output=True, text=True,
                           timeout=DEADLINE_S)
    assert rerun.returncode == 0, rerun.stderr
    assert "already done" in rerun.stdout
    raw = read_parts(ResultStore(out / "slow").parts())
    assert len(raw) == 400 and not raw.duplicated(KEY).any()
    assert (raw["status"] == "ok").all()
    assert not list(runs_dir.glob(".*")), "temporary files must not survive a resume"

    reference = run_experiment(path, tmp_path / "reference", workers=2)
    pd.testing.assert_frame_equal(comparable(raw), comparable(read_runs(reference)))


def test_slurm_array_script_runs_shards_that_merge_to_the_full_table(tmp_path, capsys):
    path = tmp_path / "exp.toml"
    path.write_text(textwrap.dedent("""
        [experiment]
        name = "arr"
        model = "sweep_models:noisy"
        design = "lhs"
        samples = 10
        replicates = 2
        seed = 9
        [factors]
        x1 = [0.0, 1.0]
        x2 = [0.0, 1.0]
        x3 = [0.0, 1.0]
        """))
    out = tmp_path / "out"
    assert cli.main(["slurm", str(path), "--shards", "3", "--out", str(out),
                     "--max-parallel", "2", "--partition", "short"]) == 0
    script = out / "arr" / "slurm" / "sweep.sbatch"
    assert str(script) in capsys.readouterr().out
    text = script.read_text()
    assert "#SBATCH --array=0-2%2" in text and "#SBATCH --partition=short" in text
    assert '--shard "${SLURM_ARRAY_TASK_ID}/3"' in text
    subprocess.run(["bash", "-n", str(script)], check=True)
    for task in range(3):  # what SLURM would do, one array task after the other
        env = {**os.environ, "SLURM_ARRAY_TASK_ID": str(task), "SLURM_CPUS_PER_TASK": "1"}
        done = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True,
                              timeout=DEADLINE_S)
        assert done.returncode == 0, done.stderr
        assert f"shard {task}/3 of arr" in done.stdout
    assert cli.main(["merge", str(out / "arr")]) == 0
    assert "merged 3 shards -> 20 ok, 0 failed, 0 pending" in capsys.readouterr().out
    whole = run_experiment(path, tmp_path / "whole", executor="serial")
    pd.testing.assert_frame_equal(comparable(read_runs(out / "arr")),
                                  comparable(read_runs(whole)))


def test_merge_reports_missing_shards(tmp_path, capsys):
    path = tmp_path / "exp.toml"
    path.write_text(SLOW.replace("samples = 200", "samples = 6").replace("0.01", "0.0"))
    out = tmp_path / "out"
    assert cli.main(["sweep", str(path), "--out", str(out), "--shard", "1/3", "--quiet"]) == 0
    capsys.readouterr()
    assert cli.main(["merge", str(out)]) == 1
    captured = capsys.readouterr()
    assert "4 ok, 0 failed, 8 pending" in captured.out
    assert "missing shards: [0, 2]" in captured.err


def test_merge_without_shards_is_a_user_error(tmp_path, capsys):
    assert cli.main(["merge", str(tmp_path)]) == 2
    assert "no shards under" in capsys.readouterr().err


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("how", ["SIGINT to the group (Ctrl-C)", "SIGTERM to the sweep"])
def test_interrupt_stops_cleanly_and_the_rerun_resumes(how, tmp_path):
    path = tmp_path / "slow.toml"
    # 1,000 runs of 20 ms (10 s on 2 workers): the sweep is still running when its second
    # part is written and when the signal arrives, also with the large chunks (growing 8x)
    # that a cheap model gets; a sweep whose every run was already in flight finishes them
    # and exits 0, which would not test the interruption
    path.write_text(SLOW.replace("samples = 200", "samples = 500").replace("sleep = 0.01",
                                                                         "sleep = 0.02"))
    out = tmp_path / "out"
    runs_dir = out / "slow" / "runs"
    # A process started with SIGINT ignored keeps it ignored (so does Python): restore the
    # default disposition, as a command typed at a terminal has it, in case something
    # earlier in this test process (a library, another test) left SIGINT ignored.
    proc = subprocess.Popen(sweep_command(path, out), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint)
    deadline = time.monotonic() + DEADLINE_S
    while len(list(runs_dir.glob("part-*.parquet"))) < 2:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    if how.startswith("SIGINT"):
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    else:
        os.kill(proc.pid, signal.SIGTERM)  # e.g. a batch system's time limit
    err = proc.communicate(timeout=DEADLINE_S)[1]
    assert proc.returncode == 130, err
    assert "interrupted; finished runs are kept" in err and "Traceback" not in err
    manifest = (out / "slow" / "manifest.json").read_text()
    assert '"status": "incomplete"' in manifest
    stored = read_parts(ResultStore(out / "slow").parts())
    assert (stored["status"] == "ok").all() and 0 < len(stored) < 1000
    rerun = subprocess.run(sweep_command(path, out), capture_output=True, text=True,
                           timeout=DEADLINE_S)
    assert rerun.returncode == 0 and "1000 ok, 0 failed, 0 pending" in rerun.stdout
