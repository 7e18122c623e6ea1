"""Subcommand `verify`: check a results store's files against their checksums.

Every parquet file of a store records a checksum of its content when it is written
(`relsim.analysis.integrity`); ``relsim verify DIR`` reads every file of every store
under DIR (experiments and their shards), recomputes the checksums and reports damaged
files. ``--repair`` moves damaged files aside (into ``<store>/damaged/``) so that
rerunning the sweep recomputes exactly the runs they held; the command to run is printed.

Exit status: 0 every file is intact, 1 some files carry no checksum (written by an older
relsim) but none is damaged, 2 damaged files were found (also after ``--repair``, which
only prepares the recomputation), or DIR holds no store.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

from relsim.experiments.errors import UserError


def register(sub) -> None:
    """Register the store subcommands."""
    p = sub.add_parser(
        "verify", help="check every stored file of a results directory against its checksum",
        description="Read every file of the results store(s) under DIR (an experiment "
                    "directory, its shards, or a directory of experiments), check each "
                    "against the checksum recorded when it was written, and name damaged "
                    "files with the command that recomputes their runs. Exit status: 0 all "
                    "intact, 1 files without checksum (older relsim), 2 damaged files.")
    p.add_argument("directory", metavar="DIR")
    p.add_argument("--repair", action="store_true",
                   help="move damaged files into <store>/damaged/ so that rerunning the "
                        "sweep recomputes their runs (the command is printed)")
    p.set_defaults(func=cmd_verify)


@dataclass
class StoreReport:
    """What `verify_store` found in one store."""

    root: Path
    ok: list[Path] = field(default_factory=list)
    unchecked: list[Path] = field(default_factory=list)
    damaged: list[tuple[Path, str]] = field(default_factory=list)
    manifest_problem: str | None = None


def find_stores(directory: Path) -> list[Path]:
    """Every store (a directory holding manifest.json) at or under ``directory``."""
    if not directory.is_dir():
        raise UserError(f"verify: directory not found: {directory}")
    stores = sorted({m.parent for m in directory.rglob("manifest.json")})
    stores = [s for s in stores if "damaged" not in s.relative_to(directory).parts]
    if not stores:
        raise UserError(f"verify: no results store under {directory} (a store is a directory "
                        "holding manifest.json, written by 'relsim sweep')")
    return stores


def verify_store(root: Path) -> StoreReport:
    """Check the manifest and every parquet file of one store."""
    from relsim.analysis.integrity import check_file
    from relsim.experiments.store import DESIGN, PART_GLOB, RUNS, SERIES

    report = StoreReport(root)
    try:
        manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
        if not isinstance(manifest, dict):
            report.manifest_problem = "manifest.json does not hold a JSON object"
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        report.manifest_problem = f"manifest.json is unreadable: {exc}"
    files = [root / DESIGN] if (root / DESIGN).exists() else []
    for folder in (RUNS, SERIES):
        if (root / folder).is_dir():
            files += sorted((root / folder).glob(PART_GLOB))
    for path in files:
        state, detail = check_file(path)
        if state == "ok":
            report.ok.append(path)
        elif state == "unchecked":
            report.unchecked.append(path)
        else:
            report.damaged.append((path, detail))
    return report


def recompute_command(root: Path) -> str:
    """The ``relsim sweep`` command that recomputes the runs missing from a store."""
    from relsim.analysis.integrity import recompute_command as command

    return command(root)


def repair(report: StoreReport) -> list[Path]:
    """Move a store's damaged files (and a damaged part's series twin) aside."""
    from relsim.experiments.store import QUARANTINE, RUNS, SERIES

    moved = []
    target = report.root / QUARANTINE
    for path, _ in report.damaged:
        twins = [path]
        if path.parent.name in (RUNS, SERIES):  # a run's row and its series go together
            other = RUNS if path.parent.name == SERIES else SERIES
            twins.append(report.root / other / path.name)
        for file in twins:
            if file.exists():
                dest = target / file.relative_to(report.root)
                dest.parent.mkdir(parents=True, exist_ok=True)
                file.replace(dest)
                moved.append(dest)
    return moved


def cmd_verify(args: argparse.Namespace) -> int:
    """``relsim verify``."""
    status = 0
    for root in find_stores(Path(args.directory)):
        report = verify_store(root)
        checked = len(report.ok) + len(report.unchecked) + len(report.damaged)
        print(f"{root}: {checked} files, {len(report.ok)} intact, "
              f"{len(report.damaged)} damaged, {len(report.unchecked)} without checksum")
        if report.manifest_problem:
            print(f"  damaged: {report.manifest_problem}", file=sys.stderr)
            status = 2
        for path, reason in report.damaged:
            print(f"  damaged: {path.relative_to(root)}: {reason}", file=sys.stderr)
        if report.unchecked:
            print(f"  {len(report.unchecked)} files carry no checksum (written by an older "
                  "relsim); they cannot be checked", file=sys.stderr)
            status = max(status, 1)
        if report.damaged:
            status = 2
            command = recompute_command(root)
            if args.repair:
                moved = repair(report)
                print(f"  moved {len(moved)} files to {root / 'damaged'}; recompute their "
                      f"runs with:\n    {command}", file=sys.stderr)
            else:
                print(f"  to recompute their runs: relsim verify {shlex.quote(str(root))} "
                      f"--repair, then\n    {command}", file=sys.stderr)
    return status
