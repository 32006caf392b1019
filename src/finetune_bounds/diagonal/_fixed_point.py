"""Exact high-dimensional generalisation error of fine-tuning a diagonal linear network.

Spec ``diagonal-networks.md`` §3 (replica-symmetric formula; equals the AMP state evolution).
Regime: proportional limit n, d → ∞ with α = n/d fixed, Gaussian design X_ij ~ N(0, 1/d),
gradient flow from β_FT(0) = 0, i.e. the minimum-Σq(β_i; c_FT,i) interpolator of spec §2.

Model (spec §1)
---------------
Four coordinate groups, each with a constant fine-tuning scale c_FT (spec §2,
:func:`~finetune_bounds.diagonal._penalty.c_finetune`) and a teacher B* that is 0 or
N(0, 1/ρ_FT):

========  ======================  ==================  ============
group     probability             c_FT                B*
========  ======================  ==================  ============
overlap   ωρ_FT                   c_finetune(|β_PT|)  N(0, 1/ρ_FT)
new       (1 − ω)ρ_FT             c_finetune(0)       N(0, 1/ρ_FT)
pt_only   ρ_PT − ωρ_FT            c_finetune(|β_PT|)  0
none      1 − ρ_PT − (1 − ω)ρ_FT  c_finetune(0)       0
========  ======================  ==================  ============

so E[B*²] = 1 and c_finetune(b) = c_PT(1 + λ_PT)(1 + √(1 + (b/c_PT)²)) + γ_FT²/2.

Pretraining-teacher convention (the spec leaves it open)
--------------------------------------------------------
**The pretraining teacher has constant magnitude |β_PT| = a_PT on its support** (random sign;
so E[β_PT²] = ρ_PT·a_PT², *not* normalised to 1). This is the only convention we tried that
reproduces the spec's reference table (ρ_PT = ρ_FT = 0.1, c_PT = 1e-3, σ = 0); E_g to 4 digits:

====  =====  ===  ===  ======  ============  ==========  =========  ===============
ω     λ_PT   γ    α    spec    |β|=a (used)  |β|=a/√ρ    |N(0,a²)|  |N(0, a²/ρ_PT)|
====  =====  ===  ===  ======  ============  ==========  =========  ===============
0.5   0      0    0.3  0.0912  **0.09117**   0.1005      0.09109    0.09734
1     −0.99  0    0.2  0.0250  **0.02495**   0.003585    0.05324    0.01553
0     0      10   0.3  0.7008  **0.7008**    0.7026      0.7006     0.7021
1     0      0    0.2  0.0009  **0.000854**  0.0000599   0.007594   0.001009
0     −0.99  0    0.3  0.213   **0.2132**    0.2524      0.1985     0.2325
====  =====  ===  ===  ======  ============  ==========  =========  ===============

(the last two columns: Gaussian pretraining amplitudes, integrated over, which makes c_FT random
within the overlap and pt_only groups). Only the first convention matches all five rows to the
digits shown; each alternative misses all five.

Equations (spec §3)
-------------------
Scalar denoiser η_θ(z; c): the root b of b + (θ/2)arcsinh(b/c) = z, with
η' = 1/(1 + θ/(2√(c² + b²))) (:func:`denoiser`). With z = B* + τZ:

- (E1) τ² = (σ² + m)/α, m = E[(η_θ(z; C) − B*)²];
- (E2) α = E[η'_θ(z; C)];

and E_g = m. σ = 0 and α ≥ 1 give E_g = 0 exactly; σ > 0 and α > 1 give the least-squares value
σ²/(α − 1) (gradient descent then converges to the unique least-squares solution), ∞ at α = 1.

Numerics
--------
*Quadrature.* Within a group z ~ N(0, s_g² + τ²) and B* | z is Gaussian with mean
s_g²z/(s_g² + τ²) and variance s_g²τ²/(s_g² + τ²) (spec §3). Rather than a dense uniform z grid
(the spec's ~6000 points on ±9 sd, needed there because η has a kink of width ~c near 0), we
integrate in the variable u = arcsinh(η/c): then z(u) = c·sinh(u) + θu/2 and η = c·sinh(u)
are *explicit and analytic*, so

    E[f(z, η(z))] = ∫ f(z(u), c·sinh u) φ_v(z(u)) z'(u) du,   z'(u) = c·cosh u + θ/2,

has a smooth, even integrand (symmetric groups are integrated on [0, u(9 sd)]), and the
trapezoidal rule converges spectrally. No root is solved at the quadrature nodes (only the two
end points, by :func:`denoiser`'s Newton iteration), the kink is resolved for every c > 0, and
201 nodes already agree with 2001 to ~1e-12 relative in E_g on the reference cases and in the
rich limit (c ≈ 1e-9, τ ≈ 1e-9); the default is 401. The error is written as
(η − z + (τ²/v)z)² with η − z = −θu/2 exactly, so there is no cancellation when τ is tiny.

*Inner solve.* θ solves E[η'] = α, E[η'] strictly decreasing in θ. Safeguarded Newton in
t = log θ (analytic derivative) inside the bracket [2c_min(1 − α)/α, 2Σ_g p_g√(c_g² + E z_g²)/α],
which holds the root for every τ (η' ≥ 2c/(2c + θ) and η' ≤ 2√(c² + z²)/θ); a Newton step
leaving the bracket is replaced by bisection. Stops at |E[η'] − α| ≤ 1e-13·α.

*Outer solve.* x = log τ², G(x) = log((σ² + m(τ², θ(τ²)))/α) − x (the relative residual of
(E1)); start x₀ = log((E[B*²] + σ²)/α) (or the previous point of a curve). First step: the plain
fixed-point iteration x ← x + G; then secant steps on G (steps capped at 8× the previous one, so
a root at very small τ, as in the rich regime above the ℓ1 phase transition, is reached
geometrically fast); as soon as two iterates bracket a sign change the secant is safeguarded by
bisection. Stops at |G| ≤ ``tol`` (default 1e-10). Typically 5–12 outer evaluations and 20–60
inner Newton steps per point.

Imperfect pretraining (spec §3, last bullet)
--------------------------------------------
With ``pretraining_alpha=α_PT`` the pretraining fixed point is solved first (noiseless, from
scratch, c = c_PT on every coordinate, teacher ±a_PT on a ρ_PT fraction). Then
β̂_PT = η_{θ_PT}(B*_PT + τ_PT Z'), and c_FT(β̂_PT) = c_PT(1 + λ_PT)(1 + cosh u') + γ_FT²/2 with
u' = arcsinh(β̂_PT/c_PT): each group becomes a mixture over Z', integrated by the same
u-substitution with ``pretraining_nodes`` nodes (spectral too). α_PT ≥ 1 is perfect pretraining.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .. import limits
from .._numerics import HasStatus, Solved, SolverInfo, SolverStatus, check_converged
from .._validation import FloatArray, as_float_array, nonneg_float, positive_int
from .._validation import boolean as flag
from ..errors import InvalidInputError, SolverError
from ._checks import finite_result
from ._penalty import c_finetune, check_scales, check_task

__all__ = [
    "GROUPS",
    "Denoised",
    "ErrorCurve",
    "GeneralizationError",
    "denoiser",
    "error_curve",
    "generalization_error",
]

#: the four coordinate groups of spec §1, in the order of the diagnostics
GROUPS: tuple[str, ...] = ("overlap", "new", "pt_only", "none")

_Z_MAX = 9.0  # quadrature range, in standard deviations of z
_EPS = float(np.finfo(np.float64).eps)
_THETA_RTOL = 1e-13  # inner stopping rule |E[η'] − α| ≤ _THETA_RTOL·α
_INNER_MAX = 200
_STEP_CAP = 8.0  # outer secant steps grow at most this factor per iteration
_LOG_TAU2_FLOOR = math.log(1e-280)  # below this τ² counts as 0 (noiseless, exact recovery)
_U_STEP = 0.05  # largest quadrature step in u = arcsinh(η/c) (more nodes are used beyond it)


# ---------------------------------------------------------------------------------------------
# the scalar denoiser
# ---------------------------------------------------------------------------------------------
class Denoised(NamedTuple):
    """η_θ(z; c) and its derivative η'_θ(z; c) = ∂η/∂z, elementwise."""

    value: FloatArray
    derivative: FloatArray


def _solve_u(
    z: FloatArray, theta: float, c: FloatArray, max_iter: int = 100
) -> tuple[FloatArray, int]:
    """u = arcsinh(η_θ(z; c)/c), i.e. the root of c·sinh(u) + θu/2 = z, elementwise.

    g(u) = c·sinh(u) + θu/2 − |z| is increasing and convex on u ≥ 0, so Newton started from an
    upper bound of the root decreases monotonically to it (no overshoot, no bracket needed). The
    start min(arcsinh(|z|/c), 2|z|/θ) bounds the root above (each term of g is ≥ 0); at most 8
    steps were needed for θ, c, |z| over 1e-12 … 1e7. Stops when every relative step ≤ 4·eps.
    """
    za = np.abs(z)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        u = np.where(za > 0, np.minimum(np.arcsinh(za / c), 2.0 * za / theta), 0.0)
        k = 0
        while k < max_iter:
            k += 1
            g = c * np.sinh(u) + 0.5 * theta * u - za
            u_new = np.maximum(u - g / (c * np.cosh(u) + 0.5 * theta), 0.0)
            done = bool(np.all(np.abs(u_new - u) <= 4 * _EPS * u_new))
            u = u_new
            if done:
                break
    return np.asarray(np.copysign(u, z)), k


def denoiser(z: ArrayLike, theta: float, c: ArrayLike) -> Denoised:
    """The proximal denoiser of the fine-tuning penalty (spec §3), elementwise.

    η_θ(z; c) is the unique root b (between 0 and z) of b + (θ/2)·arcsinh(b/c) = z, i.e. the
    minimiser of ½(b − z)² + θ·q(b; c); η' = 1/(1 + θ/(2√(c² + b²))). Solved by Newton's method
    in u = arcsinh(b/c), monotone from an upper bound (convex equation), to ~1e-15 relative.

    Limits: c → ∞ gives ridge shrinkage z/(1 + θ/(2c)); c → 0 a soft threshold.

    Parameters
    ----------
    z : array_like
    theta : float
        > 0.
    c : array_like
        > 0, broadcast against ``z``.

    Returns
    -------
    Denoised
        ``value`` = η_θ(z; c), ``derivative`` = η'_θ(z; c), with the broadcast shape.

    Raises
    ------
    InvalidInputError
        Non-finite z, θ ≤ 0 or c ≤ 0.

    Examples
    --------
    >>> b, db = denoiser([0.0, 1.0], 0.2, 1e-3)
    >>> bool(abs(b[1] + 0.1 * np.arcsinh(b[1] / 1e-3) - 1.0) < 1e-14)
    True
    """
    za = as_float_array(z, "z", allow_empty=True)
    th = nonneg_float(theta, "theta", positive=True)
    ca = as_float_array(c, "c", allow_empty=True)
    if np.any(ca <= 0):
        raise InvalidInputError(f"c must be > 0, got min {float(np.min(ca))}")
    za, ca = np.broadcast_arrays(za, ca)
    u, _ = _solve_u(za, th, ca)
    with np.errstate(over="ignore"):
        ch = np.cosh(u)
        # the root lies between 0 and z: clip the last-ulp overshoot of c·sinh(u) (ridge limit)
        value = np.copysign(np.minimum(ca * np.sinh(np.abs(u)), np.abs(za)), za)
        deriv = 2 * ca * ch / (2 * ca * ch + th)
    return Denoised(np.asarray(value), np.asarray(deriv))


# ---------------------------------------------------------------------------------------------
# mixtures of coordinate classes, and their moments
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Mixture:
    """Coordinate classes k: probability p_k, scale c_k, prior B* ~ N(mean_k, var_k), group."""

    prob: FloatArray
    c: FloatArray
    mean: FloatArray
    var: FloatArray
    group: NDArray[np.intp]

    @property
    def second_moment(self) -> float:
        """E[B*²]."""
        return float(np.sum(self.prob * (self.mean**2 + self.var)))


class _Moments(NamedTuple):
    d: FloatArray  # E[η'] per class
    d_log_theta: FloatArray  # ∂E[η']/∂log θ per class
    mse: FloatArray  # E[(η − B*)²] per class


def _moments(mix: _Mixture, tau2: float, theta: float, n: int) -> _Moments:
    """Per-class E[η'], its log-θ derivative and E[(η − B*)²], by the u-substitution.

    Classes with prior mean 0 are symmetric (even integrands) and integrated over z ≥ 0.
    """
    v = mix.var + tau2
    sd = np.sqrt(v)
    sym = mix.mean == 0
    z_hi = mix.mean + _Z_MAX * sd
    z_lo = np.where(sym, 0.0, mix.mean - _Z_MAX * sd)
    u_hi, _ = _solve_u(z_hi, theta, mix.c)
    u_lo, _ = _solve_u(z_lo, theta, mix.c)
    # keep the u-step ≤ _U_STEP (the range grows like log(sd/c) for tiny c)
    span = float(np.max(u_hi - u_lo))
    if math.isfinite(span):
        n = max(n, math.ceil(span / _U_STEP) + 1)
    s = np.linspace(0.0, 1.0, n)
    u = u_lo[:, None] + (u_hi - u_lo)[:, None] * s
    c = mix.c[:, None]
    mean = mix.mean[:, None]
    with np.errstate(over="ignore", invalid="ignore"):
        sh = np.sinh(u)
        ch = np.cosh(u)
        z = c * sh + 0.5 * theta * u
        dz = c * ch + 0.5 * theta
        x = (z - mean) / sd[:, None]
        w = np.exp(-0.5 * x * x) * dz
        w[:, 0] *= 0.5
        w[:, -1] *= 0.5
        w = w / np.sum(w, axis=1, keepdims=True)
        den = 2.0 * c * ch + theta
        eta_p = 2.0 * c * ch / den
        # θ ∂η'/∂θ at fixed z, with ∂u/∂θ = −u/(2 z'(u))
        d_eta_p = theta * (-c * sh * theta * u / dz - 2.0 * c * ch) / (den * den)
        r = (tau2 / v)[:, None]
        err = (r * (z - mean) - 0.5 * theta * u) ** 2 + (mix.var * tau2 / v)[:, None]
    return _Moments(
        np.sum(w * eta_p, axis=1), np.sum(w * d_eta_p, axis=1), np.sum(w * err, axis=1)
    )


# ---------------------------------------------------------------------------------------------
# the fixed point
# ---------------------------------------------------------------------------------------------
class _Inner(NamedTuple):
    log_theta: float
    moments: _Moments
    iterations: int
    converged: bool


def _solve_theta(
    mix: _Mixture, tau2: float, alpha: float, log_theta0: float | None, n: int
) -> _Inner:
    """θ with E[η'] = α at this τ² (0 < α < 1): safeguarded Newton in log θ (module docstring)."""
    lo = math.log(2.0) + math.log(float(np.min(mix.c))) + math.log1p(-alpha) - math.log(alpha)
    rms = np.hypot(mix.c, np.sqrt(mix.mean**2 + mix.var + tau2))  # √(c² + E z²)
    hi = math.log(2.0 * float(mix.prob @ rms)) - math.log(alpha)
    t = log_theta0 if log_theta0 is not None and lo < log_theta0 < hi else 0.5 * (lo + hi)
    k = 0
    while True:
        k += 1
        mo = _moments(mix, tau2, math.exp(t), n)
        f = float(mix.prob @ mo.d) - alpha
        if not math.isfinite(f):
            return _Inner(t, mo, k, False)
        if f > 0:  # E[η'] decreases in θ: the root is to the right
            lo = t
        else:
            hi = t
        if abs(f) <= _THETA_RTOL * alpha or hi - lo <= 4 * _EPS * max(1.0, abs(t)):
            return _Inner(t, mo, k, True)
        if k >= _INNER_MAX:
            return _Inner(t, mo, k, False)
        df = float(mix.prob @ mo.d_log_theta)
        newton = t - f / df if df < 0 else math.nan
        t = newton if lo < newton < hi else 0.5 * (lo + hi)


class _Point(NamedTuple):
    x: float  # log τ²
    g: float  # G(x) = log((σ² + m)/α) − x
    m: float
    inner: _Inner


@dataclass(frozen=True)
class _Outcome:
    point: _Point
    info: SolverInfo
    inner_iterations: int
    at_floor: bool


def _solve_fixed_point(
    mix: _Mixture,
    alpha: float,
    sigma2: float,
    *,
    tol: float,
    max_iter: int,
    n: int,
    x0: float | None = None,
    log_theta0: float | None = None,
) -> _Outcome:
    """Solve (E1)–(E2) for 0 < α < 1 (outer secant on log τ², module docstring)."""
    inner_total = 0

    def evaluate(x: float, t0: float | None) -> _Point:
        nonlocal inner_total
        inner = _solve_theta(mix, math.exp(x), alpha, t0, n)
        inner_total += inner.iterations
        m = float(mix.prob @ inner.moments.mse)
        g = math.log((sigma2 + m) / alpha) - x if sigma2 + m > 0 else -math.inf
        return _Point(x, g, m, inner)

    if x0 is None or not math.isfinite(x0):
        x0 = math.log((mix.second_moment + sigma2) / alpha)
    cur = evaluate(x0, log_theta0)
    k = 1
    prev: _Point | None = None
    lo = hi = math.nan  # largest x with G > 0, smallest x with G < 0
    last_step = math.nan
    at_floor = False
    status = SolverStatus.MAX_ITERATIONS
    while True:
        if not (math.isfinite(cur.g) and math.isfinite(cur.m)):
            if cur.g == -math.inf and sigma2 == 0:  # m = 0: exact recovery
                status, at_floor = SolverStatus.CONVERGED, True
            else:
                status = SolverStatus.NOT_FINITE
            break
        if not cur.inner.converged:
            status = SolverStatus.MAX_ITERATIONS
            break
        if cur.g > 0:
            lo = cur.x if math.isnan(lo) else max(lo, cur.x)
        elif cur.g < 0:
            hi = cur.x if math.isnan(hi) else min(hi, cur.x)
        if abs(cur.g) <= tol or hi - lo <= 4 * _EPS * max(1.0, abs(cur.x)):
            status = SolverStatus.CONVERGED
            break
        if cur.g < 0 and cur.x <= _LOG_TAU2_FLOOR and sigma2 == 0:
            status, at_floor = SolverStatus.CONVERGED, True
            break
        if k >= max_iter:
            break
        step = cur.g  # plain fixed-point iteration in log τ²
        if prev is not None and cur.g != prev.g:
            sec = -cur.g * (cur.x - prev.x) / (cur.g - prev.g)
            if math.isfinite(sec) and sec * cur.g > 0:
                cap = _STEP_CAP * max(abs(last_step), abs(cur.g))
                step = math.copysign(min(abs(sec), cap), sec)
        x_new = cur.x + step
        if not (math.isnan(lo) or math.isnan(hi)) and not lo < x_new < hi:
            x_new = 0.5 * (lo + hi)
        if sigma2 == 0:
            x_new = max(x_new, _LOG_TAU2_FLOOR)
        last_step = x_new - cur.x
        prev = cur
        cur = evaluate(x_new, cur.inner.log_theta)
        k += 1
    width = hi - lo if not (math.isnan(lo) or math.isnan(hi)) else math.inf
    info = SolverInfo(
        status,
        iterations=k,
        residual=abs(cur.g) if math.isfinite(cur.g) else math.inf,
        tolerance=tol,
        extra={"inner_iterations": inner_total, "bracket_width": width, "tau_at_floor": at_floor},
    )
    return _Outcome(cur, info, inner_total, at_floor)


# ---------------------------------------------------------------------------------------------
# problem set-up
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Setup:
    alpha: float
    omega: float
    lambda_pt: float
    gamma_ft: float
    c_pt: float
    rho_pt: float
    rho_ft: float
    a_pt: float
    sigma2: float
    pretraining_alpha: float | None
    tol: float
    max_iter: int
    grid_points: int
    pretraining_nodes: int


def _validate(
    alpha: Any,
    *,
    omega: Any,
    lambda_pt: Any,
    gamma_ft: Any,
    c_pt: Any,
    rho_pt: Any,
    rho_ft: Any,
    a_pt: Any,
    noise_variance: Any,
    pretraining_alpha: Any,
    tol: Any,
    max_iter: Any,
    grid_points: Any,
    pretraining_nodes: Any,
) -> _Setup:
    a = nonneg_float(alpha, "alpha", positive=True)
    c, lam, g = check_scales(c_pt, lambda_pt, gamma_ft)
    om, rp, rf = check_task(omega, rho_pt, rho_ft)
    amp = nonneg_float(a_pt, "a_pt", positive=True)
    s2 = nonneg_float(noise_variance, "noise_variance")
    if float(c_finetune(0.0, c, lam, g)) <= 0:
        raise InvalidInputError(
            "lambda_pt = -1 with gamma_ft = 0 gives c_FT = 0, a saddle gradient flow never "
            "leaves; use e.g. lambda_pt = -0.999999 with gamma_ft = 1e-6 (spec §2)"
        )
    pa = None if pretraining_alpha is None else nonneg_float(
        pretraining_alpha, "pretraining_alpha", positive=True
    )
    t = nonneg_float(tol, "tol", positive=True)
    mi = positive_int(max_iter, "max_iter", limit="steps")
    gp = positive_int(grid_points, "grid_points")
    if gp < 3:
        raise InvalidInputError(f"grid_points must be ≥ 3, got {gp}")
    pn = positive_int(pretraining_nodes, "pretraining_nodes")
    if pn < 3:
        raise InvalidInputError(f"pretraining_nodes must be ≥ 3, got {pn}")
    # the quadrature arrays: up to 4 groups × pretraining_nodes classes × grid_points nodes
    limits.check_elements(4, gp, name="grid_points (× 4 coordinate groups)")
    if pa is not None and pa < 1:
        limits.check_elements(4, pn, gp, name="pretraining_nodes × grid_points (× 4 groups)")
    return _Setup(a, om, lam, g, c, rp, rf, amp, s2, pa, t, mi, gp, pn)


def _group_probabilities(st: _Setup) -> FloatArray:
    p = np.array([
        st.omega * st.rho_ft,
        (1 - st.omega) * st.rho_ft,
        st.rho_pt - st.omega * st.rho_ft,
        1 - st.rho_pt - (1 - st.omega) * st.rho_ft,
    ])
    p[np.abs(p) <= 1e-12] = 0.0  # rounding at the feasibility boundary
    return np.asarray(np.maximum(p, 0.0))


def _finetune_mixture(
    st: _Setup, on: tuple[FloatArray, FloatArray], off: tuple[FloatArray, FloatArray]
) -> _Mixture:
    """The fine-tuning classes: each group × the (c_FT value, weight) nodes of its PT state."""
    probs = _group_probabilities(st)
    s2 = 1.0 / st.rho_ft
    parts = [(probs[0], on, s2), (probs[1], off, s2), (probs[2], on, 0.0), (probs[3], off, 0.0)]
    p_l, c_l, v_l, g_l = [], [], [], []
    for gi, (pg, (cs, ws), var) in enumerate(parts):
        if pg <= 0:
            continue
        keep = ws > 0
        p_l.append(pg * ws[keep])
        c_l.append(cs[keep])
        v_l.append(np.full(int(np.count_nonzero(keep)), var))
        g_l.append(np.full(int(np.count_nonzero(keep)), gi, dtype=np.intp))
    p = np.concatenate(p_l)
    return _Mixture(p, np.concatenate(c_l), np.zeros_like(p), np.concatenate(v_l),
                    np.concatenate(g_l))


def _pretraining_states(
    st: _Setup, strict: bool
) -> tuple[tuple[FloatArray, FloatArray], tuple[FloatArray, FloatArray], dict[str, Any]]:
    """(c_FT nodes, weights) on and off the PT support, and the PT solve's diagnostics."""
    c_on = float(c_finetune(st.a_pt, st.c_pt, st.lambda_pt, st.gamma_ft))
    c_off = float(c_finetune(0.0, st.c_pt, st.lambda_pt, st.gamma_ft))
    one = np.ones(1)
    if st.pretraining_alpha is None or st.pretraining_alpha >= 1:
        return (np.array([c_on]), one), (np.array([c_off]), one), {}
    # from scratch: c = c_PT everywhere, teacher ±a_PT on a ρ_PT fraction (support, off)
    keep = np.array([st.rho_pt, 1.0 - st.rho_pt]) > 0
    pt = _Mixture(
        np.array([st.rho_pt, 1.0 - st.rho_pt])[keep],
        np.full(2, st.c_pt)[keep],
        np.array([st.a_pt, 0.0])[keep],
        np.zeros(2)[keep],
        np.array([0, 1], dtype=np.intp)[keep],
    )
    out = _solve_fixed_point(pt, st.pretraining_alpha, 0.0, tol=st.tol, max_iter=st.max_iter,
                             n=st.grid_points)
    check_converged(out.info, "the pretraining fixed point", strict=strict)
    tau2 = 0.0 if out.at_floor else math.exp(out.point.x)
    theta = math.exp(out.point.inner.log_theta)
    diag = {"tau": math.sqrt(tau2), "theta": theta, "error": 0.0 if out.at_floor else out.point.m,
            "iterations": out.info.iterations, "residual": out.info.residual,
            "info": out.info}
    if tau2 == 0.0:  # exact recovery: perfect pretraining
        return (np.array([c_on]), one), (np.array([c_off]), one), diag
    # β̂_PT = c_PT sinh(u'), z' = c_PT sinh u' + θu'/2 ~ N(mean, τ²): u'-substitution nodes
    nodes = []
    for mean in (st.a_pt, 0.0):
        sd = math.sqrt(tau2)
        z_ends = np.array([mean - _Z_MAX * sd if mean else 0.0, mean + _Z_MAX * sd])
        u_ends, _ = _solve_u(z_ends, theta, np.full(2, st.c_pt))
        u = np.linspace(u_ends[0], u_ends[1], st.pretraining_nodes)
        z = st.c_pt * np.sinh(u) + 0.5 * theta * u
        w = np.exp(-0.5 * ((z - mean) / sd) ** 2) * (st.c_pt * np.cosh(u) + 0.5 * theta)
        w[0] *= 0.5
        w[-1] *= 0.5
        c_ft = st.c_pt * (1 + st.lambda_pt) * (1 + np.cosh(u)) + 0.5 * st.gamma_ft**2
        nodes.append((np.asarray(c_ft), np.asarray(w / w.sum())))
    return nodes[0], nodes[1], diag


# ---------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GeneralizationError(Solved):
    """The high-dimensional generalisation error of fine-tuning at one α (spec §3).

    Attributes
    ----------
    error : float
        E_g = lim (1/d)‖β̂_FT − β*‖² (the test MSE minus the label noise); never NaN: if the
        solve did not converge (``strict=False``) it is the last iterate's value.
    tau, theta : float
        The fixed point (τ, θ); 0 and 0 in the closed-form cases (α ≥ 1).
    alpha : float
    info : SolverInfo
        ``status`` ``converged`` (|G| ≤ tol), ``exact`` (α ≥ 1), ``max_iterations`` (outer budget
        spent, or an inner θ solve failed) or ``not_finite``; ``iterations`` = outer evaluations,
        ``residual`` = |log((σ² + m)/(ατ²))|, the relative residual of (E1); ``extra`` holds
        ``inner_iterations``, ``bracket_width`` (in log τ²) and ``tau_at_floor`` (τ² < 1e-280:
        reported as exact recovery).
    diagnostics : mapping
        ``iterations``, ``inner_iterations``, ``residual``, ``theta_residual``
        (|E[η'] − α|/α), ``convention`` (the PT amplitude convention), ``groups`` (per group:
        ``probability``, ``c_ft`` (mean over the group), ``mse`` (E[(η − B*)²] in the group),
        ``mean_derivative`` (E[η'] in the group)), and ``pretraining`` (τ_PT, θ_PT, its error,
        iterations, residual) with ``pretraining_alpha``.
    """

    error: float
    tau: float
    theta: float
    alpha: float
    info: SolverInfo
    diagnostics: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ErrorCurve(HasStatus):
    """:func:`error_curve`'s output: arrays over α (the order passed in).

    Attributes
    ----------
    alphas, error, tau, theta : ndarray
    iterations : ndarray of int
        Outer evaluations per α (0 where exact).
    converged : ndarray of bool
        Per α.
    info : SolverInfo
        The worst status over the curve, total outer evaluations, largest residual; ``extra``
        ``failed`` = how many α did not converge.
    points : tuple of GeneralizationError
        The full per-α results.
    """

    alphas: FloatArray
    error: FloatArray
    tau: FloatArray
    theta: FloatArray
    iterations: NDArray[np.int64]
    converged: NDArray[np.bool_]
    info: SolverInfo
    points: tuple[GeneralizationError, ...]


_STATUS_ORDER = (
    SolverStatus.EXACT,
    SolverStatus.CONVERGED,
    SolverStatus.MAX_ITERATIONS,
    SolverStatus.BRACKET_LOST,
    SolverStatus.NOT_FINITE,
    SolverStatus.SOLVER_FAILED,
)


def _closed_form(st: _Setup, diag: dict[str, Any]) -> GeneralizationError:
    """α ≥ 1: 0 (noiseless: the teacher is the unique interpolant) or least squares."""
    if st.sigma2 == 0:
        err = 0.0
    elif st.alpha > 1:
        err = st.sigma2 / (st.alpha - 1)
    else:
        err = math.inf
    info = SolverInfo(SolverStatus.EXACT, iterations=0, residual=0.0, tolerance=st.tol)
    diag.update(iterations=0, inner_iterations=0, residual=0.0, theta_residual=0.0,
                regime="alpha>=1")
    return GeneralizationError(err, math.sqrt(err) if math.isfinite(err) else math.inf, 0.0,
                               st.alpha, info, diag)


def _solve_point(
    st: _Setup,
    mix: _Mixture,
    diag: dict[str, Any],
    x0: float | None,
    log_theta0: float | None,
) -> GeneralizationError:
    if st.alpha >= 1:
        return _closed_form(st, diag)
    out = _solve_fixed_point(mix, st.alpha, st.sigma2, tol=st.tol, max_iter=st.max_iter,
                             n=st.grid_points, x0=x0, log_theta0=log_theta0)
    pt = out.point
    mo = pt.inner.moments
    groups = {}
    for gi, name in enumerate(GROUPS):
        sel = mix.group == gi
        pg = float(np.sum(mix.prob[sel]))
        if pg == 0:
            groups[name] = {"probability": 0.0, "c_ft": math.nan, "mse": 0.0,
                            "mean_derivative": math.nan}
            continue
        w = mix.prob[sel] / pg
        groups[name] = {
            "probability": pg,
            "c_ft": float(w @ mix.c[sel]),
            "mse": float(w @ mo.mse[sel]),
            "mean_derivative": float(w @ mo.d[sel]),
        }
    diag.update(
        iterations=out.info.iterations,
        inner_iterations=out.inner_iterations,
        residual=out.info.residual,
        theta_residual=abs(float(mix.prob @ mo.d) - st.alpha) / st.alpha,
        groups=groups,
        regime="alpha<1",
    )
    tau = 0.0 if out.at_floor else math.sqrt(math.exp(pt.x))
    error = 0.0 if out.at_floor else pt.m
    finite_result(f"the diagonal-network fixed point at alpha = {st.alpha:.3g}", error=error,
                  tau=tau, theta=math.exp(pt.inner.log_theta))
    info = out.info
    pt_info = diag.get("pretraining", {}).get("info")
    if pt_info is not None and not pt_info.converged:  # only reachable with strict=False
        worst = max(_STATUS_ORDER.index(info.status), _STATUS_ORDER.index(pt_info.status))
        info = dataclasses.replace(info, status=_STATUS_ORDER[worst])
    return GeneralizationError(error, tau, math.exp(pt.inner.log_theta), st.alpha, info, diag)


_CONVENTION = "|beta_PT| = a_pt on the PT support (constant magnitude, random sign)"


def generalization_error(
    alpha: float,
    *,
    omega: float,
    lambda_pt: float,
    gamma_ft: float,
    c_pt: float = 1e-3,
    rho_pt: float = 0.1,
    rho_ft: float = 0.1,
    a_pt: float = 1.0,
    noise_variance: float = 0.0,
    pretraining_alpha: float | None = None,
    strict: bool = True,
    tol: float = 1e-10,
    max_iter: int = 200,
    grid_points: int = 401,
    pretraining_nodes: int = 81,
) -> GeneralizationError:
    """Exact high-dimensional generalisation error of fine-tuning a diagonal network (spec §3).

    Solves the replica-symmetric / AMP fixed point (E1)–(E2) of the module docstring for the
    minimum-Σq(β; c_FT) interpolator, with the four coordinate groups of spec §1 and the
    fine-tuning scales c_FT of spec §2. Regime: d, n → ∞ at α = n/d, X_ij ~ N(0, 1/d).

    Parameters
    ----------
    alpha : float
        n/d of the fine-tuning data, > 0.
    omega : float
        Overlap |S_PT ∩ S_FT|/|S_FT| ∈ [0, 1].
    lambda_pt : float
        Relative layer scale of the pretraining init, in [−1, 1] (λ_PT < 0: smaller earlier
        layer). λ_PT = −1 needs γ_FT > 0.
    gamma_ft : float
        Readout re-initialisation scale γ_FT ≥ 0 (γ/√2 on each pathway).
    c_pt : float
        Absolute scale of the pretraining init, > 0.
    rho_pt, rho_ft : float
        Sparsities of the pretraining and fine-tuning teachers, in (0, 1]; need
        ω·ρ_FT ≤ ρ_PT and ρ_PT + (1 − ω)ρ_FT ≤ 1.
    a_pt : float
        Magnitude of the pretraining teacher on its support (|β_PT| = a_PT; see the module
        docstring for why this and not a_PT/√ρ_PT), > 0.
    noise_variance : float
        Label-noise variance σ² of the fine-tuning data, ≥ 0.
    pretraining_alpha : float, optional
        n_PT/d for imperfect pretraining (spec §3, last bullet); None (default) or ≥ 1: the
        pretrained network implements β*_PT exactly.
    strict : bool
        Raise :class:`~finetune_bounds.errors.ConvergenceError` when the fixed point is not
        reached (default); with False the result carries the status instead.
    tol : float
        Outer stopping rule on |log((σ² + m)/(ατ²))| (relative residual of (E1)).
    max_iter : int
        Outer evaluation budget (each solves θ to ~1e-13).
    grid_points : int
        Quadrature nodes per coordinate class (u-substitution; spectrally accurate, 201 are
        already enough to ~1e-12).
    pretraining_nodes : int
        Nodes over the pretraining noise Z' (imperfect pretraining only).

    Returns
    -------
    GeneralizationError

    Raises
    ------
    InvalidInputError
        Out-of-range or non-finite inputs, infeasible (ω, ρ_PT, ρ_FT), c_FT = 0.
    ConvergenceError
        ``strict`` and the fixed point was not reached (also: the pretraining fixed point).

    Examples
    --------
    >>> r = generalization_error(0.3, omega=0.5, lambda_pt=0.0, gamma_ft=0.0)
    >>> round(r.error, 4), r.status.value
    (0.0912, 'converged')
    """
    st = _validate(alpha, omega=omega, lambda_pt=lambda_pt, gamma_ft=gamma_ft, c_pt=c_pt,
                   rho_pt=rho_pt, rho_ft=rho_ft, a_pt=a_pt, noise_variance=noise_variance,
                   pretraining_alpha=pretraining_alpha, tol=tol, max_iter=max_iter,
                   grid_points=grid_points, pretraining_nodes=pretraining_nodes)
    strict = flag(strict, "strict")
    with _overflow_guard(st):
        on, off, pt_diag = _pretraining_states(st, strict)
        mix = _finetune_mixture(st, on, off)
        diag: dict[str, Any] = {"convention": _CONVENTION,
                                "pretraining_alpha": st.pretraining_alpha}
        if pt_diag:
            diag["pretraining"] = pt_diag
        res = _solve_point(st, mix, diag, None, None)
    check_converged(res.info, f"the diagonal-network fixed point at alpha = {st.alpha:g}",
                    strict=strict)
    return res


@contextlib.contextmanager
def _overflow_guard(st: _Setup) -> Iterator[None]:
    """Turn float overflow inside the fixed-point solve (extreme α, c_PT, a_PT, σ²) into a
    :class:`SolverError` naming the inputs, and keep numpy's RuntimeWarnings inside."""
    try:
        with np.errstate(all="ignore"):
            yield
    except (OverflowError, ZeroDivisionError, FloatingPointError) as exc:
        raise SolverError(
            f"the diagonal-network fixed point overflowed ({exc}) at alpha = {st.alpha:.3g}, "
            f"c_pt = {st.c_pt:.3g}, a_pt = {st.a_pt:.3g}, noise_variance = {st.sigma2:.3g}, "
            f"pretraining_alpha = {st.pretraining_alpha}: the input scales are too extreme"
        ) from None


def error_curve(alphas: ArrayLike, *, strict: bool = True, **kwargs: Any) -> ErrorCurve:
    """:func:`generalization_error` over an array of α, warm-starting (τ², θ) along the curve.

    Parameters
    ----------
    alphas : array_like
        1-D, each > 0 (any order; sorted input makes the warm starts best).
    strict : bool
        Raise :class:`~finetune_bounds.errors.ConvergenceError` (after the whole curve) unless
        every α converged.
    **kwargs
        Every keyword of :func:`generalization_error` (``omega``, ``lambda_pt``, ``gamma_ft`` are
        required).

    Returns
    -------
    ErrorCurve
    """
    a = as_float_array(alphas, "alphas", ndim=1)
    missing = [k for k in ("omega", "lambda_pt", "gamma_ft") if k not in kwargs]
    if missing:
        raise InvalidInputError(f"error_curve needs the keyword(s) {missing}")
    allowed = {"omega", "lambda_pt", "gamma_ft", "c_pt", "rho_pt", "rho_ft", "a_pt",
               "noise_variance", "pretraining_alpha", "tol", "max_iter", "grid_points",
               "pretraining_nodes"}
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise InvalidInputError(f"error_curve got unknown keyword(s) {unknown}")
    defaults: dict[str, Any] = {"c_pt": 1e-3, "rho_pt": 0.1, "rho_ft": 0.1, "a_pt": 1.0,
                                "noise_variance": 0.0, "pretraining_alpha": None, "tol": 1e-10,
                                "max_iter": 200, "grid_points": 401, "pretraining_nodes": 81}
    kw = {**defaults, **kwargs}
    if np.any(a <= 0):
        raise InvalidInputError(f"alphas must all be > 0, got min {float(a.min())}")
    strict = flag(strict, "strict")
    st0 = _validate(float(a[0]), **kw)
    sts = [_validate(float(al), **kw) for al in a]
    points: list[GeneralizationError] = []
    with _overflow_guard(st0):
        on, off, pt_diag = _pretraining_states(st0, strict)
        mix = _finetune_mixture(st0, on, off)
    x0: float | None = None
    t0: float | None = None
    for st in sts:
        diag: dict[str, Any] = {"convention": _CONVENTION,
                                "pretraining_alpha": st.pretraining_alpha}
        if pt_diag:
            diag["pretraining"] = pt_diag
        with _overflow_guard(st):
            res = _solve_point(st, mix, diag, x0, t0)
        points.append(res)
        if res.info.status == SolverStatus.CONVERGED and res.tau > 0:
            x0, t0 = 2.0 * math.log(res.tau), math.log(res.theta)
    conv = np.array([p.converged for p in points], dtype=bool)
    worst = max((_STATUS_ORDER.index(p.info.status) for p in points), default=0)
    resid = [p.info.residual for p in points]
    info = SolverInfo(
        _STATUS_ORDER[worst],
        iterations=int(sum(p.info.iterations for p in points)),
        residual=float(max(resid, default=0.0)),
        tolerance=st0.tol,
        extra={"failed": int(np.count_nonzero(~conv))},
    )
    check_converged(info, "the diagonal-network fixed point along the curve", strict=strict)
    return ErrorCurve(
        alphas=a,
        error=np.array([p.error for p in points]),
        tau=np.array([p.tau for p in points]),
        theta=np.array([p.theta for p in points]),
        iterations=np.array([p.info.iterations for p in points], dtype=np.int64),
        converged=conv,
        info=info,
        points=tuple(points),
    )
