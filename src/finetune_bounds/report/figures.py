"""Figures: a tidy frame + a ``[[figure]]`` spec → PNG (and SVG) files.

Conventions (the same in every figure of the report): ``theory`` = solid line, ``bound`` = dashed
line, ``empirical`` = markers at the mean over seeds with standard-error bars. One line per
quantity / source / method (and per value of any other column that still distinguishes points);
by default a quantity's theory, bound and measurement share a colour. Non-finite values (and,
on log axes, non-positive ones) cannot be drawn: they are left out and a note says so — a plot
never crashes on an infinite variance.

matplotlib is imported lazily; figures are drawn on ``matplotlib.figure.Figure`` objects (Agg
canvas), so no pyplot state or GUI backend is involved. The look is seaborn's "whitegrid" style
and "colorblind" palette, inlined (importing seaborn would cost seconds per report).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..records import summarize
from ._frame import check_frame, display_key, norm, select, sort_rank, splitting_columns
from .specs import FigureSpec

__all__ = ["STYLE", "DrawnFigure", "FigureResult", "draw_figure", "plot_figure"]

_LINE_KEYS = ("quantity", "source", "method")
_THEORY_MARKERS = (None, "s", "^", "D", "v", "P", "X")
_EMPIRICAL_MARKERS = ("o", "s", "^", "D", "v", "P", "X")
_BOUND_DASHES = ("--", (0, (6, 2, 1, 2)), (0, (2, 2)), (0, (8, 3)))


@dataclass(frozen=True)
class FigureResult:
    """What :func:`plot_figure` wrote.

    Attributes
    ----------
    paths : tuple of Path
        The image files (PNG first).
    title : str
    alt : str
        A text description of the figure (for the HTML ``alt`` attribute).
    lines : tuple of str
        Legend labels, one per drawn line.
    notes : tuple of str
        Points left out (non-finite values, non-positive values on a log axis) and similar.
    points : int
        Points drawn (summary points, not raw rows).
    """

    paths: tuple[Path, ...]
    title: str
    alt: str
    lines: tuple[str, ...]
    notes: tuple[str, ...]
    points: int


@dataclass(frozen=True)
class DrawnFigure:
    """A figure drawn in memory by :func:`draw_figure` (fields as in :class:`FigureResult`,
    with the ``matplotlib.figure.Figure`` instead of the file paths)."""

    figure: Any
    title: str
    alt: str
    lines: tuple[str, ...]
    notes: tuple[str, ...]
    points: int


def _import_matplotlib() -> tuple[Any, Any]:
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError("figures need matplotlib: pip install 'finetune-bounds[plot]'") from None
    return matplotlib, Figure


#: seaborn's "colorblind" palette (Okabe-Ito style), inlined: importing seaborn costs ~3 s
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

#: seaborn's "whitegrid" look, inlined; DejaVu Sans (shipped with matplotlib) so the PNGs are
#: the same on every machine
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


def _palette(n: int) -> list[Any]:
    if n <= len(COLORBLIND):
        return list(COLORBLIND)
    from matplotlib import colormaps

    cmap = colormaps["tab20"]
    return [cmap(i % 20) for i in range(n)]


def _label(keys: Sequence[str], values: Sequence[Any]) -> str:
    parts = []
    for k, v in zip(keys, values, strict=True):
        text = display_key(v)
        if not text:
            continue
        parts.append(text if k in _LINE_KEYS else f"{k}={text}")
    return " · ".join(parts) or "value"


def plot_figure(
    frame: Any,
    spec: FigureSpec | Mapping[str, Any],
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
        Tidy results (``quantity, source, value``, the x column, keys; ``seed`` optional).
    spec : FigureSpec or dict
        A ``[[figure]]`` entry.
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
        Unknown spec keys, a column or quantity absent from the frame, matplotlib missing.
    """
    bad = [f for f in formats if f not in ("png", "svg", "pdf")]
    if bad or not formats:
        raise ConfigError(f"{where}: formats must be among png, svg, pdf; got {list(formats)}")
    drawn = draw_figure(frame, spec, where=where)
    matplotlib, _ = _import_matplotlib()
    base = Path(stem)
    paths = []
    with matplotlib.rc_context(STYLE):
        for fmt in formats:
            path = base.with_name(f"{base.name}.{fmt}")
            meta = {"Date": None} if fmt in ("svg", "pdf") else {}
            drawn.figure.savefig(path, format=fmt, dpi=dpi, metadata=meta)
            paths.append(path)
    return FigureResult(
        tuple(paths), drawn.title, drawn.alt, drawn.lines, drawn.notes, drawn.points
    )


def draw_figure(
    frame: Any, spec: FigureSpec | Mapping[str, Any], *, where: str = "figure"
) -> DrawnFigure:
    """Draw one figure in memory (no file): see :func:`plot_figure` for the conventions.

    Returns
    -------
    DrawnFigure
        The ``matplotlib.figure.Figure`` (save it inside ``matplotlib.rc_context(STYLE)``) and
        its legend labels, notes and alt text.
    """
    if not isinstance(spec, FigureSpec):
        spec = FigureSpec.from_dict(spec, where)
    check_frame(frame, where)
    needed = [spec.x, *([spec.facet] if spec.facet else []), *([spec.hue] if spec.hue else [])]
    sub = select(frame, spec.quantities, needed, where)
    notes: list[str] = []

    missing_x = sub[spec.x].isna()
    if missing_x.any():
        notes.append(f"{int(missing_x.sum())} row(s) without a value of {spec.x!r} left out.")
        sub = sub[~missing_x]

    line_keys = [k for k in _LINE_KEYS if k in sub.columns]
    if spec.hue and spec.hue not in line_keys:
        line_keys.append(spec.hue)
    facet_keys = [spec.facet] if spec.facet else []
    extra = splitting_columns(sub, [*facet_keys, spec.x, *line_keys])
    line_keys += extra
    by = [*facet_keys, *line_keys, spec.x]
    summary = summarize(sub, by=by) if len(sub) else None

    x_numeric = _is_numeric(sub[spec.x])
    logx = spec.logx
    if logx and not x_numeric:
        notes.append(f"x column {spec.x!r} is not numeric: linear x axis used.")
        logx = False

    # colour groups: the hue column, else the line keys without source/method
    color_keys = [spec.hue] if spec.hue else [k for k in line_keys if k not in ("source", "method")]
    qorder = list(spec.quantities or dict.fromkeys(sub["quantity"]))

    # legend order: colour group first, then source (theory, bound, empirical), then method
    order_keys = [*color_keys, *(k for k in line_keys if k not in color_keys)]

    def line_rank(key: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        values = dict(zip(line_keys, key, strict=True))
        return [sort_rank(k, values[k], qorder if k == "quantity" else ()) for k in order_keys]

    lines: dict[tuple[Any, ...], list[Mapping[str, Any]]] = {}
    if summary is not None:
        for rec in summary.to_dict(orient="records"):
            key = tuple(norm(rec[k]) for k in line_keys)
            lines.setdefault(key, []).append(rec)
    line_order = sorted(lines, key=line_rank)
    colors_of: dict[tuple[Any, ...], int] = {}
    for key in line_order:
        ckey = tuple(key[line_keys.index(k)] for k in color_keys)
        colors_of.setdefault(ckey, len(colors_of))
    palette = _palette(len(colors_of))

    # style variant within (colour, source): methods of one source get different markers/dashes
    variant: dict[tuple[Any, ...], int] = {}
    seen: dict[tuple[Any, ...], int] = {}
    for key in line_order:
        rec0 = lines[key][0]
        ckey = tuple(key[line_keys.index(k)] for k in color_keys)
        group = (ckey, rec0["source"])
        variant[key] = seen.get(group, 0)
        seen[group] = variant[key] + 1

    facets: list[Any] = [None]
    if spec.facet:
        facets = sorted(
            {norm(v) for v in sub[spec.facet]}, key=lambda v: sort_rank(spec.facet or "", v)
        )

    x_values = sorted({float(v) for v in sub[spec.x]}) if x_numeric else []
    matplotlib, Figure = _import_matplotlib()
    ncols = min(len(facets), 3)
    nrows = math.ceil(len(facets) / ncols)
    dropped: dict[str, list[int]] = {}
    handles: dict[str, Any] = {}
    drawn = 0
    with matplotlib.rc_context(STYLE):
        width = max(6.4, 4.6 * ncols)
        labels = list(dict.fromkeys(_label(line_keys, key) for key in line_order))
        longest = max((len(lab) for lab in labels), default=10) + 6
        per_row = max(1, min(len(labels), int(width * 15 / longest)))
        legend_rows = math.ceil(len(labels) / per_row)
        height = 3.4 * nrows + 0.6 + 0.2 * legend_rows
        fig = Figure(figsize=(width, height), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=spec.sharey)
        for i, fval in enumerate(facets):
            ax = axes[i // ncols][i % ncols]
            for key in line_order:
                pts = [r for r in lines[key] if not spec.facet or norm(r[spec.facet]) == fval]
                if not pts:
                    continue
                label = _label(line_keys, key)
                keep, nonfinite, nonpos = [], 0, 0
                for r in pts:
                    xv, m, se = norm(r[spec.x]), float(r["mean"]), float(r["stderr"])
                    if not (math.isfinite(m) and math.isfinite(se)):
                        nonfinite += 1
                    elif (spec.logy and m <= 0) or (logx and float(xv) <= 0):
                        nonpos += 1
                    else:
                        keep.append((xv, m, se))
                if nonfinite or nonpos:
                    counts = dropped.setdefault(label, [0, 0])
                    counts[0] += nonfinite
                    counts[1] += nonpos
                if not keep:
                    continue
                if x_numeric:
                    keep.sort(key=lambda t: float(t[0]))
                xs = [float(t[0]) if x_numeric else display_key(t[0]) for t in keep]
                ms = [t[1] for t in keep]
                ses = [t[2] for t in keep]
                source = str(pts[0]["source"])
                ckey = tuple(key[line_keys.index(k)] for k in color_keys)
                color = palette[colors_of[ckey] % len(palette)]
                h = _draw(ax, source, variant[key], xs, ms, ses, color, label)
                handles.setdefault(label, h)
                drawn += len(keep)
            if not ax.has_data():
                ax.text(
                    0.5,
                    0.5,
                    "no finite values",
                    ha="center",
                    va="center",
                    transform=ax.transAxes,
                    color="0.4",
                )
            if spec.facet:
                ax.set_title(f"{spec.facet} = {display_key(fval)}", fontsize="medium")
            if logx:
                ax.set_xscale("log")
                _data_ticks(ax, x_values)
            if spec.logy and ax.has_data():
                ax.set_yscale("log")
            if i + ncols >= len(facets):  # bottom visible panel of its column
                ax.set_xlabel(spec.xlabel or spec.x)
            if i % ncols == 0:
                ax.set_ylabel(spec.ylabel or _ylabel(qorder))
        for j in range(len(facets), nrows * ncols):
            axes[j // ncols][j % ncols].set_visible(False)
        if spec.title:
            fig.suptitle(spec.title, fontsize="large")
        if handles:
            fig.legend(
                list(handles.values()),
                list(handles),
                loc="outside lower center",
                ncols=per_row,
                fontsize="small",
                frameon=False,
            )
        for label, (nonfinite, nonpos) in dropped.items():
            if nonfinite:
                notes.append(f"{label}: {nonfinite} point(s) with non-finite values not drawn.")
            if nonpos:
                notes.append(f"{label}: {nonpos} non-positive point(s) not drawn on the log axis.")
    drawn_labels = tuple(handles)
    alt = _alt_text(spec, logx, drawn_labels, facets, drawn)
    return DrawnFigure(fig, spec.title, alt, drawn_labels, tuple(notes), drawn)


def _draw(
    ax: Any,
    source: str,
    variant: int,
    xs: list[Any],
    ms: list[float],
    ses: list[float],
    color: Any,
    label: str,
) -> Any:
    if source == "empirical":
        marker = _EMPIRICAL_MARKERS[variant % len(_EMPIRICAL_MARKERS)]
        return ax.errorbar(
            xs,
            ms,
            yerr=ses,
            fmt=marker,
            linestyle="none",
            color=color,
            capsize=3,
            elinewidth=1.2,
            markersize=5 if variant % 2 == 0 else 8,
            markerfacecolor=color if variant % 2 == 0 else "none",
            label=label,
            zorder=3,
        )
    if source == "bound":
        dash = _BOUND_DASHES[variant % len(_BOUND_DASHES)]
        (line,) = ax.plot(xs, ms, linestyle=dash, color=color, linewidth=1.6, label=label)
        return line
    theory_marker = _THEORY_MARKERS[variant % len(_THEORY_MARKERS)]
    (line,) = ax.plot(
        xs,
        ms,
        linestyle="-",
        color=color,
        linewidth=1.8,
        marker=theory_marker,
        markersize=4,
        markerfacecolor="white",
        label=label,
        zorder=2,
    )
    return line


def _data_ticks(ax: Any, values: Sequence[float], most: int = 10) -> None:
    """On a log x axis with few grid values, label exactly those values (``%g``) instead of
    matplotlib's ``3×10¹``-style minor labels."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    positive = [v for v in values if v > 0]
    if not 1 < len(positive) <= most:
        return
    ax.xaxis.set_major_locator(FixedLocator(positive))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _is_numeric(col: Any) -> bool:
    import pandas as pd

    values = col.dropna()
    if len(values) == 0 or pd.api.types.is_bool_dtype(values):
        return False
    if any(isinstance(v, bool | str) for v in values):
        return False
    return bool(pd.to_numeric(values, errors="coerce").notna().all())


def _ylabel(quantities: Sequence[str]) -> str:
    return quantities[0] if len(quantities) == 1 else "value"


def _alt_text(
    spec: FigureSpec, logx: bool, labels: Sequence[str], facets: Sequence[Any], points: int
) -> str:
    axes = (("log x", logx), ("log y", spec.logy))
    scale = ", ".join(s for s, on in axes if on) or "linear axes"
    panels = f"; {len(facets)} panels by {spec.facet}" if spec.facet and len(facets) > 1 else ""
    shown = "; ".join(labels[:12]) + (f"; and {len(labels) - 12} more" if len(labels) > 12 else "")
    head = spec.title or "Figure"
    return f"{head}. {points} points against {spec.x} ({scale}){panels}. Lines: {shown or 'none'}."
