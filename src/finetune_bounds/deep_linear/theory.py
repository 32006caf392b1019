"""Fine-tuning deep linear networks from balanced pretrained weights: theory.

Spec: ``linear-teachers.md`` §3 (numerical notes §6). A depth-L linear network
f(x) = W_L ⋯ W_1 x with scalar output, started at balanced rank-one weights whose end-to-end
vector is θ_S (§3.1), and fine-tuned by gradient flow on the target squared loss
ℓ(w) = ‖Xw − y‖²/(2n), converges to (§3.2)

    w_L = X⁺y + c_L P_⊥θ_S   (noiseless labels: X⁺y = P_Xθ_T),

where c_L > 0 is the unique positive root of

    c^{2L/(L−1)} ‖θ_S‖² = ‖X⁺y‖² + c² ‖P_⊥θ_S‖²            (L ≥ 2; c_1 = 1).

Three independent routes compute the limit (:func:`solve_predictor`):

- ``"closed_form"``: the formula above; c_L by safeguarded Newton/bisection in t = log c inside
  the bracket [min(1, c_∞), max(1, c_∞)], which always contains the root (see
  :func:`depth_coefficient`); L = ∞ gives c_∞ = ‖X⁺y‖/‖P_Xθ_S‖.
- ``"cvxpy"``: the implicit-bias program  min ‖w‖^{(L+1)/L} − ((L+1)/L)‖θ_S‖^{(1−L)/L}⟨θ_S, w⟩
  s.t. Xw = y (Clarabel, SCS fallback; the status and a KKT certificate are checked).
- ``"ode"``: the balanced end-to-end gradient flow ẇ = −‖w‖^{2−2/L}(g + (L−1)ŵŵᵀg),
  g = Xᵀ(Xw − y)/n, integrated with LSODA (stiffness switching, analytic Jacobian) until the
  interpolation residual is below a tolerance.

Derivation of the closed form [derived]: the gradient of W_1 is (W_L⋯W_2)ᵀgᵀ with g in the row
space of X, so W_1P_⊥ never changes; balancedness (conserved by the flow) keeps every layer rank
one with singular value ‖w‖^{1/L}, whence P_⊥w = (‖w‖/‖θ_S‖)^{(L−1)/L} P_⊥θ_S, and
‖w‖² = ‖X⁺y‖² + c²‖P_⊥θ_S‖² at the interpolating limit.

Facts proved here and tested [derived]:

- c_L always lies between 1 (= c_1, linear fine-tuning) and c_∞, and moves monotonically from
  one to the other as L grows; c_L = c_∞[1 − (‖θ_S‖²/‖P_Xθ_S‖²) log(c_∞)/(L − 1) + O(L⁻²)].
- Hence the measure R_L = ‖Σ^{1/2}P_⊥(c_Lθ_S − θ_T)‖² (§3.3), a convex quadratic in c, obeys
  R_L ≤ max(R_1, R_∞) for every design.
- With the first k ≥ 1 layers frozen (§3.5) the reachable set is {γθ_S}; the limit is
  γ*θ_S with γ* the least-squares scalar, except that a trainable part of depth ≥ 2 cannot
  cross γ = 0 (a saddle), so γ = max(γ*, 0) then.
- P_Xθ_T = 0 is rejected (as the spec requires P_Xθ_T ≠ 0), although for finite L and
  P_⊥θ_S ≠ 0 the flow still converges to the root of the same equation with B = 0,
  c = (‖P_⊥θ_S‖/‖θ_S‖)^{L−1} (checked with the ODE); only L = ∞ truly degenerates.
- Near the saddle (P_Xθ_T anti-parallel to P_Xθ_S, ‖P_⊥θ_S‖ = δ‖θ_S‖) the flow needs a time
  ~ δ^{−(L−2)}; δ = 0 converges to the saddle w = 0 itself.

Regime: gradient *flow* from exactly balanced weights, run to convergence, reaching a global
minimum. When ⟨P_Xθ_T, P_Xθ_S⟩ < 0 the flow passes close to the saddle w = 0 and can stall for a
very long time; with P_⊥θ_S = 0 and θ_T ∥ −θ_S it converges to the saddle itself (§6). The
closed form then still describes the global minimum the flow would reach, not what it reaches in
finite time; :attr:`PredictorResult.diagnostics` flags the case (``"saddle_risk"``).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._validation import (
    FloatArray,
    as_float_array,
    as_generator,
    as_vector,
    check_choice,
    nonneg_float,
    positive_int,
    readonly,
)
from ..errors import ConvergenceError, InvalidInputError, NotReachableError, SolverError
from ..problems import LinearTask, check_linear_task

__all__ = [
    "METHODS",
    "DepthCoefficient",
    "ExpectedRisk",
    "FrozenResult",
    "PredictorResult",
    "SampleComplexity",
    "SampleRisk",
    "check_depth",
    "depth_coefficient",
    "expected_risk",
    "frozen_predictor",
    "frozen_risk_floor",
    "predictor",
    "risk_curve",
    "sample_complexity",
    "sample_risk",
    "solve_predictor",
]

Method = Literal["closed_form", "cvxpy", "ode"]
METHODS: tuple[str, ...] = ("closed_form", "cvxpy", "ode")

#: relative size below which ‖X⁺y‖ (resp. ‖θ_S‖) counts as zero (degenerate input)
_DEGENERATE_TOL = 1e-12


# ---------------------------------------------------------------------------------------------
# depth and the coefficient c_L
# ---------------------------------------------------------------------------------------------
def check_depth(depth: Any, name: str = "depth") -> float:
    """Validate a depth: an integer L ≥ 1 or ``math.inf`` (also the strings ``"inf"``/``"∞"``).

    Returns a float (``1.0, 2.0, …`` or ``inf``) so that finite and infinite depths share one
    type; integral floats such as ``3.0`` are accepted.

    Raises
    ------
    InvalidInputError
        For L < 1, a fractional depth, NaN, booleans or non-numbers.
    """
    if isinstance(depth, str):
        if depth.strip().lower() in ("inf", "infinity", "∞", "+inf"):
            return math.inf
        try:
            depth = float(depth) if "." in depth or "e" in depth.lower() else int(depth)
        except ValueError:
            raise InvalidInputError(
                f"{name} must be an integer ≥ 1 or 'inf', got {depth!r}"
            ) from None
    if isinstance(depth, bool | np.bool_):
        raise InvalidInputError(f"{name} must be an integer ≥ 1 or inf, got {depth!r}")
    if isinstance(depth, float | np.floating) and math.isinf(depth) and depth > 0:
        return math.inf
    if isinstance(depth, float | np.floating) and not math.isfinite(depth):
        raise InvalidInputError(f"{name} must be an integer ≥ 1 or inf, got {depth!r}")
    try:
        value = positive_int(depth, name)
    except InvalidInputError:
        raise InvalidInputError(
            f"{name} must be an integer ≥ 1 or inf (depth < 1 has no network), got {depth!r}"
        ) from None
    return float(value)


def _ro(a: FloatArray) -> FloatArray:
    """A read-only copy that keeps 0-d arrays 0-d (``readonly`` promotes them to 1-d)."""
    out = np.array(a, dtype=np.float64)
    out.setflags(write=False)
    return out


def _depth_label(depth: float) -> str:
    return "inf" if math.isinf(depth) else str(int(depth))


@dataclass(frozen=True)
class DepthCoefficient:
    """c_L: the coefficient of P_⊥θ_S in the fine-tuned predictor (spec §3.2, §3.4).

    Arrays have the broadcast shape of the inputs of :func:`depth_coefficient`.

    Attributes
    ----------
    value : ndarray
        c_L > 0.
    infinite_depth : ndarray
        c_∞ = ‖X⁺y‖/‖P_Xθ_S‖ (``inf`` where P_Xθ_S = 0).
    residual : ndarray
        Relative residual |c^{2L/(L−1)}S − B² − c²A| / (c^{2L/(L−1)}S) (0 for L ∈ {1, ∞}).
    iterations : int
        Newton/bisection steps in log c.
    depth : float
    """

    value: FloatArray
    infinite_depth: FloatArray
    residual: FloatArray
    iterations: int
    depth: float


def _c_root(
    s2: FloatArray,
    a2: FloatArray,
    b2: FloatArray,
    depth: float,
    *,
    q2: FloatArray | None = None,
    max_iter: int = 200,
) -> tuple[FloatArray, FloatArray, FloatArray, int]:
    """Vectorised c_L from S = ‖θ_S‖², A = ‖P_⊥θ_S‖², B² = ‖X⁺y‖² (all > 0 where used; A ≥ 0).

    Solve φ(t) = log S + εt − log(A + B²e^{−2t}) = 0, ε = 2/(L−1) = 2L/(L−1) − 2, t = log c.
    φ is strictly increasing (φ' = ε + 2B²e^{−2t}/(A + B²e^{−2t}) > 0), so the root is unique.
    Bracket: with Q = S − A = ‖P_Xθ_S‖² and c_∞² = B²/Q, φ(log c_∞) = ε log c_∞ and
    φ(0) = log S − log(A + B²) = −log(1 + (B² − Q)/S) have opposite signs, so the root lies
    between 0 and t_∞ = log c_∞. If Q = 0 (c_∞ = ∞) the upper end is (L−1)/2·log(1 + B²/S).
    Safeguarded Newton: a step that leaves the current bracket is replaced by bisection.
    ``q2`` = ‖P_Xθ_S‖² computed directly (S − A cancels when θ_S is nearly ⟂ the row space).
    Returns (c, c_∞, residual, iterations).
    """
    s2, a2, b2 = np.broadcast_arrays(
        np.asarray(s2, np.float64), np.asarray(a2, np.float64), np.asarray(b2, np.float64)
    )
    q2 = np.maximum(s2 - a2, 0.0) if q2 is None else np.broadcast_to(q2, s2.shape)
    with np.errstate(divide="ignore"):
        c_inf = np.where(q2 > 0, np.sqrt(b2 / np.where(q2 > 0, q2, 1.0)), np.inf)
    if depth == 1.0:
        return np.ones_like(s2), c_inf, np.zeros_like(s2), 0
    if math.isinf(depth):
        return c_inf.copy(), c_inf, np.zeros_like(s2), 0
    eps = 2.0 / (depth - 1.0)
    log_s, log_b = np.log(s2), np.log(b2)
    a_pos = a2 > 0
    log_a = np.log(np.where(a_pos, a2, 1.0))
    with np.errstate(divide="ignore"):
        t_inf = np.where(q2 > 0, 0.5 * (log_b - np.log(np.where(q2 > 0, q2, 1.0))), np.inf)
    t_up = np.where(np.isfinite(t_inf), t_inf, 0.5 * (depth - 1.0) * np.log1p(b2 / s2))
    lo = np.minimum(0.0, t_up)
    hi = np.maximum(0.0, t_up)

    def phi(t: FloatArray) -> tuple[FloatArray, FloatArray]:
        u = log_b - 2.0 * t
        # log(A + B²e^{−2t}) and the weight B²e^{−2t}/(A + B²e^{−2t}) without overflow
        lse = np.where(a_pos, np.logaddexp(log_a, u), u)
        frac = np.where(a_pos, np.exp(u - lse), 1.0)
        return log_s + eps * t - lse, eps + 2.0 * frac

    # A = 0: exact root t = (log B² − log S)/(2L/(L−1))
    t = np.where(a_pos, 0.5 * (lo + hi), (log_b - log_s) / (2.0 + eps))
    it = 0
    active = a_pos & (hi > lo)
    while it < max_iter and np.any(active):
        f, fp = phi(t)
        neg = f < 0
        lo = np.where(active & neg, t, lo)
        hi = np.where(active & ~neg, t, hi)
        step = f / fp
        t_newton = t - step
        # converged on the Newton step itself (a bisection fallback must not undo a root)
        done = (np.abs(step) <= 4 * np.finfo(np.float64).eps * np.maximum(1.0, np.abs(t)))
        done |= f == 0
        bad = (t_newton <= lo) | (t_newton >= hi) | ~np.isfinite(t_newton)
        t_new = np.where(done, np.where(bad, t, t_newton), np.where(bad, 0.5 * (lo + hi), t_newton))
        t = np.where(active, t_new, t)
        active &= ~done
        it += 1
    c = np.exp(t)
    p = 2.0 + eps
    lhs = np.exp(p * t + log_s)
    residual = np.abs(lhs - b2 - c * c * a2) / lhs
    return c, c_inf, residual, it


def depth_coefficient(
    source_norm_sq: ArrayLike,
    perp_source_norm_sq: ArrayLike,
    fitted_norm_sq: ArrayLike,
    depth: Any,
) -> DepthCoefficient:
    """Solve c^{2L/(L−1)}‖θ_S‖² = ‖X⁺y‖² + c²‖P_⊥θ_S‖² for c > 0 (spec §3.2), vectorised.

    Parameters
    ----------
    source_norm_sq : array_like
        S = ‖θ_S‖² > 0.
    perp_source_norm_sq : array_like
        A = ‖P_⊥θ_S‖², 0 ≤ A ≤ S.
    fitted_norm_sq : array_like
        B² = ‖X⁺y‖² (= ‖P_Xθ_T‖² for noiseless labels) > 0.
    depth : int or inf
        L ≥ 1; L = 1 gives c = 1 (linear fine-tuning, §2.1); L = ∞ gives c_∞ = B/‖P_Xθ_S‖
        (the limit of the root as L → ∞: the exponent 2L/(L−1) → 2, so c²(S − A) = B²).

    Returns
    -------
    DepthCoefficient

    Raises
    ------
    InvalidInputError
        S ≤ 0, B² ≤ 0 (for L ≥ 2), A outside [0, S], non-finite values, or L = ∞ with
        P_Xθ_S = 0 (c_∞ diverges).

    Examples
    --------
    >>> float(depth_coefficient(1.0, 0.5, 0.5, 1).value)
    1.0
    >>> round(float(depth_coefficient(1.0, 0.5, 2.0, "inf").value), 12)
    2.0
    """
    L = check_depth(depth)
    s2 = as_float_array(np.atleast_1d(source_norm_sq), "source_norm_sq")
    a2 = as_float_array(np.atleast_1d(perp_source_norm_sq), "perp_source_norm_sq")
    b2 = as_float_array(np.atleast_1d(fitted_norm_sq), "fitted_norm_sq")
    try:
        shape = np.broadcast_shapes(np.shape(source_norm_sq), np.shape(perp_source_norm_sq),
                                    np.shape(fitted_norm_sq))
    except ValueError:
        raise InvalidInputError(
            "‖θ_S‖², ‖P_⊥θ_S‖² and ‖X⁺y‖² must broadcast to one shape, got shapes "
            f"{np.shape(source_norm_sq)}, {np.shape(perp_source_norm_sq)}, "
            f"{np.shape(fitted_norm_sq)}"
        ) from None
    if np.any(s2 <= 0):
        raise InvalidInputError("‖θ_S‖² must be > 0 (a zero source network is a saddle)")
    if np.any(a2 < 0) or np.any(a2 > s2 * (1 + 1e-12)):
        raise InvalidInputError("‖P_⊥θ_S‖² must lie in [0, ‖θ_S‖²]")
    if L > 1 and np.any(b2 <= 0):
        raise InvalidInputError(
            "‖X⁺y‖² = ‖P_Xθ_T‖² must be > 0 for depth ≥ 2 (degenerate: the labels have no "
            "component in the row space; spec §3.2 assumes P_Xθ_T ≠ 0)"
        )
    a2 = np.minimum(a2, s2)
    c, c_inf, res, it = _c_root(s2, a2, b2, L)
    if math.isinf(L) and not np.all(np.isfinite(c)):
        raise InvalidInputError(
            "infinite depth needs P_Xθ_S ≠ 0: c_∞ = ‖P_Xθ_T‖/‖P_Xθ_S‖ diverges"
        )
    return DepthCoefficient(
        _ro(c.reshape(shape)), _ro(c_inf.reshape(shape)), _ro(res.reshape(shape)), it, L
    )


# ---------------------------------------------------------------------------------------------
# one design: the three routes
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PredictorResult:
    """The end-to-end vector a depth-L network fine-tunes to, with diagnostics.

    Attributes
    ----------
    predictor : ndarray, shape (d,)
        w (read-only).
    depth : float
        L (``inf`` allowed for the closed form and cvxpy).
    method : str
        ``"closed_form"``, ``"cvxpy"`` or ``"ode"``.
    coefficient : float or None
        c with P_⊥w = c P_⊥θ_S: c_L for the closed form, the least-squares fit
        ⟨P_⊥w, P_⊥θ_S⟩/‖P_⊥θ_S‖² for the other routes (None when P_⊥θ_S = 0).
    residual : float
        Interpolation residual ‖Xw − XX⁺y‖ / ‖XX⁺y‖.
    converged : bool
        False when a solver/integrator stopped without meeting its tolerance (only returned
        with ``strict=False``).
    diagnostics : mapping
        Route-specific: root-finding residual and iterations; solver, status, KKT residual and
        time; ODE status, integration time, function evaluations; ``saddle_risk`` (True when
        ⟨X⁺y, P_Xθ_S⟩ < 0: the flow passes near w = 0 and may stall, §6); ``parallel_defect``
        ‖P_⊥w − cP_⊥θ_S‖/‖w‖ (the §3.2 invariant P_⊥w ∥ P_⊥θ_S).
    """

    predictor: FloatArray
    depth: float
    method: str
    coefficient: float | None
    residual: float
    converged: bool
    diagnostics: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Design:
    """SVD-derived pieces of one fine-tuning problem (validated inputs)."""

    x: FloatArray
    y: FloatArray
    source: FloatArray
    vt: FloatArray  # (r, d) orthonormal rows spanning the row space
    coef: FloatArray  # (r,) with X⁺y = vtᵀ coef
    fitted: FloatArray  # X⁺y
    perp_source: FloatArray  # P_⊥θ_S
    s2: float
    a2: float
    b2: float
    q2: float  # ‖P_Xθ_S‖², computed directly
    yhat: FloatArray  # XX⁺y
    sv: FloatArray  # kept singular values


def _rank_keep(s: FloatArray, shape: tuple[int, ...], rtol: float | None) -> FloatArray:
    rt = max(shape[-2:]) * np.finfo(np.float64).eps if rtol is None else rtol
    smax = s[..., :1] if s.shape[-1] else np.zeros((*s.shape[:-1], 1))
    return np.asarray(s > smax * rt)


def _prepare(x: ArrayLike, y: ArrayLike, source: ArrayLike, rtol: float | None) -> _Design:
    xa = as_float_array(x, "X", ndim=2)
    n, d = xa.shape
    ya = as_vector(y, "y", n)
    th = as_vector(source, "source", d)
    if rtol is not None:
        rtol = nonneg_float(rtol, "rtol")
    u, s, vt = np.linalg.svd(xa, full_matrices=False)
    keep = _rank_keep(s, xa.shape, rtol)
    u, s, vt = u[:, keep], s[keep], vt[keep]
    coef = (u.T @ ya) / s
    fitted = vt.T @ coef
    perp = th - vt.T @ (vt @ th)
    ps = vt @ th
    return _Design(
        xa, ya, th, vt, coef, fitted, perp,
        float(th @ th), float(perp @ perp), float(coef @ coef), float(ps @ ps),
        u @ (u.T @ ya), s,
    )


def _check_nondegenerate(des: _Design, depth: float) -> None:
    if depth == 1.0:
        return
    if des.s2 == 0.0:
        raise InvalidInputError(
            "source must be non-zero for depth ≥ 2: zero pretrained weights are a saddle of the "
            "deep network and gradient flow never leaves them"
        )
    scale = math.sqrt(des.s2)
    if math.sqrt(des.b2) <= _DEGENERATE_TOL * scale:
        raise InvalidInputError(
            "degenerate fine-tuning data: X⁺y = P_Xθ_T = 0 (the labels have no component in the "
            "row space of X); spec §3.2 needs P_Xθ_T ≠ 0 for depth ≥ 2"
        )
    if math.isinf(depth) and math.sqrt(des.q2) <= _DEGENERATE_TOL * scale:
        raise InvalidInputError(
            "infinite depth needs P_Xθ_S ≠ 0 (θ_S orthogonal to the row space of X): "
            "c_∞ = ‖P_Xθ_T‖/‖P_Xθ_S‖ diverges"
        )


def _finish(
    des: _Design,
    w: FloatArray,
    depth: float,
    method: str,
    converged: bool,
    diag: dict[str, Any],
    coefficient: float | None = None,
) -> PredictorResult:
    if coefficient is None and des.a2 > 0:
        pw = w - des.vt.T @ (des.vt @ w)
        coefficient = float(pw @ des.perp_source) / des.a2
    if coefficient is not None and des.a2 > 0:
        pw = w - des.vt.T @ (des.vt @ w)
        wn = max(float(np.linalg.norm(w)), 1e-300)
        diag["parallel_defect"] = float(np.linalg.norm(pw - coefficient * des.perp_source)) / wn
    ynorm = float(np.linalg.norm(des.yhat))
    resid = float(np.linalg.norm(des.x @ w - des.yhat)) / ynorm if ynorm > 0 else 0.0
    ps = des.vt @ des.source
    diag.setdefault("saddle_risk", bool(depth > 1 and float(des.coef @ ps) < 0))
    w = readonly(np.array(w, dtype=np.float64))
    return PredictorResult(w, depth, method, coefficient, resid, converged, diag)


def _closed_form(des: _Design, depth: float) -> PredictorResult:
    if depth == 1.0:
        w = des.fitted + des.perp_source
        return _finish(des, w, depth, "closed_form", True, {"iterations": 0}, 1.0)
    c_arr, c_inf, res, it = _c_root(
        np.array([des.s2]), np.array([min(des.a2, des.s2)]), np.array([des.b2]), depth,
        q2=np.array([des.q2]),
    )
    c = float(c_arr[0])
    w = des.fitted + c * des.perp_source
    diag = {"root_residual": float(res[0]), "iterations": it, "c_infinite": float(c_inf[0])}
    return _finish(des, w, depth, "closed_form", True, diag, c)


#: Clarabel settings that reach ~1e-8 relative accuracy on these programs (defaults give ~1e-4:
#: the objective's curvature along w is only ~1/L, so the solution error is ~√(gap·L))
_CLARABEL_SETTINGS: dict[str, Any] = {
    "tol_gap_abs": 1e-12,
    "tol_gap_rel": 1e-12,
    "tol_feas": 1e-12,
    "tol_ktratio": 1e-12,
    "static_regularization_constant": 1e-13,
    "iterative_refinement_reltol": 1e-15,
    "iterative_refinement_abstol": 1e-15,
    "iterative_refinement_max_iter": 100,
    "max_step_fraction": 0.9,
}
_SCS_SETTINGS: dict[str, Any] = {"eps_abs": 1e-10, "eps_rel": 1e-10, "max_iters": 200_000}


def _kkt_residual(v: FloatArray, theta_hat: FloatArray, vt: FloatArray, p: float) -> float:
    """‖P_⊥∇f(v)‖ for f(v) = ‖v‖^p − p⟨θ̂_S, v⟩ (scaled variables; the optimality condition of
    min f s.t. Xv = y is ∇f ∈ rowspace X). Relative to p (‖θ̂_S‖ = 1)."""
    nv = float(np.linalg.norm(v))
    grad = p * nv ** (p - 2.0) * v - p * theta_hat
    perp = grad - vt.T @ (vt @ grad)
    return float(np.linalg.norm(perp)) / p


def _cvxpy(
    des: _Design, depth: float, solver: str | None, kkt_tol: float
) -> PredictorResult:
    import cvxpy as cp

    p = 1.0 if math.isinf(depth) else (depth + 1.0) / depth
    scale = math.sqrt(des.s2)
    if scale == 0.0:  # depth 1 from θ_S = 0: min ‖w‖²
        scale = 1.0
    theta_hat = des.source / scale
    d = des.source.shape[0]
    # w = ‖θ_S‖ v: f(w) = ‖θ_S‖^p (‖v‖^p − p⟨θ̂_S, v⟩); Xw = y as Vᵣv = S⁻¹Uᵀy/‖θ_S‖ (the
    # same affine set with orthonormal rows; also the least-squares set when y ∉ range X)
    v = cp.Variable(d)
    objective = cp.power(cp.norm(v, 2), p) - p * (theta_hat @ v) if p != 1.0 else (
        cp.norm(v, 2) - theta_hat @ v
    )
    constraints = [des.vt @ v == des.coef / scale]
    problem = cp.Problem(cp.Minimize(objective), constraints)
    order = [solver.upper()] if solver else ["CLARABEL", "SCS"]
    attempts: list[dict[str, Any]] = []
    for name in order:
        opts = _CLARABEL_SETTINGS if name == "CLARABEL" else _SCS_SETTINGS if name == "SCS" else {}
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                problem.solve(solver=name, **opts)
        except (cp.error.SolverError, ValueError) as exc:
            attempts.append({"solver": name, "status": f"error: {exc}"})
            continue
        elapsed = time.perf_counter() - t0
        status = str(problem.status)
        info: dict[str, Any] = {"solver": name, "status": status, "solve_time": elapsed}
        if v.value is None or status not in ("optimal", "optimal_inaccurate"):
            attempts.append(info)
            continue
        val = np.asarray(v.value, dtype=np.float64)
        kkt = _kkt_residual(val, theta_hat, des.vt, p)
        feas = float(np.linalg.norm(des.vt @ val - des.coef / scale)) / max(
            float(np.linalg.norm(des.coef / scale)), 1e-300
        )
        info.update(kkt_residual=kkt, feasibility=feas)
        attempts.append(info)
        # 'optimal' is accepted as is; 'optimal_inaccurate' (Clarabel at tight tolerances often
        # says so while being accurate) only with an independent KKT certificate
        if status == "optimal" or (kkt <= kkt_tol and feas <= kkt_tol):
            diag = {**info, "attempts": attempts, "exponent": p}
            return _finish(des, val * scale, depth, "cvxpy", True, diag)
    raise SolverError(
        f"cvxpy could not solve the depth-{_depth_label(depth)} implicit-bias program: "
        + "; ".join(f"{a['solver']}: {a['status']}" for a in attempts)
    )


def _ode_rhs_jac(h: FloatArray, b: FloatArray, depth: float) -> tuple[Any, Any]:
    """Right-hand side and Jacobian of ẇ = −‖w‖^q(g + (L−1)ŵŵᵀg), q = 2 − 2/L, g = Hw − b."""
    q = 2.0 - 2.0 / depth
    m = depth - 1.0
    d = h.shape[0]
    eye = np.eye(d)

    def rhs(_t: float, w: FloatArray) -> FloatArray:
        g = h @ w - b
        nw2 = float(w @ w)
        nq = nw2 ** (q / 2)
        return np.asarray(-nq * g - m * nq / nw2 * w * float(w @ g))

    def jac(_t: float, w: FloatArray) -> FloatArray:
        # d/dw[‖w‖^q g] = q‖w‖^{q−2} g wᵀ + ‖w‖^q H
        # d/dw[‖w‖^{q−2} w wᵀg] = (q−2)‖w‖^{q−4}(wᵀg) w wᵀ + ‖w‖^{q−2}[(wᵀg) I + w(g + Hw)ᵀ]
        g = h @ w - b
        nw2 = float(w @ w)
        nq = nw2 ** (q / 2)
        wg = float(w @ g)
        j1 = q * nq / nw2 * np.outer(g, w) + nq * h
        j2 = (q - 2.0) * nq / nw2**2 * wg * np.outer(w, w) + nq / nw2 * (
            wg * eye + np.outer(w, g + h @ w)
        )
        return np.asarray(-j1 - m * j2)

    return rhs, jac


def _ode(des: _Design, depth: float, tol: float, t_max: float | None) -> PredictorResult:
    from scipy.integrate import solve_ivp

    if math.isinf(depth):
        raise InvalidInputError(
            "method='ode' needs a finite depth (the flow's speed grows like L); use "
            "'closed_form' or 'cvxpy' for L = ∞"
        )
    n = des.x.shape[0]
    h = des.x.T @ des.x / n
    b = des.x.T @ des.y / n
    rhs, jac = _ode_rhs_jac(h, b, depth)
    ynorm = float(np.linalg.norm(des.yhat))
    if ynorm == 0.0:  # depth 1 with y ∈ ker: the limit is θ_S − P_Xθ_S … integrate anyway
        ynorm = 1.0
    lam_min = float(des.sv[-1] ** 2 / n) if des.sv.size else 1.0
    speed = max(des.s2, 1e-300) ** (1.0 - 1.0 / depth) if depth > 1 else 1.0
    horizon = t_max if t_max is not None else 1e5 / (lam_min * speed)

    def event(_t: float, w: FloatArray) -> float:
        # fire at tol/2 so that the returned state satisfies the tolerance strictly
        return float(np.linalg.norm(des.x @ w - des.yhat)) - 0.5 * tol * ynorm

    event.terminal = True  # type: ignore[attr-defined]
    event.direction = -1  # type: ignore[attr-defined]
    scale = max(math.sqrt(des.s2), math.sqrt(des.b2), 1e-300)
    if event(0.0, des.source) <= 0:  # θ_S already interpolates: the flow does not move
        diag0 = {"status": 1, "message": "converged at t = 0", "t_final": 0.0,
                 "t_max": float(horizon), "nfev": 0, "njev": 0, "solve_time": 0.0, "tol": tol}
        return _finish(des, des.source.copy(), depth, "ode", True, diag0)
    t0 = time.perf_counter()
    sol = solve_ivp(
        rhs, (0.0, horizon), des.source.copy(), method="LSODA", jac=jac, events=event,
        rtol=1e-11, atol=1e-13 * scale,
    )
    elapsed = time.perf_counter() - t0
    w = np.asarray(sol.y[:, -1])
    resid = float(np.linalg.norm(des.x @ w - des.yhat)) / ynorm
    converged = bool(sol.status == 1 or resid <= tol)
    diag = {
        "status": int(sol.status),
        "message": str(sol.message),
        "t_final": float(sol.t[-1]),
        "t_max": float(horizon),
        "nfev": int(sol.nfev),
        "njev": int(sol.njev),
        "solve_time": elapsed,
        "tol": tol,
    }
    return _finish(des, w, depth, "ode", converged, diag)


def solve_predictor(
    x: ArrayLike,
    y: ArrayLike,
    source: ArrayLike,
    depth: Any,
    method: Method = "closed_form",
    *,
    rtol: float | None = None,
    solver: str | None = None,
    kkt_tol: float = 1e-9,
    ode_tol: float = 1e-10,
    t_max: float | None = None,
    strict: bool = False,
) -> PredictorResult:
    """Fine-tuned end-to-end predictor of a depth-L linear network, with diagnostics (§3.2).

    Regime: balanced pretrained weights with end-to-end vector θ_S (§3.1), all layers trained by
    gradient flow on ‖Xw − y‖²/(2n) to convergence (a global minimum; see the module note on
    the saddle when ⟨P_Xθ_T, P_Xθ_S⟩ < 0).

    Parameters
    ----------
    x : array_like, shape (n, d)
        Target design, one sample per row (n ≥ 1; n ≥ d allowed: then P_⊥ = 0 and every depth
        gives the least-squares solution).
    y : array_like, shape (n,)
        Target labels (labels outside the column space of X are projected: the flow converges
        to the least-squares set).
    source : array_like, shape (d,)
        θ_S, the pretrained network's end-to-end vector.
    depth : int or inf
        L ≥ 1 (``math.inf`` or ``"inf"`` for the infinite-depth limit; not with ``"ode"``).
    method : {"closed_form", "cvxpy", "ode"}
        Which independent route (see the module docstring).
    rtol : float, optional
        Relative singular-value cut-off for the row space (default ``max(n, d)·eps``).
    solver : str, optional
        cvxpy solver name (default: Clarabel, then SCS as a fallback).
    kkt_tol : float
        cvxpy: an ``optimal_inaccurate`` status is accepted only if the relative KKT residual
        ‖P_⊥∇f(w)‖ and the feasibility residual are below this.
    ode_tol : float
        ODE: stop when ‖Xw − XX⁺y‖ ≤ ode_tol·‖XX⁺y‖.
    t_max : float, optional
        ODE time horizon (default 10⁵ time constants 1/(‖θ_S‖^{2−2/L}λ_min⁺(XᵀX/n))).
    strict : bool
        Raise :class:`ConvergenceError` when the ODE does not reach ``ode_tol`` (otherwise the
        result has ``converged=False``).

    Returns
    -------
    PredictorResult

    Raises
    ------
    InvalidInputError
        Bad shapes or values; depth < 1; for depth ≥ 2: θ_S = 0 or P_Xθ_T = X⁺y = 0
        (degenerate); L = ∞ with P_Xθ_S = 0; ``"ode"`` with L = ∞.
    SolverError
        cvxpy failed with every solver tried (status not optimal, no KKT certificate).
    ConvergenceError
        ``strict=True`` and the ODE did not converge within ``t_max``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((3, 8)); src = rng.standard_normal(8); tgt = src + 0.1
    >>> r = solve_predictor(x, x @ tgt, src, depth=3)
    >>> bool(r.residual < 1e-12), r.coefficient > 0
    (True, True)
    """
    L = check_depth(depth)
    check_choice(method, "method", METHODS)
    des = _prepare(x, y, source, rtol)
    _check_nondegenerate(des, L)
    if method == "closed_form":
        return _closed_form(des, L)
    if method == "cvxpy":
        kkt_tol = nonneg_float(kkt_tol, "kkt_tol", positive=True)
        return _cvxpy(des, L, solver, kkt_tol)
    ode_tol = nonneg_float(ode_tol, "ode_tol", positive=True)
    if t_max is not None:
        t_max = nonneg_float(t_max, "t_max", positive=True)
    res = _ode(des, L, ode_tol, t_max)
    if strict and not res.converged:
        raise ConvergenceError(
            f"gradient-flow ODE (depth {_depth_label(L)}) stopped at t = "
            f"{res.diagnostics['t_final']:.3g} with residual {res.residual:.3g} > {ode_tol:g}"
            + (" (near the saddle w = 0: ⟨P_Xθ_T, P_Xθ_S⟩ < 0)"
               if res.diagnostics.get("saddle_risk") else "")
        )
    return res


def predictor(
    x: ArrayLike,
    y: ArrayLike,
    source: ArrayLike,
    depth: Any,
    method: Method = "closed_form",
    **kwargs: Any,
) -> FloatArray:
    """The fine-tuned end-to-end vector w of a depth-L linear network (spec §3.2).

    Shorthand for ``solve_predictor(...).predictor`` that raises when a route did not converge
    (``strict=True``). See :func:`solve_predictor` for the parameters.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.eye(2, 4); src = np.ones(4); tgt = np.array([2.0, 2.0, 1.0, 1.0])
    >>> predictor(x, x @ tgt, src, depth=float("inf")).round(6).tolist()
    [2.0, 2.0, 2.0, 2.0]
    """
    kwargs.setdefault("strict", True)
    return solve_predictor(x, y, source, depth, method, **kwargs).predictor


# ---------------------------------------------------------------------------------------------
# §3.5: frozen early layers
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FrozenResult:
    """Fine-tuning with the first k layers frozen (spec §3.5).

    Attributes
    ----------
    predictor : ndarray
        w = γθ_S.
    gamma : float
        The scalar the network converges to.
    gamma_least_squares : float
        γ* = ⟨Xθ_S, y⟩/‖Xθ_S‖² (the least-squares scalar).
    stalled_at_saddle : bool
        True when γ* < 0 and the trainable part has depth ≥ 2: it cannot cross the saddle at
        γ = 0, so γ = 0.
    frozen_layers, depth : int/float
    """

    predictor: FloatArray
    gamma: float
    gamma_least_squares: float
    stalled_at_saddle: bool
    frozen_layers: int
    depth: float


def _frozen_gamma(
    gamma_ls: FloatArray, depth: float, frozen_layers: int
) -> tuple[FloatArray, NDArray[np.bool_]]:
    """γ reached by GD with the first k layers frozen, from the least-squares γ* (batched)."""
    trainable = depth - frozen_layers
    if trainable <= 0:  # nothing trains: the network stays at θ_S
        return np.ones_like(gamma_ls), np.zeros(gamma_ls.shape, dtype=bool)
    if trainable == 1:  # one linear layer: any γ is reachable
        return gamma_ls, np.zeros(gamma_ls.shape, dtype=bool)
    stalled = gamma_ls < 0
    return np.where(stalled, 0.0, gamma_ls), stalled


def frozen_predictor(
    x: ArrayLike, y: ArrayLike, source: ArrayLike, depth: Any, frozen_layers: int
) -> FrozenResult:
    """The limit of gradient descent with the first ``frozen_layers`` layers frozen (§3.5).

    With W_1 frozen at its balanced value s u₁θ̂_Sᵀ, every reachable end-to-end vector is γθ_S
    (the trainable layers only see the one feature θ̂_Sᵀx). The trainable part is a depth-(L−k)
    balanced scalar network on that feature, so it converges to the least-squares γ* =
    ⟨Xθ_S, y⟩/‖Xθ_S‖² — except that for L − k ≥ 2 the point γ = 0 is a saddle it cannot
    cross from γ = 1, so γ = max(γ*, 0) [derived]. k ≥ L trains nothing (γ = 1); k = 0 is full
    fine-tuning (use :func:`solve_predictor`).

    Raises
    ------
    InvalidInputError
        Bad inputs, ``frozen_layers`` < 1, θ_S = 0, or Xθ_S = 0 (γ undetermined).
    """
    L = check_depth(depth)
    k = positive_int(frozen_layers, "frozen_layers")
    xa = as_float_array(x, "X", ndim=2)
    ya = as_vector(y, "y", xa.shape[0])
    th = as_vector(source, "source", xa.shape[1])
    xs = xa @ th
    denom = float(xs @ xs)
    if float(th @ th) == 0.0 or denom <= (_DEGENERATE_TOL * np.linalg.norm(xa) * np.linalg.norm(
        th
    )) ** 2:
        raise InvalidInputError(
            "frozen fine-tuning needs Xθ_S ≠ 0 (the only trainable feature θ_Sᵀx is zero)"
        )
    g_ls = float(xs @ ya) / denom
    g, stalled = _frozen_gamma(np.array([g_ls]), L, k)
    gamma = float(g[0])
    return FrozenResult(readonly(gamma * th), gamma, g_ls, bool(stalled[0]), k, L)


def frozen_risk_floor(task: LinearTask, depth: Any = math.inf, frozen_layers: int = 1) -> float:
    """Population limit (n → ∞) of the risk with the first k ≥ 1 layers frozen (§3.5).

    γ* → γ_pop = ⟨θ_S, θ_T⟩_Σ/‖θ_S‖²_Σ, so the risk tends to ‖θ_T − γθ_S‖²_Σ =
    ‖θ_T‖²_Σ − ⟨θ_S, θ_T⟩²_Σ/‖θ_S‖²_Σ (γ = γ_pop), which is > 0 unless θ_T ∥ θ_S in the Σ
    geometry — fine-tuning with frozen early layers never learns the rest. With a trainable
    depth ≥ 2 and γ_pop < 0 the network stalls at γ = 0 and the floor is ‖θ_T‖²_Σ. It is also a
    lower bound on the frozen risk for every n (the reachable set is {γθ_S}).
    """
    _check_task(task)
    L = check_depth(depth)
    k = positive_int(frozen_layers, "frozen_layers")
    cov = task.covariance
    ss = float(cov.quadratic_form(task.source))
    st = float(np.sum(cov.eigenvalues * task.source_eig * task.target_eig))
    tt = float(cov.quadratic_form(task.target))
    if ss == 0.0:
        return tt
    g, _ = _frozen_gamma(np.array([st / ss]), L, k)
    gam = float(g[0])
    return max(tt - 2 * gam * st + gam * gam * ss, 0.0)


# ---------------------------------------------------------------------------------------------
# batched kernel over designs (eigenbasis of Σ)
# ---------------------------------------------------------------------------------------------
def _check_batch_degenerate(s2: FloatArray, b2: FloatArray) -> None:
    """Depth ≥ 2 needs θ_S ≠ 0 and X⁺y ≠ 0 on every draw (same rule as solve_predictor)."""
    if np.any(s2 <= 0):
        raise InvalidInputError(
            "source must be non-zero for depth ≥ 2: zero pretrained weights are a saddle"
        )
    if np.any(np.sqrt(b2) <= _DEGENERATE_TOL * np.sqrt(s2)):
        raise InvalidInputError(
            "degenerate fine-tuning data: P_Xθ_T = X⁺y = 0 on some design (e.g. θ_T = 0); "
            "spec §3.2 needs P_Xθ_T ≠ 0 for depth ≥ 2"
        )


def _check_batch_row_source(s2: FloatArray, q2: FloatArray) -> None:
    """Infinite depth needs P_Xθ_S ≠ 0 on every draw (c_∞ = ‖P_Xθ_T‖/‖P_Xθ_S‖)."""
    if np.any(np.sqrt(q2) <= _DEGENERATE_TOL * np.sqrt(s2)):
        raise InvalidInputError(
            "infinite depth needs P_Xθ_S ≠ 0 on every design: c_∞ = ‖P_Xθ_T‖/‖P_Xθ_S‖ diverges"
        )


def _batch_frozen_gammas(
    src: FloatArray, xe: FloatArray, y: FloatArray, depths: Sequence[float], frozen_layers: int
) -> FloatArray:
    """γ of the frozen-layer limit γθ_S (§3.5) for B problems and each depth: shape (B, nd).

    Least squares in the one reachable direction, clipped by :func:`_frozen_gamma` where the
    trainable part cannot cross γ = 0.
    """
    xs = np.einsum("bnd,bd->bn", xe, src)
    denom = np.sum(xs * xs, axis=-1)
    if np.any(denom <= 0):
        raise InvalidInputError("frozen fine-tuning needs Xθ_S ≠ 0 on every design")
    g_ls = np.sum(xs * y, axis=-1) / denom
    return np.stack([_frozen_gamma(g_ls, L, frozen_layers)[0] for L in depths], axis=1)


def _batch_risks(
    lam: FloatArray,
    src: FloatArray,
    tgt: FloatArray,
    xe: FloatArray,
    depths: Sequence[float],
    *,
    y: FloatArray | None = None,
    frozen_layers: int = 0,
    rtol: float | None = None,
) -> dict[str, FloatArray]:
    """Closed-form risks of B fine-tuning problems, batched (spec §3.2–3.5).

    ``lam`` (d,) eigenvalues of Σ; ``src``, ``tgt`` (B, d) teachers and ``xe`` (B, n, d) designs,
    all in Σ's eigenbasis; ``y`` (B, n) labels (default noiseless Xθ_T). Returns arrays of shape
    (B, len(depths)): ``risk`` (of the predictor the network reaches), ``measure``
    (R_L = ‖Σ^{1/2}P_⊥(c_Lθ_S − θ_T)‖² with the noiseless c_L; for frozen layers the risk) and
    ``c`` (c_L, or γ for frozen layers); and (B,) arrays ``zero_shot``, ``rank``.
    """
    bsz = xe.shape[0]
    ys = np.einsum("bnd,bd->bn", xe, tgt) if y is None else y
    zero_shot = np.sum(lam * (src - tgt) ** 2, axis=-1)
    nd = len(depths)
    risk = np.empty((bsz, nd))
    measure = np.empty((bsz, nd))
    coef = np.empty((bsz, nd))
    if frozen_layers > 0:
        coef = _batch_frozen_gammas(src, xe, ys, depths, frozen_layers)
        for j in range(nd):
            r = np.sum(lam * (coef[:, j, None] * src - tgt) ** 2, axis=-1)
            risk[:, j], measure[:, j] = r, r
        rank = np.linalg.matrix_rank(xe)
        return {"risk": risk, "measure": measure, "c": coef, "zero_shot": zero_shot,
                "rank": np.asarray(rank, dtype=np.float64)}
    u, s, vt = np.linalg.svd(xe, full_matrices=False)
    keep = _rank_keep(s, xe.shape, rtol)
    vt = vt * keep[..., None]
    s_safe = np.where(keep, s, 1.0)
    coef_y = np.where(keep, np.einsum("bnk,bn->bk", u, ys) / s_safe, 0.0)
    fitted = np.einsum("bkd,bk->bd", vt, coef_y)  # X⁺y
    ps = np.einsum("bkd,bd->bk", vt, src)
    perp_src = src - np.einsum("bkd,bk->bd", vt, ps)
    pt = np.einsum("bkd,bd->bk", vt, tgt)
    perp_tgt = tgt - np.einsum("bkd,bk->bd", vt, pt)
    s2 = np.sum(src * src, axis=-1)
    a2 = np.minimum(np.sum(perp_src * perp_src, axis=-1), s2)
    q2 = np.sum(ps * ps, axis=-1)
    b2 = np.sum(coef_y * coef_y, axis=-1)
    b2_clean = np.sum(pt * pt, axis=-1)
    for j, L in enumerate(depths):
        if L > 1:
            _check_batch_degenerate(s2, b2 if y is not None else b2_clean)
        if math.isinf(L):
            _check_batch_row_source(s2, q2)
        c, _, _, _ = _c_root(s2, a2, b2, L, q2=q2)
        if y is None:
            c_clean = c
        else:
            c_clean, _, _, _ = _c_root(s2, a2, b2_clean, L, q2=q2)
        w = fitted + c[:, None] * perp_src
        risk[:, j] = np.sum(lam * (w - tgt) ** 2, axis=-1)
        v = c_clean[:, None] * perp_src - perp_tgt  # direct, no cancellation for tiny R_L
        measure[:, j] = np.sum(lam * v * v, axis=-1)
        coef[:, j] = c
    return {"risk": risk, "measure": measure, "c": coef, "zero_shot": zero_shot,
            "rank": np.sum(keep, axis=-1).astype(np.float64)}


def _batch_predictors(
    src: FloatArray,
    xe: FloatArray,
    y: FloatArray,
    depths: Sequence[float],
    *,
    frozen_layers: int = 0,
    rtol: float | None = None,
) -> FloatArray:
    """Closed-form limits w for B problems at several depths: shape (B, len(depths), d).

    Full fine-tuning: X⁺y + c_L P_⊥θ_S (§3.2) from one batched SVD; frozen layers: γθ_S (§3.5).
    Same degeneracy errors as :func:`solve_predictor`.
    """
    out = np.empty((src.shape[0], len(depths), src.shape[1]))
    if frozen_layers > 0:
        return _batch_frozen_gammas(src, xe, y, depths, frozen_layers)[:, :, None] * src[:, None]
    u, s, vt = np.linalg.svd(xe, full_matrices=False)
    keep = _rank_keep(s, xe.shape, rtol)
    vt = vt * keep[..., None]
    coef_y = np.where(keep, np.einsum("bnk,bn->bk", u, y) / np.where(keep, s, 1.0), 0.0)
    fitted = np.einsum("bkd,bk->bd", vt, coef_y)
    ps = np.einsum("bkd,bd->bk", vt, src)
    perp_src = src - np.einsum("bkd,bk->bd", vt, ps)
    s2 = np.sum(src * src, axis=-1)
    a2 = np.minimum(np.sum(perp_src * perp_src, axis=-1), s2)
    q2 = np.sum(ps * ps, axis=-1)
    b2 = np.sum(coef_y * coef_y, axis=-1)
    for j, L in enumerate(depths):
        if L > 1:
            _check_batch_degenerate(s2, b2)
        if math.isinf(L):
            _check_batch_row_source(s2, q2)
        c = _c_root(s2, a2, b2, L, q2=q2)[0] if L > 1 else np.ones_like(s2)
        out[:, j] = fitted + c[:, None] * perp_src
    return out


def _stderr(a: FloatArray, axis: int = 0) -> FloatArray:
    n = a.shape[axis]
    if n < 2:
        return np.full(np.delete(np.array(a.shape), axis), np.inf)
    return np.asarray(np.std(a, axis=axis, ddof=1) / math.sqrt(n))


_check_task = check_linear_task
_generator = as_generator


def _check_frozen(frozen_layers: Any) -> int:
    return positive_int(frozen_layers, "frozen_layers", allow_zero=True)


# ---------------------------------------------------------------------------------------------
# §3.3: one design and expectations over Gaussian designs
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SampleRisk:
    """Risk of the depth-L fine-tuned network on one design (spec §3.3).

    Attributes
    ----------
    risk : float
        (w − θ_T)ᵀΣ(w − θ_T) for the predictor the network reaches.
    measure : float
        R_L = ‖Σ^{1/2}P_⊥(c_Lθ_S − θ_T)‖² (noiseless c_L; equals ``risk`` without label noise).
    coefficient : float
        c_L (γ with frozen layers).
    linear_risk, infinite_depth_risk : float
        R_1 (linear fine-tuning, §2.2) and R_∞ on the same design (R_L ≤ max of the two for
        full fine-tuning); R_∞ is None when undefined (P_Xθ_S = 0).
    zero_shot : float
        ΔᵀΣΔ.
    depth : float
    frozen_layers : int
    """

    risk: float
    measure: float
    coefficient: float
    linear_risk: float
    infinite_depth_risk: float | None
    zero_shot: float
    depth: float
    frozen_layers: int = 0


def sample_risk(
    task: LinearTask,
    x: ArrayLike,
    depth: Any,
    *,
    frozen_layers: int = 0,
    noise: ArrayLike | None = None,
    rtol: float | None = None,
) -> SampleRisk:
    """Risk of fine-tuning a depth-L network on the design ``x`` (spec §3.3, §3.5).

    Parameters
    ----------
    task : LinearTask
    x : array_like, shape (n, d)
        Design (rows are samples, in the original coordinates).
    depth : int or inf
    frozen_layers : int
        Number of frozen early layers k (0: all layers trained).
    noise : array_like, shape (n,), optional
        Label noise added to Xθ_T (default none; ``task.noise_variance`` is not sampled here).
    rtol : float, optional
        Rank cut-off for the row space.

    Raises
    ------
    InvalidInputError
        Bad inputs or degenerate designs (see :func:`solve_predictor`).
    """
    _check_task(task)
    L = check_depth(depth)
    k = _check_frozen(frozen_layers)
    xa = as_float_array(x, "X", ndim=2)
    if xa.shape[1] != task.dim:
        raise InvalidInputError(f"X must have {task.dim} columns, got shape {xa.shape}")
    cov = task.covariance
    xe = cov.to_eigenbasis(xa)[None]
    src, tgt = task.source_eig[None], task.target_eig[None]
    y = None
    if noise is not None:
        y = (xe[0] @ task.target_eig + as_vector(noise, "noise", xa.shape[0]))[None]
    if rtol is not None:
        rtol = nonneg_float(rtol, "rtol")
    lam = cov.eigenvalues
    main = _batch_risks(lam, src, tgt, xe, [L], y=y, frozen_layers=k, rtol=rtol)
    ref = _batch_risks(lam, src, tgt, xe, [1.0], y=y, rtol=rtol)
    try:
        inf_risk: float | None = float(
            _batch_risks(lam, src, tgt, xe, [math.inf], y=y, rtol=rtol)["risk"][0, 0]
        )
    except InvalidInputError:  # P_Xθ_S = 0 or P_Xθ_T = 0: R_∞ undefined
        inf_risk = None
    return SampleRisk(
        risk=float(main["risk"][0, 0]),
        measure=float(main["measure"][0, 0]),
        coefficient=float(main["c"][0, 0]),
        linear_risk=float(ref["risk"][0, 0]),
        infinite_depth_risk=inf_risk,
        zero_shot=float(main["zero_shot"][0]),
        depth=L,
        frozen_layers=k,
    )


@dataclass(frozen=True)
class ExpectedRisk:
    """Monte Carlo expectation over Gaussian designs x ~ N(0, Σ) (spec §3.3).

    Attributes
    ----------
    risk, risk_stderr : float
        Mean and standard error (std/√draws) of the predictor's risk.
    measure, measure_stderr : float
        The same for R_L (noiseless c_L).
    coefficient : float
        Mean c_L (γ for frozen layers).
    n, depth, draws, frozen_layers
    """

    risk: float
    risk_stderr: float
    measure: float
    measure_stderr: float
    coefficient: float
    n: int
    depth: float
    draws: int
    frozen_layers: int = 0


def _draw_designs(
    task: LinearTask, n: int, b: int, rng: np.random.Generator,
    noise_rng: np.random.Generator | None = None,
) -> tuple[FloatArray, FloatArray | None]:
    """Designs in Σ's eigenbasis (x = z√λ) and, with label noise, noisy labels.

    The noise comes from its own stream ``noise_rng`` so that neither stream depends on how the
    draws are chunked (the result must not depend on ``batch``)."""
    lam = task.covariance.eigenvalues
    xe = rng.standard_normal((b, n, lam.shape[0])) * np.sqrt(lam)
    y = None
    if task.noise_variance > 0:
        src = rng if noise_rng is None else noise_rng
        y = xe @ task.target_eig + math.sqrt(task.noise_variance) * src.standard_normal((b, n))
    return xe, y


def expected_risk(
    task: LinearTask,
    n: int,
    depth: Any,
    *,
    draws: int = 200,
    rng: np.random.Generator | int | None = None,
    frozen_layers: int = 0,
    batch: int = 256,
) -> ExpectedRisk:
    """E_X[R_L] over n Gaussian target samples, by Monte Carlo of the closed form (§3.3).

    Each draw: X with rows ~ N(0, Σ) (sampled in Σ's eigenbasis; the risk is rotation
    invariant), labels Xθ_T (+ noise if ``task.noise_variance`` > 0), the closed-form predictor,
    its exact risk. Batched (``batch`` designs per SVD call); standard errors from the sample
    standard deviation.

    Raises
    ------
    InvalidInputError
        n < 1, draws < 2, depth < 1, or a degenerate draw (θ_T = 0, θ_S = 0).
    """
    _check_task(task)
    n = positive_int(n, "n")
    L = check_depth(depth)
    k = _check_frozen(frozen_layers)
    draws = positive_int(draws, "draws")
    if draws < 2:
        raise InvalidInputError("draws must be ≥ 2 to estimate a standard error")
    batch = positive_int(batch, "batch")
    gen = _generator(rng)
    # label noise from a child stream (created only with noise: noiseless draws are unchanged)
    noise_gen = gen.spawn(1)[0] if task.noise_variance > 0 else None
    risks, measures, cs = [], [], []
    done = 0
    while done < draws:
        b = min(batch, draws - done)
        xe, y = _draw_designs(task, n, b, gen, noise_gen)
        src = np.broadcast_to(task.source_eig, (b, task.dim))
        tgt = np.broadcast_to(task.target_eig, (b, task.dim))
        out = _batch_risks(task.covariance.eigenvalues, src, tgt, xe, [L], y=y, frozen_layers=k)
        risks.append(out["risk"][:, 0])
        measures.append(out["measure"][:, 0])
        cs.append(out["c"][:, 0])
        done += b
    r, m, c = np.concatenate(risks), np.concatenate(measures), np.concatenate(cs)
    return ExpectedRisk(
        float(r.mean()), float(_stderr(r)), float(m.mean()), float(_stderr(m)),
        float(c.mean()), n, L, draws, k,
    )


def _prefix_curves(
    task: LinearTask,
    n_max: int,
    depths: Sequence[float],
    frozen_layers: int,
    xe: FloatArray,
) -> FloatArray:
    """R_L for every prefix X[:m] (m = 1..n_max) of B nested designs: shape (B, n_max, nd).

    Nested designs share their first rows (common random numbers across n). Full fine-tuning:
    one QR of X_rᵀ (restricted to range Σ) per design gives orthonormal q_1, q_2, … with
    span(q_1..q_m) = rowspace X[:m], so ‖P_Xθ‖² and ‖Σ^{1/2}P_⊥θ‖² are cumulative sums
    (noiseless labels). Frozen layers: γ*(m) from cumulative sums over rows.
    """
    cov = task.covariance
    lam = cov.eigenvalues
    src, tgt = task.source_eig, task.target_eig
    bsz = xe.shape[0]
    nd = len(depths)
    out = np.empty((bsz, n_max, nd))
    if frozen_layers > 0:
        xs = xe @ src
        xt = xe @ tgt
        num = np.cumsum(xs * xt, axis=1)
        den = np.cumsum(xs * xs, axis=1)
        if np.any(den <= 0):
            raise InvalidInputError("frozen fine-tuning needs Xθ_S ≠ 0 on every design")
        g_ls = num / den
        ss = float(np.sum(lam * src * src))
        st = float(np.sum(lam * src * tgt))
        tt = float(np.sum(lam * tgt * tgt))
        for j, L in enumerate(depths):
            g, _ = _frozen_gamma(g_ls, L, frozen_layers)
            out[:, :, j] = np.maximum(g * g * ss - 2 * g * st + tt, 0.0)
        return out
    pos = lam > 0
    r = int(np.count_nonzero(pos))
    lp = lam[pos]
    sp, tp = src[pos], tgt[pos]
    s2 = float(src @ src)
    xr = xe[:, :, pos]  # (B, n_max, r)
    k = min(n_max, r)
    q, _ = np.linalg.qr(np.swapaxes(xr[:, :k, :], 1, 2))  # (B, r, k)
    al_s = np.einsum("brk,r->bk", q, sp)
    al_t = np.einsum("brk,r->bk", q, tp)
    qs_s = np.einsum("brk,r->bk", q, lp * sp)  # q_jᵀΣθ_S
    qs_t = np.einsum("brk,r->bk", q, lp * tp)
    gram = np.einsum("brj,r,brk->bjk", q, lp, q)  # QᵀΣQ
    low = np.tril(gram, -1)
    diag = np.diagonal(gram, axis1=1, axis2=2)

    def quad_prefix(a: FloatArray, b: FloatArray) -> FloatArray:
        # Σ_{j,l≤m} a_j G_jl b_l for every m, via the lower triangle
        la, lb = np.einsum("bjk,bk->bj", low, a), np.einsum("bjk,bk->bj", low, b)
        return np.asarray(np.cumsum(a * diag * b + a * lb + b * la, axis=1))

    def weighted_perp(a: FloatArray, qa: FloatArray, b: FloatArray, qb: FloatArray,
                      full: float) -> FloatArray:
        # ⟨Σ^{1/2}P_⊥u, Σ^{1/2}P_⊥v⟩ = uᵀΣv − Σ_j a_j q_jᵀΣv − Σ_j b_j q_jᵀΣu + aᵀGb
        return np.asarray(
            full - np.cumsum(a * qb, axis=1) - np.cumsum(b * qa, axis=1) + quad_prefix(a, b)
        )

    m_ss = weighted_perp(al_s, qs_s, al_s, qs_s, float(np.sum(lp * sp * sp)))
    m_st = weighted_perp(al_s, qs_s, al_t, qs_t, float(np.sum(lp * sp * tp)))
    m_tt = weighted_perp(al_t, qs_t, al_t, qs_t, float(np.sum(lp * tp * tp)))
    b2 = np.cumsum(al_t**2, axis=1)
    q2 = np.cumsum(al_s**2, axis=1)
    a2 = np.clip(s2 - q2, 0.0, s2)
    s2_arr = np.full_like(a2, s2)
    for j, L in enumerate(depths):
        if L > 1:
            _check_batch_degenerate(s2_arr, b2)
        if math.isinf(L):
            _check_batch_row_source(s2_arr, q2)
        c, _, _, _ = _c_root(s2_arr, a2, b2, L, q2=q2)
        out[:, :k, j] = np.maximum(c * c * m_ss - 2 * c * m_st + m_tt, 0.0)
        if n_max >= r:  # n ≥ rank Σ: X[:n] spans range Σ (a.s.), the risk is exactly 0
            out[:, r - 1:, j] = 0.0
    return out


def risk_curve(
    task: LinearTask,
    ns: Sequence[int] | ArrayLike,
    depth: Any,
    *,
    draws: int = 200,
    rng: np.random.Generator | int | None = None,
    frozen_layers: int = 0,
) -> dict[str, FloatArray]:
    """E_X[R_L] on a grid of n, with standard errors, from nested designs (spec §3.3).

    One set of ``draws`` designs with max(ns) rows is drawn; X[:n] serves every n (common random
    numbers: the curve is smooth in n and cheap — one QR per design for all n). Noiseless
    labels only (the §3 measure).

    Returns
    -------
    dict
        ``n``, ``risk`` (mean), ``stderr``.

    Raises
    ------
    InvalidInputError
        Empty or invalid ``ns``, label noise in the task, degenerate draws.
    """
    _check_task(task)
    if task.noise_variance > 0:
        raise InvalidInputError(
            "risk_curve/sample_complexity use the noiseless measure R_L (§3); got a task with "
            "noise_variance > 0 (use expected_risk for noisy labels)"
        )
    L = check_depth(depth)
    k = _check_frozen(frozen_layers)
    if (L > 1 or k > 0) and not np.any(task.source):
        raise InvalidInputError("source must be non-zero for depth ≥ 2 or frozen layers")
    arr = np.asarray(ns)
    if arr.ndim != 1 or arr.size == 0:
        raise InvalidInputError(f"ns must be a non-empty 1-D sequence, got shape {arr.shape}")
    n_arr = np.array([positive_int(v, "n") for v in arr.tolist()], dtype=int)
    draws = positive_int(draws, "draws")
    if draws < 2:
        raise InvalidInputError("draws must be ≥ 2 to estimate a standard error")
    gen = _generator(rng)
    n_max = int(n_arr.max())
    lam = task.covariance.eigenvalues
    budget = max(1, (32 * 2**20) // (8 * n_max * lam.shape[0]))
    chunks = []
    done = 0
    while done < draws:
        b = min(budget, draws - done)
        xe = gen.standard_normal((b, n_max, lam.shape[0])) * np.sqrt(lam)
        chunks.append(_prefix_curves(task, n_max, [L], k, xe)[:, :, 0])
        done += b
    curves = np.concatenate(chunks)[:, n_arr - 1]
    return {"n": n_arr, "risk": curves.mean(axis=0), "stderr": _stderr(curves)}


@dataclass(frozen=True)
class SampleComplexity:
    """Smallest n whose Monte Carlo E[R_L] ≤ ε (spec §2.4 applied to §3.3).

    ``n`` is None and ``reachable`` False when no n ≤ ``n_max`` reaches ε (``reason`` says why,
    e.g. the frozen-layer floor of §3.5).
    """

    n: int | None
    eps: float
    reachable: bool
    risk_at_n: float | None
    stderr_at_n: float | None
    depth: float
    draws: int
    n_max: int
    frozen_layers: int = 0
    reason: str = ""


def sample_complexity(
    task: LinearTask,
    eps: float,
    depth: Any,
    *,
    n_max: int | None = None,
    draws: int = 200,
    rng: np.random.Generator | int | None = None,
    frozen_layers: int = 0,
    strict: bool = False,
) -> SampleComplexity:
    """n*(ε) for a depth-L network: the first n with Monte Carlo E[R_L] ≤ ε (§3.3).

    A scan over n = 1 … n_max on nested designs (:func:`risk_curve`; the curve need not be
    monotone). Without frozen layers the noiseless risk is exactly 0 once n ≥ rank Σ, so
    n* ≤ rank Σ whenever n_max ≥ rank Σ. With frozen layers the risk tends to the floor of
    :func:`frozen_risk_floor` and ε below it is never reached.

    Parameters
    ----------
    eps : float
        Target level ε ≥ 0.
    n_max : int, optional
        Largest n scanned (default rank Σ; with frozen layers 10·d).
    strict : bool
        Raise :class:`NotReachableError` instead of returning ``reachable=False``.

    Raises
    ------
    NotReachableError
        ``strict=True`` and no n ≤ n_max reaches ε.
    """
    _check_task(task)
    eps = nonneg_float(eps, "eps")
    L = check_depth(depth)
    k = _check_frozen(frozen_layers)
    draws = positive_int(draws, "draws")
    if n_max is None:
        n_max = max(task.covariance.rank, 1) if k == 0 else 10 * task.dim
    n_max = positive_int(n_max, "n_max")
    curve = risk_curve(task, np.arange(1, n_max + 1), L, draws=draws, rng=rng, frozen_layers=k)
    hit = np.flatnonzero(curve["risk"] <= eps * (1 + 1e-12))
    if hit.size:
        i = int(hit[0])
        return SampleComplexity(
            int(curve["n"][i]), eps, True, float(curve["risk"][i]), float(curve["stderr"][i]),
            L, draws, n_max, k,
        )
    floor = frozen_risk_floor(task, L, k) if k else None
    if floor is not None and floor > eps:
        reason = (
            f"not reachable: with {k} frozen layer(s) the risk tends to the floor {floor:.4g} > "
            f"ε = {eps:g} (§3.5)"
        )
    else:
        reason = (
            f"not reachable for n ≤ {n_max}: E[R_L] at n = {n_max} is "
            f"{float(curve['risk'][-1]):.4g} ± {float(curve['stderr'][-1]):.2g} > ε = {eps:g}"
        )
    if strict:
        raise NotReachableError(reason)
    return SampleComplexity(None, eps, False, None, None, L, draws, n_max, k, reason)
