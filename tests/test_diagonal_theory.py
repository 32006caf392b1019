"""The replica / state-evolution theory of fine-tuning diagonal networks (spec
``diagonal-networks.md`` §3): reference table, limits (ridge, basis pursuit), an independent
quadrature of the fixed-point equations, the denoiser, closed-form cases, monotonicity,
validation and convergence reporting.

The agreement with exact finite-d solutions is the job of a separate (slow) test.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import optimize, stats

from finetune_bounds._numerics import SolverStatus
from finetune_bounds.diagonal._fixed_point import (
    GROUPS,
    GeneralizationError,
    denoiser,
    error_curve,
    generalization_error,
)
from finetune_bounds.diagonal._penalty import c_finetune
from finetune_bounds.errors import ConvergenceError, InvalidInputError

# ---------------------------------------------------------------------------------------------
# spec §3 reference table (ρ_PT = ρ_FT = 0.1, a_PT = 1, c_PT = 1e-3, σ = 0)
# ---------------------------------------------------------------------------------------------
REFERENCE = [
    # ω, λ_PT, γ_FT, α, theory E_g as printed in the spec, decimals printed
    (0.5, 0.0, 0.0, 0.3, 0.0912, 4),
    (1.0, -0.99, 0.0, 0.2, 0.0250, 4),
    (0.0, 0.0, 10.0, 0.3, 0.7008, 4),
    (1.0, 0.0, 0.0, 0.2, 0.0009, 4),
    (0.0, -0.99, 0.0, 0.3, 0.213, 3),
]


@pytest.mark.parametrize(("omega", "lam", "gamma", "alpha", "ref", "decimals"), REFERENCE)
def test_reference_table(
    omega: float, lam: float, gamma: float, alpha: float, ref: float, decimals: int
) -> None:
    """E_g rounds to the spec's printed value (|E_g − ref| ≤ half a unit of the last digit)."""
    r = generalization_error(alpha, omega=omega, lambda_pt=lam, gamma_ft=gamma)
    assert r.status == SolverStatus.CONVERGED and r.converged
    assert abs(r.error - ref) <= 0.5 * 10.0**-decimals
    assert r.info.residual <= 1e-10
    assert r.diagnostics["theta_residual"] <= 1e-12


def test_diagnostics_are_consistent() -> None:
    """Group probabilities sum to 1; Σ p_g·mse_g = E_g and Σ p_g·E_g[η'] = α (E2)."""
    r = generalization_error(0.3, omega=0.5, lambda_pt=-0.5, gamma_ft=0.5, noise_variance=0.1)
    groups = r.diagnostics["groups"]
    assert tuple(groups) == GROUPS
    p = np.array([groups[g]["probability"] for g in GROUPS])
    np.testing.assert_allclose(p, [0.05, 0.05, 0.05, 0.85], rtol=1e-12)
    mse = np.array([groups[g]["mse"] for g in GROUPS])
    der = np.array([groups[g]["mean_derivative"] for g in GROUPS])
    assert p @ mse == pytest.approx(r.error, rel=1e-12)
    assert p @ der == pytest.approx(0.3, rel=1e-12)
    # (E1): τ² = (σ² + m)/α
    assert r.tau**2 == pytest.approx((0.1 + r.error) / 0.3, rel=1e-9)
    c_on = float(c_finetune(1.0, 1e-3, -0.5, 0.5))
    assert groups["overlap"]["c_ft"] == pytest.approx(c_on, rel=1e-14)


# ---------------------------------------------------------------------------------------------
# an independent quadrature: the spec's dense z grid with the Newton denoiser
# ---------------------------------------------------------------------------------------------
def _dense_grid_moments(
    r: GeneralizationError,
    *,
    omega: float,
    lambda_pt: float,
    gamma_ft: float,
    c_pt: float = 1e-3,
    rho_pt: float = 0.1,
    rho_ft: float = 0.1,
    a_pt: float = 1.0,
    points: int = 6001,
) -> tuple[float, float]:
    """(E[η'], m) at the solver's (τ, θ), from spec §1/§3 directly: four groups, a uniform grid
    of ``points`` on ±9 sd, η by :func:`denoiser` at every node (no u-substitution)."""
    c_on = float(c_finetune(a_pt, c_pt, lambda_pt, gamma_ft))
    c_off = float(c_finetune(0.0, c_pt, lambda_pt, gamma_ft))
    groups = [
        (omega * rho_ft, c_on, 1 / rho_ft),
        ((1 - omega) * rho_ft, c_off, 1 / rho_ft),
        (rho_pt - omega * rho_ft, c_on, 0.0),
        (1 - rho_pt - (1 - omega) * rho_ft, c_off, 0.0),
    ]
    t = np.linspace(-9.0, 9.0, points)
    w = np.exp(-0.5 * t * t)
    w /= w.sum()
    tau2 = r.tau**2
    d = m = 0.0
    for p, c, s2 in groups:
        if p <= 1e-15:
            continue
        v = s2 + tau2
        z = t * math.sqrt(v)
        eta, deta = denoiser(z, r.theta, c)
        d += p * float(w @ deta)
        m += p * (float(w @ (eta - s2 / v * z) ** 2) + s2 * tau2 / v)
    return d, m


@pytest.mark.parametrize(
    ("kw", "alpha"),
    [
        ({"omega": 0.5, "lambda_pt": 0.0, "gamma_ft": 0.0}, 0.3),
        ({"omega": 1.0, "lambda_pt": -0.99, "gamma_ft": 0.0}, 0.2),
        ({"omega": 0.0, "lambda_pt": 0.0, "gamma_ft": 10.0}, 0.3),
        ({"omega": 0.0, "lambda_pt": -0.999999, "gamma_ft": 1e-6}, 0.3),
        ({"omega": 1.0, "lambda_pt": -0.999999, "gamma_ft": 1e-6}, 0.3),  # τ ≈ 1e-9, c ≈ 2e-9
        ({"omega": 0.5, "lambda_pt": 0.5, "gamma_ft": 1.0, "noise_variance": 0.1}, 0.5),
        ({"omega": 0.2, "lambda_pt": 0.3, "gamma_ft": 0.0, "c_pt": 1.0, "rho_pt": 0.3,
          "rho_ft": 0.5, "a_pt": 2.0}, 0.4),
    ],
)
def test_fixed_point_against_dense_grid(kw: dict[str, Any], alpha: float) -> None:
    """The returned (τ, θ) satisfies (E1) and (E2) under the spec's quadrature (6001 points,
    Newton denoiser). Tolerance 2e-5 relative: the dense grid's own error at the kink of η for
    c ≈ 2e-9 is ~6e-6 (1e-15 elsewhere)."""
    r = generalization_error(alpha, **kw)
    sigma2 = kw.get("noise_variance", 0.0)
    extra = {k: v for k, v in kw.items() if k != "noise_variance"}
    d, m = _dense_grid_moments(r, **extra)
    assert d == pytest.approx(alpha, rel=2e-5)
    assert m == pytest.approx(r.error, rel=2e-5)
    assert (sigma2 + m) / alpha == pytest.approx(r.tau**2, rel=2e-5)


def test_grid_points_converge_spectrally() -> None:
    """The u-substitution quadrature: 101 and 801 nodes agree to 1e-9 (rich and lazy cases)."""
    cases: list[dict[str, Any]] = [{"omega": 0.0, "lambda_pt": -0.999999, "gamma_ft": 1e-6},
                                   {"omega": 0.5, "lambda_pt": 0.0, "gamma_ft": 0.0}]
    for kw in cases:
        a = generalization_error(0.3, grid_points=101, **kw).error
        b = generalization_error(0.3, grid_points=801, **kw).error
        assert a == pytest.approx(b, rel=1e-9)


# ---------------------------------------------------------------------------------------------
# limits
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("alpha", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("sigma2", [0.0, 0.5])
def test_ridge_limit(alpha: float, sigma2: float) -> None:
    """c → ∞ (γ_FT = 1e4, c ≈ 5e7): α = 1/(1 + θ/(2c)) and E_g = (1 − α)E[B*²] + σ²α/(1 − α)
    with E[B*²] = 1. Tolerance 1e-7: c differs between groups by ~1/c relative."""
    r = generalization_error(alpha, omega=0.5, lambda_pt=0.0, gamma_ft=1e4,
                             noise_variance=sigma2)
    c = float(c_finetune(0.0, 1e-3, 0.0, 1e4))
    assert alpha * (1 + r.theta / (2 * c)) == pytest.approx(1.0, rel=1e-7)
    expected = (1 - alpha) + sigma2 * alpha / (1 - alpha)
    assert r.error == pytest.approx(expected, rel=1e-7)


def _soft_threshold_se(alpha: float, rho: float) -> float:
    """Donoho–Maleki–Montanari state evolution of basis pursuit (noiseless), written out
    independently: prior (1 − ρ)δ_0 + ρN(0, 1/ρ), soft threshold t with P(|B + τZ| > t) = α,
    τ² = E[(soft(B + τZ, t) − B)²]/α, by plain iteration from τ² = 1/α. Gaussian closed forms,
    z ~ N(0, v), s = t/√v: E[soft²] = 2[(v + t²)Q(s) − t√v φ(s)], E[z·soft] = 2vQ(s)."""
    s2 = 1.0 / rho

    def parts(tau2: float, t: float) -> tuple[float, float]:
        d = m = 0.0
        for p, var in ((1 - rho, 0.0), (rho, s2)):
            v = var + tau2
            sv = math.sqrt(v)
            q, f = stats.norm.sf(t / sv), stats.norm.pdf(t / sv)
            e_soft2 = 2 * ((v + t * t) * q - t * sv * f)
            e_zsoft = 2 * v * q
            a = var / v  # E[B | z] = a z
            d += p * 2 * q
            m += p * (e_soft2 - 2 * a * e_zsoft + a * a * v + var * tau2 / v)
        return d, m

    tau2 = 1.0 / alpha
    for _ in range(20000):
        t = optimize.brentq(lambda t, tau2=tau2: parts(tau2, t)[0] - alpha, 0.0,
                            60 * math.sqrt(tau2 + s2), xtol=1e-300, rtol=1e-15)
        m = parts(tau2, t)[1]
        if abs(m / alpha - tau2) <= 1e-13 * tau2:
            return m
        tau2 = m / alpha
    raise AssertionError("soft-threshold state evolution did not converge")


@pytest.mark.parametrize("alpha", [0.1, 0.2, 0.25])
def test_basis_pursuit_limit(alpha: float) -> None:
    """c → 0 gives the ℓ1 (soft-threshold) state evolution. λ_PT = −1 makes c_FT = γ²/2 the
    same on every coordinate; the penalty is then ½|β|(log(2|β|/c) − 1) + O(c), whose ℓ1 part
    dominates only by log(1/c): the gap to basis pursuit shrinks like 1/log(1/c). Tolerance:
    ≤ 1 % at c = 2e-200 (measured 0.02–0.7 %), and smaller than at c = 2e-60."""
    bp = _soft_threshold_se(alpha, 0.1)
    far = generalization_error(alpha, omega=0.0, lambda_pt=-1.0, gamma_ft=2e-30).error
    near = generalization_error(alpha, omega=0.0, lambda_pt=-1.0, gamma_ft=2e-100).error
    assert abs(near - bp) <= 0.01 * bp
    assert abs(near - bp) < abs(far - bp)


def test_basis_pursuit_recovery_above_transition() -> None:
    """Above the Donoho–Tanner transition (ρ_FT = 0.1 at α = 0.45) basis pursuit recovers the
    teacher; with c = 2e-200 the theory's error is below 1e-6 of E[B*²]."""
    r = generalization_error(0.45, omega=0.0, lambda_pt=-1.0, gamma_ft=2e-100)
    assert r.converged and 0 <= r.error < 1e-6


# ---------------------------------------------------------------------------------------------
# the denoiser
# ---------------------------------------------------------------------------------------------
def test_denoiser_solves_its_equation() -> None:
    rng = np.random.default_rng(12)
    z = rng.choice([-1.0, 1.0], 4000) * 10.0 ** rng.uniform(-12, 4, 4000)
    z[:3] = [0.0, -0.0, 1e-300]
    for theta in (1e-9, 1e-3, 0.3, 10.0, 1e4):
        for c in (1e-12, 1e-6, 1e-3, 1.0, 5e7):
            b, db = denoiser(z, theta, c)
            resid = b + 0.5 * theta * np.arcsinh(b / c) - z
            assert np.all(np.abs(resid) <= 1e-13 * np.abs(z) + 1e-300)
            # between 0 and z, odd, and η' ∈ (0, 1] as the closed form says
            assert np.all(b * z >= 0) and np.all(np.abs(b) <= np.abs(z))
            np.testing.assert_array_equal(denoiser(-z, theta, c).value, -b)
            np.testing.assert_allclose(db, 1 / (1 + theta / (2 * np.hypot(c, b))), rtol=1e-14)


def test_denoiser_derivative_and_limits() -> None:
    z = np.linspace(-3, 3, 61)
    theta, c, h = 0.4, 0.05, 1e-6
    fd = (denoiser(z + h, theta, c).value - denoiser(z - h, theta, c).value) / (2 * h)
    np.testing.assert_allclose(denoiser(z, theta, c).derivative, fd, rtol=1e-7)
    # ridge: c ≫ |z|, θ
    big = denoiser(z, 0.4, 1e8).value
    np.testing.assert_allclose(big, z / (1 + 0.4 / 2e8), rtol=1e-12)
    # broadcasting over c
    out = denoiser(np.ones((2, 1)), 0.4, np.array([1e-3, 1.0, 10.0]))
    assert out.value.shape == (2, 3)


@pytest.mark.parametrize(("theta", "c"), [(0.0, 1.0), (-1.0, 1.0), (1.0, 0.0), (1.0, -1.0),
                                          (math.nan, 1.0), (1.0, math.nan)])
def test_denoiser_rejects_bad_parameters(theta: float, c: float) -> None:
    with pytest.raises(InvalidInputError):
        denoiser([1.0], theta, c)


# ---------------------------------------------------------------------------------------------
# closed forms, monotonicity, curves
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("alpha", [1.0, 1.5, 3.0])
def test_alpha_at_least_one_noiseless_is_zero(alpha: float) -> None:
    r = generalization_error(alpha, omega=0.5, lambda_pt=0.0, gamma_ft=0.0)
    assert r.error == 0.0 and r.status == SolverStatus.EXACT and r.converged


def test_alpha_above_one_with_noise_is_least_squares() -> None:
    r = generalization_error(3.0, omega=0.5, lambda_pt=0.0, gamma_ft=0.0, noise_variance=0.4)
    assert r.error == pytest.approx(0.4 / 2.0, rel=1e-15) and r.status == SolverStatus.EXACT
    assert generalization_error(1.0, omega=0.5, lambda_pt=0.0, gamma_ft=0.0,
                                noise_variance=0.4).error == math.inf


@given(
    lam=st.floats(-0.99, 0.99),
    gamma=st.sampled_from([0.0, 0.1, 1.0, 10.0]),
    c_pt=st.sampled_from([1e-6, 1e-3, 1.0]),
    a1=st.floats(0.02, 0.9),
    gap=st.floats(0.005, 0.5),
)
def test_error_non_increasing_in_alpha(
    lam: float, gamma: float, c_pt: float, a1: float, gap: float
) -> None:
    """Noiseless, fine-tuning support = pretraining support (ω = 1, ρ_FT = ρ_PT): more data never
    hurts. (Not true in general: with ω < 1 the error rises over α ≲ 0.05 — also for plain basis
    pursuit, see test_non_monotone_at_small_alpha.)"""
    a2 = min(a1 + gap, 0.95)
    kw: dict[str, Any] = {"omega": 1.0, "lambda_pt": lam, "gamma_ft": gamma, "c_pt": c_pt}
    e1 = generalization_error(a1, **kw).error
    e2 = generalization_error(a2, **kw).error
    assert e2 <= e1 * (1 + 1e-9) + 1e-15


def test_non_monotone_at_small_alpha() -> None:
    """Documented behaviour, checked against the independent ℓ1 state evolution: at tiny α the
    error of basis pursuit (and of the rich theory) exceeds E[B*²] = 1 and still rises."""
    assert _soft_threshold_se(0.02, 0.1) > _soft_threshold_se(0.01, 0.1) > 1.0
    kw: dict[str, Any] = {"omega": 0.0, "lambda_pt": -1.0, "gamma_ft": 2e-100}
    assert generalization_error(0.02, **kw).error > generalization_error(0.01, **kw).error > 1.0


def test_error_curve_matches_pointwise() -> None:
    alphas = np.array([0.05, 0.2, 0.35, 0.5, 1.2])
    kw: dict[str, Any] = {"omega": 0.5, "lambda_pt": -0.99, "gamma_ft": 0.0}
    curve = error_curve(alphas, **kw)
    assert curve.status == SolverStatus.CONVERGED and curve.converged.all()
    for i, a in enumerate(alphas):
        r = generalization_error(a, **kw)
        assert curve.error[i] == pytest.approx(r.error, rel=1e-8, abs=1e-15)
        assert curve.tau[i] == pytest.approx(r.tau, rel=1e-6)
    assert curve.error[-1] == 0.0 and curve.iterations[-1] == 0
    assert curve.info.extra["failed"] == 0


# ---------------------------------------------------------------------------------------------
# imperfect pretraining
# ---------------------------------------------------------------------------------------------
def test_imperfect_pretraining() -> None:
    """α_PT ≥ 1 (noiseless) is perfect pretraining exactly; below 1 the error grows as α_PT
    falls and approaches the perfect value as α_PT → 1; the Z' quadrature is converged."""
    kw: dict[str, Any] = {"omega": 1.0, "lambda_pt": -0.99, "gamma_ft": 0.0}
    perfect = generalization_error(0.2, **kw).error
    assert generalization_error(0.2, pretraining_alpha=1.0, **kw).error == perfect
    errs = [generalization_error(0.2, pretraining_alpha=pa, **kw) for pa in (0.99, 0.6, 0.3)]
    e = [r.error for r in errs]
    assert perfect < e[0] < e[1] < e[2]
    assert e[0] == pytest.approx(perfect, rel=0.03)
    pt = errs[1].diagnostics["pretraining"]
    assert pt["tau"] > 0 and pt["residual"] <= 1e-10
    fine = generalization_error(0.2, pretraining_alpha=0.6, pretraining_nodes=161, **kw)
    assert fine.error == pytest.approx(e[1], rel=1e-7)


# ---------------------------------------------------------------------------------------------
# validation and convergence reporting
# ---------------------------------------------------------------------------------------------
GOOD: dict[str, Any] = {"omega": 0.5, "lambda_pt": 0.0, "gamma_ft": 0.0}


@pytest.mark.parametrize(
    ("alpha", "changes"),
    [
        (0.3, {"lambda_pt": 1.5}),
        (0.3, {"lambda_pt": -1.01}),
        (0.3, {"lambda_pt": math.nan}),
        (0.3, {"lambda_pt": -1.0, "gamma_ft": 0.0}),  # c_FT = 0: the saddle
        (0.3, {"gamma_ft": -1.0}),
        (0.3, {"omega": 1.2}),
        (0.3, {"omega": -0.1}),
        (0.3, {"rho_pt": 0.0}),
        (0.3, {"rho_ft": 1.5}),
        (0.3, {"omega": 1.0, "rho_ft": 0.2, "rho_pt": 0.1}),  # ωρ_FT > ρ_PT
        (0.3, {"omega": 0.0, "rho_ft": 0.5, "rho_pt": 0.6}),  # ρ_PT + (1 − ω)ρ_FT > 1
        (0.3, {"c_pt": 0.0}),
        (0.3, {"c_pt": -1e-3}),
        (0.3, {"a_pt": 0.0}),
        (0.3, {"noise_variance": -0.1}),
        (0.3, {"noise_variance": math.nan}),
        (0.3, {"pretraining_alpha": 0.0}),
        (0.3, {"grid_points": 2}),
        (0.3, {"tol": 0.0}),
        (0.3, {"max_iter": 0}),
        (0.0, {}),
        (-0.2, {}),
        (math.nan, {}),
        (math.inf, {}),
        ("0.3", {}),
    ],
)
def test_bad_inputs_raise(alpha: Any, changes: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError):
        generalization_error(alpha, **{**GOOD, **changes})


def test_error_curve_bad_inputs_raise() -> None:
    with pytest.raises(InvalidInputError):
        error_curve([0.1, 0.0], **GOOD)
    with pytest.raises(InvalidInputError):
        error_curve([0.1, math.nan], **GOOD)
    with pytest.raises(InvalidInputError):
        error_curve([0.1], omega=0.5, lambda_pt=0.0)  # gamma_ft missing
    with pytest.raises(InvalidInputError):
        error_curve([0.1], bogus=1.0, **GOOD)


def test_non_convergence_is_reported() -> None:
    """A two-evaluation budget cannot reach |G| ≤ 1e-10 (it takes 6 here)."""
    with pytest.raises(ConvergenceError, match="did not converge"):
        generalization_error(0.3, max_iter=2, **GOOD)
    r = generalization_error(0.3, max_iter=2, strict=False, **GOOD)
    assert r.status == SolverStatus.MAX_ITERATIONS and not r.converged
    assert r.info.iterations == 2 and r.info.residual > 1e-10
    assert math.isfinite(r.error) and r.error > 0
    curve = error_curve([0.2, 0.3, 2.0], max_iter=2, strict=False, **GOOD)
    assert curve.status == SolverStatus.MAX_ITERATIONS
    assert curve.converged.tolist() == [False, False, True]
    assert curve.info.extra["failed"] == 2
    with pytest.raises(ConvergenceError):
        error_curve([0.2, 0.3], max_iter=2, **GOOD)
    # a failing pretraining solve is reported too
    r = generalization_error(0.3, max_iter=2, strict=False, pretraining_alpha=0.5, **GOOD)
    assert not r.converged
    with pytest.raises(ConvergenceError, match="pretraining"):
        generalization_error(0.3, max_iter=2, pretraining_alpha=0.5, **GOOD)
