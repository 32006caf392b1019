"""Kernel learning curves (Bordelon–Canatar–Pehlevan), spec ``infinite-width-transfer.md`` §4.

Regime: kernel (ridge) regression with a *fixed* kernel on P = n i.i.d. samples, in the limit
P → ∞ with the spectrum held fixed, under the standard replica / "omniscient" approximation of
Bordelon, Canatar & Pehlevan (ICML 2020) and Canatar, Bordelon & Pehlevan, *Spectral bias and
task-model alignment explain generalization in kernel regression and infinitely wide neural
networks*, Nat. Commun. 12, 2914 (2021). Fine-tuning with a fixed feature kernel Φ₁ is exactly
this setting (spec §4), so these curves are FT learning curves.

Normalisation (the one of Canatar et al. 2021, eqs. (3)–(5), written with v_ρ = √η_ρ w̄_ρ):

- the kernel is expanded in its Mercer eigenfunctions under the input density p,
  ``∫ K(x, x') φ_ρ(x') p(x') dx' = η_ρ φ_ρ(x)`` with ``E_p[φ_ρ φ_σ] = δ_ρσ``;
- the target is ``f(x) = Σ_ρ v_ρ φ_ρ(x)`` and ``target_power`` holds ``v_ρ²`` (so
  ``Σ_ρ v_ρ² = E_p[f²]``, the error of the zero predictor);
- the predictor is ``f̂(x) = k(x)ᵀ (K + λ I)⁻¹ y`` with K the *unnormalised* n × n Gram matrix
  and λ = ``ridge`` (i.e. the objective ``Σ_μ (f̂(x_μ) − y_μ)² + λ ‖f̂‖²_H``);
- labels ``y_μ = f(x_μ) + ε_μ`` with ``Var ε = σ²`` = ``noise_variance``; the error
  ``E_g = E_p[(f̂ − f)²]`` is measured against the *noise-free* target (add σ² for noisy test
  labels), averaged over training sets.

Equations (κ > 0 when λ > 0 or n < rank):

    κ = λ + κ Σ_ρ η_ρ/(nη_ρ + κ),     γ = Σ_ρ n η_ρ²/(nη_ρ + κ)²,
    E_ρ = κ² v_ρ² / ((nη_ρ + κ)² (1 − γ)),     E_g = Σ_ρ E_ρ + γ σ²/(1 − γ).

At the root, ``1 − γ = λ/κ + Σ_ρ η_ρ κ/(nη_ρ + κ)²`` (a sum of non-negative terms, used here so
that 1 − γ carries no cancellation near the interpolation peak).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._numerics import Solved, SolverInfo, SolverStatus, rank_mask
from .._validation import FloatArray, as_float_array, as_vector, nonneg_float, readonly
from ..errors import InvalidInputError

__all__ = ["EmpiricalSpectrum", "LearningCurve", "empirical_spectrum", "learning_curve"]

#: severity order of the per-n statuses (the aggregate is the worst)
_ORDER = (
    SolverStatus.EXACT,
    SolverStatus.CONVERGED,
    SolverStatus.MAX_ITERATIONS,
    SolverStatus.BRACKET_LOST,
    SolverStatus.NOT_FINITE,
)
_XTOL = 1e-14
_MAX_ITER = 200
_EPS = float(np.finfo(np.float64).eps)


def _frozen(a: NDArray[Any], shape: tuple[int, ...]) -> NDArray[Any]:
    """A read-only copy of ``a`` reshaped to ``shape`` (0-d kept 0-d, unlike ``readonly``)."""
    out = np.array(a).reshape(shape)
    out.setflags(write=False)
    return out


@dataclass(frozen=True)
class LearningCurve(Solved):
    """Kernel learning curve E_g(n) and its order parameters (spec §4).

    Arrays over n have the shape of the ``n`` passed in; ``mode_errors`` appends the mode axis.

    Attributes
    ----------
    n : ndarray
        Sample sizes (float64).
    error : ndarray
        Generalisation error ``E_g`` against the noise-free target (``inf`` at the ridgeless
        interpolation peak n = rank when noise or out-of-span target power is present).
    kappa : ndarray
        Renormalised ridge κ (0 in the ridgeless interpolation regime n ≥ rank).
    gamma : ndarray
        γ = Σ_ρ nη_ρ²/(nη_ρ + κ)² ∈ [0, 1] (rank/n in the ridgeless regime n ≥ rank).
    mode_errors : ndarray, shape (*n.shape, modes)
        Per-mode errors E_ρ, in the order of the modes passed in; ``error`` = their sum plus the
        noise term γσ²/(1 − γ).
    solved : ndarray of bool
        Per n: exact or converged.
    info : SolverInfo
        ``status``: ``exact`` when every n had a closed form (n = 0, or ridge = 0 with
        n ≥ rank), ``converged`` when every other n met the stopping rule, else the worst of
        ``not_finite`` > ``bracket_lost`` > ``max_iterations``. ``iterations``: the most Newton
        steps any n needed; ``residual``: the largest |λ/κ + Σ η/(nη + κ) − 1|; ``tolerance``:
        the relative log-κ bracket width at which the solve stops; ``extra``: ``f_tolerance``,
        ``bracket_width``, ``failed`` (count), ``rank``, ``interpolating`` (count of n in the
        ridgeless n ≥ rank regime).
    """

    n: FloatArray
    error: FloatArray
    kappa: FloatArray
    gamma: FloatArray
    mode_errors: FloatArray
    solved: NDArray[np.bool_]
    info: SolverInfo = field(repr=False)


@dataclass(frozen=True)
class EmpiricalSpectrum:
    """Spectrum of a kernel under the uniform measure on a pool of M inputs.

    Attributes
    ----------
    eigenvalues : ndarray, shape (M,)
        η = eig(K)/M in descending order; values at or below numpy's rank cut-off are set to 0.
    target_power : ndarray, shape (M,)
        v² = (Uᵀy)²/M, aligned with ``eigenvalues`` (Σ v² = mean(y²)).
    eigenvectors : ndarray, shape (M, M)
        U (columns orthonormal in ℝ^M); the eigenfunctions on the pool are φ_ρ = √M U[:, ρ].
    """

    eigenvalues: FloatArray
    target_power: FloatArray
    eigenvectors: FloatArray = field(repr=False)


def empirical_spectrum(gram: ArrayLike, targets: ArrayLike) -> EmpiricalSpectrum:
    """Kernel eigenvalues and target powers from an empirical pool of inputs (spec §4).

    With the pool's uniform measure as the input density, the Mercer problem becomes
    ``(K/M) u = η u`` and ``φ_ρ(x_i) = √M u_ρ,i``, so ``η = eig(K)/M`` and
    ``v_ρ = E[φ_ρ f] = u_ρᵀy/√M`` — the normalisation of :func:`learning_curve`. Sampling n
    training points i.i.d. (with replacement) from the pool and testing on the whole pool is then
    exactly the setting of the theory.

    Parameters
    ----------
    gram : array_like, shape (M, M)
        Symmetric PSD kernel Gram matrix K_ij = k(x_i, x_j) on the pool (unnormalised).
    targets : array_like, shape (M,)
        Target values f(x_i) on the pool.

    Returns
    -------
    EmpiricalSpectrum

    Raises
    ------
    InvalidInputError
        Non-square, non-symmetric (beyond 1e-8 relative), clearly indefinite (an eigenvalue below
        −1e-8 · η_max) or non-finite ``gram``; ``targets`` of the wrong length.
    """
    k = as_float_array(gram, "gram", ndim=2)
    m = k.shape[0]
    if k.shape != (m, m):
        raise InvalidInputError(f"gram must be square, got shape {k.shape}")
    y = as_vector(targets, "targets", m)
    scale = float(np.max(np.abs(k)))
    if float(np.max(np.abs(k - k.T))) > 1e-8 * max(scale, np.finfo(np.float64).tiny):
        raise InvalidInputError("gram must be symmetric (|K − Kᵀ| ≤ 1e-8 · max|K|)")
    w, u = np.linalg.eigh(0.5 * (k + k.T))
    w, u = w[::-1] / m, u[:, ::-1]
    top = max(float(w[0]), 0.0)
    if float(w[-1]) < -1e-8 * top:
        raise InvalidInputError(
            f"gram must be positive semi-definite: eigenvalue {w[-1] * m:.3g} "
            f"(largest {top * m:.3g})"
        )
    w = np.where(rank_mask(np.abs(w), (m, m)), np.maximum(w, 0.0), 0.0)
    v2 = (u.T @ y) ** 2 / m
    return EmpiricalSpectrum(readonly(w), readonly(v2), readonly(np.ascontiguousarray(u)))


def _solve_kappa(
    eta: FloatArray, ns: FloatArray, ridge: float
) -> tuple[FloatArray, NDArray[np.int64], int, FloatArray, FloatArray]:
    """κ per n (1-D) by safeguarded Newton in t = log κ; returns (κ, status code, iterations,
    |f| residual, relative bracket width). ``eta``: the positive eigenvalues only."""
    r = eta.shape[0]
    kappa = np.zeros_like(ns)
    code = np.zeros(ns.shape, dtype=np.int64)  # index into _ORDER
    resid = np.zeros_like(ns)
    width = np.zeros_like(ns)
    total = float(eta.sum())
    # closed forms: n = 0 gives κ = λ + Σ η; ridge = 0 and n ≥ r gives κ = 0 (interpolation)
    zero = ns == 0
    kappa[zero] = ridge + total
    interp = (ridge == 0) & (ns >= r) & ~zero
    todo = np.flatnonzero(~zero & ~interp)
    if todo.size == 0:
        return kappa, code, 0, resid, width
    eta_min = float(eta.min()) if r else 0.0
    chunk = max(1, 2_000_000 // max(r, 1))
    iters = 0

    def f_of(t: FloatArray, nn: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        kap = np.exp(t)
        frac = eta / (nn[:, None] * eta + kap[:, None])  # η/(nη + κ)
        rk = ridge / kap
        f = rk + frac.sum(axis=1) - 1.0
        # d f / d log κ = −λ/κ − Σ η κ/(nη + κ)²  (= −(1 − γ) at the root)
        df = -rk - np.sum(frac * (1.0 - nn[:, None] * frac), axis=1)
        return f, df, kap

    for start in range(0, todo.size, chunk):
        idx = todo[start : start + chunk]
        nn = ns[idx]
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            # bracket: κ ≥ λ and, for n < r, κ ≥ η_min (r − n) (from the ridgeless root);
            # κ ≤ λ + Σ η and, for λ > 0, n > r, κ ≤ λ n/(n − r)
            lo = np.log(np.maximum(ridge, np.where(nn < r, eta_min * (r - nn), 0.0)))
            up = np.full_like(nn, ridge + total)
            if ridge > 0:
                up = np.where(nn > r, np.minimum(up, ridge * nn / (nn - r)), up)
            hi = np.log(up)
            a, b = lo.copy(), np.maximum(hi, lo)
            f_lo, _, _ = f_of(a, nn)
            f_hi, _, _ = f_of(b, nn)
            slack = 8 * _EPS * (1.0 + r)
            lost = (f_lo < -slack) | (f_hi > slack)
            t = b.copy()
            k = 0
            while True:
                f, df, kap = f_of(t, nn)
                a = np.where(f > 0, t, a)  # f decreases in t: f > 0 means the root is right
                b = np.where(f > 0, b, t)
                done = (np.abs(f) <= 16 * _EPS) | (b - a <= _XTOL * np.maximum(1.0, np.abs(b)))
                bad = ~(np.isfinite(t) & np.isfinite(f))
                stop = done | bad | lost
                if np.all(stop) or k >= _MAX_ITER:
                    break
                newton = t - f / df
                ok = np.isfinite(newton) & (newton > a) & (newton < b)
                t = np.where(stop, t, np.where(ok, newton, 0.5 * (a + b)))
                k += 1
        kappa[idx] = kap
        resid[idx] = np.abs(f)
        width[idx] = (b - a) / np.maximum(1.0, np.abs(b))
        code[idx] = np.select([bad, lost, done], [4, 3, 1], default=2)
        iters = max(iters, k)
    return kappa, code, iters, resid, width


def learning_curve(
    eigenvalues: ArrayLike,
    target_power: ArrayLike,
    n: ArrayLike,
    *,
    ridge: float = 0.0,
    noise_variance: float = 0.0,
) -> LearningCurve:
    """Generalisation error of kernel (ridge) regression vs sample size (spec §4).

    Solves ``κ = λ + κ Σ_ρ η_ρ/(nη_ρ + κ)`` for κ > 0, vectorised over n, by a safeguarded
    Newton iteration in t = log κ inside the bracket ``[max(λ, η_min⁺ (r − n)), λ + Σ η]``
    (further capped at ``λ n/(n − r)`` when λ > 0 and n > r; r = number of positive
    eigenvalues), which always holds the unique root: f(t) = λ/κ + Σ η/(nη + κ) − 1 is strictly
    decreasing, every evaluation shrinks the bracket and a Newton step that leaves it is replaced
    by bisection. Stops when |f| ≤ 16·eps or the log-κ bracket is narrower than 1e-14 relative.
    Then ``γ = Σ nη²/(nη + κ)²``, ``E_ρ = κ²v_ρ²/((nη_ρ + κ)²(1 − γ))`` and
    ``E_g = Σ E_ρ + γσ²/(1 − γ)``. Normalisation: see the module docstring (Canatar, Bordelon &
    Pehlevan 2021; Gram matrix unnormalised, ridge as in ``(K + λI)⁻¹``, eigenvalues of the
    integral operator under the input density, ``v_ρ²`` the squared target coefficients).

    Closed forms (status ``exact``):

    - n = 0: κ = λ + Σ η, γ = 0, E_ρ = v_ρ², E_g = Σ v_ρ²;
    - ridge = 0 and n ≥ r (ridgeless interpolation, the λ → 0⁺ limit): κ = 0, γ = r/n,
      E_ρ = 0 on the r positive modes and v_ρ²/(1 − r/n) on the null modes, noise term
      rσ²/(n − r). At the peak n = r the limit is returned: E_ρ = 0 on positive modes (∝ √λ),
      ``inf`` on null modes with v_ρ² > 0, and the noise term is ``inf`` when σ² > 0.

    Parameters
    ----------
    eigenvalues : array_like, shape (modes,)
        Kernel eigenvalues η_ρ ≥ 0 under the input distribution (zeros allowed).
    target_power : array_like, shape (modes,)
        Squared target coefficients v_ρ² ≥ 0, aligned with ``eigenvalues``.
    n : float or array_like
        Sample sizes (≥ 0; non-integer values are allowed, the theory is continuous in n).
    ridge : float
        λ ≥ 0 in ``(K + λI)⁻¹`` (unnormalised Gram matrix).
    noise_variance : float
        Label-noise variance σ² ≥ 0.

    Returns
    -------
    LearningCurve
        Check ``.converged`` (or ``check_converged(result.info, ...)``); a non-converged n is
        reported, never silently replaced by NaN.

    Raises
    ------
    InvalidInputError
        Negative or non-finite eigenvalues / target powers / n, mismatched lengths, negative
        or non-finite ridge / noise_variance.

    References
    ----------
    B. Bordelon, A. Canatar, C. Pehlevan, "Spectrum dependent learning curves in kernel
    regression and wide neural networks", ICML 2020. A. Canatar, B. Bordelon, C. Pehlevan,
    Nat. Commun. 12, 2914 (2021).

    Examples
    --------
    >>> lc = learning_curve([1.0], [1.0], [0, 1, 4], ridge=1.0)
    >>> [round(float(e), 4) for e in lc.error]
    [1.0, 0.4472, 0.0652]
    """
    eta = as_vector(eigenvalues, "eigenvalues")
    v2 = as_vector(target_power, "target_power", eta.shape[0])
    if np.any(eta < 0):
        raise InvalidInputError(f"eigenvalues must be ≥ 0, got minimum {eta.min():.3g}")
    if np.any(v2 < 0):
        raise InvalidInputError(f"target_power must be ≥ 0, got minimum {v2.min():.3g}")
    lam = nonneg_float(ridge, "ridge")
    s2 = nonneg_float(noise_variance, "noise_variance")
    n_arr = as_float_array(n, "n", allow_empty=True)
    if np.any(n_arr < 0):
        raise InvalidInputError(f"n must be ≥ 0, got minimum {n_arr.min():.3g}")
    shape = n_arr.shape
    ns = n_arr.reshape(-1)
    pos = eta > 0
    r = int(np.count_nonzero(pos))

    kappa, code, iters, resid, width = _solve_kappa(eta[pos], ns, lam)
    zero = ns == 0
    interp = (lam == 0) & (ns >= r) & ~zero

    m = eta.shape[0]
    gamma = np.zeros_like(ns)
    omg = np.ones_like(ns)  # 1 − γ
    mode = np.empty((ns.shape[0], m))
    chunk = max(1, 2_000_000 // max(m, 1))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for start in range(0, ns.shape[0], chunk):
            sl = slice(start, start + chunk)
            nn, kap = ns[sl, None], kappa[sl, None]
            den = nn * eta + kap
            # q = κ/(nη + κ), with the κ → 0 limits: 0 on positive modes, 1 on null modes
            q = np.where(den > 0, kap / np.where(den > 0, den, 1.0), 1.0)
            frac = np.where(den > 0, eta / np.where(den > 0, den, 1.0), 0.0)
            g = np.sum(nn * frac * frac, axis=1)
            om = np.where(
                kappa[sl] > 0,
                lam / np.where(kappa[sl] > 0, kappa[sl], 1.0) + np.sum(frac * q, axis=1),
                1.0 - g,
            )
            # ridgeless interpolation: γ = r/n and 1 − γ = (n − r)/n exactly (1 − Σ 1/n would
            # leave ~1e-16 at n = r, a huge finite error where the peak is infinite)
            g = np.where(interp[sl], r / np.where(ns[sl] > 0, ns[sl], 1.0), g)
            om = np.where(interp[sl], (ns[sl] - r) / np.where(ns[sl] > 0, ns[sl], 1.0), om)
            gamma[sl], omg[sl] = g, om
            num = q * q * v2
            mode[sl] = np.where(num > 0, num / om[:, None], 0.0)
        gamma = np.where(zero, 0.0, gamma)
        omg = np.where(zero, 1.0, np.maximum(omg, 0.0))
        mode[zero] = v2
        noise = np.where(gamma * s2 > 0, gamma * s2 / omg, 0.0)
        error = mode.sum(axis=1) + noise

    worst = int(code.max(initial=0))
    extra: dict[str, Any] = {
        "f_tolerance": 16 * _EPS,
        "bracket_width": float(np.max(width, initial=0.0)),
        "failed": int(np.count_nonzero(code >= 2)),
        "rank": r,
        "interpolating": int(np.count_nonzero(interp)),
    }
    finite_res = np.where(np.isfinite(resid), resid, np.inf)
    info = SolverInfo(
        _ORDER[worst],
        iterations=iters,
        residual=float(np.max(finite_res, initial=0.0)),
        tolerance=_XTOL if worst >= 1 else math.nan,
        extra=extra,
    )
    return LearningCurve(
        n=_frozen(ns, shape),
        error=_frozen(error, shape),
        kappa=_frozen(kappa, shape),
        gamma=_frozen(gamma, shape),
        mode_errors=_frozen(mode, (*shape, m)),
        solved=_frozen(code <= 1, shape),
        info=info,
    )
