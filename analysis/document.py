"""The results document: `relsim report DIR --document`.

One self-contained document per results directory, regenerated from the stored results
alone (no simulation, no clock: the same stored results give the same document):

* ``DIR/results.md``: Markdown, the figures linked as ``figures/<stem>.png``;
* ``DIR/results.html``: standalone HTML (one file, the PNGs embedded as base64, a small
  print style sheet), to read in a browser or print to PDF from it.

Contents: a methods paragraph per experiment generated from its manifest (model and
commit, design, seeds, regimes, software versions) and how the numbers were computed;
then per experiment its figures with captions; the key tables (KPIs by regime, paired
differences, sensitivity rankings, tipping points with intervals and whether each is a
supported crossing).

Why HTML rather than PDF: a PDF renderer that installs from PyPI alone either needs system
libraries (WeasyPrint: Pango) or lays out text by hand (fpdf2, reportlab); a standalone
HTML file has no dependency, keeps the tables as text, and any browser prints it to PDF.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from relsim.analysis import captions as cp
from relsim.analysis import labels as lb
from relsim.analysis.io import Results, _section

if TYPE_CHECKING:  # pragma: no cover
    from relsim.analysis.report import ReportResult, TableEntry

MARKDOWN_NAME = "results.md"
HTML_NAME = "results.html"
#: Software whose versions the methods paragraph names, in this order (when recorded).
SOFTWARE = ("python", "relsim", "mesa", "numpy", "scipy", "pandas", "SALib", "pyarrow",
            "dask")
#: Rows of a ranking table shown in the document (the CSV files keep every row).
MAX_RANKING_ROWS = 12
#: Resolution of the report's PNG files, and how much larger than print the HTML shows them.
PNG_DPI = 300
SCREEN_SCALE = 1.4
#: Significant digits of numbers in the document's tables.
DIGITS = 3

STYLE = """
body { font-family: Georgia, 'DejaVu Serif', serif; max-width: 52em; margin: 2em auto;
       padding: 0 1em; line-height: 1.45; color: #222; }
h1, h2, h3 { font-family: 'DejaVu Sans', Helvetica, Arial, sans-serif; }
figure { margin: 1.5em 0; page-break-inside: avoid; }
figure img { max-width: 100%; }
figcaption { font-size: 0.9em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1.5em 0; }
th, td { padding: 0.2em 0.6em; text-align: right; }
th { border-bottom: 1px solid #444; }
thead tr { border-top: 2px solid #444; }
tbody tr:last-child td { border-bottom: 2px solid #444; }
td.text, th.text { text-align: left; }
p.tablecaption { font-size: 0.9em; margin-bottom: 0.2em; }
code { font-size: 0.9em; }
@media print { body { max-width: none; } }
"""


# ------------------------------------------------------------------ blocks
class _Doc:
    """A document as blocks, rendered to Markdown and to HTML."""

    def __init__(self) -> None:
        self.blocks: list[tuple] = []

    def heading(self, level: int, text: str) -> None:
        self.blocks.append(("h", level, text))

    def para(self, text: str) -> None:
        self.blocks.append(("p", text))

    def figure(self, png: Path, rel: str, caption: cp.Caption, stem: str) -> None:
        self.blocks.append(("fig", png, rel, caption, stem))

    def table(self, frame: pd.DataFrame, caption: str) -> None:
        self.blocks.append(("table", frame, caption))

    def markdown(self) -> str:
        out = []
        for block in self.blocks:
            kind = block[0]
            if kind == "h":
                out.append(f"{'#' * block[1]} {block[2]}")
            elif kind == "p":
                out.append(block[1])
            elif kind == "fig":
                _, _, rel, caption, stem = block
                out.append(f"![{caption.title}]({rel})\n\n*Figure `{stem}`.* "
                           f"{caption.markdown()}")
            else:
                _, frame, caption = block
                out.append(f"{caption}\n\n{_markdown_table(frame)}")
        return "\n\n".join(out) + "\n"

    def html(self, title: str) -> str:
        body = []
        for block in self.blocks:
            kind = block[0]
            if kind == "h":
                body.append(f"<h{block[1]}>{_inline(block[2])}</h{block[1]}>")
            elif kind == "p":
                body.append(f"<p>{_inline(block[1])}</p>")
            elif kind == "fig":
                _, png, _, caption, stem = block
                raw = png.read_bytes()
                data = base64.b64encode(raw).decode("ascii")
                width = int.from_bytes(raw[16:20], "big") / PNG_DPI * SCREEN_SCALE
                body.append(
                    f'<figure id="{html.escape(stem)}"><img alt="{html.escape(caption.title)}"'
                    f' style="width: {width:.2f}in" src="data:image/png;base64,{data}">'
                    "<figcaption><em>Figure "
                    f"<code>{html.escape(stem)}</code>.</em> {_inline(caption.markdown())}"
                    "</figcaption></figure>")
            else:
                _, frame, caption = block
                body.append(f'<p class="tablecaption">{_inline(caption)}</p>'
                            f"{_html_table(frame)}")
        return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
                "<body>\n" + "\n".join(body) + "\n</body></html>\n")


def _inline(text: str) -> str:
    """Escape text for HTML and render the Markdown the document uses: **b**, *i*, `c`."""
    out = html.escape(text, quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"(?<![\w*])\*([^*]+)\*(?![\w*])", r"<em>\1</em>", out)


def _cell(value) -> str:
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value)}"
    if isinstance(value, float | np.floating):
        if not np.isfinite(value):
            return "–"
        if float(value).is_integer() and abs(value) < 1e6:
            return f"{int(value)}"
        return f"{value:.{DIGITS}g}"
    text = "" if value is None else str(value)
    return "" if text == "nan" else text


def _markdown_table(frame: pd.DataFrame) -> str:
    head = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" if not pd.api.types.is_numeric_dtype(frame[c]) else "---:"
                          for c in frame.columns) + "|"
    rows = ["| " + " | ".join(_cell(v).replace("|", "\\|") for v in row) + " |"
            for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *rows])


def _html_table(frame: pd.DataFrame) -> str:
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns]
    head = "".join(f'<th class="{"num" if n else "text"}">{html.escape(str(c))}</th>'
                   for c, n in zip(frame.columns, numeric, strict=True))
    rows = []
    for row in frame.itertuples(index=False):
        cells = "".join(f'<td class="{"num" if n else "text"}">{html.escape(_cell(v))}</td>'
                        for v, n in zip(row, numeric, strict=True))
        rows.append(f"<tr>{cells}</tr>")
    return (f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody>"
            "</table>")


# ------------------------------------------------------------------ methods
def software_text(manifest: dict) -> str:
    """``Python 3.11.7, relsim 0.1.0, Mesa 3.3.1, ...`` from the manifest's provenance."""
    versions = (manifest.get("provenance") or {}).get("versions") or {}
    names = {"python": "Python", "mesa": "Mesa", "numpy": "NumPy", "scipy": "SciPy",
             "pandas": "pandas", "pyarrow": "PyArrow", "dask": "Dask"}
    parts = [f"{names.get(k, k)} {versions[k]}" for k in SOFTWARE if versions.get(k)]
    return ", ".join(parts) if parts else "software versions not recorded"


def methods_paragraph(results: Results) -> str:
    """The methods paragraph of one experiment, from its manifest alone."""
    m = results.manifest
    times = m.get("times") or {}
    when = f", finished {times['finished']}" if times.get("finished") else ""
    text = [f"**{results.name}** ({cp.commit_text(m)}{when}; {software_text(m)})."]
    description = (_section(m, "description") or "").strip()
    if description:
        text.append(description.rstrip(".") + ".")
    text.append(cp.design_text(results))
    regimes = _section(m, "regimes") or {}
    if regimes:
        listed = "; ".join(
            f"{name} ({', '.join(f'{lb.factor(k).name} = {v:g}' for k, v in (o or {}).items())})"
            if o else name for name, o in regimes.items())
        text.append(f"Regimes: {listed}.")
    return " ".join(text)


def analysis_paragraph(experiments: list[Results]) -> str:
    """How the numbers were computed: one paragraph for every experiment of the document."""
    kinds = {r.design_kind for r in experiments}
    paired = [r for r in experiments if r.comparisons]
    text = []
    if paired:
        pairs = sorted({f"{name} = {a} − {b}" if name != "delta" else f"{a} − {b}"
                        for r in paired for name, (a, b) in r.comparisons.items()})
        text.append(f"Paired differences Δ ({'; '.join(pairs)}) are taken per replicate "
                    "between runs with the same seed (common random numbers) and "
                    "summarised per design row by the mean and a 95% t interval over "
                    "replicates; a contrast is the difference of two such differences.")
    if "sobol" in kinds:
        text.append("Sobol' indices (SALib) decompose the variance of each design row's "
                    "mean over replicates, with 95% bootstrap intervals; the replicate "
                    "noise share is the part of that variance due to seed noise.")
    if "morris" in kinds:
        text.append("Morris elementary effects (SALib) are computed on each design row's "
                    "mean over replicates; μ* with 95% bootstrap intervals.")
    if any(r.factors for r in paired):
        text.append("Tipping points: a logistic regression of the sign of Δ on each factor "
                    "over every pair gives where P(Δ > 0) = ½, with a seeded percentile "
                    "bootstrap interval (design rows resampled when other factors vary); "
                    "`relsim tipping` refines a crossing by bisection, doubling a point's "
                    "replicates until the sign of its mean is resolved. A tipping point is "
                    "reported as supported only when its interval lies inside the factor's "
                    "range and the mean Δ on either side differs in sign beyond its 95% "
                    "interval; figures draw only supported ones.")
    return " ".join(text)


# ------------------------------------------------------------------ assembly
def _ranking(frame: pd.DataFrame, sort: str) -> pd.DataFrame:
    out = frame.sort_values(sort, ascending=False).head(MAX_RANKING_ROWS).copy()
    if "factor" in out.columns:
        out.insert(1, "name", [lb.factor(f).name for f in out["factor"]])
    return out


def _key_tables(entries: list[TableEntry]) -> list[tuple[pd.DataFrame, str]]:
    """The tables the document shows, in order: KPIs, deltas, rankings, tipping points."""
    shown = []
    order = {"regimes": 0, "delta": 1, "sobol": 2, "morris": 2, "tipping": 3}
    has_delta = any(e.kind == "sobol" and "indices of Δ" in e.caption for e in entries)
    for entry in sorted(entries, key=lambda e: order.get(e.kind, 9)):
        if entry.kind not in order:
            continue
        frame = entry.frame
        caption = f"*Table `{entry.stem}`.* {entry.caption}"
        if entry.kind == "sobol":
            if has_delta and "indices of Δ" not in entry.caption:
                continue  # per-regime rankings stay in tables/; the deltas are the question
            cols = [c for c in ("factor", "ST", "ST_conf", "S1", "S1_conf") if c in frame]
            frame = _ranking(frame[cols], "ST")
            caption += " Ranked by total index ST."
        elif entry.kind == "morris":
            frame = _ranking(frame, "mu_star")
            caption += " Ranked by μ*."
        elif entry.kind == "tipping":
            cols = [c for c in ("factor", "method", "threshold", "ci_low", "ci_high",
                                "direction", "supported", "note") if c in frame]
            frame = frame[cols]
        elif entry.kind == "delta":
            frame = frame.drop(columns=[c for c in ("sd",) if c in frame])
        shown.append((frame, caption))
    return shown


def build(root: Path, report: ReportResult) -> _Doc:
    """Assemble the document's blocks from a finished report."""
    doc = _Doc()
    names = [r.name for r in report.experiments]
    doc.heading(1, "Results: " + ", ".join(names))
    doc.para(f"Generated by `relsim report {root} --document` from the stored results "
             "alone; every number below is read from the stored runs and their analysis, "
             "and running the command again on the same results gives the same document. "
             "Intervals are 95%; Δ is a paired difference between regimes under common "
             "random numbers.")
    doc.heading(2, "Methods")
    for results in report.experiments:
        doc.para(methods_paragraph(results))
    analysis = analysis_paragraph(report.experiments)
    if analysis:
        doc.para(f"**Analysis.** {analysis}")
    if report.warnings:
        doc.para("Not drawn: " + "; ".join(report.warnings) + ".")
    for results in report.experiments:
        doc.heading(2, f"Experiment {results.name}")
        for entry in (e for e in report.entries if e.experiment == results.name):
            rel = entry.png.relative_to(root).as_posix() if entry.png.is_relative_to(
                root) else entry.png.as_posix()
            doc.figure(entry.png, rel, entry.caption, entry.stem)
        tables = _key_tables([e for e in report.table_entries
                              if e.experiment == results.name])
        if tables:
            doc.heading(3, "Tables")
            for frame, caption in tables:
                doc.table(frame, caption)
    return doc


def write_document(root: Path, report: ReportResult) -> list[Path]:
    """Write ``results.md`` and the standalone ``results.html`` under ``root``."""
    root = Path(root)
    doc = build(root, report)
    md, page = root / MARKDOWN_NAME, root / HTML_NAME
    md.write_text(doc.markdown())
    title = "Results: " + ", ".join(r.name for r in report.experiments)
    page.write_text(doc.html(title))
    return [md, page]
