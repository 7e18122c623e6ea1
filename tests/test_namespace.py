"""relsim lives under the ``relsim`` namespace: a user's own ``model.py`` breaks nothing.

Mesa's convention puts a user's model in ``model.py``. Before the namespace, relsim
installed a top-level ``model`` package, so such a file on ``PYTHONPATH`` broke every
relsim command. These tests run relsim from a directory holding a module literally named
``model`` (and ``experiments``/``analysis``) and check that relsim still works, that it
sweeps the user's ``model:simulate``, and that an old spelling gets a message naming the
new one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd

USER_MODEL = '''
"""A user's own Mesa-style model module, named like Mesa's convention."""
REGIMES = "not relsim's"


def simulate(params, seed):
    return {"y": 2.0 * float(params.get("x", 0.0)) + seed % 7}
'''

EXPERIMENT = """
[experiment]
name = "user"
model = "model:simulate"
design = "grid"
replicates = 2
seed = 3
[factors]
x = {values = [0.0, 1.0, 2.0]}
"""


def _run(args: list[str], cwd: Path, pythonpath: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    return subprocess.run([sys.executable, "-m", "relsim.experiments", *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=300)


def _user_dir(tmp_path: Path) -> Path:
    user = tmp_path / "user"
    user.mkdir()
    (user / "model.py").write_text(USER_MODEL)
    (user / "experiments.py").write_text("raise ImportError('a user module, not relsim')\n")
    (user / "analysis.py").write_text("raise ImportError('a user module, not relsim')\n")
    return user


def test_relsim_run_ignores_a_user_model_py_on_the_path(tmp_path):
    user = _user_dir(tmp_path)
    result = _run(["run", "--regime", "sacred", "--set", "days=60", "--set",
                   "warmup_days=10", "--json"], cwd=user, pythonpath=user)
    assert result.returncode == 0, result.stderr
    assert '"profit"' in result.stdout


def test_sweep_of_a_user_module_literally_named_model(tmp_path):
    user = _user_dir(tmp_path)
    (user / "exp.toml").write_text(EXPERIMENT)
    result = _run(["sweep", "exp.toml", "--out", str(tmp_path / "out"), "--workers", "1",
                   "--quiet"], cwd=user, pythonpath=user)
    assert result.returncode == 0, result.stderr
    runs = pd.read_parquet(tmp_path / "out" / "user" / "runs")
    assert len(runs) == 6
    expected = 2.0 * runs["x"] + runs["seed"] % 7
    assert (runs["y"] == expected).all(), "the user's model, not relsim's, was swept"


def test_old_spelling_without_a_module_of_that_name_names_the_new_one(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "exp.toml").write_text(textwrap.dedent(EXPERIMENT))
    result = _run(["sweep", "exp.toml", "--out", str(tmp_path / "out"), "--quiet"],
                  cwd=empty, pythonpath=empty)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    message = " ".join(result.stderr.split())
    assert "relsim.model:simulate" in message
    assert not (tmp_path / "out").exists()
