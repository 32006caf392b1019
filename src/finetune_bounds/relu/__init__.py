"""Two-layer ReLU networks in the NTK regime, fine-tuned from a linear source teacher.

Spec ``linear-teachers.md`` §4 (theory, simulation) and §5 (digits). Theory: the arc-cosine
NTK Gram matrix, the data-dependent complexity rᵀH⁻¹r, the Arora et al. generalisation bound and
its worst-case form, the kernel-regression limit of fine-tuning, sample complexities. Simulation:
numpy training of the network from an antisymmetric initialisation, batched over seeds.
"""

from ._tasks import LABEL_FUNCTIONS, ReluTask, Split, digits_task, random_instance, synthetic_task
from .simulate import (
    ReluNetwork,
    TrainResult,
    antisymmetric_init,
    closed_form_pretrain,
    empirical_ntk,
    gd_pretrain,
    simulate_cell,
    simulate_measures,
    train,
)
from .theory import (
    DEFAULT_CONSTANT,
    DEFAULT_DELTA,
    Complexity,
    GramSystem,
    KernelCurve,
    KernelPrediction,
    NTKBound,
    NTKSampleComplexity,
    WorstCaseComplexity,
    bound_sample_complexity,
    clipped_abs_loss,
    complexity,
    generalization_bound,
    gram_system,
    kernel_learning_curve,
    kernel_predict,
    normalize_inputs,
    ntk_gram,
    rate_sample_complexity,
    theory_curve,
    theory_sample_complexity,
    worst_case_complexity,
)

__all__ = [
    "DEFAULT_CONSTANT",
    "DEFAULT_DELTA",
    "LABEL_FUNCTIONS",
    "Complexity",
    "GramSystem",
    "KernelCurve",
    "KernelPrediction",
    "NTKBound",
    "NTKSampleComplexity",
    "ReluNetwork",
    "ReluTask",
    "Split",
    "TrainResult",
    "WorstCaseComplexity",
    "antisymmetric_init",
    "bound_sample_complexity",
    "clipped_abs_loss",
    "closed_form_pretrain",
    "complexity",
    "digits_task",
    "empirical_ntk",
    "gd_pretrain",
    "generalization_bound",
    "gram_system",
    "kernel_learning_curve",
    "kernel_predict",
    "normalize_inputs",
    "ntk_gram",
    "random_instance",
    "rate_sample_complexity",
    "simulate_cell",
    "simulate_measures",
    "synthetic_task",
    "theory_curve",
    "theory_sample_complexity",
    "train",
    "worst_case_complexity",
]
