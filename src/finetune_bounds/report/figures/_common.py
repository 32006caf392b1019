"""What every figure kind shares: result objects, the look (seaborn's style and palette), lazy
matplotlib and seaborn, panel layout, tick helpers, titles and the round-off floor."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import ConfigError
from .._frame import norm, sort_rank

__all__ = [
    "COLORBLIND",
    "STYLE",
    "DrawnFigure",
    "FigureResult",
    "data_ticks",
    "declutter_xticks",
    "facet_values",
    "figure_style",
    "hide_unused",
    "import_matplotlib",
    "is_numeric",
    "mark_empty",
    "palette",
    "panel_grid",
    "set_title",
]


@dataclass(frozen=True)
class FigureResult:
    """What :func:`~finetune_bounds.report.figures.plot_figure` wrote.

    Attributes
    ----------
    paths : tuple of Path
        The image files (PNG first).
    title : str
    alt : str
        A text description of the figure (for the HTML ``alt`` attribute).
    lines : tuple of str
        Legend labels, one per drawn line (lines); the category names, or the quantity shown,
        for a heatmap.
    notes : tuple of str
        Points left out (non-finite values, non-positive values on a log axis, blank heatmap
        cells) and similar.
    points : int
        Points drawn (summary points, not raw rows; heatmap cells with a colour).
    """

    paths: tuple[Path, ...]
    title: str
    alt: str
    lines: tuple[str, ...]
    notes: tuple[str, ...]
    points: int


@dataclass(frozen=True)
class DrawnFigure:
    """A figure drawn in memory by :func:`~finetune_bounds.report.figures.draw_figure` (fields
    as in :class:`FigureResult`, with the ``matplotlib.figure.Figure`` instead of the paths)."""

    figure: Any
    title: str
    alt: str
    lines: tuple[str, ...]
    notes: tuple[str, ...]
    points: int


def import_matplotlib() -> tuple[Any, Any]:
    """``(matplotlib, matplotlib.figure.Figure)``, or a :class:`ConfigError` naming the extra."""
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError("figures need matplotlib: pip install 'finetune-bounds[plot]'") from None
    return matplotlib, Figure


#: seaborn's "colorblind" palette (Okabe-Ito style); the fallback when seaborn is missing
COLORBLIND: tuple[str, ...] = (
    "#0173b2",
    "#de8f05",
    "#029e73",
    "#d55e00",
    "#cc78bc",
    "#ca9161",
    "#fbafe4",
    "#949494",
    "#ece133",
    "#56b4e9",
)

#: seaborn's "whitegrid" look, inlined: the fallback when seaborn is missing, and the overrides
#: applied on top of seaborn's style (DejaVu Sans, shipped with matplotlib, so the PNGs are the
#: same on every machine; a fixed SVG hash salt)
STYLE: Mapping[str, Any] = {
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "axes.edgecolor": ".8",
    "axes.grid": True,
    "axes.axisbelow": True,
    "axes.labelcolor": ".15",
    "grid.color": ".85",
    "grid.linestyle": "-",
    "text.color": ".15",
    "xtick.color": ".15",
    "ytick.color": ".15",
    "xtick.direction": "out",
    "ytick.direction": "out",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 10.0,
    "lines.solid_capstyle": "round",
    "svg.hashsalt": "finetune-bounds",
}


#: seaborn style keys not taken over (they would outline every patch and mesh cell in white,
#: or change default colormaps)
_SEABORN_SKIP = ("patch.edgecolor", "patch.force_edgecolor", "image.cmap")
_OVERRIDES = ("font.family", "font.sans-serif", "font.size", "svg.hashsalt")


def _seaborn() -> Any:
    """seaborn, imported lazily (None when it is not installed)."""
    try:
        import seaborn
    except ImportError:  # pragma: no cover - seaborn is in the plot extra
        return None
    return seaborn


def figure_style() -> dict[str, Any]:
    """The rc parameters of every figure: seaborn's ``axes_style("whitegrid")`` with our font and
    SVG salt (:data:`STYLE` when seaborn is missing). Use it in ``matplotlib.rc_context`` so no
    global matplotlib state is changed."""
    sns = _seaborn()
    if sns is None:  # pragma: no cover
        return dict(STYLE)
    rc = {k: v for k, v in sns.axes_style("whitegrid").items() if k not in _SEABORN_SKIP}
    rc.update({k: STYLE[k] for k in _OVERRIDES})
    return rc


def palette(n: int) -> list[Any]:
    """``n`` distinguishable colours: seaborn's "colorblind" palette (:data:`COLORBLIND`) when
    it is long enough, else tab20."""
    if n <= len(COLORBLIND):
        sns = _seaborn()
        if sns is None:  # pragma: no cover
            return list(COLORBLIND)
        return list(sns.color_palette("colorblind").as_hex())
    from matplotlib import colormaps

    cmap = colormaps["tab20"]
    return [cmap(i % 20) for i in range(n)]


def is_numeric(col: Any) -> bool:
    """Whether a column holds numbers only (booleans and strings are not numbers)."""
    import pandas as pd

    values = col.dropna()
    if len(values) == 0 or pd.api.types.is_bool_dtype(values):
        return False
    if any(isinstance(v, bool | str) for v in values):
        return False
    return bool(pd.to_numeric(values, errors="coerce").notna().all())


def facet_values(frame: Any, facet: str | None) -> list[Any]:
    """The panels: ``[None]`` without a facet, else the facet's values in display order."""
    if not facet:
        return [None]
    return sorted({norm(v) for v in frame[facet]}, key=lambda v: sort_rank(facet, v))


def panel_grid(panels: int) -> tuple[int, int]:
    """``(rows, columns)`` of the panel grid: at most three panels per row."""
    ncols = min(max(panels, 1), 3)
    return math.ceil(max(panels, 1) / ncols), ncols


def hide_unused(axes: Any, panels: int) -> None:
    """Hide the grid cells after the last panel."""
    nrows, ncols = len(axes), len(axes[0])
    for j in range(panels, nrows * ncols):
        axes[j // ncols][j % ncols].set_visible(False)


def mark_empty(ax: Any, text: str = "no finite values") -> None:
    """Write ``text`` in the middle of a panel that shows nothing."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")


def data_ticks(ax: Any, values: Sequence[float], most: int = 10, axis: str = "x") -> None:
    """On a log axis with few grid values, label exactly those values (``%g``) instead of
    matplotlib's ``3×10¹``-style minor labels."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    positive = [v for v in values if v > 0]
    if not 1 < len(positive) <= most:
        return
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(FixedLocator(positive))
    target.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    target.set_minor_formatter(NullFormatter())


def set_title(fig: Any, title: str) -> None:
    """The figure's title, wrapped to the figure's width so it is never clipped."""
    if not title:
        return
    from ..labels import wrap

    width_in = float(fig.get_figwidth())
    fig.suptitle(wrap(title, max(30, int(width_in * 9))), fontsize="large")


def declutter_xticks(ax: Any, labels: Sequence[str], room: float) -> None:
    """Rotate a panel's x tick labels when they would overlap: when ``labels`` (the texts at the
    ticks) need more than ``room`` characters side by side."""
    if sum(len(s) + 2 for s in labels) > room:
        ax.tick_params(axis="x", labelrotation=35)
        for t in ax.get_xticklabels():
            t.set_horizontalalignment("right")
            t.set_rotation_mode("anchor")
