"""Figures: a tidy frame + a ``[[figure]]`` spec → PNG (and SVG) files.

A spec's ``kind`` picks the drawing: ``"lines"`` (the default; :mod:`.lines`) draws quantities
against one column, ``"heatmap"`` (:mod:`.heatmap`) one quantity over a grid of two columns.
:func:`draw_figure` and :func:`plot_figure` dispatch on it.

Conventions (the same in every figure of the report): ``theory`` = solid line, ``bound`` = dashed
line, ``empirical`` = markers at the mean over seeds with standard-error bars; a randomised
theory value (one that carries a ``stderr``) gets a light band of ± one standard error. Values
that cannot be drawn (non-finite ones, non-positive ones on a log axis, missing heatmap cells)
are left out and a note says so — a plot never crashes on an infinite variance.

matplotlib is imported lazily; figures are drawn on ``matplotlib.figure.Figure`` objects (Agg
canvas), so no pyplot state or GUI backend is involved. The look is seaborn's "whitegrid" style
and "colorblind" palette (seaborn imported lazily, its style applied in an ``rc_context`` so no
global matplotlib state changes). Legends, axis labels, facet titles and colorbars speak the
vocabulary of :mod:`finetune_bounds.report.labels`; values below its round-off floor are exact
zeros (left out of log axes with a note).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ...errors import ConfigError
from .._checks import check_dpi, check_formats, check_path
from ..specs import AnyFigureSpec, FigureSpec, HeatmapSpec, figure_spec_from_dict
from ._common import (
    COLORBLIND,
    STYLE,
    DrawnFigure,
    FigureResult,
    figure_style,
    import_matplotlib,
)
from .heatmap import draw_heatmap
from .lines import draw_lines

__all__ = ["COLORBLIND", "STYLE", "DrawnFigure", "FigureResult", "draw_figure", "plot_figure"]

#: one drawing function per figure kind
_DRAWERS: Mapping[str, Callable[[Any, Any, str], DrawnFigure]] = {
    FigureSpec.kind: draw_lines,
    HeatmapSpec.kind: draw_heatmap,
}


def draw_figure(
    frame: Any, spec: AnyFigureSpec | Mapping[str, Any], *, where: str = "figure"
) -> DrawnFigure:
    """Draw one figure in memory (no file): see :func:`plot_figure` for the conventions.

    Parameters
    ----------
    frame : pandas.DataFrame
        Tidy results.
    spec : FigureSpec, HeatmapSpec or dict
        A ``[[figure]]`` entry; a dict is validated with
        :func:`~finetune_bounds.report.specs.figure_spec_from_dict` (its ``kind`` picks the
        drawing, ``"lines"`` by default).
    where : str
        Prefix of error messages.

    Returns
    -------
    DrawnFigure
        The ``matplotlib.figure.Figure`` (save it inside
        ``matplotlib.rc_context(figure_style())``) and
        its legend labels, notes and alt text.
    """
    if not isinstance(spec, FigureSpec | HeatmapSpec):
        spec = figure_spec_from_dict(spec, where)
    return _DRAWERS[spec.kind](frame, spec, where)


def plot_figure(
    frame: Any,
    spec: AnyFigureSpec | Mapping[str, Any],
    stem: str | Path,
    *,
    formats: Sequence[str] = ("png", "svg"),
    dpi: int = 150,
    where: str = "figure",
) -> FigureResult:
    """Draw one figure and write ``<stem>.<format>`` for each format.

    Parameters
    ----------
    frame : pandas.DataFrame
        Tidy results (``quantity, source, value``, the axis columns, keys; ``seed`` and
        ``stderr`` optional).
    spec : FigureSpec, HeatmapSpec or dict
        A ``[[figure]]`` entry (``kind = "lines"`` by default, or ``"heatmap"``).
    stem : path
        Output path without extension (the folder must exist).
    formats : sequence of {"png", "svg", "pdf"}
    dpi : int
        Resolution of raster formats.
    where : str
        Prefix of error messages.

    Returns
    -------
    FigureResult

    Raises
    ------
    ConfigError
        Unknown kind or spec keys, a column or quantity absent from the frame, ambiguous heatmap
        cells, matplotlib missing.
    """
    if not isinstance(where, str):
        raise ConfigError(f"where must be a string (an error-message prefix), got {where!r}")
    base = check_path(stem, "stem", where)
    formats = check_formats(formats, where)
    dpi = check_dpi(dpi, where)
    drawn = draw_figure(frame, spec, where=where)
    matplotlib, _ = import_matplotlib()
    paths = []
    with matplotlib.rc_context(figure_style()):
        for fmt in formats:
            path = base.with_name(f"{base.name}.{fmt}")
            meta = {"Date": None} if fmt in ("svg", "pdf") else {}
            drawn.figure.savefig(path, format=fmt, dpi=dpi, metadata=meta)
            paths.append(path)
    return FigureResult(
        tuple(paths), drawn.title, drawn.alt, drawn.lines, drawn.notes, drawn.points
    )
