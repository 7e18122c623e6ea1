"""docs/ODD.md stays in sync with the code.

The parameter table must list exactly `model.PARAMETER_SPECS` (same names, defaults, units,
valid ranges and SA ranges), the regime table must match `model.REGIMES`, and every KPI and
daily-series column must be documented. The tables are parsed from the document and
compared with the code; nothing is regenerated here.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from relsim import model

ODD = Path(__file__).resolve().parents[1] / "docs" / "ODD.md"
PARAM_COLUMNS = ["name", "default", "unit", "valid range", "SA range", "meaning"]
NONE_MARKS = {"–", "-", "—", ""}


@pytest.fixture(scope="module")
def odd_text() -> str:
    return ODD.read_text(encoding="utf-8")


def _block(text: str, name: str) -> str:
    """The text between <!-- name:start --> and <!-- name:end -->."""
    m = re.search(rf"<!-- {name}:start -->(.*?)<!-- {name}:end -->", text, re.S)
    assert m, f"docs/ODD.md has no '{name}' block (<!-- {name}:start --> ... end -->)"
    return m.group(1)


def _cells(line: str) -> list[str]:
    """Cells of a markdown table row (a pipe escaped as \\| stays inside its cell)."""
    inner = line.strip()
    assert inner.startswith("|") and inner.endswith("|"), line
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", inner[1:-1])]


def _rows(block: str) -> tuple[list[str], list[list[str]]]:
    lines = [ln for ln in block.strip().splitlines() if ln.strip()]
    header = _cells(lines[0])
    assert set(lines[1].replace("|", "").strip()) <= set("-: "), "second line must be |---|"
    return header, [_cells(ln) for ln in lines[2:]]


def _name(cell: str) -> str:
    m = re.fullmatch(r"`(\w+)`", cell)
    assert m, f"a name cell must be a `backticked` identifier, got {cell!r}"
    return m.group(1)


def _interval(cell: str) -> tuple[float, float] | None:
    if cell in NONE_MARKS:
        return None
    m = re.fullmatch(r"\[\s*([^,\]]+?)\s*,\s*([^,\]]+?)\s*\]", cell)
    assert m, f"a range cell must read [low, high] or –, got {cell!r}"
    return float(m.group(1)), float(m.group(2))


def _same(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


@pytest.fixture(scope="module")
def param_rows(odd_text: str) -> dict[str, dict[str, str]]:
    header, rows = _rows(_block(odd_text, "parameter-table"))
    assert header == PARAM_COLUMNS
    out: dict[str, dict[str, str]] = {}
    for cells in rows:
        assert len(cells) == len(header), f"row has {len(cells)} cells: {cells}"
        name = _name(cells[0])
        assert name not in out, f"parameter {name!r} listed twice in docs/ODD.md"
        out[name] = dict(zip(header, cells, strict=True))
    return out


def test_parameter_table_lists_exactly_the_specs(param_rows):
    documented = set(param_rows)
    coded = {s.name for s in model.PARAMETER_SPECS}
    assert not coded - documented, f"missing from docs/ODD.md: {sorted(coded - documented)}"
    assert not documented - coded, f"not parameters of the model: {sorted(documented - coded)}"
    assert list(param_rows) == [s.name for s in model.PARAMETER_SPECS], "order differs"


def test_parameter_table_defaults_units_and_ranges_match(param_rows):
    bad = []
    for s in model.PARAMETER_SPECS:
        row = param_rows[s.name]
        default = float(row["default"])
        if not _same(default, s.default) or not _same(default, getattr(model.Params(), s.name)):
            bad.append(f"{s.name}: default {row['default']} != {s.default}")
        if s.kind is int and not re.fullmatch(r"\d+", row["default"]):
            bad.append(f"{s.name}: integer parameter shown as {row['default']}")
        if row["unit"] != s.unit:
            bad.append(f"{s.name}: unit {row['unit']!r} != {s.unit!r}")
        lo, hi = _interval(row["valid range"]) or (math.nan, math.nan)
        if not (_same(lo, s.low) and _same(hi, s.high)):
            bad.append(f"{s.name}: valid range {row['valid range']} != [{s.low}, {s.high}]")
        sa = _interval(row["SA range"])
        if (sa is None) != (s.sa_range is None) or (
            sa is not None and not all(_same(a, b) for a, b in zip(sa, s.sa_range, strict=True))
        ):
            bad.append(f"{s.name}: SA range {row['SA range']} != {s.sa_range}")
        if not row["meaning"]:
            bad.append(f"{s.name}: no meaning")
    assert not bad, "docs/ODD.md parameter table disagrees with model.Params:\n" + "\n".join(bad)


def test_sa_problem_is_the_table_sa_ranges(param_rows):
    problem = model.sa_problem()
    from_doc = {n: _interval(r["SA range"]) for n, r in param_rows.items()}
    assert problem["names"] == [n for n, sa in from_doc.items() if sa is not None]


def test_regime_table_matches_regimes(odd_text):
    header, rows = _rows(_block(odd_text, "regime-table"))
    assert header == ["regime", "overrides"]
    documented = {}
    for regime, overrides in rows:
        pairs = re.findall(r"`(\w+)`\s*=\s*([-+0-9.eE]+)", overrides)
        documented[_name(regime)] = {k: float(v) for k, v in pairs}
    assert documented.keys() == model.REGIMES.keys()
    for name, over in model.REGIMES.items():
        assert documented[name].keys() == over.keys(), name
        for k, v in over.items():
            assert _same(documented[name][k], v), f"{name}.{k}: {documented[name][k]} != {v}"


def test_every_kpi_and_series_column_is_documented(odd_text):
    documented = set(re.findall(r"^\|\s*`(\w+)`\s*\|", odd_text, re.M))
    missing = [k for k in model.KPI_NAMES if k not in documented]
    assert not missing, f"KPIs missing from docs/ODD.md: {missing}"
    missing = [c for c in model.SERIES_COLUMNS if c not in documented]
    assert not missing, f"series columns missing from docs/ODD.md: {missing}"


def test_kpi_and_series_tables_name_nothing_else(odd_text):
    kpi = set(re.findall(r"^\|\s*`(\w+)`\s*\|\s*[^|]+\|\s*(?:delivered|placed|window|end|per "
                         r"day|placed, quoted)\s*\|", odd_text, re.M))
    assert kpi == set(model.KPI_NAMES), sorted(kpi ^ set(model.KPI_NAMES))


def test_odd_has_the_odd_elements(odd_text):
    headings = re.findall(r"^#+ (.+)$", odd_text, re.M)
    for element in ["1 Purpose and patterns", "2 Entities, state variables and scales",
                    "3 Process overview and scheduling", "4 Design concepts",
                    "5 Initialisation", "6 Input data", "7 Submodels", "Parameter table",
                    "Calibration of the defaults", "Verification", "Deviations and choices"]:
        assert element in headings, f"docs/ODD.md lacks the section '{element}'"
