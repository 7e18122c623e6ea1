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
    pd.testing.assert_frame_equal(runs.drop(columns=["wall_s", "session"]),
                                  again.drop(columns=["wall_s", "session"]))


#: Every shipped experiment file: the study's and the demo's.
ALL_FILES = sorted(STUDY_DIR.glob("*.toml"))
#: The demo's lever regimes: the status quo with one lever of the remedy switched on.
LEVERS = {"plus_discipline": "discipline", "plus_buffer_release": "buffer_release",
          "plus_overtime": "overtime_max", "plus_shift": "shift_hours"}


@pytest.mark.parametrize("path", ALL_FILES, ids=[p.stem for p in ALL_FILES])
def test_shipped_experiment_files_use_the_models_regimes_and_sa_ranges(path):
    exp = load_experiment(path)
    assert exp.model == "relsim.model:simulate"
    for name, overrides in exp.regimes.items():
        if name in LEVERS:  # exactly one lever of the remedy added to the status quo
            lever = LEVERS[name]
            base = model.REGIMES["relationship"]
            assert {k: v for k, v in overrides.items() if k != lever} == \
                {k: v for k, v in base.items() if k != lever}
            assert overrides[lever] == model.REGIMES["sacred"][lever] != base[lever]
        else:
            assert overrides == model.REGIMES[name], name  # the model's regime, exactly
    for a, b in exp.comparisons.values():
        assert a in exp.regimes and b in exp.regimes
    for f in exp.factors:
        if f.name in exp.axes:
            assert (f.values is None and (f.low, f.high) == (0.0, 1.0)) or \
                (min(f.values) >= 0.0 and max(f.values) <= 1.0)
            for param, ends in exp.axes[f.name].ends.items():
                spec = SPECS[param]
                assert spec.sa_range[0] <= min(ends) and max(ends) <= spec.sa_range[1]
            continue
        spec = SPECS[f.name]
        if f.values is None:  # sampled designs use the SA ranges of the ODD
            assert (f.low, f.high) == tuple(map(float, spec.sa_range)), f.name
        else:
            assert spec.sa_range[0] <= min(f.values) and max(f.values) <= spec.sa_range[1]
    assert len(build_design(exp)) > 0


def test_sobol_study_covers_every_sa_range_but_the_regime_parameters():
    exp = load_experiment(STUDY_DIR / "sobol-core.toml")
    with_range = {n for n, s in SPECS.items() if s.sa_range is not None}
    regime_params = {n for o in model.REGIMES.values() for n in o}
    # acquisition_per_selling_hour acts only in an unbounded market (market_size = 0)
    unbounded_only = {"acquisition_per_selling_hour"}
    assert set(exp.factor_names) == with_range - regime_params - unbounded_only
    assert set(exp.regimes) == {"relationship", "transactional", "sacred",
                                "sacred_relationship"}


def test_workers_release_mesa_models_after_each_run():
    """Mesa 3.3 keeps every model alive via Agent._ids (mesa#3179); runs must not leak."""
    import gc
    import weakref

    from mesa.agent import Agent
    from relsim.experiments.worker import Task, resolve, run_one

    registry = getattr(Agent, "_ids", None)  # Mesa 3.3; gone once mesa#3180 fixed the leak
    live = model.SalesModel({"days": 5, "warmup_days": 1}, seed=1)  # not the runner's
    before = len(registry) if registry is not None else 0
    tasks = [Task(0, r, "", r, {"days": 10, "warmup_days": 2}) for r in range(5)]
    # (a 10-day run may see no complex deal: complex_win_rate is then undefined, NaN)
    simulate = resolve("relsim.model:simulate")
    records = [run_one(simulate, t, False, checked=frozenset({"profit", "otd"})) for t in tasks]
    assert [r.status for r in records] == ["ok"] * 5
    if registry is not None:
        assert len(registry) == before and live in registry  # others' models untouched

    made = []
    original = model.SalesModel.__init__

    def spy(self, *args, **kwargs):
        original(self, *args, **kwargs)
        made.append(weakref.ref(self))

    model.SalesModel.__init__ = spy
    try:
        for t in tasks[:2]:
            run_one(simulate, t, False)
    finally:
        model.SalesModel.__init__ = original
    gc.collect()
    assert len(made) == 2 and all(ref() is None for ref in made)
