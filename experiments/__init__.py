"""Experiments: experiment files, the runner, executors, the results store and the CLI.

Depends on `model` (the default simulated function) and `analysis` (for `relsim analyze`
and `relsim report`); neither of those imports this package.
"""
