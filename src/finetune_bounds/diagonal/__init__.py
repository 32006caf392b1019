"""Diagonal linear networks: how pretraining initialisation scales shape fine-tuning.

Spec ``diagonal-networks.md``. A two-layer, two-pathway diagonal network is pretrained from a
balanced initialisation of absolute scale c_PT and relative layer scale λ_PT (λ_PT < 0: smaller
earlier layer), its readout re-initialised at scale γ_FT, and fine-tuned by gradient descent.

- :mod:`.theory`: the implicit bias (minimum Σ q(β_i; c_FT,i) interpolant, §2), the regime
  measures ℓ and PD and the regime label I–IV (§4), and the exact high-dimensional error (§3,
  :func:`generalization_error`).
- :mod:`.simulate`: the network itself, trained by full-batch gradient descent (§1), batched
  over seeds.

Examples
--------
>>> from finetune_bounds import diagonal
>>> r = diagonal.generalization_error(0.3, omega=0.5, lambda_pt=0.0, gamma_ft=0.0)
>>> round(r.error, 4)  # spec §3 reference table: 0.0912
0.0912
>>> str(diagonal.regime_measures(1e-3, -0.99, 0.0).regime)
'IV'
"""

from __future__ import annotations

from .simulate import (
    DiagonalGDResult,
    DiagonalNetwork,
    SimulationResult,
    Teachers,
    finetune_init,
    gradient_descent,
    pretrained_state,
    pretraining_init,
    sample_teachers,
    simulate_finetuning,
    simulate_scratch,
)
from .theory import (
    ErrorCurve,
    GeneralizationError,
    MinQSolution,
    RegimeMeasures,
    c_finetune,
    classify_regime,
    ell_order,
    error_curve,
    generalization_error,
    min_q_interpolant,
    pd_sensitivity,
    pretraining_dependence,
    regime_measures,
)

__all__ = [
    "DiagonalGDResult",
    "DiagonalNetwork",
    "ErrorCurve",
    "GeneralizationError",
    "MinQSolution",
    "RegimeMeasures",
    "SimulationResult",
    "Teachers",
    "c_finetune",
    "classify_regime",
    "ell_order",
    "error_curve",
    "finetune_init",
    "generalization_error",
    "gradient_descent",
    "min_q_interpolant",
    "pd_sensitivity",
    "pretrained_state",
    "pretraining_dependence",
    "pretraining_init",
    "regime_measures",
    "sample_teachers",
    "simulate_finetuning",
    "simulate_scratch",
]
