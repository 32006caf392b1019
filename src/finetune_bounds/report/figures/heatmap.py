"""Heatmaps (``kind = "heatmap"``): one quantity over a grid of two columns.

One cell per distinct ``(x, y)``, coloured by the mean over seeds
(:func:`finetune_bounds.records.summarize`). Numeric axes are drawn with ``pcolormesh``, cell
edges at the midpoints between the sorted distinct values (geometric midpoints on a log axis)
and ticks labelled with the data values (``%g``); other axes are categorical. Missing
combinations and non-finite values are left blank (hatched) with a note. ``center`` gives a
diverging colour scale (``TwoSlopeNorm``) and ``contours`` labelled level lines over the image
(e.g. the zero line of a transfer gain). With ``categories`` the value is a category code: one
discrete colour per category, a legend with the names, no interpolation.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...errors import ConfigError
from ...records import summarize
from .._frame import (
    apply_filters,
    check_frame,
    display_key,
    norm,
    select,
    sort_rank,
    splitting_columns,
)
from ..labels import column_label, is_roundoff, key_label, quantity_label, roundoff_floor
from ..specs import HeatmapSpec
from ._common import (
    DrawnFigure,
    declutter_xticks,
    facet_values,
    figure_style,
    hide_unused,
    import_matplotlib,
    is_numeric,
    mark_empty,
    palette,
    panel_grid,
    set_title,
)

__all__ = ["draw_heatmap"]

#: at most this many tick labels per axis (every k-th value beyond)
_MAX_TICKS = 12
#: default colormaps of a continuous quantity, without / with a ``center``
_SEQUENTIAL, _DIVERGING = "viridis", "RdBu_r"


@dataclass(frozen=True)
class _Axis:
    """One axis of the grid: the distinct values, where their cells are, how they are shown."""

    column: str
    values: tuple[Any, ...]
    centres: np.ndarray
    edges: np.ndarray
    numeric: bool
    log: bool

    @property
    def labels(self) -> list[str]:
        if self.numeric:
            return [f"{float(v):g}" for v in self.values]
        return [display_key(v) for v in self.values]

    @property
    def scale(self) -> str:
        kind = "log" if self.log else "linear" if self.numeric else "categorical"
        return f"{kind}, {len(self.values)} values"


@dataclass
class _Grids:
    """Every panel's cell values (NaN: blank), indexed ``[y, x]``, and the notes so far."""

    x: _Axis
    y: _Axis
    facets: list[Any]
    values: list[np.ndarray]
    notes: list[str] = field(default_factory=list)


@dataclass
class _Coloring:
    """How cells become colours: the masked values, colormap, norm and legend names."""

    masked: list[Any]
    cmap: Any
    norm: Any
    lines: tuple[str, ...]
    colors: dict[int, Any] = field(default_factory=dict)


def draw_heatmap(frame: Any, spec: HeatmapSpec, where: str = "figure") -> DrawnFigure:
    """Draw a heatmap in memory (see the module docstring for the conventions)."""
    sub, notes = _rows(frame, spec, where)
    grids = _grids(sub, spec, notes)
    matplotlib, Figure = import_matplotlib()
    coloring = (
        _categorical(grids, spec) if spec.categories is not None else _continuous(grids, spec)
    )
    with matplotlib.rc_context(figure_style()):
        fig, axes = _new_figure(spec, len(grids.facets), len(coloring.lines), Figure)
        panels, mesh, contour, drawn_levels = _draw_panels(axes, grids, coloring, spec)
        hide_unused(axes, len(grids.facets))
        _key(fig, panels, spec, coloring, mesh, contour)
        set_title(fig, spec.title)
    grids.notes += _contour_notes(grids, spec.contours, drawn_levels)
    points = int(sum(z.count() for z in coloring.masked))
    alt = _alt_text(spec, grids, coloring, points)
    return DrawnFigure(fig, spec.title, alt, coloring.lines, tuple(grids.notes), points)


# ---------------------------------------------------------------------------- data


def _rows(frame: Any, spec: HeatmapSpec, where: str) -> tuple[Any, list[str]]:
    """The rows to show: one quantity, source (and method), filtered; each (x, y) unambiguous."""
    check_frame(frame, where)
    keys = [spec.x, spec.y, *([spec.facet] if spec.facet else [])]
    sub = select(frame, [spec.quantity], [*keys, *(["method"] if spec.method else [])], where)
    sub = apply_filters(sub, spec.where, where)
    sub = _pick(sub, "source", spec.source, spec.quantity, where)
    if spec.method:
        sub = _pick(sub, "method", spec.method, spec.quantity, where)
    notes: list[str] = []
    missing = sub[keys].isna().any(axis=1)
    if missing.any():
        notes.append(f"{int(missing.sum())} row(s) without a value of {keys} left out.")
        sub = sub[~missing]
    extra = splitting_columns(sub, keys, exclude=("quantity", "source"))
    if extra:
        col = extra[0]
        values = sorted({norm(v) for v in sub[col]}, key=lambda v: sort_rank(col, v))
        shown = [display_key(v) for v in values[:8]] + (["…"] if len(values) > 8 else [])
        first = json.dumps(values[0])
        hint = f"method = {first}" if col == "method" else f"where = {{{col} = {first}}}"
        raise ConfigError(
            f"{where}: several rows of {spec.quantity!r} fall in one ({spec.x}, {spec.y}) cell: "
            f"they differ by {extra}. Fix {col!r} with a facet or a filter (e.g. {hint}); "
            f"values of {col!r}: {shown}"
        )
    return sub, notes


def _pick(sub: Any, col: str, value: str, quantity: str, where: str) -> Any:
    keep = sub[col] == value
    if not keep.any():
        present = sorted({display_key(v) for v in sub[col]})
        raise ConfigError(
            f"{where}: no rows of {quantity!r} with {col} = {value!r}; {col} values: {present}"
        )
    return sub[keep]


def _axis(sub: Any, col: str, log: bool, name: str, notes: list[str]) -> _Axis:
    values = sorted({norm(v) for v in sub[col]}, key=lambda v: sort_rank(col, v))
    numeric = bool(values) and is_numeric(sub[col])
    if log and not numeric:
        notes.append(f"{name} column {col!r} is not numeric: linear {name} axis used.")
        log = False
    if numeric and log and any(float(v) <= 0 for v in values):
        notes.append(f"{name} column {col!r} has non-positive values: linear {name} axis used.")
        log = False
    if not numeric:
        centres = np.arange(len(values), dtype=float)
        edges = np.arange(len(values) + 1) - 0.5 if values else np.array([])
        return _Axis(col, tuple(values), centres, edges, False, False)
    centres = np.array([float(v) for v in values])
    return _Axis(col, tuple(values), centres, _edges(centres, log), True, log)


def _edges(values: np.ndarray, log: bool) -> np.ndarray:
    """Cell edges around sorted distinct values: midpoints between neighbours (of the logs on a
    log axis), the outer cells as wide as their inner half; one value: a decade / ±0.5 wide."""
    if len(values) == 0:
        return np.array([])
    t = np.log(values) if log else values
    if len(t) == 1:
        half = math.log(10) / 2 if log else max(abs(float(t[0])) / 2, 0.5)
        edges = np.array([t[0] - half, t[0] + half])
    else:
        mids = (t[1:] + t[:-1]) / 2
        edges = np.concatenate([[2 * t[0] - mids[0]], mids, [2 * t[-1] - mids[-1]]])
    return np.exp(edges) if log else edges


def _grids(sub: Any, spec: HeatmapSpec, notes: list[str]) -> _Grids:
    """The cell values of every panel; notes on blank cells (missing or non-finite)."""
    x = _axis(sub, spec.x, spec.logx, "x", notes)
    y = _axis(sub, spec.y, spec.logy, "y", notes)
    facets = facet_values(sub, spec.facet)
    values = [np.full((len(y.values), len(x.values)), np.nan) for _ in facets]
    filled = [np.zeros(v.shape, dtype=bool) for v in values]
    xi = {v: i for i, v in enumerate(x.values)}
    yi = {v: i for i, v in enumerate(y.values)}
    fi = {v: i for i, v in enumerate(facets)}
    by = [*([spec.facet] if spec.facet else []), spec.x, spec.y]
    records = summarize(sub, by=by).to_dict(orient="records") if len(sub) else []
    for rec in records:
        k = fi[norm(rec[spec.facet])] if spec.facet else 0
        cell = (yi[norm(rec[spec.y])], xi[norm(rec[spec.x])])
        values[k][cell] = float(rec["mean"])
        filled[k][cell] = True
    missing = sum(int((~f).sum()) for f in filled)
    nonfinite = sum(int((f & ~np.isfinite(v)).sum()) for f, v in zip(filled, values, strict=True))
    where = " (over all panels)" if len(facets) > 1 else ""
    if missing:
        notes.append(
            f"{missing} ({spec.x}, {spec.y}) cell(s){where} without a value left blank (hatched)."
        )
    if nonfinite:
        notes.append(f"{nonfinite} cell(s) with a non-finite value left blank (hatched).")
    clean = [np.where(np.isfinite(v), v, np.nan) for v in values]
    floor = roundoff_floor(np.concatenate([c.ravel() for c in clean]) if clean else [])
    tiny = sum(int(sum(is_roundoff(z, floor) for z in c.ravel())) for c in clean)
    if tiny:  # exact zeros up to round-off: coloured as 0
        clean = [np.where(np.abs(c) < floor, 0.0, c) for c in clean]
        notes.append(
            f"{tiny} cell(s) below the round-off floor (|value| < 10⁻¹² × the largest |value|, "
            "or < 10⁻¹⁵) shown as exact zeros."
        )
    return _Grids(x, y, facets, clean, notes)


# ---------------------------------------------------------------------------- colours


def _continuous(grids: _Grids, spec: HeatmapSpec) -> _Coloring:
    """Sequential colours, or diverging ones around ``spec.center``; one scale for all panels."""
    from matplotlib import colormaps
    from matplotlib.colors import Normalize, TwoSlopeNorm

    masked = [np.ma.masked_invalid(z) for z in grids.values]
    cmap = colormaps[spec.cmap or (_DIVERGING if spec.center is not None else _SEQUENTIAL)]
    data = np.concatenate([z.compressed() for z in masked]) if masked else np.array([])
    lines = (spec.colorbar_label or quantity_label(spec.quantity),)
    if data.size == 0:
        return _Coloring(masked, cmap, Normalize(), lines)
    lo, hi = float(data.min()), float(data.max())
    if spec.center is None:
        return _Coloring(masked, cmap, Normalize(lo, hi), lines)
    c = spec.center
    lo, hi = min(lo, c), max(hi, c)
    span = max(hi - c, c - lo)
    if not span > abs(c) * 1e-9:  # every value at the centre
        span = max(abs(c) / 10, 1.0)
    lo, hi = (c - span if lo == c else lo), (c + span if hi == c else hi)
    return _Coloring(masked, cmap, TwoSlopeNorm(vcenter=c, vmin=lo, vmax=hi), lines)


def _categorical(grids: _Grids, spec: HeatmapSpec) -> _Coloring:
    """Integer codes 0..K-1 → K discrete colours; other values are blank cells with a note."""
    from matplotlib.colors import BoundaryNorm, ListedColormap

    names = spec.categories or ()
    k = len(names)
    colors = _category_colors(spec.cmap, k)
    masked, bad = [], 0
    for z in grids.values:
        finite = np.isfinite(z)
        code = np.rint(np.where(finite, z, -1.0))
        ok = finite & (np.abs(z - code) < 1e-9) & (code >= 0) & (code < k)
        bad += int((finite & ~ok).sum())
        masked.append(np.ma.masked_array(np.where(ok, code, 0.0), mask=~ok))
    if bad:
        grids.notes.append(
            f"{bad} cell(s) whose value is not a category code (an integer in 0..{k - 1}) "
            "left blank (hatched)."
        )
    present = sorted({int(c) for z in masked for c in z.compressed()})
    cmap = ListedColormap(colors, name="categories")
    cnorm = BoundaryNorm(np.arange(k + 1) - 0.5, k)
    lines = tuple(names[c] for c in present)
    return _Coloring(masked, cmap, cnorm, lines, {c: colors[c] for c in present})


def _category_colors(cmap: str | None, k: int) -> list[Any]:
    """``k`` colours: the colorblind palette by default; a qualitative colormap's own colours,
    or ``k`` evenly spaced samples of any other colormap."""
    if cmap is None:
        return palette(k)[:k]
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap

    cm = colormaps[cmap]
    if isinstance(cm, ListedColormap) and k <= cm.N <= 20:
        return [cm(i) for i in range(k)]
    return [cm(t) for t in (np.linspace(0, 1, k) if k > 1 else [0.5])]


# ---------------------------------------------------------------------------- drawing


def _new_figure(spec: HeatmapSpec, panels: int, entries: int, Figure: Any) -> tuple[Any, Any]:
    nrows, ncols = panel_grid(panels)
    legend = 0.25 * math.ceil(entries / 4) + 0.3 if spec.categories is not None else 0.0
    width = max(6.4, 4.4 * ncols + 1.2)
    fig = Figure(figsize=(width, 3.6 * nrows + 0.6 + legend), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=True)
    return fig, axes


def _draw_panels(
    axes: Any, grids: _Grids, coloring: _Coloring, spec: HeatmapSpec
) -> tuple[list[Any], Any, Any, set[float]]:
    """Every panel's mesh and contours; returns the panels, the last mesh and contour set, and
    the contour levels drawn somewhere."""
    ncols = len(axes[0])
    panels: list[Any] = []
    mesh: Any = None
    contour: Any = None
    levels: set[float] = set()
    for i, (fval, z) in enumerate(zip(grids.facets, coloring.masked, strict=True)):
        ax = axes[i // ncols][i % ncols]
        panels.append(ax)
        if z.count():
            mesh = ax.pcolormesh(
                grids.x.edges,
                grids.y.edges,
                z,
                cmap=coloring.cmap,
                norm=coloring.norm,
                shading="flat",
                antialiased=False,
            )
            if np.ma.getmaskarray(z).any():
                ax.patch.set_hatch("///")
                ax.patch.set_edgecolor("0.75")
            cs, drawn = _contours(ax, grids, z, spec.contours)
            contour, levels = cs or contour, levels | drawn
        else:
            mark_empty(ax)
        _finish_panel(
            ax, spec, grids, fval, bottom=i + ncols >= len(grids.facets), left=i % ncols == 0
        )
    return panels, mesh, contour, levels


def _contours(ax: Any, grids: _Grids, z: Any, levels: Sequence[float]) -> tuple[Any, set[float]]:
    """Labelled contour lines at the levels the panel's values cross (cell centres)."""
    if not levels or len(grids.x.values) < 2 or len(grids.y.values) < 2:
        return None, set()
    data = z.compressed()
    inside = [v for v in levels if data.min() < v < data.max()]
    if not inside:
        return None, set()
    cs = ax.contour(
        grids.x.centres, grids.y.centres, z, levels=inside, colors="0.1", linewidths=1.3
    )
    ax.clabel(cs, fmt="%g", fontsize="small", inline=True)
    return cs, set(inside)


def _contour_notes(grids: _Grids, levels: Sequence[float], drawn: set[float]) -> list[str]:
    if not levels:
        return []
    if len(grids.x.values) < 2 or len(grids.y.values) < 2:
        return ["contour lines need at least 2 distinct values of x and of y: not drawn."]
    missed = [f"{v:g}" for v in levels if v not in drawn]
    if not missed:
        return []
    return [f"contour level(s) {', '.join(missed)} not drawn: no values on both sides."]


def _ticks(axis: Any, a: _Axis) -> list[str]:
    """Ticks at the cells, labelled with the data values (every k-th beyond a dozen); returns
    the labels shown."""
    from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator

    if not a.values:
        return []
    step = math.ceil(len(a.values) / _MAX_TICKS)
    idx = range(0, len(a.values), step)
    shown = [a.labels[i] for i in idx]
    axis.set_major_locator(FixedLocator([float(a.centres[i]) for i in idx]))
    axis.set_major_formatter(FixedFormatter(shown))
    axis.set_minor_locator(NullLocator())
    return shown


def _finish_panel(
    ax: Any, spec: HeatmapSpec, grids: _Grids, fval: Any, *, bottom: bool, left: bool
) -> None:
    """Scales, limits, ticks, titles and labels of one panel."""
    ax.grid(False)
    shown: list[str] = []
    for a, set_scale, set_lim, axis in (
        (grids.y, ax.set_yscale, ax.set_ylim, ax.yaxis),
        (grids.x, ax.set_xscale, ax.set_xlim, ax.xaxis),
    ):
        if a.log:
            set_scale("log")
        if len(a.edges):
            set_lim(float(a.edges[0]), float(a.edges[-1]))
        shown = _ticks(axis, a)
    declutter_xticks(ax, shown, room=40)  # long x labels would overlap
    if spec.facet:
        ax.set_title(key_label(spec.facet, fval), fontsize="medium")
    if bottom:
        ax.set_xlabel(spec.xlabel or column_label(spec.x))
    if left:
        ax.set_ylabel(spec.ylabel or column_label(spec.y))


def _key(
    fig: Any, panels: list[Any], spec: HeatmapSpec, coloring: _Coloring, mesh: Any, contour: Any
) -> None:
    """The colour key: a legend of the categories, or a colorbar (with the contour levels)."""
    label = spec.colorbar_label or quantity_label(spec.quantity)
    if spec.categories is not None:
        if not coloring.colors:
            return
        from matplotlib.patches import Patch

        names = spec.categories
        handles = [
            Patch(facecolor=c, edgecolor="0.4", label=names[k]) for k, c in coloring.colors.items()
        ]
        fig.legend(
            handles=handles,
            loc="outside lower center",
            ncols=min(len(handles), 4),
            title=label,
            fontsize="small",
            frameon=False,
        )
        return
    if mesh is not None:
        bar = fig.colorbar(mesh, ax=panels, label=label)
        if contour is not None:
            bar.add_lines(contour)


def _alt_text(spec: HeatmapSpec, grids: _Grids, coloring: _Coloring, points: int) -> str:
    head = spec.title or "Figure"
    what = f"{spec.quantity} ({spec.source}" + (f", method {spec.method})" if spec.method else ")")
    panels = ""
    if spec.facet and len(grids.facets) > 1:
        panels = f"; {len(grids.facets)} panels by {spec.facet}"
    layout = (
        f"over {grids.x.column} (x; {grids.x.scale}) and {grids.y.column} "
        f"(y; {grids.y.scale}){panels}"
    )
    if spec.categories is not None:
        colours = f"Categories: {', '.join(coloring.lines) or 'none'}."
    else:
        data = np.concatenate([z.compressed() for z in coloring.masked])
        colours = f"Values from {data.min():g} to {data.max():g}" if data.size else "No values"
        if spec.center is not None:
            colours += f", diverging colours centred at {spec.center:g}"
        if spec.contours:
            colours += f"; contour lines at {', '.join(f'{v:g}' for v in spec.contours)}"
        colours += "."
    return f"{head}. Heatmap of {what} {layout}: {points} cells coloured. {colours}"
