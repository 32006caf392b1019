"""Summary tables: a tidy frame + a ``[[table]]`` spec → Markdown, CSV and LaTeX.

The values are summarised over seeds with :func:`finetune_bounds.records.summarize` (mean,
standard error = sample std / √count, count), then pivoted: rows = the spec's ``index`` (plus any
column that still distinguishes rows), columns = ``quantity`` × the spec's ``columns``. A cell
shows ``mean ± stderr`` for measurements (source ``empirical``, more than one seed) and for any
value that carries a standard error of its own (a Monte Carlo ``theory`` row's ``stderr``), and
the plain value otherwise (exact ``theory`` and ``bound`` rows, a single seed).

Headers and row keys speak the vocabulary of :mod:`finetune_bounds.report.labels` (``"frozen
layers = 0 · theory"``, ``"n*(ε) · from scratch · bound (worst case)"``, a rate as ``"rate
(benign)"``). Values below the round-off floor of their quantity
(:func:`~finetune_bounds.report.labels.roundoff_floor`) are printed as ``0``, standard errors
below it too; integer quantities (n*, iterations) are printed as integers when they are integral.

The CSV is the machine-readable form: one row per table cell with numeric ``mean``, ``stderr`` and
``count`` columns (long format, keys first).
"""

from __future__ import annotations

import html
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, InvalidInputError
from ..records import summarize
from ._frame import (
    apply_filters,
    check_frame,
    display_key,
    norm,
    select,
    sort_rank,
    splitting_columns,
)
from .labels import (
    INTEGER_QUANTITIES,
    column_label,
    is_roundoff,
    quantity_label,
    roundoff_floor,
    series_label,
    value_label,
)
from .specs import TableSpec

__all__ = ["Table", "TableCell", "build_table", "latex_escape", "write_table_files"]

Key = tuple[Any, ...]


@dataclass(frozen=True)
class TableCell:
    """One table cell: the summary over seeds of one group of rows."""

    mean: float
    stderr: float
    count: int
    source: str
    quantity: str = ""

    @property
    def with_error(self) -> bool:
        """Whether the cell is shown as ``mean ± stderr``: a measurement over several seeds, or
        any value that carries a standard error > 0 of its own (a randomised theory value)."""
        if not math.isfinite(self.mean):
            return False
        if self.source == "empirical" and self.count > 1:
            return True
        return self.stderr > 0  # False for NaN


@dataclass(frozen=True)
class Table:
    """A pivoted summary table, renderable as Markdown, LaTeX, HTML or plain text.

    Attributes
    ----------
    title : str
    index : tuple of str
        Row key names (the spec's index, then :attr:`auto_index`).
    column_keys : tuple of str
        Column key names: ``quantity`` (left out of the header when the table shows a single
        quantity) and the spec's columns.
    rows, columns : tuple of tuples
        Key values of each row / column, in display order.
    cells : mapping
        ``(row, column) → TableCell``; missing combinations are blank.
    summary : pandas.DataFrame
        Long form: key columns, then ``mean, stderr, count`` (what the CSV holds).
    auto_index : tuple of str
        Row keys added because they distinguish rows the spec's index did not.
    digits : int
        Significant digits of the means.
    """

    title: str
    index: tuple[str, ...]
    column_keys: tuple[str, ...]
    rows: tuple[Key, ...]
    columns: tuple[Key, ...]
    cells: Mapping[tuple[Key, Key], TableCell]
    summary: Any
    auto_index: tuple[str, ...] = ()
    digits: int = 4
    #: round-off floor of each quantity (values below it are printed as 0)
    floors: Mapping[str, float] = field(default_factory=dict)

    # ------------------------------------------------------------------ labels
    def column_label(self, col: Key) -> str:
        """Header of a column from the vocabulary: ``"frozen layers = 0 · theory"``, ``"n*(ε) ·
        from scratch · bound (worst case)"`` (the quantity left out when it is the only one)."""
        row = {k: norm(v) for k, v in zip(self.column_keys, col, strict=True)}
        keys = [k for k in self.column_keys if not (k == "quantity" and self._single_quantity)]
        return series_label(row, keys) or quantity_label(row.get("quantity")) or "value"

    @property
    def index_labels(self) -> list[str]:
        """Headers of the row keys (``"n (target samples)"``, ``"frozen layers"``)."""
        return [column_label(k) for k in self.index]

    @property
    def _single_quantity(self) -> bool:
        return len({c[0] for c in self.columns}) == 1

    @property
    def quantities(self) -> tuple[str, ...]:
        """The quantities shown, in column order."""
        return tuple(dict.fromkeys(str(c[0]) for c in self.columns))

    @property
    def caption(self) -> str:
        """Title, plus the quantity when the header leaves it out."""
        if self._single_quantity and self.columns:
            qid = self.quantities[0]
            q = quantity_label(qid)
            if not self.title:
                return q
            named = qid.lower() in self.title.lower() or q.lower() in self.title.lower()
            return self.title if named else f"{self.title} ({q})"
        return self.title

    def format_cell(self, cell: TableCell | None, style: str = "text") -> str:
        """A cell as text: ``mean ± stderr`` or the plain value (``style``: text/latex)."""
        if cell is None:
            return ""
        floor = self.floors.get(cell.quantity, roundoff_floor([]))
        value = 0.0 if is_roundoff(cell.mean, floor) else cell.mean
        stderr = 0.0 if is_roundoff(cell.stderr, floor) else cell.stderr
        integer = cell.quantity in INTEGER_QUANTITIES and math.isfinite(value)
        if integer and float(value).is_integer() and not stderr > 0:
            mean = str(int(value))
        else:
            mean = _number(value, self.digits, style)
        if not (cell.with_error and stderr > 0) and not (value == 0 and cell.with_error):
            if integer and not float(value).is_integer():
                mean += " (mean)"  # a mean over draws without a standard error
            return mean if style == "text" else f"${mean}$"
        err = _number(stderr, 2, style)
        return f"{mean} ± {err}" if style == "text" else f"${mean} \\pm {err}$"

    # ------------------------------------------------------------------ renderers
    def to_frame(self) -> Any:
        """The table as displayed: a DataFrame of strings (row keys as leading columns)."""
        import pandas as pd

        data = []
        for row in self.rows:
            line = [_key_text(k, v) for k, v in zip(self.index, row, strict=True)]
            line += [self.format_cell(self.cells.get((row, col))) for col in self.columns]
            data.append(line)
        cols = [*self.index_labels, *(self.column_label(c) for c in self.columns)]
        return pd.DataFrame(data, columns=cols)

    def to_markdown(self) -> str:
        """A GitHub-flavoured Markdown table, preceded by the caption in bold."""
        header = [*self.index_labels, *(self.column_label(c) for c in self.columns)]
        lines = [
            "| " + " | ".join(_md_escape(h) for h in header) + " |",
            "|" + "|".join(["---"] * len(self.index) + ["--:"] * len(self.columns)) + "|",
        ]
        for row in self.rows:
            cells = [_key_text(k, v) for k, v in zip(self.index, row, strict=True)]
            cells += [self.format_cell(self.cells.get((row, c))) for c in self.columns]
            lines.append("| " + " | ".join(_md_escape(c) for c in cells) + " |")
        head = f"**{_md_escape(self.caption)}**\n\n" if self.caption else ""
        notes = "".join(f"\n{_md_escape(n)}\n" for n in self.notes)
        return head + "\n".join(lines) + "\n" + notes

    def to_latex(self, label: str = "") -> str:
        """A booktabs ``table`` float (needs ``\\usepackage{booktabs}``); text is escaped."""
        align = "l" * len(self.index) + "r" * len(self.columns)
        header = [*self.index_labels, *(self.column_label(c) for c in self.columns)]
        out = [
            "\\begin{table}[ht]",
            "\\centering",
        ]
        if self.caption:
            out.append(f"\\caption{{{latex_escape(self.caption)}}}")
        if label:
            out.append(f"\\label{{{re.sub(r'[^A-Za-z0-9:_-]', '_', label)}}}")
        out += [
            f"\\begin{{tabular}}{{{align}}}",
            "\\toprule",
            " & ".join(latex_escape(h) for h in header) + " \\\\",
            "\\midrule",
        ]
        for row in self.rows:
            cells = [latex_escape(_key_text(k, v)) for k, v in zip(self.index, row, strict=True)]
            cells += [self.format_cell(self.cells.get((row, c)), "latex") for c in self.columns]
            out.append(" & ".join(cells) + " \\\\")
        out += ["\\bottomrule", "\\end{tabular}"]
        for n in self.notes:
            out.append(f"\\par\\smallskip{{\\footnotesize {latex_escape(n)}}}")
        out.append("\\end{table}")
        return "\n".join(out) + "\n"

    def to_html(self) -> str:
        """An HTML ``<table>`` fragment (text escaped; numbers right-aligned)."""
        e = html.escape
        head = "".join(f'<th scope="col">{e(h)}</th>' for h in self.index_labels)
        head += "".join(
            f'<th scope="col" class="num">{e(self.column_label(c))}</th>' for c in self.columns
        )
        body = []
        for row in self.rows:
            tds = "".join(
                f'<th scope="row">{e(_key_text(k, v))}</th>'
                for k, v in zip(self.index, row, strict=True)
            )
            tds += "".join(
                f'<td class="num">{e(self.format_cell(self.cells.get((row, c))))}</td>'
                for c in self.columns
            )
            body.append(f"<tr>{tds}</tr>")
        cap = f"<caption>{e(self.caption)}</caption>" if self.caption else ""
        return (
            f'<table class="results">{cap}<thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>"
        )

    def to_text(self) -> str:
        """A plain-text table (for a terminal)."""
        frame = self.to_frame()
        return str(frame.to_string(index=False)) if len(frame) else "(empty)"

    @property
    def notes(self) -> tuple[str, ...]:
        """Remarks shown under the table (e.g. row keys added automatically)."""
        out = []
        if self.auto_index:
            out.append(
                "Rows also split by "
                + ", ".join(column_label(k) for k in self.auto_index)
                + " (not in the table's index but distinguishing rows)."
            )
        if any(c.source == "empirical" for c in self.cells.values()):
            out.append("Empirical cells: mean ± standard error over seeds.")
        if any(c.source != "empirical" and c.with_error for c in self.cells.values()):
            out.append(
                "Theory and bound cells with ±: a randomised value (e.g. Monte Carlo) ± its own "
                "standard error."
            )
        if any(self._below_floor(c) for c in self.cells.values()):
            out.append(
                "0: an exact zero up to round-off (|value| < 10⁻¹² × the quantity's largest "
                "|value|, or < 10⁻¹⁵); the CSV keeps the raw numbers."
            )
        return tuple(out)

    def _below_floor(self, cell: TableCell) -> bool:
        return is_roundoff(cell.mean, self.floors.get(cell.quantity, roundoff_floor([])))


#: key columns whose values are ids shown by their label (others: numbers, names as they are)
_LABELLED_KEYS = ("quantity", "source", "method", "start", "protocol", "readout")


def _key_text(column: str, value: Any) -> str:
    """A row key value as shown: a method / start / protocol … by its label, else as is."""
    if column in _LABELLED_KEYS and isinstance(norm(value), str):
        return value_label(column, value)
    return display_key(value)


def _number(v: float, digits: int, style: str) -> str:
    if math.isinf(v):
        if style == "latex":
            return "\\infty" if v > 0 else "-\\infty"
        return "inf" if v > 0 else "-inf"
    return f"{v:.{digits}g}"


_MD_TAG = re.compile(r"<(?=[A-Za-z/!?])")  # "<" that would open raw HTML in Markdown


def _md_escape(text: str) -> str:
    """Text for a Markdown table cell or caption: pipes and backslashes escaped, one line, and
    no raw HTML (a title ``<script>`` is shown as text, as the HTML page does)."""
    text = text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
    return _MD_TAG.sub("&lt;", text)


# characters LaTeX treats specially, and a few Unicode symbols common in our titles
_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
}
_LATEX_UNICODE = {
    "±": r"$\pm$",
    "×": r"$\times$",
    "·": r"$\cdot$",
    "−": "-",
    "–": "--",
    "—": "---",
    "≤": r"$\leq$",
    "≥": r"$\geq$",
    "≈": r"$\approx$",
    "∞": r"$\infty$",
    "√": r"$\surd$",
    "→": r"$\to$",
    "‖": r"$\|$",
    "ᵀ": r"$^{\top}$",
    "²": r"$^{2}$",
    "³": r"$^{3}$",
    "₀": r"$_{0}$",
    "₁": r"$_{1}$",
    "₂": r"$_{2}$",
    "α": r"$\alpha$",
    "β": r"$\beta$",
    "γ": r"$\gamma$",
    "δ": r"$\delta$",
    "Δ": r"$\Delta$",
    "ε": r"$\varepsilon$",
    "η": r"$\eta$",
    "θ": r"$\theta$",
    "κ": r"$\kappa$",
    "λ": r"$\lambda$",
    "μ": r"$\mu$",
    "ξ": r"$\xi$",
    "π": r"$\pi$",
    "ρ": r"$\rho$",
    "σ": r"$\sigma$",
    "Σ": r"$\Sigma$",
    "τ": r"$\tau$",
    "φ": r"$\phi$",
    "ψ": r"$\psi$",
    "ω": r"$\omega$",
}


def latex_escape(text: str) -> str:
    """Escape LaTeX special characters (``\\ & % $ # _ { } ~ ^ < >``) and spell a few common
    Unicode math symbols (Greek letters, ``± ≤ ≥ ‖ ᵀ ²`` …) as LaTeX so pdflatex accepts them."""
    if not isinstance(text, str):
        raise InvalidInputError(f"text must be a string, got {type(text).__name__}: {text!r:.60}")
    return "".join(_LATEX_SPECIAL.get(ch) or _LATEX_UNICODE.get(ch) or ch for ch in text)


def build_table(frame: Any, spec: TableSpec | Mapping[str, Any], where: str = "table") -> Table:
    """Summarise a tidy frame over seeds and pivot it as ``spec`` says.

    Parameters
    ----------
    frame : pandas.DataFrame
        Tidy results (``quantity, source, value`` and key columns; ``seed`` optional).
    spec : TableSpec or dict
        A ``[[table]]`` entry.
    where : str
        Prefix of error messages (e.g. ``"linear_power_law: table 1"``).

    Returns
    -------
    Table

    Raises
    ------
    ConfigError
        Unknown keys in the spec, a column or quantity absent from the frame, NaN values.
    """
    if not isinstance(spec, TableSpec):
        spec = TableSpec.from_dict(spec, where)
    check_frame(frame, where)
    if spec.where:
        frame = apply_filters(frame, spec.where, where)
    sub = select(frame, spec.quantities, [*spec.index, *spec.columns], where)
    col_keys = ("quantity", *spec.columns)
    keys = [*spec.index, *col_keys]
    auto = splitting_columns(sub, keys)
    index = (*spec.index, *auto)
    by = [*index, *col_keys]
    if "source" not in by:  # never splits further (else it would be in `auto`), but tells style
        by.append("source")
    summary = summarize(sub, by=by)
    qorder = list(spec.quantities or dict.fromkeys(sub["quantity"]))
    cells: dict[tuple[Key, Key], TableCell] = {}
    rows: dict[Key, None] = {}
    cols: dict[Key, None] = {}
    for rec in summary.to_dict(orient="records"):
        row = tuple(norm(rec[k]) for k in index)
        col = tuple(norm(rec[k]) for k in col_keys)
        if (row, col) in cells:  # pragma: no cover - excluded by splitting_columns
            raise ConfigError(f"{where}: two summary rows fall in one cell {row}, {col}")
        cells[(row, col)] = TableCell(
            float(rec["mean"]),
            float(rec["stderr"]),
            int(rec["count"]),
            str(rec["source"]),
            str(rec["quantity"]),
        )
        rows[row] = None
        cols[col] = None
    row_order = sorted(rows, key=lambda r: [sort_rank(k, v) for k, v in zip(index, r, strict=True)])
    col_order = sorted(
        cols,
        key=lambda c: [
            sort_rank(k, v, qorder if k == "quantity" else ())
            for k, v in zip(col_keys, c, strict=True)
        ],
    )
    long = _long_form(index, col_keys, row_order, col_order, cells)
    return Table(
        title=spec.title,
        index=index,
        column_keys=col_keys,
        rows=tuple(row_order),
        columns=tuple(col_order),
        cells=cells,
        summary=long,
        auto_index=tuple(auto),
        digits=spec.digits,
        floors={
            str(q): roundoff_floor(c.mean for c in cells.values() if c.quantity == str(q))
            for q in dict.fromkeys(col[0] for col in cols)
        },
    )


def _long_form(
    index: tuple[str, ...],
    col_keys: tuple[str, ...],
    rows: list[Key],
    cols: list[Key],
    cells: Mapping[tuple[Key, Key], TableCell],
) -> Any:
    """The CSV form: one row per cell in display order, keys (and ``source`` when it is not a
    key) then ``mean, stderr, count``."""
    import pandas as pd

    extra_source = "source" not in (*index, *col_keys)
    long_rows = []
    for row in rows:
        for col in cols:
            cell = cells.get((row, col))
            if cell is None:
                continue
            entry = dict(zip(index, row, strict=True)) | dict(zip(col_keys, col, strict=True))
            if extra_source:
                entry["source"] = cell.source
            long_rows.append(
                entry | {"mean": cell.mean, "stderr": cell.stderr, "count": cell.count}
            )
    long_cols = [
        *index,
        *col_keys,
        *(["source"] if extra_source else []),
        "mean",
        "stderr",
        "count",
    ]
    return pd.DataFrame(long_rows, columns=long_cols)


def write_table_files(table: Table, stem: str | Path, label: str = "") -> tuple[Path, ...]:
    """Write ``<stem>.md``, ``<stem>.csv`` (long form, numeric) and ``<stem>.tex``."""
    if not isinstance(table, Table):
        raise InvalidInputError(f"table must be a Table (build_table), got {table!r:.60}")
    if not isinstance(stem, str | os.PathLike) or not str(stem):
        raise InvalidInputError(f"stem must be a file path stem (str or Path), got {stem!r}")
    if not isinstance(label, str):
        raise InvalidInputError(f"label must be a string, got {label!r}")
    stem = Path(stem)
    md, csv, tex = (stem.with_name(stem.name + s) for s in (".md", ".csv", ".tex"))
    md.write_text(table.to_markdown(), encoding="utf-8")
    table.summary.to_csv(csv, index=False)
    tex.write_text(table.to_latex(label or f"tab:{stem.name}"), encoding="utf-8")
    return md, csv, tex
