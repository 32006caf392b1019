"""Validation and small helpers shared by the deep-linear theory modules (private).

:func:`check_depth` is public (re-exported by :mod:`finetune_bounds.deep_linear`); the rest are
implementation details.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._validation import FloatArray, as_generator, positive_int, require_finite
from ..errors import InvalidInputError
from ..problems import check_linear_task

__all__ = ["check_depth"]

#: relative size below which ‖X⁺y‖ (resp. ‖θ_S‖) counts as zero (degenerate input)
_DEGENERATE_TOL = 1e-12

#: largest finite depth accepted (beyond it use ``inf``; float(L) must not overflow)
_MAX_FINITE_DEPTH = 10**300

_check_task = check_linear_task
_generator = as_generator


def check_depth(depth: Any, name: str = "depth") -> float:
    """Validate a depth: an integer L ≥ 1 or ``math.inf`` (also the strings ``"inf"``/``"∞"``).

    Returns a float (``1.0, 2.0, …`` or ``inf``) so that finite and infinite depths share one
    type; integral floats such as ``3.0`` are accepted.

    Raises
    ------
    InvalidInputError
        For L < 1, a fractional depth, NaN, booleans or non-numbers.
    """
    if type(depth) is int and 1 <= depth <= _MAX_FINITE_DEPTH:  # the common case, as below
        return float(depth)
    if isinstance(depth, str):
        if depth.strip().lower() in ("inf", "infinity", "∞", "+inf"):
            return math.inf
        try:
            depth = float(depth) if "." in depth or "e" in depth.lower() else int(depth)
        except ValueError:
            raise InvalidInputError(
                f"{name} must be an integer ≥ 1 or 'inf', got {depth!r}"
            ) from None
        if isinstance(depth, float) and not math.isfinite(depth):  # "1e400" overflows to inf
            raise InvalidInputError(
                f"{name} must be an integer ≥ 1 or 'inf' (written so), got a number that "
                f"overflows float64"
            )
    if isinstance(depth, bool | np.bool_):
        raise InvalidInputError(f"{name} must be an integer ≥ 1 or inf, got {depth!r}")
    if isinstance(depth, float | np.floating) and math.isinf(depth) and depth > 0:
        return math.inf
    if isinstance(depth, float | np.floating) and not math.isfinite(depth):
        raise InvalidInputError(f"{name} must be an integer ≥ 1 or inf, got {depth!r}")
    try:
        value = positive_int(depth, name)
    except InvalidInputError:
        raise InvalidInputError(
            f"{name} must be an integer ≥ 1 or inf (depth < 1 has no network), got {depth!r}"
        ) from None
    if value > _MAX_FINITE_DEPTH:
        raise InvalidInputError(
            f"{name} must be an integer in [1, {_MAX_FINITE_DEPTH:.0e}] or inf, got {depth!r} "
            f"(use math.inf for the infinite-depth limit)"
        )
    return float(value)


def _depth_label(depth: float) -> str:
    return "inf" if math.isinf(depth) else str(int(depth))


def _check_frozen(frozen_layers: Any) -> int:
    return positive_int(frozen_layers, "frozen_layers", allow_zero=True)


def _ro(a: FloatArray) -> FloatArray:
    """A read-only copy that keeps 0-d arrays 0-d (``readonly`` promotes them to 1-d)."""
    out = np.array(a, dtype=np.float64)
    out.setflags(write=False)
    return out




def _require_finite(what: str, *values: Any) -> None:
    """Raise :class:`SolverError` when a result computed from finite input is NaN/inf
    (overflow of an intermediate): :func:`~finetune_bounds._validation.require_finite`."""
    require_finite(what, values)
