"""Checks shared by the infinite-width routes (private): sequences of names or sizes, and the
final finiteness check of a result computed from finite input."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._validation import check_choice, positive_int, require_finite, seed_list
from ..errors import InvalidInputError, SolverError

__all__ = ["choices", "ensure_finite", "seeds", "sizes"]


def choices(values: Any, name: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """A non-empty sequence of strings from ``allowed`` (a single string is one choice)."""
    if isinstance(values, str):
        values = (values,)
    if not isinstance(values, Sequence | np.ndarray):
        raise InvalidInputError(
            f"{name} must be a sequence of names from {allowed}, got {values!r}"
        )
    out = tuple(check_choice(v, name, allowed) for v in values)
    if not out:
        raise InvalidInputError(f"{name} must name at least one of {allowed}")
    return out


def sizes(values: Any, name: str, *, limit: str | None = None) -> list[int]:
    """A non-empty sequence of positive integers (each checked against ``limit``)."""
    if isinstance(values, int | np.integer) and not isinstance(values, bool | np.bool_):
        values = [values]
    if isinstance(values, str | bytes) or not isinstance(values, Sequence | np.ndarray):
        raise InvalidInputError(f"{name} must be a sequence of positive integers, got {values!r}")
    out = [positive_int(v, name, limit=limit) for v in values]
    if not out:
        raise InvalidInputError(f"{name} must not be empty")
    return out


def ensure_finite(
    what: str, *arrays: Any, cause: str = "overflows float64", solver: bool = False
) -> None:
    """Raise when any array holds NaN or inf although the input was finite:
    :class:`InvalidInputError` (inputs too large to represent the result), or
    :class:`SolverError` with ``solver=True`` (an iteration diverged)."""
    require_finite(f"{what}: the result", arrays, message=cause,
                   error=SolverError if solver else InvalidInputError)


def seeds(value: Any) -> list[int]:
    """:func:`~finetune_bounds._validation.seed_list` (it checks the draws limit), as a list."""
    return list(seed_list(value))
