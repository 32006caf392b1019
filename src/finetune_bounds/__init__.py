"""finetune-bounds: how many target samples does fine-tuning need, and how good will it be?

The public face: problem specs, the model families (as subpackages), typed errors, the tidy
record helpers and the family registry. Everything else is private.

>>> import numpy as np, finetune_bounds as fb
>>> cov = fb.Covariance.from_spectrum(1.0 / np.arange(1, 101))
>>> task = fb.LinearTask(cov, source=np.zeros(100), target=np.ones(100) / 10)
>>> r = fb.linear.expected_risk(task, n=20)
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import (
    ConfigError,
    ConvergenceError,
    FinetuneBoundsError,
    InvalidInputError,
    NotReachableError,
    SolverError,
)
from .families import Family, available_families, get_family
from .problems import Covariance, LinearTask
from .records import SOURCES, record, summarize, to_frame

__version__ = "0.1.0"

__all__ = [
    "SOURCES",
    "ConfigError",
    "ConvergenceError",
    "Covariance",
    "Family",
    "FinetuneBoundsError",
    "InvalidInputError",
    "LinearTask",
    "NotReachableError",
    "SolverError",
    "__version__",
    "available_families",
    "deep_linear",
    "get_family",
    "linear",
    "record",
    "relu",
    "summarize",
    "to_frame",
]

_SUBPACKAGES = {"linear", "deep_linear", "relu", "sweep", "report", "testing", "data"}


def __getattr__(name: str) -> Any:  # lazy subpackages: `fb.linear` without import cost
    if name in _SUBPACKAGES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
