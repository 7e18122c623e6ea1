"""Speed work changes no result: KPIs and a daily series equal, bit for bit, recorded values.

`tests/bit_identical.json` holds the KPIs of a fixed set of (parameters, seed) pairs and the
daily series of one run, recorded from the version-2 model *before* it was optimised
(issue 12). Every optimisation must reproduce them exactly: the same random draws in the
same order, the same floating-point operations in the same order. Floats are stored as
``repr`` strings (exact round trip, NaN and infinities included).

A deliberate change of the model's behaviour re-records the file
(``python tests/test_bit_identical.py --record``) in the commit that changes it, and says so.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
from relsim import model

DATA = Path(__file__).with_name("bit_identical.json")

#: A chaotic and a calm plant (execution noise, disruptions, load, work variability).
CHAOTIC = {"process_cv": 0.9, "disruption_rate": 0.15, "disruption_severity": 0.6,
           "utilization": 0.95, "work_cv": 1.2, "changeover_hours": 3.0}
CALM = {"process_cv": 0.05, "disruption_rate": 0.0, "utilization": 0.6, "work_cv": 0.2}
R = model.REGIMES

#: (name, parameter overrides, seed). Names are keys of the data file.
CASES: list[tuple[str, dict, int]] = [
    # every regime at the defaults (720 days)
    ("relationship", R["relationship"], 0),
    ("transactional", R["transactional"], 1),
    ("mixed", R["mixed"], 2),
    ("sacred", R["sacred"], 3),
    ("sacred_relationship", R["sacred_relationship"], 4),
    ("sacred_mixed", R["sacred_mixed"], 5),
    # a chaotic and a calm point
    ("relationship_chaotic", {**R["relationship"], **CHAOTIC}, 6),
    ("relationship_calm", {**R["relationship"], **CALM}, 7),
    ("sacred_chaotic", {**R["sacred"], **CHAOTIC}, 8),
    ("mixed_chaotic", {**R["mixed"], **CHAOTIC}, 9),
    ("sacred_mixed_calm", {**R["sacred_mixed"], **CALM}, 10),
    # version 1's single demand stream, unbounded market
    ("relationship_crn0", {**R["relationship"], "crn_per_customer": 0}, 11),
    ("sacred_crn0", {**R["sacred"], "crn_per_customer": 0}, 12),
    ("relationship_unbounded", {**R["relationship"], "market_size": 0}, 13),
    ("mixed_unbounded_crn0", {**R["mixed"], "market_size": 0, "crn_per_customer": 0}, 14),
    # no complex deals; the plant alone
    ("relationship_no_complex", {**R["relationship"], "complex_share": 0.0}, 15),
    ("plant_only", dict(model.PLANT_ONLY), 16),
    # run length: short, no warm-up, twice the default
    ("short", {**R["mixed"], "days": 60, "warmup_days": 10}, 17),
    ("warmup_0", {**R["relationship"], "days": 100, "warmup_days": 0}, 18),
    ("long", {**R["sacred_mixed"], "days": 1440}, 19),
    # scale: 10x customers in a scaled market; 5x orders per day
    ("customers_x10", {**R["relationship"], "customers": 600, "market_size": 720}, 20),
    ("orders_x5", {**R["mixed"], "capacity_hours": 80.0}, 21),
    # levers and mechanisms set apart from the regimes
    ("levers_partial", {**R["relationship"], "discipline": 0.5, "buffer_release": 0.5,
                        "overtime_max": 0.5, "shift_hours": 8.0, "shift_trigger": 0.9,
                        "preemption_prob": 0.5, "influence_spread": 0.0}, 22),
    ("v1_mechanisms", {**R["relationship"], "trust_need_weight": 0.0,
                       "lost_order_sensitivity": 0.0, "late_penalty_per_day": 0.0}, 23),
]

#: The run whose daily series is recorded (every column, every day).
SERIES_CASE = ("mixed_chaotic_series", {**R["mixed"], **CHAOTIC, "days": 300,
                                        "warmup_days": 50}, 31)


def _enc(v) -> str:
    return repr(float(v))


def _kpis(params: dict, seed: int) -> dict[str, str]:
    return {k: _enc(v) for k, v in model.simulate(params, seed).items()}


def _series(params: dict, seed: int) -> dict[str, list[str]]:
    df = model.simulate(params, seed, series=True)["series"]
    return {c: [_enc(v) for v in df[c].tolist()] for c in df.columns}


def record() -> None:
    """Write the data file from the current code (only for a deliberate behaviour change)."""
    name, params, seed = SERIES_CASE
    data = {
        "kpis": {n: {"params": p, "seed": s, "kpis": _kpis(p, s)} for n, p, s in CASES},
        "series": {"name": name, "params": params, "seed": seed,
                   "columns": _series(params, seed)},
    }
    DATA.write_text(json.dumps(data, indent=1) + "\n")


def _same(a: str, b: str) -> bool:
    x, y = float(a), float(b)
    return (math.isnan(x) and math.isnan(y)) or a == b


@pytest.fixture(scope="module")
def recorded() -> dict:
    return json.loads(DATA.read_text())


def test_cases_match_the_data_file(recorded):
    assert sorted(recorded["kpis"]) == sorted(n for n, _, _ in CASES)
    for name, params, seed in CASES:
        rec = recorded["kpis"][name]
        assert rec["params"] == params and rec["seed"] == seed, name


@pytest.mark.parametrize("name,params,seed", CASES, ids=[c[0] for c in CASES])
def test_kpis_bit_identical(recorded, name, params, seed):
    expected = recorded["kpis"][name]["kpis"]
    got = _kpis(params, seed)
    assert list(got) == list(expected), "KPI names or their order changed"
    diff = {k: (expected[k], got[k]) for k in expected if not _same(expected[k], got[k])}
    assert not diff, f"{name} seed {seed}: recorded vs now {diff}"


def test_daily_series_bit_identical(recorded):
    rec = recorded["series"]
    assert (rec["name"], rec["params"], rec["seed"]) == SERIES_CASE
    got = _series(rec["params"], rec["seed"])
    expected = rec["columns"]
    assert list(got) == list(expected), "series columns or their order changed"
    for col, values in expected.items():
        assert len(got[col]) == len(values), col
        bad = [i for i, (a, b) in enumerate(zip(values, got[col], strict=True))
               if not _same(a, b)]
        assert not bad, f"{col}: day {bad[0]}: {values[bad[0]]} recorded, {got[col][bad[0]]} now"


if __name__ == "__main__":
    if sys.argv[1:] == ["--record"]:
        record()
        print(f"written {DATA}")
    else:
        print(__doc__)


# --------------------------------------------------------------------------------------
# The fast random-number paths give numpy's own values (the pieces behind the KPIs above).
def test_batch_seeding_equals_numpy_seedsequence():
    import numpy as np
    from relsim.model.randomness import _spawn_states_array, spawn_states

    keys = np.array([[1_000_003, i, j] for i in (0, 1, 7, 2**32 - 1) for j in range(3)])
    for entropy in (0, 1, 123456789, 2**32, 2**63 - 1, 2**130 + 5):
        want = np.array([np.random.SeedSequence(entropy, spawn_key=tuple(int(x) for x in k))
                         .generate_state(4, np.uint64) for k in keys])
        assert np.array_equal(_spawn_states_array(entropy, keys), want)
        assert np.array_equal(spawn_states(entropy, keys[:, :1]),
                              [np.random.SeedSequence(entropy, spawn_key=(int(k[0]),))
                               .generate_state(4, np.uint64) for k in keys])


def test_stream_from_state_equals_spawned_stream():
    import numpy as np
    from relsim.model.randomness import Stream, spawn_states, stream_from_state

    old = Stream(np.random.default_rng(np.random.SeedSequence(42, spawn_key=(9, 4))), 7)
    new = stream_from_state(spawn_states(42, np.array([[9, 4, j] for j in range(3)])), 5)
    for _ in range(40):
        assert old.uniform() == new.uniform()
        assert old.normal.take(3) == new.normal.take(3)
        assert old.exponential() == new.exponential()


def test_poisson_equals_numpy_poisson():
    import numpy as np
    from relsim.model.randomness import Poisson

    lams = np.random.default_rng(1).uniform(0.0, 14.0, 2000)
    lams[::13] = 0.0
    mine, ref = Poisson(np.random.default_rng(5), block=3), np.random.default_rng(5)
    assert [mine(float(x)) for x in lams] == [int(ref.poisson(float(x))) for x in lams]


def test_screened_uniforms_equal_daily_draws():
    import numpy as np
    from relsim.model.randomness import ScreenedUniforms

    screen, ref = ScreenedUniforms(np.random.default_rng(8), 0.05), np.random.default_rng(8)
    for day, n in enumerate(np.random.default_rng(2).integers(1, 90, 500).tolist()):
        draws = ref.random(n)
        want = [(i, float(v)) for i, v in enumerate(draws) if v < 0.05]
        slots, values = screen.take(n, days_hint=1 + day % 40)
        assert list(zip(slots, values, strict=True)) == want
