"""Input validation shared by every module (private).

Every public entry point converts its inputs here, once, and raises
:class:`~finetune_bounds.errors.InvalidInputError` with a message that says what was expected and
what was given. Converted arrays are fresh float64 copies, so validation never mutates (or keeps a
writable alias to) a caller's array.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .errors import FinetuneBoundsError, InvalidInputError, SolverError

FloatArray = NDArray[np.float64]

__all__ = [
    "FloatArray",
    "as_float_array",
    "as_vector",
    "boolean",
    "check_choice",
    "fraction",
    "nonneg_float",
    "open_fraction",
    "optional_mapping",
    "positive_int",
    "readonly",
    "require_finite",
    "seed_list",
]


def as_float_array(
    x: ArrayLike, name: str, *, ndim: int | None = None, allow_empty: bool = False
) -> FloatArray:
    """Convert to a fresh float64 array, checking dimensionality and finiteness.

    Raises
    ------
    InvalidInputError
        Non-numeric or complex input, wrong number of dimensions, empty (unless ``allow_empty``),
        or any NaN/inf entry.
    """
    if np.iscomplexobj(x):
        raise InvalidInputError(f"{name} must be real, got a complex array")
    try:
        arr = np.array(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name} must be numeric, got {type(x).__name__}: {exc}") from None
    if ndim is not None and arr.ndim != ndim:
        raise InvalidInputError(f"{name} must be {ndim}-dimensional, got shape {arr.shape}")
    if arr.size == 0 and not allow_empty:
        raise InvalidInputError(f"{name} must not be empty, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise InvalidInputError(f"{name} contains {bad} non-finite value(s) (NaN or inf)")
    return arr


def as_vector(x: ArrayLike, name: str, dim: int | None = None) -> FloatArray:
    """A 1-D float64 copy of ``x`` (a (d, 1) or (1, d) matrix is flattened), of length ``dim``."""
    arr = as_float_array(x, name)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise InvalidInputError(f"{name} must be a vector, got shape {arr.shape}")
    if dim is not None and arr.shape[0] != dim:
        raise InvalidInputError(f"{name} must have length {dim}, got {arr.shape[0]}")
    return arr


def positive_int(
    n: Any, name: str, *, allow_zero: bool = False, limit: str | None = None
) -> int:
    """Validate a (non-negative or positive) integer count.

    Integral floats (``20.0``) are accepted; booleans, fractional and non-finite values are not.
    ``limit`` names a resource limit of :mod:`finetune_bounds.limits` (``"n"``, ``"d"``,
    ``"draws"``, ``"steps"``, ``"width"``) the count must not exceed
    (:class:`~finetune_bounds.errors.ResourceLimitError`).
    """
    if isinstance(n, bool | np.bool_) or not isinstance(n, int | np.integer):
        if isinstance(n, float | np.floating) and math.isfinite(n) and float(n).is_integer():
            n = int(n)
        else:
            raise InvalidInputError(f"{name} must be an integer, got {n!r}")
    n = int(n)
    if n < 0 or (n == 0 and not allow_zero):
        need = "≥ 0" if allow_zero else "≥ 1"
        raise InvalidInputError(f"{name} must be {need}, got {n}")
    if limit is not None:
        from .limits import check

        check(n, limit, name)
    return n


def nonneg_float(x: Any, name: str, *, positive: bool = False) -> float:
    """Validate a finite, non-negative (or strictly positive) real number."""
    if isinstance(x, bool | np.bool_ | str | bytes):
        raise InvalidInputError(f"{name} must be a number, got {x!r}")
    if isinstance(x, complex | np.complexfloating):
        raise InvalidInputError(f"{name} must be a real number, got {x!r}")
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must be a number, got {x!r}") from None
    if not math.isfinite(v):
        raise InvalidInputError(f"{name} must be finite, got {v}")
    if v < 0 or (positive and v == 0):
        raise InvalidInputError(f"{name} must be {'> 0' if positive else '≥ 0'}, got {v}")
    return v


def fraction(x: Any, name: str, *, positive: bool = False) -> float:
    """Validate a finite number in [0, 1] (or (0, 1] with ``positive``)."""
    v = nonneg_float(x, name, positive=positive)
    if v > 1.0:
        raise InvalidInputError(f"{name} must be in {'(0' if positive else '[0'}, 1], got {v}")
    return v


def open_fraction(x: Any, name: str, *, allow_none: bool = False) -> float | None:
    """Validate a relative tolerance: a finite number in (0, 1) (or None with ``allow_none``)."""
    if x is None and allow_none:
        return None
    v = nonneg_float(x, name, positive=True)
    if v >= 1.0:
        raise InvalidInputError(f"{name} is a relative tolerance and must be in (0, 1), got {v}")
    return v


def optional_mapping(x: Any, name: str) -> dict[str, Any]:
    """A mapping (or None: empty) with string keys, as a fresh dict."""
    if x is None:
        return {}
    if not isinstance(x, Mapping):
        raise InvalidInputError(f"{name} must be a mapping (dict) or None, got {x!r}")
    out = dict(x)
    bad = [k for k in out if not isinstance(k, str)]
    if bad:
        raise InvalidInputError(f"{name} keys must be strings, got {bad!r}")
    return out


def boolean(x: Any, name: str) -> bool:
    """A switch: ``True``/``False`` (numpy booleans too), nothing else (not 0/1, not "x")."""
    if not isinstance(x, bool | np.bool_):
        raise InvalidInputError(f"{name} must be True or False, got {x!r}")
    return bool(x)


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    """``value`` must be one of the strings in ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise InvalidInputError(f"{name} must be one of {choices}, got {value!r}")
    return value


def readonly(a: FloatArray) -> FloatArray:
    """Mark an array (that the caller owns) read-only and return it."""
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


def as_generator(rng: object) -> np.random.Generator:
    """A Generator from a Generator, an integer seed ≥ 0 or None (seed 0, reproducible)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng(0)
    return np.random.default_rng(positive_int(rng, "rng (seed)", allow_zero=True))


def seed_list(seeds: Any) -> tuple[int, ...]:
    """A count S (seeds 0 … S−1) or a non-empty sequence of seeds ≥ 0, as a tuple of ints.

    Raises
    ------
    InvalidInputError
        Not a positive count nor a sequence of non-negative integers (strings, booleans, an
        empty sequence, negative or non-integral seeds).
    """
    from .limits import check

    if isinstance(seeds, int | np.integer) and not isinstance(seeds, bool | np.bool_):
        # the draws limit before a count of 10⁹ is expanded into a tuple
        return tuple(range(positive_int(seeds, "seeds", limit="draws")))
    if isinstance(seeds, str | bytes) or not isinstance(seeds, Sequence | np.ndarray):
        raise InvalidInputError(f"seeds must be a count or a sequence of seeds, got {seeds!r}")
    check(len(seeds), "draws", "seeds")
    out = tuple(positive_int(s, "seed", allow_zero=True) for s in seeds)
    if not out:
        raise InvalidInputError("seeds must not be empty")
    return out


def require_finite(
    what: str, values: Mapping[str, Any] | Sequence[Any], *, message: str | None = None,
    error: type[FinetuneBoundsError] = SolverError,
) -> None:
    """Raise ``error`` (default :class:`~finetune_bounds.errors.SolverError`) when a result
    computed from finite input holds a NaN or inf: a non-finite number is never returned
    silently.

    ``values`` maps names to scalars/arrays (the message names the first non-finite one) or is
    a sequence of them; ``message`` replaces the default explanation (float64 overflow of an
    intermediate for inputs this extreme — rescale the inputs). Python floats are checked
    without an array round trip.
    """
    items = values.items() if isinstance(values, Mapping) else ((None, v) for v in values)
    for name, v in items:
        if isinstance(v, float):
            finite = math.isfinite(v)
        else:
            finite = bool(np.isfinite(np.asarray(v, dtype=np.float64)).all())
        if not finite:
            label = what if name is None else f"{what}: {name}"
            why = message or "float64 overflow of an intermediate for inputs this extreme"
            raise error(f"{label} is not finite ({why}); rescale the inputs")
