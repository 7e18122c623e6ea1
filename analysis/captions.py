"""Figure captions written from the stored results and the manifest (Markdown and LaTeX).

Every caption says what is plotted, the design (kind, N, design rows, replicates, runs,
the master seed), the regimes compared (with their parameter overrides), what the
interval or band means, and the commit and model the runs came from. `relsim report`
writes each figure's caption beside it as ``<stem>.caption.md`` and ``<stem>.caption.tex``
(a LaTeX caption command with a label, to paste under the figure).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from relsim.analysis import labels as lb
from relsim.analysis.claims import Support
from relsim.analysis.io import Results, _section
from relsim.analysis.tables import latex_escape


def to_latex_text(text: str) -> str:
    """Escape plain caption text for LaTeX, spelling its few Unicode symbols in math."""
    return latex_escape(text)


@dataclass
class Caption:
    """A figure caption: a short bold title and sentences.

    Attributes:
        title: What the figure shows, in a few words (no final period).
        sentences: The rest, each a full sentence.
    """

    title: str
    sentences: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """Plain text of the caption."""
        return " ".join([f"{self.title}.", *self.sentences])

    def markdown(self) -> str:
        """Markdown: the title in bold, then the sentences."""
        return " ".join([f"**{self.title}.**", *self.sentences])

    def latex(self, label: str | None = None) -> str:
        """The LaTeX caption command (and label), the title in bold."""
        body = " ".join([rf"\textbf{{{to_latex_text(self.title)}.}}",
                         *(to_latex_text(s) for s in self.sentences)])
        tail = rf"\label{{{label}}}" if label else ""
        return rf"\caption{{{body}}}{tail}"

    def write(self, directory: Path, stem: str) -> list[Path]:
        """Write ``stem.caption.md`` and ``stem.caption.tex``; return their paths."""
        directory.mkdir(parents=True, exist_ok=True)
        md = directory / f"{stem}.caption.md"
        tex = directory / f"{stem}.caption.tex"
        md.write_text(self.markdown() + "\n")
        tex.write_text(self.latex(f"fig:{stem}") + "\n")
        return [md, tex]


# ------------------------------------------------------------------ facts from the manifest
def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        return f"{float(value):.4g}"
    return str(value)


def _params_text(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{lb.factor(k).name} = {_fmt(v)}" for k, v in params.items())


def commit_text(manifest: Mapping[str, Any]) -> str:
    """``model relsim.model:simulate (relsim 0.1.0), commit a374d52`` from the manifest."""
    prov = manifest.get("provenance") or {}
    versions = prov.get("versions") or {}
    git = prov.get("git") or {}
    model = manifest.get("model") or "relsim.model:simulate"
    parts = [f"model {model}"]
    if versions.get("relsim"):
        parts[0] += f" (relsim {versions['relsim']})"
    commit = git.get("commit")
    if commit:
        dirty = " with uncommitted changes" if git.get("dirty") else ""
        parts.append(f"commit {str(commit)[:7]}{dirty}")
    else:
        parts.append("commit not recorded")
    return ", ".join(parts)


def compared(manifest: Mapping[str, Any], pair: Sequence[str] | str | None) -> str:
    """``relationship (discipline = 0, ...) − sacred (discipline = 1, ...)``."""
    if not pair:
        return ""
    if isinstance(pair, str):  # a comparison's or contrast's own description
        return pair
    regimes = _section(dict(manifest), "regimes") or {}

    def one(name: str) -> str:
        overrides = regimes.get(name) or {}
        return f"{name} ({_params_text(overrides)})" if overrides else name

    return f"{one(pair[0])} − {one(pair[1])}"


def runs_text(manifest: Mapping[str, Any]) -> str:
    """``176 runs (176 ok)`` or with failed/pending counts."""
    counts = manifest.get("counts") or {}
    total = counts.get("total") or manifest.get("runs_total")
    ok = counts.get("ok")
    if total is None and ok is None:
        return ""
    text = f"{_fmt(int(total if total is not None else ok))} runs"
    extra = [f"{_fmt(int(ok))} ok"] if ok is not None else []
    for key in ("failed", "pending"):
        if counts.get(key):
            extra.append(f"{_fmt(int(counts[key]))} {key}")
    return f"{text} ({', '.join(extra)})" if extra else text


def design_text(results: Results) -> str:
    """One sentence on the design: kind, N, factors, design rows, replicates, runs, seed."""
    m = results.manifest
    kind = results.design_kind
    rows = m.get("design_rows") or (len(results.design) if not results.design.empty else None)
    reps = m.get("replicates")
    factors = results.factors
    problem = _section(m, "problem") or {}
    bounds = dict(zip(problem.get("names") or [], problem.get("bounds") or [], strict=False))

    def factor_list() -> str:
        items = []
        for f in factors:
            rng = bounds.get(f)
            where = f" {_fmt(float(rng[0]))}–{_fmt(float(rng[1]))}" if rng else ""
            items.append(f"{lb.factor(f).name} ({f}{where})")
        return "; ".join(items)

    if kind == "sobol":
        head = (f"Sobol' design (Saltelli sampling, N = {_fmt(m.get('samples'))} base "
                f"samples) over {len(factors)} factors: {factor_list()}")
    elif kind == "morris":
        head = (f"Morris design ({_fmt(m.get('samples'))} trajectories, "
                f"{_fmt(m.get('num_levels') or m.get('levels'))} levels) over "
                f"{len(factors)} factors: {factor_list()}")
    elif kind == "grid":
        levels = [len(results.design[f].unique()) for f in factors
                  if f in results.design.columns]
        head = (f"Grid design over {factor_list()} "
                f"({' × '.join(str(n) for n in levels)} levels)")
    elif kind == "lhs":
        head = f"Latin hypercube design over {len(factors)} factors: {factor_list()}"
    else:
        head = "Replicates of one scenario"
    parts = [head]
    axes = results.axes if hasattr(results, "axes") else {}
    for name, moves in axes.items():
        parts.append(lb.axis_text(name, moves))
    if rows is not None:
        parts.append(f"{_fmt(int(rows))} design row{'s' if int(rows) != 1 else ''}")
    if reps is not None:
        parts.append(f"{_fmt(int(reps))} replicates (seeds) per row and regime")
    runs = runs_text(m)
    if runs:
        parts.append(runs)
    seed = m.get("seed")
    text = "; ".join(parts) + "."
    if seed is not None:
        text += (f" Master seed {seed}; each run's seed derives from (master seed, design "
                 "row, replicate), the same for every regime (common random numbers).")
    params = _section(m, "params") or {}
    if params:
        text += f" Fixed parameters: {_params_text(params)}; others at their defaults."
    return text


def provenance_sentence(results: Results) -> str:
    """``Experiment demo-chaos; model ..., commit ...``."""
    return f"Experiment {results.name}; {commit_text(results.manifest)}."


def _pair_sentence(results: Results, pair: Sequence[str] | str | None) -> str:
    if not pair:
        return ""
    return (f"Δ is the paired difference {compared(results.manifest, pair)}, computed per "
            "replicate from runs with the same seed.")


# ------------------------------------------------------------------ one caption per figure
def series_caption(results: Results, kind: str, *, window: float | None = None,
                   smooth_days: int = 20, channel_days: int = 60) -> Caption:
    """Caption of ``vicious_cycle``, ``channel_mix`` or ``sales_time``."""
    warmup = (_section(results.manifest, "params") or {}).get("warmup_days")
    reps = results.manifest.get("replicates")
    regimes = list(_section(results.manifest, "regimes") or {})
    regime_list = "; ".join(f"{r} ({lb.regime_description(r) or 'as defined'})"
                            for r in regimes)
    warm = (f" The dotted vertical line ends the warm-up (day {_fmt(warmup)}); outputs are "
            "measured after it." if warmup else "")
    band = (f"Lines are the mean over {reps} replicates of each run's {smooth_days}-day "
            "rolling mean; bands span the 10th to 90th percentile of the replicates (the "
            "spread of single runs, not a confidence interval).")
    if kind == "vicious_cycle":
        title = "The vicious cycle over time, by regime"
        what = ("Panels: the planner's safety buffer; quoted (dashed) and actual (solid) "
                "lead time; on-time delivery over the planner's window"
                f"{f' of {_fmt(window)} days' if window else ''}; customers' mean trust; "
                "padding of requested dates; salespeople's autonomy.")
        sentences = [what, band]
    elif kind == "channel_mix":
        title = "Orders by channel, by regime"
        sentences = [
            f"Left panels: each run's orders per channel summed over a rolling "
            f"{channel_days}-day window and turned into shares, mean over {reps} replicates; "
            "channels differ in colour, line style and marker.",
            "Right panel: each channel's share of the orders placed after the warm-up, "
            f"mean over the {reps} replicates with its 95% t interval, one grey marker per "
            "regime.",
        ]
    else:
        title = "Salespeople's time by activity, and firefighting"
        sentences = [
            "Top: hours per day of the whole sales team by activity, stacked (mean over "
            f"{reps} replicates of each run's {smooth_days}-day rolling mean; lobbying and "
            "apologising hatched).",
            "Bottom: firefighting (lobbying plus apologising) on its own axis for every "
            "regime, mean with the 10th–90th percentile band of the replicates.",
        ]
    sentences += [warm.strip(), f"Regimes: {regime_list}." if regime_list else "",
                  design_text(results), provenance_sentence(results)]
    return Caption(title, [s for s in sentences if s])


def delta_caption(results: Results, output: str, factor: str, *,
                  pair: Sequence[str] | str | None, support: Support,
                  tipping: Mapping | None, levels: int, rows: int) -> Caption:
    """Caption of ``relationship_<output>_vs_<factor>``."""
    title = f"Δ {lb.short(output)} against {lb.factor(factor).name}"
    if rows == levels:
        what = ("Points: mean Δ over the replicates of each design row, with its 95% t "
                "interval over replicates.")
    elif levels <= 25:
        what = ("Points: mean Δ over the design rows at each level (the other factors vary "
                "over the design), with the 95% t interval across those rows.")
    else:
        what = ("Dots: mean Δ over replicates per design row (other factors vary); dark "
                "points: mean per tenth of the factor's range with 1.96 standard errors.")
    sentences = [what, _pair_sentence(results, pair), _tipping_sentence(support, tipping),
                 design_text(results), provenance_sentence(results)]
    return Caption(title, [s for s in sentences if s])


def _tipping_sentence(support: Support, tipping: Mapping | None) -> str:
    if tipping is None:
        return ""
    method = str(tipping.get("method", "logistic"))
    if not support.supported:
        return (f"No supported sign change is drawn: {support.reason}.")
    lo, hi, x = (float(tipping[k]) for k in ("ci_low", "ci_high", "threshold"))
    if method == "bisection":
        how = (f"The sign change lies in the final bisection bracket [{lo:.3g}, {hi:.3g}] "
               "(its ends are evaluated points whose mean Δ differs in sign beyond its 95% "
               f"interval); dashed: secant estimate {x:.3g}.")
        note = str(tipping.get("note") or "")
        if note and note != "nan":
            how += f" The bisection stopped because {note[:1].lower()}{note[1:]}."
    else:
        how = (f"Tipping point (dashed): P(Δ > 0) = ½ at {x:.3g}, 95% bootstrap interval "
               f"[{lo:.3g}, {hi:.3g}] (shaded), from a logistic regression of the sign of Δ "
               "on the factor over every pair.")
    sides = ""
    if support.below and support.above:
        sides = (f" Mean Δ below the interval {support.below.text()}; above it "
                 f"{support.above.text()}.")
    return how + sides


def bisection_caption(results: Results, output: str, factor: str, *,
                      pair: Sequence[str] | str | None, support: Support,
                      tipping: Mapping | None, points: int, replicates: Sequence[int],
                      where: str = "") -> Caption:
    """Caption of ``bisection_<output>_<factor>``."""
    title = f"Bisection of Δ {lb.short(output)} along {lb.factor(factor).name}"
    reps = sorted({int(r) for r in replicates if np.isfinite(r)})
    rep_text = (f"{reps[0]} to {reps[-1]}" if len(reps) > 1 else str(reps[0])) if reps else "?"
    params = _section(results.manifest, "params") or {}
    fixed = f" (fixed parameters: {_params_text(params)})" if params else ""
    held = f" Held for this bisection: {where}." if where else ""
    sentences = [
        f"{points} points evaluated along {lb.factor(factor).name} ({factor}){fixed} by "
        f"`relsim tipping`, with the other factors at the experiment's fixed values.{held}",
        "Top: mean Δ at each point in the order of evaluation, with its 95% t interval over "
        f"replicates; the number above each point is its replicates ({rep_text}; doubled "
        "while the sign of the mean was unresolved); open markers: sign unresolved.",
        "Bottom: the bracket around the sign change after each step (grey) and the point "
        "evaluated (marker).",
        _pair_sentence(results, pair), _tipping_sentence(support, tipping),
        f"Master seed {results.manifest.get('seed')}; point seeds derive from (seed, point, "
        "replicate), the same for both regimes.", provenance_sentence(results),
    ]
    return Caption(title, [s for s in sentences if s])


def sobol_caption(results: Results, target: str, title: str,
                  noise_share: float | None, pair: Sequence[str] | None,
                  delta: bool) -> Caption:
    """Caption of ``sobol_<target>``."""
    noise = ""
    if noise_share is not None and np.isfinite(noise_share):
        noise = (f"Replicate noise is {noise_share:.0%} of the variance of the design-row "
                 "means (near 0: the indices describe the factors; near 1: add replicates).")
    sentences = [
        "First-order (S1) and total (ST) Sobol indices of the mean over replicates per "
        "design row, sorted by ST, with 95% bootstrap intervals (SALib); factors by plain "
        "name.",
        "The axis spans [−0.1, 1.1]: estimates outside are written at the row's end and "
        "cut intervals end in a caret.",
        noise, _pair_sentence(results, pair) if delta else "",
        design_text(results), provenance_sentence(results),
    ]
    return Caption(f"Sobol indices: {title}", [s for s in sentences if s])


def morris_caption(results: Results, target: str, title: str, pair: Sequence[str] | None,
                   delta: bool) -> Caption:
    """Caption of ``morris_<target>``."""
    sentences = [
        "Morris elementary effects per full range of each factor: μ* (mean absolute "
        "effect) with its 95% bootstrap interval against σ (their spread); the dotted line "
        "is σ = μ* (above it effects change sign or interact).",
        _pair_sentence(results, pair) if delta else "", design_text(results),
        provenance_sentence(results),
    ]
    return Caption(f"Morris screening: {title}", [s for s in sentences if s])


def map_caption(results: Results, output: str, fx: str, fy: str, *,
                pair: Sequence[str] | str | None, levels: bool, rule: str, drawn: bool,
                agreement: float) -> Caption:
    """Caption of ``tipping_map_<output>``."""
    cells = ("Cells are the grid's level combinations" if levels else
             "Cells are equal-width bins of the two factors (the other factors vary within "
             "each cell)")
    line = ("The black line is Δ = 0 of the cell means smoothed over about one cell "
            f"({agreement:.0%} of the cells agree in sign with the smoothed map)." if drawn
            else "No Δ = 0 line is drawn (no supported sign change): it is drawn only where "
            "at least 80% of the cells agree in sign with the smoothed map"
            + (f" (here {agreement:.0%})." if np.isfinite(agreement) else "."))
    sentences = [
        f"Colour: mean Δ over the pairs in each cell. {cells}; hatched: cells with "
        f"{rule.replace('< ', 'fewer than ').replace(' in the cell', '')} (their mean rests "
        "on little data); grey: no design point. The axes span the factors' ranges.", line,
        _pair_sentence(results, pair), design_text(results), provenance_sentence(results),
    ]
    return Caption(f"Δ {lb.short(output)} over {lb.factor(fx).name} and {lb.factor(fy).name}",
                   [s for s in sentences if s])


def output_caption(results: Results, output: str, factor: str, rows) -> Caption:
    """Caption of ``output_<output>_vs_<factor>`` (experiments without a compared pair)."""
    data = rows.dropna(subset=["mean"]) if "mean" in rows else rows
    if "regime" in data:  # a regime "" (no regimes) reads back from CSV as NaN
        data = data.assign(regime=data["regime"].astype("string").fillna(""))
    per_level = (data.groupby("regime", dropna=False)[factor].nunique()
                 if factor in data and "regime" in data and len(data) else None)
    if per_level is not None and per_level.empty:
        per_level = None
    one_row = per_level is not None and len(data) == int(per_level.sum())
    if one_row and int(per_level.max()) <= 25:
        what = ("Points: mean over the replicates of each design row with its 95% t interval "
                "over replicates, one colour per regime.")
    elif per_level is not None and int(per_level.max()) <= 25:
        what = ("Points: mean over the design rows at each level (the other factors vary), "
                "with the 95% t interval across those rows, one colour per regime.")
    else:
        what = ("Dots: mean over replicates per design row (the other factors vary); larger "
                "points: mean per tenth of the factor's range with its 95% t interval, one "
                "colour per regime.")
    sentences = [what, design_text(results), provenance_sentence(results)]
    return Caption(f"{lb.short(output)[:1].upper()}{lb.short(output)[1:]} against "
                   f"{lb.factor(factor).name}", sentences)


def tipping_by_caption(results: Results, output: str, factor: str, by: str, *,
                       pair: Sequence[str] | str | None) -> Caption:
    """Caption of ``tipping_by_<stem>_<factor>__by_<F>`` (one bisection per level)."""
    sentences = [
        f"For each level of {lb.factor(by).name} ({by}), `relsim tipping --by` bisected "
        f"along {lb.factor(factor).name} ({factor}) to the sign change of the mean Δ: the "
        "secant estimate with the final bracket (its ends are evaluated points whose mean "
        "differs in sign beyond its 95% interval); a cross at the bottom marks a level "
        "without a sign change in the searched range.",
        _pair_sentence(results, pair),
        f"Master seed {results.manifest.get('seed')}; point seeds derive from (seed, point, "
        "replicate), the same for both regimes.", provenance_sentence(results),
    ]
    return Caption(f"Tipping point of Δ {lb.short(output)} along {lb.factor(factor).name} "
                   f"by {lb.factor(by).name}", [s for s in sentences if s])
