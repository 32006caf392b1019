"""Theory of transfer in infinite-width networks (spec ``infinite-width-transfer.md``).

So far (issue 11): the lazy NNGP/NTK references of the two-layer mean-field network (§2,
:mod:`._kernels`), the adaptive kernels by particle DMFT and the linear closed forms S-A/S-B
(§2, :mod:`._dmft`), and kernel learning curves for any spectrum (§4, :mod:`._learning_curve`).
"""

from __future__ import annotations

from ._dmft import (
    DMFTResult,
    LinearClosedForm,
    linear_closed_form_sa,
    linear_closed_form_sb,
    particle_dmft,
)
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
    "DMFTResult",
    "EmpiricalSpectrum",
    "LazyKernels",
    "LearningCurve",
    "LinearClosedForm",
    "MonteCarloKernels",
    "empirical_spectrum",
    "input_kernel",
    "lazy_kernels",
    "learning_curve",
    "linear_closed_form_sa",
    "linear_closed_form_sb",
    "monte_carlo_kernels",
    "particle_dmft",
]
