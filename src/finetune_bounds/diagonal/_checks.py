"""Small input and result checks of the diagonal family (private).

Shared validators (booleans, seed lists under the ``draws`` limit) live in
:mod:`finetune_bounds._validation`; this is the finiteness check of the diagonal family's results.
"""

from __future__ import annotations

from typing import Any

from .._validation import require_finite

__all__ = ["finite_result"]


def finite_result(what: str, **values: Any) -> None:
    """Raise :class:`SolverError` naming ``what`` and the first non-finite value
    (:func:`~finetune_bounds._validation.require_finite`)."""
    require_finite(what, values, message="overflow from extreme input scales")
