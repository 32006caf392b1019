"""Fine-tuning linear regression from a linear source teacher (spec ``linear-teachers.md`` §2).

Theory (closed forms, deterministic equivalent, bounds) and simulation (gradient descent on
sampled data) for the linear family.
"""

from ._tasks import example_task, spectrum_task
from ._weights import RiskWeights, WeightedRisk, risk_weights
from .simulate import (
    EmpiricalSampleComplexity,
    GDResult,
    closed_form_batch,
    empirical_sample_complexity,
    gradient_descent,
    simulate_batch,
    simulate_curve,
    summarize_curve,
)
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
    "EmpiricalSampleComplexity",
    "GDResult",
    "KappaSolution",
    "RiskResult",
    "RiskWeights",
    "SampleComplexity",
    "SampleRisk",
    "WeightedRisk",
    "benign_bound",
    "bounds",
    "closed_form_batch",
    "empirical_sample_complexity",
    "example_task",
    "expected_risk",
    "finetuned_predictor",
    "gradient_descent",
    "head_tail_bound",
    "measure_correlation_study",
    "naive_bound",
    "random_task",
    "risk_curve",
    "risk_weights",
    "row_space_projector",
    "sample_complexity",
    "sample_risk",
    "simulate_batch",
    "simulate_curve",
    "solve_kappa",
    "spectrum_task",
    "summarize_curve",
]
