"""Tidy records: one row per measurement, tagged by where it comes from.

Every family turns a grid cell (and a seed) into a list of plain dicts with at least
``quantity``, ``value`` and ``source`` (one of :data:`SOURCES`); the sweep adds ``family``,
``experiment``, the cell parameters and ``seed``. Theory rows carry ``seed = -1``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from .errors import InvalidInputError

__all__ = ["SOURCES", "record", "summarize", "to_frame"]

#: where a number comes from: a closed form / deterministic equivalent, a bound, or training
SOURCES: tuple[str, ...] = ("theory", "bound", "empirical")

#: leading columns of every tidy table, in order
CORE_COLUMNS: tuple[str, ...] = ("family", "experiment", "quantity", "source", "n", "seed", "value")


def record(quantity: str, value: float, source: str, **fields: Any) -> dict[str, Any]:
    """One tidy row.

    Parameters
    ----------
    quantity : str
        Non-empty snake_case name (``risk``, ``bias``, ``gd_vs_closed_form`` …).
    value : float
        Converted with ``float``; ±inf is allowed (e.g. a diverging variance), NaN is not.
    source : str
        One of :data:`SOURCES`.
    **fields
        Extra columns (``n``, ``seed``, ``method``, cell parameters …).

    Returns
    -------
    dict
        ``{"quantity", "source", "value", **fields}``.

    Raises
    ------
    InvalidInputError
        Unknown source, empty or non-string quantity, non-numeric or NaN value.
    """
    if not isinstance(source, str) or source not in SOURCES:
        raise InvalidInputError(f"source must be one of {SOURCES}, got {source!r}")
    if not isinstance(quantity, str) or not quantity:
        raise InvalidInputError(f"quantity must be a non-empty string, got {quantity!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"record {quantity!r}: value must be a number, got {value!r}"
        ) from None
    if math.isnan(v):
        raise InvalidInputError(f"record {quantity!r} has a NaN value")
    return {"quantity": quantity, "source": source, "value": v, **fields}


def to_frame(records: Iterable[Mapping[str, Any]]) -> Any:
    """Records → a pandas DataFrame with :data:`CORE_COLUMNS` first (missing ones added as NA;
    a missing ``seed`` is -1, the theory convention), other columns after, in first-seen order.
    """
    import pandas as pd

    df = pd.DataFrame(list(records))
    for col in CORE_COLUMNS:
        if col not in df.columns:
            df[col] = pd.NA if col != "seed" else -1
    if df["seed"].isna().any():
        df["seed"] = df["seed"].fillna(-1)
    if len(df) and pd.api.types.is_float_dtype(df["seed"]):
        if (df["seed"] == df["seed"].round()).all():
            df["seed"] = df["seed"].astype("int64")
    rest = [c for c in df.columns if c not in CORE_COLUMNS]
    return df[list(CORE_COLUMNS) + rest]


def summarize(frame: Any, by: Sequence[str] | None = None) -> Any:
    """Mean, standard error and count of ``value`` over seeds.

    ``by`` defaults to every column except ``seed`` and ``value``. The standard error is
    std(ddof=1)/√count (0 for a single row, e.g. a theory value; inf when a group of several
    rows holds an infinite value, since its spread is then unbounded).

    Returns
    -------
    pandas.DataFrame
        The ``by`` columns, then ``mean``, ``count``, ``stderr``.

    Raises
    ------
    InvalidInputError
        No ``value`` column, or a ``by`` column missing from the frame.
    """
    if "value" not in frame.columns:
        raise InvalidInputError("summarize needs a 'value' column")
    keys = list(by) if by is not None else [c for c in frame.columns if c not in ("seed", "value")]
    missing = [k for k in keys if k not in frame.columns]
    if missing:
        raise InvalidInputError(f"summarize: column(s) {missing} not in the frame")
    if not keys:
        raise InvalidInputError("summarize needs at least one column to group by")
    g = frame.groupby(keys, dropna=False, sort=True)["value"]
    out = g.agg(mean="mean", std="std", count="count").reset_index()
    se = (out["std"].fillna(0.0) / np.sqrt(out["count"])).astype(float)
    spread_unbounded = (out["count"] > 1) & ~np.isfinite(out["mean"].astype(float))
    out["stderr"] = se.where(~spread_unbounded, np.inf)
    return out.drop(columns="std")
