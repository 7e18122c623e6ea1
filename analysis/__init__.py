"""Analysis: sensitivity indices, paired deltas, tipping points and figures.

Reads stored results only; never runs a simulation and never imports `experiments`.
"""
