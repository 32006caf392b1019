"""The ``[[figure]]`` and ``[[table]]`` entries of a sweep config, validated once.

A config (see :mod:`finetune_bounds.sweep.config`) keeps these entries as plain dicts; the report
turns each one into a frozen spec here (:class:`TableSpec`; :class:`FigureSpec` for line figures
and :class:`HeatmapSpec` for heatmaps, chosen by :func:`figure_spec_from_dict` from the entry's
``kind``), so a typo in a key is a :class:`~finetune_bounds.errors.ConfigError` naming the
experiment and the entry, not a silently ignored option.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar, TypeAlias

from ..errors import ConfigError
from ..records import SOURCES, VALUE_FIELDS

__all__ = [
    "FIGURE_KINDS",
    "AnyFigureSpec",
    "FigureSpec",
    "HeatmapSpec",
    "TableSpec",
    "figure_spec_from_dict",
    "slugify",
]

#: columns that are never grouping keys (the measured number, its standard error, the seed)
VALUE_COLUMNS: frozenset[str] = frozenset(VALUE_FIELDS)

#: a ``where`` filter: ``((column, (accepted values, ...)), ...)``
Filters: TypeAlias = tuple[tuple[str, tuple[Any, ...]], ...]


def slugify(text: str, fallback: str) -> str:
    """A short file-name-safe form of ``text`` (``[a-z0-9_]``, at most 40 characters)."""
    slug = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    if len(slug) > 40:  # cut at a word boundary when there is one
        cut = slug[:41]
        slug = cut[: cut.rfind("_")] if "_" in cut else slug[:40]
    return slug.rstrip("_") or fallback


def _str(entry: Mapping[str, Any], key: str, where: str, default: str | None) -> str | None:
    v = entry.get(key, default)
    if v is not None and not isinstance(v, str):
        raise ConfigError(f"{where}: {key}: expected a string, got {type(v).__name__}")
    return v


def _mathtext_error(text: str) -> str | None:
    """Why matplotlib's mathtext cannot draw ``text`` (None if it can, or if the text has no
    math, or matplotlib is not installed): checked at load, not after the sweep."""
    dollars = text.count("$") - text.count("\\$")
    if dollars <= 0 or dollars % 2:  # matplotlib draws such text literally, no math
        return None
    try:
        from matplotlib.mathtext import MathTextParser
    except ImportError:  # pragma: no cover - the plot extra is missing
        return None
    try:
        MathTextParser("path").parse(text)
    except Exception as exc:  # ValueError from the parser; anything else is as fatal later
        return " ".join(str(exc).split())[:200]
    return None


def _text(entry: Mapping[str, Any], key: str, where: str) -> str:
    """A title or label (default ``""``); math in ``$...$`` must be valid mathtext."""
    v = _str(entry, key, where, "") or ""
    problem = _mathtext_error(v) if "$" in v else None
    if problem is not None:
        shown = repr(v) if len(v) <= 80 else repr(v[:77]) + "…"
        raise ConfigError(f"{where}: {key} = {shown}: invalid math text: {problem}")
    return v


def _bool(entry: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
    v = entry.get(key, default)
    if not isinstance(v, bool):
        raise ConfigError(f"{where}: {key}: expected true or false, got {v!r}")
    return v


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _number(entry: Mapping[str, Any], key: str, where: str) -> float | None:
    v = entry.get(key)
    if v is None:
        return None
    if not _is_number(v):
        raise ConfigError(f"{where}: {key}: expected a finite number, got {v!r}")
    return float(v)


def _numbers(entry: Mapping[str, Any], key: str, where: str) -> tuple[float, ...]:
    """A number or a list of numbers, as sorted distinct floats (contour levels)."""
    v = entry.get(key, ())
    if _is_number(v):
        v = [v]
    if isinstance(v, str) or not isinstance(v, Sequence) or not all(_is_number(x) for x in v):
        raise ConfigError(f"{where}: {key}: expected a list of finite numbers, got {v!r}")
    return tuple(sorted({float(x) for x in v}))


def _names(
    entry: Mapping[str, Any], key: str, where: str, default: Sequence[str] | None
) -> tuple[str, ...] | None:
    v = entry.get(key, default)
    if v is None:
        return None
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, Sequence) or not all(isinstance(s, str) and s for s in v):
        raise ConfigError(f"{where}: {key}: expected a list of names, got {v!r}")
    if len(set(v)) != len(v):
        raise ConfigError(f"{where}: {key}: repeated names in {list(v)}")
    return tuple(v)


def _filters(entry: Mapping[str, Any], where: str) -> Filters:
    """The ``where = {column = value | [values]}`` table: rows kept before drawing."""
    v = entry.get("where", {})
    if not isinstance(v, Mapping):
        raise ConfigError(
            f"{where}: where: expected a table {{column = value}}, got {type(v).__name__}"
        )
    out = []
    for col, accepted in v.items():
        if not isinstance(col, str) or not col:
            raise ConfigError(f"{where}: where: column names must be strings, got {col!r}")
        if col in VALUE_COLUMNS or col == "quantity":
            raise ConfigError(f"{where}: where: {col!r} cannot be filtered on")
        values = list(accepted) if isinstance(accepted, list | tuple) else [accepted]
        ok = all(isinstance(x, str | bool) or _is_number(x) for x in values)
        if not values or not ok:
            raise ConfigError(
                f"{where}: where.{col}: expected a string, number or boolean (or a non-empty "
                f"list of them), got {accepted!r}"
            )
        out.append((col, tuple(values)))
    return tuple(out)


def _check_fields(spec: Any, where: str) -> None:
    """Check (and normalise: lists → tuples) the fields of a spec built directly, not by
    ``from_dict``: each field by its annotation, so a bad value fails here, not in a drawing."""
    for f in fields(spec):
        v = getattr(spec, f.name)
        kind = str(f.type)
        optional = kind.endswith("| None")
        if optional and v is None:
            continue
        bad = False
        if kind.startswith("str"):
            bad = not isinstance(v, str)
        elif kind == "bool":
            bad = not isinstance(v, bool)
        elif kind == "int":
            bad = isinstance(v, bool) or not isinstance(v, int)
        elif kind.startswith("float"):
            bad = not _is_number(v)
        elif kind.startswith("tuple") or kind == "Filters":
            if isinstance(v, str | bytes) or not isinstance(v, Sequence):
                bad = True
            else:
                v = tuple(v)
                if kind.startswith("tuple[str"):
                    bad = not all(isinstance(s, str) and s for s in v)
                elif kind.startswith("tuple[float"):
                    bad = not all(_is_number(x) for x in v)
                else:
                    bad = not all(
                        isinstance(c, Sequence) and not isinstance(c, str) and len(c) == 2
                        and isinstance(c[0], str) and isinstance(c[1], Sequence)
                        and not isinstance(c[1], str)
                        for c in v
                    )
                    if not bad:
                        v = tuple((c[0], tuple(c[1])) for c in v)
                object.__setattr__(spec, f.name, v)
        if bad:
            raise ConfigError(f"{where}: {f.name}: expected {kind}, got {v!r}")


def _check_keys(entry: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where}: expected a table, got {type(entry).__name__}")
    unknown = sorted(set(entry) - set(allowed))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {list(allowed)}")


def _check_figure_keys(entry: Mapping[str, Any], kind: str, where: str) -> None:
    """Like :func:`_check_keys`, but a key of the other figure kind says so."""
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where}: expected a table, got {type(entry).__name__}")
    allowed = _FIGURE_CLASSES[kind].KEYS
    unknown = sorted(set(entry) - set(allowed))
    if not unknown:
        return
    for other, cls in _FIGURE_CLASSES.items():
        foreign = [k for k in unknown if other != kind and k in cls.KEYS]
        if foreign:
            raise ConfigError(
                f"{where}: key(s) {foreign} belong to figures of kind {other!r}, not "
                f"{kind!r}{' (the default kind)' if kind == 'lines' else ''}; "
                f"set kind = {other!r} or remove them"
            )
    raise ConfigError(
        f"{where}: unknown key(s) {unknown}; allowed for kind {kind!r}: {list(allowed)}"
    )


@dataclass(frozen=True)
class TableSpec:
    """One ``[[table]]`` entry.

    Attributes
    ----------
    title : str
    quantities : tuple of str or None
        Quantities to show (None: every quantity of the experiment), in this column order.
    index : tuple of str
        Row keys. Any other column that still distinguishes rows (e.g. a grid parameter not
        named here) is appended to the row keys automatically, so a cell never averages
        different parameter values together.
    columns : tuple of str
        Column keys besides ``quantity`` (default ``("source", "method")``).
    name : str
        File stem of the outputs (default: a slug of the title).
    digits : int
        Significant digits of the mean (the standard error gets two).
    where : tuple
        Row filter ``{column = value | [values]}`` applied before the table is built (as for
        figures), e.g. ``where = {start = "pretrained"}``.
    """

    title: str
    quantities: tuple[str, ...] | None = None
    index: tuple[str, ...] = ()
    columns: tuple[str, ...] = ("source", "method")
    name: str = ""
    digits: int = 4
    where: Filters = ()

    KEYS: ClassVar[tuple[str, ...]] = (
        "title", "quantities", "index", "columns", "name", "digits", "where"
    )

    def __post_init__(self) -> None:
        _check_fields(self, "table")
        if not 1 <= self.digits <= 12:
            raise ConfigError(f"table: digits: expected an integer in [1, 12], got {self.digits}")

    @classmethod
    def from_dict(cls, entry: Mapping[str, Any], where: str = "table") -> TableSpec:
        """Validate a ``[[table]]`` dict (``where`` prefixes error messages)."""
        _check_keys(entry, cls.KEYS, where)
        index = _names(entry, "index", where, ()) or ()
        columns = _names(entry, "columns", where, ("source", "method")) or ()
        both = sorted(set(index) & set(columns))
        if both:
            raise ConfigError(f"{where}: {both} appear in both index and columns")
        bad = sorted((set(index) | set(columns)) & (VALUE_COLUMNS | {"quantity"}))
        if bad:
            raise ConfigError(f"{where}: {bad} cannot be a row or column key")
        digits = entry.get("digits", 4)
        if isinstance(digits, bool) or not isinstance(digits, int) or not 1 <= digits <= 12:
            raise ConfigError(f"{where}: digits: expected an integer in [1, 12], got {digits!r}")
        title = _str(entry, "title", where, "") or ""
        return cls(
            title=title,
            quantities=_names(entry, "quantities", where, None),
            index=index,
            columns=columns,
            name=_str(entry, "name", where, "") or "",
            digits=digits,
            where=_filters(entry, where),
        )


def _grouping(where: str, **columns: str | None) -> None:
    for key, col in columns.items():
        if col is not None and col in VALUE_COLUMNS:
            raise ConfigError(f"{where}: {key} = {col!r} is not a grouping column")


@dataclass(frozen=True)
class FigureSpec:
    """One ``[[figure]]`` entry of kind ``"lines"`` (the default kind).

    Attributes
    ----------
    x : str
        Column on the x axis.
    quantities : tuple of str or None
        Quantities to draw (None: all); one line per quantity/source/method (plus any other
        column that still distinguishes the points, e.g. a grid parameter not used as x or facet).
    facet : str or None
        One panel per value of this column.
    hue : str or None
        Column that sets the colour (default: the quantity and the extra distinguishing columns,
        so theory, bound and measurement of one quantity share a colour and differ in style).
    logx, logy : bool
    title, xlabel, ylabel : str
    sharey : bool
        Share the y axis between panels (default True).
    name : str
        File stem of the outputs (default: a slug of the title).
    where : tuple of (column, values) pairs
        Rows kept before drawing: those whose ``column`` takes one of ``values``, for every pair
        (the ``where = {column = value}`` table of the entry).
    errorbars : {"se", "ci95"}
        Error bars of the empirical markers: ± one standard error (default) or a 95 %
        confidence interval of the mean (± t₀.₉₇₅,ₖ₋₁ · s.e. over the k seeds).
    """

    x: str
    quantities: tuple[str, ...] | None = None
    facet: str | None = None
    hue: str | None = None
    logx: bool = False
    logy: bool = False
    title: str = ""
    xlabel: str = ""
    ylabel: str = ""
    sharey: bool = True
    name: str = ""
    where: Filters = ()
    errorbars: str = "se"

    kind: ClassVar[str] = "lines"
    KEYS: ClassVar[tuple[str, ...]] = (
        "kind",
        "x",
        "quantities",
        "facet",
        "hue",
        "logx",
        "logy",
        "title",
        "xlabel",
        "ylabel",
        "sharey",
        "name",
        "where",
        "errorbars",
    )

    def __post_init__(self) -> None:
        _check_fields(self, "figure")
        if not self.x:
            raise ConfigError("figure: x: expected a column name, got ''")
        if self.errorbars not in ("se", "ci95"):
            raise ConfigError(f"figure: errorbars: expected 'se' or 'ci95', got {self.errorbars!r}")

    @classmethod
    def from_dict(cls, entry: Mapping[str, Any], where: str = "figure") -> FigureSpec:
        """Validate a ``[[figure]]`` dict of kind ``"lines"`` (``where`` prefixes errors)."""
        _check_kind(entry, cls.kind, where)
        _check_figure_keys(entry, cls.kind, where)
        x = _str(entry, "x", where, None)
        if not x:
            raise ConfigError(f"{where}: missing required key 'x' (the column on the x axis)")
        facet = _str(entry, "facet", where, None) or None
        hue = _str(entry, "hue", where, None) or None
        _grouping(where, x=x, facet=facet, hue=hue)
        if facet is not None and facet == x:
            raise ConfigError(f"{where}: facet and x are the same column {x!r}")
        return cls(
            x=x,
            quantities=_names(entry, "quantities", where, None),
            facet=facet,
            hue=hue,
            logx=_bool(entry, "logx", where, False),
            logy=_bool(entry, "logy", where, False),
            title=_text(entry, "title", where),
            xlabel=_text(entry, "xlabel", where),
            ylabel=_text(entry, "ylabel", where),
            sharey=_bool(entry, "sharey", where, True),
            name=_str(entry, "name", where, "") or "",
            where=_filters(entry, where),
            errorbars=_errorbars(entry, where),
        )


def _errorbars(entry: Mapping[str, Any], where: str) -> str:
    value = _str(entry, "errorbars", where, "se") or "se"
    if value not in ("se", "ci95"):
        raise ConfigError(f"{where}: errorbars: expected 'se' or 'ci95', got {value!r}")
    return value


@dataclass(frozen=True)
class HeatmapSpec:
    """One ``[[figure]]`` entry of kind ``"heatmap"``: one quantity over two columns.

    Attributes
    ----------
    x, y : str
        Columns on the axes (typically two grid parameters); one cell per distinct (x, y).
    quantity : str
        The quantity shown (its mean over seeds).
    source : str
        Which rows of the quantity: ``"theory"`` (default), ``"bound"`` or ``"empirical"``.
    method : str or None
        Keep only the rows of this ``method`` (one line of the data).
    facet : str or None
        One panel per value of this column.
    cmap : str or None
        A matplotlib colormap name (default ``viridis``; ``RdBu_r`` with ``center``; for
        categories, the colorblind palette).
    center : float or None
        Centre of a diverging colour scale (``TwoSlopeNorm``), e.g. 0 for a transfer gain.
    contours : tuple of float
        Levels drawn as labelled contour lines over the image (e.g. ``(0.0,)``).
    logx, logy : bool
    title, xlabel, ylabel, colorbar_label, name : str
    categories : tuple of str or None
        The quantity is a category code: value ``k`` means ``categories[k]``; drawn with one
        discrete colour per category and a legend of the names.
    where : tuple of (column, values) pairs
        Rows kept before drawing (see :class:`FigureSpec`).
    """

    x: str
    y: str
    quantity: str
    source: str = "theory"
    method: str | None = None
    facet: str | None = None
    cmap: str | None = None
    center: float | None = None
    contours: tuple[float, ...] = ()
    logx: bool = False
    logy: bool = False
    title: str = ""
    xlabel: str = ""
    ylabel: str = ""
    colorbar_label: str = ""
    name: str = ""
    categories: tuple[str, ...] | None = None
    where: Filters = ()

    kind: ClassVar[str] = "heatmap"
    KEYS: ClassVar[tuple[str, ...]] = (
        "kind",
        "x",
        "y",
        "quantity",
        "source",
        "method",
        "facet",
        "cmap",
        "center",
        "contours",
        "logx",
        "logy",
        "title",
        "xlabel",
        "ylabel",
        "colorbar_label",
        "name",
        "categories",
        "where",
    )

    def __post_init__(self) -> None:
        _check_fields(self, "figure")
        for key in ("x", "y", "quantity"):
            if not getattr(self, key):
                raise ConfigError(f"figure: {key}: expected a name, got ''")
        if self.source not in SOURCES:
            raise ConfigError(
                f"figure: source: expected one of {list(SOURCES)}, got {self.source!r}"
            )

    @classmethod
    def from_dict(cls, entry: Mapping[str, Any], where: str = "figure") -> HeatmapSpec:
        """Validate a ``[[figure]]`` dict of kind ``"heatmap"`` (``where`` prefixes errors)."""
        _check_kind(entry, cls.kind, where)
        _check_figure_keys(entry, cls.kind, where)
        required = {"x": "the column on the x axis", "y": "the column on the y axis"}
        required["quantity"] = "the quantity to show"
        found = {k: _str(entry, k, where, None) or "" for k in required}
        for key, what in required.items():
            if not found[key]:
                raise ConfigError(f"{where}: missing required key {key!r} ({what})")
        x, y, quantity = found["x"], found["y"], found["quantity"]
        facet = _str(entry, "facet", where, None) or None
        _grouping(where, x=x, y=y, facet=facet)
        cols = [x, y, *([facet] if facet else [])]
        if len(set(cols)) != len(cols):
            raise ConfigError(f"{where}: x, y and facet must be different columns, got {cols}")
        source = _str(entry, "source", where, "theory")
        if source not in SOURCES:
            raise ConfigError(f"{where}: source: expected one of {list(SOURCES)}, got {source!r}")
        categories = _names(entry, "categories", where, None)
        if categories is not None and not categories:
            raise ConfigError(f"{where}: categories: expected at least one name")
        center, contours = _number(entry, "center", where), _numbers(entry, "contours", where)
        if categories is not None and (center is not None or contours):
            raise ConfigError(
                f"{where}: center and contours apply to a continuous quantity, not to categories"
            )
        return cls(
            x=x,
            y=y,
            quantity=quantity,
            source=source,
            method=_str(entry, "method", where, None) or None,
            facet=facet,
            cmap=_cmap(entry, where),
            center=center,
            contours=contours,
            logx=_bool(entry, "logx", where, False),
            logy=_bool(entry, "logy", where, False),
            categories=categories,
            where=_filters(entry, where),
            **{
                k: _text(entry, k, where) if k != "name" else _str(entry, k, where, "") or ""
                for k in _HEATMAP_TEXT
            },
        )


_HEATMAP_TEXT = ("title", "xlabel", "ylabel", "colorbar_label", "name")

#: a ``[[figure]]`` spec of any kind
AnyFigureSpec: TypeAlias = FigureSpec | HeatmapSpec

_FIGURE_CLASSES: dict[str, type[FigureSpec] | type[HeatmapSpec]] = {
    "lines": FigureSpec,
    "heatmap": HeatmapSpec,
}

#: the values of a ``[[figure]]`` entry's ``kind`` (the first is the default)
FIGURE_KINDS: tuple[str, ...] = tuple(_FIGURE_CLASSES)


def _kind(entry: Mapping[str, Any], where: str) -> str:
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where}: expected a table, got {type(entry).__name__}")
    kind = entry.get("kind", FIGURE_KINDS[0])
    if not isinstance(kind, str) or kind not in _FIGURE_CLASSES:
        raise ConfigError(f"{where}: kind: expected one of {list(FIGURE_KINDS)}, got {kind!r}")
    return kind


def _check_kind(entry: Mapping[str, Any], expected: str, where: str) -> None:
    kind = _kind(entry, where)
    if kind != expected:
        raise ConfigError(f"{where}: kind = {kind!r}, but this is a {expected!r} figure spec")


def _cmap(entry: Mapping[str, Any], where: str) -> str | None:
    """A colormap name, checked against matplotlib's registry when matplotlib is installed
    (without it, drawing fails anyway with a clear message)."""
    name = _str(entry, "cmap", where, None) or None
    if name is None:
        return None
    try:
        from matplotlib import colormaps
    except ImportError:  # pragma: no cover - the plot extra is missing
        return name
    if name not in colormaps:
        close = [c for c in sorted(colormaps) if c.lower().startswith(name.lower()[:3])][:8]
        hint = f"; similar: {close}" if close else ""
        raise ConfigError(f"{where}: cmap: {name!r} is not a matplotlib colormap{hint}")
    return name


def figure_spec_from_dict(entry: Mapping[str, Any], where: str = "figure") -> AnyFigureSpec:
    """Validate a ``[[figure]]`` dict of any kind (``kind = "lines"`` by default, or
    ``"heatmap"``) into its frozen spec.

    Raises
    ------
    ConfigError
        An unknown kind, a key of another kind, an unknown key or a badly typed value; the
        message starts with ``where``.
    """
    return _FIGURE_CLASSES[_kind(entry, where)].from_dict(entry, where)
