"""Print the rows of docs/ODD.md's parameter and regime tables from `model.PARAMETER_SPECS`.

A helper for keeping the ODD document in sync with the code: after changing
`model/params.py`, ``python docs/odd_table.py`` prints the tables and
``python docs/odd_table.py --write`` replaces them in docs/ODD.md (between the
``<!-- parameter-table:start/end -->`` and ``<!-- regime-table:start/end -->`` markers).
tests/test_odd.py does not run this script: it parses the tables in docs/ODD.md and compares
them with `PARAMETER_SPECS` and `REGIMES` directly.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from relsim.model import PARAMETER_SPECS, REGIMES

ODD = Path(__file__).resolve().parent / "ODD.md"


def number(value: float, kind: type = float) -> str:
    """A number as the ODD tables show it (whole numbers without a decimal point)."""
    if kind is int:
        return str(int(value))
    return format(float(value), ".12g")


def interval(low: float, high: float, kind: type = float) -> str:
    """An inclusive interval, ``[low, high]``."""
    return f"[{number(low, kind)}, {number(high, kind)}]"


def parameter_table() -> str:
    """The parameter table: name | default | unit | valid range | SA range | meaning."""
    lines = [
        "| name | default | unit | valid range | SA range | meaning |",
        "|---|---|---|---|---|---|",
    ]
    for s in PARAMETER_SPECS:
        sa = interval(*s.sa_range) if s.sa_range is not None else "–"
        meaning = s.meaning.replace("|", "\\|")
        lines.append(
            f"| `{s.name}` | {number(s.default, s.kind)} | {s.unit} | "
            f"{interval(s.low, s.high, s.kind)} | {sa} | {meaning} |"
        )
    return "\n".join(lines)


def regime_table() -> str:
    """The regime table: regime | overrides."""
    lines = ["| regime | overrides |", "|---|---|"]
    for name, over in REGIMES.items():
        cells = ", ".join(f"`{k}` = {number(v)}" for k, v in over.items())
        lines.append(f"| `{name}` | {cells} |")
    return "\n".join(lines)


def write(path: Path = ODD) -> None:
    """Replace the parameter and regime tables of the ODD document in place."""
    text = path.read_text(encoding="utf-8")
    for name, table in (("parameter-table", parameter_table()), ("regime-table", regime_table())):
        pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"{path}: no <!-- {name}:start --> ... <!-- {name}:end --> block")
        text = pattern.sub(lambda m, t=table: m.group(1) + t + "\n" + m.group(2), text)
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write()
    else:
        print(parameter_table())
        print()
        print(regime_table())
