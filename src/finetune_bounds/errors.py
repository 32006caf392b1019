"""Typed errors of finetune-bounds.

Every error the library raises on purpose derives from :class:`FinetuneBoundsError`, so a caller
(or the CLI) can catch one class and report one line.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ConvergenceError",
    "FinetuneBoundsError",
    "InvalidInputError",
    "NotReachableError",
    "ResourceLimitError",
    "SolverError",
]


class FinetuneBoundsError(Exception):
    """Base class of every error raised by finetune-bounds."""


class InvalidInputError(FinetuneBoundsError, ValueError):
    """An input failed validation (shape, symmetry, definiteness, finiteness, range)."""


class SolverError(FinetuneBoundsError, RuntimeError):
    """A numerical solver (cvxpy, root finder, ODE) failed or returned a non-optimal status."""


class ConvergenceError(SolverError):
    """An iterative method did not reach its tolerance within its iteration budget."""


class NotReachableError(FinetuneBoundsError):
    """A requested target (e.g. a risk level for a sample complexity) cannot be reached."""


class ConfigError(FinetuneBoundsError, ValueError):
    """A sweep or report configuration is malformed."""


class ResourceLimitError(InvalidInputError):
    """A size is above its resource limit (:mod:`finetune_bounds.limits` says how to raise it)."""
