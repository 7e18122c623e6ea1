"""Experiment files: every kind of bad file gets its own message and exit status 2."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from relsim.experiments import cli
from relsim.experiments.errors import UserError
from relsim.experiments.spec import load_experiment

GOOD_HEAD = """
[experiment]
name = "t"
model = "sweep_models:ishigami"
design = "lhs"
samples = 8
seed = 1
"""
X = "x1 = [0.0, 1.0]\nx2 = [0.0, 1.0]\nx3 = [0.0, 1.0]\n"
CHECKED_HEAD = GOOD_HEAD.replace("sweep_models:ishigami", "sweep_checked_model:simulate")


def write(tmp_path: Path, text: str, name: str = "exp.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


BAD_FILES = {
    "unknown parameter in params": (
        CHECKED_HEAD + "[params]\nutilisation = 0.9\n[factors]\nprocess_cv = [0.0, 1.0]\n",
        "unknown parameter 'utilisation'; did you mean 'utilization'"),
    "unknown factor name": (
        CHECKED_HEAD + "[factors]\ndisruption_rat = [0.0, 0.1]\n",
        "unknown parameter 'disruption_rat'; did you mean 'disruption_rate'"),
    "reversed bounds": (
        GOOD_HEAD + "[factors]\nx1 = [1.0, 0.0]\nx2 = [0.0, 1.0]\n",
        "'x1' bounds are reversed or empty"),
    "out-of-range bound": (
        CHECKED_HEAD + "[factors]\nutilization = [0.5, 1.2]\n",
        "factor 'utilization' bound 1.2: parameter 'utilization' = 1.2 is out of range"),
    "out-of-range regime value": (
        CHECKED_HEAD + "[factors]\nutilization = [0.5, 0.9]\n[regimes.sacred]\ndiscipline = 2\n",
        "[regimes.sacred]: parameter 'discipline' = 2.0 is out of range"),
    "unknown design": (
        GOOD_HEAD.replace('"lhs"', '"sobel"') + "[factors]\n" + X,
        "unknown design 'sobel'; did you mean 'sobol'"),
    "missing seed": (
        GOOD_HEAD.replace("seed = 1\n", "") + "[factors]\n" + X,
        "missing key(s) seed"),
    "missing samples": (
        GOOD_HEAD.replace("samples = 8\n", "") + "[factors]\n" + X,
        "missing key 'samples'"),
    "missing experiment table": (
        "[factors]\n" + X, "missing the [experiment] table"),
    "unknown experiment key": (
        GOOD_HEAD + "replicate = 3\n[factors]\n" + X,
        "unknown key 'replicate'; did you mean 'replicates'"),
    "non-importable module": (
        GOOD_HEAD.replace("sweep_models:ishigami", "no_such_module_xyz:run") + "[factors]\n" + X,
        "cannot import the model module 'no_such_module_xyz'"),
    "missing function": (
        GOOD_HEAD.replace("ishigami", "ishigam") + "[factors]\n" + X,
        "has no function 'ishigam'; did you mean 'ishigami'"),
    "malformed model reference": (
        GOOD_HEAD.replace("sweep_models:ishigami", "sweep_models.ishigami") + "[factors]\n" + X,
        "must look like 'module:function'"),
    "invalid TOML": (GOOD_HEAD + "[factors\n", "is not valid TOML"),
    "sobol not a power of 2": (
        GOOD_HEAD.replace('"lhs"', '"sobol"').replace("samples = 8", "samples = 100")
        + "[factors]\n" + X,
        "must be a power of 2 for the sobol design (Sobol' sequences converge only then); "
        "use 64 or 128"),
    "grid without values": (
        GOOD_HEAD.replace('"lhs"', '"grid"') + "[factors]\n" + X,
        "the grid design needs 'x1 = {values = [...]}'"),
    "regime overrides a factor": (
        GOOD_HEAD + "[factors]\n" + X + "[regimes.a]\nx1 = 0.5\n[regimes.b]\nnoise = 1\n",
        "overrides the varied factor(s) ['x1']"),
    "compare names an unknown regime": (
        GOOD_HEAD + "[factors]\n" + X + "[regimes.a]\nnoise = 0\n[regimes.b]\nnoise = 1\n"
        "[compare]\ndelta = [\"a\", \"c\"]\n",
        "unknown regime 'c'"),
    "replicate design with factors": (
        GOOD_HEAD.replace('"lhs"', '"replicate"') + "[factors]\n" + X,
        "the replicate design varies nothing"),
    "reserved column name": (
        GOOD_HEAD + "[params]\nseed = 3\n[factors]\n" + X,
        "'seed' is a reserved run-table column"),
    "param both fixed and varied": (
        GOOD_HEAD + "[params]\nx1 = 3\n[factors]\n" + X,
        "both fixed in [params] and varied in [factors]"),
    "negative replicates": (
        GOOD_HEAD + "replicates = 0\n[factors]\n" + X,
        "'replicates' must be a whole number >= 1"),
    "unknown table": (GOOD_HEAD + "[factor]\n" + X, "unknown table [factor]; did you mean"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_experiment_file_exits_2_with_its_message(case, tmp_path, capsys):
    text, expected = BAD_FILES[case]
    path = write(tmp_path, text)
    status = cli.main(["sweep", str(path), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert status == 2
    flat = " ".join(err.split())
    assert expected in flat, flat
    # the message names the file (cli.main wraps long lines, possibly inside the path)
    assert str(path) in "".join(err.split())
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists(), "nothing may be written for a bad file"


def test_missing_file_exits_2(tmp_path, capsys):
    status = cli.main(["sweep", str(tmp_path / "nope.toml"), "--out", str(tmp_path)])
    assert status == 2
    assert "experiment file not found" in capsys.readouterr().err


@pytest.mark.parametrize("shard", ["3/3", "x", "1/0", "-1/2"])
def test_bad_shard_is_a_usage_error(shard, tmp_path, capsys):
    path = write(tmp_path, GOOD_HEAD + "[factors]\n" + X)
    with pytest.raises(SystemExit) as exc:
        cli.main(["sweep", str(path), "--shard", shard])
    assert exc.value.code == 2
    assert "--shard" in capsys.readouterr().err


def test_resuming_a_directory_of_another_experiment_is_refused(tmp_path, capsys):
    first = write(tmp_path, GOOD_HEAD + "[factors]\n" + X)
    out = str(tmp_path / "out")
    assert cli.main(["sweep", str(first), "--out", out, "--quiet", "--workers", "1"]) == 0
    second = write(tmp_path, GOOD_HEAD.replace("seed = 1", "seed = 2") + "[factors]\n" + X)
    capsys.readouterr()
    assert cli.main(["sweep", str(second), "--out", out, "--quiet"]) == 2
    assert "different version of experiment 't'" in " ".join(capsys.readouterr().err.split())


def test_valid_file_resolves_types_integers_and_defaults(tmp_path):
    path = write(tmp_path, CHECKED_HEAD.replace('"lhs"', '"grid"') + """
        replicates = 3
        outputs = ["y"]
        [params]
        days = 40
        warmup_days = 10
        [factors]
        customers = {values = [20, 40]}
        utilization = {values = [0.6, 0.9]}
        [regimes.relationship]
        discipline = 0
        [regimes.sacred]
        discipline = 1.0
        [compare]
        delta = ["relationship", "sacred"]
        """)
    exp = load_experiment(path)
    assert exp.design == "grid" and exp.replicates == 3 and exp.samples is None
    assert exp.compare == ("relationship", "sacred")
    assert exp.regime_names == ["relationship", "sacred"]
    assert [f.integer for f in exp.factors] == [True, False]
    assert exp.defaults["days"] == 40 and exp.defaults["capacity_hours"] == 16.0
    assert exp.identity() == load_experiment(path).identity()


def test_identity_ignores_outputs_and_description_but_not_seed(tmp_path):
    a = load_experiment(write(tmp_path, GOOD_HEAD + "[factors]\n" + X, "a.toml"))
    b = load_experiment(write(tmp_path, GOOD_HEAD + 'outputs = ["y"]\ndescription = "d"\n'
                              "[factors]\n" + X, "b.toml"))
    c = load_experiment(write(tmp_path, GOOD_HEAD.replace("seed = 1", "seed = 9")
                              + "[factors]\n" + X, "c.toml"))
    assert a.identity() == b.identity() != c.identity()


def test_user_error_from_api(tmp_path):
    with pytest.raises(UserError, match="reversed"):
        load_experiment(write(tmp_path, GOOD_HEAD + "[factors]\nx1 = [2, 1]\n"))
