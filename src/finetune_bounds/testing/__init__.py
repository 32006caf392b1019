"""Testing helpers for users of finetune-bounds: Hypothesis strategies.

The strategies live in :mod:`finetune_bounds.testing.strategies` and are re-exported here
lazily, so that ``import finetune_bounds`` never needs Hypothesis (an optional ``test`` extra).

>>> from finetune_bounds.testing import covariances, linear_tasks   # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .strategies import (
        covariances,
        designs,
        linear_tasks,
        orthogonal_matrices,
        spectra,
        tasks_with_designs,
    )

__all__ = [
    "covariances",
    "designs",
    "linear_tasks",
    "orthogonal_matrices",
    "spectra",
    "tasks_with_designs",
]


def __getattr__(name: str) -> Any:
    if name in __all__ or name == "strategies":
        mod = importlib.import_module(".strategies", __name__)
        return mod if name == "strategies" else getattr(mod, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
