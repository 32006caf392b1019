"""Infinite-width transfer: adaptive kernels after rich pretraining (spec
``infinite-width-transfer.md``).

The lazy kernels of the two-layer mean-field network (closed forms and their Monte Carlo check,
§2); the adaptive kernels after rich training by particle DMFT with the linear closed forms S-A
and S-B (§2; ReLU particles chatter on their kinks, so ReLU runs end ``stalled`` rather than
converged, see :func:`particle_dmft`); the transfer protocols scratch (lazy, rich), FT, JR-E and
JR-I on the particle solver (:func:`transfer_dmft`) and on finite-width networks trained by
gradient descent (:func:`transfer_network`, :mod:`.simulate`), §3; kernel learning curves for any
kernel spectrum, also from an empirical pool of inputs, and the linear toy model of transfer in
the proportional limit with its phase diagrams (:func:`toy_transfer`, :func:`phase_diagram`), §4;
task pairs (linear, Hermite, digits) in :func:`linear_pair`, :func:`hermite_pair`,
:func:`digits_pair`. See ``docs/infinite_width.md``.

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

from ._tasks import TASK_KINDS, TransferTask, digits_pair, hermite_pair, linear_pair, make_task
from .simulate import (
    Network,
    TrainResult,
    WidthSweep,
    init_network,
    readout_ridge,
    train,
    transfer_network,
    width_sweep,
)
from .theory import (
    BASELINES,
    PROTOCOLS,
    READOUTS,
    DMFTResult,
    EmpiricalSpectrum,
    LazyKernels,
    LearningCurve,
    LinearClosedForm,
    MonteCarloKernels,
    PhaseDiagram,
    RidgeLimits,
    SourceLimit,
    ToyTransfer,
    TransferCurve,
    TransferResult,
    TransferSetting,
    empirical_spectrum,
    input_kernel,
    lazy_kernels,
    learning_curve,
    linear_closed_form_sa,
    linear_closed_form_sb,
    monte_carlo_kernels,
    mp_stieltjes,
    particle_dmft,
    phase_diagram,
    ridge_limits,
    ridge_readout_predict,
    source_limit,
    toy_transfer,
    transfer_curve,
    transfer_dmft,
)

__all__ = [
    "BASELINES",
    "PROTOCOLS",
    "READOUTS",
    "TASK_KINDS",
    "DMFTResult",
    "EmpiricalSpectrum",
    "LazyKernels",
    "LearningCurve",
    "LinearClosedForm",
    "MonteCarloKernels",
    "Network",
    "PhaseDiagram",
    "RidgeLimits",
    "SourceLimit",
    "ToyTransfer",
    "TrainResult",
    "TransferCurve",
    "TransferResult",
    "TransferSetting",
    "TransferTask",
    "WidthSweep",
    "digits_pair",
    "empirical_spectrum",
    "hermite_pair",
    "init_network",
    "input_kernel",
    "lazy_kernels",
    "learning_curve",
    "linear_closed_form_sa",
    "linear_closed_form_sb",
    "linear_pair",
    "make_task",
    "monte_carlo_kernels",
    "mp_stieltjes",
    "particle_dmft",
    "phase_diagram",
    "readout_ridge",
    "ridge_limits",
    "ridge_readout_predict",
    "source_limit",
    "toy_transfer",
    "train",
    "transfer_curve",
    "transfer_dmft",
    "transfer_network",
    "width_sweep",
]
