"""Infinite-width transfer: adaptive kernels after rich pretraining (spec
``infinite-width-transfer.md``).

Work in progress (issue 11). Available: the lazy kernels of the two-layer mean-field network
(closed forms and their Monte Carlo check, §2), the adaptive kernels after rich training by
particle DMFT with the linear closed forms S-A and S-B (§2; ReLU runs stall near the kinks —
capped by ``max_steps``, see :func:`particle_dmft`), and kernel learning curves for any kernel
spectrum, also from an empirical pool of inputs (§4). To come: the transfer protocols,
finite-width training, the family, the CLI and the report.

Examples
--------
>>> import numpy as np
>>> from finetune_bounds import infinite_width as iw
>>> lc = iw.learning_curve(np.arange(1, 101) ** -1.5, np.arange(1, 101) ** -2.0, [0, 10, 100],
...                        ridge=1e-3)
>>> bool(lc.error[0] == np.sum(np.arange(1, 101) ** -2.0)) and bool(lc.error[2] < lc.error[1])
True
"""

from __future__ import annotations

from .theory import (
    DMFTResult,
    EmpiricalSpectrum,
    LazyKernels,
    LearningCurve,
    LinearClosedForm,
    MonteCarloKernels,
    empirical_spectrum,
    input_kernel,
    lazy_kernels,
    learning_curve,
    linear_closed_form_sa,
    linear_closed_form_sb,
    monte_carlo_kernels,
    particle_dmft,
)

__all__ = [
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
