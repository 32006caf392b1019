"""Frozen result objects of the report: what was written, for which experiment, how fast."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .answer import ExperimentAnswer, answer_summary
from .figures import FigureResult
from .tables import Table

__all__ = ["ExperimentReport", "ReportResult", "TableOutput"]


@dataclass(frozen=True)
class TableOutput:
    """A rendered table and its files (``.md``, ``.csv``, ``.tex``)."""

    table: Table
    paths: tuple[Path, ...]


@dataclass(frozen=True)
class ExperimentReport:
    """One experiment of the report.

    Attributes
    ----------
    name, title, description, family : str
    seeds : int
        Seeds per cell of the empirical part.
    cells, ran, skipped : int
        Grid cells; computed in this run; found finished in the store.
    rows : int
        Rows of the tidy table.
    data : Path
        The tidy table as CSV.
    figures : tuple of FigureResult
    tables : tuple of TableOutput
    sweep_seconds, render_seconds : float
    config_path : Path or None
    answer : ExperimentAnswer or None
        n*(ε) of its routes (or why it has none), see :mod:`.answer`.
    """

    name: str
    title: str
    description: str
    family: str
    seeds: int
    cells: int
    ran: int
    skipped: int
    rows: int
    data: Path
    figures: tuple[FigureResult, ...] = ()
    tables: tuple[TableOutput, ...] = ()
    sweep_seconds: float = 0.0
    render_seconds: float = 0.0
    config_path: Path | None = None
    answer: ExperimentAnswer | None = None

    @property
    def findings(self) -> tuple[str, ...]:
        """Sentences computed from the numbers (empty without an answer)."""
        return self.answer.findings if self.answer is not None else ()


@dataclass(frozen=True)
class ReportResult:
    """What :func:`~finetune_bounds.report.build_report` produced.

    Attributes
    ----------
    html : Path
        The report page (``<out_dir>/index.html``).
    out_dir : Path
    store : str
        The SQLite store the results were read from.
    quick : bool
    experiments : tuple of ExperimentReport
    timing : mapping
        Wall-clock seconds: ``sweep`` (running/reading cells), ``render`` (tables, figures,
        HTML) and ``total``.
    answer_files : tuple of Path
        ``answer.md`` and ``answer.csv`` (the first section of the page, n*(ε)).
    """

    html: Path
    out_dir: Path
    store: str
    quick: bool
    experiments: tuple[ExperimentReport, ...]
    timing: Mapping[str, float] = field(default_factory=dict)
    answer_files: tuple[Path, ...] = ()

    @property
    def answers(self) -> tuple[ExperimentAnswer, ...]:
        """n*(ε) per experiment (see :mod:`.answer`)."""
        return tuple(e.answer for e in self.experiments if e.answer is not None)

    def answer_summary(self) -> str:
        """n*(ε) in a few plain-text lines (one per experiment with a sample-size curve)."""
        return answer_summary(self.answers)

    @property
    def figures(self) -> tuple[Path, ...]:
        """Every figure file written (PNG and SVG)."""
        return tuple(p for e in self.experiments for f in e.figures for p in f.paths)

    @property
    def tables(self) -> tuple[Path, ...]:
        """Every table file written (Markdown, CSV, LaTeX)."""
        return tuple(p for e in self.experiments for t in e.tables for p in t.paths)

    @property
    def data(self) -> tuple[Path, ...]:
        """The tidy CSV of each experiment."""
        return tuple(e.data for e in self.experiments)

    def summary(self) -> str:
        """A compact plain-text table: one line per experiment, then the totals."""
        head = (
            "experiment",
            "family",
            "cells",
            "run",
            "reused",
            "seeds",
            "rows",
            "figs",
            "tables",
            "seconds",
        )
        lines = [
            (
                e.name,
                e.family,
                str(e.cells),
                str(e.ran),
                str(e.skipped),
                str(e.seeds),
                str(e.rows),
                str(len(e.figures)),
                str(len(e.tables)),
                f"{e.sweep_seconds + e.render_seconds:.1f}",
            )
            for e in self.experiments
        ]
        widths = [max(len(r[i]) for r in [head, *lines]) for i in range(len(head))]

        def fmt(r: tuple[str, ...]) -> str:
            cells = [
                c.ljust(w) if i < 2 else c.rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            ]
            return "  ".join(cells).rstrip()

        t = self.timing
        total = (
            f"total {t.get('total', 0.0):.1f} s (sweep {t.get('sweep', 0.0):.1f} s, "
            f"render {t.get('render', 0.0):.1f} s)"
        )
        text = "\n".join([fmt(head), *(fmt(r) for r in lines), total])
        answer = self.answer_summary()
        return f"{text}\nthe answer, n*(ε) read off each grid:\n{answer}" if answer else text
