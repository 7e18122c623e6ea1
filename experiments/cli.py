"""The `relsim` command line (also `python -m relsim.experiments`).

Each group of subcommands lives in its own module and registers itself through a
``register(subparsers)`` function; every subcommand sets ``func`` to a callable taking
the parsed arguments and returning an exit status. Bad input (``UserError`` or a
``ValueError`` from parameter validation) is printed as one paragraph with exit status 2.
"""

from __future__ import annotations

import argparse
import sys
import textwrap

from relsim.experiments import (
    cli_analysis,
    cli_app,
    cli_export,
    cli_params,
    cli_run,
    cli_store,
    cli_sweep,
)
from relsim.experiments.errors import EXIT_USAGE, UserError

_GROUPS = (cli_run, cli_params, cli_sweep, cli_export, cli_analysis, cli_store, cli_app)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors exit with status 2 and a clear message."""

    def error(self, message: str) -> None:  # noqa: D102
        self.print_usage(sys.stderr)
        sys.stderr.write(f"relsim: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every subcommand registered."""
    parser = _Parser(
        prog="relsim",
        description="relsim: when do salespeople's personal relationships add value?",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for group in _GROUPS:
        group.register(sub)
    return parser


def _report(message: str) -> int:
    text = textwrap.fill(" ".join(str(message).split()), width=88, break_long_words=False,
                         break_on_hyphens=False)
    sys.stderr.write(f"relsim: error: {text}\n")
    return EXIT_USAGE


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `relsim` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status = args.func(args)
    except (UserError, ValueError) as exc:
        return _report(str(exc))
    except FileNotFoundError as exc:
        return _report(f"file not found: {exc.filename or exc}")
    except BrokenPipeError:  # output piped into a closed reader (e.g. `| head`)
        return 0
    except KeyboardInterrupt:
        sys.stderr.write("relsim: interrupted; finished runs are kept, rerun to resume\n")
        return 130
    return int(status or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
