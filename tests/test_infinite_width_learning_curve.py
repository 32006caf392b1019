"""Kernel learning curves (spec ``infinite-width-transfer.md`` §4): theory against direct kernel
ridge regression on a pool, Hypothesis properties, closed-form limits and input validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from finetune_bounds._numerics import SolverStatus, stderr
from finetune_bounds.errors import InvalidInputError
from finetune_bounds.infinite_width._learning_curve import (
    EmpiricalSpectrum,
    LearningCurve,
    empirical_spectrum,
    learning_curve,
)


# ---------------------------------------------------------------------------------------------
# theory vs simulation
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gaussian_feature_pool() -> tuple[np.ndarray, np.ndarray, EmpiricalSpectrum]:
    """M = 2000 inputs with R = 300 Gaussian features ψ_ρ(x) = √η_ρ z_ρ, η_ρ = ρ^(−1.5), so
    K = ψ ψᵀ has rank 300 on the pool; target f = Σ w_ρ z_ρ with w_ρ ∝ ρ^(−1/2)."""
    rng = np.random.default_rng(0)
    m, r = 2000, 300
    eta = np.arange(1, r + 1, dtype=np.float64) ** -1.5
    z = rng.standard_normal((m, r))
    feats = z * np.sqrt(eta)
    gram = feats @ feats.T
    f = 0.3 * z @ (rng.standard_normal(r) * np.arange(1, r + 1) ** -0.5)
    return gram, f, empirical_spectrum(gram, f)


@pytest.mark.parametrize(("ridge", "noise"), [(1e-1, 0.0), (1e-2, 0.1), (1e-3, 0.0)])
def test_theory_matches_kernel_ridge_regression(
    gaussian_feature_pool: tuple[np.ndarray, np.ndarray, EmpiricalSpectrum],
    ridge: float,
    noise: float,
) -> None:
    """n points drawn i.i.d. (with replacement) from the pool, KRR fitted, error measured on the
    whole pool: the pool's uniform measure is the theory's input density, exactly.

    Tolerance |mean − theory| ≤ 0.05·theory + 3·SE: 3 standard errors of the mean over 30 seeds
    bound the Monte-Carlo error (two-sided normal tail 0.3 % per point), and 5 % bounds the
    finite-n bias of the P → ∞ theory (O(1/n) corrections; measured ≤ 3.5 % at n = 10 here).
    Sample sizes stay below rank/2 = 150, away from the interpolation peak at n = rank.
    """
    gram, f, sp = gaussian_feature_pool
    m = f.shape[0]
    ns = np.array([10, 30, 100])
    theory = learning_curve(sp.eigenvalues, sp.target_power, ns, ridge=ridge, noise_variance=noise)
    assert theory.converged
    for i, n in enumerate(ns):
        errs = []
        for seed in range(30):
            rng = np.random.default_rng(1000 + seed)
            idx = rng.integers(0, m, n)
            y = f[idx] + math.sqrt(noise) * rng.standard_normal(n)
            alpha = np.linalg.solve(gram[np.ix_(idx, idx)] + ridge * np.eye(n), y)
            errs.append(np.mean((gram[:, idx] @ alpha - f) ** 2))
        mean, se = float(np.mean(errs)), float(stderr(errs))
        expected = float(theory.error[i])
        assert abs(mean - expected) <= 0.05 * expected + 3 * se, (n, mean, se, expected)


def test_empirical_spectrum_normalisation() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((60, 3))
    gram = np.exp(-0.5 * np.sum((x[:, None] - x[None]) ** 2, axis=-1))
    y = np.sin(x[:, 0])
    sp = empirical_spectrum(gram, y)
    assert np.all(sp.eigenvalues >= 0)
    assert np.all(np.diff(sp.eigenvalues) <= 0)
    assert sp.eigenvalues.sum() == pytest.approx(np.trace(gram) / 60, rel=1e-10)
    assert sp.target_power.sum() == pytest.approx(np.mean(y**2), rel=1e-10)  # Parseval
    # E_g at n = 0 is the error of the zero predictor on the pool
    assert float(learning_curve(sp.eigenvalues, sp.target_power, 0).error) == pytest.approx(
        np.mean(y**2), rel=1e-12
    )


# ---------------------------------------------------------------------------------------------
# Hypothesis properties
# ---------------------------------------------------------------------------------------------
positive = st.floats(1e-4, 10.0, allow_nan=False, allow_infinity=False)
nonneg = st.one_of(st.just(0.0), positive)


@st.composite
def spectra(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    k = draw(st.integers(1, 8))
    eta = np.array(draw(st.lists(nonneg, min_size=k, max_size=k)))
    v2 = np.array(draw(st.lists(nonneg, min_size=k, max_size=k)))
    return eta, v2


@given(spectra(), positive, nonneg)
def test_kappa_decreases_in_n(
    spec: tuple[np.ndarray, np.ndarray], ridge: float, noise: float
) -> None:
    eta, v2 = spec
    ns = np.linspace(0.0, 50.0, 101)
    lc = learning_curve(eta, v2, ns, ridge=ridge, noise_variance=noise)
    assert lc.converged
    assert np.all(np.diff(lc.kappa) <= 1e-12 * lc.kappa[:-1])
    assert np.all(lc.kappa >= ridge * (1 - 1e-12))


@given(spectra(), positive)
def test_error_decreases_in_n_target_on_top_mode(
    spec: tuple[np.ndarray, np.ndarray], ridge: float
) -> None:
    """Noiseless, ridge > 0, all target power on the largest eigenvalue(s): E_g non-increasing.

    Not true in general: power on a weaker mode can make the theory's E_g rise at small n while
    stronger modes absorb the first samples (γ grows faster than the weak mode is learned); see
    :func:`test_error_can_rise_for_a_weak_mode_target`.
    """
    eta, v2 = spec
    v2 = np.where(eta == eta.max(), v2, 0.0) if eta.max() > 0 else v2 * 0
    ns = np.linspace(0.0, 50.0, 101)
    lc = learning_curve(eta, v2, ns, ridge=ridge)
    assert lc.converged
    assert np.all(np.diff(lc.error) <= 1e-10 * (1.0 + lc.error[:-1]))


def test_error_can_rise_for_a_weak_mode_target() -> None:
    """Counterexample to monotonicity in n at fixed ridge (noiseless, target in the span):
    η = (0.5, 3), v² = (1, 0), λ = 1 gives E_g(1) ≈ 1.0106 > E_g(0) = 1 in the theory (direct
    KRR with Gaussian features measures ≈ 0.65 at n = 1: the P → ∞ theory is not accurate there)."""
    lc = learning_curve([0.5, 3.0], [1.0, 0.0], [0.0, 1.0, 2.0], ridge=1.0)
    assert lc.error[1] > lc.error[0] > lc.error[2]


@given(spectra(), nonneg, nonneg, st.randoms(use_true_random=False))
def test_permutation_invariance_nonnegativity_and_n0(
    spec: tuple[np.ndarray, np.ndarray], ridge: float, noise: float, rnd: object
) -> None:
    eta, v2 = spec
    ns = np.array([0.0, 0.5, 1.0, 2.5, 7.0, 30.0])
    lc = learning_curve(eta, v2, ns, ridge=ridge, noise_variance=noise)
    assert lc.converged
    assert lc.error[0] == pytest.approx(v2.sum(), rel=1e-12, abs=1e-300)
    assert np.all(lc.error >= 0)
    assert np.all((lc.gamma >= 0) & (lc.gamma <= 1 + 1e-12))
    perm = np.random.default_rng(rnd.randrange(2**32)).permutation(eta.shape[0])  # type: ignore[attr-defined]
    lp = learning_curve(eta[perm], v2[perm], ns, ridge=ridge, noise_variance=noise)
    np.testing.assert_allclose(lp.error, lc.error, rtol=1e-9)
    np.testing.assert_allclose(lp.mode_errors, lc.mode_errors[:, perm], rtol=1e-9)
    finite = np.isfinite(lc.error)
    with np.errstate(divide="ignore", invalid="ignore"):
        noise_term = np.where(lc.gamma * noise > 0, lc.gamma * noise / (1 - lc.gamma), 0.0)
    np.testing.assert_allclose(
        (lc.mode_errors.sum(axis=1) + noise_term)[finite], lc.error[finite], rtol=1e-6
    )


# ---------------------------------------------------------------------------------------------
# limits and closed forms
# ---------------------------------------------------------------------------------------------
def test_infinite_ridge_gives_zero_predictor() -> None:
    eta, v2 = np.array([3.0, 1.0, 0.2, 0.0]), np.array([0.5, 1.0, 2.0, 0.3])
    lc = learning_curve(eta, v2, [1, 10, 100], ridge=1e12, noise_variance=0.5)
    np.testing.assert_allclose(lc.error, v2.sum(), rtol=1e-8)


@pytest.mark.parametrize("ridge", [0.0, 1e-3, 0.7, 5.0])
@pytest.mark.parametrize("noise", [0.0, 0.3])
def test_single_mode_closed_form(ridge: float, noise: float) -> None:
    """One mode: κ² + κ(nη − λ − η) − λnη = 0, γ = nη²/(nη + κ)²."""
    eta, v2 = 2.0, 1.5
    ns = np.array([0.0, 0.25, 0.5, 0.9, 1.5, 4.0, 20.0])
    ns = ns[(ns != 1.0) | (ridge > 0)]
    lc = learning_curve([eta], [v2], ns, ridge=ridge, noise_variance=noise)
    b = ns * eta - ridge - eta
    kappa = 0.5 * (-b + np.sqrt(b * b + 4 * ridge * ns * eta))
    kappa = np.where(ns == 0, ridge + eta, kappa)
    with np.errstate(divide="ignore", invalid="ignore"):
        gamma = np.where(ns == 0, 0.0, ns * eta**2 / (ns * eta + kappa) ** 2)
        err = (
            np.where(kappa > 0, kappa**2 * v2 / (ns * eta + kappa) ** 2, 0.0) + gamma * noise
        ) / (1 - gamma)
    np.testing.assert_allclose(lc.kappa, kappa, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(lc.gamma, gamma, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(lc.error, err, rtol=1e-8, atol=1e-14)


def test_ridgeless_interpolation_regime() -> None:
    """ridge = 0, n ≥ rank r: κ = 0, γ = r/n, E = null-mode power/(1 − r/n) + rσ²/(n − r);
    at n = r the λ → 0⁺ limit (inf with noise), and continuity from ridge → 0⁺."""
    eta, v2 = np.array([1.0, 0.5, 0.25, 0.0]), np.array([1.0, 1.0, 1.0, 0.2])
    ns = np.array([3.0, 4.0, 12.0])
    lc = learning_curve(eta, v2, ns, noise_variance=0.1)
    assert lc.status is SolverStatus.EXACT
    assert lc.info.extra["interpolating"] == 3
    np.testing.assert_array_equal(lc.kappa, 0.0)
    np.testing.assert_allclose(lc.gamma, 3 / ns)
    assert math.isinf(lc.error[0])
    expected = 0.2 / (1 - 3 / ns[1:]) + 3 * 0.1 / (ns[1:] - 3)
    np.testing.assert_allclose(lc.error[1:], expected, rtol=1e-12)
    near = learning_curve(eta, v2, ns[1:], ridge=1e-10, noise_variance=0.1)
    np.testing.assert_allclose(near.error, expected, rtol=1e-6)
    below = learning_curve(eta, v2, [1.0, 2.9], noise_variance=0.1)
    assert below.status is SolverStatus.CONVERGED and np.all(below.kappa > 0)


def test_result_shapes_and_diagnostics() -> None:
    lc = learning_curve([1.0, 0.1], [1.0, 0.5], 3.0, ridge=0.1)
    assert isinstance(lc, LearningCurve)
    assert lc.error.shape == () and lc.mode_errors.shape == (2,)
    lc2 = learning_curve([1.0, 0.1], [1.0, 0.5], np.ones((2, 3)), ridge=0.1)
    assert lc2.error.shape == (2, 3) and lc2.mode_errors.shape == (2, 3, 2)
    assert lc2.converged and lc2.info.iterations >= 1 and lc2.info.residual < 1e-12
    assert not lc2.error.flags.writeable


# ---------------------------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("eta", "v2", "n", "kw"),
    [
        ([1.0, -0.1], [1.0, 1.0], 1.0, {}),
        ([1.0, float("nan")], [1.0, 1.0], 1.0, {}),
        ([1.0, 0.5], [1.0], 1.0, {}),
        ([1.0], [-1.0], 1.0, {}),
        ([1.0], [1.0], -1.0, {}),
        ([1.0], [1.0], [1.0, float("nan")], {}),
        ([1.0], [1.0], 1.0, {"ridge": -1e-3}),
        ([1.0], [1.0], 1.0, {"noise_variance": -1.0}),
        ([1.0], [1.0], 1.0, {"ridge": float("inf")}),
        ([], [], 1.0, {}),
    ],
)
def test_bad_input_raises(eta: list[float], v2: list[float], n: object, kw: dict) -> None:
    with pytest.raises(InvalidInputError):
        learning_curve(eta, v2, n, **kw)  # type: ignore[arg-type]


def test_empirical_spectrum_bad_input() -> None:
    with pytest.raises(InvalidInputError):
        empirical_spectrum(np.ones((3, 4)), np.ones(3))
    with pytest.raises(InvalidInputError):
        empirical_spectrum(np.eye(3), np.ones(4))
    with pytest.raises(InvalidInputError):
        empirical_spectrum(np.array([[1.0, 2.0], [0.0, 1.0]]), np.ones(2))
    with pytest.raises(InvalidInputError):
        empirical_spectrum(-np.eye(3), np.ones(3))


def test_ridgeless_peak_is_infinite_with_noise() -> None:
    # n = rank, ridge 0, noise > 0: 1 − γ = (n − r)/n = 0 exactly, so E_g = ∞ (not ~1e14)
    lc = learning_curve(np.ones(10), np.ones(10), [10, 20], noise_variance=0.1)
    assert np.isinf(lc.error[0]) and lc.gamma[0] == 1.0
    assert lc.error[1] == pytest.approx(0.1 * 0.5 / 0.5)
