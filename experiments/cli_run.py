"""Subcommand `run`: one simulation of the model, KPIs printed as a table or JSON."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from relsim import model
from relsim.experiments.errors import UserError


def parse_assignments(items: list[str]) -> dict[str, float]:
    """Parse ``k=v`` strings into a dict of floats (validated later by `model.Params`)."""
    out: dict[str, float] = {}
    for item in items:
        if "=" not in item:
            raise UserError(f"--set expects NAME=VALUE, got {item!r} (e.g. --set utilization=0.9)")
        name, _, raw = item.partition("=")
        name = name.strip()
        try:
            value = float(raw)
        except ValueError:
            raise UserError(
                f"--set {name}: value {raw!r} is not a number (e.g. --set {name}=0.5)"
            ) from None
        out[name] = value
    return out


def resolve_params(regime: str | None, sets: dict[str, float]) -> model.Params:
    """Regime overrides, then ``--set`` overrides, validated into `model.Params`."""
    overrides: dict[str, float] = {}
    if regime is not None:
        if regime not in model.REGIMES:
            raise UserError(
                f"unknown regime {regime!r}; known regimes: {', '.join(model.REGIMES)}"
            )
        overrides.update(model.REGIMES[regime])
    overrides.update(sets)
    return model.Params.from_dict(overrides)


def format_table(kpis: dict[str, float], units: dict[str, str] | None = None) -> str:
    """KPIs as an aligned text table: name, value, unit (``units`` default: the model's)."""
    if units is None:
        from relsim.model.kpis import OUTPUT_UNITS as units
    width = max(len(k) for k in kpis)
    lines = []
    for k, v in kpis.items():
        text = "nan" if isinstance(v, float) and math.isnan(v) else f"{v:,.4g}"
        lines.append(f"{k:<{width}}  {text:>12}  {units.get(k, '')}".rstrip())
    return "\n".join(lines)


def cmd_run(args: argparse.Namespace) -> int:
    """Run one simulation and print its KPIs."""
    params = resolve_params(args.regime, parse_assignments(args.set or []))
    want_series = args.series is not None
    out = model.simulate(params, args.seed, series=want_series)
    if want_series:
        series = out.pop("series")
        path = Path(args.series)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".parquet":
            series.to_parquet(path, index=False)
        else:
            series.to_csv(path, index=False)
    kpis = {k: float(v) for k, v in out.items()}
    if args.json:
        print(json.dumps(kpis, indent=2, allow_nan=True))
    else:
        label = args.regime or "defaults"
        print(f"relsim run: regime={label} seed={args.seed}")
        print(format_table(kpis))
        if want_series:
            print(f"daily series written to {args.series}")
    return 0


def register(sub) -> None:
    """Register the `run` subcommand."""
    p = sub.add_parser(
        "run",
        help="run one simulation and print its KPIs",
        description="Run one simulation of the model and print its run KPIs.",
    )
    p.add_argument("--regime", choices=None, default=None,
                   help=f"parameter overrides by name ({', '.join(model.REGIMES)})")
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="override a parameter (repeatable), e.g. --set utilization=0.9")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--series", metavar="FILE", default=None,
                   help="also write the daily series to FILE (.csv or .parquet)")
    p.add_argument("--json", action="store_true", help="print the KPIs as JSON")
    p.set_defaults(func=cmd_run)
