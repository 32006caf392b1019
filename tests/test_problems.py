"""Problem specs (spec linear-teachers §1): validation at the door, eigen-route correctness,
immutability."""

from __future__ import annotations

import math

import numpy as np
import pytest

import finetune_bounds as fb
from finetune_bounds._validation import nonneg_float, positive_int
from finetune_bounds.problems import Covariance, LinearTask


def _rotation(d: int, seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    return q * np.sign(np.diag(r))


# ---------------------------------------------------------------------------------------------
# Covariance: construction routes agree with dense linear algebra
# ---------------------------------------------------------------------------------------------
def test_from_matrix_eigenpairs() -> None:
    d = 7
    q = _rotation(d, 0)
    lam = np.array([5.0, 3.0, 3.0, 1.0, 0.5, 0.0, 0.0])
    sigma = (q * lam) @ q.T
    cov = Covariance.from_matrix(sigma)
    np.testing.assert_allclose(cov.eigenvalues, lam, atol=1e-12)
    assert np.all(np.diff(cov.eigenvalues) <= 0)
    np.testing.assert_allclose(cov.matrix, sigma, atol=1e-12)
    np.testing.assert_allclose(cov.sqrt_matrix @ cov.sqrt_matrix, sigma, atol=1e-12)
    np.testing.assert_allclose(cov.eigenvectors.T @ cov.eigenvectors, np.eye(d), atol=1e-12)
    assert cov.rank == 5 and cov.dim == d
    assert cov.trace == pytest.approx(lam.sum())
    assert cov.operator_norm == pytest.approx(5.0)
    assert cov.effective_rank == pytest.approx(lam.sum() / 5.0)
    assert not cov.is_isotropic
    v = np.random.default_rng(1).standard_normal((3, d))
    np.testing.assert_allclose(cov.quadratic_form(v), np.einsum("bi,ij,bj->b", v, sigma, v))
    np.testing.assert_allclose(cov.to_eigenbasis(v) @ cov.eigenvectors.T, v, atol=1e-12)


def test_from_matrix_blocked_pass_across_blocks() -> None:
    """from_matrix's one blocked pass (symmetry check, diagonal test, scaled symmetrisation)
    over more than one block: the decisions see entries in the cross blocks too."""
    from finetune_bounds import problems

    d = problems._BLOCK + 188
    rng = np.random.default_rng(7)
    a = rng.standard_normal((d, d))
    s = a @ a.T / d
    cov = fb.Covariance.from_matrix(s)
    w = np.linalg.eigvalsh(s)[::-1]
    np.testing.assert_allclose(cov.eigenvalues, w, rtol=1e-12, atol=1e-12 * w[0])
    np.testing.assert_allclose(cov.matrix, s, atol=1e-12)
    bad = s.copy()
    bad[3, d - 5] += 1e-3  # asymmetric only in a cross block
    with pytest.raises(fb.InvalidInputError, match="not symmetric"):
        fb.Covariance.from_matrix(bad)
    diag = np.diag(rng.uniform(0.5, 2.0, d))
    assert fb.Covariance.from_matrix(diag)._is_diagonal
    diag[2, d - 3] = diag[d - 3, 2] = 0.1  # one symmetric pair in a cross block
    assert not fb.Covariance.from_matrix(diag)._is_diagonal


def test_from_spectrum_sorts_and_keeps_pairs() -> None:
    lam = np.array([1.0, 4.0, 2.0])
    q = _rotation(3, 2)
    cov = Covariance.from_spectrum(lam, q)
    np.testing.assert_allclose(cov.matrix, (q * lam) @ q.T, atol=1e-12)
    np.testing.assert_array_equal(cov.eigenvalues, [4.0, 2.0, 1.0])
    plain = Covariance.from_spectrum(lam)  # V = I, unsorted input
    np.testing.assert_allclose(plain.matrix, np.diag(lam))
    np.testing.assert_allclose(plain.quadratic_form([0.0, 1.0, 0.0]), 4.0)


def test_diagonal_matrix_unsorted() -> None:
    cov = Covariance.from_matrix(np.diag([1.0, 3.0, 2.0]))
    np.testing.assert_allclose(cov.quadratic_form(np.eye(3)), [1.0, 3.0, 2.0])


def test_isotropic() -> None:
    cov = Covariance.isotropic(5, 2.0)
    assert cov.is_isotropic and cov.rank == 5 and cov.operator_norm == 2.0
    rotated = Covariance.from_matrix(_rotation(5, 3) @ (2.0 * np.eye(5)) @ _rotation(5, 3).T)
    assert rotated.is_isotropic
    assert Covariance.isotropic(3, 0.0).rank == 0


def test_sample_covariance_matches() -> None:
    """Empirical covariance of N draws vs Σ, entrywise within 5 stderr, where
    Var(x_i x_j) = Σ_ii Σ_jj + Σ_ij² for Gaussian x (5σ over 10 distinct entries)."""
    q = _rotation(4, 4)
    sigma = (q * np.array([3.0, 1.0, 0.5, 0.0])) @ q.T
    cov = Covariance.from_matrix(sigma)
    m = 20_000
    x = cov.sample(m, np.random.default_rng(5))
    assert x.shape == (m, 4)
    emp = x.T @ x / m
    se = np.sqrt((np.outer(np.diag(sigma), np.diag(sigma)) + sigma**2) / m)
    assert np.all(np.abs(emp - sigma) <= 5 * se + 1e-12)
    assert cov.sample(3, np.random.default_rng(0), batch=(2, 5)).shape == (2, 5, 3, 4)
    # rows lie in range Σ: no component along the null eigenvector
    assert np.max(np.abs(x @ cov.eigenvectors[:, -1])) < 1e-10


def test_tiny_rounding_eigenvalues_are_zero_and_scale_invariance() -> None:
    lam = np.array([1.0, 1e-3, -1e-14])  # −1e-14 is rounding noise relative to λ_max = 1
    cov = Covariance.from_spectrum(lam)
    assert cov.rank == 2 and cov.eigenvalues[-1] == 0.0
    small = Covariance.from_spectrum(lam * 1e-30)  # the same decision at any scale
    assert small.rank == 2
    with pytest.raises(fb.InvalidInputError, match="positive semi-definite"):
        Covariance.from_matrix(1e-20 * np.diag([1.0, -1.0]))


# ---------------------------------------------------------------------------------------------
# Covariance: validation at the door
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("matrix", "match"),
    [
        (np.ones((2, 3)), "square"),
        (np.ones(3), "2-dimensional"),
        (np.ones((2, 2, 2)), "2-dimensional"),
        (np.zeros((0, 0)), "empty"),
        ([[1.0, 2.0], [0.0, 1.0]], "not symmetric"),
        (np.diag([1.0, -0.1]), "positive semi-definite"),
        ([[1.0, 2.0], [2.0, 1.0]], "positive semi-definite"),
        ([[np.nan, 0.0], [0.0, 1.0]], "non-finite"),
        ([[np.inf, 0.0], [0.0, 1.0]], "non-finite"),
        (np.eye(2) * (1 + 1j), "real"),
        ([["a", "b"], ["c", "d"]], "numeric"),
        ("not a matrix", "numeric|2-dimensional"),
    ],
)
def test_from_matrix_rejects(matrix: object, match: str) -> None:
    with pytest.raises(fb.InvalidInputError, match=match):
        Covariance.from_matrix(matrix)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"eigenvalues": [1.0, -0.5]}, "positive semi-definite"),
        ({"eigenvalues": [1.0, np.nan]}, "non-finite"),
        ({"eigenvalues": []}, "empty"),
        ({"eigenvalues": [[1.0, 2.0], [3.0, 4.0]]}, "vector"),
        ({"eigenvalues": [1.0, 2.0], "eigenvectors": np.eye(3)}, "shape"),
        ({"eigenvalues": [1.0, 2.0], "eigenvectors": [[1.0, 1.0], [0.0, 1.0]]}, "orthonormal"),
        ({"eigenvalues": [1.0, 2.0], "eigenvectors": 2 * np.eye(2)}, "orthonormal"),
        ({"eigenvalues": [1.0, 2.0], "tol": 0.0}, "tol"),
        ({"eigenvalues": [1.0, 2.0], "tol": 2.0}, "tol"),
        ({"eigenvalues": [1.0, 2.0], "tol": "small"}, "tol"),
    ],
)
def test_from_spectrum_rejects(kwargs: dict, match: str) -> None:
    with pytest.raises(fb.InvalidInputError, match=match):
        Covariance.from_spectrum(**kwargs)


def test_direct_construction_is_validated() -> None:
    cov = Covariance(np.array([2.0, 1.0]), np.eye(2))
    assert cov.rank == 2 and not cov.eigenvalues.flags.writeable
    with pytest.raises(fb.InvalidInputError, match="decreasing"):
        Covariance(np.array([1.0, 2.0]), np.eye(2))
    with pytest.raises(fb.InvalidInputError, match="orthonormal"):
        Covariance(np.array([2.0, 1.0]), np.ones((2, 2)))
    with pytest.raises(fb.InvalidInputError, match="positive semi-definite"):
        Covariance(np.array([2.0, -1.0]), np.eye(2))


@pytest.mark.parametrize(("dim", "scale"), [(0, 1.0), (2.5, 1.0), (3, -1.0), (3, math.nan)])
def test_isotropic_rejects(dim: object, scale: float) -> None:
    with pytest.raises(fb.InvalidInputError):
        Covariance.isotropic(dim, scale)  # type: ignore[arg-type]


def test_covariance_is_immutable_and_does_not_alias_input() -> None:
    m = np.diag([3.0, 2.0, 1.0])
    cov = Covariance.from_matrix(m)
    m[0, 0] = 100.0
    assert cov.operator_norm == 3.0
    for arr in (cov.eigenvalues, cov.eigenvectors, cov.matrix, cov.sqrt_matrix):
        assert not arr.flags.writeable
        with pytest.raises(ValueError):
            arr[0] = 0.0
    with pytest.raises(AttributeError):
        cov.tol = 1.0  # type: ignore[misc]
    lam = np.array([3.0, 1.0])
    vec = np.eye(2)
    c2 = Covariance.from_spectrum(lam, vec)
    lam[0], vec[0, 0] = 7.0, 5.0
    assert c2.eigenvalues[0] == 3.0 and c2.eigenvectors[0, 0] == 1.0


# ---------------------------------------------------------------------------------------------
# LinearTask
# ---------------------------------------------------------------------------------------------
def test_linear_task_derived_quantities() -> None:
    q = _rotation(4, 6)
    sigma = (q * np.array([4.0, 2.0, 1.0, 0.5])) @ q.T
    src = np.array([1.0, 0.0, -1.0, 2.0])
    tgt = np.array([0.5, 1.0, 0.0, 2.0])
    task = LinearTask(sigma, src, tgt, 0.25)  # a matrix is accepted
    assert isinstance(task.covariance, Covariance) and task.dim == 4
    np.testing.assert_allclose(task.delta, tgt - src)
    vec = task.covariance.eigenvectors
    np.testing.assert_allclose(vec @ task.delta_eig, task.delta, atol=1e-12)
    np.testing.assert_allclose(vec @ task.target_eig, tgt, atol=1e-12)
    np.testing.assert_allclose(vec @ task.source_eig, src, atol=1e-12)
    scratch = task.from_scratch()
    assert np.all(scratch.source == 0) and np.array_equal(scratch.target, task.target)
    assert scratch.noise_variance == 0.25 and scratch.covariance is task.covariance
    for arr in (task.source, task.target, task.delta, task.delta_eig):
        assert not arr.flags.writeable
    src[0] = 50.0
    assert task.source[0] == 1.0
    assert "LinearTask(d=4" in repr(task) and "Covariance(dim=4" in repr(task.covariance)
    # column vectors are accepted
    assert LinearTask(np.eye(2), [[1.0], [2.0]], [[0.0, 0.0]]).source.shape == (2,)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((np.eye(3), np.zeros(2), np.zeros(3)), "source must have length 3"),
        ((np.eye(3), np.zeros(3), np.zeros(4)), "target must have length 3"),
        ((np.eye(3), np.zeros((3, 3)), np.zeros(3)), "vector"),
        ((np.eye(3), [0.0, np.nan, 0.0], np.zeros(3)), "non-finite"),
        ((np.eye(3), np.zeros(3), np.zeros(3), -0.1), "noise_variance"),
        ((np.eye(3), np.zeros(3), np.zeros(3), math.inf), "noise_variance"),
        ((np.eye(3), np.zeros(3), np.zeros(3), True), "noise_variance"),
        ((np.eye(3), np.zeros(3), np.zeros(3), "0.1"), "noise_variance"),
        ((np.ones((3, 2)), np.zeros(3), np.zeros(3)), "square"),
        ((-np.eye(3), np.zeros(3), np.zeros(3)), "positive semi-definite"),
    ],
)
def test_linear_task_rejects(args: tuple, match: str) -> None:
    with pytest.raises(fb.InvalidInputError, match=match):
        LinearTask(*args)


def test_count_and_float_validators() -> None:
    assert positive_int(3, "n") == 3
    assert positive_int(np.int64(4), "n") == 4
    assert positive_int(5.0, "n") == 5
    assert positive_int(0, "n", allow_zero=True) == 0
    for bad in (2.5, -1, 0, True, "3", None, math.inf, math.nan):
        with pytest.raises(fb.InvalidInputError, match="n must be"):
            positive_int(bad, "n")
    assert nonneg_float(np.float32(0.5), "x") == 0.5
    for bad in (-1e-3, math.nan, math.inf, "1", None, False):
        with pytest.raises(fb.InvalidInputError, match="x must be"):
            nonneg_float(bad, "x")
    with pytest.raises(fb.InvalidInputError, match="> 0"):
        nonneg_float(0.0, "x", positive=True)


def test_errors_hierarchy() -> None:
    for cls in (
        fb.InvalidInputError,
        fb.SolverError,
        fb.ConvergenceError,
        fb.NotReachableError,
        fb.ConfigError,
    ):
        assert issubclass(cls, fb.FinetuneBoundsError)
    assert issubclass(fb.InvalidInputError, ValueError)
    assert issubclass(fb.ConvergenceError, fb.SolverError)


def test_diagonal_covariance_stays_o_of_d() -> None:
    """from_spectrum without eigenvectors keeps the axes as a permutation: eigenbasis
    coordinates, quadratic forms and sampling agree with the dense route, and no (d, d) array is
    built unless asked for (issue 9, item 5)."""
    lam = np.array([0.5, 3.0, 0.0, 1.0, 2.0])  # unsorted, with a zero
    cov = Covariance.from_spectrum(lam)
    dense = Covariance(cov.eigenvalues, cov.eigenvectors)  # the same Σ held densely
    assert np.array_equal(cov.eigenvalues, [3.0, 2.0, 1.0, 0.5, 0.0])
    v = np.arange(10.0).reshape(2, 5)
    np.testing.assert_array_equal(cov.to_eigenbasis(v), dense.to_eigenbasis(v))
    np.testing.assert_allclose(cov.quadratic_form(v), v**2 @ lam)
    np.testing.assert_allclose(cov.matrix, np.diag(lam))
    a = cov.sample(4, np.random.default_rng(3), batch=(2,))
    b = dense.sample(4, np.random.default_rng(3), batch=(2,))
    np.testing.assert_allclose(a, b, atol=1e-15)
    assert np.all(a[..., 2] == 0)  # the zero-variance axis stays exactly zero
    big = Covariance.from_spectrum(1.0 / np.arange(1, 200_001))
    task = LinearTask(big, np.zeros(200_000), np.full(200_000, 1e-3))
    from finetune_bounds.linear import expected_risk

    assert expected_risk(task, 1000).risk > 0
    assert "eigenvectors" not in big.__dict__ and "matrix" not in big.__dict__
