"""Shared validators of :mod:`finetune_bounds._validation` not covered elsewhere."""

from __future__ import annotations

import numpy as np
import pytest

from finetune_bounds._validation import require_finite
from finetune_bounds.errors import InvalidInputError, SolverError


def test_require_finite_names_the_value_and_the_error_class() -> None:
    require_finite("ok", {"a": 1.0, "b": np.ones(3)})  # finite: nothing
    with pytest.raises(SolverError, match=r"^fit: risk is not finite \(float64 overflow"):
        require_finite("fit", {"bias": 1.0, "risk": np.array([1.0, np.inf])})
    with pytest.raises(InvalidInputError, match=r"^fit is not finite \(too big\); rescale"):
        require_finite("fit", [np.nan], message="too big", error=InvalidInputError)
