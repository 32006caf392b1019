"""finetune-bounds: how many target samples does fine-tuning need, and how good will it be?

The public face: problem specs, the model families (as subpackages), typed errors, the tidy
record helpers and the family registry. Everything else is private.

>>> import numpy as np, finetune_bounds as fb
>>> cov = fb.Covariance.from_spectrum(1.0 / np.arange(1, 101))
>>> task = fb.LinearTask(cov, source=np.ones(100) / 10, target=np.ones(100) / 10 + 0.01)
>>> r = fb.linear.expected_risk(task, n=20)
>>> ans = fb.sample_complexity(task, 1e-3, model=['linear', 'deep-linear:3'])
>>> ans.get('linear').n, ans.get('deep-linear:3').n
"""

from __future__ import annotations

import importlib
from typing import Any

from ._numerics import SolverInfo, SolverStatus
from ._samples import RouteAnswer, SampleComplexityAnswer, sample_complexity
from .errors import (
    ConfigError,
    ConvergenceError,
    FinetuneBoundsError,
    InvalidInputError,
    NotReachableError,
    ResourceLimitError,
    SolverError,
)
from .families import (
    Boolean,
    Family,
    Interval,
    Options,
    Words,
    available_families,
    axis_values,
    get_family,
    register_family,
)
from .problems import Covariance, LinearTask
from .records import SOURCES, record, summarize, to_frame

__version__ = "0.1.0"

__all__ = [
    "SOURCES",
    "Boolean",
    "ConfigError",
    "ConvergenceError",
    "Covariance",
    "Family",
    "FinetuneBoundsError",
    "Interval",
    "InvalidInputError",
    "LinearTask",
    "NotReachableError",
    "Options",
    "ResourceLimitError",
    "RouteAnswer",
    "SampleComplexityAnswer",
    "SolverError",
    "SolverInfo",
    "SolverStatus",
    "Words",
    "__version__",
    "available_families",
    "axis_values",
    "deep_linear",
    "diagonal",
    "get_family",
    "infinite_width",
    "limits",
    "linear",
    "nonlinear",
    "record",
    "register_family",
    "relu",
    "run",
    "sample_complexity",
    "summarize",
    "threads",
    "to_frame",
]

_SUBPACKAGES = {
    "linear", "deep_linear", "diagonal", "infinite_width", "relu", "sweep", "report", "testing",
    "data", "limits", "nonlinear", "threads",
}


def __getattr__(name: str) -> Any:  # lazy subpackages: `fb.linear` without import cost
    if name == "run":  # the one runner (finetune_bounds.sweep.run), imported on first use
        from .sweep.runner import run

        return run
    if name in _SUBPACKAGES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
