"""Lazy kernels of the infinite-width network (spec infinite-width-transfer.md §1–§2)."""

from __future__ import annotations

import numpy as np
import pytest

from finetune_bounds.errors import InvalidInputError
from finetune_bounds.infinite_width._kernels import (
    LazyKernels,
    input_kernel,
    lazy_kernels,
    monte_carlo_kernels,
)

D = 10


def _points(seed: int, n: int = 4, dim: int = D) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim))
    x[1] = 0.8 * x[0] + 0.3 * x[1]  # a strongly correlated pair (small θ)
    x[2] *= 2.5  # a different norm
    return x


@pytest.mark.parametrize("activation", ["relu", "linear"])
def test_closed_form_matches_monte_carlo(activation: str) -> None:
    x = _points(1)
    y = _points(2, n=3)
    exact = lazy_kernels(x, y, activation=activation)
    mc = monte_carlo_kernels(x, y, activation=activation, neurons=200_000, rng=7)
    assert mc.neurons == 200_000
    np.testing.assert_array_equal(mc.kx, exact.kx)
    for name in ("phi", "g", "ntk"):
        est, se, ref = getattr(mc, name), getattr(mc, f"{name}_se"), getattr(exact, name)
        err = np.abs(est - ref)
        assert np.all(err <= 4.0 * se + 1e-12), (name, err.max(), se.max())
    if activation == "relu":  # the standard errors are real, not zero
        assert np.all(mc.phi_se > 0) and np.all(mc.g_se > 0)
        # and small enough that the 4-SE test means something
        assert np.all(mc.g_se < 2e-3)


def test_monte_carlo_symmetric_gram_and_chunking() -> None:
    x = _points(3)
    a = monte_carlo_kernels(x, neurons=20_000, rng=5, chunk=20_000)
    b = monte_carlo_kernels(x, neurons=20_000, rng=5, chunk=777)
    np.testing.assert_allclose(a.phi, b.phi, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(a.ntk_se, b.ntk_se, rtol=1e-9, atol=1e-14)
    for k in (a.phi, a.g, a.ntk):
        np.testing.assert_array_equal(k, k.T)
    exact = lazy_kernels(x)
    assert np.all(np.abs(a.ntk - exact.ntk) <= 4.0 * a.ntk_se)


@pytest.mark.parametrize("activation", ["relu", "linear"])
def test_gram_symmetric_psd(activation: str) -> None:
    x = np.random.default_rng(4).standard_normal((30, D))
    x[5] = x[4]  # a duplicate row: the Gram is singular
    k = lazy_kernels(x, activation=activation)
    for mat in (k.phi, k.g, k.ntk, k.kx):
        np.testing.assert_array_equal(mat, mat.T)
        eig = np.linalg.eigvalsh(mat)
        assert eig.min() >= -1e-12 * eig.max()
    np.testing.assert_allclose(k.ntk, k.phi + k.g * k.kx, rtol=0, atol=0)


def test_cross_kernel_is_block_of_gram() -> None:
    x = _points(5)
    y = _points(6, n=3)
    cross = lazy_kernels(x, y)
    full = lazy_kernels(np.vstack([x, y]))
    np.testing.assert_allclose(cross.phi, full.phi[:4, 4:], rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(cross.ntk, full.ntk[:4, 4:], rtol=1e-13, atol=1e-15)


def test_known_values() -> None:
    x = np.zeros((3, D))
    x[0, 0] = 3.0
    x[1, 1] = 2.0  # orthogonal to x[0]
    x[2, 0] = 0.5  # parallel to x[0]
    k = lazy_kernels(x)
    q = np.array([9.0, 4.0, 0.25]) / D
    # θ = 0: Φ₀ = q/2, G₀ = 1/2
    np.testing.assert_allclose(np.diag(k.phi), q / 2, rtol=1e-15)
    np.testing.assert_array_equal(np.diag(k.g), 0.5)
    np.testing.assert_allclose(k.phi[0, 2], np.sqrt(q[0] * q[2]) / 2, rtol=1e-14)
    assert k.g[0, 2] == pytest.approx(0.5, abs=1e-15)
    # orthogonal: Φ₀ = √(qq')/(2π), G₀ = 1/4
    assert k.phi[0, 1] == pytest.approx(np.sqrt(q[0] * q[1]) / (2 * np.pi), rel=1e-14)
    assert k.g[0, 1] == pytest.approx(0.25, abs=1e-15)
    assert k.ntk[0, 1] == pytest.approx(k.phi[0, 1], rel=1e-14)  # K_x = 0
    # antiparallel: θ = π, Φ₀ = G₀ = 0
    anti = lazy_kernels(x[:1], -x[:1])
    assert abs(anti.phi[0, 0]) < 1e-15 and abs(anti.g[0, 0]) < 1e-15
    # linear
    lin = lazy_kernels(x, activation="linear")
    np.testing.assert_array_equal(lin.phi, lin.kx)
    np.testing.assert_array_equal(lin.g, 1.0)
    np.testing.assert_array_equal(lin.ntk, 2.0 * lin.kx)
    np.testing.assert_allclose(input_kernel(x), x @ x.T / D, rtol=1e-15)


def test_zero_norm_input_convention() -> None:
    x = np.vstack([np.zeros(D), np.ones(D)])
    k = lazy_kernels(x)
    assert np.all(np.isfinite(k.phi)) and np.all(np.isfinite(k.g))
    assert k.phi[0, 0] == 0.0 and k.phi[0, 1] == 0.0
    assert k.g[0, 1] == 0.5 and k.g[0, 0] == 0.5
    assert k.ntk[0, 1] == 0.0


def test_relu_phi_is_one_homogeneous_in_each_norm() -> None:
    x = _points(8)
    y = _points(9, n=3)
    base = lazy_kernels(x, y)
    a, b = 3.7, 0.21
    scaled = lazy_kernels(a * x, b * y)
    np.testing.assert_allclose(scaled.phi, a * b * base.phi, rtol=1e-12)
    np.testing.assert_allclose(scaled.g, base.g, rtol=1e-12, atol=1e-14)  # G₀ is 0-homogeneous
    np.testing.assert_allclose(scaled.kx, a * b * base.kx, rtol=1e-12)


def test_results_are_frozen_and_readonly() -> None:
    k = lazy_kernels(_points(10))
    assert isinstance(k, LazyKernels)
    with pytest.raises(AttributeError):
        k.phi = k.g  # type: ignore[misc]
    with pytest.raises(ValueError):
        k.phi[0, 0] = 1.0


def test_inputs_not_mutated() -> None:
    x = _points(11)
    before = x.copy()
    lazy_kernels(x)
    monte_carlo_kernels(x, neurons=100, rng=0)
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize(
    "call",
    [
        lambda: lazy_kernels(np.array([[1.0, np.nan]])),
        lambda: lazy_kernels(np.ones((2, 3)), np.ones((2, 4))),
        lambda: lazy_kernels(np.ones((2, 3)), activation="tanh"),
        lambda: lazy_kernels(np.ones(3)),
        lambda: input_kernel(np.ones((2, 3)), np.ones((1, 2))),
        lambda: input_kernel([[np.inf, 1.0]]),
        lambda: monte_carlo_kernels(np.ones((2, 3)), activation="softplus"),
        lambda: monte_carlo_kernels(np.ones((2, 3)), np.ones((2, 4))),
        lambda: monte_carlo_kernels(np.array([[np.nan, 1.0]])),
        lambda: monte_carlo_kernels(np.ones((2, 3)), neurons=0),
        lambda: monte_carlo_kernels(np.ones((2, 3)), chunk=-1),
    ],
)
def test_bad_input_raises(call: object) -> None:
    with pytest.raises(InvalidInputError):
        call()  # type: ignore[operator]
