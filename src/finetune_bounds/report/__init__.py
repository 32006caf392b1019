"""The report: experiment configs → sweeps → tables (Markdown/CSV/LaTeX), figures (PNG/SVG) and
one self-contained HTML page.

>>> from finetune_bounds.report import build_report
>>> result = build_report(["configs/linear_power_law.toml"], "reports/quick",
...                       quick=True)                                      # doctest: +SKIP
>>> print(result.html)                                                     # doctest: +SKIP
reports/quick/index.html

The renderers work on any tidy frame (columns ``quantity, source, value`` plus keys, one row per
measurement; see :mod:`finetune_bounds.records`): :func:`build_table` and :func:`plot_figure`
take a ``[[table]]``/``[[figure]]`` spec as a dict; a figure is ``kind = "lines"`` (default) or
``kind = "heatmap"`` (a quantity over two parameters, with an optional centre, contour lines, or
named categories for a regime map). See ``docs/report.md``.
"""

from __future__ import annotations

from .build import build_report, render_experiment
from .figures import DrawnFigure, FigureResult, draw_figure, plot_figure
from .html import render_html
from .results import ExperimentReport, ReportResult, TableOutput
from .specs import FigureSpec, HeatmapSpec, TableSpec, figure_spec_from_dict
from .tables import Table, TableCell, build_table, latex_escape, write_table_files

__all__ = [
    "DrawnFigure",
    "ExperimentReport",
    "FigureResult",
    "FigureSpec",
    "HeatmapSpec",
    "ReportResult",
    "Table",
    "TableCell",
    "TableOutput",
    "TableSpec",
    "build_report",
    "build_table",
    "draw_figure",
    "figure_spec_from_dict",
    "latex_escape",
    "plot_figure",
    "render_experiment",
    "render_html",
    "write_table_files",
]
