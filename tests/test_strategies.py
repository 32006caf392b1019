"""The shipped Hypothesis strategies produce what their docstrings promise."""

from __future__ import annotations

import importlib
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import finetune_bounds as fb
from finetune_bounds.testing import (
    covariances,
    designs,
    linear_tasks,
    orthogonal_matrices,
    spectra,
    tasks_with_designs,
)


@given(spectra(min_dim=1, max_dim=10, condition_number=50.0))
def test_spectra_sorted_positive_and_conditioned(lam: np.ndarray) -> None:
    assert lam.dtype == np.float64
    assert 1 <= lam.size <= 10
    assert np.all(np.diff(lam) <= 0)
    assert lam[-1] > 0
    assert lam[0] / lam[-1] <= 50.0 * (1 + 1e-12)
    assert 0.1 * (1 - 1e-12) <= lam[0] <= 10.0 * (1 + 1e-12)


@given(st.data())
def test_spectra_rank_and_isotropic(data: st.DataObject) -> None:
    d = data.draw(st.integers(1, 8))
    r = data.draw(st.integers(0, d))
    lam = data.draw(spectra(dim=d, rank=r))
    assert lam.size == d
    assert np.count_nonzero(lam) == r
    iso = data.draw(spectra(dim=d, isotropic=True))
    assert np.all(iso == iso[0]) and iso[0] > 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"dim": 3, "rank": 4},
        {"dim": 3, "rank": 2, "isotropic": True},
        {"dim": 3, "condition_number": 0.5},
        {"min_dim": 4, "max_dim": 2},
        {"dim": 0},
    ],
)
def test_spectra_rejects_bad_parameters(kwargs: dict) -> None:
    @given(spectra(**kwargs))
    def draw_one(_: np.ndarray) -> None:
        raise AssertionError("unreachable: the strategy must refuse these parameters")

    with pytest.raises(fb.InvalidInputError):
        draw_one()


@given(st.integers(1, 7).flatmap(lambda d: orthogonal_matrices(d)))
def test_orthogonal_matrices_are_orthogonal(q: np.ndarray) -> None:
    d = q.shape[0]
    assert q.shape == (d, d)
    np.testing.assert_allclose(q.T @ q, np.eye(d), atol=1e-12)


@given(covariances(max_dim=6, rank=None, condition_number=30.0))
def test_covariances_are_valid_psd(cov: fb.Covariance) -> None:
    m = cov.matrix
    np.testing.assert_allclose(m, m.T, atol=1e-12)
    assert cov.rank == cov.dim
    assert cov.eigenvalues[0] / cov.eigenvalues[-1] <= 30.0 * (1 + 1e-9)
    # the matrix rebuilt from its eigenpairs has the same spectrum
    np.testing.assert_allclose(
        np.sort(np.linalg.eigvalsh(m))[::-1], cov.eigenvalues, atol=1e-10 * cov.eigenvalues[0]
    )


@given(covariances(dim=5, rank=2))
def test_covariances_with_rank(cov: fb.Covariance) -> None:
    assert cov.rank == 2
    assert np.linalg.matrix_rank(cov.matrix, tol=1e-8 * cov.eigenvalues[0]) == 2


@given(covariances(dim=4, isotropic=True))
def test_isotropic_covariances(cov: fb.Covariance) -> None:
    assert cov.is_isotropic


@given(linear_tasks(max_dim=5, noise=True))
def test_linear_tasks(task: fb.LinearTask) -> None:
    assert 1 <= task.dim <= 5
    assert 0.0 <= task.noise_variance <= 2.0
    assert np.all(np.abs(task.source) <= 2.0) and np.all(np.abs(task.target) <= 2.0)
    assert not task.source.flags.writeable


@given(linear_tasks(covariance=fb.Covariance.isotropic(3, 2.0), noise=0.5))
def test_linear_tasks_fixed_covariance_and_noise(task: fb.LinearTask) -> None:
    assert task.dim == 3 and task.noise_variance == 0.5
    assert task.covariance.operator_norm == 2.0


@given(tasks_with_designs(max_dim=5))
def test_tasks_with_designs_generic_rank(pair: tuple[fb.LinearTask, np.ndarray]) -> None:
    task, x = pair
    n, d = x.shape
    assert d == task.dim and 0 <= n <= d + 2
    if n:
        assert np.linalg.matrix_rank(x) == min(n, task.covariance.rank)


@given(designs(dim=3, n=4, generic=False))
def test_non_generic_designs_in_range(x: np.ndarray) -> None:
    assert x.shape == (4, 3)
    assert np.all(np.abs(x) <= 3.0)


def test_testing_is_lazy() -> None:
    """`import finetune_bounds` must not import hypothesis (it is an optional extra)."""
    code = "import sys, finetune_bounds; assert 'hypothesis' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
    mod = importlib.import_module("finetune_bounds.testing")
    assert mod.strategies.covariances is covariances
    with pytest.raises(AttributeError):
        _ = mod.no_such_strategy
