"""Tables for a paper: CSV (full precision) and LaTeX (booktabs, rounded).

The LaTeX writer is small and self-contained (no jinja2): a ``table`` float with a
caption, a label and a ``tabular`` using booktabs rules, values shown with
`SIGNIFICANT_DIGITS` significant digits.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

SIGNIFICANT_DIGITS = 3
_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}"}


#: Unicode in captions and cells and its LaTeX spelling (after escaping), so that the
#: tables and captions compile with pdfLaTeX too.
LATEX_UNICODE = {"Δ": r"$\Delta$", "−": r"$-$", "–": "--", "—": "---", "½": "1/2",
                 "≥": r"$\geq$", "≤": r"$\leq$", "×": r"$\times$", "±": r"$\pm$",
                 "μ": r"$\mu$", "σ": r"$\sigma$", "’": "'", "′": "'", "≈": r"$\approx$",
                 "→": r"$\rightarrow$"}


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters in plain text (and spell its few Unicode symbols)."""
    out = "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))
    for char, tex in LATEX_UNICODE.items():
        out = out.replace(char, tex)
    return out


def format_value(value) -> str:
    """Format one cell: numbers to `SIGNIFICANT_DIGITS` digits, NaN as an en dash."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            return "--"
        if isinstance(value, int) or float(value).is_integer() and abs(value) < 1e6:
            return f"{int(value)}"
        return f"{value:.{SIGNIFICANT_DIGITS}g}"
    return latex_escape(value)


def to_latex(frame: pd.DataFrame, caption: str, label: str) -> str:
    """Render ``frame`` as a LaTeX booktabs table."""
    align = "".join("r" if pd.api.types.is_numeric_dtype(frame[c]) else "l"
                    for c in frame.columns)
    lines = [r"\begin{table}[htbp]", r"\centering", r"\small",
             rf"\caption{{{latex_escape(caption)}}}", rf"\label{{{label}}}",
             rf"\begin{{tabular}}{{{align}}}", r"\toprule",
             " & ".join(latex_escape(c) for c in frame.columns) + r" \\", r"\midrule"]
    for row in frame.itertuples(index=False):
        lines.append(" & ".join(format_value(v) for v in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(lines)


def write_table(frame: pd.DataFrame, directory: Path, stem: str, caption: str,
                latex_columns: list[str] | None = None) -> list[Path]:
    """Write ``stem.csv`` (every column) and ``stem.tex`` under ``directory``.

    Args:
        frame: The table.
        directory: Where to write.
        stem: File name without extension (also the LaTeX label ``tab:<stem>``).
        caption: The LaTeX caption.
        latex_columns: The columns the LaTeX table shows (default: all); the CSV keeps
            every column, including long notes that would not fit a printed table.

    Returns:
        The paths of the CSV and LaTeX files.
    """
    directory.mkdir(parents=True, exist_ok=True)
    csv_path, tex_path = directory / f"{stem}.csv", directory / f"{stem}.tex"
    frame.to_csv(csv_path, index=False)
    shown = frame if latex_columns is None else frame[
        [c for c in latex_columns if c in frame.columns]]
    tex_path.write_text(to_latex(shown, caption, f"tab:{stem}"))
    return [csv_path, tex_path]
