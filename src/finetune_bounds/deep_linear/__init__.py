"""Fine-tuning deep linear networks from pretrained weights (spec ``linear-teachers.md`` §3).

The theory is in :mod:`.theory` (a public face over private modules, one per job), real layered
networks in :mod:`.simulate`. Every result carries ``info`` (a
:class:`~finetune_bounds._numerics.SolverInfo`) and ``status``; see :mod:`.theory`.
"""

from .theory import (
    METHODS,
    DepthCoefficient,
    ExpectedRisk,
    FrozenResult,
    PredictorResult,
    SampleComplexity,
    SampleRisk,
    check_depth,
    depth_coefficient,
    expected_risk,
    frozen_predictor,
    frozen_risk_floor,
    predictor,
    risk_curve,
    sample_complexity,
    sample_risk,
    solve_predictor,
)

__all__ = [
    "METHODS",
    "DepthCoefficient",
    "ExpectedRisk",
    "FrozenResult",
    "PredictorResult",
    "SampleComplexity",
    "SampleRisk",
    "check_depth",
    "depth_coefficient",
    "expected_risk",
    "frozen_predictor",
    "frozen_risk_floor",
    "predictor",
    "risk_curve",
    "sample_complexity",
    "sample_risk",
    "solve_predictor",
]
