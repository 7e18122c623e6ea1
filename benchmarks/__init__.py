"""Benchmarks: run with `make bench` (python -m benchmarks).

Each benchmark writes its figures to ``benchmarks/results/<name>.json`` with `save_json`.
"""

import json
from pathlib import Path

#: Where every benchmark writes its JSON.
RESULTS = Path(__file__).resolve().parent / "results"


def save_json(name: str, data: dict) -> Path:
    """Write ``data`` to ``benchmarks/results/<name>.json`` and return the path."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path
