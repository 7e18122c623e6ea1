"""Paired regime differences (relationship value) and per-row summaries over replicates.

Regimes of a compared pair are run with the same seed for each (row, replicate): common
random numbers. Their difference ``<name>_<output> = A - B`` is therefore a paired,
low-noise counterfactual (``delta_<output>`` for the version-1 comparison ``delta``).
A *contrast* is the difference of two comparisons, ``(A1 - B1) - (A2 - B2)``, paired the
same way. Both are a `Difference`: a weighted sum of regimes' outputs within one (row,
replicate). Pairs are matched on (row, replicate); a pair in which any run failed is
dropped.

File names (`Difference.stem`): a comparison or contrast named ``N`` writes
``delta_N_<output>.csv``, ``tipping_N_<output>.csv`` and so on; the version-1 comparison
``delta`` keeps its names (``delta_<output>.csv``, ``tipping_<output>.csv``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from relsim.analysis.io import ok_runs
from scipy import stats

DELTA_PREFIX = "delta_"
CI_LEVEL = 0.95
PAIR_KEYS = ["row", "replicate"]
#: The comparison name of the version-1 form ``[compare] delta = [A, B]``.
V1_NAME = "delta"


@dataclass(frozen=True)
class Difference:
    """A named comparison (``A − B``) or contrast (``C1 − C2`` of two comparisons).

    Attributes:
        name: The name in the experiment file.
        kind: ``compare`` or ``contrast``.
        terms: Regime -> weight (``A − B`` is ``{A: 1, B: -1}``); regimes whose weights
            cancel are left out.
        parts: ``(A, B)`` regimes of a comparison, ``(C1, C2)`` comparisons of a contrast.
        description: ``A − B`` or ``(A1 − B1) − (A2 − B2)``, for labels and captions.
    """

    name: str
    kind: str
    terms: dict[str, float]
    parts: tuple[str, str]
    description: str

    @property
    def is_v1(self) -> bool:
        """Whether this is the version-1 comparison ``delta`` (version-1 file names)."""
        return self.kind == "compare" and self.name == V1_NAME

    def column(self, output: str) -> str:
        """The stored column of this difference of ``output``: ``<name>_<output>``."""
        return f"{self.name}_{output}"

    def stem(self, output: str) -> str:
        """The file-name part of this difference of ``output`` (``<output>`` for v1)."""
        return output if self.is_v1 else self.column(output)

    def figure_stem(self, output: str) -> str:
        """Figure stem of the value against a factor, before ``_vs_<factor>``."""
        return f"relationship_{output}" if self.is_v1 else self.column(output)


def differences(comparisons: dict[str, tuple[str, str]],
                contrasts: dict[str, tuple[str, str]] | None = None) -> list[Difference]:
    """Build the `Difference` of every comparison, then of every contrast.

    Raises:
        ValueError: A contrast names a comparison that does not exist.
    """
    out: list[Difference] = []
    for name, (a, b) in comparisons.items():
        out.append(Difference(name, "compare", {a: 1.0, b: -1.0}, (a, b), f"{a} − {b}"))
    for name, (c1, c2) in (contrasts or {}).items():
        missing = [c for c in (c1, c2) if c not in comparisons]
        if missing:
            raise ValueError(f"contrast '{name}' names unknown comparison(s) {missing} "
                             f"(comparisons: {', '.join(comparisons) or 'none'})")
        terms: dict[str, float] = {}
        for comp, sign in ((c1, 1.0), (c2, -1.0)):
            a, b = comparisons[comp]
            terms[a] = terms.get(a, 0.0) + sign
            terms[b] = terms.get(b, 0.0) - sign
        terms = {r: w for r, w in terms.items() if w != 0.0}
        text = (f"({comparisons[c1][0]} − {comparisons[c1][1]}) − "
                f"({comparisons[c2][0]} − {comparisons[c2][1]})")
        out.append(Difference(name, "contrast", terms, (c1, c2), text))
    return out


def paired_differences(runs: pd.DataFrame, diff: Difference, outputs: list[str]
                       ) -> pd.DataFrame:
    """Per (row, replicate) values of a comparison or contrast, ``<name>_<output>``.

    Args:
        runs: The run table (all statuses; failed runs are dropped here).
        diff: The comparison or contrast.
        outputs: Outputs to difference.

    Returns:
        Columns ``row``, ``replicate``, ``seed`` (when stored) and one
        ``diff.column(output)`` per output, one row per (row, replicate) in which every
        run of ``diff.terms`` succeeded.

    Raises:
        ValueError: If a regime has no stored runs, or runs of one (row, replicate) do not
            share their seed (the difference would not be under common random numbers).
    """
    ok = ok_runs(runs)
    present = set(runs["regime"].unique())
    for regime in diff.terms:
        if regime not in present:
            raise ValueError(
                f"regime '{regime}' of '{diff.name}' ({diff.description}) has no stored runs "
                f"(regimes present: {', '.join(sorted(present)) or 'none'})"
            )
    has_seed = "seed" in ok.columns
    merged: pd.DataFrame | None = None
    for i, regime in enumerate(diff.terms):
        part = ok[ok["regime"] == regime][PAIR_KEYS + (["seed"] if has_seed else [])
                                          + list(outputs)]
        part = part.rename(columns={c: f"{c}__{i}" for c in part.columns
                                    if c not in PAIR_KEYS})
        merged = part if merged is None else merged.merge(part, on=PAIR_KEYS, how="inner")
    assert merged is not None
    regimes = list(diff.terms)
    if has_seed and len(regimes) > 1:
        for i in range(1, len(regimes)):
            mismatch = merged["seed__0"] != merged[f"seed__{i}"]
            if mismatch.any():
                first = merged[mismatch].iloc[0]
                raise ValueError(
                    f"paired runs of '{regimes[0]}' and '{regimes[i]}' have different seeds "
                    f"(row {int(first['row'])}, replicate {int(first['replicate'])}): the "
                    "comparison needs common random numbers"
                )
    out = merged[PAIR_KEYS].copy()
    if has_seed:
        out["seed"] = merged["seed__0"].to_numpy()
    for o in outputs:
        value = np.zeros(len(merged))
        for i, weight in enumerate(diff.terms.values()):
            value = value + weight * merged[f"{o}__{i}"].to_numpy(float)
        out[diff.column(o)] = value
    return out.sort_values(PAIR_KEYS).reset_index(drop=True)


def delta_name(output: str) -> str:
    """Return the column name of the paired difference of ``output``."""
    return f"{DELTA_PREFIX}{output}"


def paired_deltas(
    runs: pd.DataFrame, regime_a: str, regime_b: str, outputs: list[str]
) -> pd.DataFrame:
    """Per (row, replicate) paired differences ``delta_<output> = A - B``.

    Args:
        runs: The run table (all statuses; failed runs are dropped here).
        regime_a: The first regime (minuend), e.g. ``relationship``.
        regime_b: The second regime (subtrahend), e.g. ``sacred``.
        outputs: Outputs to difference.

    Returns:
        Columns ``row``, ``replicate``, ``seed`` and one ``delta_<output>`` per output,
        one row per pair in which both runs succeeded.

    Raises:
        ValueError: If a regime is absent, or paired runs do not share their seed (the
            comparison would not be under common random numbers).
    """
    pair = Difference(V1_NAME, "compare", {regime_a: 1.0, regime_b: -1.0},
                      (regime_a, regime_b), f"{regime_a} − {regime_b}")
    out = paired_differences(runs, pair, outputs)
    return out.rename(columns={pair.column(o): delta_name(o) for o in outputs})


def t_interval(values: np.ndarray, level: float = CI_LEVEL) -> tuple[float, float, float]:
    """Mean and Student-t confidence interval of a sample (NaNs ignored).

    Returns:
        ``(mean, low, high)``; the interval is NaN when fewer than two values remain.
    """
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(v.mean())
    if v.size < 2:
        return mean, float("nan"), float("nan")
    half = stats.t.ppf(0.5 + level / 2, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size)
    return mean, mean - float(half), mean + float(half)


def row_summary(
    table: pd.DataFrame, column: str, design: pd.DataFrame | None = None,
    level: float = CI_LEVEL,
) -> pd.DataFrame:
    """Per design row: mean of ``column`` over replicates, its t interval, SD and count.

    Args:
        table: Rows with a ``row`` column and ``column`` (one row per replicate).
        column: The value to summarise.
        design: Optional design matrix (``row`` + factors) merged into the result.
        level: Confidence level of the interval.

    Returns:
        Columns ``row``, factor columns (if a design was given), ``mean``, ``ci_low``,
        ``ci_high``, ``sd``, ``n`` (replicates used).
    """
    records = []
    for row, group in table.groupby("row", sort=True):
        values = group[column].to_numpy(float)
        values = values[np.isfinite(values)]
        mean, low, high = t_interval(values, level)
        sd = float(values.std(ddof=1)) if values.size > 1 else float("nan")
        records.append({"row": int(row), "mean": mean, "ci_low": low, "ci_high": high,
                        "sd": sd, "n": int(values.size)})
    out = pd.DataFrame.from_records(
        records, columns=["row", "mean", "ci_low", "ci_high", "sd", "n"]
    )
    if design is not None and not design.empty:
        out = design.merge(out, on="row", how="right")
    return out
