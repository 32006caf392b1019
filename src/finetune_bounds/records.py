"""Tidy records: one row per measurement, tagged by where it comes from.

Every family turns a grid cell (and a seed) into a list of plain dicts with at least
``quantity``, ``value`` and ``source`` (one of :data:`SOURCES`); the sweep adds ``family``,
``experiment``, the cell parameters and ``seed``. Theory rows carry ``seed = -1``.

A row whose value is itself random (a Monte Carlo theory, a particle solver) carries its own
standard error in the field ``stderr`` (one convention for every family: ``std(ddof=1)/√draws``,
see :func:`finetune_bounds._numerics.stderr`). Rows of an inner axis (``[axes]`` of a config, e.g.
``n`` or ``depth``) carry that axis value as a field. Quantity names follow the vocabulary of
``docs/vocabulary.md``.
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
CORE_COLUMNS: tuple[str, ...] = ("family", "experiment", "quantity", "source", "seed", "value")

#: per-row columns that are measurements, never grouping keys
VALUE_FIELDS: frozenset[str] = frozenset({"seed", "value", "stderr"})


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
        Extra columns (``n``, ``seed``, ``method``, an axis value …); ``stderr`` (a number ≥ 0,
        possibly inf) is the standard error of a random ``value``.

    Returns
    -------
    dict
        ``{"quantity", "source", "value", **fields}``.

    Raises
    ------
    InvalidInputError
        Unknown source, empty or non-string quantity, non-numeric or NaN value, negative or NaN
        ``stderr``.
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
    if "stderr" in fields:
        fields["stderr"] = check_stderr(fields["stderr"], f"record {quantity!r}")
    return {"quantity": quantity, "source": source, "value": v, **fields}


def check_stderr(value: Any, where: str) -> float:
    """A standard error as a float ≥ 0 (inf allowed); :class:`InvalidInputError` otherwise."""
    try:
        se = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{where}: stderr must be a number, got {value!r}") from None
    if isinstance(value, bool) or math.isnan(se) or se < 0:
        raise InvalidInputError(f"{where}: stderr must be a number ≥ 0, got {value!r}")
    return se


def to_frame(records: Iterable[Mapping[str, Any]]) -> Any:
    """Records → a pandas DataFrame with :data:`CORE_COLUMNS` first (missing ones added as NA;
    a missing ``seed`` is -1, the theory convention), other columns after, in first-seen order.
    """
    import pandas as pd

    if isinstance(records, str | bytes | Mapping) or not isinstance(records, Iterable):
        raise InvalidInputError(
            f"records must be an iterable of record mappings (dicts), got {records!r:.80}"
        )
    rows = list(records)
    bad = [r for r in rows if not isinstance(r, Mapping)]
    if bad:
        raise InvalidInputError(
            f"records must be mappings (dicts from finetune_bounds.record), got {bad[0]!r:.80}"
        )
    df = pd.DataFrame(rows)
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


def check_frame(frame: Any, name: str = "frame") -> None:
    """``frame`` must be a pandas DataFrame (of records, :func:`to_frame`)."""
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise InvalidInputError(
            f"{name} must be a pandas DataFrame of records (finetune_bounds.to_frame), got "
            f"{type(frame).__name__}: {frame!r:.60}"
        )


def summarize(frame: Any, by: Sequence[str] | None = None) -> Any:
    """Mean, standard error and count of ``value`` over seeds.

    ``by`` defaults to every column except ``seed``, ``value`` and ``stderr``. The standard
    error is std(ddof=1)/√count over the rows of a group (inf when a group of several rows holds
    an infinite value, since its spread is then unbounded). A group of a single row reports the
    row's own ``stderr`` field when it has one (a randomised theory value), else 0 (an exact
    value).

    Returns
    -------
    pandas.DataFrame
        The ``by`` columns, then ``mean``, ``count``, ``stderr``.

    Raises
    ------
    InvalidInputError
        No ``value`` column, or a ``by`` column missing from the frame.
    """
    check_frame(frame, "frame")
    if "value" not in frame.columns:
        raise InvalidInputError("summarize needs a 'value' column")
    if isinstance(by, str):
        by = [by]
    if by is not None and (not isinstance(by, Sequence | np.ndarray)
                           or not all(isinstance(k, str) for k in by)):
        raise InvalidInputError(f"by must be a sequence of column names or None, got {by!r}")
    keys = list(by) if by is not None else [c for c in frame.columns if c not in VALUE_FIELDS]
    missing = [k for k in keys if k not in frame.columns]
    if missing:
        raise InvalidInputError(f"summarize: column(s) {missing} not in the frame")
    if not keys:
        raise InvalidInputError("summarize needs at least one column to group by")
    g = frame.groupby(keys, dropna=False, sort=True)["value"]
    out = g.agg(mean="mean", std="std", count="count").reset_index()
    se = (out["std"].fillna(0.0) / np.sqrt(out["count"])).astype(float)
    spread_unbounded = (out["count"] > 1) & ~np.isfinite(out["mean"].astype(float))
    se = se.where(~spread_unbounded, np.inf)
    if "stderr" in frame.columns and "stderr" not in keys:
        own = frame.groupby(keys, dropna=False, sort=True)["stderr"].first().reset_index(drop=True)
        own = own.astype(float)
        single = (out["count"] == 1) & own.notna()
        se = se.where(~single, own)
    out["stderr"] = se
    return out.drop(columns="std")
