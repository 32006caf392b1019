"""The fine-tuning penalty q(z; c) of a two-pathway diagonal network and the c_FT map.

Spec ``diagonal-networks.md`` §2 (gradient flow from β(0) = 0; the mirror-flow potential).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from .._validation import FloatArray, as_float_array, fraction
from ..errors import InvalidInputError

__all__ = ["c_finetune", "check_scales", "check_task", "q", "q_prime", "q_second"]


def q(z: ArrayLike, c: ArrayLike) -> FloatArray:
    """q(z; c) = ½[z·arcsinh(z/c) − √(z² + c²) + c] (elementwise; c > 0).

    |z| ≪ c: ≈ z²/(4c) (lazy, weighted ℓ2); |z| ≫ c: ≈ ½|z|(log(2|z|/c) − 1) (rich, ℓ1-like).
    """
    z = np.asarray(z, dtype=np.float64)
    c = np.asarray(c, dtype=np.float64)
    return np.asarray(0.5 * (z * np.arcsinh(z / c) - np.hypot(z, c) + c))


def q_prime(z: ArrayLike, c: ArrayLike) -> FloatArray:
    """∂q/∂z = ½ arcsinh(z/c)."""
    return np.asarray(0.5 * np.arcsinh(np.asarray(z, dtype=np.float64) / np.asarray(c)))


def q_second(z: ArrayLike, c: ArrayLike) -> FloatArray:
    """∂²q/∂z² = 1/(2√(c² + z²))."""
    return np.asarray(0.5 / np.hypot(np.asarray(z, dtype=np.float64), np.asarray(c)))


def check_scales(c_pt: float, lambda_pt: float, gamma_ft: float) -> tuple[float, float, float]:
    """Validate (c_PT > 0, λ_PT ∈ [−1, 1], γ_FT ≥ 0), finite; return them as floats."""
    out = []
    for name, v in (("c_pt", c_pt), ("lambda_pt", lambda_pt), ("gamma_ft", gamma_ft)):
        if isinstance(v, bool | np.bool_ | str | bytes):
            raise InvalidInputError(f"{name} must be a number, got {v!r}")
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise InvalidInputError(f"{name} must be a number, got {v!r}") from None
        if not np.isfinite(f):
            raise InvalidInputError(f"{name} must be finite, got {f}")
        out.append(f)
    c, lam, g = out
    if c <= 0:
        raise InvalidInputError(f"c_pt must be > 0, got {c}")
    if not -1.0 <= lam <= 1.0:
        raise InvalidInputError(f"lambda_pt must be in [-1, 1], got {lam}")
    if g < 0:
        raise InvalidInputError(f"gamma_ft must be ≥ 0, got {g}")
    return c, lam, g


def check_task(omega: float, rho_pt: float, rho_ft: float) -> tuple[float, float, float]:
    """Validate the task statistics of spec §1: ω ∈ [0, 1], ρ_PT, ρ_FT ∈ (0, 1], and the two
    feasibility conditions ωρ_FT ≤ ρ_PT (the shared features are pretraining features) and
    ρ_PT + (1 − ω)ρ_FT ≤ 1 (the new features lie outside the pretraining support), each up to a
    relative 1e-12; return (ω, ρ_PT, ρ_FT) as floats."""
    om = fraction(omega, "omega")
    rp = fraction(rho_pt, "rho_pt", positive=True)
    rf = fraction(rho_ft, "rho_ft", positive=True)
    slack = 1e-12
    if om * rf > rp * (1 + slack):
        raise InvalidInputError(
            f"infeasible task: omega·rho_ft = {om * rf:.6g} must be ≤ rho_pt = {rp:.6g} "
            "(the shared features are pretraining features)"
        )
    if rp + (1 - om) * rf > 1 + slack:
        raise InvalidInputError(
            f"infeasible task: rho_pt + (1 − omega)·rho_ft = {rp + (1 - om) * rf:.6g} must be "
            "≤ 1 (the new features lie outside the pretraining support)"
        )
    return om, rp, rf


def c_finetune(beta_pt: ArrayLike, c_pt: float, lambda_pt: float, gamma_ft: float) -> FloatArray:
    """c_FT,i = c_PT(1 + λ_PT)(1 + √(1 + (β_PT,i/c_PT)²)) + γ_FT²/2 (spec §2).

    λ_PT is the *normalised* relative scale in [−1, 1]; γ_FT the readout re-init scale (γ/√2 on
    each pathway). λ_PT = −1 with γ_FT = 0 gives c_FT = 0, a saddle that gradient descent never
    leaves: keep λ_PT off −1 (e.g. −0.999999 with γ_FT = 1e-6).
    """
    c, lam, g = check_scales(c_pt, lambda_pt, gamma_ft)
    b = as_float_array(beta_pt, "beta_pt", allow_empty=True)
    with np.errstate(over="ignore", invalid="ignore"):
        out = c * (1.0 + lam) * (1.0 + np.hypot(1.0, b / c)) + 0.5 * g * g
        # c(1 + R) = c + √(c² + β²) without forming β/c (which overflows for tiny c)
        stable = (1.0 + lam) * (c + np.hypot(c, b)) + 0.5 * g * g
        out = np.where(np.isfinite(out), out, stable)
    if not np.all(np.isfinite(out)):
        raise InvalidInputError(
            f"c_FT overflows float64 (max |beta_pt| = {float(np.max(np.abs(b))):.3g}, "
            f"c_pt = {c:.3g}, gamma_ft = {g:.3g})"
        )
    return np.asarray(out)
