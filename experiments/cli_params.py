"""Subcommand `params`: every model parameter with its unit, default, ranges and meaning.

The data are `relsim.model.PARAMETER_SPECS` (model/params.py), the single source of the
parameters; docs/ODD.md's table is tested against the same source.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from relsim import model
from relsim.experiments.errors import UserError

COLUMNS = ("name", "unit", "default", "valid range", "SA range", "meaning")


def _number(value: float) -> str:
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:g}"


def _range(pair: tuple[float, float] | None) -> str:
    return "" if pair is None else f"{_number(pair[0])} to {_number(pair[1])}"


def spec_record(spec: model.ParamSpec) -> dict[str, Any]:
    """One parameter as a JSON-friendly dict (``relsim params --json``)."""
    return {
        "name": spec.name,
        "unit": spec.unit,
        "default": spec.default,
        "valid_range": [spec.low, spec.high],
        "sa_range": list(spec.sa_range) if spec.sa_range is not None else None,
        "type": spec.kind.__name__,
        "meaning": spec.meaning,
    }


def select(names: list[str], sa_only: bool) -> list[model.ParamSpec]:
    """The parameters named (all when none), optionally only those with an SA range."""
    from relsim.model.params import unknown_name_error

    for name in names:
        if name not in model.SPECS:
            raise UserError(str(unknown_name_error(name)))
    chosen = [model.SPECS[n] for n in names] if names else list(model.PARAMETER_SPECS)
    return [s for s in chosen if s.sa_range is not None] if sa_only else chosen


def format_table(specs: list[model.ParamSpec]) -> str:
    """The parameters as an aligned text table (numbers right-aligned)."""
    rows = [(s.name, s.unit, _number(s.default), _range((s.low, s.high)), _range(s.sa_range),
             s.meaning) for s in specs]
    widths = [max(len(str(r[i])) for r in [COLUMNS, *rows]) for i in range(len(COLUMNS) - 1)]
    right = {2}

    def line(cells) -> str:
        out = [f"{c:>{w}}" if i in right else f"{c:<{w}}"
               for i, (c, w) in enumerate(zip(cells, widths, strict=False))]
        return "  ".join([*out, cells[-1]]).rstrip()

    return "\n".join([line(COLUMNS), *(line(r) for r in rows)])


def cmd_params(args: argparse.Namespace) -> int:
    """Print the parameters as a table or JSON."""
    specs = select(args.names or [], args.sa)
    if args.json:
        print(json.dumps([spec_record(s) for s in specs], indent=2, ensure_ascii=False))
    else:
        print(format_table(specs))
        if not args.names:
            with_sa = sum(s.sa_range is not None for s in specs)
            print(f"\n{len(specs)} parameters ({with_sa} with an SA range); regimes: "
                  f"{', '.join(f'{k} ({_overrides(v)})' for k, v in model.REGIMES.items())}")
    return 0


def _overrides(values: dict[str, float]) -> str:
    return ", ".join(f"{k}={_number(v)}" for k, v in values.items())


def register(sub) -> None:
    """Register the `params` subcommand."""
    p = sub.add_parser(
        "params", help="list every model parameter: unit, default, ranges, meaning",
        description="List the model's parameters: name, unit, default, valid range (what "
        "'--set' and experiment files accept), SA range (the range of the sensitivity "
        "studies, MODEL.md) and meaning. '-' is a dimensionless unit.")
    p.add_argument("names", nargs="*", metavar="NAME", help="only these parameters")
    p.add_argument("--sa", action="store_true",
                   help="only the parameters with an SA range")
    p.add_argument("--json", action="store_true",
                   help="print a JSON list (name, unit, default, valid_range, sa_range, "
                   "type, meaning)")
    p.set_defaults(func=cmd_params)
