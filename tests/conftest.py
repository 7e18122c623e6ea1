"""Shared fixtures of the test suite."""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


@pytest.fixture
def test_models_importable(monkeypatch):
    """Worker processes (spawned pools, Dask workers) must import tests/sweep_models.py."""
    monkeypatch.syspath_prepend(str(TESTS))
    monkeypatch.setenv("PYTHONPATH", str(TESTS))
