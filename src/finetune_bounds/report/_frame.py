"""Helpers shared by tables and figures: selecting rows, finding grouping keys, ordering."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..records import SOURCES
from .specs import VALUE_COLUMNS, Filters

__all__ = [
    "apply_filters",
    "check_frame",
    "display_key",
    "norm",
    "select",
    "sort_rank",
    "splitting_columns",
]

_REQUIRED = ("quantity", "source", "value")


def check_frame(frame: Any, where: str) -> None:
    """The frame is a tidy DataFrame (``quantity, source, value`` at least) with no NaN value."""
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise ConfigError(f"{where}: expected a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in _REQUIRED if c not in frame.columns]
    if missing:
        raise ConfigError(f"{where}: the results table has no column(s) {missing}")
    if frame["value"].isna().any():
        raise ConfigError(f"{where}: the results table holds NaN values")
    bad = sorted(set(frame["source"].dropna()) - set(SOURCES))
    if bad:
        raise ConfigError(f"{where}: unknown source(s) {bad}; expected {list(SOURCES)}")


def select(frame: Any, quantities: Sequence[str] | None, columns: Sequence[str], where: str) -> Any:
    """Rows of the listed quantities (all if None); every listed column must exist and every
    listed quantity must occur (a typo is an error, not an empty plot)."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        known = [c for c in frame.columns if c not in VALUE_COLUMNS]
        raise ConfigError(f"{where}: no column(s) {missing} in the results; columns: {known}")
    present = list(dict.fromkeys(frame["quantity"]))
    if quantities is None:
        if not present:
            raise ConfigError(f"{where}: the results table is empty")
        return frame
    absent = [q for q in quantities if q not in present]
    if absent:
        raise ConfigError(f"{where}: no quantity {absent} in the results; quantities: {present}")
    return frame[frame["quantity"].isin(list(quantities))]


def apply_filters(frame: Any, filters: Filters, where: str) -> Any:
    """Rows whose columns take the accepted values of a spec's ``where`` table.

    Every filtered column must exist, and every column's filter must keep some row (a
    misspelled value is an error that lists the values present, not an empty figure).
    """
    missing = [c for c, _ in filters if c not in frame.columns]
    if missing:
        known = [c for c in frame.columns if c not in VALUE_COLUMNS]
        raise ConfigError(
            f"{where}: where: no column(s) {missing} in the results; columns: {known}"
        )
    for col, accepted in filters:
        keep = frame[col].map(lambda v, ok=accepted: norm(v) in ok).astype(bool)
        if not keep.any():
            present = sorted({norm(v) for v in frame[col]}, key=lambda v: sort_rank(col, v))
            raise ConfigError(
                f"{where}: where.{col} = {list(accepted)} keeps no row; "
                f"values of {col!r}: {[display_key(v) for v in present]}"
            )
        frame = frame[keep]
    return frame


def splitting_columns(frame: Any, keys: Sequence[str], exclude: Sequence[str] = ()) -> list[str]:
    """Columns (in frame order) that split the groups of ``keys`` further.

    A column that takes one value per group of ``keys`` (constant, or determined by the keys,
    such as ``aspect = n / d`` when ``n`` is a key) is left out; any other one is returned, so
    grouping by ``keys + result`` never pools rows with different parameter values.
    """
    skip = set(keys) | set(exclude) | VALUE_COLUMNS
    out: list[str] = []
    current = list(keys)
    groups = frame.groupby(current, dropna=False, sort=False).ngroups if current else 1
    for col in frame.columns:
        if col in skip:
            continue
        n = frame.groupby([*current, col], dropna=False, sort=False).ngroups
        if n > groups:
            out.append(col)
            current.append(col)
            groups = n
    return out


def norm(v: Any) -> Any:
    """A plain Python value; None for every missing marker (None, NaN, pandas NA)."""
    if v is None:
        return None
    try:
        import pandas as pd

        if v is pd.NA or v is pd.NaT:
            return None
    except ImportError:  # pragma: no cover
        pass
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def sort_rank(col: str, v: Any, order: Sequence[str] = ()) -> tuple[Any, ...]:
    """A sort key that orders mixed values: listed names first (in ``order``; sources as
    theory, bound, empirical), then numbers, then strings, missing last."""
    v = norm(v)
    if order and v in order:
        return (0, order.index(v), 0.0, "")
    if col == "source" and v in SOURCES:
        return (0, SOURCES.index(v), 0.0, "")
    if v is None:
        return (4, 0, 0.0, "")
    if isinstance(v, bool):
        return (1, 0, float(v), "")
    if isinstance(v, int | float):
        return (2, 0, float(v), "")
    return (3, 0, 0.0, str(v))


def display_key(v: Any) -> str:
    """How a key value is shown in a header or a row label."""
    v = norm(v)
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        return f"{v:.6g}"
    return str(v)
