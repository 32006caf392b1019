"""Small input and result checks of the diagonal family (private).

Shared validators live in :mod:`finetune_bounds._validation`; these are the few the diagonal
family needs beyond them (issue 13: booleans, seed counts under the ``draws`` limit, finiteness
of results).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import limits
from .._validation import positive_int, seed_list
from ..errors import InvalidInputError, SolverError

__all__ = ["finite_result", "flag", "seeds_checked"]


def flag(x: Any, name: str) -> bool:
    """A boolean switch: ``True``/``False`` (or numpy booleans) only."""
    if not isinstance(x, bool | np.bool_):
        raise InvalidInputError(f"{name} must be True or False, got {x!r}")
    return bool(x)


def seeds_checked(seeds: Any) -> tuple[int, ...]:
    """:func:`~finetune_bounds._validation.seed_list` with the ``draws`` limit checked first
    (before a huge count is expanded into a tuple)."""
    if isinstance(seeds, int | np.integer) and not isinstance(seeds, bool | np.bool_):
        positive_int(seeds, "seeds", limit="draws")
    elif isinstance(seeds, Sequence | np.ndarray) and not isinstance(seeds, str | bytes):
        limits.check(len(seeds), "draws", "seeds")
    return seed_list(seeds)


def finite_result(what: str, **values: Any) -> None:
    """Raise :class:`SolverError` naming ``what`` and the first non-finite value."""
    for name, v in values.items():
        arr = np.asarray(v, dtype=np.float64)
        if not np.all(np.isfinite(arr)):
            raise SolverError(
                f"{what} produced a non-finite {name} (overflow from extreme input scales);"
                " rescale the inputs"
            )
