"""`make bench`: every benchmark, one after the other (tables printed, JSON written)."""

from __future__ import annotations

import importlib
import sys

MODULES = ("benchmarks.model_bench", "benchmarks.startup_bench", "benchmarks.runner_bench",
           "benchmarks.study_bench")


def main() -> int:
    """Run each benchmark module's ``main`` that exists."""
    status = 0
    for name in MODULES:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError:
            print(f"({name} not present, skipped)")
            continue
        print(f"== {name}")
        status |= int(mod.main([]) or 0)
    return status


if __name__ == "__main__":
    sys.exit(main())
