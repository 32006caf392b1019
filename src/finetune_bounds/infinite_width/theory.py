"""Theory of transfer in infinite-width networks (spec ``infinite-width-transfer.md``).

So far (issue 11, first step): the lazy NNGP/NTK references of the two-layer mean-field network
(§2, :mod:`._kernels`) and kernel learning curves for any spectrum (§4, :mod:`._learning_curve`).
"""

from __future__ import annotations

from ._kernels import (
    ACTIVATIONS,
    LazyKernels,
    MonteCarloKernels,
    input_kernel,
    lazy_kernels,
    monte_carlo_kernels,
)
from ._learning_curve import EmpiricalSpectrum, LearningCurve, empirical_spectrum, learning_curve

__all__ = [
    "ACTIVATIONS",
    "EmpiricalSpectrum",
    "LazyKernels",
    "LearningCurve",
    "MonteCarloKernels",
    "empirical_spectrum",
    "input_kernel",
    "lazy_kernels",
    "learning_curve",
    "monte_carlo_kernels",
]
