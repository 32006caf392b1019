"""The ``[[figure]]`` and ``[[table]]`` entries of a sweep config, validated once.

A config (see :mod:`finetune_bounds.sweep.config`) keeps these entries as plain dicts; the report
turns each one into a frozen :class:`FigureSpec` / :class:`TableSpec` here, so a typo in a key is
a :class:`~finetune_bounds.errors.ConfigError` naming the experiment and the entry, not a
silently ignored option.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from ..errors import ConfigError

__all__ = ["FigureSpec", "TableSpec", "slugify"]

#: columns that are never grouping keys (the measured number and the seed it came from)
VALUE_COLUMNS: frozenset[str] = frozenset({"value", "seed"})


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


def _bool(entry: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
    v = entry.get(key, default)
    if not isinstance(v, bool):
        raise ConfigError(f"{where}: {key}: expected true or false, got {v!r}")
    return v


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


def _check_keys(entry: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where}: expected a table, got {type(entry).__name__}")
    unknown = sorted(set(entry) - set(allowed))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {list(allowed)}")


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
    """

    title: str
    quantities: tuple[str, ...] | None = None
    index: tuple[str, ...] = ()
    columns: tuple[str, ...] = ("source", "method")
    name: str = ""
    digits: int = 4

    KEYS: ClassVar[tuple[str, ...]] = ("title", "quantities", "index", "columns", "name", "digits")

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
        )


@dataclass(frozen=True)
class FigureSpec:
    """One ``[[figure]]`` entry.

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

    KEYS: ClassVar[tuple[str, ...]] = (
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
    )

    @classmethod
    def from_dict(cls, entry: Mapping[str, Any], where: str = "figure") -> FigureSpec:
        """Validate a ``[[figure]]`` dict (``where`` prefixes error messages)."""
        _check_keys(entry, cls.KEYS, where)
        x = _str(entry, "x", where, None)
        if not x:
            raise ConfigError(f"{where}: missing required key 'x' (the column on the x axis)")
        facet = _str(entry, "facet", where, None) or None
        hue = _str(entry, "hue", where, None) or None
        for key, col in (("x", x), ("facet", facet), ("hue", hue)):
            if col in VALUE_COLUMNS:
                raise ConfigError(f"{where}: {key} = {col!r} is not a grouping column")
        if facet is not None and facet == x:
            raise ConfigError(f"{where}: facet and x are the same column {x!r}")
        return cls(
            x=x,
            quantities=_names(entry, "quantities", where, None),
            facet=facet,
            hue=hue,
            logx=_bool(entry, "logx", where, False),
            logy=_bool(entry, "logy", where, False),
            title=_str(entry, "title", where, "") or "",
            xlabel=_str(entry, "xlabel", where, "") or "",
            ylabel=_str(entry, "ylabel", where, "") or "",
            sharey=_bool(entry, "sharey", where, True),
            name=_str(entry, "name", where, "") or "",
        )
