"""The `relsim` command line (also `python -m relsim.experiments`).

Each group of subcommands lives in its own module and registers itself through a
``register(subparsers)`` function; every subcommand sets ``func`` to a callable taking
the parsed arguments and returning an exit status. Bad input (``UserError`` or a
``ValueError`` from parameter validation) is printed as one paragraph with exit status 2.

`entry` is the console script (and ``python -m relsim.experiments``); `main` is the same
command for callers that stay alive afterwards (tests, notebooks).
"""

from __future__ import annotations

import argparse
import gc
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


def entry(argv: list[str] | None = None) -> None:
    """The `relsim` console script: run `main`, then end the process with its status.

    Before the interpreter shuts down, every object alive is moved out of the cyclic
    garbage collector's reach (`gc.freeze`): the collections the interpreter runs at
    shutdown would otherwise walk the million-odd objects that importing numpy, pandas,
    pyarrow and scipy creates, about 0.3 s for nothing (the process's memory is returned
    to the system as it ends). Objects are still finalised by reference counting and every
    exit handler runs; a process that carries on must call `main` instead (frozen
    objects are never collected).

    Raises:
        SystemExit: Always, with `main`'s exit status.
    """
    status = main(argv)
    gc.freeze()
    sys.exit(status)


if __name__ == "__main__":  # pragma: no cover
    entry()
