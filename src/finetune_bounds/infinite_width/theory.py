"""Theory of transfer in infinite-width networks (spec ``infinite-width-transfer.md``).

The lazy NNGP/NTK references of the two-layer mean-field network (§2, :mod:`._kernels`), the
adaptive kernels by particle DMFT and the linear closed forms S-A/S-B (§2, :mod:`._dmft`), the
transfer protocols on the particle solver (§3, :mod:`._transfer`), kernel learning curves for any
spectrum (§4, :mod:`._learning_curve`) and the linear toy model of transfer in the proportional
limit with its phase diagrams (§4, :mod:`._toy`).
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
from ._toy import (
    PhaseDiagram,
    RidgeLimits,
    SourceLimit,
    ToyTransfer,
    mp_stieltjes,
    phase_diagram,
    ridge_limits,
    source_limit,
    toy_transfer,
)
from ._transfer import (
    BASELINES,
    PROTOCOLS,
    READOUTS,
    TransferCurve,
    TransferResult,
    TransferSetting,
    ridge_readout_predict,
    transfer_curve,
    transfer_dmft,
)

__all__ = [
    "ACTIVATIONS",
    "BASELINES",
    "PROTOCOLS",
    "READOUTS",
    "DMFTResult",
    "EmpiricalSpectrum",
    "LazyKernels",
    "LearningCurve",
    "LinearClosedForm",
    "MonteCarloKernels",
    "PhaseDiagram",
    "RidgeLimits",
    "SourceLimit",
    "ToyTransfer",
    "TransferCurve",
    "TransferResult",
    "TransferSetting",
    "empirical_spectrum",
    "input_kernel",
    "lazy_kernels",
    "learning_curve",
    "linear_closed_form_sa",
    "linear_closed_form_sb",
    "monte_carlo_kernels",
    "mp_stieltjes",
    "particle_dmft",
    "phase_diagram",
    "ridge_limits",
    "ridge_readout_predict",
    "source_limit",
    "toy_transfer",
    "transfer_curve",
    "transfer_dmft",
]
