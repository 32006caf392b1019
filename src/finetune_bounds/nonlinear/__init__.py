"""Nonlinear networks (PyTorch): does a smaller early-layer initialisation help fine-tuning?

Spec ``diagonal-networks.md`` §5 (last item). The diagonal-network theory predicts that a smaller
initialisation of the earlier layers lets fine-tuning reuse *and* refine pretrained features,
that a larger overall scale hurts (lazier fine-tuning), and that a smaller re-initialised readout
helps at intermediate sample sizes. This subpackage checks that on real networks trained on data
that ships offline:

- ``digits_cnn``: a small CNN pretrained on scikit-learn's digits 0–7, fine-tuned (fresh 2-way
  readout, all layers trained) on 8 vs 9 with n samples;
- ``modular``: a small Transformer pretrained on one modular-arithmetic operation and fine-tuned
  (fresh readout, all layers trained) on a related one.

Three knobs shape the pretraining initialisation (:class:`Knobs`): the relative layer scale κ
(early layers ×κ, later ×1/κ), a global multiplier, and the scale of the readout re-initialised
before fine-tuning. The ``nonlinear`` sweep family runs each knob × n × seeds through the sweep
spine (resumable, any executor) with the diagonal-network analogue's error beside it.

Needs the optional extra ``torch`` (``pip install "finetune-bounds[torch]"``: torch 2.13.0, CPU);
without it, calls raise :class:`TorchUnavailableError`. Runs use float32, one intra-op thread and
deterministic algorithms: the same seed gives the same numbers.
"""

from __future__ import annotations

from typing import Any

from ._common import FinetuneResult, Knobs, TorchUnavailableError, deterministic, require_torch
from ._family import TASKS, analogue_settings, task_module, winners

__all__ = [
    "TASKS",
    "FinetuneResult",
    "Knobs",
    "TorchUnavailableError",
    "analogue_settings",
    "deterministic",
    "finetune",
    "pretrain",
    "require_torch",
    "scratch",
    "winners",
]


def _task(task: Any) -> Any:
    from .._validation import check_choice

    return task_module(check_choice(task, "task", tuple(TASKS)))


def pretrain(task: str, knobs: Knobs, seed: int, **kwargs: Any) -> dict[str, Any]:
    """Pretrain the network of ``task`` from the knob-scaled init; its state as numpy arrays
    (plus ``pretrain_test_error``). Keyword arguments go to the task's ``pretrain``."""
    return dict(_task(task).pretrain(knobs, seed, **kwargs))


def finetune(task: str, state: dict[str, Any], n: int, knobs: Knobs, seed: int,
             **kwargs: Any) -> FinetuneResult:
    """Fine-tune a pretrained ``state`` on ``n`` samples of the task's fine-tuning problem
    (fresh readout × ``knobs.readout_scale``, all layers trained)."""
    return _task(task).finetune(state, n, knobs, seed, **kwargs)


def scratch(task: str, n: int, knobs: Knobs, seed: int, **kwargs: Any) -> FinetuneResult:
    """Train the task's network from its knob-scaled init on ``n`` fine-tuning samples alone."""
    return _task(task).scratch(n, knobs, seed, **kwargs)
