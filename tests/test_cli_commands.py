"""The researcher's CLI: params, sweep --dry-run, export --csv, run units, progress."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from relsim import model
from relsim.experiments import cli, read_runs
from relsim.experiments.progress import Progress
from relsim.model.kpis import KPI_NAMES, OUTPUT_UNITS

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent

EXP = textwrap.dedent("""
    [experiment]
    name = "tiny"
    model = "sweep_models:flaky"
    design = "lhs"
    samples = 6
    replicates = 2
    seed = 3
    [factors]
    x1 = [0.0, 1.0]
    [regimes.a]
    shift = 0.0
    [regimes.b]
    shift = 1.0
    """)


pytestmark = pytest.mark.usefixtures("test_models_importable")


# --------------------------------------------------------------------------- params


def test_params_lists_every_parameter_with_unit_default_ranges_and_meaning(capsys):
    assert cli.main(["params"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["name", "unit", "default"]
    by_name = {line.split()[0]: line for line in lines[1:] if line.strip()}
    for spec in model.PARAMETER_SPECS:
        line = by_name[spec.name]
        assert spec.meaning in line and f" {spec.unit} " in line
    util = by_name["utilization"]
    assert re.search(r"0\.85\s+0\.01 to 0\.99\s+0\.5 to 0\.97", util), util
    assert f"{len(model.PARAMETER_SPECS)} parameters" in out


def test_params_json_is_the_specs(capsys):
    assert cli.main(["params", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in records] == [s.name for s in model.PARAMETER_SPECS]
    first = {r["name"]: r for r in records}["process_cv"]
    assert first == {"name": "process_cv", "unit": "–", "default": 0.3,
                     "valid_range": [0.0, 3.0], "sa_range": [0.0, 1.0], "type": "float",
                     "meaning": model.SPECS["process_cv"].meaning}
    assert cli.main(["params", "--sa", "--json"]) == 0
    sa = json.loads(capsys.readouterr().out)
    assert {r["name"] for r in sa} == set(model.sa_problem()["names"])


def test_params_unknown_name_exits_2_with_close_matches(capsys):
    assert cli.main(["params", "utilisation"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "unknown parameter 'utilisation'" in err and "utilization" in err


# --------------------------------------------------------------------------- dry run


def test_dry_run_sizes_times_and_writes_nothing(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text(EXP)
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "relsim.experiments", "sweep", str(path),
                           "--out", str(out), "--dry-run", "--workers", "2"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "design: lhs, 6 rows (samples = 6), 1 factors" in text
    assert "runs: 6 rows x 2 replicates x 2 regimes = 24" in text
    assert "stored: 0 (0 ok); to run: 24" in text
    assert re.search(r"timed 5 runs: [\d.e-]+ s per run", text)
    assert re.search(r"estimate: [\d.]+ s with 2 workers \(24 runs", text)
    assert not out.exists(), "a dry run must write nothing"


def test_dry_run_counts_stored_runs_and_shows_failures(tmp_path, capsys):
    path = tmp_path / "exp.toml"
    path.write_text(EXP)
    out = tmp_path / "out"
    assert cli.main(["sweep", str(path), "--out", str(out), "--shard", "0/2", "--quiet",
                     "--workers", "1"]) in (0, 1)
    before = sorted(p.name for p in (out / "tiny" / "shards").rglob("*"))
    capsys.readouterr()
    assert cli.main(["sweep", str(path), "--out", str(out), "--dry-run",
                     "--time-runs", "24"]) == 0
    text = capsys.readouterr().out
    assert "to run: 24" in text  # shards are not merged: the main store is empty
    assert "timed 24 runs" in text
    assert "failed: ValueError: x1 too large" in text  # flaky fails where x1 > 0.5
    assert cli.main(["sweep", str(path), "--out", str(out), "--shard", "0/2",
                     "--dry-run", "--time-runs", "0"]) == 0
    text = capsys.readouterr().out
    assert "; 12 in shard 0/2" in text and "stored: 12" in text and "to run: 0" in text
    assert sorted(p.name for p in (out / "tiny" / "shards").rglob("*")) == before


def test_dry_run_checks_runs_as_the_sweep_does(tmp_path, capsys):
    # With every salesperson selling relationship-style, the transactional-style outputs
    # are NaN by definition (model.UNDEFINED_OUTPUTS): the sweep stores such runs as ok,
    # and the dry run must not call them failed.
    path = tmp_path / "exp.toml"
    path.write_text(textwrap.dedent("""
        [experiment]
        name = "styles"
        design = "grid"
        seed = 1
        [params]
        relationship_seller_share = 1.0
        days = 20
        warmup_days = 5
        [factors]
        utilization = {values = [0.6, 0.9]}
    """))
    assert cli.main(["sweep", str(path), "--out", str(tmp_path / "out"), "--dry-run",
                     "--time-runs", "2"]) == 0
    text = capsys.readouterr().out
    assert "timed 2 runs" in text and "failed" not in text
    assert cli.main(["sweep", str(path), "--out", str(tmp_path / "out"), "--quiet",
                     "--workers", "1"]) == 0


def test_dry_run_applies_the_sweeps_reserved_names_and_timeout(tmp_path, capsys):
    # slow() returns "y" and "z": with a factor named z, its output takes a run-table
    # column's name, which the sweep refuses run by run; and hang() never returns for
    # x1 > 0.5, which the sweep's --timeout turns into a failed run. The dry run must
    # report both as the sweep would (and not hang).
    path = tmp_path / "exp.toml"
    path.write_text(textwrap.dedent("""
        [experiment]
        name = "rules"
        model = "sweep_models:slow"
        design = "grid"
        seed = 1
        [params]
        sleep = 0.0
        [factors]
        x1 = {values = [0.2, 0.8]}
        z = {values = [1.0]}
    """))
    assert cli.main(["sweep", str(path), "--out", str(tmp_path / "out"), "--dry-run",
                     "--time-runs", "2"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "failed" in text and "'z'" in text
    path.write_text(path.read_text().replace("sweep_models:slow", "sweep_models:hang")
                    .replace("z = {values = [1.0]}\n", ""))
    assert cli.main(["sweep", str(path), "--out", str(tmp_path / "out"), "--dry-run",
                     "--time-runs", "2", "--timeout", "0.5"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "timed 2 runs" in text and text.count("failed") == 1 and "0.5" in text


def test_time_runs_without_dry_run_is_a_usage_error(tmp_path, capsys):
    path = tmp_path / "exp.toml"
    path.write_text(EXP)
    assert cli.main(["sweep", str(path), "--time-runs", "2"]) == 2
    assert "--time-runs goes with --dry-run" in " ".join(capsys.readouterr().err.split())


# --------------------------------------------------------------------------- export


def test_export_csv_reads_back_as_the_runs_table(tmp_path, capsys):
    path = tmp_path / "exp.toml"
    path.write_text(EXP)
    out = tmp_path / "out"
    assert cli.main(["sweep", str(path), "--out", str(out), "--quiet", "--workers", "1"]) == 1
    assert cli.main(["export", str(out), "--csv"]) == 0
    csv = out / "tiny" / "export" / "runs.csv"
    assert "24 runs" in capsys.readouterr().err
    back = pd.read_csv(csv, keep_default_na=False, na_values=[""])
    runs = read_runs(out / "tiny")
    assert list(back.columns) == list(runs.columns)
    assert len(back) == 24 and set(back["status"]) == {"ok", "failed"}
    back["regime"] = back["regime"].astype(str)
    for text in ("error", "traceback"):  # an empty string reads back from CSV as missing
        back[text] = back[text].fillna("")
        runs[text] = runs[text].fillna("")
    pd.testing.assert_frame_equal(back, runs, check_dtype=False, check_exact=True)
    assert cli.main(["export", str(out / "tiny"), "--ok-only", "-o", "-"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("row,replicate,regime,seed")
    assert len(lines) == 1 + int((runs["status"] == "ok").sum())


def test_export_of_a_missing_directory_exits_2(tmp_path, capsys):
    assert cli.main(["export", str(tmp_path / "nope"), "--csv"]) == 2
    assert "does not exist" in " ".join(capsys.readouterr().err.split())  # wrapped message


# --------------------------------------------------------------------------- run units


def test_every_kpi_has_a_unit_matching_the_odd_table():
    assert set(OUTPUT_UNITS) == set(KPI_NAMES)
    odd = (ROOT / "docs" / "ODD.md").read_text().split("### Run KPIs")[1]
    for name, unit in OUTPUT_UNITS.items():
        assert f"| `{name}` | {unit} |" in odd, name


def test_run_table_shows_units(capsys):
    assert cli.main(["run", "--set", "days=60", "--set", "warmup_days=10"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows["profit"][-1] == "money/day"
    assert rows["lead_time_mean"][-1] == "day"
    assert rows["otd"][-1] == "share"


# --------------------------------------------------------------------------- progress


def test_progress_off_a_terminal_writes_periodic_lines_not_a_bar():
    stream = io.StringIO()
    with Progress("sweep x", total=4, unit="run", stream=stream, interval=0.0) as bar:
        for _ in range(4):
            bar.update(1)
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert lines[0].startswith("relsim: sweep x: 1/4 runs (25%)")
    assert lines[-1].startswith("relsim: sweep x: 4/4 runs (100%)")
    assert lines[-1].endswith("- done")


def test_progress_on_a_terminal_is_a_bar():
    stream = io.StringIO()
    with Progress("sweep x", total=4, unit="run", stream=stream, terminal=True) as bar:
        bar.update(4)
    assert "\r" in stream.getvalue() and "4/4" in stream.getvalue()
    assert "relsim: sweep x" not in stream.getvalue()


def test_progress_is_silent_for_short_work_and_when_disabled():
    stream = io.StringIO()
    with Progress("short", total=3, stream=stream, interval=3600.0) as bar:
        bar.update(3)
    with Progress("quiet", total=3, stream=stream, interval=0.0, enabled=False) as bar:
        bar.update(3)
    assert stream.getvalue() == ""


def test_analyze_and_report_show_progress_in_a_log(tmp_path, monkeypatch, capsys):
    path = tmp_path / "exp.toml"
    path.write_text(EXP.replace("sweep_models:flaky", "sweep_models:sometimes"))
    out = tmp_path / "out"
    assert cli.main(["sweep", str(path), "--out", str(out), "--quiet", "--workers", "1"]) == 0
    monkeypatch.setenv("RELSIM_PROGRESS_INTERVAL", "0")
    capsys.readouterr()
    assert cli.main(["analyze", str(out)]) == 0
    err = capsys.readouterr().err
    assert "relsim: analyze tiny: 1 target" in err and "- done" in err
    assert cli.main(["report", str(out)]) == 0
    assert "relsim: report: 1 experiment" in capsys.readouterr().err


def test_tipping_shows_progress_in_a_log(tmp_path, monkeypatch, capsys):
    from test_tipping_bisection import _write

    monkeypatch.setenv("RELSIM_PROGRESS_INTERVAL", "0")
    exp = _write(tmp_path)
    assert cli.main(["tipping", str(exp), "--factor", "chaos", "--width", "0.05",
                     "--out", str(tmp_path / "r"), "--workers", "1"]) == 0
    err = capsys.readouterr().err
    assert "relsim: tipping along chaos: 1 point" in err
    assert re.search(r"\[chaos = [\d.]+, \d+ replicates\]", err)
