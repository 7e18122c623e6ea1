"""Analysis: sensitivity indices, paired deltas, tipping points, figures and tables.

Reads stored results only (the layout of `relsim sweep`); never runs a simulation and
never imports `experiments` or `model`.

Modules and their main entry points:

- `analysis.io`: `load_results(dir) -> Results` (manifest, design, runs, series),
  `find_experiments(dir)`.
- `analysis.analyze`: `analyze_path(dir, seed=..., map_factors=None)` writes
  ``<experiment>/analysis/*.csv`` (`relsim analyze`).
- `analysis.sensitivity`: `sobol_indices`, `morris_indices` (SALib, seeded),
  `row_means`, `replicate_noise_share`.
- `analysis.deltas`: `differences(comparisons, contrasts)` (one `Difference` per
  comparison or contrast), `paired_differences(runs, diff, outputs)`,
  `paired_deltas(runs, a, b, outputs)`, `row_summary`, `t_interval`.
- `analysis.tipping`: `logistic_tipping`, `tipping_table`, `tipping_map`,
  `bisect_sign_change` (pure; `experiments.tipping` supplies the model evaluations).
- `analysis.outputs`: `output_rows` (each output per design row and regime) and
  `output_vs_factor` (its figure), for experiments with or without a compared pair.
- `analysis.io`: also `completeness(results)`: the design's runs by status (pending,
  ok, failed, invalid, ...), behind the "incomplete: K of N runs" marks.
- `analysis.labels`: the one table of display names and units (parameters, outputs,
  series, regimes), with graceful fallbacks for names it does not know.
- `analysis.claims`: `crossing_support`, whether a tipping point is a supported crossing.
- `analysis.figures`: the figure style, one function per figure, `figure_problems`.
- `analysis.captions`: figure captions (Markdown and LaTeX) from results and manifest.
- `analysis.tables`: CSV and LaTeX (booktabs) tables.
- `analysis.report`: `build_report(dir, seed=..., document=False)` (`relsim report`).
- `analysis.document`: the results document (`relsim report DIR --document`).
"""
