"""Input checks and result guards shared by the relu modules (private).

:func:`guarded` wraps a public entry point: numpy floating-point warnings are silenced inside it
and the result is checked instead (a NaN, or an inf where none is documented, raises
:class:`~finetune_bounds.errors.SolverError` naming the cause), and a raw Python/numpy exception
escaping the explicit validation is re-raised as :class:`InvalidInputError` (never untyped).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

import numpy as np

from .._validation import nonneg_float, positive_int
from ..errors import FinetuneBoundsError, InvalidInputError, SolverError
from ..limits import check

F = TypeVar("F", bound=Callable[..., Any])

#: result fields documented to hold NaN (undefined correlations)
_NAN_OK = frozenset({"spearman", "pearson"})
#: result fields documented to hold inf (unreached targets, ratios to a zero risk, t = ∞)
_INF_OK = frozenset({"steps", "bound_ratio", "complexity_term_ratio", "data_dependent",
                     "ntk_limit", "worst_case", "rate", "condition"})


def _check_finite(obj: Any, where: str, name: str, depth: int = 0) -> None:
    if depth > 4 or obj is None or isinstance(obj, str | bool | int | np.random.Generator):
        return
    if isinstance(obj, float | np.floating | np.ndarray):
        a = np.asarray(obj)
        if a.dtype.kind != "f" or name in _NAN_OK:
            return
        if np.any(np.isnan(a)) or (name not in _INF_OK and np.any(np.isinf(a))):
            raise SolverError(
                f"{where}: the result {name} is not finite (the inputs overflow float64 in this "
                "computation); rescale the inputs/teachers"
            )
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            _check_finite(getattr(obj, f.name), where, f.name, depth + 1)
    elif isinstance(obj, tuple | list):
        for v in obj:
            _check_finite(v, where, name, depth + 1)


def guarded(func: F) -> F:
    """Silence numpy FP warnings, type stray exceptions, and refuse non-finite results."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with np.errstate(all="ignore"):
                out = func(*args, **kwargs)
        except FinetuneBoundsError:
            raise
        except (TypeError, ValueError, AttributeError, IndexError, ZeroDivisionError,
                OverflowError, np.linalg.LinAlgError) as exc:
            raise InvalidInputError(
                f"{func.__name__}: invalid input ({type(exc).__name__}: {exc})"
            ) from exc
        _check_finite(out, func.__name__, "result")
        return out

    return cast(F, wrapper)


def rng_list(rngs: Any, name: str = "rngs") -> list[np.random.Generator]:
    """A non-empty-or-empty list of Generators (a single Generator: a list of one)."""
    if isinstance(rngs, np.random.Generator):
        return [rngs]
    if isinstance(rngs, str | bytes) or not isinstance(rngs, Sequence | np.ndarray):
        raise InvalidInputError(
            f"{name} must be a sequence of numpy.random.Generator, got {type(rngs).__name__}"
        )
    check(len(rngs), "draws", name)
    out = list(rngs)
    bad = [g for g in out if not isinstance(g, np.random.Generator)]
    if bad:
        raise InvalidInputError(
            f"{name} must hold numpy.random.Generator objects, got {type(bad[0]).__name__}"
        )
    return out


def generator(rng: Any, name: str = "rng") -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise InvalidInputError(f"{name} must be a numpy.random.Generator, got {rng!r}")
    return rng


def int_list(values: Any, name: str, limit: str | None = None) -> list[int]:
    """A sequence of positive integers (each checked against ``limit``)."""
    if isinstance(values, str | bytes) or not isinstance(values, Sequence | np.ndarray):
        raise InvalidInputError(f"{name} must be a sequence of integers ≥ 1, got {values!r}")
    return [positive_int(v, name, limit=limit) for v in np.asarray(values, dtype=object).ravel()]


def float_list(values: Any, name: str) -> list[float]:
    """A sequence of finite numbers > 0."""
    if isinstance(values, str | bytes) or not isinstance(values, Sequence | np.ndarray):
        raise InvalidInputError(f"{name} must be a sequence of numbers > 0, got {values!r}")
    return [nonneg_float(v, name, positive=True) for v in np.asarray(values, dtype=object).ravel()]


def value_range(values: Any, name: str) -> tuple[float, float]:
    """A pair (low, high) with 0 < low ≤ high."""
    if isinstance(values, str | bytes) or not isinstance(values, Sequence | np.ndarray) or (
        len(values) != 2
    ):
        raise InvalidInputError(f"{name} must be a pair (low, high), got {values!r}")
    lo, hi = (nonneg_float(v, name, positive=True) for v in values)
    if lo > hi:
        raise InvalidInputError(f"{name} must satisfy low ≤ high, got {values!r}")
    return lo, hi
