"""The depth coefficient c_L: root of c^{2L/(L−1)}‖θ_S‖² = ‖X⁺y‖² + c²‖P_⊥θ_S‖² (private).

Spec ``linear-teachers.md`` §3.2, §3.4. :func:`_c_root` is the vectorised safeguarded Newton
solver every other module uses; :func:`depth_coefficient` is its validated public face.

Convergence, per element (``statuses`` of :class:`DepthCoefficient`, aggregated in ``info``):

- ``exact``: L ∈ {1, ∞}, P_⊥θ_S = 0 (closed-form root), or an empty bracket (c_∞ = 1 = c_1);
- ``converged``: a Newton step ≤ 4·eps·max(1, |t|), f = 0, or the bracket shrank to that width
  between two evaluated points of opposite sign;
- ``bracket_lost``: the bracket shrank onto an end that was never evaluated and the root
  equation is not solved there (relative residual > 1000·eps) — the function has no sign change
  in the bracket (inconsistent inputs, e.g. a ‖P_Xθ_S‖² that does not match S − A). When the
  residual is at rounding level the root simply sits at that end (L → ∞: c_L → c_∞), and the
  element counts as ``converged``;
- ``max_iterations``: ``max_iter`` steps without meeting the criterion;
- ``not_finite``: c (or c_∞ at L = ∞) is NaN or infinite.

The criterion value reported in ``info.residual`` is min(|last Newton step|, bracket width) /
max(1, |t|) (tolerance 4·eps); the relative residual of the root equation itself is the array
``residual`` (its maximum is ``info.extra["root_residual"]``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._numerics import Solved, SolverInfo, SolverStatus, check_converged
from .._validation import FloatArray, as_float_array, boolean, positive_int
from ..errors import InvalidInputError
from ._common import _depth_label, _require_finite, _ro, check_depth
from ._status import _aggregate, _status_array

__all__ = ["DepthCoefficient", "depth_coefficient"]

#: relative Newton-step (or bracket-width) tolerance in t = log c
_STEP_TOL = 4 * np.finfo(np.float64).eps
#: relative root-equation residual below which a bracket end counts as the root
_ROOT_RTOL = 1000 * np.finfo(np.float64).eps
#: the two tolerances as Python floats (the scalar solver: numpy-scalar arithmetic is ≈ 5× slower)
_STEP_TOL_F = float(_STEP_TOL)
_ROOT_RTOL_F = float(_ROOT_RTOL)
#: default iteration budget of the root solver (bisection alone would need ~60 steps)
_MAX_ITER = 200


@dataclass(frozen=True)
class DepthCoefficient(Solved):
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
    statuses : ndarray of str
        Per-element :class:`~finetune_bounds._numerics.SolverStatus` values (see the module
        note); ``converged_mask`` (property) is the boolean form.
    info : SolverInfo
        Aggregate over the elements (worst status, counts in ``info.extra["counts"]``);
        ``status`` and ``converged`` (properties) read it.
    """

    value: FloatArray
    infinite_depth: FloatArray
    residual: FloatArray
    iterations: int
    depth: float
    statuses: NDArray[np.str_]
    info: SolverInfo



    @property
    def converged_mask(self) -> NDArray[np.bool_]:
        """Per element: converged or exact."""
        ok = (SolverStatus.CONVERGED.value, SolverStatus.EXACT.value)
        return np.asarray(np.isin(self.statuses, ok))


class _Root(NamedTuple):
    """What :func:`_c_root` returns (all arrays of the broadcast input shape)."""

    c: FloatArray
    c_inf: FloatArray
    residual: FloatArray
    iterations: int
    statuses: NDArray[np.str_]
    info: SolverInfo


class _Bracket(NamedTuple):
    """Pieces of φ(t) = log S + εt − log(A + B²e^{−2t}) and the initial bracket."""

    eps: float
    log_s: FloatArray
    log_b: FloatArray
    log_a: FloatArray
    a_pos: NDArray[np.bool_]
    lo: FloatArray
    hi: FloatArray


def _exact_root(c: FloatArray, c_inf: FloatArray) -> _Root:
    """L ∈ {1, ∞}: the root in closed form (not-finite where c is, e.g. c_∞ with P_Xθ_S = 0)."""
    statuses = _status_array(c.shape, SolverStatus.EXACT)
    statuses[~np.isfinite(c)] = SolverStatus.NOT_FINITE.value
    info = _aggregate(statuses, iterations=0, residual=0.0, tolerance=_STEP_TOL,
                      extra={"root_residual": 0.0})
    return _Root(c, c_inf, np.zeros_like(c), 0, statuses, info)


def _bracket(
    s2: FloatArray, a2: FloatArray, b2: FloatArray, q2: FloatArray, depth: float
) -> _Bracket:
    """Bracket [min(0, t_up), max(0, t_up)] of the root in t = log c (see :func:`_c_root`)."""
    eps = 2.0 / (depth - 1.0)
    log_s, log_b = np.log(s2), np.log(b2)
    a_pos = a2 > 0
    log_a = np.log(np.where(a_pos, a2, 1.0))
    with np.errstate(divide="ignore"):
        t_inf = np.where(q2 > 0, 0.5 * (log_b - np.log(np.where(q2 > 0, q2, 1.0))), np.inf)
    # log(1 + B²/S) in log space (B²/S may overflow)
    t_up = np.where(np.isfinite(t_inf), t_inf, 0.5 * (depth - 1.0) * np.logaddexp(0.0,
                                                                                  log_b - log_s))
    return _Bracket(eps, log_s, log_b, log_a, a_pos, np.minimum(0.0, t_up),
                    np.maximum(0.0, t_up))


def _newton(
    br: _Bracket, max_iter: int
) -> tuple[FloatArray, int, NDArray[np.str_], FloatArray, NDArray[np.bool_]]:
    """Safeguarded Newton in t inside the bracket.

    A step that leaves the current bracket is replaced by bisection. Returns t, the iterations,
    the statuses (``bracket_lost`` not yet decided), the criterion value and the mask of
    elements whose bracket collapsed onto an end that was never evaluated.
    """
    eps, log_s, log_b, log_a, a_pos = br.eps, br.log_s, br.log_b, br.log_a, br.a_pos
    lo, hi = br.lo, br.hi

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
    exact = ~active
    done_any = np.zeros(t.shape, dtype=bool)
    lo_seen = np.zeros(t.shape, dtype=bool)  # lo / hi set from an evaluation of that sign
    hi_seen = np.zeros(t.shape, dtype=bool)
    crit = np.zeros(t.shape)
    while it < max_iter and np.any(active):
        f, fp = phi(t)
        neg = f < 0
        lo = np.where(active & neg, t, lo)
        hi = np.where(active & ~neg, t, hi)
        lo_seen |= active & neg
        hi_seen |= active & ~neg
        step = f / fp
        t_newton = t - step
        # converged on the Newton step itself (a bisection fallback must not undo a root)
        scale = np.maximum(1.0, np.abs(t))
        done = np.abs(step) <= _STEP_TOL * scale
        done |= f == 0
        crit = np.where(active, np.minimum(np.abs(step), hi - lo) / scale, crit)
        bad = (t_newton <= lo) | (t_newton >= hi) | ~np.isfinite(t_newton)
        t_new = np.where(done, np.where(bad, t, t_newton), np.where(bad, 0.5 * (lo + hi), t_newton))
        t = np.where(active, t_new, t)
        done_any |= active & done
        active &= ~done
        it += 1
    collapsed = (hi - lo) <= _STEP_TOL * np.maximum(1.0, np.abs(t))
    statuses = _status_array(t.shape, SolverStatus.MAX_ITERATIONS)
    statuses[exact] = SolverStatus.EXACT.value
    statuses[done_any | (active & collapsed)] = SolverStatus.CONVERGED.value
    unseen_end = active & collapsed & ~(lo_seen & hi_seen)
    return t, it, statuses, np.where(exact, 0.0, crit), unseen_end


def _c_root(
    s2: ArrayLike,
    a2: ArrayLike,
    b2: ArrayLike,
    depth: float,
    *,
    q2: ArrayLike | None = None,
    max_iter: int = _MAX_ITER,
) -> _Root:
    """Vectorised c_L from S = ‖θ_S‖², A = ‖P_⊥θ_S‖², B² = ‖X⁺y‖² (all > 0 where used; A ≥ 0).

    Solve φ(t) = log S + εt − log(A + B²e^{−2t}) = 0, ε = 2/(L−1) = 2L/(L−1) − 2, t = log c.
    φ is strictly increasing (φ' = ε + 2B²e^{−2t}/(A + B²e^{−2t}) > 0), so the root is unique.
    Bracket: with Q = S − A = ‖P_Xθ_S‖² and c_∞² = B²/Q, φ(log c_∞) = ε log c_∞ and
    φ(0) = log S − log(A + B²) = −log(1 + (B² − Q)/S) have opposite signs, so the root lies
    between 0 and t_∞ = log c_∞. If Q = 0 (c_∞ = ∞) the upper end is (L−1)/2·log(1 + B²/S).
    Safeguarded Newton: a step that leaves the current bracket is replaced by bisection.
    ``q2`` = ‖P_Xθ_S‖² computed directly (S − A cancels when θ_S is nearly ⟂ the row space).
    """
    # extreme (but finite) inputs may overflow c, c_∞ or the residual: such elements end up
    # ``not_finite`` (no RuntimeWarning leaks; the public entries raise on them)
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        return _c_root_impl(s2, a2, b2, depth, q2=q2, max_iter=max_iter)


def _c_root_impl(
    s2: ArrayLike, a2: ArrayLike, b2: ArrayLike, depth: float, *, q2: ArrayLike | None,
    max_iter: int,
) -> _Root:
    s2a, a2a, b2a = np.broadcast_arrays(
        np.asarray(s2, np.float64), np.asarray(a2, np.float64), np.asarray(b2, np.float64)
    )
    q2a = np.maximum(s2a - a2a, 0.0) if q2 is None else np.broadcast_to(q2, s2a.shape)
    c_inf = np.where(q2a > 0, np.sqrt(b2a) / np.sqrt(np.where(q2a > 0, q2a, 1.0)), np.inf)
    if depth == 1.0:
        return _exact_root(np.ones_like(s2a), c_inf)
    if math.isinf(depth):
        return _exact_root(c_inf.copy(), c_inf)
    br = _bracket(s2a, a2a, b2a, q2a, depth)
    t, it, statuses, crit, unseen_end = _newton(br, max_iter)
    c = np.exp(t)
    p = 2.0 + br.eps
    # |lhs − B² − c²A|/lhs with lhs = c^p S, in log space (lhs itself may overflow)
    log_lhs = p * t + br.log_s
    rest = np.exp(br.log_b - log_lhs) + np.where(br.a_pos, np.exp(2.0 * t + br.log_a - log_lhs),
                                                 0.0)
    residual = np.abs(1.0 - rest)
    statuses[unseen_end & ~(residual <= _ROOT_RTOL)] = SolverStatus.BRACKET_LOST.value
    statuses[~np.isfinite(c)] = SolverStatus.NOT_FINITE.value
    info = _aggregate(
        statuses, iterations=it, residual=float(np.max(crit, initial=0.0)), tolerance=_STEP_TOL,
        extra={"root_residual": float(np.max(residual, initial=0.0)), "max_iter": max_iter},
    )
    return _Root(c, c_inf, residual, it, statuses, info)


class _ScalarFallback(Exception):
    """Raised inside :func:`_c_root_one` when a float leaves the ordinary range (overflow,
    NaN, a logarithm of 0): the vectorised :func:`_c_root` then handles that element."""


def _logaddexp(x: float, y: float) -> float:
    """``numpy.logaddexp`` on two finite floats (numpy's formula: max + log1p(exp(−|x − y|)))."""
    if x == y:
        return x + _LOG2
    tmp = x - y
    if tmp > 0:
        return x + math.log1p(math.exp(-tmp))
    return y + math.log1p(math.exp(tmp))


_LOG2 = math.log(2.0)


def _c_root_one(
    s2: float, a2: float, b2: float, q2: float, depth: float, max_iter: int = _MAX_ITER
) -> _Root:
    """:func:`_c_root` for one element (one design), in Python floats: same iteration.

    The vectorised solver costs ≈ 250 µs on a single element (≈ 30 numpy calls per Newton
    step on 1-element arrays), more than the thin SVD of a 20 × 200 design; this scalar copy of
    :func:`_bracket` and :func:`_newton` (same bracket, same safeguarded steps, same stopping
    rule and statuses) costs ≈ 20 µs. Results agree with :func:`_c_root` to rounding (``math``
    and numpy's ``exp``/``log`` may differ in the last bit). Any input or intermediate outside
    the ordinary float range (a zero or non-finite norm, an overflowing exponential, a NaN)
    hands the element to :func:`_c_root`, so the edge cases keep its exact behaviour. Returns
    1-element arrays as :func:`_c_root` does.
    """
    try:
        one = _c_root_one_impl(s2, a2, b2, q2, depth, max_iter)
    except (_ScalarFallback, OverflowError, ValueError, ZeroDivisionError):
        return _c_root(np.array([s2]), np.array([a2]), np.array([b2]), depth,
                       q2=np.array([q2]), max_iter=max_iter)
    return _Root(np.array([one.c]), np.array([one.c_inf]), np.array([one.residual]),
                 one.iterations, _status_array((1,), one.info.status), one.info)


class _RootOne(NamedTuple):
    """:class:`_Root` of one element, as Python floats (no arrays: the closed form's path)."""

    c: float
    c_inf: float
    residual: float
    iterations: int
    info: SolverInfo


def _c_root_scalar(
    s2: float, a2: float, b2: float, q2: float, depth: float, max_iter: int = _MAX_ITER
) -> _RootOne:
    """:func:`_c_root_one` as Python floats: the same numbers without the 1-element arrays."""
    try:
        return _c_root_one_impl(s2, a2, b2, q2, depth, max_iter)
    except (_ScalarFallback, OverflowError, ValueError, ZeroDivisionError):
        r = _c_root(np.array([s2]), np.array([a2]), np.array([b2]), depth,
                    q2=np.array([q2]), max_iter=max_iter)
        return _RootOne(float(r.c[0]), float(r.c_inf[0]), float(r.residual[0]), r.iterations,
                        r.info)


def _c_root_one_impl(
    s2: float, a2: float, b2: float, q2: float, depth: float, max_iter: int
) -> _RootOne:
    fin, exp, log1p = math.isfinite, math.exp, math.log1p
    step_tol = _STEP_TOL_F
    if not (depth > 1.0 and fin(depth) and 0.0 < s2 < math.inf and 0.0 < b2 < math.inf
            and 0.0 <= a2 < math.inf and 0.0 <= q2 < math.inf):
        raise _ScalarFallback  # L ∈ {1, ∞} and degenerate inputs: the vectorised solver
    c_inf = math.sqrt(b2) / math.sqrt(q2) if q2 > 0 else math.inf
    # _bracket
    eps = 2.0 / (depth - 1.0)
    log_s, log_b = math.log(s2), math.log(b2)
    a_pos = a2 > 0
    log_a = math.log(a2) if a_pos else 0.0
    t_inf = 0.5 * (log_b - math.log(q2)) if q2 > 0 else math.inf
    t_up = t_inf if fin(t_inf) else 0.5 * (depth - 1.0) * _logaddexp(0.0, log_b - log_s)
    if not fin(t_up):
        raise _ScalarFallback
    lo, hi = min(0.0, t_up), max(0.0, t_up)
    # _newton
    t = 0.5 * (lo + hi) if a_pos else (log_b - log_s) / (2.0 + eps)
    it = 0
    active = a_pos and hi > lo
    exact = not active
    done_any = lo_seen = hi_seen = False
    crit = 0.0
    while it < max_iter and active:
        u = log_b - 2.0 * t
        if a_pos:  # lse = _logaddexp(log_a, u), inlined (the same operations)
            if log_a == u:
                lse = log_a + _LOG2
            else:
                tmp = log_a - u
                lse = log_a + log1p(exp(-tmp)) if tmp > 0 else u + log1p(exp(tmp))
            frac = exp(u - lse)
        else:
            lse, frac = u, 1.0
        f = log_s + eps * t - lse
        fp = eps + 2.0 * frac
        if not (fin(f) and fin(fp)):
            raise _ScalarFallback
        if f < 0:
            lo, lo_seen = t, True
        else:
            hi, hi_seen = t, True
        step = f / fp
        t_newton = t - step
        scale = max(1.0, abs(t))
        done = abs(step) <= step_tol * scale or f == 0
        crit = min(abs(step), hi - lo) / scale
        bad = t_newton <= lo or t_newton >= hi or not fin(t_newton)
        if done:
            t = t if bad else t_newton
            done_any, active = True, False
        else:
            t = 0.5 * (lo + hi) if bad else t_newton
        it += 1
    collapsed = (hi - lo) <= step_tol * max(1.0, abs(t))
    if exact:
        status = SolverStatus.EXACT
    elif done_any or (active and collapsed):
        status = SolverStatus.CONVERGED
    else:
        status = SolverStatus.MAX_ITERATIONS
    unseen_end = active and collapsed and not (lo_seen and hi_seen)
    crit = 0.0 if exact else crit
    # _c_root_impl
    c = math.exp(t)
    log_lhs = (2.0 + eps) * t + log_s
    rest = math.exp(log_b - log_lhs) + (math.exp(2.0 * t + log_a - log_lhs) if a_pos else 0.0)
    residual = abs(1.0 - rest)
    if not (fin(c) and fin(residual)):
        raise _ScalarFallback
    if unseen_end and not residual <= _ROOT_RTOL_F:
        status = SolverStatus.BRACKET_LOST
    info = SolverInfo(
        status, it, float(crit), step_tol,
        {"root_residual": residual, "max_iter": max_iter, "counts": {status.value: 1}},
    )
    return _RootOne(c, c_inf, residual, it, info)


def _broadcast_shape(*args: ArrayLike) -> tuple[int, ...]:
    try:
        return np.broadcast_shapes(*(np.shape(a) for a in args))
    except ValueError:
        raise InvalidInputError(
            "‖θ_S‖², ‖P_⊥θ_S‖² and ‖X⁺y‖² must broadcast to one shape, got shapes "
            + ", ".join(str(np.shape(a)) for a in args)
        ) from None


def depth_coefficient(
    source_norm_sq: ArrayLike,
    perp_source_norm_sq: ArrayLike,
    fitted_norm_sq: ArrayLike,
    depth: Any,
    *,
    max_iter: int = _MAX_ITER,
    strict: bool = False,
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
    max_iter : int
        Iteration budget of the safeguarded Newton solver (≥ 1).
    strict : bool
        Raise :class:`ConvergenceError` when some element did not converge (otherwise the
        result is returned with its ``statuses`` and ``info`` saying so).

    Returns
    -------
    DepthCoefficient

    Raises
    ------
    InvalidInputError
        S ≤ 0, B² ≤ 0 (for L ≥ 2), A outside [0, S], non-finite values, or L = ∞ with
        P_Xθ_S = 0 (c_∞ diverges).
    ConvergenceError
        ``strict=True`` and the root solver did not converge on some element.

    Examples
    --------
    >>> float(depth_coefficient(1.0, 0.5, 0.5, 1).value)
    1.0
    >>> round(float(depth_coefficient(1.0, 0.5, 2.0, "inf").value), 12)
    2.0
    """
    L = check_depth(depth)
    max_iter = positive_int(max_iter, "max_iter", limit="steps")
    strict = boolean(strict, "strict")
    s2 = as_float_array(np.atleast_1d(source_norm_sq), "source_norm_sq")
    a2 = as_float_array(np.atleast_1d(perp_source_norm_sq), "perp_source_norm_sq")
    b2 = as_float_array(np.atleast_1d(fitted_norm_sq), "fitted_norm_sq")
    shape = _broadcast_shape(source_norm_sq, perp_source_norm_sq, fitted_norm_sq)
    if np.any(s2 <= 0):
        raise InvalidInputError("‖θ_S‖² must be > 0 (a zero source network is a saddle)")
    if np.any(a2 < 0) or np.any(a2 > s2 * (1 + 1e-12)):
        raise InvalidInputError("‖P_⊥θ_S‖² must lie in [0, ‖θ_S‖²]")
    if L > 1 and np.any(b2 <= 0):
        raise InvalidInputError(
            "‖X⁺y‖² = ‖P_Xθ_T‖² must be > 0 for depth ≥ 2 (degenerate: the labels have no "
            "component in the row space; spec §3.2 assumes P_Xθ_T ≠ 0)"
        )
    root = _c_root(s2, np.minimum(a2, s2), b2, L, max_iter=max_iter)
    if math.isinf(L) and not np.all(np.isfinite(root.c)):
        raise InvalidInputError(
            "infinite depth needs P_Xθ_S ≠ 0: c_∞ = ‖P_Xθ_T‖/‖P_Xθ_S‖ diverges"
        )
    check_converged(root.info, f"c_L root solver (depth {_depth_label(L)})", strict=strict)
    _require_finite(f"c_L (depth {_depth_label(L)})", root.c, root.residual)
    statuses = root.statuses.reshape(shape).copy()
    statuses.setflags(write=False)
    return DepthCoefficient(
        _ro(root.c.reshape(shape)), _ro(root.c_inf.reshape(shape)),
        _ro(root.residual.reshape(shape)), root.iterations, L, statuses, root.info,
    )
