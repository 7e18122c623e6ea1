"""Parameter validation and the `relsim run` command: clear messages, exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from relsim import model
from relsim.experiments.cli import main


def test_defaults_match_specs_and_regimes_are_valid():
    p = model.Params()
    for spec in model.PARAMETER_SPECS:
        assert getattr(p, spec.name) == spec.default
        assert spec.low <= spec.default <= spec.high
        if spec.sa_range is not None:
            assert spec.low <= spec.sa_range[0] < spec.sa_range[1] <= spec.high
    for overrides in model.REGIMES.values():
        model.Params.from_dict(overrides)


@pytest.mark.parametrize(
    "bad, fragment",
    [
        ({"utilization": 1.5}, "'utilization' = 1.5 is out of range"),
        ({"work_cv": -0.1}, "'work_cv'"),
        ({"days": 10.5}, "whole number"),
        ({"trust_memory": "x"}, "must be a number"),
        ({"days": 100}, "'warmup_days'"),
    ],
)
def test_bad_values_name_the_parameter(bad, fragment):
    with pytest.raises(ValueError, match=fragment.replace("(", r"\(")):
        model.Params.from_dict(bad)


def test_unknown_name_lists_close_matches():
    with pytest.raises(ValueError, match="did you mean 'utilization'"):
        model.Params.from_dict({"utilisation": 0.9})


@settings(max_examples=120, deadline=None)
@given(name=st.sampled_from([s.name for s in model.PARAMETER_SPECS if s.name != "days"]),
       x=st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                   st.integers(-10**9, 10**9)))
def test_any_number_is_accepted_iff_valid(name, x):
    # Every parameter, floats and whole numbers alike, with NaN and infinities: accepted
    # exactly when finite, in range and (for counts) whole; otherwise a ValueError naming it.
    spec = model.SPECS[name]
    ok = x == x and spec.low <= x <= spec.high and (spec.kind is float or float(x).is_integer())
    if name == "warmup_days" and ok:
        ok = x < model.Params().days
    if name == "market_size" and ok:  # 0 (unbounded) or room for the initial customers
        ok = x == 0 or x >= model.Params().customers
    if name == "customers" and ok:  # the default bounded market must hold them
        ok = x <= model.Params().market_size
    if ok:
        assert getattr(model.Params.from_dict({name: x}), name) == x
    else:
        with pytest.raises(ValueError, match=name):
            model.Params.from_dict({name: x})


def test_cli_run_out_of_range_exits_2_without_traceback():
    r = subprocess.run([sys.executable, "-m", "relsim.experiments", "run",
                        "--set", "utilization=1.5"],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert "utilization" in r.stderr and "0.01 to 0.99" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["run", "--set", "utilisation=0.9"], "did you mean 'utilization'"),
        (["run", "--set", "utilization"], "NAME=VALUE"),
        (["run", "--set", "utilization=high"], "not a number"),
        (["run", "--regime", "chaotic"],
         "known regimes: relationship, transactional, mixed, sacred"),
        (["run", "--seed", "x"], "invalid int value"),
        (["run", "--seed", "-1"], "seed must be a non-negative integer"),
        (["run", "--set", "days=inf"], "'days' = inf is out of range"),
    ],
)
def test_cli_bad_input(argv, fragment, capsys):
    with pytest.raises(SystemExit) as exc:
        raise SystemExit(main(argv))
    assert exc.value.code == 2
    assert fragment in capsys.readouterr().err


def test_cli_run_json_matches_api(capsys, tmp_path):
    series = tmp_path / "s.csv"
    argv = ["run", "--regime", "sacred", "--set", "days=300", "--set", "warmup_days=60",
            "--seed", "3", "--json", "--series", str(series)]
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    expected = model.simulate({**model.REGIMES["sacred"], "days": 300, "warmup_days": 60}, 3)
    assert printed == pytest.approx(expected, nan_ok=True)
    assert series.read_text().splitlines()[0].startswith("day,")
    assert len(series.read_text().splitlines()) == 301
