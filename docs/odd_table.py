"""Print the rows of docs/ODD.md's parameter and regime tables from `model.PARAMETER_SPECS`.

A helper for keeping the ODD document in sync with the code: after changing
`model/params.py`, ``python docs/odd_table.py`` prints the tables and
``python docs/odd_table.py --write`` replaces them in docs/ODD.md (between the
``<!-- parameter-table:start/end -->`` and ``<!-- regime-table:start/end -->`` markers).
``python docs/odd_table.py --scenario`` prints the default-scenario table (every regime at
the defaults over seeds 0-9, and the estimands with 95% half-widths over the pairs; about
20 s) and ``--write-scenario`` replaces it in docs/ODD.md (``<!-- default-scenario -->``).
tests/test_odd.py does not run this script: it parses the tables in docs/ODD.md and compares
them with `PARAMETER_SPECS` and `REGIMES` directly.
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path

import numpy as np
from relsim.model import PARAMETER_SPECS, REGIMES, simulate
from scipy import stats

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


#: KPIs shown per regime in the default-scenario table.
SCENARIO_KPIS = (
    "profit", "revenue", "cost", "otd", "otd_need", "lead_time_mean", "quoted_lead_time_mean",
    "buffer_final", "trust_mean_all", "padding_mean", "expedite_rate",
    "schedule_breaks_per_day", "lost_order_share", "lost_margin", "late_penalty",
    "share_online", "share_support", "share_sales", "share_field", "sales_firefighting_share",
    "selling_hours", "relationship_mean", "complex_win_rate", "customers_active_mean",
    "churned", "capacity_hours_mean", "overtime_hours",
)
#: The estimands (MODEL.md "Version 2"): paired regime differences ...
SCENARIO_PAIRS = (
    ("firm's view, breakable: relationship − transactional", "relationship", "transactional"),
    ("firm's view, sacred: sacred_relationship − sacred", "sacred_relationship", "sacred"),
    ("remedy value: sacred − relationship", "sacred", "relationship"),
)
#: ... and within-run style differences (the salesperson's view).
SCENARIO_STYLE = ("mixed", "sacred_mixed")
SCENARIO_PAIR_KPIS = ("profit", "customers_active_mean", "lost_orders", "otd_need")
#: The remedy value's decomposition by lever: one lever at a time from `relationship` to
#: `sacred` (each step adds its lever to the previous regime; the steps sum to the remedy).
#: Operations first, with relationship-style salespeople (transactional ones never break
#: the schedule, so after them `discipline` would have nothing to refuse), then the style.
LEVER_CHAIN = (
    ("+ `discipline` = 1", {"discipline": 1.0}),
    ("+ `buffer_release` = 1", {"buffer_release": 1.0}),
    ("+ `overtime_max` = 0.25", {"overtime_max": 0.25}),
    ("+ `shift_hours` = 8 (= `sacred_relationship`)", {"shift_hours": 8.0}),
    ("+ transactional salespeople (= `sacred`)", {"relationship_seller_share": 0.0}),
)
SCENARIO_STYLE_KPIS = (
    "style_margin_per_customer_day_diff", "style_otd_need_diff",
    "style_lost_order_share_diff", "style_churn_rate_diff",
)


def _fmt(x: float) -> str:
    if not math.isfinite(x):
        return "–"
    return format(x, ",.0f") if abs(x) >= 1000 else format(x, ".3g")


def _mean_hw(values: list[float]) -> str:
    """Mean ± 95% half-width (t distribution) of paired differences."""
    a = np.asarray(values, dtype=float)
    a = a[np.isfinite(a)]
    if a.size < 2:
        return "–"
    hw = stats.t.ppf(0.975, a.size - 1) * a.std(ddof=1) / math.sqrt(a.size)
    return f"{a.mean():+.3g} ± {hw:.2g}"


def scenario_table(seeds: range = range(10)) -> str:
    """Every regime at the defaults (means over seeds) and the estimands (mean ± 95% hw)."""
    runs = {r: [simulate(over, seed=s) for s in seeds] for r, over in REGIMES.items()}
    names = list(runs)
    lines = [
        "| KPI | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for k in SCENARIO_KPIS:
        cells = [_fmt(float(np.mean([x[k] for x in runs[r]]))) for r in names]
        lines.append(f"| `{k}` | " + " | ".join(cells) + " |")
    lines += ["", "| estimand | " + " | ".join(f"`{k}`" for k in SCENARIO_PAIR_KPIS) + " |",
              "|---|" + "---|" * len(SCENARIO_PAIR_KPIS)]
    for label, a, b in SCENARIO_PAIRS:
        cells = [_mean_hw([x[k] - y[k] for x, y in zip(runs[a], runs[b], strict=True)])
                 for k in SCENARIO_PAIR_KPIS]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "| salesperson's view (within a run) | "
              + " | ".join(f"`{k}`" for k in SCENARIO_STYLE_KPIS) + " |",
              "|---|" + "---|" * len(SCENARIO_STYLE_KPIS)]
    for r in SCENARIO_STYLE:
        cells = [_mean_hw([x[k] for x in runs[r]]) for k in SCENARIO_STYLE_KPIS]
        lines.append(f"| `{r}` | " + " | ".join(cells) + " |")
    lines += ["", "| remedy value by lever (step) | "
              + " | ".join(f"`{k}`" for k in SCENARIO_PAIR_KPIS) + " |",
              "|---|" + "---|" * len(SCENARIO_PAIR_KPIS)]
    previous, prev_runs = dict(REGIMES["relationship"]), runs["relationship"]
    for label, change in LEVER_CHAIN:
        current = {**previous, **change}
        cur_runs = [simulate(current, seed=s) for s in seeds]
        cells = [_mean_hw([x[k] - y[k] for x, y in zip(cur_runs, prev_runs, strict=True)])
                 for k in SCENARIO_PAIR_KPIS]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
        previous, prev_runs = current, cur_runs
    if previous != REGIMES["sacred"]:
        raise RuntimeError("the lever chain does not end at the sacred regime")
    return "\n".join(lines)


def _replace(text: str, name: str, table: str, path: Path) -> str:
    pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"{path}: no <!-- {name}:start --> ... <!-- {name}:end --> block")
    return pattern.sub(lambda m, t=table: m.group(1) + t + "\n" + m.group(2), text)


def write(path: Path = ODD) -> None:
    """Replace the parameter and regime tables of the ODD document in place."""
    text = path.read_text(encoding="utf-8")
    for name, table in (("parameter-table", parameter_table()), ("regime-table", regime_table())):
        text = _replace(text, name, table, path)
    path.write_text(text, encoding="utf-8")


def write_scenario(path: Path = ODD) -> None:
    """Recompute the default-scenario table and replace it in the ODD document."""
    text = path.read_text(encoding="utf-8")
    path.write_text(_replace(text, "default-scenario", scenario_table(), path), encoding="utf-8")


if __name__ == "__main__":
    args = sys.argv[1:]
    if args == ["--write"]:
        write()
    elif args == ["--scenario"]:
        print(scenario_table())
    elif args == ["--write-scenario"]:
        write_scenario()
    elif not args:
        print(parameter_table())
        print()
        print(regime_table())
    else:
        print("usage: python docs/odd_table.py [--write | --scenario | --write-scenario]",
              file=sys.stderr)
        sys.exit(2)
