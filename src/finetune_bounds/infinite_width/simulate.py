"""Finite-width two-layer networks trained by gradient descent, batched over seeds.

Spec ``infinite-width-transfer.md`` §1 (network and training) and §3 (the frozen-feature ridge
readout of FT). This is the independent check of the particle solver
:func:`~finetune_bounds.infinite_width._dmft.particle_dmft`: the same mean-field (μP) network at
a finite width N, with the same conventions, so its distance to the infinite-width predictor
shrinks like N^{-1/2}.

Conventions (identical to ``particle_dmft``). S seeds are batched along a leading axis:
hidden weights W of shape (S, N, D), readout z of shape (S, N), W, z ~ N(0, 1) at init,

    h_i(x) = W_i·x/√D,   f(x) = (1/(γN)) Σ_i z_i φ(h_i(x)),   φ ∈ {ReLU, linear} (ReLU φ'(0) = 0),

summed loss L = ½ Σ_μ (f(x_μ) − y_μ)², and gradient descent with learning rate scaled by γ²N
and weight decays toward anchors, θ ← θ − η(γ²N ∂L/∂θ + decay·(θ − θ_anc)), i.e. with
Δ = y − f and g = z φ'(h)::

    W_i ← W_i + η [γ Σ_μ Δ_μ g_i(x_μ) x_μ/√D − δ (W_i − W_anc,i)],
    z_i ← z_i + η [γ Σ_μ Δ_μ φ(h_i(x_μ)) − λ (z_i − z_anc,i)].

The training time is t = Σ η (steps × η at a fixed step), the time of the particle solver's flow.
This update is η·N times minus the gradient of

    E = γ² · ½ ‖Δ‖² + (λ/2) ⟨(z − z_anc)²⟩ + (δ/2) ⟨‖W − W_anc‖²⟩   (⟨⟩ = mean over neurons),

which the automatic step size uses as a descent safeguard (a step that increases E is rejected
and retried with half the step), exactly as ``particle_dmft`` does.

BLAS threads: :func:`train`, :func:`readout_ridge`, :func:`width_sweep` (and
:func:`transfer_network`) run their small batched products and solves under
:func:`finetune_bounds.threads.small_blas` — one BLAS thread by default, ``threads.configure``
or ``FINETUNE_BOUNDS_THREADS`` to change it.
"""

from __future__ import annotations

import math
import time as _time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.linalg.blas import dger as _ger

from .. import limits
from .._validation import (
    FloatArray,
    as_float_array,
    as_vector,
    check_choice,
    nonneg_float,
    positive_int,
    readonly,
)
from ..errors import InvalidInputError
from ..threads import small_blas
from ._checks import seeds as _seed_list
from ._checks import sizes as _size_list
from ._dmft import _KINK_SLACK, default_stall
from ._kernels import ACTIVATIONS

__all__ = [
    "Network",
    "TrainResult",
    "WidthSweep",
    "init_network",
    "readout_ridge",
    "train",
    "transfer_network",
    "width_sweep",
]

#: Anchor settings of :func:`width_sweep` (as in ``particle_dmft``).
ANCHORS: tuple[str, ...] = ("zero", "init")

#: Values below this magnitude are flushed to exactly 0 for ReLU (subnormals slow numpy).
_FLUSH = 1e-150
#: Iterations between refreshes of the automatic step-size estimate.
_REFRESH = 200

# Test-only hooks (private; production code never changes them). Tests monkeypatch them to
# compare the linear-φ loop with the general one where rejections occur and to audit its
# carried quantities:
#: False forces the general loop of :func:`train` for linear φ (default: matrix-vector loop).
_LINEAR_FAST = True
#: Multiplies the automatic step estimate (1/curvature) in both loops; > 1 provokes rejections.
_STEP_SCALE = 1.0
#: When a list, the linear loop appends per iteration with accepted seeds (the seeds, residuals
#: used, whether each was exact, the exact residuals, the carried ‖D‖², the exact ‖D‖²) — extra
#: exact passes, tests only.
_AUDIT: list[tuple[np.ndarray, ...]] | None = None


def _act(h: FloatArray, activation: str) -> tuple[FloatArray, FloatArray]:
    """φ(h) and φ'(h) (ReLU: φ'(0) = 0)."""
    if activation == "linear":  # φ' = 1 as a read-only broadcast (no (M, n) pass)
        return h, np.broadcast_to(np.float64(1.0), h.shape)
    d = (h > 0.0).astype(np.float64)
    return h * d, d


def _frozen(a: np.ndarray) -> np.ndarray:
    """A read-only contiguous copy of an integer or boolean array."""
    out = np.array(a)
    out.setflags(write=False)
    return out


def _flush(a: FloatArray) -> None:
    a[np.abs(a) < _FLUSH] = 0.0


def _inputs(x: ArrayLike, dim: int, name: str = "x") -> FloatArray:
    xa = as_float_array(x, name, ndim=2)
    if xa.shape[1] != dim:
        raise InvalidInputError(f"{name} must have D = {dim} columns, got shape {xa.shape}")
    return xa


def _targets(y: ArrayLike, seeds: int, p: int, name: str = "y") -> FloatArray:
    """Targets as an (S, P) array from a shared (P,) vector or a per-seed (S, P) array."""
    ya = as_float_array(y, name)
    if ya.ndim == 1:
        if ya.shape[0] != p:
            raise InvalidInputError(f"{name} must have length P = {p}, got {ya.shape[0]}")
        return np.broadcast_to(ya, (seeds, p)).copy()
    if ya.shape != (seeds, p):
        raise InvalidInputError(f"{name} must have shape ({p},) or ({seeds}, {p}), got {ya.shape}")
    return ya


@dataclass(frozen=True)
class Network:
    """A batch of S finite-width two-layer mean-field networks (spec §1).

    Attributes
    ----------
    W : ndarray, shape (S, N, D)
        Hidden weights; h_i(x) = W_i·x/√D.
    z : ndarray, shape (S, N)
        Readout weights; f(x) = (1/(γN)) Σ_i z_i φ(h_i(x)).
    gamma : float
        Feature-learning strength γ > 0 (the output scale 1/(γN)).
    activation : {"relu", "linear"}
        The activation φ.

    Examples
    --------
    >>> net = Network(np.ones((1, 2, 4)), np.array([[1.0, -1.0]]), gamma=1.0, activation="linear")
    >>> net.predict(np.ones((3, 4)))
    array([[0., 0., 0.]])
    """

    W: FloatArray
    z: FloatArray
    gamma: float
    activation: str = "relu"

    def __post_init__(self) -> None:
        w = as_float_array(self.W, "W", ndim=3)
        z = as_float_array(self.z, "z", ndim=2)
        if z.shape != w.shape[:2]:
            raise InvalidInputError(f"z must have shape {w.shape[:2]} (S, N), got {z.shape}")
        object.__setattr__(self, "W", readonly(w))
        object.__setattr__(self, "z", readonly(z))
        object.__setattr__(self, "gamma", nonneg_float(self.gamma, "gamma", positive=True))
        check_choice(self.activation, "activation", ACTIVATIONS)

    @property
    def seeds(self) -> int:
        """Number S of networks in the batch."""
        return int(self.W.shape[0])

    @property
    def width(self) -> int:
        """Width N."""
        return int(self.W.shape[1])

    @property
    def dim(self) -> int:
        """Input dimension D."""
        return int(self.W.shape[2])

    def _pre(self, xa: FloatArray) -> FloatArray:
        return np.asarray(np.matmul(self.W, xa.T) / math.sqrt(self.dim))  # (S, N, n)

    def features(self, x: ArrayLike) -> FloatArray:
        """Hidden features φ(h(x)), shape (S, n, N), for the n rows of ``x`` (shape (n, D)).

        Examples
        --------
        >>> net = init_network(3, 2, seeds=2, gamma=1.0)
        >>> net.features(np.ones((5, 2))).shape
        (2, 5, 3)
        """
        xa = _inputs(x, self.dim)
        phi, _ = _act(self._pre(xa), self.activation)
        return readonly(np.ascontiguousarray(phi.transpose(0, 2, 1)))

    def predict(self, x: ArrayLike) -> FloatArray:
        """Outputs f(x), shape (S, n), for the n rows of ``x`` (shape (n, D)).

        Examples
        --------
        >>> net = init_network(3, 2, seeds=[0, 1], gamma=1.0)
        >>> net.predict(np.ones((5, 2))).shape
        (2, 5)
        """
        xa = _inputs(x, self.dim)
        phi, _ = _act(self._pre(xa), self.activation)
        return readonly(np.einsum("snp,sn->sp", phi, self.z) / (self.gamma * self.width))


def init_network(
    width: int,
    dim: int,
    *,
    seeds: int | Sequence[int],
    gamma: float,
    activation: str = "relu",
) -> Network:
    """Random initialisation W, z ~ N(0, 1) of S networks (spec §1).

    Regime: finite width N, mean-field (μP) parametrisation, float64.

    Parameters
    ----------
    width : int
        Width N ≥ 1.
    dim : int
        Input dimension D ≥ 1.
    seeds : int or sequence of int
        A count S (seeds 0, …, S − 1) or the seeds themselves (integers ≥ 0). Seed s draws
        W (N, D) and then z (N,) from ``np.random.default_rng(s)``, so a network does not depend
        on the other seeds of the batch.
    gamma : float
        γ > 0.
    activation : {"relu", "linear"}
        The activation φ.

    Returns
    -------
    Network
        Weights of shape (S, N, D) and (S, N).

    Raises
    ------
    InvalidInputError
        Non-positive width/dim, bad seeds, γ ≤ 0, unknown activation.

    Examples
    --------
    >>> net = init_network(4, 3, seeds=[7, 8], gamma=0.5, activation="linear")
    >>> net.W.shape, net.z.shape
    ((2, 4, 3), (2, 4))
    >>> bool(np.all(init_network(4, 3, seeds=[8], gamma=0.5).W[0] == net.W[1]))
    True
    """
    n = positive_int(width, "width", limit="width")
    d = positive_int(dim, "dim", limit="d")
    seed_ints = _seed_list(seeds)
    limits.check(len(seed_ints), "draws", "seeds")
    limits.check_elements(len(seed_ints), n, d, name="seeds × width × dim (hidden weights)")
    w = np.empty((len(seed_ints), n, d))
    z = np.empty((len(seed_ints), n))
    for k, s in enumerate(seed_ints):  # drawing only; training is batched
        gen = np.random.default_rng(s)
        w[k] = gen.standard_normal((n, d))
        z[k] = gen.standard_normal(n)
    return Network(w, z, gamma=gamma, activation=activation)


@dataclass(frozen=True)
class TrainResult:
    """The end state of :func:`train`, per seed (spec §1).

    Attributes
    ----------
    network : Network
        The trained networks (with the training γ).
    steps : ndarray of int, shape (S,)
        Accepted gradient steps.
    time : ndarray, shape (S,)
        Training time reached, t = Σ η.
    converged : ndarray of bool, shape (S,)
        Whether the relative gradient norm fell below ``tol``.
    residual : ndarray, shape (S,)
        Final relative gradient norm: RMS over neurons of the update direction divided by
        max(1, RMS parameter norm) (``inf`` for a seed whose iterate became non-finite).
    loss : ndarray, shape (S,)
        Final summed loss ½ ‖y − f(X)‖² (without the decay terms).
    rejected : ndarray of int, shape (S,)
        Steps rejected by the energy-descent safeguard (automatic step only).
    stalled : ndarray of bool, shape (S,)
        Stopped because the energy decreased by less than ``stall_tol`` (relative) over a
        window of 200 iterations (ReLU kinks; see :func:`~._dmft.particle_dmft`).
    wall_time : float
        Seconds spent.
    """

    network: Network
    steps: np.ndarray
    time: FloatArray
    converged: np.ndarray
    residual: FloatArray
    loss: FloatArray
    rejected: np.ndarray
    wall_time: float
    stalled: np.ndarray | None = None


def _anchor(a: ArrayLike | None, shape: tuple[int, ...], name: str) -> FloatArray:
    if a is None:
        return np.zeros(shape)
    arr = as_float_array(a, name)
    if arr.shape != shape:
        raise InvalidInputError(f"{name} must have shape {shape}, got {arr.shape}")
    return arr


def _residual_lower_bounds(
    zz: FloatArray, g_rows: FloatArray, dz: FloatArray, zd: FloatArray, d2: FloatArray, *,
    gam: float, dlt: float, wa_norm: FloatArray, dim: int,
) -> tuple[FloatArray, FloatArray]:
    """Per seed, a lower bound of the relative residual of :func:`_train_linear` and its
    rounding scale.

    ``zd`` = zᵀD and ``d2`` = ‖D‖² per seed (D = W − W_anc, (S, N, D)), ``g_rows`` = ΔᵀX/√D,
    ``dz`` = dz/dt, ``wa_norm`` = ‖W_anc‖ per seed. With g = γ g_rows and dW/dt = −δ D + z ⊗ g,
    ‖dW‖² = δ²‖D‖² − 2δ g·zᵀD + ‖z‖²‖g‖²; the bound subtracts a rounding bound of that expansion
    (dots of length ≤ N·D, ‖D‖² carried by a recursion over up to ``_REFRESH`` iterations, zᵀD's
    error ≤ (N + 2) ε ‖z‖ ‖D‖ per component) and divides by an upper bound of the parameter
    scale. Returns (bounds, expansion magnitudes); a bound is only used where both are finite.
    """
    n = zz.shape[1]
    eps = float(np.finfo(np.float64).eps)
    g = gam * g_rows
    z2 = np.einsum("sn,sn->s", zz, zz)
    gg = np.einsum("sd,sd->s", g, g)
    terms = dlt * dlt * d2 + 2.0 * dlt * np.einsum("sd,sd->s", np.abs(g), np.abs(zd)) + z2 * gg
    err = 64.0 * (n * dim + _REFRESH + 16) * eps * terms + 4.0 * dlt * (n + 2) * eps * (
        np.sqrt(z2 * d2) * np.sum(np.abs(g), axis=1))
    gw = dlt * dlt * d2 - 2.0 * dlt * np.einsum("sd,sd->s", g, zd) + z2 * gg - err
    g2_lo = np.einsum("sn,sn->s", dz, dz) + np.maximum(gw, 0.0)
    w_hi = (wa_norm + np.sqrt(np.maximum(d2, 0.0))) * (1.0 + 1e-10)
    scale_hi = np.sqrt((w_hi * w_hi + z2) / n) * (1.0 + 1e-10)
    lo = np.sqrt(g2_lo / n) / np.maximum(scale_hi, 1.0) * (1.0 - 1e-10)
    return np.asarray(lo), np.asarray(terms)


def _stall_check(active: np.ndarray, stalled: np.ndarray, e_mark: FloatArray,
                 energy: FloatArray, stall: float) -> FloatArray:
    """At a step-size refresh: active seeds whose energy fell by less than ``stall``·|E| since
    the last refresh stop as stalled (``active``/``stalled`` updated in place); the new mark."""
    if stall <= 0:
        return e_mark
    st = active & (e_mark - energy < stall * np.abs(energy))
    stalled |= st
    active &= ~st
    return energy.copy()


def _next_dt(shrink: FloatArray, dt_est: FloatArray, t: FloatArray, t_max: float,
             active: np.ndarray) -> tuple[FloatArray, np.ndarray]:
    """The step of each seed (0 when inactive; the last one ends exactly at ``t_max``)."""
    dt = shrink * dt_est
    last = dt >= t_max - t
    return np.where(active, np.where(last, t_max - t, dt), 0.0), last


def _train_linear(
    w0: FloatArray,
    z0: FloatArray,
    w_anc: FloatArray,
    z_anc: FloatArray,
    xs: FloatArray,
    ya: FloatArray,
    *,
    gam: float,
    lam: float,
    dlt: float,
    tol: float,
    t_max: float,
    cap: int,
    stall: float,
) -> tuple[np.ndarray, ...]:
    """The automatic-step loop of :func:`train` for linear φ on matrix-vector products.

    The same steps, decisions and iterates (up to rounding) as the general loop, without the
    (S, N, P) pre-activations (issue 15): with g = z, the outputs f = (zᵀW) X/(√D γN) and
    dz/dt = γ W (XᵀΔ/√D) − λ(z − z_anc) need zᵀW_anc, zᵀD, W_anc q and D q per seed
    (D = W − W_anc); the data term of dW/dt is the rank one γ z ⊗ ΔᵀX/√D. A trial is
    evaluated without writing D (zᵀD_new and ‖D_new‖² follow from zᵀD, ‖D‖² and the rank-one
    term); an accepted seed updates D in place (one scaling, one BLAS ger). ‖D‖² is carried by
    that recursion and recomputed exactly at every step-size refresh; the gradient norm of the
    stopping rule is formed (a pass over (N, D)) only when a lower bound (‖dz‖² plus the
    expanded ‖dW‖² less its rounding bound, over an upper bound of the parameter norm) does
    not already exceed ``tol``, and the final residuals are exact.

    Returns W, z, Δ, t, steps, rejected, converged, failed, stalled, residual.
    """
    s_n, n, dim = w0.shape
    p = xs.shape[0]
    kx = xs @ xs.T
    kx_max = max(float(np.linalg.eigvalsh(kx)[-1]), 0.0)
    inv = 1.0 / (gam * n)
    xst = np.ascontiguousarray(xs.T)  # (D, P)
    wa = np.ascontiguousarray(w_anc, dtype=np.float64)
    d = np.subtract(w0, wa)  # (S, N, D)
    z = np.array(z0, dtype=np.float64)
    wbuf = np.empty((s_n, n, dim))  # W = W_anc + D, for exact norms and refreshes
    dw = np.empty((n, dim))  # dW/dt of one seed, for an exact residual
    wa_norm = np.sqrt(_sqs(wa))

    def zt(zz: FloatArray, a: FloatArray) -> FloatArray:
        """Per seed zᵀa, shape (S, D)."""
        return np.asarray(np.matmul(zz[:, None, :], a)[:, 0, :])

    def gradient(zz: FloatArray, delta: FloatArray) -> tuple[FloatArray, FloatArray]:
        """(ΔᵀX/√D per seed, dz/dt)."""
        g_rows = delta @ xs
        q = g_rows[:, :, None]
        dz = gam * (np.matmul(wa, q) + np.matmul(d, q))[:, :, 0] - lam * (zz - z_anc)
        return g_rows, dz

    def energy_of(delta: FloatArray, zz: FloatArray, d2: FloatArray) -> FloatArray:
        dz_z = zz - z_anc
        e = 0.5 * gam * gam * np.einsum("sp,sp->s", delta, delta)
        e += 0.5 * lam * np.einsum("sn,sn->s", dz_z, dz_z) / n
        return np.asarray(e + 0.5 * dlt * d2 / n)

    def step_estimate(zz: FloatArray, delta: FloatArray) -> FloatArray:
        np.add(wa, d, out=wbuf)
        phi = np.matmul(wbuf.reshape(-1, dim), xst).reshape(s_n, n, p)
        kmat = np.matmul(phi.transpose(0, 2, 1), phi)
        gg = np.broadcast_to(np.einsum("sn,sn->s", zz, zz)[:, None, None], kmat.shape)
        kmat = kmat + gg * kx
        curv = np.linalg.eigvalsh(kmat / n)[:, -1]
        curv = curv + gam * np.linalg.norm(delta, axis=1) * math.sqrt(kx_max)
        return np.asarray(_STEP_SCALE / np.maximum(curv, 1e-300))

    def exact_residual(k: int, zz: FloatArray, g_rows: FloatArray, dz: FloatArray) -> float:
        np.multiply(d[k], -dlt, out=dw)
        _ger(gam, g_rows[k], zz[k], a=dw.T, overwrite_a=True)
        np.add(wa[k], d[k], out=wbuf[k])
        g2 = _sqs(dw[None])[0] + float(dz[k] @ dz[k])
        p2 = _sqs(wbuf[k][None])[0] + float(zz[k] @ zz[k])
        return math.sqrt(g2 / n) / max(math.sqrt(p2 / n), 1.0)

    def residuals(sel: np.ndarray, zz: FloatArray, g_rows: FloatArray, dz: FloatArray,
                  zd: FloatArray, d2: FloatArray, res: FloatArray, exact: np.ndarray) -> None:
        """Into ``res``/``exact`` for the seeds ``sel``: a lower bound when it exceeds tol."""
        lo, terms = _residual_lower_bounds(zz, g_rows, dz, zd, d2, gam=gam, dlt=dlt,
                                           wa_norm=wa_norm, dim=dim)
        for k in np.flatnonzero(sel):
            if math.isfinite(lo[k]) and math.isfinite(terms[k]) and lo[k] >= tol:
                res[k], exact[k] = lo[k], False
            else:
                res[k], exact[k] = exact_residual(int(k), zz, g_rows, dz), True

    zd = zt(z, d)
    d2 = _sqs(d)
    delta = ya - (zt(z, wa) + zd) @ xst * inv
    energy = energy_of(delta, z, d2)
    g_rows, dz = gradient(z, delta)
    dt_est = step_estimate(z, delta)
    shrink = np.ones(s_n)
    t = np.zeros(s_n)
    steps = np.zeros(s_n, dtype=np.int64)
    rejected = np.zeros(s_n, dtype=np.int64)
    active = np.ones(s_n, dtype=bool)
    converged = np.zeros(s_n, dtype=bool)
    failed = np.zeros(s_n, dtype=bool)
    stalled = np.zeros(s_n, dtype=bool)
    slack = 1e-10
    e_mark = energy.copy()
    residual = np.empty(s_n)
    exact = np.ones(s_n, dtype=bool)
    residuals(np.ones(s_n, dtype=bool), z, g_rows, dz, zd, d2, residual, exact)
    it = 0
    while True:
        done = active & (residual < tol)
        converged |= done
        active &= ~done & (t < t_max)
        if it >= cap or not active.any():
            break
        if it and it % _REFRESH == 0:
            dt_est = step_estimate(z, delta)
            d2 = _sqs(d)
            energy = energy_of(delta, z, d2)
            e_mark = _stall_check(active, stalled, e_mark, energy, stall)
            if not active.any():
                break
        dt, last = _next_dt(shrink, dt_est, t, t_max, active)
        e_d, e_l = np.exp(-dlt * dt), np.exp(-lam * dt)
        c_d = -np.expm1(-dlt * dt) / dlt if dlt > 0 else dt
        c_l = -np.expm1(-lam * dt) / lam if lam > 0 else dt
        dz_z = z - z_anc
        z_new = z_anc + e_l[:, None] * dz_z + c_l[:, None] * (dz + lam * dz_z)
        # the trial D_new = e_δ D + c_δ γ z ⊗ g_rows, evaluated without writing it
        zd_trial = zt(z_new, d)
        cg = (c_d * gam)[:, None] * g_rows
        zd_new = e_d[:, None] * zd_trial + np.einsum("sn,sn->s", z_new, z)[:, None] * cg
        delta_new = ya - (zt(z_new, wa) + zd_new) @ xst * inv
        d2_new = (e_d * e_d * d2 + 2.0 * e_d * np.einsum("sd,sd->s", cg, zd)
                  + np.einsum("sn,sn->s", z, z) * np.einsum("sd,sd->s", cg, cg))
        e_new = energy_of(delta_new, z_new, d2_new)
        finite = np.isfinite(e_new)
        ok = active & finite & (e_new <= energy + slack * np.abs(energy) + 1e-300)
        rej = active & ~ok
        rejected += rej
        shrink = np.where(rej, 0.5 * shrink, shrink)
        dead = rej & (shrink < 1e-12)
        failed |= dead
        active &= ~dead
        it += 1
        if not ok.any():
            continue
        if ok.all():
            d *= e_d[:, None, None]
        else:
            for k in np.flatnonzero(ok):
                d[k] *= e_d[k]
        for k in np.flatnonzero(ok):
            if c_d[k] * gam != 0.0:
                _ger(float(c_d[k] * gam), g_rows[k], z[k], a=d[k].T, overwrite_a=True)
        okc = ok[:, None]
        z = np.where(okc, z_new, z)
        zd = np.where(okc, zd_new, zd)
        delta = np.where(okc, delta_new, delta)
        d2 = np.where(ok, d2_new, d2)
        energy = np.where(ok, e_new, energy)
        g_rows, dz = gradient(z, delta)
        t = np.where(ok, np.where(last, t_max, t + dt), t)
        shrink = np.where(ok, np.minimum(1.0, 1.1 * shrink), shrink)
        steps += ok
        residuals(ok, z, g_rows, dz, zd, d2, residual, exact)
        if _AUDIT is not None:  # test hook: the exact residuals and ‖D‖² alongside
            sel = np.flatnonzero(ok)
            _AUDIT.append((sel, residual[sel].copy(), exact[sel].copy(), np.array(
                [exact_residual(int(k), z, g_rows, dz) for k in sel]), d2[sel].copy(),
                _sqs(d)[sel]))
    for k in np.flatnonzero(~exact):  # the reported residuals are exact
        residual[k] = exact_residual(int(k), z, g_rows, dz)
    w = np.add(wa, d)
    unmoved = steps == 0
    w[unmoved] = w0[unmoved]
    return w, z, delta, t, steps, rejected, converged, failed, stalled, residual


def _sqs(a: FloatArray) -> FloatArray:
    """Per leading index ⟨a, a⟩ (one BLAS dot each, no temporary)."""
    flat = a.reshape(a.shape[0], 1, -1)
    return np.asarray(np.matmul(flat, flat.reshape(a.shape[0], -1, 1))[:, 0, 0])


def _finish(t_start: float, gam: float, act: str, w: np.ndarray, z: np.ndarray,
            delta: np.ndarray, t: np.ndarray, steps: np.ndarray, rejected: np.ndarray,
            converged: np.ndarray, failed: np.ndarray, stalled: np.ndarray,
            residual: np.ndarray) -> TrainResult:
    """The :class:`TrainResult` of a finished :func:`train` loop."""
    residual = np.where(failed, np.inf, residual)
    loss = 0.5 * np.einsum("sp,sp->s", delta, delta)
    out = Network(w, z, gamma=gam, activation=act)
    return TrainResult(
        network=out,
        steps=_frozen(steps),
        time=readonly(t),
        converged=_frozen(converged),
        residual=readonly(residual),
        loss=readonly(loss),
        rejected=_frozen(rejected),
        wall_time=_time.perf_counter() - t_start,
        stalled=_frozen(stalled),
    )


@small_blas
def train(
    net: Network,
    x: ArrayLike,
    y: ArrayLike,
    *,
    gamma: float | None = None,
    ridge_readout: float,
    ridge_hidden: float,
    anchor_hidden: ArrayLike | None = None,
    anchor_readout: ArrayLike | None = None,
    freeze_hidden: bool = False,
    lr: float | None = None,
    tol: float = 1e-8,
    max_time: float | None = None,
    max_steps: int = 200_000,
    stall_tol: float | None = None,
) -> TrainResult:
    """Train S finite-width networks by gradient descent on the summed loss (spec §1).

    Regime: finite width N, mean-field (μP) scaling, full-batch gradient descent with learning
    rate scaled by γ²N and weight decays toward anchors (the conventions of the module
    docstring, identical to ``particle_dmft``), batched over seeds, float64. Each step is::

        W ← W + η [γ Σ_μ Δ_μ g(x_μ) x_μᵀ/√D − δ (W − W_anc)],
        z ← z + η [γ Σ_μ Δ_μ φ(h(x_μ)) − λ (z − z_anc)].

    With ``lr=None`` the step is chosen per seed as 1/curvature, the curvature being
    λ_max of the empirical NTK (ΦᵀΦ + (GᵀG) ⊙ K_x)/N on the training inputs plus
    γ‖Δ‖√λ_max(K_x) (refreshed every 200 iterations); the steps are exponential Euler (the decays
    toward the anchors integrated exactly, the data term by the update above, so stiff anchors
    do not limit the step; the same integrator as the particle solver), and a step that
    increases the energy E of the module docstring is rejected and retried with half the step.
    With a given ``lr`` the steps are plain gradient descent with that η (no safeguard; a seed
    whose iterate becomes non-finite stops, not converged).

    A seed stops when its relative gradient norm (RMS over neurons of the update direction
    divided by max(1, RMS parameter norm)) is below ``tol`` (converged), when its time reaches
    ``max_time`` (the last step is shortened to land on it exactly), or when the iteration count
    (accepted plus rejected steps) reaches ``max_steps``.

    Parameters
    ----------
    net : Network
        Initial networks (S of them).
    x : array_like, shape (P, D)
        Training inputs (shared by all seeds).
    y : array_like, shape (P,) or (S, P)
        Training targets, shared or per seed.
    gamma : float, optional
        γ > 0 used for the output scale and the updates; default ``net.gamma``. The returned
        network carries this γ.
    ridge_readout : float
        Readout decay λ ≥ 0.
    ridge_hidden : float
        Hidden decay δ ≥ 0.
    anchor_hidden : array_like, shape (S, N, D), optional
        W_anc (default 0).
    anchor_readout : array_like, shape (S, N), optional
        z_anc (default 0).
    freeze_hidden : bool, default False
        Train the readout only (W stays fixed; δ is then irrelevant).
    lr : float, optional
        Fixed step η > 0 (in time units); ``None`` for the automatic stable step.
    tol : float, default 1e-8
        Relative gradient tolerance (> 0).
    max_time : float, optional
        Final training time (finite-time training); ``None`` for no limit.
    max_steps : int, default 200_000
        Cap on iterations (accepted plus rejected steps).
    stall_tol : float, optional
        Stop a seed (``stalled``) when its energy decreased by less than this fraction over the
        last 200 iterations; default 1e-7 for ReLU, off for linear φ (as the particle solver).

    Returns
    -------
    TrainResult
        Trained networks and per-seed diagnostics.

    Raises
    ------
    InvalidInputError
        Non-finite inputs, bad shapes, γ ≤ 0, negative decays, non-positive ``lr``/``tol``/
        ``max_time``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((6, 3)); y = x[:, 0]
    >>> net = init_network(20, 3, seeds=2, gamma=1.0, activation="linear")
    >>> r = train(net, x, y, ridge_readout=0.1, ridge_hidden=0.1, tol=1e-10)
    >>> phi = np.einsum("sni,smi->snm", r.network.features(x), r.network.features(x)) / 20
    >>> fa = phi @ np.linalg.solve(phi + 0.1 * np.eye(6), y)[..., None]   # identity (A)
    >>> bool(r.converged.all() and np.allclose(fa[..., 0], r.network.predict(x), atol=1e-8))
    True
    """
    t_start = _time.perf_counter()
    if not isinstance(net, Network):
        raise InvalidInputError(f"net must be a Network, got {type(net).__name__}")
    s_n, n, dim = net.W.shape
    xa = _inputs(x, dim)
    p = xa.shape[0]
    ya = _targets(y, s_n, p)
    limits.check_elements(s_n, n, p, name="seeds × width × P (pre-activations)")
    gam = net.gamma if gamma is None else nonneg_float(gamma, "gamma", positive=True)
    lam = nonneg_float(ridge_readout, "ridge_readout")
    dlt = nonneg_float(ridge_hidden, "ridge_hidden")
    w_anc = _anchor(anchor_hidden, net.W.shape, "anchor_hidden")
    z_anc = _anchor(anchor_readout, net.z.shape, "anchor_readout")
    step = None if lr is None else nonneg_float(lr, "lr", positive=True)
    tolerance = nonneg_float(tol, "tol", positive=True)
    t_max = math.inf if max_time is None else nonneg_float(max_time, "max_time", positive=True)
    cap = positive_int(max_steps, "max_steps", limit="steps")
    act = net.activation
    frozen = bool(freeze_hidden)
    if stall_tol is not None:
        stall = nonneg_float(stall_tol, "stall_tol")
    else:  # readout-only training is a convex quadratic: no kinks, no stall rule
        stall = 0.0 if frozen else default_stall(act)

    sq = math.sqrt(dim)
    xs = xa / sq  # rows x_μ/√D
    kx = xs @ xs.T
    kx_max = max(float(np.linalg.eigvalsh(kx)[-1]), 0.0)
    inv = 1.0 / (gam * n)
    relu = act == "relu"
    xst = np.ascontiguousarray(xs.T)  # (D, P)
    nd = n * dim
    # linear φ: matrix-vector products only
    if step is None and not frozen and not relu and _LINEAR_FAST:
        return _finish(t_start, gam, act, *_train_linear(
            net.W, net.z, w_anc, z_anc, xs, ya, gam=gam, lam=lam, dlt=dlt, tol=tolerance,
            t_max=t_max, cap=cap, stall=stall))

    # Preallocated state, two copies (current, trial) swapped on acceptance: W, its
    # displacement W − W_anc, the pre-activations h and (ReLU) φ(h), φ'(h); z, Δ, E are small.
    def alloc() -> dict[str, FloatArray]:
        st = {"w": np.empty((s_n, n, dim)), "d": np.empty((s_n, n, dim)),
              "h": np.empty((s_n, n, p))}
        if relu:
            st["phi"], st["dphi"] = np.empty((s_n, n, p)), np.empty((s_n, n, p))
        return st

    cur, nxt = alloc(), alloc()
    dw = np.zeros((s_n, n, dim))  # dW/dt at the current state
    data = np.empty((s_n, n, dim)) if relu and not frozen else dw  # γ Σ_μ Δ_μ g x_μ/√D
    g_rows = np.zeros((s_n, dim))  # linear φ: the data term is z ⊗ γ Δᵀ X/√D per seed
    tmp = np.empty((s_n, n, p)) if relu and not frozen else None

    def dots(a: FloatArray) -> FloatArray:
        """Per-seed ⟨a, a⟩ (one BLAS dot per seed, no temporary)."""
        flat = a.reshape(s_n, 1, -1)
        return np.asarray(np.matmul(flat, flat.reshape(s_n, -1, 1))[:, 0, 0])

    def rank_one(a: FloatArray, alpha: FloatArray, rows: FloatArray, zz: FloatArray) -> None:
        """a[s] += alpha[s] · z[s] ⊗ rows[s] in place (BLAS ger per seed)."""
        for k in range(s_n):
            if alpha[k] != 0.0:
                _ger(float(alpha[k]), rows[k], zz[k], a=a[k].T, overwrite_a=True)

    def forward(st: dict[str, FloatArray], zz: FloatArray) -> tuple[FloatArray, FloatArray,
                                                                      FloatArray]:
        """φ, Δ and the energy of the state (W and W − W_anc set) with readout ``zz``."""
        # one BLAS call over all seeds and neurons: (S·N, D) @ (D, P)
        np.matmul(st["w"].reshape(-1, dim), xst, out=st["h"].reshape(-1, p))
        if relu:
            np.greater(st["h"], 0.0, out=st["dphi"], casting="unsafe")
            np.multiply(st["h"], st["dphi"], out=st["phi"])
            phi = st["phi"]
        else:
            phi = st["h"]
        delta = ya - np.matmul(zz[:, None, :], phi)[:, 0, :] * inv
        dz_z = zz - z_anc
        energy = 0.5 * gam * gam * np.einsum("sp,sp->s", delta, delta)
        energy += 0.5 * lam * np.einsum("sn,sn->s", dz_z, dz_z) / n
        if not frozen:
            energy += 0.5 * dlt * dots(st["d"]) / n
        return phi, delta, energy

    def gradient(st: dict[str, FloatArray], zz: FloatArray, phi: FloatArray,
                 delta: FloatArray) -> FloatArray:
        """dW/dt into ``dw`` (and its data term into ``g_rows`` / ``data``); returns dz/dt."""
        dz = gam * np.matmul(phi, delta[:, :, None])[:, :, 0] - lam * (zz - z_anc)
        if frozen:
            return dz
        if relu:
            assert tmp is not None
            np.multiply(st["dphi"], delta[:, None, :], out=tmp)
            np.multiply(tmp, zz[:, :, None], out=tmp)
            np.matmul(tmp.reshape(-1, p), xs, out=data.reshape(-1, dim))
            np.multiply(data, gam, out=data)
            np.multiply(st["d"], dlt, out=dw)
            np.subtract(data, dw, out=dw)
        else:  # g = z: the back-propagated term is rank one per seed
            np.matmul(delta, xs, out=g_rows)
            np.multiply(st["d"], -dlt, out=dw)
            rank_one(dw, np.full(s_n, gam), g_rows, zz)
        return dz

    def step_estimate(phi: FloatArray, zz: FloatArray, st: dict[str, FloatArray],
                      delta: FloatArray) -> FloatArray:
        kmat = np.matmul(phi.transpose(0, 2, 1), phi)
        if not frozen:
            if relu:
                gd = zz[:, :, None] * st["dphi"]
                gg = np.matmul(gd.transpose(0, 2, 1), gd)
            else:  # g = z: GᵀG = ‖z‖² 11ᵀ
                gg = np.broadcast_to(np.einsum("sn,sn->s", zz, zz)[:, None, None], kmat.shape)
            kmat = kmat + gg * kx
        curv = np.linalg.eigvalsh(kmat / n)[:, -1]
        curv = curv + gam * np.linalg.norm(delta, axis=1) * math.sqrt(kx_max)
        return np.asarray(_STEP_SCALE / np.maximum(curv, 1e-300))

    def rel_grad(dz: FloatArray, zz: FloatArray, st: dict[str, FloatArray]) -> FloatArray:
        g2 = dots(dw) + np.einsum("sn,sn->s", dz, dz)
        p2 = dots(st["w"]) + np.einsum("sn,sn->s", zz, zz)
        return np.asarray(np.sqrt(g2 / n) / np.maximum(np.sqrt(p2 / n), 1.0))

    np.copyto(cur["w"], net.W)
    np.subtract(cur["w"], w_anc, out=cur["d"])
    z = np.array(net.z)
    phi, delta, energy = forward(cur, z)
    dz = gradient(cur, z, phi, delta)
    dt_est = step_estimate(phi, z, cur, delta) if step is None else np.full(s_n, step)
    shrink = np.ones(s_n)
    t = np.zeros(s_n)
    steps = np.zeros(s_n, dtype=np.int64)
    rejected = np.zeros(s_n, dtype=np.int64)
    active = np.ones(s_n, dtype=bool)
    converged = np.zeros(s_n, dtype=bool)
    failed = np.zeros(s_n, dtype=bool)
    stalled = np.zeros(s_n, dtype=bool)
    slack = _KINK_SLACK if act == "relu" else 1e-10  # kink crossings (see particle_dmft)
    e_mark = energy.copy()
    residual = rel_grad(dz, z, cur)
    it = 0
    while True:
        done = active & (residual < tolerance)
        converged |= done
        active &= ~done & (t < t_max)
        if it >= cap or not active.any():
            break
        if it and it % _REFRESH == 0:
            if step is None:
                dt_est = step_estimate(phi, z, cur, delta)
            e_mark = _stall_check(active, stalled, e_mark, energy, stall)
            if not active.any():
                break
        dt, last = _next_dt(shrink, dt_est, t, t_max, active)
        d_old, d_new = cur["d"].reshape(s_n, nd), nxt["d"].reshape(s_n, nd)
        if step is None:
            # exponential Euler (as the particle solver): decays toward the anchors exactly,
            # the data term by an Euler step, so stiff anchors do not limit the step:
            # W − W_anc ← e^{−δ dt} (W − W_anc) + c_δ · data,  c_δ = (1 − e^{−δ dt})/δ
            e_d, e_l = np.exp(-dlt * dt), np.exp(-lam * dt)
            c_d = -np.expm1(-dlt * dt) / dlt if dlt > 0 else dt
            c_l = -np.expm1(-lam * dt) / lam if lam > 0 else dt
            dz_z = z - z_anc
            z_new = z_anc + e_l[:, None] * dz_z + c_l[:, None] * (dz + lam * dz_z)
            if not frozen:
                np.multiply(d_old, e_d[:, None], out=d_new)
                if relu:
                    d_new += c_d[:, None] * data.reshape(s_n, nd)
                else:
                    rank_one(nxt["d"], c_d * gam, g_rows, z)
        else:  # plain gradient descent with the fixed step η (spec §1)
            z_new = z + dt[:, None] * dz
            if not frozen:
                np.multiply(dw.reshape(s_n, nd), dt[:, None], out=d_new)
                d_new += d_old
        if frozen:
            np.copyto(nxt["w"], cur["w"])
            np.copyto(nxt["d"], cur["d"])
        else:
            np.add(w_anc, nxt["d"], out=nxt["w"])
        if act == "relu":
            _flush(nxt["w"])
            _flush(z_new)
            if not frozen:
                np.subtract(nxt["w"], w_anc, out=nxt["d"])
        _, delta_new, e_new = forward(nxt, z_new)
        finite = np.isfinite(e_new)
        if step is None:
            ok = active & finite & (e_new <= energy + slack * np.abs(energy) + 1e-300)
            rej = active & ~ok
            rejected += rej
            shrink = np.where(rej, 0.5 * shrink, shrink)
            dead = rej & (shrink < 1e-12)
        else:
            ok = active & finite
            dead = active & ~finite
        failed |= dead
        active &= ~dead
        it += 1
        if not ok.any():
            continue
        if not ok.all():  # keep the current state of the other seeds (copied per seed)
            keep = np.flatnonzero(~ok)
            for name, arr in nxt.items():
                arr[keep] = cur[name][keep]
            z_new[keep] = z[keep]
            delta_new[keep] = delta[keep]
            e_new = np.where(ok, e_new, energy)
        cur, nxt = nxt, cur
        z, delta, energy = z_new, delta_new, e_new
        phi = cur["phi"] if relu else cur["h"]
        dz = gradient(cur, z, phi, delta)
        t = np.where(ok, np.where(last, t_max, t + dt), t)
        shrink = np.where(ok, np.minimum(1.0, 1.1 * shrink), shrink)
        steps += ok
        residual = np.where(ok, rel_grad(dz, z, cur), residual)
    return _finish(t_start, gam, act, cur["w"], z, delta, t, steps, rejected, converged, failed,
                   stalled, residual)


@small_blas
def readout_ridge(
    net: Network,
    x_train: ArrayLike,
    y_train: ArrayLike,
    x_eval: ArrayLike,
    *,
    ridge: float,
) -> FloatArray:
    """Fresh ridge readout on the frozen features of ``net`` (spec §3, FT protocol).

    Regime: finite width N, hidden layer frozen, readout trained to convergence with decay
    λ = ``ridge`` toward 0 — the fixed point of :func:`train` with ``freeze_hidden=True``:

        f(x) = Φ(x, X) (Φ(X, X) + λ I)⁻¹ y,   Φ(x, x') = φ(h(x))·φ(h(x'))/N,

    computed per seed by a linear solve (independent of γ).

    Parameters
    ----------
    net : Network
        Networks whose hidden layer provides the features.
    x_train : array_like, shape (P, D)
        Training inputs.
    y_train : array_like, shape (P,) or (S, P)
        Training targets, shared or per seed.
    x_eval : array_like, shape (n_eval, D)
        Evaluation inputs.
    ridge : float
        λ > 0.

    Returns
    -------
    ndarray, shape (S, n_eval)
        The readout's predictions.

    Raises
    ------
    InvalidInputError
        Bad shapes, non-finite values, ridge ≤ 0.

    Examples
    --------
    >>> net = init_network(50, 4, seeds=3, gamma=1.0, activation="linear")
    >>> x = np.random.default_rng(1).standard_normal((10, 4)); y = x[:, 1]
    >>> readout_ridge(net, x, y, x[:2], ridge=0.1).shape
    (3, 2)
    """
    if not isinstance(net, Network):
        raise InvalidInputError(f"net must be a Network, got {type(net).__name__}")
    xt = _inputs(x_train, net.dim, "x_train")
    xe = _inputs(x_eval, net.dim, "x_eval")
    ya = _targets(y_train, net.seeds, xt.shape[0], "y_train")
    lam = nonneg_float(ridge, "ridge", positive=True)
    ft = net.features(xt)  # (S, P, N)
    fe = net.features(xe)
    n = net.width
    kxx = np.matmul(ft, ft.transpose(0, 2, 1)) / n
    kxx = 0.5 * (kxx + kxx.transpose(0, 2, 1)) + lam * np.eye(xt.shape[0])
    alpha = np.linalg.solve(kxx, ya[..., None])  # (S, P, 1); SPD, never an explicit inverse
    kex = np.matmul(fe, ft.transpose(0, 2, 1)) / n  # (S, n_eval, P)
    return readonly(np.matmul(kex, alpha)[..., 0])


@dataclass(frozen=True)
class WidthSweep:
    """Distance of finite-width networks to an infinite-width reference (spec §1–§2).

    Attributes
    ----------
    widths : ndarray of int, shape (W,)
        Widths N.
    gaps : ndarray, shape (W, S)
        Per seed, RMS over evaluation inputs of f_N(x) − f_ref(x).
    gap_mean : ndarray, shape (W,)
        Mean of ``gaps`` over seeds.
    gap_stderr : ndarray, shape (W,)
        Standard error of that mean (NaN for one seed).
    slope : float
        Least-squares slope of log(gap_mean) against log(N) (≈ −0.5 for O(N^{-1/2})).
    intercept : float
        Intercept of that fit (gap ≈ e^intercept N^slope).
    converged : ndarray of bool, shape (W, S)
        Whether each training run met ``tol``.
    """

    widths: np.ndarray
    gaps: FloatArray
    gap_mean: FloatArray
    gap_stderr: FloatArray
    slope: float
    intercept: float
    converged: np.ndarray


@small_blas
def width_sweep(
    x: ArrayLike,
    y: ArrayLike,
    x_eval: ArrayLike,
    *,
    widths: Sequence[int],
    seeds: int | Sequence[int],
    reference: ArrayLike,
    gamma: float,
    ridge_readout: float,
    ridge_hidden: float,
    activation: str = "relu",
    anchor: str = "zero",
    tol: float = 1e-8,
    max_time: float | None = None,
    max_steps: int = 200_000,
) -> WidthSweep:
    """Train finite-width networks at several widths and measure their gap to a reference.

    Regime: finite widths N, mean-field GD of spec §1 (automatic step), compared with an
    infinite-width predictor (``particle_dmft(..., neurons=large).f_eval`` or a linear closed
    form of §2); the gap should shrink like N^{-1/2}.

    Parameters
    ----------
    x : array_like, shape (P, D)
        Training inputs.
    y : array_like, shape (P,)
        Training targets.
    x_eval : array_like, shape (n_eval, D)
        Evaluation inputs.
    widths : sequence of int
        Widths N (at least one; the slope needs two).
    seeds : int or sequence of int
        Seeds, as in :func:`init_network` (the same seeds at every width).
    reference : array_like, shape (n_eval,)
        Infinite-width predictions on ``x_eval``.
    gamma, ridge_readout, ridge_hidden, activation
        As in :func:`train` / :func:`init_network`.
    anchor : {"zero", "init"}
        ``"zero"``: W_anc = 0, z_anc = 0 (S-A for linear φ); ``"init"``: W_anc = W at init,
        z_anc = 0 (S-B).
    tol, max_time, max_steps
        As in :func:`train`.

    Returns
    -------
    WidthSweep
        Per-width gaps, their mean and standard error over seeds, and the log-log slope.

    Raises
    ------
    InvalidInputError
        Bad shapes or values.

    Examples
    --------
    >>> from finetune_bounds.infinite_width._dmft import linear_closed_form_sb
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((6, 4)); y = x[:, 0]; xe = rng.standard_normal((3, 4))
    >>> ref = linear_closed_form_sb(x, y, xe, gamma=0.5, ridge_readout=0.5,
    ...                             ridge_hidden=0.5).f_eval
    >>> ws = width_sweep(x, y, xe, widths=[50, 800], seeds=3, reference=ref, gamma=0.5,
    ...                  ridge_readout=0.5, ridge_hidden=0.5, activation="linear",
    ...                  anchor="init", tol=1e-8)
    >>> bool(ws.gap_mean[1] < ws.gap_mean[0])
    True
    """
    xa = as_float_array(x, "x", ndim=2)
    p, dim = xa.shape
    ya = as_vector(y, "y", p)
    xe = _inputs(x_eval, dim, "x_eval")
    ref = as_vector(reference, "reference", xe.shape[0])
    check_choice(anchor, "anchor", ANCHORS)
    check_choice(activation, "activation", ACTIVATIONS)
    if isinstance(widths, int | np.integer):
        widths = [int(widths)]
    ws = np.array(_size_list(widths, "widths", limit="width"), dtype=np.int64)
    seed_ints = _seed_list(seeds)
    limits.check(len(seed_ints), "draws", "seeds")
    gaps = np.empty((ws.size, len(seed_ints)))
    conv = np.empty((ws.size, len(seed_ints)), dtype=bool)
    for k, width in enumerate(ws):
        net = init_network(int(width), dim, seeds=seed_ints, gamma=gamma, activation=activation)
        res = train(
            net,
            xa,
            ya,
            ridge_readout=ridge_readout,
            ridge_hidden=ridge_hidden,
            anchor_hidden=net.W if anchor == "init" else None,
            tol=tol,
            max_time=max_time,
            max_steps=max_steps,
        )
        diff = res.network.predict(xe) - ref
        gaps[k] = np.sqrt(np.mean(diff * diff, axis=1))
        conv[k] = res.converged
    mean = gaps.mean(axis=1)
    s = gaps.shape[1]
    err = gaps.std(axis=1, ddof=1) / math.sqrt(s) if s > 1 else np.full(ws.size, math.nan)
    if ws.size >= 2 and np.all(mean > 0) and np.unique(ws).size >= 2:
        slope, intercept = np.polyfit(np.log(ws), np.log(mean), 1)
    else:
        slope, intercept = math.nan, math.nan
    return WidthSweep(
        widths=_frozen(ws),
        gaps=readonly(gaps),
        gap_mean=readonly(mean),
        gap_stderr=readonly(np.asarray(err, dtype=np.float64)),
        slope=float(slope),
        intercept=float(intercept),
        converged=_frozen(conv),
    )


from ._transfer import transfer_network  # noqa: E402  (the protocols at finite width, spec §3)
