"""Fine-tuning implicit bias of a diagonal network: exact min-Q interpolants, regime measures.

Spec ``diagonal-networks.md`` §2 (implicit bias, exact finite-d solver, ℓ-order and pretraining
dependence) and §4 (the four fine-tuning regimes).

- :func:`min_q_interpolant`: argmin Σ_i q(β_i; c_i) subject to Xβ = y, by Newton's method on the
  dual (route ``"dual"``) or by cvxpy with exponential cones (route ``"cvxpy"``);
- :func:`ell_order`, :func:`pd_sensitivity`, :func:`pretraining_dependence`: the ℓ-order of the
  fine-tuning penalty and its dependence on the pretrained weights, vectorised;
- :func:`regime_measures` and :func:`classify_regime`: (ℓ, PD) at representative magnitudes and
  the regime label I–IV from the thresholds :data:`ELL_LAZY` and :data:`PD_DEPENDENT`.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg as sla
from numpy.typing import ArrayLike, NDArray

from .. import limits
from .._numerics import (
    CLARABEL_TIGHT,
    SCS_TIGHT,
    Solved,
    SolverInfo,
    SolverStatus,
    check_converged,
    rank_mask,
)
from .._validation import (
    FloatArray,
    as_float_array,
    as_vector,
    check_choice,
    nonneg_float,
    positive_int,
    readonly,
)
from .._validation import boolean as flag
from ..errors import InvalidInputError, SolverError
from ._checks import finite_result
from ._penalty import q

__all__ = [
    "ELL_LAZY",
    "PD_DEPENDENT",
    "REPRESENTATIVE_BETA",
    "MinQSolution",
    "RegimeMeasures",
    "classify_regime",
    "ell_order",
    "min_q_interpolant",
    "pd_sensitivity",
    "pretraining_dependence",
    "regime_measures",
]

#: ℓ ≥ ELL_LAZY counts as lazy (ℓ ≈ 2), below as rich. 1.5 is the midpoint of [1, 2]; ℓ(u) = 1.5
#: at |u| = |β_FT|/c_FT ≈ 6.5 (ℓ = 1.9 at |u| ≈ 0.92, ℓ = 1.2 at |u| ≈ 196).
ELL_LAZY: float = 1.5
#: PD ≤ PD_DEPENDENT counts as pretraining-dependent, above as PT-independent. Since
#: PD = (1 − ℓ)s with s ∈ [0, 1), |PD| ≤ ℓ − 1: in the rich half the dependence is at most
#: ℓ − 1, and ℓ − 1 ≈ 1/(ln 2|u| − 1) decays only logarithmically, so a midpoint threshold (−0.5)
#: would leave no room for regime IV. At −0.1 a point with ℓ < 1.1 (|u| ≳ 3·10⁴) is always
#: PT-independent, and in the lazy half the threshold reads s ≳ 0.1.
PD_DEPENDENT: float = -0.1
#: Default representative magnitude of |β_PT| and |β_FT| in :func:`regime_measures`: the
#: teachers are normalised so that E[β*²] = 1 (spec §1), so 1 is their root-mean-square size.
REPRESENTATIVE_BETA: float = 1.0

#: |2(Xᵀν)_i| above which cosh/sinh are not evaluated (the step is rejected instead)
_ARG_MAX = 700.0
#: a Newton step may change no 2(Xᵀν)_i by more than this (cosh changes by ≤ e^2 per step)
_MAX_ARG_STEP = 2.0
#: Armijo sufficient-decrease constant and maximal number of halvings
_ARMIJO = 1e-4
_MAX_HALVINGS = 60
#: Cholesky whitening of X is used while the pivots of chol(XXᵀ) stay within this ratio
#: (a lower bound on 1/κ(X)); otherwise the SVD (rank-revealing) reduction is used
_CHOL_PIVOT_RATIO = 1e-5
#: |u| below which ℓ(u) is evaluated by its series 2 − u²/6 + 31u⁴/360 (error < 1e-17)
_ELL_SERIES = 1e-4

# Solver settings: _numerics.CLARABEL_TIGHT / SCS_TIGHT, ~1e-10 relative accuracy on these
# programs (the defaults give ~1e-5; measured on d = 60, n = 25 with c across 1e-3..10)

_METHODS = ("dual", "cvxpy")
#: the regime labels of spec §4, in order (the family's records store a label as its index)
REGIMES: tuple[str, ...] = ("I", "II", "III", "IV")


# ---------------------------------------------------------------------------------------------
# the min-Q interpolant
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MinQSolution(Solved):
    """The minimum-Σq interpolant of one problem, with its diagnostics.

    Attributes
    ----------
    beta : ndarray, shape (d,)
        argmin Σ_i q(β_i; c_i) subject to Xβ = y (read-only).
    objective : float
        Σ_i q(β_i; c_i) at ``beta``.
    info : SolverInfo
        ``status``: ``converged`` when the interpolation residual ‖Xβ − y‖/‖y‖ reached the
        tolerance (and, for cvxpy, the solver reported ``optimal`` or an ``optimal_inaccurate``
        solution passed the KKT check), ``exact`` for y = 0; ``max_iterations``,
        ``not_finite`` or ``solver_failed`` otherwise. ``iterations``: Newton steps (dual) or
        interior-point iterations (cvxpy). ``residual``: ‖Xβ − y‖/‖y‖. ``tolerance``: ``tol``.
        ``extra``: the row-space reduction used, its rank, and route-specific numbers
        (line-search halvings; cvxpy solver, status, KKT residual, solve time).
    method : str
        ``"dual"`` or ``"cvxpy"``.

    ``status`` and ``converged`` (properties) read ``info``; a result with ``converged=False``
    is only returned with ``strict=False``.
    """

    beta: FloatArray
    objective: float
    info: SolverInfo
    method: str


@dataclass(frozen=True)
class _Reduced:
    """The constraint Xβ = y rewritten as Aβ = b with A (r × d) of full row rank."""

    a: FloatArray
    b: FloatArray
    how: str  # "cholesky" (A = L⁻¹X, XXᵀ = LLᵀ) or "svd" (A = V_rᵀ, orthonormal rows)
    rank: int


def _reduce(x: FloatArray, y: FloatArray, tol: float, *, force_svd: bool = False) -> _Reduced:
    """Rewrite Xβ = y with a well-conditioned, full-row-rank matrix.

    n ≤ d and XXᵀ safely positive definite: whiten with its Cholesky factor (A = L⁻¹X has
    orthonormal rows up to ε·κ(X)², and the same solution set). Otherwise (n > d, rank
    deficiency, ill conditioning): thin SVD, keep the singular values above the shared rank
    cut-off, and check that y lies in the range of X.

    Raises
    ------
    InvalidInputError
        y has a component outside the range of X larger than ``tol``·‖y‖ (no interpolant).
    """
    n, d = x.shape
    if n <= d and not force_svd:
        try:
            chol = sla.cholesky(x @ x.T, lower=True, check_finite=False)
        except sla.LinAlgError:
            chol = None
        if chol is not None:
            piv = np.abs(np.diag(chol))
            if piv.min() > _CHOL_PIVOT_RATIO * piv.max():
                a = sla.solve_triangular(chol, x, lower=True, check_finite=False)
                b = sla.solve_triangular(chol, y, lower=True, check_finite=False)
                return _Reduced(np.asarray(a), np.asarray(b), "cholesky", n)
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    keep = rank_mask(s, x.shape)
    r = int(np.count_nonzero(keep))
    ur = u[:, :r]
    coef = ur.T @ y
    outside = float(np.linalg.norm(y - ur @ coef)) / float(np.linalg.norm(y))
    if outside > tol:
        raise InvalidInputError(
            f"y is not in the range of X (relative distance {outside:.3g} > tol {tol:.3g}):"
            " no interpolant exists"
        )
    return _Reduced(np.ascontiguousarray(vt[:r]), coef / s[:r], "svd", r)


def _residual(x: FloatArray, beta: FloatArray, y: FloatArray, ynorm: float) -> float:
    return float(np.linalg.norm(x @ beta - y)) / ynorm


def _dual_value(red: _Reduced, c: FloatArray, nu: FloatArray) -> tuple[float, FloatArray | None]:
    """F(ν) = Σ (c_i/2)cosh(2(Aᵀν)_i) − νᵀb and 2Aᵀν; (inf, None) when out of range."""
    arg = 2.0 * (red.a.T @ nu)
    if not np.all(np.abs(arg) <= _ARG_MAX):  # also catches NaN
        return math.inf, None
    with np.errstate(over="ignore", invalid="ignore"):
        val = 0.5 * float(np.sum(c * np.cosh(arg))) - float(nu @ red.b)
    return (val, arg) if math.isfinite(val) else (math.inf, None)


def _newton_direction(red: _Reduced, weights: FloatArray, grad: FloatArray) -> FloatArray:
    """−H⁻¹g with H = A diag(w) Aᵀ (formed by a symmetric rank-k update)."""
    scaled = red.a * np.sqrt(weights)
    # syrk with trans=1 on the (d, r) Fortran-ordered transpose: lower triangle of scaled·scaledᵀ
    hess = sla.blas.dsyrk(1.0, scaled.T, trans=1, lower=1)
    try:
        factor = sla.cho_factor(hess, lower=True, check_finite=False)
        return np.asarray(-sla.cho_solve(factor, grad, check_finite=False))
    except sla.LinAlgError:
        full = np.tril(hess) + np.tril(hess, -1).T
        return np.asarray(-np.linalg.lstsq(full, grad, rcond=None)[0])


def _solve_dual(
    x: FloatArray, y: FloatArray, c: FloatArray, tol: float, max_iter: int
) -> tuple[FloatArray, SolverInfo]:
    """Damped Newton on the dual F(ν) = Σ (c_i/2)cosh(2(Aᵀν)_i) − νᵀb from ν = 0."""
    red = _reduce(x, y, tol)
    ynorm = float(np.linalg.norm(y))
    nu = np.zeros(red.rank)
    f, arg = _dual_value(red, c, nu)
    assert arg is not None  # ν = 0 is always in range
    halvings = 0
    status = SolverStatus.MAX_ITERATIONS
    reason = ""
    beta = np.zeros_like(c)
    res = math.inf
    it = 0
    while True:
        beta = c * np.sinh(arg)
        res = _residual(x, beta, y, ynorm)
        if not math.isfinite(res):
            status, reason = SolverStatus.NOT_FINITE, "non-finite residual"
            break
        if res <= tol:
            status = SolverStatus.CONVERGED
            break
        if it == max_iter:
            break
        grad = red.a @ beta - red.b
        weights = 2.0 * c * np.cosh(arg)
        step = _newton_direction(red, weights, grad)
        darg = 2.0 * (red.a.T @ step)
        big = float(np.max(np.abs(darg)))
        if not (math.isfinite(big) and np.all(np.isfinite(step))):
            status, reason = SolverStatus.NOT_FINITE, "non-finite Newton step"
            break
        t = min(1.0, _MAX_ARG_STEP / big) if big > 0 else 1.0
        slope = float(grad @ step)
        # F's round-off level: below it Armijo cannot tell steps apart (accept the Newton step)
        noise = 64.0 * np.finfo(np.float64).eps * (
            0.25 * float(np.sum(weights)) + abs(float(nu @ red.b))
        )
        for _ in range(_MAX_HALVINGS):
            f_new, arg_new = _dual_value(red, c, nu + t * step)
            if arg_new is not None and f_new <= f + _ARMIJO * t * slope + noise:
                break
            t *= 0.5
            halvings += 1
        else:
            status = SolverStatus.SOLVER_FAILED
            reason = "line search found no decrease (residual at its round-off floor?)"
            break
        nu = nu + t * step
        f, arg = f_new, arg_new
        it += 1
    extra: dict[str, Any] = {"reduction": red.how, "rank": red.rank, "halvings": halvings}
    if reason:
        extra["reason"] = reason
    return beta, SolverInfo(status, it, res, tol, extra)


def _cvxpy_solver() -> tuple[str, Mapping[str, Any]]:
    import cvxpy as cp

    installed = cp.installed_solvers()
    if "CLARABEL" in installed:
        return "CLARABEL", CLARABEL_TIGHT
    if "SCS" in installed:
        return "SCS", SCS_TIGHT
    raise SolverError("cvxpy route needs the CLARABEL (or, failing that, SCS) solver")


def _solve_cvxpy(
    x: FloatArray, y: FloatArray, c: FloatArray, tol: float
) -> tuple[FloatArray, SolverInfo]:
    """min ½Σ[kl(p_i, c_i/2) + kl(m_i, c_i/2)] s.t. A(p − m) = b, p, m ≥ 0; β = p − m."""
    import cvxpy as cp

    red = _reduce(x, y, tol, force_svd=True)
    d = x.shape[1]
    p = cp.Variable(d, nonneg=True)
    m = cp.Variable(d, nonneg=True)
    half_c = 0.5 * c
    objective = 0.5 * cp.sum(cp.kl_div(p, half_c) + cp.kl_div(m, half_c))
    problem = cp.Problem(cp.Minimize(objective), [red.a @ (p - m) == red.b])
    name, opts = _cvxpy_solver()
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            problem.solve(solver=name, **opts)
    except (cp.error.SolverError, ValueError) as exc:
        raise SolverError(f"cvxpy ({name}) failed on the min-Q program: {exc}") from None
    elapsed = time.perf_counter() - t0
    status = str(problem.status)
    if p.value is None or m.value is None or status not in ("optimal", "optimal_inaccurate"):
        raise SolverError(
            f"cvxpy ({name}) could not solve the min-Q program: status {status!r}"
        )
    beta = np.asarray(p.value, dtype=np.float64) - np.asarray(m.value, dtype=np.float64)
    res = _residual(x, beta, y, float(np.linalg.norm(y)))
    # KKT: q'(β) = ½arcsinh(β/c) must lie in the row space of X (A has orthonormal rows)
    grad = 0.5 * np.arcsinh(beta / c)
    perp = grad - red.a.T @ (red.a @ grad)
    kkt = float(np.linalg.norm(perp)) / max(float(np.linalg.norm(grad)), 1e-300)
    stats = getattr(problem, "solver_stats", None)
    iters = getattr(stats, "num_iters", None) if stats is not None else None
    accepted = status == "optimal" or kkt <= math.sqrt(tol)
    ok = accepted and res <= tol
    info = SolverInfo(
        SolverStatus.CONVERGED if ok else SolverStatus.SOLVER_FAILED,
        int(iters) if iters is not None else 0,
        res,
        tol,
        {"reduction": red.how, "rank": red.rank, "solver": name, "cvxpy_status": status,
         "kkt_residual": kkt, "solve_time": elapsed},
    )
    return beta, info


def _as_scales(c: ArrayLike, d: int) -> FloatArray:
    arr = as_float_array(c, "c")
    if arr.ndim == 0:
        arr = np.full(d, float(arr))
    else:
        arr = as_vector(arr, "c", d)
    if not np.all(arr > 0):
        raise InvalidInputError(f"c must be > 0 in every coordinate, got min {arr.min():.3g}")
    return arr


def min_q_interpolant(
    x: ArrayLike,
    y: ArrayLike,
    c: ArrayLike,
    *,
    method: str = "dual",
    tol: float = 1e-10,
    max_iter: int = 100,
    strict: bool = True,
) -> MinQSolution:
    """The exact minimum-Σq interpolant: argmin Σ_i q(β_i; c_i) subject to Xβ = y.

    q(z; c) = ½[z·arcsinh(z/c) − √(z² + c²) + c] is the mirror-flow potential of a two-pathway
    diagonal network (spec §2): gradient flow from β(0) = 0 with per-coordinate scales c_i
    converges to this interpolant. Exact at any finite (n, d); no high-dimensional limit is
    taken. The problem is strictly convex, so the interpolant is unique whenever y ∈ range X.

    Parameters
    ----------
    x : array, shape (n, d)
        Design (n ≥ 1; any n, d and rank, as long as y lies in the range of X).
    y : array, shape (n,)
        Labels.
    c : float or array, shape (d,)
        Per-coordinate scales c_i > 0 (a scalar applies to every coordinate); the fine-tuning
        bias uses c_FT,i from :func:`~finetune_bounds.diagonal._penalty.c_finetune`.
    method : {"dual", "cvxpy"}
        ``"dual"`` (default): damped Newton on the dual below. ``"cvxpy"``: the primal with
        exponential cones, solved by Clarabel (SCS only when Clarabel is not installed).
    tol : float
        Convergence criterion on the relative interpolation residual ‖Xβ − y‖/‖y‖ (default
        1e-10); also the largest admissible relative distance of y from the range of X.
    max_iter : int
        Newton-step budget of the dual route (ignored by cvxpy).
    strict : bool
        Raise :class:`~finetune_bounds.errors.ConvergenceError` when the tolerance is not met
        (default); with ``strict=False`` the last iterate is returned with its status.

    Returns
    -------
    MinQSolution
        ``beta``, ``objective`` = Σq(β_i; c_i), ``info`` (status, iterations, residual
        ‖Xβ − y‖/‖y‖, tolerance), ``method``. y = 0 gives β = 0 exactly (status ``exact``).

    Raises
    ------
    InvalidInputError
        Wrong shapes, non-finite entries, c ≤ 0, an unknown method, or y outside the range of X.
    SolverError
        cvxpy failed or returned a non-optimal status (route ``"cvxpy"``).
    ConvergenceError
        ``strict`` and the residual did not reach ``tol``.

    Notes
    -----
    **Dual route.** q is the convex conjugate of q*(a; c) = (c/2)(cosh 2a − 1), so the
    Lagrange dual of the program is (up to a constant)

        min_ν F(ν) = Σ_i (c_i/2) cosh(2(Xᵀν)_i) − νᵀy,    β_i = c_i sinh(2(Xᵀν)_i),

    with ∇F = Xβ − y (the interpolation residual) and ∇²F = X diag(2c_i cosh 2(Xᵀν)_i) Xᵀ, an
    n × n matrix. The constraint is first rewritten as Aβ = b with A = L⁻¹X (XXᵀ = LLᵀ), or
    A = V_rᵀ from a thin SVD when X is rank deficient, ill conditioned or has n > d, so that
    the dual is strictly convex and its Hessian no worse conditioned than diag(2c cosh). From
    ν = 0 — whose first Newton step is the weighted-ℓ2 (lazy, c → ∞) interpolant — Newton
    steps are capped so that no argument 2(Aᵀν)_i moves by more than 2, and damped by an
    Armijo backtracking line search on F; trial points with |2(Aᵀν)_i| > 700 (where cosh would
    overflow) are rejected. Stationarity q'(β_i) = (Aᵀν)_i holds by construction, so the
    residual is the only optimality gap. Measured (one BLAS thread): 2–27 steps for c between
    1e-9 and 1e3 and (d, n) up to (4000, 2000); 0.2–2 s at d = 2000, n = 600 (~0.07 s per step),
    ~16 s at d = 4000, n = 2000 (~0.85 s per step).

    **cvxpy route.** For p, m ≥ 0 with p − m = z, minimising
    ½[p log(2p/c) − p + m log(2m/c) − m] + c/2 gives ½log(2p/c) = −½log(2m/c) = μ, i.e.
    p = (c/2)e^{2μ}, m = (c/2)e^{−2μ}, p − m = c sinh 2μ = z and p + m = √(z² + c²); the minimum
    is ½[z·arcsinh(z/c) − √(z² + c²)] + c/2 = q(z; c). With kl(p, r) = p log(p/r) − p + r
    (``cp.kl_div``, exponential-cone representable):

        q(z; c) = ½ min_{p, m ≥ 0, p − m = z} [kl(p, c/2) + kl(m, c/2)],

    so the program is min ½Σ_i[kl(p_i, c_i/2) + kl(m_i, c_i/2)] s.t. A(p − m) = b, β = p − m.
    Clarabel runs at tight tolerances (~1e-10 relative agreement with the dual route on
    d = 60, n = 25). ``optimal`` is accepted as it is, ``optimal_inaccurate`` only when the KKT
    residual (the part of ½arcsinh(β/c) outside the row space of X, relative) is ≤ √tol.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((20, 50)) / np.sqrt(50)
    >>> sol = min_q_interpolant(x, x @ rng.standard_normal(50), 1e-3)
    >>> sol.converged, sol.info.residual <= 1e-10
    (True, True)
    """
    xa = as_float_array(x, "x", ndim=2)
    n, d = xa.shape
    ya = as_vector(y, "y", n)
    ca = _as_scales(c, d)
    method = check_choice(method, "method", _METHODS)
    tol = nonneg_float(tol, "tol", positive=True)
    max_iter = positive_int(max_iter, "max_iter", limit="steps")
    strict = flag(strict, "strict")
    if not np.any(ya):
        info = SolverInfo(SolverStatus.EXACT, 0, 0.0, tol, {"reason": "y = 0"})
        return MinQSolution(readonly(np.zeros(d)), 0.0, info, method)
    if method == "dual":
        try:
            with np.errstate(all="ignore"):  # overflow shows up as a non-finite residual
                beta, info = _solve_dual(xa, ya, ca, tol, max_iter)
        except (np.linalg.LinAlgError, sla.LinAlgError, OverflowError) as exc:
            raise SolverError(f"min-Q interpolant (dual) failed: {exc}") from None
    else:
        beta, info = _solve_cvxpy(xa, ya, ca, tol)
    check_converged(info, f"min-Q interpolant ({method})", strict=strict)
    with np.errstate(over="ignore", invalid="ignore"):
        objective = float(np.sum(q(beta, ca))) if np.all(np.isfinite(beta)) else math.nan
    finite_result(f"the min-Q interpolant ({method})", beta=beta, objective=objective)
    return MinQSolution(readonly(beta), objective, info, method)


# ---------------------------------------------------------------------------------------------
# ℓ-order, pretraining dependence, regimes
# ---------------------------------------------------------------------------------------------
def _finite(v: ArrayLike, name: str) -> FloatArray:
    return as_float_array(v, name)


def _broadcast(*arrays: FloatArray) -> tuple[FloatArray, ...]:
    try:
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
    except ValueError as exc:
        raise InvalidInputError(f"inputs do not broadcast together: {exc}") from None
    limits.check_elements(*shape, name=f"the broadcast shape {shape}")
    try:
        return tuple(np.asarray(a, dtype=np.float64) for a in np.broadcast_arrays(*arrays))
    except ValueError as exc:
        raise InvalidInputError(f"inputs do not broadcast together: {exc}") from None


def _out(arr: FloatArray) -> FloatArray | float:
    return float(arr) if arr.ndim == 0 else arr


def _scales(
    c_pt: ArrayLike, lambda_pt: ArrayLike, gamma_ft: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Validated arrays c_PT > 0, λ_PT ∈ [−1, 1], γ_FT ≥ 0 (the broadcast form of
    :func:`~finetune_bounds.diagonal._penalty.check_scales`)."""
    c = _finite(c_pt, "c_pt")
    lam = _finite(lambda_pt, "lambda_pt")
    g = _finite(gamma_ft, "gamma_ft")
    if not np.all(c > 0):
        raise InvalidInputError(f"c_pt must be > 0, got min {c.min():.3g}")
    if not np.all((lam >= -1.0) & (lam <= 1.0)):
        raise InvalidInputError(
            f"lambda_pt must be in [-1, 1], got range [{lam.min()}, {lam.max()}]"
        )
    if not np.all(g >= 0):
        raise InvalidInputError(f"gamma_ft must be ≥ 0, got min {g.min():.3g}")
    return c, lam, g


def _ell(u: FloatArray) -> FloatArray:
    """ℓ(u) for |u| ∈ [0, ∞] (validated, float64)."""
    au = np.abs(u)
    small = au < _ELL_SERIES
    big = np.isinf(au)
    safe = np.where(small | big, 1.0, au)
    # ℓ = u·arcsinh(u)/h(u) with h = u·arcsinh u − u²/(1 + √(1 + u²)) (no cancellation);
    # divided by u²: r/(r − 1/(1 + √(1 + u²))), r = arcsinh(u)/u
    r = np.arcsinh(safe) / safe
    direct = r / (r - 1.0 / (1.0 + np.hypot(1.0, safe)))
    u2 = np.where(small, au, 0.0) ** 2
    series = 2.0 - u2 / 6.0 + 31.0 * u2 * u2 / 360.0
    ell = np.where(small, series, np.where(big, 1.0, direct))
    return np.asarray(np.clip(ell, 1.0, 2.0))


def ell_order(beta_ft: ArrayLike, c_ft: ArrayLike) -> FloatArray | float:
    """The ℓ-order of the fine-tuning penalty at β_FT: ℓ = u·arcsinh(u)/h(u), u = β_FT/c_FT.

    h(u) = 1 − √(1 + u²) + u·arcsinh u = 2q(u; 1), so ℓ = d log q/d log|β| is the local power
    of the penalty (spec §2): ℓ → 2 as u → 0 (lazy, weighted ℓ2; series 2 − u²/6 + 31u⁴/360,
    used for |u| < 1e-4) and ℓ → 1 as |u| → ∞ (rich, ℓ1; ℓ ≈ 1 + 1/(ln 2|u| − 1)). Computed
    without cancellation for every u; ℓ ∈ [1, 2].

    Parameters
    ----------
    beta_ft : float or array
        Fine-tuned coefficient(s) (finite; the sign does not matter).
    c_ft : float or array
        Fine-tuning scale(s) c_FT > 0, broadcastable against ``beta_ft``.

    Returns
    -------
    float or ndarray
        ℓ, a float when both inputs are scalars.

    Raises
    ------
    InvalidInputError
        Non-finite inputs, c_FT ≤ 0 or shapes that do not broadcast.

    Examples
    --------
    >>> round(ell_order(1.0, 1.0), 4), ell_order(0.0, 1.0)
    (1.8867, 2.0)
    """
    b = _finite(beta_ft, "beta_ft")
    c = _finite(c_ft, "c_ft")
    if not np.all(c > 0):
        raise InvalidInputError(f"c_ft must be > 0, got min {c.min():.3g}")
    b, c = _broadcast(b, c)
    with np.errstate(over="ignore"):
        u = b / c
    return _out(_ell(u))


def _sensitivity(
    beta_pt: FloatArray, c: FloatArray, lam: FloatArray, g: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """(s, c_FT) on validated, broadcast arrays."""
    with np.errstate(over="ignore", invalid="ignore"):
        ratio = np.abs(beta_pt) / c
        root = np.hypot(1.0, ratio)  # R = √(1 + (β/c)²), inf when the ratio overflows
        k = c * (1.0 + lam)
        pt_part = k * (1.0 + root)
        # c(1 + R) = c + √(c² + β²) where β/c overflows
        pt_part = np.where(np.isfinite(pt_part), pt_part,
                           (1.0 + lam) * (c + np.hypot(c, beta_pt)))
        c_ft = pt_part + 0.5 * g * g
    # γ = 0: s = 1 − 1/R = (r/R)·(r/(R + 1)) (stable for small and huge r), for any λ
    with np.errstate(invalid="ignore", over="ignore"):
        frac = np.where(np.isinf(root), 1.0, (ratio / root) * (ratio / (root + 1.0)))
        weight = np.where(g == 0, 1.0, pt_part / np.where(c_ft > 0, c_ft, 1.0))
    return np.asarray(frac * weight), np.asarray(c_ft)


def pd_sensitivity(
    beta_pt: ArrayLike, c_pt: ArrayLike, lambda_pt: ArrayLike, gamma_ft: ArrayLike
) -> FloatArray | float:
    """s = ∂log c_FT/∂log|β_PT|, the sensitivity of the fine-tuning scale to the pretrained weight.

    From c_FT = c_PT(1 + λ_PT)(1 + R) + γ_FT²/2 with R = √(1 + (β_PT/c_PT)²) (spec §2):

        s = (1 − 1/R) · c_PT(1 + λ_PT)(1 + R) / c_FT   ∈ [0, 1).

    γ_FT = 0 gives s = 1 − 1/R for every λ_PT (also the λ_PT → −1 limit, where c_FT → 0);
    s → 1 when |β_PT| ≫ c_PT (1.0 in floating point once |β_PT|/c_PT ≳ 1e8) and s → 0 when the
    readout re-initialisation γ_FT²/2 dominates. Vectorised by broadcasting.

    Parameters
    ----------
    beta_pt : float or array
        Pretrained coefficient(s) β_PT (finite; only |β_PT| matters).
    c_pt, lambda_pt, gamma_ft : float or array
        Pretraining absolute scale c_PT > 0, normalised relative scale λ_PT ∈ [−1, 1] and
        readout re-init scale γ_FT ≥ 0, all broadcastable together.

    Returns
    -------
    float or ndarray
        s, a float when every input is a scalar.

    Raises
    ------
    InvalidInputError
        Non-finite or out-of-range inputs, or shapes that do not broadcast.
    """
    b = _finite(beta_pt, "beta_pt")
    c, lam, g = _scales(c_pt, lambda_pt, gamma_ft)
    s, _ = _sensitivity(*_broadcast(b, c, lam, g))
    return _out(s)


def pretraining_dependence(
    beta_pt: ArrayLike,
    c_pt: ArrayLike,
    lambda_pt: ArrayLike,
    gamma_ft: ArrayLike,
    *,
    beta_ft: ArrayLike,
) -> FloatArray | float:
    """PD = (1 − ℓ)·s ∈ [−1, 0]: how strongly the fine-tuning penalty depends on β_PT (spec §2).

    ℓ = :func:`ell_order` at u = β_FT/c_FT with c_FT computed from β_PT, and
    s = :func:`pd_sensitivity`. PD = 0: PT-independent (ℓ = 1, pure ℓ1, or s = 0, scale set
    by γ_FT); PD = −1: the lazy penalty Σβ²/|β_PT| (ℓ = 2, s = 1). ℓ + PD ∈ [1, 2].

    Parameters
    ----------
    beta_pt : float or array
        Pretrained coefficient(s) (finite).
    c_pt, lambda_pt, gamma_ft : float or array
        Pretraining scales as in :func:`pd_sensitivity`.
    beta_ft : float or array
        Fine-tuned coefficient(s) (finite), keyword-only.

    Returns
    -------
    float or ndarray
        PD, a float when every input is a scalar.

    Raises
    ------
    InvalidInputError
        Non-finite or out-of-range inputs, shapes that do not broadcast, or c_FT = 0
        (λ_PT = −1 with γ_FT = 0: a saddle of gradient descent, spec §2/§6).
    """
    return _out(_measures(beta_pt, c_pt, lambda_pt, gamma_ft, beta_ft)[1])


def _measures(
    beta_pt: ArrayLike,
    c_pt: ArrayLike,
    lambda_pt: ArrayLike,
    gamma_ft: ArrayLike,
    beta_ft: ArrayLike,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """(ℓ, PD, s, c_FT) as broadcast arrays."""
    bp = _finite(beta_pt, "beta_pt")
    bf = _finite(beta_ft, "beta_ft")
    c, lam, g = _scales(c_pt, lambda_pt, gamma_ft)
    bp, bf, c, lam, g = _broadcast(bp, bf, c, lam, g)
    s, c_ft = _sensitivity(bp, c, lam, g)
    if not np.all(np.isfinite(c_ft)):
        raise InvalidInputError(
            f"c_FT overflows float64 (max |beta_pt| = {float(np.max(np.abs(bp))):.3g}, "
            f"max gamma_ft = {float(np.max(g)):.3g})"
        )
    if not np.all(c_ft > 0):
        raise InvalidInputError(
            "c_FT = 0 (lambda_pt = -1 with gamma_ft = 0) is a saddle that gradient descent never"
            " leaves: keep lambda_pt off -1 (e.g. -0.999999 with gamma_ft = 1e-6)"
        )
    with np.errstate(over="ignore"):
        ell = _ell(bf / c_ft)
    pd = np.clip((1.0 - ell) * s, -1.0, 0.0)
    return ell, np.asarray(pd), s, c_ft


@dataclass(frozen=True)
class RegimeMeasures:
    """ℓ-order, pretraining dependence and regime label at representative magnitudes.

    Attributes
    ----------
    ell : float or ndarray
        ℓ ∈ [1, 2] (read-only array for array input).
    pd : float or ndarray
        PD ∈ [−1, 0].
    regime : str or ndarray of str
        ``"I"``–``"IV"`` from :func:`classify_regime`.
    sensitivity : float or ndarray
        s = ∂log c_FT/∂log|β_PT| ∈ [0, 1].
    c_ft : float or ndarray
        c_FT at the representative |β_PT|.
    """

    ell: FloatArray | float
    pd: FloatArray | float
    regime: NDArray[np.str_] | str
    sensitivity: FloatArray | float
    c_ft: FloatArray | float


def regime_measures(
    c_pt: ArrayLike,
    lambda_pt: ArrayLike,
    gamma_ft: ArrayLike,
    *,
    beta_pt: ArrayLike = REPRESENTATIVE_BETA,
    beta_ft: ArrayLike = REPRESENTATIVE_BETA,
) -> RegimeMeasures:
    """ℓ, PD and the regime (spec §4) of a pretraining/fine-tuning setting, vectorised.

    ℓ and PD depend on the coefficient magnitudes; a setting is summarised at representative
    ones: by default |β_PT| = |β_FT| = :data:`REPRESENTATIVE_BETA` = 1, the root-mean-square
    size of a teacher coefficient (teachers are normalised so that E[β*²] = 1, spec §1). Then
    u = β_FT/c_FT with c_FT = c_PT(1 + λ_PT)(1 + √(1 + (β_PT/c_PT)²)) + γ_FT²/2. The spec's four
    settings (c_PT = 1e-3) give: II (λ = 0, γ = 0) ℓ = 1.887, PD = −0.886; IV (λ = −0.99,
    γ = 0) ℓ = 1.230, PD = −0.230; I (λ = −0.999999, γ = 1e-6) ℓ = 1.074, PD = −0.074;
    III (λ = 0, γ = 10) ℓ = 2.000, PD = −0.020 — each labelled as its regime. The labels are
    set by the ratio |β_FT|/|β_PT| (for |β_PT| ≫ c_PT): with |β_PT| anywhere in [0.3, √10]
    (√10 = the nonzero size of a 10 %-sparse PT teacher), all four settings keep their labels
    for 0.066 ≤ |β_FT|/|β_PT| ≤ 6.4; outside, II turns IV above 6.5 (ℓ < 1.5), IV turns II
    below 0.065 (u < 6.5), I turns IV below 0.03 and III turns II above ~100.

    Parameters
    ----------
    c_pt, lambda_pt, gamma_ft : float or array
        c_PT > 0, λ_PT ∈ [−1, 1] (normalised), γ_FT ≥ 0; broadcast together (e.g. a meshgrid
        for a map: a 50 × 50 map takes about a millisecond).
    beta_pt, beta_ft : float or array, keyword-only
        Representative |β_PT| and |β_FT| (default 1), broadcast with the rest.

    Returns
    -------
    RegimeMeasures
        ``ell``, ``pd``, ``regime``, ``sensitivity``, ``c_ft`` (floats / str for scalar input,
        read-only arrays otherwise).

    Raises
    ------
    InvalidInputError
        Out-of-range or non-finite inputs, shapes that do not broadcast, or λ_PT = −1 with
        γ_FT = 0 (c_FT = 0, a saddle).

    Examples
    --------
    >>> regime_measures(1e-3, -0.99, 0.0).regime
    'IV'
    """
    ell, pd, s, c_ft = _measures(beta_pt, c_pt, lambda_pt, gamma_ft, beta_ft)
    regime = _classify(ell, pd)
    scalar = ell.ndim == 0

    def pack(a: FloatArray) -> FloatArray | float:
        return float(a) if scalar else readonly(a)

    labels: NDArray[np.str_] | str = str(regime) if scalar else _readonly_labels(regime)
    return RegimeMeasures(pack(ell), pack(pd), labels, pack(s), pack(c_ft))


def _readonly_labels(labels: NDArray[np.str_]) -> NDArray[np.str_]:
    """Mark a label array read-only."""
    labels.setflags(write=False)
    return labels


def _classify(ell: FloatArray, pd: FloatArray) -> NDArray[np.str_]:
    lazy = ell >= ELL_LAZY
    dependent = pd <= PD_DEPENDENT
    labels = np.select(
        [lazy & dependent, lazy & ~dependent, ~lazy & dependent], ["II", "III", "IV"], "I"
    )
    return np.asarray(labels, dtype="<U3")


def classify_regime(ell: ArrayLike, pd: ArrayLike) -> NDArray[np.str_] | str:
    """The fine-tuning regime (spec §4) from the ℓ-order and the pretraining dependence.

    Regimes are smooth crossovers; the labels come from two thresholds, lazy ⇔ ℓ ≥
    :data:`ELL_LAZY` (1.5) and PT-dependent ⇔ PD ≤ :data:`PD_DEPENDENT` (−0.1):

    ======  ============  ==============  ==========================================
    label   ℓ             PD              spec §4
    ======  ============  ==============  ==========================================
    I       < 1.5         > −0.1          rich, PT-independent (ℓ ≈ 1, PD ≈ 0)
    II      ≥ 1.5         ≤ −0.1          lazy, PT-dependent (ℓ ≈ 2, PD ≈ −1)
    III     ≥ 1.5         > −0.1          lazy, PT-independent (ℓ ≈ 2, PD ≈ 0)
    IV      < 1.5         ≤ −0.1          rich, PT-dependent (ℓ ∈ (1, 2), PD ∈ (−1, 0))
    ======  ============  ==============  ==========================================

    Since |PD| ≤ ℓ − 1, every point with ℓ < 1.1 is regime I.

    Parameters
    ----------
    ell : float or array
        ℓ ∈ [1, 2].
    pd : float or array
        PD ∈ [−1, 0], broadcastable against ``ell``.

    Returns
    -------
    str or ndarray of str
        ``"I"``, ``"II"``, ``"III"`` or ``"IV"``; an array (of the broadcast shape) for array
        input.

    Raises
    ------
    InvalidInputError
        Non-finite values, ℓ outside [1, 2] or PD outside [−1, 0] (beyond 1e-9), or shapes
        that do not broadcast.

    Examples
    --------
    >>> classify_regime(1.23, -0.23), classify_regime([1.0, 2.0], [0.0, -1.0]).tolist()
    ('IV', ['I', 'II'])
    """
    e = _finite(ell, "ell")
    p = _finite(pd, "pd")
    slack = 1e-9
    if not np.all((e >= 1.0 - slack) & (e <= 2.0 + slack)):
        raise InvalidInputError(f"ell must be in [1, 2], got range [{e.min()}, {e.max()}]")
    if not np.all((p >= -1.0 - slack) & (p <= slack)):
        raise InvalidInputError(f"pd must be in [-1, 0], got range [{p.min()}, {p.max()}]")
    e, p = _broadcast(e, p)
    labels = _classify(e, p)
    return str(labels) if labels.ndim == 0 else labels
