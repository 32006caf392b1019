"""Shared numerics: one rank cut-off, one standard error, one spectrum builder, solver status.

Every family uses these (and nothing else) for the same job, so that conventions cannot drift:

- :func:`rank_cutoff` / :func:`rank_mask`: numpy's ``matrix_rank`` default — a singular value
  ``s`` counts when ``s > max(n, d) · eps · s_max`` (or ``rtol · s_max`` when ``rtol`` is given),
  batched over leading axes;
- :func:`stderr`: the standard error of a mean, ``std(ddof=1) / √count``, ``inf`` for fewer than
  two values (one draw says nothing about its spread);
- :func:`power_law_spectrum`: ``λ_i ∝ i^(−exponent)``, normalised to mean 1 (tr Σ = d) unless
  asked otherwise;
- :class:`SolverStatus` and :class:`SolverInfo`: what every iterative solve returns about itself
  (see ``docs/spine.md``), and :func:`check_converged` to raise
  :class:`~finetune_bounds.errors.ConvergenceError` when the caller asked for strictness.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .errors import ConvergenceError, InvalidInputError

__all__ = [
    "CLARABEL_TIGHT",
    "SCS_TIGHT",
    "HasStatus",
    "Solved",
    "SolverInfo",
    "SolverStatus",
    "check_converged",
    "power_law_spectrum",
    "rank_cutoff",
    "rank_mask",
    "stderr",
]

FloatArray = NDArray[np.float64]


# ---------------------------------------------------------------------------------------------
# rank cut-off
# ---------------------------------------------------------------------------------------------
def rank_cutoff(
    s: ArrayLike, shape: tuple[int, ...], rtol: float | None = None
) -> FloatArray:
    """The singular-value threshold below which a value counts as zero.

    Parameters
    ----------
    s : array, shape (..., k)
        Singular values in descending order (numpy's SVD order), batched over leading axes.
    shape : tuple
        Shape of the matrix (or batch of matrices) they came from; its last two entries are used.
    rtol : float, optional
        Relative tolerance; default ``max(n, d) · eps`` (numpy's ``matrix_rank`` default).

    Returns
    -------
    ndarray, shape (..., 1)
        ``rtol · s_max`` per matrix (0 for an empty spectrum), ready to broadcast against ``s``.
    """
    sa = np.asarray(s, dtype=np.float64)
    smax = sa[..., :1] if sa.shape[-1] else np.zeros((*sa.shape[:-1], 1))
    rt = max(shape[-2:]) * np.finfo(np.float64).eps if rtol is None else float(rtol)
    return np.asarray(smax * rt)


def rank_mask(
    s: ArrayLike, shape: tuple[int, ...], rtol: float | None = None
) -> NDArray[np.bool_]:
    """``s > rank_cutoff(s, shape, rtol)``: which singular values are kept (batched)."""
    sa = np.asarray(s, dtype=np.float64)
    return np.asarray(sa > rank_cutoff(sa, shape, rtol))


# ---------------------------------------------------------------------------------------------
# standard error
# ---------------------------------------------------------------------------------------------
def stderr(a: ArrayLike, axis: int | None = None) -> Any:
    """Standard error of the mean: ``std(ddof=1) / √count`` along ``axis``.

    ``axis=None`` flattens and returns a float; otherwise an array over the other axes. Fewer
    than two values give ``inf`` (a single draw says nothing about its spread); an infinite value
    among several gives ``inf`` too.
    """
    arr = np.asarray(a, dtype=np.float64)
    if axis is None:
        arr = arr.ravel()
        axis = 0
    count = arr.shape[axis]
    if count < 2:
        out = np.full(np.delete(np.array(arr.shape), axis), np.inf)
        return float(out) if out.ndim == 0 else out
    finite = np.all(np.isfinite(arr), axis=axis)
    with np.errstate(invalid="ignore", over="ignore"):
        # scaled by a power of two near the largest |value| (exact, so ordinary inputs give the
        # same bits as without it) so that squares of values near the float64 limit do not
        # overflow: the standard error is homogeneous of degree 1
        top = np.max(np.abs(np.where(np.isfinite(arr), arr, 0.0)), axis=axis, keepdims=True)
        scale = np.ldexp(1.0, np.frexp(np.where(top > 0, top, 1.0))[1])
        se = np.std(arr / scale, axis=axis, ddof=1) * np.squeeze(scale, axis=axis)
        se = se / math.sqrt(count)
    se = np.where(finite, se, np.inf)
    return float(se) if np.ndim(se) == 0 else np.asarray(se)


# ---------------------------------------------------------------------------------------------
# spectra
# ---------------------------------------------------------------------------------------------
def power_law_spectrum(d: int, exponent: float, *, normalize: str | None = "mean") -> FloatArray:
    """Eigenvalues ``λ_i ∝ i^(−exponent)``, i = 1 … d, in descending order.

    Parameters
    ----------
    d : int
        Dimension (≥ 1).
    exponent : float
        Decay exponent (≥ 0; 0 gives a flat spectrum).
    normalize : {"mean", "max", None}
        ``"mean"`` (default): mean eigenvalue 1, i.e. tr Σ = d; ``"max"``: λ_1 = 1; None: raw.
    """
    if isinstance(d, bool) or not isinstance(d, int | np.integer) or d < 1:
        raise InvalidInputError(f"d must be an integer ≥ 1, got {d!r}")
    e = float(exponent)
    if not math.isfinite(e) or e < 0:
        raise InvalidInputError(f"exponent must be a finite number ≥ 0, got {exponent!r}")
    lam = np.arange(1, int(d) + 1, dtype=np.float64) ** (-e)
    if normalize == "mean":
        lam = lam / lam.mean()
    elif normalize == "max":
        lam = lam / lam[0]
    elif normalize is not None:
        raise InvalidInputError(f"normalize must be 'mean', 'max' or None, got {normalize!r}")
    return np.asarray(lam)


# ---------------------------------------------------------------------------------------------
# cvxpy solver settings
# ---------------------------------------------------------------------------------------------
#: Clarabel settings for tight solutions (the defaults stop near 1e-4–1e-5 relative accuracy);
#: used by the deep-linear and diagonal cvxpy routes, each of which checks the status it gets
CLARABEL_TIGHT: Mapping[str, Any] = MappingProxyType({
    "tol_gap_abs": 1e-12,
    "tol_gap_rel": 1e-12,
    "tol_feas": 1e-12,
    "tol_ktratio": 1e-12,
    "static_regularization_constant": 1e-13,
    "iterative_refinement_reltol": 1e-15,
    "iterative_refinement_abstol": 1e-15,
    "iterative_refinement_max_iter": 100,
    "max_step_fraction": 0.9,
})
#: SCS settings of the same intent (the fallback where Clarabel is not installed)
SCS_TIGHT: Mapping[str, Any] = MappingProxyType(
    {"eps_abs": 1e-10, "eps_rel": 1e-10, "max_iters": 200_000}
)


# ---------------------------------------------------------------------------------------------
# solver status
# ---------------------------------------------------------------------------------------------
class SolverStatus(enum.StrEnum):
    """How an iterative solve ended (the value is what records and tables show)."""

    #: the stopping criterion was met
    CONVERGED = "converged"
    #: no iteration was needed: a closed form, or a case solved exactly (e.g. n ≥ rank)
    EXACT = "exact"
    #: the iteration budget ran out before the criterion was met
    MAX_ITERATIONS = "max_iterations"
    #: a bracketing solver lost its bracket (the function has no sign change in it)
    BRACKET_LOST = "bracket_lost"
    #: an iterate or residual became NaN/inf
    NOT_FINITE = "not_finite"
    #: an external solver (cvxpy, …) reported failure
    SOLVER_FAILED = "solver_failed"
    #: the iterate stopped changing (relative change below its tolerance) before the residual
    #: criterion was met, e.g. ReLU particles chattering on their kinks
    STALLED = "stalled"

    @property
    def ok(self) -> bool:
        """True for :attr:`CONVERGED` and :attr:`EXACT`."""
        return self in (SolverStatus.CONVERGED, SolverStatus.EXACT)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class SolverInfo:
    """Typed diagnostics of one solve (lineax's ``Solution.stats`` in spirit).

    Attributes
    ----------
    status : SolverStatus
    iterations : int
        Iterations (or function evaluations) used; 0 for a closed form.
    residual : float
        The final value of the stopping criterion (|f|, a relative step, a gap …); 0 when exact.
    tolerance : float
        The criterion's threshold (NaN when not applicable).
    extra : mapping
        Solver-specific numbers (e.g. the bracket), read-only by convention.
    """

    status: SolverStatus
    iterations: int = 0
    residual: float = 0.0
    tolerance: float = math.nan
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def converged(self) -> bool:
        """True when :attr:`status` is converged or exact."""
        return self.status.ok


class HasStatus:
    """Mixin for results holding ``info: SolverInfo``: the ``status`` property (for batched
    results whose ``converged`` is a per-element array)."""

    info: SolverInfo

    @property
    def status(self) -> SolverStatus:
        """How the solve ended (``info.status``; the worst element for a batch)."""
        return self.info.status


class Solved(HasStatus):
    """Mixin for results of one solve: ``status`` and ``converged`` read from ``info``."""

    @property
    def converged(self) -> bool:
        """True when the solve converged or was exact (``info.converged``)."""
        return self.info.converged


def check_converged(info: SolverInfo, what: str, *, strict: bool = True) -> SolverInfo:
    """Raise :class:`ConvergenceError` naming ``what`` when ``strict`` and ``info`` did not
    converge; return ``info`` otherwise (so ``return check_converged(...)`` reads naturally)."""
    if strict and not info.converged:
        raise ConvergenceError(
            f"{what} did not converge: {info.status.value} after {info.iterations} iteration(s)"
            f" (residual {info.residual:.3g}, tolerance {info.tolerance:.3g})"
        )
    return info
