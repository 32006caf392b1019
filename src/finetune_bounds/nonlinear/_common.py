"""Shared pieces of the nonlinear (PyTorch) family (private): the three knobs, determinism, the
torch import, results.

The knobs (spec diagonal-networks §5, last item) act on the *pretraining* initialisation:

- ``kappa`` (relative layer scale κ): the weights of the early layers are multiplied by κ and
  those of the later layers by 1/κ (κ < 1: smaller early layers, the analogue of λ_PT < 0);
- ``scale`` (global multiplier): every layer's weights are multiplied by it (the analogue of
  c_PT);
- ``readout_scale``: the readout re-initialised before fine-tuning is the default
  initialisation multiplied by it (the analogue of γ_FT).

Everything runs on the CPU in float32 with one intra-op thread and deterministic algorithms, so
the same seed gives the same numbers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .._validation import nonneg_float
from ..errors import FinetuneBoundsError, InvalidInputError

__all__ = ["FinetuneResult", "Knobs", "TorchUnavailableError", "deterministic", "require_torch"]


class TorchUnavailableError(FinetuneBoundsError, ImportError):
    """PyTorch is not installed (``pip install "finetune-bounds[torch]"``)."""


def require_torch() -> Any:
    """Import torch or raise :class:`TorchUnavailableError` with the install command."""
    try:
        import torch
    except ImportError:
        raise TorchUnavailableError(
            "the nonlinear family needs PyTorch: pip install \"finetune-bounds[torch]\" "
            "(torch==2.13.0, CPU)"
        ) from None
    return torch


def _positive(value: Any, name: str, *, allow_zero: bool = False) -> float:
    v = nonneg_float(value, name, positive=not allow_zero)
    if v > 1e6:
        raise InvalidInputError(f"{name} must be at most 1e6 (float32 weights), got {v:g}")
    return v


@dataclass(frozen=True)
class Knobs:
    """The three initialisation knobs (see the module docstring); all 1 = the default init."""

    kappa: float = 1.0
    scale: float = 1.0
    readout_scale: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "kappa", _positive(self.kappa, "kappa"))
        object.__setattr__(self, "scale", _positive(self.scale, "scale"))
        object.__setattr__(
            self, "readout_scale", _positive(self.readout_scale, "readout_scale", allow_zero=True)
        )

    @property
    def early(self) -> float:
        """Multiplier of the early layers' pretraining init: κ · scale."""
        return self.kappa * self.scale

    @property
    def late(self) -> float:
        """Multiplier of the later layers' pretraining init: scale / κ."""
        return self.scale / self.kappa


@contextlib.contextmanager
def deterministic(seed: int) -> Iterator[Any]:
    """Seed torch, one intra-op thread, deterministic algorithms; yields a torch.Generator.

    The previous thread count and determinism flag are restored on exit.
    """
    torch = require_torch()
    threads = torch.get_num_threads()
    flag = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(int(seed))
    gen = torch.Generator().manual_seed(int(seed))
    try:
        yield gen
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(flag)


@dataclass(frozen=True)
class FinetuneResult:
    """One fine-tuning run.

    Attributes
    ----------
    test_error : float
        Classification error on the held-out test set (fraction in [0, 1]).
    test_loss : float
        Mean cross-entropy on the test set.
    train_loss : float
        Final mean cross-entropy on the fine-tuning set.
    initial_train_loss : float
        Cross-entropy on the fine-tuning set before fine-tuning.
    steps : int
        Optimiser steps taken.
    n_ft : int
        Fine-tuning samples.
    """

    test_error: float
    test_loss: float
    train_loss: float
    initial_train_loss: float
    steps: int
    n_ft: int
