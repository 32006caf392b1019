"""Particle DMFT and linear closed forms (spec infinite-width-transfer.md §1–§2)."""

from __future__ import annotations

import numpy as np
import pytest

from finetune_bounds._numerics import SolverStatus
from finetune_bounds.errors import ConvergenceError, InvalidInputError
from finetune_bounds.infinite_width._dmft import (
    linear_closed_form_sa,
    linear_closed_form_sb,
    particle_dmft,
)

D, P, LAM = 15, 30, 0.1


def _task(seed: int = 1, p: int = P) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((p, D))
    y = x @ rng.standard_normal(D) / np.sqrt(D)
    return x, y, rng.standard_normal((5, D))


def test_identities_a_and_b_linear() -> None:
    x, y, xe = _task()
    r = particle_dmft(
        x,
        y,
        xe,
        gamma=1.0,
        ridge_readout=LAM,
        ridge_hidden=LAM,
        activation="linear",
        neurons=400,
        tol=1e-10,
        rng=0,
    )
    assert r.converged and r.status is SolverStatus.CONVERGED
    phi = r.block("phi")
    sol = np.linalg.solve(phi + LAM * np.eye(P), y)
    np.testing.assert_allclose(phi @ sol, r.f_train, atol=1e-8)  # (A), train
    np.testing.assert_allclose(r.block("phi", "eval") @ sol, r.f_eval, atol=1e-8)  # (A), eval
    k = r.block("ntk")
    np.testing.assert_allclose(
        k @ np.linalg.solve(k + 2 * LAM * np.eye(P), y), r.f_train, atol=1e-8
    )  # (B): δ = λ, zero anchors, 1-homogeneous φ
    np.testing.assert_allclose(r.delta, y - r.f_train)


def test_identity_a_relu_loose() -> None:
    # ReLU neurons chatter on kinks at training inputs, so the flow stalls (spec §2): (A) is
    # checked at the stated loose tolerance 2e-2 after a bounded run.
    x, y, _ = _task()
    r = particle_dmft(
        x,
        y,
        gamma=1.0,
        ridge_readout=LAM,
        ridge_hidden=LAM,
        activation="relu",
        neurons=300,
        tol=1e-6,
        max_time=60,
        max_steps=3000,
        rng=0,
    )
    phi = r.block("phi")
    fa = phi @ np.linalg.solve(phi + LAM * np.eye(P), y)
    assert np.max(np.abs(fa - r.f_train)) < 2e-2


def test_lazy_limit_kernels() -> None:
    # γ → 0 without decay (linear φ): final Φ ≈ K_x and G ≈ 1 within Monte Carlo error.
    x, y, _ = _task(p=10)
    m = 4000
    r = particle_dmft(
        x,
        y,
        gamma=1e-3,
        ridge_readout=0.0,
        ridge_hidden=0.0,
        activation="linear",
        neurons=m,
        tol=1e-8,
        max_time=500,
        rng=3,
    )
    assert r.converged
    kx = r.kx
    q = np.diag(kx)
    se_phi = np.sqrt((np.outer(q, q) + kx**2) / m)  # var of h(x)h(x') for Gaussian h
    assert np.all(np.abs(r.phi - kx) < 6 * se_phi + 1e-2)
    assert np.all(np.abs(r.g - 1.0) < 6 * np.sqrt(2.0 / m) + 1e-2)
    np.testing.assert_allclose(r.ntk, r.phi + r.g * kx)


def test_closed_form_sa_matches_particles() -> None:
    x, y, xe = _task()
    cf = linear_closed_form_sa(x, y, xe, gamma=1.0, ridge_readout=LAM, ridge_hidden=LAM)
    assert cf.converged and 0 < cf.kappa < np.inf
    # defining equation κ‖β̂‖ = √(λδ)/γ
    assert abs(cf.kappa * np.linalg.norm(cf.beta) - LAM) < 1e-12
    r = particle_dmft(
        x,
        y,
        xe,
        gamma=1.0,
        ridge_readout=LAM,
        ridge_hidden=LAM,
        activation="linear",
        neurons=400,
        tol=1e-10,
        rng=1,
    )
    np.testing.assert_allclose(r.f_train, cf.f_train, atol=1e-8)
    np.testing.assert_allclose(r.f_eval, cf.f_eval, atol=1e-8)
    phi_cf = x @ cf.feature_cov @ x.T / D  # rank one
    assert np.max(np.abs(r.block("phi") - phi_cf)) < 1e-8 * np.max(np.abs(phi_cf))


def test_closed_form_sa_below_threshold() -> None:
    x, y, _ = _task()
    cf = linear_closed_form_sa(x, y, gamma=1e-6, ridge_readout=1.0, ridge_hidden=1.0)
    assert cf.kappa == np.inf and np.all(cf.beta == 0.0)


def test_closed_form_sb_matches_particles() -> None:
    x, y, _ = _task()
    cf = linear_closed_form_sb(x, y, gamma=1.0, ridge_readout=LAM, ridge_hidden=LAM)
    s = 1.0 / LAM**2
    assert 0 < cf.kappa <= LAM
    assert abs(np.sqrt(cf.kappa / LAM) - 1 + s * cf.kappa**2 * cf.beta @ cf.beta) < 1e-12
    m = 1000
    r = particle_dmft(
        x,
        y,
        gamma=1.0,
        ridge_readout=LAM,
        ridge_hidden=LAM,
        activation="linear",
        neurons=m,
        anchor="init",
        tol=1e-8,
        rng=2,
    )
    assert r.converged
    # O(M^{-1/2}) agreement (spec §2: the M₀ = I closed form is off by O(N^{-1/2}))
    assert np.max(np.abs(r.f_train - cf.f_train)) < 3.0 / np.sqrt(m) * np.std(y)
    phi_cf = x @ cf.feature_cov @ x.T / D
    assert np.max(np.abs(r.block("phi") - phi_cf)) < 5.0 / np.sqrt(m) * np.max(np.abs(phi_cf))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"gamma": 0.0},
        {"gamma": -1.0},
        {"ridge_readout": -0.1},
        {"activation": "tanh"},
        {"anchor": "source"},
        {"neurons": 1},
        {"tol": 0.0},
    ],
)
def test_bad_input(kwargs: dict[str, object]) -> None:
    x, y, _ = _task()
    base: dict[str, object] = {
        "gamma": 1.0,
        "ridge_readout": LAM,
        "ridge_hidden": LAM,
        "neurons": 10,
    }
    base.update(kwargs)
    with pytest.raises(InvalidInputError):
        particle_dmft(x, y, **base)  # type: ignore[arg-type]


def test_bad_shapes() -> None:
    x, y, _ = _task()
    with pytest.raises(InvalidInputError):
        particle_dmft(x, y[:-1], gamma=1.0, ridge_readout=LAM, ridge_hidden=LAM)
    with pytest.raises(InvalidInputError):
        particle_dmft(x, y, np.ones((2, D + 1)), gamma=1.0, ridge_readout=LAM, ridge_hidden=LAM)
    x[0, 0] = np.nan
    with pytest.raises(InvalidInputError):
        particle_dmft(x, y, gamma=1.0, ridge_readout=LAM, ridge_hidden=LAM)


def test_not_converged_status_and_strict() -> None:
    x, y, _ = _task()
    kw = {
        "gamma": 1.0,
        "ridge_readout": LAM,
        "ridge_hidden": LAM,
        "activation": "linear",
        "neurons": 50,
        "max_time": 1e-3,
    }
    r = particle_dmft(x, y, **kw)  # type: ignore[arg-type]
    assert not r.converged and r.status is SolverStatus.MAX_ITERATIONS
    assert r.time <= 1e-3 + 1e-15
    with pytest.raises(ConvergenceError):
        particle_dmft(x, y, strict=True, **kw)  # type: ignore[arg-type]
