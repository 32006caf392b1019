"""Small input and result checks of the diagonal family (private).

Shared validators (booleans, seed lists under the ``draws`` limit) live in
:mod:`finetune_bounds._validation`; this is the finiteness check of the diagonal family's results.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import SolverError

__all__ = ["finite_result"]


def finite_result(what: str, **values: Any) -> None:
    """Raise :class:`SolverError` naming ``what`` and the first non-finite value."""
    for name, v in values.items():
        arr = np.asarray(v, dtype=np.float64)
        if not np.all(np.isfinite(arr)):
            raise SolverError(
                f"{what} produced a non-finite {name} (overflow from extreme input scales);"
                " rescale the inputs"
            )
