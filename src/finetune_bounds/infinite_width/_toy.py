"""Linear toy model of transfer in the proportional limit (spec ``infinite-width-transfer.md`` §4).

Regime: linear φ, infinite width, x ~ N(0, I_D), D → ∞ with P₁ = ν₁D source and P₂ = ν₂D target
samples. Teachers β₁, β₂ with |β|² = D and alignment α_s = β₁·β₂/D; labels
y = β·x/√D + noise (variances σ₁², σ₂²). Every error is measured against the noise-free target
function, E = E_x (f(x) − β₂·x/√D)² (add σ₂² for noisy test labels).

Ingredients (derivations in the function docstrings):

- Marchenko–Pastur moments of Ŝ = XᵀX/D (mean ν, an atom 1 − ν at 0 when ν < 1): the Stieltjes
  transform m(−κ) = ∫dμ(s)/(s + κ) is the positive root of κm² + (κ + ν − 1)m − 1 = 0 and
  ∫dμ/(s + κ)² = m(1 + m)/r with r = √((κ + ν − 1)² + 4κ) (:func:`mp_stieltjes`);
- ridge limits q, o, error of β̂(κ) = (Ŝ + κI)⁻¹Xᵀy/√D (:func:`ridge_limits`);
- the source closed forms S-A / S-B of §2 with their O(1) controls λ̂, ŝ (:func:`source_limit`);
- fine-tuning (fresh ridge readout on the source feature kernel) from the kernel learning curve
  of §4, with lazy and rich scratch baselines (:func:`toy_transfer`), and the sign of the
  transfer gain over a grid (:func:`phase_diagram`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._numerics import Solved, SolverInfo, SolverStatus, check_converged
from .._validation import FloatArray, as_float_array, check_choice, nonneg_float
from ..errors import InvalidInputError
from ._checks import ensure_finite
from ._dmft import _root_log

__all__ = [
    "PhaseDiagram",
    "RidgeLimits",
    "SourceLimit",
    "ToyTransfer",
    "mp_stieltjes",
    "phase_diagram",
    "ridge_limits",
    "source_limit",
    "toy_transfer",
]

_SOURCES = ("S-B", "S-A")
_ORDER = (
    SolverStatus.EXACT,
    SolverStatus.CONVERGED,
    SolverStatus.MAX_ITERATIONS,
    SolverStatus.BRACKET_LOST,
    SolverStatus.NOT_FINITE,
)


def _out(a: NDArray[Any]) -> Any:
    """A 0-d result as a Python float, otherwise a read-only array."""
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim == 0:
        return float(arr)
    arr = np.array(arr)
    arr.setflags(write=False)
    return arr


def _nonneg_array(x: ArrayLike, name: str, *, positive: bool = False) -> FloatArray:
    arr = as_float_array(x, name)
    bad = arr <= 0 if positive else arr < 0
    if np.any(bad):
        raise InvalidInputError(
            f"{name} must be {'> 0' if positive else '≥ 0'}, got minimum {float(arr.min()):.3g}"
        )
    return arr


def _worst(infos: list[SolverInfo]) -> SolverInfo:
    if not infos:
        return SolverInfo(SolverStatus.EXACT)
    worst = max(infos, key=lambda i: _ORDER.index(i.status) if i.status in _ORDER else 99)
    return SolverInfo(
        worst.status,
        iterations=max(i.iterations for i in infos),
        residual=max(i.residual for i in infos),
        tolerance=worst.tolerance,
        extra={"solves": len(infos)},
    )


# ---------------------------------------------------------------------------------------------
# Marchenko–Pastur moments and ridge limits
# ---------------------------------------------------------------------------------------------
def mp_stieltjes(nu: ArrayLike, kappa: ArrayLike) -> tuple[Any, Any]:
    """Marchenko–Pastur moments ∫dμ(s)/(s + κ) and ∫dμ(s)/(s + κ)² of Ŝ = XᵀX/D (spec §4).

    Regime: D → ∞ with P = νD, X ∈ ℝ^{P×D} with N(0, 1) entries; μ is the limiting spectral
    measure of Ŝ (mean ν, second moment ν² + ν, an atom of mass 1 − ν at 0 when ν < 1).

    Derivation: for the resolvent G = (Ŝ + κI)⁻¹ the rank-one (Sherman–Morrison) self-consistency
    gives m = 1/(κ + ν/(1 + m)), i.e. κm² + (κ + ν − 1)m − 1 = 0, whose positive root is

        m = 2/(a + r) (a ≥ 0),   m = (r − a)/(2κ) (a < 0),   a = κ + ν − 1,  r = √(a² + 4κ)

    (two cancellation-free forms of the same root). Differentiating the quadratic,
    dm/dκ = −m(1 + m)/(2κm + a) = −m(1 + m)/r, so ∫dμ/(s + κ)² = m(1 + m)/r.

    Parameters
    ----------
    nu : float or array_like
        ν = P/D ≥ 0.
    kappa : float or array_like
        κ > 0 (broadcast against ``nu``).

    Returns
    -------
    (m1, m2) : floats or ndarrays
        ∫dμ/(s + κ) and ∫dμ/(s + κ)² (broadcast shape; floats for scalar input).

    Raises
    ------
    InvalidInputError
        ν < 0, κ ≤ 0 or non-finite input.

    Examples
    --------
    >>> m1, m2 = mp_stieltjes(0.0, 2.0)   # Ŝ = 0: 1/κ and 1/κ²
    >>> round(m1, 12), round(m2, 12)
    (0.5, 0.25)
    """
    n = _nonneg_array(nu, "nu")
    k = _nonneg_array(kappa, "kappa", positive=True)
    _broadcast(n, k)
    m1, m2 = _mp(n, k)
    ensure_finite("mp_stieltjes", m1, m2, cause="kappa too small or nu/kappa too large: the "
                  "moments overflow float64")
    return _out(m1), _out(m2)


def _broadcast(*arrays: FloatArray) -> None:
    try:
        np.broadcast_shapes(*(a.shape for a in arrays))
    except ValueError as exc:
        raise InvalidInputError(f"nu and kappa do not broadcast: {exc}") from None


def _mp(nu: FloatArray, kappa: FloatArray) -> tuple[FloatArray, FloatArray]:
    with np.errstate(all="ignore"):
        a = kappa + nu - 1.0
        r = np.hypot(a, 2.0 * np.sqrt(kappa))  # √(a² + 4κ) without overflow
        m = np.where(a >= 0, 2.0 / np.where(a >= 0, a + r, 1.0), (r - a) / (2.0 * kappa))
        m2 = m * (1.0 + m) / r
    return m, m2


def _ridge(
    nu: FloatArray, kappa: FloatArray, s2: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(q, o, ∫ s/(s+κ)²) in the limit; see :func:`ridge_limits`."""
    m1, m2 = _mp(nu, kappa)
    o = 1.0 - kappa * m1  # ∫ s/(s+κ)
    j1 = m1 - kappa * m2  # ∫ s/(s+κ)²
    j2 = 1.0 - 2.0 * kappa * m1 + kappa * kappa * m2  # ∫ s²/(s+κ)²
    return j2 + s2 * j1, o, j1


@dataclass(frozen=True)
class RidgeLimits:
    """Proportional-limit statistics of ridge regression on an isotropic teacher (spec §4).

    Attributes
    ----------
    nu, kappa : float or ndarray
        The inputs (broadcast).
    q : float or ndarray
        ‖β̂‖²/D = ∫s²/(s + κ)² + σ²∫s/(s + κ)².
    overlap : float or ndarray
        o = β̂·β/D = ∫s/(s + κ).
    cosine : float or ndarray
        ρ = o/√q (0 when q = 0).
    error : float or ndarray
        ‖β̂ − β‖²/D = q − 2o + 1 (test error against the noise-free teacher).
    stieltjes : float or ndarray
        m(−κ) = ∫dμ/(s + κ), a diagnostic.
    """

    nu: Any
    kappa: Any
    q: Any
    overlap: Any
    cosine: Any
    error: Any
    stieltjes: Any = field(repr=False)


def ridge_limits(nu: ArrayLike, kappa: ArrayLike, noise_variance: float = 0.0) -> RidgeLimits:
    """Limits of ridge regression β̂(κ) = (Ŝ + κI)⁻¹Xᵀy/√D, Ŝ = XᵀX/D (spec §4).

    Regime: D → ∞, P = νD, x ~ N(0, I_D), y = β·x/√D + ε with |β|² = D (isotropic teacher,
    independent of X) and Var ε = σ². Writing Xᵀy/√D = Ŝβ + Xᵀε/√D:

        q = ‖β̂‖²/D → ∫s²/(s + κ)² dμ + σ² ∫s/(s + κ)² dμ,   o = β̂·β/D → ∫s/(s + κ) dμ,

    and the test error is ‖β̂ − β‖²/D = q − 2o + 1. The integrals are the Marchenko–Pastur
    moments of :func:`mp_stieltjes`: ∫s/(s+κ) = 1 − κm₁, ∫s/(s+κ)² = m₁ − κm₂,
    ∫s²/(s+κ)² = 1 − 2κm₁ + κ²m₂. Vectorised: ``nu`` and ``kappa`` broadcast.

    Parameters
    ----------
    nu : float or array_like
        ν = P/D ≥ 0.
    kappa : float or array_like
        Ridge κ > 0 (in the (Ŝ + κI)⁻¹ convention).
    noise_variance : float
        σ² ≥ 0.

    Returns
    -------
    RidgeLimits

    Raises
    ------
    InvalidInputError
        ν < 0, κ ≤ 0, σ² < 0 or non-finite input.

    Examples
    --------
    >>> r = ridge_limits(2.0, [0.1, 1.0])
    >>> [round(float(e), 4) for e in r.error]
    [0.0123, 0.2071]
    """
    n = _nonneg_array(nu, "nu")
    k = _nonneg_array(kappa, "kappa", positive=True)
    s2 = nonneg_float(noise_variance, "noise_variance")
    _broadcast(n, k)
    n, k = np.broadcast_arrays(n, k)
    with np.errstate(all="ignore"):
        q, o, _ = _ridge(n, k, s2)
        rho = np.where(q > 0, o / np.sqrt(np.where(q > 0, q, 1.0)), 0.0)
        err = np.maximum(q - 2.0 * o + 1.0, 0.0)
        m1, _ = _mp(n, k)
    ensure_finite("ridge_limits", q, o, rho, err, m1,
                  cause="kappa too small or nu/kappa too large for float64")
    return RidgeLimits(_out(n), _out(k), _out(q), _out(o), _out(rho), _out(err), _out(m1))


# ---------------------------------------------------------------------------------------------
# source stage
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SourceLimit(Solved):
    """The source-trained linear network in the proportional limit (spec §2, §4).

    Attributes
    ----------
    source : str
        ``"S-B"`` (kernel I + (c₁ − 1)bbᵀ) or ``"S-A"`` (kernel c₁ bbᵀ).
    kappa : float
        κ₁ (``inf`` for S-A at or above threshold: β̂ = 0).
    spike : float
        c₁ = λ₁/κ₁ (0 for S-A at or above threshold: the kernel vanishes).
    rho : float
        ρ₁, the cosine of β̂₁ with β₁ (0 when β̂₁ = 0).
    q : float
        ‖β̂₁‖²/D.
    error : float
        Source test error ‖β̂₁ − β₁‖²/D of the source predictor (diagnostic).
    info : SolverInfo
        Root-finding diagnostics (``exact`` when no root was needed); ``extra`` holds the S-A
        threshold λ̂_c = √(ν(ν + 1 + σ²)).
    """

    source: str
    kappa: float
    spike: float
    rho: float
    q: float
    error: float
    info: SolverInfo = field(repr=False)


def _check_source(source: str, s_hat: float | None, lam_hat: float | None) -> tuple[str, float]:
    src = check_choice(source, "source", _SOURCES)
    if src == "S-B":
        if s_hat is None:
            raise InvalidInputError("source 'S-B' needs s_hat = γ²D/(λδ) ≥ 0")
        return src, nonneg_float(s_hat, "s_hat")
    if lam_hat is None:
        raise InvalidInputError("source 'S-A' needs lam_hat = √(λδ)/(γ√D) > 0")
    return src, nonneg_float(lam_hat, "lam_hat", positive=True)


def _source(src: str, nu: float, ctrl: float, lam: float, s2: float) -> SourceLimit:
    """Validated inputs; ``ctrl`` is ŝ (S-B) or λ̂ (S-A)."""
    nu_a = np.asarray(nu, dtype=np.float64)

    def q_of(k: float) -> float:
        return float(_ridge(nu_a, np.asarray(k, dtype=np.float64), s2)[0])

    thr = math.sqrt(nu * (nu + 1.0 + s2))
    if src == "S-B":

        def fun(k: float) -> float:
            return math.sqrt(k / lam) - 1.0 + ctrl * k * k * q_of(k)

        if fun(lam) <= 0.0:  # ŝ = 0 or ν = 0: κ = λ exactly (lazy)
            kappa, info = lam, SolverInfo(SolverStatus.EXACT)
        else:
            lo = lam
            while fun(lo) >= 0.0 and lo > 1e-300:
                lo /= 10.0
            kappa, info = _root_log(fun, lo, lam, "S-B")
        spike = max(1.0, lam / kappa)  # κ ≤ λ: c₁ ≥ 1 (guard the last-bit rounding)
    else:
        if ctrl >= thr:  # β̂ = 0: no features survive
            return SourceLimit(
                "S-A", math.inf, 0.0, 0.0, 0.0, 1.0,
                SolverInfo(SolverStatus.EXACT, extra={"threshold": thr}),
            )

        def fun(k: float) -> float:
            return k * math.sqrt(q_of(k)) - ctrl

        hi = 1.0
        while fun(hi) <= 0.0 and hi < 1e300:
            hi *= 10.0
        lo = min(hi, 1.0)
        while fun(lo) >= 0.0 and lo > 1e-300:
            lo /= 10.0
        kappa, info = _root_log(fun, lo, hi, "S-A")
        spike = lam / kappa
    info = SolverInfo(info.status, info.iterations, info.residual, info.tolerance,
                      {**info.extra, "threshold": thr})
    if not math.isfinite(kappa):
        return SourceLimit(src, kappa, math.nan, math.nan, math.nan, math.nan, info)
    q, o, _ = _ridge(nu_a, np.asarray(kappa), s2)
    qf, of = float(q), float(o)
    rho = of / math.sqrt(qf) if qf > 0 else 0.0
    return SourceLimit(src, kappa, spike, rho, qf, max(qf - 2 * of + 1.0, 0.0), info)


def source_limit(
    nu1: float,
    *,
    source: str = "S-B",
    s_hat: float | None = None,
    lam_hat: float | None = None,
    ridge_readout: float = 1.0,
    noise_variance: float = 0.0,
    strict: bool = False,
) -> SourceLimit:
    """Source stage (S-B or S-A of spec §2) in the proportional limit D → ∞, P₁ = ν₁D.

    With q(κ) = ‖β̂(κ)‖²/D from :func:`ridge_limits` (noise σ₁² included), the finite-D
    conditions of :func:`~finetune_bounds.infinite_width.linear_closed_form_sb` / ``_sa``
    become O(1) equations in the controls of spec §2 "Scaling":

    - S-B (hidden anchored at init, readout decay λ₁, hidden decay δ₁), ŝ = γ₁²D/(λ₁δ₁):
      κ₁ ∈ (0, λ₁] solves √(κ/λ₁) = 1 − ŝκ²q(κ) (left minus right increases in κ: unique);
      kernel M = I + (c₁ − 1)bbᵀ with spike c₁ = λ₁/κ₁ ≥ 1, b = β̂₁/‖β̂₁‖.
    - S-A (decay to zero), λ̂ = √(λ₁δ₁)/(γ₁√D): κ₁ solves κ√q(κ) = λ̂; κ√q increases to the
      threshold λ̂_c = √(ν₁(ν₁ + 1 + σ₁²)), at or above which β̂₁ = 0 and the kernel is 0
      (c₁ = 0, no transfer). Kernel M = c₁ bbᵀ, c₁ = λ₁/κ₁.

    Roots are found by brentq in log κ inside a bracket (``_root_log``).

    Parameters
    ----------
    nu1 : float
        ν₁ = P₁/D ≥ 0.
    source : {"S-B", "S-A"}
    s_hat : float
        ŝ ≥ 0 (S-B only; required there).
    lam_hat : float
        λ̂ > 0 (S-A only; required there).
    ridge_readout : float
        λ₁ > 0.
    noise_variance : float
        σ₁² ≥ 0 of the source labels.
    strict : bool
        Raise :class:`~finetune_bounds.errors.ConvergenceError` if the root search fails.

    Returns
    -------
    SourceLimit

    Raises
    ------
    InvalidInputError
        Unknown source, missing or negative control, ν₁ < 0, λ₁ ≤ 0, σ₁² < 0.

    Examples
    --------
    >>> s = source_limit(2.0, s_hat=1.0, ridge_readout=1.0)
    >>> 0 < s.kappa < 1 and s.spike > 1 and 0 < s.rho < 1
    True
    """
    src, ctrl = _check_source(source, s_hat, lam_hat)
    nu = nonneg_float(nu1, "nu1")
    lam = nonneg_float(ridge_readout, "ridge_readout", positive=True)
    s2 = nonneg_float(noise_variance, "noise_variance")
    out = _source(src, nu, ctrl, lam, s2)
    check_converged(out.info, "source_limit", strict=strict)
    return out


# ---------------------------------------------------------------------------------------------
# target stage
# ---------------------------------------------------------------------------------------------
def _bulk_kappa(nu2: FloatArray, lam2: float) -> FloatArray:
    """Root κ > 0 of κ = λ₂ + κ/(ν₂ + κ), i.e. κ² + (ν₂ − λ₂ − 1)κ − λ₂ν₂ = 0."""
    b = 1.0 + lam2 - nu2
    r = np.sqrt(b * b + 4.0 * lam2 * nu2)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b >= 0, 0.5 * (b + r), 2.0 * lam2 * nu2 / np.where(b >= 0, 1.0, r - b))


def _ft_sb(
    m2: FloatArray, nu2: FloatArray, c1: float, lam2: float, s2: float
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """(E_FT, E_lazy, κ, γ̃) for the S-B kernel (lazy = c₁ = 1)."""
    k = _bulk_kappa(nu2, lam2)
    g = nu2 / (nu2 + k) ** 2
    omg = lam2 / k + k / (nu2 + k) ** 2  # 1 − γ̃ at the root, no cancellation
    bulk = k * k / (nu2 + k) ** 2
    spike = k * k / (nu2 * c1 + k) ** 2
    noise = s2 * g
    e_ft = (m2 * spike + (1.0 - m2) * bulk + noise) / omg
    e_lazy = (bulk + noise) / omg
    return e_ft, e_lazy, k, g


@dataclass(frozen=True)
class ToyTransfer(Solved):
    """Transfer in the linear toy model (spec §4); arrays broadcast over (α_s, ν₂).

    Attributes
    ----------
    e_ft : float or ndarray
        Test error of FT (fresh ridge readout λ₂ on the frozen source kernel).
    e_scratch_lazy : float or ndarray
        Ridge readout λ₂ on the lazy kernel K_x (ridge regression with κ = λ₂).
    e_scratch_rich : float or ndarray
        The same network (S-B or S-A) trained on the target alone with ŝ₂ (or λ̂₂) and λ₂.
    gain_lazy, gain_rich : float or ndarray
        e_scratch − e_ft (> 0: positive transfer).
    kappa1, c1, rho1 : float
        Source κ₁, spike c₁ = λ₁/κ₁ and cosine ρ₁.
    m : float or ndarray
        Overlap of β₂ with the spike direction b, α_s ρ₁.
    kappa_target, gamma_target : float or ndarray
        FT learning-curve κ and γ̃ (S-B: of the bulk; S-A: κ = λ₂, γ̃ = 0 in the limit).
    source : SourceLimit
        The source solve.
    info : SolverInfo
        Worst status of the source and rich-scratch solves.
    """

    e_ft: Any
    e_scratch_lazy: Any
    e_scratch_rich: Any
    gain_lazy: Any
    gain_rich: Any
    kappa1: float
    c1: float
    rho1: float
    m: Any
    kappa_target: Any
    gamma_target: Any
    source: SourceLimit = field(repr=False)
    info: SolverInfo = field(repr=False)


def _rich_scratch(
    src: str, nu2: FloatArray, ctrl2: float, lam2: float, s2: float
) -> tuple[FloatArray, list[SolverInfo]]:
    """Error of the S-B / S-A network trained on the target alone, one solve per distinct ν₂."""
    uniq, inv = np.unique(nu2, return_inverse=True)
    errs = np.empty(uniq.shape)
    infos = []
    for i, v in enumerate(uniq):
        s = _source(src, float(v), ctrl2, lam2, s2)
        infos.append(s.info)
        if math.isinf(s.kappa):  # S-A above threshold: f = 0
            errs[i] = 1.0
        else:
            q, o, _ = _ridge(np.asarray(v), np.asarray(s.kappa), s2)
            errs[i] = max(float(q) - 2.0 * float(o) + 1.0, 0.0)
    return errs[inv.reshape(-1)].reshape(nu2.shape), infos


def _transfer(
    src: str,
    source: SourceLimit,
    alpha: FloatArray,
    nu2: FloatArray,
    lam2: float,
    s2: float,
    rich: FloatArray,
    infos: list[SolverInfo],
) -> ToyTransfer:
    alpha, nu2, rich = np.broadcast_arrays(alpha, nu2, rich)
    m = alpha * source.rho
    m2 = m * m
    k_bulk = _bulk_kappa(nu2, lam2)
    if src == "S-B":
        e_ft, e_lazy, k, g = _ft_sb(m2, nu2, source.spike, lam2, s2)
    else:
        _, e_lazy, _, _ = _ft_sb(m2, nu2, 1.0, lam2, s2)
        c1 = source.spike
        e_ft = 1.0 - m2 + m2 * lam2 * lam2 / (nu2 * c1 + lam2) ** 2
        k, g = np.full_like(k_bulk, lam2), np.zeros_like(k_bulk)
    return ToyTransfer(
        e_ft=_out(e_ft),
        e_scratch_lazy=_out(e_lazy),
        e_scratch_rich=_out(rich),
        gain_lazy=_out(e_lazy - e_ft),
        gain_rich=_out(rich - e_ft),
        kappa1=source.kappa,
        c1=source.spike,
        rho1=source.rho,
        m=_out(m),
        kappa_target=_out(k),
        gamma_target=_out(g),
        source=source,
        info=_worst([source.info, *infos]),
    )


def toy_transfer(
    alpha_s: ArrayLike,
    nu1: float,
    nu2: ArrayLike,
    *,
    source: str = "S-B",
    s_hat: float | None = None,
    lam_hat: float | None = None,
    ridge_source: float = 1.0,
    ridge_target: float = 0.1,
    noise_source: float = 0.0,
    noise_target: float = 0.0,
    s_hat_target: float | None = None,
    lam_hat_target: float | None = None,
) -> ToyTransfer:
    """FT vs scratch in the linear toy model, D → ∞ with P₁ = ν₁D, P₂ = ν₂D (spec §3, §4).

    FT is kernel ridge regression (ridge λ₂, unnormalised Gram matrix) with the frozen source
    feature kernel Φ₁(x, x') = xᵀMx'/D. Under x ~ N(0, I) its eigenvalues are c₁/D (direction b)
    and, for S-B, 1/D (D − 1 times); the target β₂·x/√D has power m² along b, m = α_s ρ₁, and
    (1 − m²)/(D − 1) per bulk mode. The learning curve of spec §4 (``learning_curve``) with
    n = ν₂D then gives, dropping the spike's O(1/D) share of κ and γ̃:

    - S-B: κ = λ₂ + κ/(ν₂ + κ), γ̃ = ν₂/(ν₂ + κ)²,
      E_FT = [m²κ²/(ν₂c₁ + κ)² + (1 − m²)κ²/(ν₂ + κ)² + σ₂²γ̃]/(1 − γ̃);
    - S-A (rank one): κ = λ₂ + O(1/D), γ̃ = ν₂c₁²/(D(ν₂c₁ + λ₂)²) = O(1/D), so
      E_FT = 1 − m² + m²λ₂²/(ν₂c₁ + λ₂)² and the noise term σ₂²γ̃/(1 − γ̃) vanishes in the
      limit (one fitted coefficient from ν₂D samples). Above the S-A threshold c₁ = 0: E_FT = 1.

    Baselines: lazy scratch = the S-B formula with c₁ = 1 (ridge regression with κ = λ₂, equal
    to ``ridge_limits(nu2, ridge_target, noise_target).error``); rich scratch = the same network
    trained on the target alone, error ``ridge_limits(nu2, κ₂, σ₂²).error`` with κ₂ from
    ``source_limit(nu2, ...)`` with ŝ₂ (or λ̂₂), λ₂ and σ₂² (error 1 above the S-A threshold).
    Note that with the S-B kernel E_FT ≤ E_lazy always (c₁ ≥ 1), with equality at α_s = 0.

    Parameters
    ----------
    alpha_s : float or array_like
        Alignment α_s ∈ [−1, 1] (broadcasts with ``nu2``).
    nu1 : float
        ν₁ ≥ 0.
    nu2 : float or array_like
        ν₂ ≥ 0.
    source : {"S-B", "S-A"}
    s_hat, lam_hat : float
        Source control ŝ (S-B) or λ̂ (S-A), see :func:`source_limit`.
    ridge_source, ridge_target : float
        λ₁ > 0 (source readout decay) and λ₂ > 0 (FT / scratch ridge).
    noise_source, noise_target : float
        σ₁², σ₂² ≥ 0.
    s_hat_target, lam_hat_target : float, optional
        Control of the rich scratch baseline; default: the source's.

    Returns
    -------
    ToyTransfer
        Floats for scalar inputs, arrays of the broadcast shape otherwise.

    Raises
    ------
    InvalidInputError
        |α_s| > 1, ν < 0, ridge ≤ 0, negative noise, unknown source or missing control.

    Examples
    --------
    >>> t = toy_transfer([0.0, 1.0], 2.0, 1.0, s_hat=10.0)
    >>> [round(float(g), 4) for g in t.gain_lazy]
    [0.0, 0.1355]
    """
    src, ctrl = _check_source(source, s_hat, lam_hat)
    alpha = as_float_array(alpha_s, "alpha_s")
    if np.any(np.abs(alpha) > 1.0):
        raise InvalidInputError(f"alpha_s must be in [−1, 1], got {alpha[np.abs(alpha) > 1]}")
    nu1f = nonneg_float(nu1, "nu1")
    n2 = _nonneg_array(nu2, "nu2")
    lam1 = nonneg_float(ridge_source, "ridge_source", positive=True)
    lam2 = nonneg_float(ridge_target, "ridge_target", positive=True)
    s1 = nonneg_float(noise_source, "noise_source")
    s2 = nonneg_float(noise_target, "noise_target")
    own = s_hat_target if src == "S-B" else lam_hat_target
    ctrl2 = ctrl if own is None else _check_source(src, s_hat_target, lam_hat_target)[1]
    try:
        shape = np.broadcast_shapes(alpha.shape, n2.shape)
    except ValueError as exc:
        raise InvalidInputError(f"alpha_s and nu2 do not broadcast: {exc}") from None
    srcl = _source(src, nu1f, ctrl, lam1, s1)
    rich, infos = _rich_scratch(src, np.broadcast_to(n2, shape), ctrl2, lam2, s2)
    return _transfer(src, srcl, alpha, n2, lam2, s2, rich, infos)


# ---------------------------------------------------------------------------------------------
# phase diagram
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PhaseDiagram(Solved):
    """Sign of the transfer gain over (α_s, second axis) (spec §4 "Phase diagram").

    Attributes
    ----------
    alpha_s : ndarray, shape (A,)
    second : ndarray, shape (S,)
        The second axis values.
    second_name : str
        ``"nu2"``, ``"s_hat"``, ``"lam_hat"`` or ``"nu1"``.
    baseline : str
        ``"lazy"`` or ``"rich"``.
    gain : ndarray, shape (A, S)
        E_scratch − E_FT.
    sign : ndarray of int8, shape (A, S)
        +1 positive transfer, −1 negative, 0 when |gain| ≤ 1e-12.
    e_ft, e_scratch : ndarray, shape (A, S)
    info : SolverInfo
        Worst status over every source / rich-scratch solve.
    """

    alpha_s: FloatArray
    second: FloatArray
    second_name: str
    baseline: str
    gain: FloatArray
    sign: NDArray[np.int8]
    e_ft: FloatArray
    e_scratch: FloatArray
    info: SolverInfo = field(repr=False)


def phase_diagram(
    alpha_s_grid: ArrayLike,
    second_grid: ArrayLike,
    *,
    second: str = "nu2",
    baseline: str = "lazy",
    **toy_kwargs: Any,
) -> PhaseDiagram:
    """Transfer gain and its sign on a grid of (α_s, ν₂ | ŝ | λ̂ | ν₁) (spec §4), D → ∞.

    Each cell is :func:`toy_transfer`; the source is solved once when ``second`` is ``"nu2"``
    and once per distinct value otherwise (with ``"s_hat"`` / ``"lam_hat"`` the rich scratch
    baseline follows the same control unless ``s_hat_target`` / ``lam_hat_target`` is given),
    and the α_s axis is vectorised.

    Parameters
    ----------
    alpha_s_grid : array_like, shape (A,)
    second_grid : array_like, shape (S,)
    second : {"nu2", "s_hat", "lam_hat", "nu1"}
        Which parameter the second axis sets (``"s_hat"`` needs S-B, ``"lam_hat"`` S-A).
    baseline : {"lazy", "rich"}
    **toy_kwargs
        The other arguments of :func:`toy_transfer` (``nu1``, ``nu2``, ``source``, …), minus
        the one set by the second axis.

    Returns
    -------
    PhaseDiagram

    Raises
    ------
    InvalidInputError
        Bad grids, choices or arguments (as in :func:`toy_transfer`).

    Examples
    --------
    >>> pd = phase_diagram([0.1, 0.9], [0.5, 2.0], second="nu2", baseline="lazy",
    ...                    source="S-A", nu1=2.0, lam_hat=0.5)
    >>> pd.sign.tolist()
    [[-1, -1], [1, -1]]
    """
    name = check_choice(second, "second", ("nu2", "s_hat", "lam_hat", "nu1"))
    base = check_choice(baseline, "baseline", ("lazy", "rich"))
    alpha = as_float_array(alpha_s_grid, "alpha_s_grid", ndim=1)
    grid = as_float_array(second_grid, "second_grid", ndim=1)
    kw = dict(toy_kwargs)
    if name in kw:
        raise InvalidInputError(f"{name} is set by the second axis; do not pass it as well")
    src = kw.get("source", "S-B")
    if (name == "s_hat" and src != "S-B") or (name == "lam_hat" and src != "S-A"):
        raise InvalidInputError(f"second={name!r} does not apply to source {src!r}")
    if name == "nu2":
        if "nu1" not in kw:
            raise InvalidInputError("phase_diagram needs nu1")
        res = toy_transfer(alpha[:, None], nu2=grid[None, :], **kw)
        cols = [res]
        e_ft = np.asarray(res.e_ft)
        e_sc = np.asarray(res.e_scratch_lazy if base == "lazy" else res.e_scratch_rich)
    else:
        if name == "nu1":
            _nonneg_array(grid, "second_grid (nu1)")
        cols = [toy_transfer(alpha, **{**kw, name: float(v)}) for v in grid]
        e_ft = np.stack([np.broadcast_to(c.e_ft, alpha.shape) for c in cols], axis=1)
        e_sc = np.stack(
            [
                np.broadcast_to(c.e_scratch_lazy if base == "lazy" else c.e_scratch_rich,
                                alpha.shape)
                for c in cols
            ],
            axis=1,
        )
    e_ft, e_sc = np.array(e_ft), np.array(e_sc)
    gain = e_sc - e_ft
    sign = np.where(gain > 1e-12, 1, np.where(gain < -1e-12, -1, 0)).astype(np.int8)
    for a in (gain, sign, e_ft, e_sc):
        a.setflags(write=False)
    alpha.setflags(write=False)
    grid.setflags(write=False)
    return PhaseDiagram(
        alpha_s=alpha,
        second=grid,
        second_name=name,
        baseline=base,
        gain=gain,
        sign=sign,
        e_ft=e_ft,
        e_scratch=e_sc,
        info=_worst([c.info for c in cols]),
    )
