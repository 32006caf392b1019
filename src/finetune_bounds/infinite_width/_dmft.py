"""Particle DMFT for the infinite-width two-layer network, and its linear closed forms.

Spec ``infinite-width-transfer.md`` §1–§2. The mean-field (μP) two-layer MLP
h_i(x) = w_i·x/√D, f(x) = (1/(γN)) Σ_i z_i φ(h_i(x)), trained by gradient flow on the summed
square loss with weight decays λ (readout) and δ (hidden) toward anchors, becomes at width
N → ∞ a flow of independent neurons coupled only through the training residual Δ = y − f:

    dh(x)/dt = γ Σ_μ K_x(x, x_μ) g(x_μ) Δ_μ − δ (h(x) − h_anc(x)),   g = z φ'(h),
    dz/dt    = γ Σ_μ φ(h(x_μ)) Δ_μ − λ (z − z_anc),                 f(x) = ⟨z φ(h(x))⟩ / γ.

:func:`particle_dmft` represents the neuron distribution by M particles (float64) and
integrates this flow by Euler steps until a gradient tolerance is met; its adaptive kernels
Φ = ⟨φφ⟩, G = ⟨gg⟩ and K = Φ + G ⊙ K_x satisfy the fixed-point identities (A) and (B) of §2.
:func:`linear_closed_form_sa` and :func:`linear_closed_form_sb` are the linear-φ closed forms
(S-A) and (S-B) of §2.

Implementation notes
--------------------
The pre-activations live in the span of the inputs: with K_x = V diag(e) Vᵀ over the union of
training and evaluation inputs (eigenvalues clipped at 0, directions with e below the rank
cut-off dropped) and A = V diag(√e), each neuron carries coordinates u ∈ ℝʳ with h = A u
(u ~ N(0, I_r) gives h ~ N(0, K_x)). The hidden flow above is then exactly the gradient flow
du/dt = γ A_Xᵀ (g Δ) − δ (u − u_anc) of the energy

    E = γ² · ½ ‖Δ‖² + (λ/2) ⟨(z − z_anc)²⟩ + (δ/2) ⟨‖u − u_anc‖²⟩,

so a step that increases E is rejected and retried with half the step. Steps are exponential
Euler: the linear decays toward the anchors are integrated exactly and the data term takes an
Euler step (so stiff anchors, e.g. JR-E with a large δ₂, cost nothing). The step is set from an
estimate of the largest data curvature, λ_max(K(X, X)) + γ ‖Δ‖ √λ_max(K_x(X, X)), refreshed
every 200 steps. :func:`particle_dmft` runs under :func:`finetune_bounds.threads.small_blas`
(one BLAS thread by default: its products are small, M × r by r × P).
"""

from __future__ import annotations

import math
import time as _time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.linalg.blas import dger as _ger
from scipy.optimize import brentq

from .. import limits
from .._numerics import Solved, SolverInfo, SolverStatus, check_converged, rank_mask
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
from ..errors import InvalidInputError, SolverError
from ..threads import small_blas
from ._checks import ensure_finite
from ._kernels import ACTIVATIONS, input_kernel

__all__ = [
    "ANCHORS",
    "DMFTResult",
    "LinearClosedForm",
    "linear_closed_form_sa",
    "linear_closed_form_sb",
    "particle_dmft",
]

#: Anchor settings of :func:`particle_dmft`.
ANCHORS: tuple[str, ...] = ("zero", "init")

#: Values below this magnitude are flushed to exactly 0 (avoids subnormal slow paths).
_FLUSH = 1e-150
#: Relative energy rise accepted per step for ReLU (kink crossings); 1e-10 for linear φ.
_KINK_SLACK = 1e-4
#: Steps between refreshes of the step-size estimate.
_REFRESH = 200

# Test-only hooks (private; production code never changes them). Tests monkeypatch them to
# compare the linear-φ loop with the general one where rejections occur and to audit its
# carried quantities:
#: False forces the general loop of :func:`_flow_run` for linear φ (default: matrix-vector loop).
_LINEAR_FAST = True
#: Multiplies the automatic step estimate (1/curvature) in both loops; > 1 provokes rejections.
_STEP_SCALE = 1.0
#: When a list, the linear loop appends per accepted step (residual used, whether it was exact,
#: the exact residual, the carried ‖d‖², the exact ‖d‖²) — extra exact passes, tests only.
_AUDIT: list[tuple[float, bool, float, float, float]] | None = None


@dataclass(frozen=True)
class DMFTResult(Solved):
    """The end state of a particle-DMFT run (spec §2).

    Inputs are ordered as the union [training; evaluation]; ``n_train`` separates them.

    Attributes
    ----------
    f_train : ndarray, shape (P,)
        Network output f(x_μ) = ⟨z φ(h(x_μ))⟩/γ on the training inputs.
    f_eval : ndarray, shape (n_eval,)
        Network output on the evaluation inputs (empty when none were given).
    delta : ndarray, shape (P,)
        Training residual Δ = y − f_train.
    phi : ndarray, shape (n, n)
        Feature kernel Φ = ⟨φ(h(x)) φ(h(x'))⟩ on the union of inputs.
    g : ndarray, shape (n, n)
        Gradient kernel G = ⟨g(x) g(x')⟩, g = z φ'(h) (ReLU: φ'(0) = 0).
    ntk : ndarray, shape (n, n)
        Adaptive NTK K = Φ + G ⊙ K_x.
    kx : ndarray, shape (n, n)
        Input kernel K_x = x·x'/D on the union.
    n_train : int
        Number P of training inputs (the first P rows/columns of the kernels).
    neurons : int
        Number M of particles.
    time : float
        Training time t reached.
    steps : int
        Accepted Euler steps.
    wall_time : float
        Seconds spent.
    info : SolverInfo
        Status, iterations (accepted steps), residual (relative gradient norm), tolerance, and
        ``extra`` with ``time``, ``rejected`` steps, ``energy`` and ``dt`` (the last step).
    """

    f_train: FloatArray
    f_eval: FloatArray
    delta: FloatArray
    phi: FloatArray
    g: FloatArray
    ntk: FloatArray
    kx: FloatArray
    n_train: int
    neurons: int
    time: float
    steps: int
    wall_time: float
    info: SolverInfo = field(repr=False)

    def block(self, name: str, rows: str = "train", cols: str = "train") -> FloatArray:
        """A block of kernel ``name`` ∈ {"phi", "g", "ntk", "kx"}; rows/cols ∈ {"train", "eval"}.

        Examples: ``block("phi")`` is Φ(X, X); ``block("phi", "eval")`` is Φ(x_eval, X).
        """
        check_choice(name, "name", ("phi", "g", "ntk", "kx"))
        check_choice(rows, "rows", ("train", "eval"))
        check_choice(cols, "cols", ("train", "eval"))
        p = self.n_train
        r = slice(0, p) if rows == "train" else slice(p, None)
        c = slice(0, p) if cols == "train" else slice(p, None)
        mat: FloatArray = getattr(self, name)
        return readonly(np.array(mat[r, c]))


def _act(h: FloatArray, activation: str) -> tuple[FloatArray, FloatArray]:
    """φ(h) and φ'(h) (ReLU: φ'(0) = 0)."""
    if activation == "linear":  # φ' = 1 as a read-only broadcast (no (M, n) pass)
        return h, np.broadcast_to(np.float64(1.0), h.shape)
    d = (h > 0.0).astype(np.float64)
    return h * d, d


def _flush(a: FloatArray) -> None:
    a[np.abs(a) < _FLUSH] = 0.0


def default_stall(activation: str) -> float:
    """The default ``stall_tol``: 1e-7 for ReLU, 0 (off) for linear φ."""
    return 1e-7 if activation == "relu" else 0.0


def _span(xu: FloatArray) -> tuple[FloatArray, FloatArray]:
    """K_x on the union of inputs and A with A Aᵀ = K_x (eigenvalues clipped, rank-cut)."""
    kx = np.array(input_kernel(xu))
    evals, evecs = np.linalg.eigh(kx)
    evals = np.clip(evals, 0.0, None)
    order = np.argsort(evals)[::-1]
    evals, evecs = evals[order], evecs[:, order]
    keep = rank_mask(evals, kx.shape)
    if not np.any(keep):  # all inputs zero: one (zero) direction keeps shapes valid
        keep[0] = True
    amat = evecs[:, keep] * np.sqrt(evals[keep])  # (n, r), A Aᵀ = K_x (clipped)
    return kx, np.ascontiguousarray(amat)


@dataclass(frozen=True)
class _Flow:
    u: FloatArray
    z: FloatArray
    status: SolverStatus
    residual: float
    time: float
    steps: int
    rejected: int
    energy: float
    dt: float


def _flow(*args: Any, **kwargs: Any) -> _Flow:
    """:func:`_flow_run` with floating-point warnings silenced: overflow is detected (status
    ``not_finite``) and reported by the callers."""
    with np.errstate(all="ignore"):
        return _flow_run(*args, **kwargs)


def _residual_lower_bound(
    z: FloatArray, g_row: FloatArray, dz: FloatArray, zd: FloatArray, d2: float, *,
    dlt: float, ua_norm: float, r: int,
) -> tuple[float, float]:
    """A lower bound of the relative residual of :func:`_flow_linear` and its rounding scale.

    ``zd`` = zᵀd and ``d2`` = ‖d‖² (d = u − u_anc, (M, r)), ``g_row`` = γ A_XᵀΔ, ``dz`` = dz/dt,
    ``ua_norm`` = ‖u_anc‖_F. With du/dt = −δ d + z ⊗ g, ‖du‖² = δ²‖d‖² − 2δ g·zᵀd + ‖z‖²‖g‖²;
    the bound subtracts a rounding bound of that expansion (dots of length ≤ M·r, ‖d‖² carried
    by a recursion over up to ``_REFRESH`` steps, zᵀd's error ≤ (M + 2) ε ‖z‖ ‖d‖ per component)
    and divides by an upper bound of the state scale. Returns (bound, expansion magnitude); the
    bound is only used when both are finite.
    """
    m = z.shape[0]
    eps = float(np.finfo(np.float64).eps)
    z2, gg, dz2 = float(z @ z), float(g_row @ g_row), float(dz @ dz)
    cross = float(g_row @ zd)
    terms = dlt * dlt * d2 + 2.0 * dlt * float(np.abs(g_row) @ np.abs(zd)) + z2 * gg
    err = 64.0 * (m * r + _REFRESH + 16) * eps * terms + 4.0 * dlt * (m + 2) * eps * (
        math.sqrt(z2 * d2) * float(np.sum(np.abs(g_row))))
    g2_lo = dz2 + max(dlt * dlt * d2 - 2.0 * dlt * cross + z2 * gg - err, 0.0)
    u_hi = (ua_norm + math.sqrt(max(d2, 0.0))) * (1.0 + 1e-10)
    scale_hi = math.sqrt((u_hi * u_hi + z2) / m) * (1.0 + 1e-10)
    return math.sqrt(g2_lo / m) / max(scale_hi, 1.0) * (1.0 - 1e-10), terms


def _flow_linear(
    u: FloatArray,
    z: FloatArray,
    ax: FloatArray,
    kxx: FloatArray,
    y: FloatArray,
    *,
    gamma: float,
    lam: float,
    dlt: float,
    u_anc: FloatArray,
    z_anc: FloatArray,
    tol: float,
    max_time: float,
    max_steps: int,
    stall_tol: float = 0.0,
) -> _Flow:
    """:func:`_flow_run` for linear φ, on matrix-vector products only (issue 15).

    The same steps, decisions and iterates (up to rounding) as the general loop, without the
    (M, P) pre-activations: with g = z, f = (zᵀu) A_Xᵀ/(γM) and dz/dt = γ u (A_XᵀΔ) − λ(z − z_anc)
    need zᵀu_anc, zᵀd, u_anc q and d q (d = u − u_anc), and the data term of du/dt is the rank
    one z ⊗ γ A_XᵀΔ. A trial is evaluated without writing d: zᵀd_new = e_δ zᵀd + c_δ (zᵀz_cur) g
    and ‖d_new‖² = e_δ²‖d‖² + 2 e_δ c_δ g·(z_curᵀd) + c_δ²‖z_cur‖²‖g‖²; an accepted step
    updates d in place (one scaling and one BLAS ger, as before). ‖d‖² is carried by that
    recursion and recomputed exactly at every step-size refresh. The gradient norm of the
    stopping rule needs du/dt = −δ d + z ⊗ g, a pass over (M, r), only once a lower bound of the
    residual no longer proves it above ``tol``: ‖dz‖² + (δ²‖d‖² − 2δ g·zᵀd + ‖z‖²‖g‖² − its
    rounding bound) over an upper bound of the state norm; the final residual is always exact.
    """
    gam = gamma
    m, r = u.shape
    p = ax.shape[0]
    inv = 1.0 / (gam * m)
    kx_max = float(np.linalg.eigvalsh(kxx)[-1]) if p else 0.0
    axt = np.ascontiguousarray(ax.T)  # (r, P)
    ya = np.asarray(y, dtype=np.float64)
    z_anc = np.asarray(z_anc, dtype=np.float64)
    ua = np.ascontiguousarray(u_anc, dtype=np.float64)
    d = np.subtract(u, ua)  # (M, r), C order: d.T is the Fortran view BLAS ger updates
    z = np.array(z, dtype=np.float64)
    ubuf = np.empty((m, r))  # u = u_anc + d, formed only for exact norms and refreshes
    du = np.empty((m, r))  # du/dt, formed only for an exact residual
    ua_norm = math.sqrt(float(ua.reshape(-1) @ ua.reshape(-1)))

    def ger(a: FloatArray, row: FloatArray, col: FloatArray, alpha: float) -> None:
        if a.size:
            _ger(alpha, row, col, a=a.T, overwrite_a=True)

    def sq(a: FloatArray) -> float:
        v = a.reshape(-1)
        return float(v @ v)

    def gradient(zz: FloatArray, delta: FloatArray) -> tuple[FloatArray, FloatArray]:
        """(g = γ A_XᵀΔ, dz/dt) at the current state."""
        qv = delta @ ax
        dz = gam * (ua @ qv + d @ qv) - lam * (zz - z_anc)
        return gam * qv, dz

    def step_estimate(zz: FloatArray, delta: FloatArray) -> float:
        np.add(ua, d, out=ubuf)
        phi = ubuf @ axt
        gg = np.full((p, p), float(zz @ zz))  # g = z: G = ⟨z²⟩ 11ᵀ
        kmat = (phi.T @ phi + gg * kxx) / m
        curv = float(np.linalg.eigvalsh(kmat)[-1]) if p else 0.0
        curv += gam * float(np.linalg.norm(delta)) * math.sqrt(max(kx_max, 0.0))
        return _STEP_SCALE / max(curv, 1e-300)

    def exact_residual(zz: FloatArray, g_row: FloatArray, dz: FloatArray) -> tuple[float, bool]:
        np.multiply(d, -dlt, out=du)
        ger(du, g_row, zz, 1.0)
        g2 = sq(du) + float(dz @ dz)
        finite = math.isfinite(g2) or bool(np.all(np.isfinite(du)) and np.all(np.isfinite(dz)))
        np.add(ua, d, out=ubuf)
        scale = math.sqrt((sq(ubuf) + float(zz @ zz)) / m)
        return math.sqrt(g2 / m) / max(scale, 1.0), finite

    def residual_at(zz: FloatArray, g_row: FloatArray, dz: FloatArray, zd: FloatArray,
                    d2: float) -> tuple[float, bool, bool]:
        """(residual, finite, exact): a lower bound when it already exceeds ``tol``."""
        lo, terms = _residual_lower_bound(zz, g_row, dz, zd, d2, dlt=dlt, ua_norm=ua_norm, r=r)
        if math.isfinite(lo) and math.isfinite(terms) and lo >= tol:
            return lo, True, False
        res, finite = exact_residual(zz, g_row, dz)
        return res, finite, True

    def energy_of(delta: FloatArray, zz: FloatArray, d2: float) -> float:
        dz_z = zz - z_anc
        return (0.5 * gam * gam * float(delta @ delta) + 0.5 * lam * float(dz_z @ dz_z) / m
                + 0.5 * dlt * d2 / m)

    zd = z @ d
    d2 = sq(d)
    delta = ya - ((z @ ua + zd) @ axt) * inv
    energy = energy_of(delta, z, d2)
    g_row, dz = gradient(z, delta)

    status = SolverStatus.MAX_ITERATIONS
    t = 0.0
    steps = 0
    rejected = 0
    shrink = 1.0
    dt_est = step_estimate(z, delta)
    dt = dt_est
    residual = math.inf
    res_new, grad_finite, exact = residual_at(z, g_row, dz, zd, d2)
    if math.isfinite(energy) and grad_finite:
        residual = res_new
    e_mark, step_mark = energy, 0
    slack = 1e-10
    while True:
        if not (math.isfinite(energy) and grad_finite):
            status = SolverStatus.NOT_FINITE
            break
        if residual < tol:
            status = SolverStatus.CONVERGED
            break
        if t >= max_time or steps + rejected >= max_steps:
            break
        if steps % _REFRESH == 0 and steps and steps != step_mark:
            dt_est = step_estimate(z, delta)
            d2 = sq(d)
            energy = energy_of(delta, z, d2)
            if stall_tol > 0 and e_mark - energy < stall_tol * abs(energy):
                status = SolverStatus.STALLED
                break
            e_mark, step_mark = energy, steps
        dt = min(shrink * dt_est, max_time - t)
        e_d, e_l = math.exp(-dlt * dt), math.exp(-lam * dt)
        c_d = -math.expm1(-dlt * dt) / dlt if dlt > 0 else dt
        c_l = -math.expm1(-lam * dt) / lam if lam > 0 else dt
        dz_z = z - z_anc
        z_new = z_anc + e_l * dz_z + c_l * (dz + lam * dz_z)
        # the trial state d_new = e_δ d + c_δ z ⊗ g, evaluated without writing it
        zd_trial = z_new @ d
        zz = float(z_new @ z)
        zd_new = e_d * zd_trial + (c_d * zz) * g_row
        delta_new = ya - ((z_new @ ua + zd_new) @ axt) * inv
        d2_new = (e_d * e_d * d2 + 2.0 * e_d * c_d * float(g_row @ zd)
                  + c_d * c_d * float(z @ z) * float(g_row @ g_row))
        e_new = energy_of(delta_new, z_new, d2_new)
        if e_new > energy + slack * abs(energy) + 1e-300:
            rejected += 1
            shrink *= 0.5
            if shrink < 1e-12:
                status = SolverStatus.SOLVER_FAILED
                break
            continue
        d *= e_d
        ger(d, g_row, z, c_d)
        z, zd, d2, delta, energy = z_new, zd_new, d2_new, delta_new, e_new
        g_row, dz = gradient(z, delta)
        res_new, grad_finite, exact = residual_at(z, g_row, dz, zd, d2)
        if _AUDIT is not None:  # test hook: the exact residual and ‖d‖² alongside
            _AUDIT.append((res_new, exact, exact_residual(z, g_row, dz)[0], d2, sq(d)))
        if math.isfinite(energy) and grad_finite:  # else reported with the last finite value
            residual = res_new
        shrink = min(1.0, 1.1 * shrink)
        t = t + dt if t + dt < max_time * (1 - 1e-15) else max_time
        steps += 1
    if not exact and math.isfinite(energy):  # the reported residual is exact
        res_new, grad_finite, exact = *exact_residual(z, g_row, dz), True
        if grad_finite:
            residual = res_new
    u_out = np.add(ua, d) if steps else np.array(u, dtype=np.float64)
    return _Flow(u_out, z, status, float(residual), t, steps, rejected, energy, dt)


def _flow_run(
    u: FloatArray,
    z: FloatArray,
    ax: FloatArray,
    kxx: FloatArray,
    y: FloatArray,
    *,
    gamma: float,
    lam: float,
    dlt: float,
    u_anc: FloatArray,
    z_anc: FloatArray,
    activation: str,
    tol: float,
    max_time: float,
    max_steps: int,
    stall_tol: float = 0.0,
) -> _Flow:
    """Euler-integrate the particle flow on the training rows ``ax`` (coordinates A_X).

    ``u`` (M, r) and ``z`` (M,) are the start (not modified); the anchors are fixed. Each step
    must not increase the energy E of the module notes; the run stops when the relative gradient
    norm is below ``tol`` or at ``max_time`` (the last step is shortened to land on it), or —
    with ``stall_tol`` > 0 — when the energy decreased by less than ``stall_tol`` (relative)
    over the last window of accepted steps (status ``stalled``: ReLU particles chattering on
    their kinks make rejected steps and a gradient that never vanishes).
    After a rejected step the step is halved; each accepted step lets it grow back by 10 %.
    """
    if activation == "linear" and _LINEAR_FAST:
        return _flow_linear(u, z, ax, kxx, y, gamma=gamma, lam=lam, dlt=dlt, u_anc=u_anc,
                            z_anc=z_anc, tol=tol, max_time=max_time, max_steps=max_steps,
                            stall_tol=stall_tol)
    gam = gamma
    m, r = u.shape
    p = ax.shape[0]
    inv = 1.0 / (gam * m)
    kx_max = float(np.linalg.eigvalsh(kxx)[-1]) if p else 0.0
    relu = activation == "relu"
    linear = not relu
    axt = np.ascontiguousarray(ax.T)  # (r, P)
    ya = np.asarray(y, dtype=np.float64)
    z_anc = np.asarray(z_anc, dtype=np.float64)

    # Preallocated state, two copies (current, trial) swapped on acceptance. Per state: the
    # coordinates u, the displacement d = u − u_anc, the pre-activations h = u A_Xᵀ and (ReLU)
    # φ(h), φ'(h); z and z − z_anc; the residual Δ and the energy.
    def alloc() -> dict[str, Any]:
        st: dict[str, Any] = {"u": np.empty((m, r)), "d": np.empty((m, r)), "h": np.empty((m, p))}
        if relu:
            st["phi"], st["dphi"] = np.empty((m, p)), np.empty((m, p))
            st["mask"] = np.empty((m, p), dtype=bool)
        return st

    cur, nxt = alloc(), alloc()
    du = np.empty((m, r))  # the gradient du/dt at the current state
    tmp = np.empty((m, p)) if relu else None

    def forward(st: dict[str, Any], zz: FloatArray) -> tuple[FloatArray, FloatArray, float]:
        """h, φ, Δ and the energy of the state ``st`` (u and d already set), readout ``zz``."""
        np.matmul(st["u"], axt, out=st["h"])
        if relu:
            phi = st["phi"]
            np.greater(st["h"], 0.0, out=st["mask"])
            np.copyto(st["dphi"], st["mask"])
            np.multiply(st["h"], st["dphi"], out=phi)
        else:
            phi = st["h"]
        delta = ya - (zz @ phi) * inv
        dz_z = zz - z_anc
        dd = st["d"].reshape(-1)
        energy = (
            0.5 * gam * gam * float(delta @ delta)
            + 0.5 * lam * float(dz_z @ dz_z) / m
            + 0.5 * dlt * float(dd @ dd) / m
        )
        return phi, delta, energy

    def data_term(st: dict[str, Any], zz: FloatArray, delta: FloatArray) -> FloatArray | None:
        """γ (g Δ) A_X as the vector γ ΔᵀA_X for linear φ (the term is z ⊗ it: rank one),
        else (into ``du``) the full (M, r) array; None when linear."""
        if linear:
            return None
        assert tmp is not None
        np.multiply(st["dphi"], delta, out=tmp)
        np.multiply(tmp, zz[:, None], out=tmp)
        np.matmul(tmp, ax, out=du)
        np.multiply(du, gam, out=du)
        return du

    def gradient(st: dict[str, Any], zz: FloatArray, phi: FloatArray,
                 delta: FloatArray) -> tuple[FloatArray, FloatArray]:
        """du/dt (into ``du``) and dz/dt at the state; returns (γ Δᵀ A_X or empty, dz/dt)."""
        dz = gam * (phi @ delta) - lam * (zz - z_anc)
        if linear:
            g_row = gam * (delta @ ax)
            np.multiply(st["d"], -dlt, out=du)
            for_rank_one(du, g_row, zz, 1.0)
            return g_row, dz
        data_term(st, zz, delta)  # du = γ (gΔ) A_X
        np.subtract(du, dlt * st["d"], out=du)
        return np.empty(0), dz

    def for_rank_one(a: FloatArray, row: FloatArray, col: FloatArray, alpha: float) -> None:
        """a += alpha · col ⊗ row in place (BLAS ger on the Fortran view; no temporary)."""
        if a.size:
            _ger(alpha, row, col, a=a.T, overwrite_a=True)

    def step_estimate(phi: FloatArray, zz: FloatArray, st: dict[str, Any],
                      delta: FloatArray) -> float:
        if linear:  # g = z: G = ⟨z²⟩ 11ᵀ
            gg = np.full((p, p), float(zz @ zz))
        else:
            gd = zz[:, None] * st["dphi"]
            gg = gd.T @ gd
        kmat = (phi.T @ phi + gg * kxx) / m
        curv = float(np.linalg.eigvalsh(kmat)[-1]) if p else 0.0
        curv += gam * float(np.linalg.norm(delta)) * math.sqrt(max(kx_max, 0.0))
        return _STEP_SCALE / max(curv, 1e-300)

    np.copyto(cur["u"], u)
    np.subtract(u, u_anc, out=cur["d"])
    z = np.array(z, dtype=np.float64)
    phi, delta, energy = forward(cur, z)
    g_row, dz = gradient(cur, z, phi, delta)

    def rel_residual() -> tuple[float, bool]:
        """Relative gradient norm and whether the gradient is finite."""
        dv = du.reshape(-1)
        g2 = float(dv @ dv) + float(dz @ dz)
        finite = math.isfinite(g2) or bool(np.all(np.isfinite(du)) and np.all(np.isfinite(dz)))
        uv = cur["u"].reshape(-1)
        scale = math.sqrt((float(uv @ uv) + float(z @ z)) / m)
        return math.sqrt(g2 / m) / max(scale, 1.0), finite

    status = SolverStatus.MAX_ITERATIONS
    t = 0.0
    steps = 0
    rejected = 0
    shrink = 1.0
    dt_est = step_estimate(phi, z, cur, delta)
    dt = dt_est
    residual = math.inf
    res_new, grad_finite = rel_residual()
    if math.isfinite(energy) and grad_finite:
        residual = res_new
    e_mark, step_mark = energy, 0
    # ReLU: a particle crossing its kink within a step raises E by O(dt²) that no step size
    # removes; accept such rises up to 1e-7 relative (the stall rule ends any net creep)
    slack = _KINK_SLACK if activation == "relu" else 1e-10
    while True:
        if not (math.isfinite(energy) and grad_finite):
            status = SolverStatus.NOT_FINITE
            break
        if residual < tol:
            status = SolverStatus.CONVERGED
            break
        if t >= max_time or steps + rejected >= max_steps:
            break
        if steps % _REFRESH == 0 and steps and steps != step_mark:
            dt_est = step_estimate(phi, z, cur, delta)
            if stall_tol > 0 and e_mark - energy < stall_tol * abs(energy):
                status = SolverStatus.STALLED
                break
            e_mark, step_mark = energy, steps
        dt = min(shrink * dt_est, max_time - t)
        # exponential Euler: the decays toward the anchors are integrated exactly, so a stiff
        # anchor (large δ or λ) does not limit the step; the data term takes an Euler step:
        # d ← e^{−δ dt} d + c_δ γ (gΔ) A_X,  c_δ = (1 − e^{−δ dt})/δ  (= dt at δ = 0)
        e_d, e_l = math.exp(-dlt * dt), math.exp(-lam * dt)
        c_d = -math.expm1(-dlt * dt) / dlt if dlt > 0 else dt
        c_l = -math.expm1(-lam * dt) / lam if lam > 0 else dt
        dz_z = z - z_anc
        z_new = z_anc + e_l * dz_z + c_l * (dz + lam * dz_z)
        d_new = nxt["d"]
        if linear:
            np.multiply(cur["d"], e_d, out=d_new)
            for_rank_one(d_new, g_row, z, c_d)
        else:  # du + δ d is the data term γ (gΔ) A_X
            np.multiply(cur["d"], dlt, out=d_new)
            d_new += du
            d_new *= c_d
            d_new += e_d * cur["d"]
        np.add(u_anc, d_new, out=nxt["u"])
        if relu:
            _flush(nxt["u"])
            _flush(z_new)
            np.subtract(nxt["u"], u_anc, out=d_new)
        phi_new, delta_new, e_new = forward(nxt, z_new)
        if e_new > energy + slack * abs(energy) + 1e-300:
            rejected += 1
            shrink *= 0.5
            if shrink < 1e-12:
                status = SolverStatus.SOLVER_FAILED
                break
            continue
        cur, nxt = nxt, cur
        z, phi, delta, energy = z_new, phi_new, delta_new, e_new
        g_row, dz = gradient(cur, z, phi, delta)
        res_new, grad_finite = rel_residual()
        if math.isfinite(energy) and grad_finite:  # else reported with the last finite value
            residual = res_new
        shrink = min(1.0, 1.1 * shrink)
        t = t + dt if t + dt < max_time * (1 - 1e-15) else max_time
        steps += 1
    u = cur["u"]
    return _Flow(u, z, status, float(residual), t, steps, rejected, energy, dt)


@small_blas
def particle_dmft(
    x_train: ArrayLike,
    y_train: ArrayLike,
    x_eval: ArrayLike | None = None,
    *,
    gamma: float,
    ridge_readout: float,
    ridge_hidden: float,
    activation: str = "relu",
    neurons: int = 10_000,
    anchor: str = "zero",
    tol: float = 1e-10,
    max_time: float = 5_000.0,
    max_steps: int = 1_000_000,
    rng: np.random.Generator | int | None = None,
    strict: bool = False,
    stall_tol: float | None = None,
) -> DMFTResult:
    """Integrate the infinite-width gradient flow of spec §1 with M particles (spec §2).

    Regime: width N → ∞ of the mean-field two-layer network, represented by M = ``neurons``
    independent particles (h on the union of inputs, z), gradient flow (Euler steps with an
    automatically stable step size), float64. The particle system *is* a width-M network in
    function space, so the fixed-point identities of §2 hold for it exactly at convergence; only
    comparisons with M → ∞ quantities (lazy kernels, closed forms) carry O(M^{-1/2}) error.

    Initialisation: h ~ N(0, K_x) on the union of training and evaluation inputs (PSD square
    root of K_x with eigenvalue clipping), z ~ N(0, 1). Flow per particle::

        dh(x)/dt = γ Σ_μ K_x(x, x_μ) g(x_μ) Δ_μ − δ (h(x) − h_anc(x)),  g = z φ'(h),
        dz/dt    = γ Σ_μ φ(h(x_μ)) Δ_μ − λ (z − z_anc),   f(x) = ⟨z φ(h(x))⟩/γ,  Δ = y − f.

    Stops when the gradient norm ‖(du/dt, dz/dt)‖ (per-particle RMS), divided by
    max(1, RMS state norm), falls below ``tol``.

    Parameters
    ----------
    x_train : array_like, shape (P, D)
        Training inputs.
    y_train : array_like, shape (P,)
        Training targets.
    x_eval : array_like, shape (n_eval, D), optional
        Evaluation inputs (their h is drawn jointly with the training inputs').
    gamma : float
        Feature-learning strength γ > 0 (γ → 0 is the lazy limit).
    ridge_readout : float
        Readout weight decay λ ≥ 0.
    ridge_hidden : float
        Hidden weight decay δ ≥ 0.
    activation : {"relu", "linear"}
        The activation φ.
    neurons : int, default 10_000
        Number M ≥ 2 of particles.
    anchor : {"zero", "init"}
        ``"zero"``: h_anc = 0, z_anc = 0 (decay to zero; the S-A setting for linear φ).
        ``"init"``: hidden anchored at its random initialisation, readout decaying to 0 (S-B).
    tol : float, default 1e-10
        Relative gradient tolerance (> 0).
    max_time : float, default 5000
        Largest training time t; reaching it before ``tol`` gives status ``max_iterations``.
    max_steps : int, default 1_000_000
        Safety cap on Euler steps (accepted plus rejected); reaching it gives ``max_iterations``.
    rng : numpy.random.Generator, int or None
        Random source or seed; ``None`` means seed 0 (reproducible).
    strict : bool, default False
        Raise :class:`~finetune_bounds.errors.ConvergenceError` when not converged.
    stall_tol : float, optional
        Stop with status ``stalled`` when the energy decreases by less than this fraction over
        a window of 200 accepted steps. Default: 1e-7 for ReLU (whose particles chatter on
        their kinks, so the gradient criterion is never met), off (0) for linear φ.

    Returns
    -------
    DMFTResult
        Outputs, residual, final kernels on the union of inputs and diagnostics.

    Raises
    ------
    InvalidInputError
        Bad shapes, non-finite values, non-positive γ, negative decays, unknown choices.
    ConvergenceError
        ``strict=True`` and the tolerance was not met by ``max_time`` (or the step collapsed).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((8, 5)); y = x[:, 0]
    >>> r = particle_dmft(x, y, gamma=1.0, ridge_readout=0.1, ridge_hidden=0.1,
    ...                   activation="linear", neurons=200, tol=1e-9)
    >>> phi = r.block("phi")
    >>> fa = phi @ np.linalg.solve(phi + 0.1 * np.eye(8), y)   # identity (A)
    >>> bool(r.converged and np.max(np.abs(fa - r.f_train)) < 1e-6)
    True
    """
    t_start = _time.perf_counter()
    xt = as_float_array(x_train, "x_train", ndim=2)
    p, dim = xt.shape
    y = as_vector(y_train, "y_train", p)
    if x_eval is None:
        xe = np.zeros((0, dim))
    else:
        xe = as_float_array(x_eval, "x_eval", ndim=2, allow_empty=True)
        if xe.shape[1] != dim and xe.size:
            raise InvalidInputError(
                f"x_eval must have D = {dim} columns like x_train, got shape {xe.shape}"
            )
        xe = xe.reshape(-1, dim)
    gam = nonneg_float(gamma, "gamma", positive=True)
    lam = nonneg_float(ridge_readout, "ridge_readout")
    dlt = nonneg_float(ridge_hidden, "ridge_hidden")
    check_choice(activation, "activation", ACTIVATIONS)
    check_choice(anchor, "anchor", ANCHORS)
    m = positive_int(neurons, "neurons", limit="draws")
    if m < 2:
        raise InvalidInputError(f"neurons must be ≥ 2, got {m}")
    limits.check_elements(m, p + xe.shape[0], name="neurons × inputs (particle features)")
    tolerance = nonneg_float(tol, "tol", positive=True)
    t_max = nonneg_float(max_time, "max_time", positive=True)
    step_cap = positive_int(max_steps, "max_steps", limit="steps")
    stall = default_stall(activation) if stall_tol is None else nonneg_float(stall_tol, "stall_tol")
    gen = as_generator(rng)

    xu = np.vstack([xt, xe])
    kx, amat = _span(xu)
    u = gen.standard_normal((m, amat.shape[1]))
    z = gen.standard_normal(m)
    u_anc = u.copy() if anchor == "init" else np.zeros_like(u)
    z_anc = np.zeros_like(z)
    fl = _flow(
        u, z, amat[:p], kx[:p, :p], y, gamma=gam, lam=lam, dlt=dlt, u_anc=u_anc, z_anc=z_anc,
        activation=activation, tol=tolerance, max_time=t_max, max_steps=step_cap,
        stall_tol=stall,
    )
    if fl.status == SolverStatus.NOT_FINITE:
        raise SolverError(
            f"particle_dmft diverged: the particle state became non-finite after {fl.steps} "
            "step(s) (inputs or targets too large for float64)"
        )
    u, z = fl.u, fl.z
    inv = 1.0 / (gam * m)
    status, residual, t, steps = fl.status, fl.residual, fl.time, fl.steps
    rejected, energy, dt = fl.rejected, fl.energy, fl.dt

    with np.errstate(all="ignore"):
        hu, dhu = _act(u @ amat.T, activation)  # (M, n)
        f_all = (z @ hu) * inv
        gu = z[:, None] * dhu
        phi_k = hu.T @ hu / m
        g_k = gu.T @ gu / m
        phi_k = 0.5 * (phi_k + phi_k.T)
        g_k = 0.5 * (g_k + g_k.T)
        ntk = phi_k + g_k * kx
    ensure_finite("particle_dmft", f_all, phi_k, g_k, ntk, solver=True,
                  cause="outputs or kernels overflow float64")
    info = SolverInfo(
        status=status,
        iterations=steps,
        residual=float(residual),
        tolerance=tolerance,
        extra={"time": t, "rejected": rejected, "energy": energy, "dt": dt, "neurons": m},
    )
    check_converged(info, "particle_dmft", strict=strict)
    return DMFTResult(
        f_train=readonly(np.array(f_all[:p])),
        f_eval=readonly(np.array(f_all[p:])),
        delta=readonly(np.array(y - f_all[:p])),
        phi=readonly(phi_k),
        g=readonly(g_k),
        ntk=readonly(ntk),
        kx=readonly(kx),
        n_train=p,
        neurons=m,
        time=t,
        steps=steps,
        wall_time=_time.perf_counter() - t_start,
        info=info,
    )


# ---------------------------------------------------------------------------------------------
# linear closed forms
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LinearClosedForm(Solved):
    """A linear-φ closed form of spec §2 (S-A or S-B).

    Attributes
    ----------
    beta : ndarray, shape (D,)
        β̂ = (XᵀX/D + κI)⁻¹Xᵀy/√D (zero below the S-A threshold); the predictor is
        f(x) = β̂·x/√D.
    kappa : float
        The effective ridge κ (``inf`` for S-A below threshold).
    f_train : ndarray, shape (P,)
        Predictor on the training inputs.
    f_eval : ndarray, shape (n_eval,)
        Predictor on the evaluation inputs (empty when none were given).
    feature_cov : ndarray, shape (D, D)
        The hidden-weight second moment M = ⟨w wᵀ⟩, so Φ(x, x') = xᵀ M x'/D:
        S-A: (λ/κ) bbᵀ; S-B: I + (λ/κ − 1) bbᵀ; b = β̂/‖β̂‖.
    z2 : float
        ⟨z²⟩ (S-A: δ/κ; NaN for S-B, where it is not part of the closed form).
    info : SolverInfo
        Root-finding diagnostics (``exact`` when no root was needed).
    """

    beta: FloatArray
    kappa: float
    f_train: FloatArray
    f_eval: FloatArray
    feature_cov: FloatArray
    z2: float
    info: SolverInfo = field(repr=False)

    def predict(self, x: ArrayLike) -> FloatArray:
        """f(x) = β̂·x/√D on the rows of ``x``."""
        xa = as_float_array(x, "x", ndim=2)
        if xa.shape[1] != self.beta.shape[0]:
            raise InvalidInputError(f"x must have D = {self.beta.shape[0]} columns")
        return readonly(xa @ self.beta / math.sqrt(self.beta.shape[0]))


def _linear_inputs(
    x: ArrayLike, y: ArrayLike, x_eval: ArrayLike | None
) -> tuple[FloatArray, FloatArray, FloatArray]:
    xa = as_float_array(x, "x", ndim=2)
    ya = as_vector(y, "y", xa.shape[0])
    if x_eval is None:
        xe = np.zeros((0, xa.shape[1]))
    else:
        xe = as_float_array(x_eval, "x_eval", ndim=2)
        if xe.shape[1] != xa.shape[1]:
            raise InvalidInputError(f"x_eval must have D = {xa.shape[1]} columns, got {xe.shape}")
    return xa, ya, xe


def _norm(v: FloatArray) -> float:
    """Euclidean norm computed on the rescaled vector (no overflow of the squares)."""
    with np.errstate(all="ignore"):
        scale = float(np.max(np.abs(v))) if v.size else 0.0
        if scale == 0.0 or not math.isfinite(scale):
            return scale
        return scale * float(np.linalg.norm(v / scale))


class _Ridge:
    """β̂(κ) = (XᵀX/D + κI)⁻¹Xᵀy/√D through one eigendecomposition of XᵀX/D."""

    def __init__(self, x: FloatArray, y: FloatArray) -> None:
        dim = x.shape[1]
        with np.errstate(all="ignore"):
            gram = x.T @ x / dim
            xty = x.T @ y
        ensure_finite("XᵀX/D and Xᵀy", gram, xty, cause="inputs or targets too large")
        self.e, self.v = np.linalg.eigh(gram)
        self.e = np.clip(self.e, 0.0, None)
        self.c = self.v.T @ xty / math.sqrt(dim)  # Xᵀy/√D in the eigenbasis
        ensure_finite("Xᵀy/√D", self.c, cause="inputs or targets too large")
        self.dim = dim

    def beta(self, kappa: float) -> FloatArray:
        return np.asarray(self.v @ (self.c / (self.e + kappa)))

    def norm(self, kappa: float) -> float:
        with np.errstate(all="ignore"):
            return _norm(self.c / (self.e + kappa))


def _result(
    x: FloatArray,
    xe: FloatArray,
    beta: FloatArray,
    kappa: float,
    cov: FloatArray,
    z2: float,
    info: SolverInfo,
) -> LinearClosedForm:
    s = math.sqrt(x.shape[1])
    if not math.isfinite(kappa) and not math.isinf(kappa):
        raise SolverError(f"{info.status.value}: the closed form's root search failed "
                          "(no effective ridge κ found)")
    with np.errstate(all="ignore"):
        f_train, f_eval = x @ beta / s, xe @ beta / s
    ensure_finite("linear closed form", beta, f_train, f_eval, cov, solver=True,
                  cause="β̂ or the predictor overflow float64")
    return LinearClosedForm(
        beta=readonly(beta),
        kappa=kappa,
        f_train=readonly(f_train),
        f_eval=readonly(f_eval),
        feature_cov=readonly(cov),
        z2=z2,
        info=info,
    )


def _root_log(fun: Any, lo: float, hi: float, what: str) -> tuple[float, SolverInfo]:
    """Root of an increasing ``fun`` of κ in [lo, hi], bracketed in log κ.

    The end values are taken at exp(log κ), exactly where brentq evaluates them, so a sign
    check that passed cannot fail inside brentq through the last bit of the exp/log round trip.
    """
    lo0, hi0 = lo, hi
    lo, hi = math.exp(math.log(lo)), math.exp(math.log(hi))
    flo, fhi = fun(lo), fun(hi)
    for end, f_end, f_orig in ((hi0, fhi, fhi if hi == hi0 else fun(hi0)),
                               (lo0, flo, flo if lo == lo0 else fun(lo0))):
        if (f_end <= 0.0) != (f_orig <= 0.0):  # the sign flips within the last bit of `end`
            return end, SolverInfo(SolverStatus.CONVERGED, residual=abs(f_orig), tolerance=0.0)
    if fhi == 0.0:
        return hi, SolverInfo(SolverStatus.EXACT)
    if not (flo < 0.0 < fhi):
        return math.nan, SolverInfo(
            SolverStatus.BRACKET_LOST, extra={"bracket": (lo, hi), "values": (flo, fhi)}
        )
    root, rr = brentq(
        lambda s: fun(math.exp(s)),
        math.log(lo),
        math.log(hi),
        xtol=1e-15,
        rtol=4 * np.finfo(float).eps,
        maxiter=500,
        full_output=True,
    )
    k = math.exp(root)
    st = SolverStatus.CONVERGED if rr.converged else SolverStatus.MAX_ITERATIONS
    return k, SolverInfo(st, iterations=int(rr.iterations), residual=abs(fun(k)), tolerance=0.0)


def linear_closed_form_sa(
    x: ArrayLike,
    y: ArrayLike,
    x_eval: ArrayLike | None = None,
    *,
    gamma: float,
    ridge_readout: float,
    ridge_hidden: float,
    strict: bool = False,
) -> LinearClosedForm:
    """Closed form (S-A) of spec §2: linear φ, both layers decaying to zero — a group lasso.

    Regime: width N → ∞, linear φ, gradient flow run to its global minimum, anchors zero. The
    minimum of γ²·½‖y − Xβ/√D‖² + √(λδ)·γ‖β‖ is

        β̂ = (XᵀX/D + κI)⁻¹ Xᵀy/√D   with   κ ‖β̂(κ)‖ = √(λδ)/γ

    (a unique root, since κ‖β̂(κ)‖ increases from 0 to ‖Xᵀy‖/√D; β̂ = 0, κ = ∞ at or above
    that threshold). The hidden weights collapse to rank one: ⟨wwᵀ⟩ = (λ/κ) bbᵀ, b = β̂/‖β̂‖,
    and ⟨z²⟩ = δ/κ.

    Parameters
    ----------
    x : array_like, shape (P, D)
        Training inputs.
    y : array_like, shape (P,)
        Training targets.
    x_eval : array_like, shape (n_eval, D), optional
        Inputs on which to evaluate the predictor as well.
    gamma : float
        γ > 0.
    ridge_readout, ridge_hidden : float
        λ > 0 and δ > 0.
    strict : bool
        Raise :class:`~finetune_bounds.errors.ConvergenceError` if the root search fails.

    Returns
    -------
    LinearClosedForm
        ``beta``, ``kappa``, the predictor on train/eval inputs, ``feature_cov`` and ``z2``.

    Raises
    ------
    InvalidInputError
        Bad shapes or values.
    """
    xa, ya, xe = _linear_inputs(x, y, x_eval)
    gam = nonneg_float(gamma, "gamma", positive=True)
    lam = nonneg_float(ridge_readout, "ridge_readout", positive=True)
    dlt = nonneg_float(ridge_hidden, "ridge_hidden", positive=True)
    dim = xa.shape[1]
    rr = _Ridge(xa, ya)
    tau = math.sqrt(lam * dlt) / gam
    cnorm = _norm(rr.c)
    if tau >= cnorm:
        info = SolverInfo(SolverStatus.EXACT, extra={"threshold": cnorm})
        return _result(xa, xe, np.zeros(dim), math.inf, np.zeros((dim, dim)), 0.0, info)

    def fun(k: float) -> float:
        return k * rr.norm(k) - tau

    hi = 1.0
    while fun(hi) <= 0.0 and hi < 1e300:
        hi *= 10.0
    lo = min(hi, 1.0)
    while fun(lo) >= 0.0 and lo > 1e-300:
        lo /= 10.0
    kappa, info = _root_log(fun, lo, hi, "S-A")
    check_converged(info, "linear_closed_form_sa", strict=strict)
    beta = rr.beta(kappa)
    b = beta / _norm(beta)
    return _result(xa, xe, beta, kappa, (lam / kappa) * np.outer(b, b), dlt / kappa, info)


def linear_closed_form_sb(
    x: ArrayLike,
    y: ArrayLike,
    x_eval: ArrayLike | None = None,
    *,
    gamma: float,
    ridge_readout: float,
    ridge_hidden: float,
    strict: bool = False,
) -> LinearClosedForm:
    """Closed form (S-B) of spec §2: linear φ, hidden anchored at init, readout decaying to 0.

    Regime: width N → ∞ (the finite-width correction is O(N^{-1/2})), linear φ, gradient flow
    to its fixed point. With s = γ²/(δλ), κ ∈ (0, λ] solves

        √(κ/λ) = 1 − s κ² ‖β̂(κ)‖²,   β̂(κ) = (XᵀX/D + κI)⁻¹ Xᵀy/√D,

    (the right side minus the left decreases in κ, so the root is unique), the predictor is
    f(x) = β̂·x/√D and the hidden second moment is ⟨wwᵀ⟩ = I + (λ/κ − 1) bbᵀ, b = β̂/‖β̂‖
    ("lazy bulk + task spike").

    Parameters
    ----------
    x, y, x_eval, gamma, ridge_readout, ridge_hidden, strict
        As in :func:`linear_closed_form_sa` (λ, δ > 0).

    Returns
    -------
    LinearClosedForm
        ``beta``, ``kappa``, the predictor, ``feature_cov``; ``z2`` is NaN.

    Raises
    ------
    InvalidInputError
        Bad shapes or values.
    """
    xa, ya, xe = _linear_inputs(x, y, x_eval)
    gam = nonneg_float(gamma, "gamma", positive=True)
    lam = nonneg_float(ridge_readout, "ridge_readout", positive=True)
    dlt = nonneg_float(ridge_hidden, "ridge_hidden", positive=True)
    dim = xa.shape[1]
    rr = _Ridge(xa, ya)
    if dlt * lam == 0.0 or not math.isfinite(gam * gam / (dlt * lam)):
        raise InvalidInputError(
            f"gamma²/(ridge_hidden·ridge_readout) must be finite, got gamma = {gam}, "
            f"ridge_hidden = {dlt}, ridge_readout = {lam}"
        )
    s = gam * gam / (dlt * lam)

    def fun(k: float) -> float:
        t = k * rr.norm(k)
        return math.sqrt(k / lam) - 1.0 + s * t * t

    lo = lam
    while fun(lo) >= 0.0 and lo > 1e-300:
        lo /= 10.0
    if fun(lam) <= 0.0:  # y = 0 (β̂ = 0): κ = λ exactly
        beta = rr.beta(lam)
        return _result(xa, xe, beta, lam, np.eye(dim), math.nan, SolverInfo(SolverStatus.EXACT))
    kappa, info = _root_log(fun, lo, lam, "S-B")
    check_converged(info, "linear_closed_form_sb", strict=strict)
    beta = rr.beta(kappa)
    nb = _norm(beta)
    b = beta / nb if nb > 0 else np.zeros(dim)
    cov = np.eye(dim) + (lam / kappa - 1.0) * np.outer(b, b)
    return _result(xa, xe, beta, kappa, cov, math.nan, info)
