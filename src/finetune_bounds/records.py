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
    """One tidy row. ``source`` must be one of :data:`SOURCES`; ``value`` is a float (inf is
    allowed, e.g. a diverging variance; NaN is not)."""
    if source not in SOURCES:
        raise InvalidInputError(f"source must be one of {SOURCES}, got {source!r}")
    v = float(value)
    if math.isnan(v):
        raise InvalidInputError(f"record {quantity!r} has a NaN value")
    return {"quantity": quantity, "source": source, "value": v, **fields}


def to_frame(records: Iterable[Mapping[str, Any]]) -> Any:
    """Records → a pandas DataFrame with :data:`CORE_COLUMNS` first (missing ones added)."""
    import pandas as pd

    df = pd.DataFrame(list(records))
    for col in CORE_COLUMNS:
        if col not in df.columns:
            df[col] = pd.NA if col not in ("seed",) else -1
    rest = [c for c in df.columns if c not in CORE_COLUMNS]
    return df[list(CORE_COLUMNS) + rest]


def summarize(frame: Any, by: Sequence[str] | None = None) -> Any:
    """Mean, standard error and count of ``value`` over seeds.

    ``by`` defaults to every column except ``seed`` and ``value``. The standard error is
    std(ddof=1)/√count (0 for a single row, e.g. a theory value).
    """
    keys = list(by) if by is not None else [c for c in frame.columns if c not in ("seed", "value")]
    g = frame.groupby(keys, dropna=False, sort=True)["value"]
    out = g.agg(mean="mean", std="std", count="count").reset_index()
    out["stderr"] = (out["std"].fillna(0.0) / np.sqrt(out["count"])).astype(float)
    return out.drop(columns="std")
