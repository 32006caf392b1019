"""Fine-tuning linear regression from a linear source teacher (spec ``linear-teachers.md`` §2).

Theory (closed forms, deterministic equivalent, bounds) and simulation (gradient descent on
sampled data) for the linear family.
"""

from .theory import (
    BoundResult,
    KappaSolution,
    RiskResult,
    SampleComplexity,
    SampleRisk,
    benign_bound,
    bounds,
    expected_risk,
    finetuned_predictor,
    head_tail_bound,
    measure_correlation_study,
    naive_bound,
    random_task,
    risk_curve,
    row_space_projector,
    sample_complexity,
    sample_risk,
    solve_kappa,
)

__all__ = [
    "BoundResult",
    "KappaSolution",
    "RiskResult",
    "SampleComplexity",
    "SampleRisk",
    "benign_bound",
    "bounds",
    "expected_risk",
    "finetuned_predictor",
    "head_tail_bound",
    "measure_correlation_study",
    "naive_bound",
    "random_task",
    "risk_curve",
    "row_space_projector",
    "sample_complexity",
    "sample_risk",
    "solve_kappa",
]
