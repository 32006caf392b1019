"""Theory of fine-tuning diagonal linear networks (spec ``diagonal-networks.md`` §2–§4).

The fine-tuning penalty q and the c_FT map (§2, :mod:`._penalty`), the exact minimum-q
interpolant and the regime measures ℓ, PD and the regime label (§2, §4, :mod:`._bias`), and the
exact high-dimensional generalisation error (§3, :mod:`._fixed_point`), gathered in one place.
"""

from __future__ import annotations

from ._bias import (
    ELL_LAZY,
    PD_DEPENDENT,
    REPRESENTATIVE_BETA,
    MinQSolution,
    RegimeMeasures,
    classify_regime,
    ell_order,
    min_q_interpolant,
    pd_sensitivity,
    pretraining_dependence,
    regime_measures,
)
from ._fixed_point import (
    GROUPS,
    Denoised,
    ErrorCurve,
    GeneralizationError,
    denoiser,
    error_curve,
    generalization_error,
)
from ._penalty import c_finetune, q, q_prime, q_second

__all__ = [
    "ELL_LAZY",
    "GROUPS",
    "PD_DEPENDENT",
    "REPRESENTATIVE_BETA",
    "Denoised",
    "ErrorCurve",
    "GeneralizationError",
    "MinQSolution",
    "RegimeMeasures",
    "c_finetune",
    "classify_regime",
    "denoiser",
    "ell_order",
    "error_curve",
    "generalization_error",
    "min_q_interpolant",
    "pd_sensitivity",
    "pretraining_dependence",
    "q",
    "q_prime",
    "q_second",
    "regime_measures",
]
