"""docs/EXPERIMENTS.md documents every table, key and design, and its example is valid."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from relsim.experiments.design import build_design
from relsim.experiments.spec import DESIGNS, EXPERIMENT_KEYS, TOP_LEVEL_TABLES, parse_experiment

ROOT = Path(__file__).resolve().parent.parent
TEXT = (ROOT / "docs" / "EXPERIMENTS.md").read_text()
BLOCKS = re.findall(r"```toml\n(.*?)```", TEXT, re.S)


def test_every_table_key_and_design_is_documented():
    for table in TOP_LEVEL_TABLES:
        assert f"`[{table}" in TEXT, table
    for key in EXPERIMENT_KEYS:
        assert f"| `{key}` |" in TEXT, key
    for design in DESIGNS:
        assert f"| `{design}` |" in TEXT, design


def test_every_toml_example_parses_and_the_first_is_a_valid_experiment():
    assert len(BLOCKS) >= 8
    for block in BLOCKS:
        tomllib.loads(block)
    exp = parse_experiment(tomllib.loads(BLOCKS[0]), where="docs example")
    rows = len(build_design(exp))
    runs = rows * exp.replicates * len(exp.regimes)
    assert f"{rows} design rows × {exp.replicates} replicates × {len(exp.regimes)} regimes " \
           f"= {runs} runs" in TEXT


def test_readme_links_the_reference():
    assert "docs/EXPERIMENTS.md" in (ROOT / "README.md").read_text()
