"""Line figures (``kind = "lines"``, the default): quantities against one column.

``theory`` = solid line, ``bound`` = dashed line, ``empirical`` = markers at the mean over seeds
with standard-error bars (``errorbars = "ci95"``: 95 % confidence intervals). A theory or bound
value that carries its own standard error (a Monte Carlo theory, see
:func:`finetune_bounds.records.summarize`) gets a light shaded band of ± one standard error
around its line, in the line's colour. One line per quantity / source / method
(and per value of any other column that still distinguishes points); by default a quantity's
theory, bound and measurement share a colour.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

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
from ..labels import (
    column_label,
    is_roundoff,
    key_label,
    quantity_label,
    roundoff_floor,
    series_label,
)
from ..specs import FigureSpec
from ._common import (
    DrawnFigure,
    data_ticks,
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

__all__ = ["draw_lines"]

_LINE_KEYS = ("quantity", "source", "method")
_THEORY_MARKERS = (None, "s", "^", "D", "v", "P", "X")
_EMPIRICAL_MARKERS = ("o", "s", "^", "D", "v", "P", "X")
_BOUND_DASHES = ("--", (0, (6, 2, 1, 2)), (0, (2, 2)), (0, (8, 3)))
#: opacity of the ± standard-error band of a randomised theory / bound line
BAND_ALPHA = 0.2

Key = tuple[Any, ...]


@dataclass
class _Plan:
    """What to draw, worked out before matplotlib is touched."""

    spec: FigureSpec
    line_keys: list[str]
    color_keys: list[str]
    qorder: list[str]
    lines: dict[Key, list[Mapping[str, Any]]]
    order: list[Key]
    color_of: dict[Key, Any]
    variant: dict[Key, int]
    facets: list[Any]
    x_numeric: bool
    logx: bool
    x_values: list[float]
    notes: list[str] = field(default_factory=list)
    #: round-off floor per quantity (see :func:`finetune_bounds.report.labels.roundoff_floor`)
    floors: dict[Any, float] = field(default_factory=dict)


@dataclass
class _Tally:
    """What the panels drew: legend handles, points, and per-line counts of points left out."""

    handles: dict[str, Any] = field(default_factory=dict)
    points: int = 0
    bands: int = 0
    nonfinite: dict[str, int] = field(default_factory=dict)
    nonpositive: dict[str, int] = field(default_factory=dict)
    unbounded: dict[str, int] = field(default_factory=dict)
    roundoff: dict[str, int] = field(default_factory=dict)


def draw_lines(frame: Any, spec: FigureSpec, where: str = "figure") -> DrawnFigure:
    """Draw a line figure in memory (see the module docstring for the conventions)."""
    plan = _plan(frame, spec, where)
    matplotlib, Figure = import_matplotlib()
    tally = _Tally()
    with matplotlib.rc_context(figure_style()):
        fig, axes, per_row = _new_figure(plan, Figure)
        ncols = len(axes[0])
        for i, fval in enumerate(plan.facets):
            ax = axes[i // ncols][i % ncols]
            for key in plan.order:
                _draw_line(ax, plan, key, fval, tally)
            _finish_panel(ax, plan, fval, bottom=i + ncols >= len(plan.facets), left=i % ncols == 0)
        hide_unused(axes, len(plan.facets))
        set_title(fig, spec.title)
        if tally.handles:
            fig.legend(
                list(tally.handles.values()),
                list(tally.handles),
                loc="outside lower center",
                ncols=per_row,
                fontsize="small",
                frameon=False,
            )
    notes = plan.notes + _dropped_notes(tally)
    labels = tuple(tally.handles)
    alt = _alt_text(plan, labels, tally)
    return DrawnFigure(fig, spec.title, alt, labels, tuple(notes), tally.points)


def _plan(frame: Any, spec: FigureSpec, where: str) -> _Plan:
    check_frame(frame, where)
    needed = [spec.x, *([spec.facet] if spec.facet else []), *([spec.hue] if spec.hue else [])]
    sub = apply_filters(select(frame, spec.quantities, needed, where), spec.where, where)
    notes: list[str] = []
    missing_x = sub[spec.x].isna()
    if missing_x.any():
        notes.append(f"{int(missing_x.sum())} row(s) without a value of {spec.x!r} left out.")
        sub = sub[~missing_x]

    line_keys = [k for k in _LINE_KEYS if k in sub.columns]
    if spec.hue and spec.hue not in line_keys:
        line_keys.append(spec.hue)
    facet_keys = [spec.facet] if spec.facet else []
    line_keys += splitting_columns(sub, [*facet_keys, spec.x, *line_keys])
    summary = summarize(sub, by=[*facet_keys, *line_keys, spec.x]) if len(sub) else None

    x_numeric = is_numeric(sub[spec.x])
    logx = spec.logx
    if logx and not x_numeric:
        notes.append(f"x column {spec.x!r} is not numeric: linear x axis used.")
        logx = False
    # colour groups: the hue column, else the line keys without source/method
    color_keys = [spec.hue] if spec.hue else [k for k in line_keys if k not in ("source", "method")]
    lines: dict[Key, list[Mapping[str, Any]]] = {}
    if summary is not None:
        for rec in summary.to_dict(orient="records"):
            lines.setdefault(tuple(norm(rec[k]) for k in line_keys), []).append(rec)
    plan = _Plan(
        spec=spec,
        line_keys=line_keys,
        color_keys=color_keys,
        qorder=list(spec.quantities or dict.fromkeys(sub["quantity"])),
        lines=lines,
        order=[],
        color_of={},
        variant={},
        facets=facet_values(sub, spec.facet),
        x_numeric=x_numeric,
        logx=logx,
        x_values=sorted({float(v) for v in sub[spec.x]}) if x_numeric else [],
        notes=notes,
        floors={q: roundoff_floor(g["value"]) for q, g in sub.groupby("quantity", sort=False)}
        if len(sub)
        else {},
    )
    _assign_styles(plan)
    return plan


def _assign_styles(plan: _Plan) -> None:
    """Legend order, one colour per colour group, and a style variant within (colour, source)
    (methods of one source get different markers/dashes)."""
    # legend order: colour group first, then source (theory, bound, empirical), then method
    order_keys = [*plan.color_keys, *(k for k in plan.line_keys if k not in plan.color_keys)]

    def line_rank(key: Key) -> list[tuple[Any, ...]]:
        values = dict(zip(plan.line_keys, key, strict=True))
        return [sort_rank(k, values[k], plan.qorder if k == "quantity" else ()) for k in order_keys]

    plan.order = sorted(plan.lines, key=line_rank)
    groups: dict[Key, int] = {}
    for key in plan.order:
        groups.setdefault(_color_key(plan, key), len(groups))
    colors = palette(len(groups))
    seen: dict[tuple[Any, ...], int] = {}
    for key in plan.order:
        ckey = _color_key(plan, key)
        plan.color_of[key] = colors[groups[ckey] % len(colors)]
        group = (ckey, plan.lines[key][0]["source"])
        plan.variant[key] = seen.get(group, 0)
        seen[group] = plan.variant[key] + 1


def _color_key(plan: _Plan, key: Key) -> Key:
    return tuple(key[plan.line_keys.index(k)] for k in plan.color_keys)


def _label(keys: Sequence[str], values: Sequence[Any]) -> str:
    """The legend label of a line: quantity, other keys, then the source with its method (a
    rate as a rate), from :mod:`finetune_bounds.report.labels`."""
    row = {k: norm(v) for k, v in zip(keys, values, strict=True)}
    return series_label(row, keys) or "value"


def _new_figure(plan: _Plan, Figure: Any) -> tuple[Any, Any, int]:
    """The figure, its grid of axes and the number of legend entries per row."""
    nrows, ncols = panel_grid(len(plan.facets))
    width = max(6.4, 4.6 * ncols)
    labels = list(dict.fromkeys(_label(plan.line_keys, key) for key in plan.order))
    longest = max((len(lab) for lab in labels), default=10) + 6
    per_row = max(1, min(len(labels), int(width * 15 / longest)))
    legend_rows = math.ceil(len(labels) / per_row)
    height = 3.4 * nrows + 0.6 + 0.2 * legend_rows
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=plan.spec.sharey)
    return fig, axes, per_row


def _draw_line(ax: Any, plan: _Plan, key: Key, fval: Any, tally: _Tally) -> None:
    """One line (or set of markers) of one panel."""
    spec = plan.spec
    pts = [r for r in plan.lines[key] if not spec.facet or norm(r[spec.facet]) == fval]
    if not pts:
        return
    label = _label(plan.line_keys, key)
    source = str(pts[0]["source"])
    floor = plan.floors.get(norm(pts[0].get("quantity")), roundoff_floor([]))
    keep = []
    for r in pts:
        xv, m, se = norm(r[spec.x]), float(r["mean"]), float(r["stderr"])
        if is_roundoff(se, floor):
            se = 0.0
        if is_roundoff(m, floor):  # an exact zero up to round-off
            if spec.logy:
                tally.roundoff[label] = tally.roundoff.get(label, 0) + 1
                continue
            m = 0.0
        if spec.errorbars == "ci95" and source == "empirical":
            se *= _t975(int(r["count"]))
        if not math.isfinite(m) or (source == "empirical" and not math.isfinite(se)):
            tally.nonfinite[label] = tally.nonfinite.get(label, 0) + 1
        elif (spec.logy and m <= 0) or (plan.logx and float(xv) <= 0):
            tally.nonpositive[label] = tally.nonpositive.get(label, 0) + 1
        else:
            if not math.isfinite(se):  # a theory value known only up to an unbounded error
                tally.unbounded[label] = tally.unbounded.get(label, 0) + 1
                se = math.nan
            keep.append((xv, m, se))
    if not keep:
        return
    if plan.x_numeric:
        keep.sort(key=lambda t: float(t[0]))
    xs = [float(t[0]) if plan.x_numeric else display_key(t[0]) for t in keep]
    ms, ses = [t[1] for t in keep], [t[2] for t in keep]
    color = plan.color_of[key]
    handle = _draw(ax, source, plan.variant[key], xs, ms, ses, color, label)
    if source != "empirical" and any(se > 0 for se in ses):  # NaN > 0 is False
        handle = (_band(ax, xs, ms, ses, color), handle)  # the legend shows line over band
        tally.bands += 1
    tally.handles.setdefault(label, handle)
    tally.points += len(keep)


def _t975(count: int) -> float:
    """The 97.5 % quantile of Student's t with count − 1 degrees of freedom (inf below 2)."""
    if count < 2:
        return math.inf
    from scipy.stats import t

    return float(t.ppf(0.975, count - 1))


def _band(ax: Any, xs: list[Any], ms: list[float], ses: list[float], color: Any) -> Any:
    """A light band of ± one standard error around a theory/bound line (no band where the
    error is unknown or unbounded). On a log y axis a band reaching 0 runs to the bottom."""
    lo = [m - se if math.isfinite(se) else m for m, se in zip(ms, ses, strict=True)]
    hi = [m + se if math.isfinite(se) else m for m, se in zip(ms, ses, strict=True)]
    return ax.fill_between(
        xs, lo, hi, color=color, alpha=BAND_ALPHA, linewidth=0, zorder=1, label="_stderr_band"
    )


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


def _finish_panel(ax: Any, plan: _Plan, fval: Any, *, bottom: bool, left: bool) -> None:
    """Empty-panel text, facet title, log scales and axis labels of one panel."""
    spec = plan.spec
    if not ax.has_data():
        mark_empty(ax)
    if spec.facet:
        ax.set_title(key_label(spec.facet, fval), fontsize="medium")
    if plan.logx:
        ax.set_xscale("log")
        data_ticks(ax, plan.x_values)
    _declutter(ax, plan)
    if spec.logy and ax.has_data():
        ax.set_yscale("log")
    if bottom:  # bottom visible panel of its column
        ax.set_xlabel(spec.xlabel or column_label(spec.x))
    if left:
        ax.set_ylabel(spec.ylabel or _ylabel(plan.qorder))


def _declutter(ax: Any, plan: _Plan) -> None:
    """Rotate the x tick labels when they would overlap (categorical x, or many data ticks)."""
    if plan.x_numeric and not (plan.logx and 1 < len(plan.x_values) <= 10):
        return  # matplotlib's own locator spaces the ticks
    texts = (
        [f"{v:g}" for v in plan.x_values if v > 0]
        if plan.x_numeric
        else list(dict.fromkeys(display_key(r[plan.spec.x]) for p in plan.lines.values()
                                for r in p))
    )
    ncols = panel_grid(len(plan.facets))[1]
    width = max(6.4, 4.6 * ncols) / ncols
    declutter_xticks(ax, texts, room=width * 9)


def _dropped_notes(tally: _Tally) -> list[str]:
    notes = []
    labels = [*tally.nonfinite, *tally.nonpositive, *tally.roundoff, *tally.unbounded]
    for label in dict.fromkeys(labels):
        if tally.nonfinite.get(label):
            n = tally.nonfinite[label]
            notes.append(f"{label}: {n} point(s) with non-finite values not drawn.")
        if tally.nonpositive.get(label):
            n = tally.nonpositive[label]
            notes.append(f"{label}: {n} non-positive point(s) not drawn on the log axis.")
        if tally.roundoff.get(label):
            n = tally.roundoff[label]
            notes.append(
                f"{label}: {n} point(s) below the round-off floor (exact zeros: |value| < "
                "10⁻¹² × the quantity's largest |value|, or < 10⁻¹⁵) not drawn on the log axis."
            )
        if tally.unbounded.get(label):
            n = tally.unbounded[label]
            notes.append(f"{label}: {n} point(s) with an infinite standard error (no band).")
    return notes


def _ylabel(quantities: Sequence[str]) -> str:
    """The quantity's label when one is drawn; a few quantities' labels joined; else "value"."""
    if len(quantities) <= 2:
        return " / ".join(quantity_label(q) for q in quantities) or "value"
    return "value"


def _alt_text(plan: _Plan, labels: Sequence[str], tally: _Tally) -> str:
    spec = plan.spec
    axes = (("log x", plan.logx), ("log y", spec.logy))
    scale = ", ".join(s for s, on in axes if on) or "linear axes"
    facets = plan.facets
    panels = f"; {len(facets)} panels by {spec.facet}" if spec.facet and len(facets) > 1 else ""
    shown = "; ".join(labels[:12]) + (f"; and {len(labels) - 12} more" if len(labels) > 12 else "")
    head = spec.title or "Figure"
    bands = (
        " Shaded bands: ± one standard error of randomised theory values." if tally.bands else ""
    )
    return (
        f"{head}. {tally.points} points against {column_label(spec.x)} ({scale}){panels}. "
        f"Lines: {shown or 'none'}.{bands}"
    )
