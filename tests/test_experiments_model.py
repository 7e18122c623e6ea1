"""End to end on the real model, and the example study files."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from relsim import model
from relsim.experiments import load_experiment, read_runs, run_experiment
from relsim.experiments.design import build_design
from relsim.model.params import SPECS

STUDY_DIR = Path(__file__).resolve().parents[1] / "experiments" / "studies"
#: The study's example files (the demo's own files live beside them).
STUDIES = [STUDY_DIR / f"{n}.toml" for n in ("sobol-core", "morris-screening", "chaos-1d")]
KPIS = {"profit", "otd", "lead_time_mean", "trust_mean", "share_online"}

TINY = """
[experiment]
name = "tiny"
design = "grid"
replicates = 2
seed = 42
outputs = ["profit", "otd"]
series = true
[params]
days = 30
warmup_days = 5
customers = 20
changeover_hours = 2.0
[factors]
utilization = {values = [0.6, 0.9]}
[regimes.relationship]
discipline = 0.0
relationship_focus = 0.7
[regimes.sacred]
discipline = 1.0
relationship_focus = 0.1
[compare]
delta = ["relationship", "sacred"]
"""


def test_model_simulate_end_to_end(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(textwrap.dedent(TINY))
    exp = load_experiment(path)
    assert exp.model == "relsim.model:simulate"  # the default
    directory = run_experiment(path, tmp_path / "a", workers=2)
    runs = read_runs(directory)
    assert len(runs) == 2 * 2 * 2 and (runs["status"] == "ok").all(), runs["error"].unique()
    assert KPIS <= set(runs.columns)
    # a parameter named like a KPI is stored as param_<name>; the KPI keeps its name
    assert (runs["param_changeover_hours"] == 2.0).all()
    assert runs["changeover_hours"].notna().all()
    rel = runs[runs["regime"] == "relationship"].reset_index(drop=True)
    sac = runs[runs["regime"] == "sacred"].reset_index(drop=True)
    assert (rel["seed"] == sac["seed"]).all()  # common random numbers
    assert (rel["discipline"] == 0.0).all() and (sac["discipline"] == 1.0).all()
    series = pd.read_parquet(directory / "series")
    assert len(series) == len(runs) * 30 and {"row", "regime", "day"} <= set(series.columns)
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["param_column_names"] == {"changeover_hours": "param_changeover_hours"}
    assert manifest["defaults"]["days"] == 30 and manifest["compare"] == {
        "delta": ["relationship", "sacred"]}
    # the model is deterministic given (params, seed): a serial rerun gives the same table
    again = read_runs(run_experiment(path, tmp_path / "b", executor="serial"))
    pd.testing.assert_frame_equal(runs.drop(columns="wall_s"), again.drop(columns="wall_s"))


@pytest.mark.parametrize("path", STUDIES, ids=[p.stem for p in STUDIES])
def test_example_studies_are_valid_and_follow_model_md(path):
    exp = load_experiment(path)
    assert exp.regimes == model.REGIMES  # both regimes, exactly the model's overrides
    assert exp.compare == ("relationship", "sacred")
    for f in exp.factors:
        spec = SPECS[f.name]
        if f.values is None:  # sampled designs use the SA ranges of MODEL.md
            assert (f.low, f.high) == tuple(map(float, spec.sa_range)), f.name
        else:
            assert spec.sa_range[0] <= min(f.values) and max(f.values) <= spec.sa_range[1]
    assert len(build_design(exp)) > 0


def test_sobol_study_covers_every_sa_range_but_the_regime_parameters():
    exp = load_experiment(STUDIES[[p.stem for p in STUDIES].index("sobol-core")])
    with_range = {n for n, s in SPECS.items() if s.sa_range is not None}
    regime_params = {n for o in model.REGIMES.values() for n in o}
    assert set(exp.factor_names) == with_range - regime_params


def test_workers_release_mesa_models_after_each_run():
    """Mesa 3.3 keeps every model alive via Agent._ids (mesa#3179); runs must not leak."""
    import gc
    import weakref

    from mesa.agent import Agent
    from relsim.experiments.worker import Task, run_chunk

    live = model.SalesModel({"days": 5, "warmup_days": 1}, seed=1)  # not the runner's
    before = len(Agent._ids)
    tasks = [Task(0, r, "", r, {"days": 10, "warmup_days": 2}) for r in range(5)]
    result = run_chunk("relsim.model:simulate", tasks)
    assert [r.status for r in result.records] == ["ok"] * 5
    assert len(Agent._ids) == before and live in Agent._ids  # others' models untouched

    made = []
    original = model.SalesModel.__init__

    def spy(self, *args, **kwargs):
        original(self, *args, **kwargs)
        made.append(weakref.ref(self))

    model.SalesModel.__init__ = spy
    try:
        run_chunk("relsim.model:simulate", tasks[:2])
    finally:
        model.SalesModel.__init__ = original
    gc.collect()
    assert len(made) == 2 and all(ref() is None for ref in made)
