"""Incomplete sweeps are said to be incomplete: analyze, summary.csv, report, merge, slurm."""

from __future__ import annotations

from pathlib import Path

import matplotlib.text
import numpy as np
import pandas as pd
import pytest
from analysis_store import runs_from_function, write_store
from relsim.analysis import report as report_module
from relsim.analysis.io import completeness, load_results
from relsim.experiments import cli

TESTS = Path(__file__).resolve().parent

LHS = """
[experiment]
name = "part"
model = "sweep_models:{model}"
design = "lhs"
samples = 9
replicates = 2
seed = 5
outputs = ["y"]
[params]
sleep = 0.0
[factors]
x1 = [0.0, 1.0]
x2 = [0.0, 1.0]
x3 = [0.0, 1.0]
"""


pytestmark = pytest.mark.usefixtures("test_models_importable")


def _two_of_three_shards(tmp_path: Path, model: str = "slow") -> Path:
    path = tmp_path / "exp.toml"
    path.write_text(LHS.format(model=model))
    out = tmp_path / "out"
    for shard in ("0/3", "1/3"):
        cli.main(["sweep", str(path), "--out", str(out), "--shard", shard, "--quiet",
                  "--workers", "1"])
    cli.main(["merge", str(out / "part")])
    return out / "part"


def test_analyze_on_two_of_three_merged_shards_says_rows_are_missing(tmp_path, capsys):
    exp = _two_of_three_shards(tmp_path)
    capsys.readouterr()
    assert cli.main(["analyze", str(exp)]) == 0
    captured = capsys.readouterr()
    # 9 rows x 2 replicates; shard 2 (rows 2, 5, 8) never ran: 6 runs pending.
    assert "incomplete: 12 of 18 runs (6 pending)" in captured.out
    assert "incomplete: 12 of 18 runs (6 pending)" in captured.err
    summary = pd.read_csv(exp / "analysis" / "summary.csv")
    row = summary.set_index("target").loc["y"]
    assert row["rows_missing"] == 3
    assert row["runs_expected"] == 18 and row["runs_ok"] == 12
    assert row["runs_pending"] == 6 and row["runs_failed"] == 0
    assert not row["complete"]


def test_require_complete_is_an_error_and_writes_nothing(tmp_path, capsys):
    exp = _two_of_three_shards(tmp_path)
    capsys.readouterr()
    assert cli.main(["analyze", str(exp), "--require-complete"]) == 2
    err = " ".join(capsys.readouterr().err.split())  # the message is wrapped
    assert "is incomplete: 12 of 18 runs are ok (6 pending)" in err
    assert "Traceback" not in err
    assert not (exp / "analysis").exists()
    assert cli.main(["report", str(exp), "--require-complete"]) == 2
    assert "is incomplete" in " ".join(capsys.readouterr().err.split())
    assert not (exp / "figures").exists()


def test_pending_and_failed_are_counted_apart(tmp_path, capsys):
    exp = _two_of_three_shards(tmp_path, model="flaky")  # fails where x1 > 0.5
    results = load_results(exp, series=False)
    done = completeness(results)
    failed = int((results.runs["status"] == "failed").sum())
    assert failed > 0
    assert done.by_status == {"ok": 12 - failed, "pending": 6, "failed": failed}
    capsys.readouterr()
    assert cli.main(["analyze", str(exp)]) == 0
    out = capsys.readouterr().out
    assert f"incomplete: {12 - failed} of 18 runs (6 pending, {failed} failed)" in out
    summary = pd.read_csv(exp / "analysis" / "summary.csv")
    assert summary["runs_failed"].iloc[0] == failed
    assert summary["runs_pending"].iloc[0] == 6


def _store_with_statuses(tmp_path: Path, compare: bool = True) -> Path:
    design = pd.DataFrame({"row": range(6), "x": np.linspace(0.0, 1.0, 6)})
    regimes = ["a", "b"] if compare else [""]
    runs = runs_from_function(
        design, lambda d, regime, rng: {"y": d["x"] + rng.normal(0, 0.1, len(d))
                                        + (regime == "a")},
        replicates=3, regimes=regimes)
    runs.loc[runs.index[:2], "status"] = "invalid"
    runs.loc[runs.index[2:5], "status"] = "failed"
    runs.loc[runs.index[5], "status"] = "timeout"
    runs = runs.drop(runs.index[-4:])  # 4 runs never stored: pending
    return write_store(tmp_path, "st", design="grid", factors={"x": [0.0, 1.0]},
                       design_matrix=design, runs=runs, outputs=["y"],
                       compare=["a", "b"] if compare else None)


def test_every_non_ok_status_is_counted_by_name(tmp_path, capsys):
    exp = _store_with_statuses(tmp_path)
    done = completeness(load_results(exp, series=False))
    assert done.expected == 36 and done.ok == 26
    assert done.by_status == {"ok": 26, "pending": 4, "failed": 3, "invalid": 2,
                              "timeout": 1}
    assert done.note() == "incomplete: 26 of 36 runs (4 pending, 3 failed, 2 invalid, " \
                          "1 timeout)"
    assert cli.main(["analyze", str(exp)]) == 0
    summary = pd.read_csv(exp / "analysis" / "summary.csv")
    assert summary[["runs_invalid", "runs_timeout", "runs_failed", "runs_pending"]].iloc[
        0].tolist() == [2, 1, 3, 4]


def test_report_marks_figures_and_tables_of_an_incomplete_sweep(tmp_path, monkeypatch,
                                                                  capsys):
    exp = _store_with_statuses(tmp_path)
    texts: dict[str, list[str]] = {}
    save = report_module.fg.save_figure

    def capture(fig, directory, stem):  # the note may sit inside the axes (a note box)
        texts[stem] = [t.get_text() for t in fig.findobj(matplotlib.text.Text)]
        return save(fig, directory, stem)

    monkeypatch.setattr(report_module.fg, "save_figure", capture)
    assert cli.main(["report", str(exp)]) == 0
    note = "incomplete: 26 of 36 runs (4 pending, 3 failed, 2 invalid, 1 timeout)"
    assert texts, "the report drew no figure"
    for stem, found in texts.items():
        assert any(note in t for t in found), stem
    tex = sorted((exp / "tables").glob("*.tex"))
    assert tex
    for path in tex:
        assert r"\caption{Incomplete: 26 of 36 runs" in path.read_text(), path.name
    assert note in capsys.readouterr().err


def test_a_complete_sweep_is_not_marked(tmp_path, monkeypatch):
    design = pd.DataFrame({"row": range(4), "x": np.linspace(0.0, 1.0, 4)})
    runs = runs_from_function(design, lambda d, regime, rng: {"y": d["x"] + rng.random()},
                              replicates=2, regimes=["a", "b"])
    exp = write_store(tmp_path, "whole", design="grid", factors={"x": [0.0, 1.0]},
                      design_matrix=design, runs=runs, outputs=["y"], compare=["a", "b"])
    texts: list[str] = []
    save = report_module.fg.save_figure
    monkeypatch.setattr(report_module.fg, "save_figure", lambda fig, d, s: (
        texts.extend(t.get_text() for t in fig.texts), save(fig, d, s))[1])
    assert cli.main(["report", str(exp), "--require-complete"]) == 0
    assert not any("incomplete" in t for t in texts)  # (fig.texts: nothing at figure level)
    summary = pd.read_csv(exp / "analysis" / "summary.csv")
    assert summary["complete"].all() and (summary["runs_pending"] == 0).all()


def test_experiment_without_compare_gets_outputs_vs_factor(tmp_path, capsys):
    path = tmp_path / "exp.toml"
    path.write_text(LHS.format(model="slow").replace('name = "part"', 'name = "plain"'))
    out = tmp_path / "out"
    assert cli.main(["sweep", str(path), "--out", str(out), "--quiet", "--workers", "1"]) == 0
    assert cli.main(["report", str(out / "plain")]) == 0
    rows = pd.read_csv(out / "plain" / "analysis" / "outputs_y.csv")
    assert list(rows.columns[:5]) == ["row", "x1", "x2", "x3", "regime"]
    assert len(rows) == 9 and (rows["n"] == 2).all()
    figures = out / "plain" / "figures"
    for factor in ("x1", "x2", "x3"):
        assert (figures / f"output_y_vs_{factor}.png").stat().st_size > 0
    assert (out / "plain" / "tables" / "outputs_y.tex").is_file()


def test_merge_does_not_call_shards_with_nothing_to_do_missing(tmp_path, capsys):
    path = tmp_path / "exp.toml"
    path.write_text(LHS.replace("samples = 9", "samples = 2").format(model="slow"))
    out = tmp_path / "out"
    for shard in ("0/4", "1/4"):  # shards 2 and 3 of 4 have no row of the 2
        assert cli.main(["sweep", str(path), "--out", str(out), "--shard", shard,
                         "--quiet", "--workers", "1"]) == 0
    capsys.readouterr()
    assert cli.main(["merge", str(out / "part")]) == 0
    captured = capsys.readouterr()
    assert "4 ok, 0 failed, 0 pending" in captured.out
    assert "missing" not in captured.err


def test_slurm_warns_when_shards_exceed_rows_and_quotes_paths(tmp_path, capsys):
    folder = tmp_path / "my results"  # a space in every path
    folder.mkdir()
    path = folder / "exp file.toml"
    path.write_text(LHS.format(model="slow"))
    assert cli.main(["slurm", str(path), "--shards", "12", "--out", str(folder / "o u t")]) == 0
    captured = capsys.readouterr()
    assert "warning: 12 shards for 9 design rows" in captured.err
    text = (folder / "o u t" / "part" / "slurm" / "sweep.sbatch").read_text()
    assert f"--output=\"{folder}/o u t/part/slurm/%A_%a.out\"" in text
    for line in text.splitlines():
        if line.startswith("#SBATCH") or str(folder) not in line:
            continue
        assert f"'{folder}" in line or f'"{folder}' in line, line
    assert cli.main(["slurm", str(path), "--shards", "9", "--out", str(tmp_path / "o")]) == 0
    assert "warning" not in capsys.readouterr().err


def test_incomplete_note_is_in_the_experiments_reference():
    text = (TESTS.parent / "docs" / "EXPERIMENTS.md").read_text()
    assert "--require-complete" in text
    assert "incomplete: 80 of 120 runs" in text


def test_partial_sobol_sweep_calls_pending_rows_pending(tmp_path, capsys):
    path = tmp_path / "exp.toml"
    path.write_text(LHS.replace('design = "lhs"\nsamples = 9', 'design = "sobol"\nsamples = 4')
                    .format(model="slow"))
    out = tmp_path / "out"
    assert cli.main(["sweep", str(path), "--out", str(out), "--shard", "0/2", "--quiet",
                     "--workers", "1"]) == 0
    cli.main(["merge", str(out / "part")])
    capsys.readouterr()
    assert cli.main(["analyze", str(out / "part")]) == 0
    err = " ".join(capsys.readouterr().err.split())
    # 4 x (3 + 2) = 20 rows, 40 runs; shard 0 of 2 ran the 10 even rows.
    assert "sweep incomplete: 20 of 40 runs (20 pending)" in err
    assert "10 of 20 design rows have no ok run (10 not run yet, 0 with failed" in err
