"""Input validation shared by every module (private)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .errors import InvalidInputError

FloatArray = NDArray[np.float64]


def as_float_array(x: ArrayLike, name: str, *, ndim: int | None = None) -> FloatArray:
    """Convert to a float64 array, checking dimensionality and finiteness."""
    try:
        arr = np.array(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name} must be numeric, got {type(x).__name__}: {exc}") from None
    if ndim is not None and arr.ndim != ndim:
        raise InvalidInputError(f"{name} must be {ndim}-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise InvalidInputError(f"{name} must not be empty")
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise InvalidInputError(f"{name} contains {bad} non-finite value(s) (NaN or inf)")
    return arr


def as_vector(x: ArrayLike, name: str, dim: int | None = None) -> FloatArray:
    arr = as_float_array(x, name)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise InvalidInputError(f"{name} must be a vector, got shape {arr.shape}")
    if dim is not None and arr.shape[0] != dim:
        raise InvalidInputError(f"{name} must have length {dim}, got {arr.shape[0]}")
    return arr


def positive_int(n: Any, name: str, *, allow_zero: bool = False) -> int:
    """Validate a (non-negative or positive) integer count."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer):
        if isinstance(n, float | np.floating) and math.isfinite(n) and float(n).is_integer():
            n = int(n)
        else:
            raise InvalidInputError(f"{name} must be an integer, got {n!r}")
    n = int(n)
    if n < 0 or (n == 0 and not allow_zero):
        need = "≥ 0" if allow_zero else "≥ 1"
        raise InvalidInputError(f"{name} must be {need}, got {n}")
    return n


def nonneg_float(x: Any, name: str, *, positive: bool = False) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must be a number, got {x!r}") from None
    if not math.isfinite(v):
        raise InvalidInputError(f"{name} must be finite, got {v}")
    if v < 0 or (positive and v == 0):
        raise InvalidInputError(f"{name} must be {'> 0' if positive else '≥ 0'}, got {v}")
    return v


def readonly(a: FloatArray) -> FloatArray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a
