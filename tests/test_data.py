"""scikit-learn digits as a fine-tuning task (spec linear-teachers §5), checked against
independent routes: numpy's covariance, scikit-learn's LinearRegression, and the excess-risk
identity on the finite data set."""

from __future__ import annotations

import numpy as np
import pytest

from finetune_bounds import InvalidInputError, LinearTask
from finetune_bounds.data import (
    LABEL_FUNCTIONS,
    digits_design,
    digits_features,
    digits_labels,
    digits_task,
    digits_teacher,
    label_values,
)


def test_features_and_labels():
    x = digits_features()
    y = digits_labels()
    assert x.shape == (1797, 64) and x.dtype == np.float64
    assert y.shape == (1797,) and np.issubdtype(y.dtype, np.integer)
    assert set(np.unique(y)) == set(range(10))
    np.testing.assert_allclose(x.mean(axis=0), 0.0, atol=1e-12)  # centered
    assert x.std(axis=0).max() > 1.0  # not scaled (pixel values 0…16)
    from sklearn.datasets import load_digits

    raw = load_digits().data
    np.testing.assert_allclose(x, raw - raw.mean(axis=0), atol=1e-12)
    with pytest.raises(ValueError):
        x[0, 0] = 1.0  # cached and read-only


def test_covariance_is_psd_and_singular_columns_are_its_kernel():
    task = digits_task()
    x = digits_features()
    sigma = task.covariance.matrix
    np.testing.assert_allclose(sigma, np.cov(x, rowvar=False, ddof=0), atol=1e-9)
    assert np.all(task.covariance.eigenvalues >= 0)
    const = np.flatnonzero(x.std(axis=0) == 0)
    assert const.size == 3  # three pixels are 0 in every image
    assert task.covariance.rank == 64 - const.size
    np.testing.assert_allclose(sigma[:, const], 0.0, atol=1e-12)
    # minimum-norm teachers put nothing on constant pixels (the kernel of Σ)
    assert np.all(task.source[const] == 0) and np.all(task.target[const] == 0)


@pytest.mark.parametrize("label", ["value", "ge5", "even", "mod3", "loop", "is_3"])
def test_teacher_is_the_least_squares_fit(label):
    from sklearn.linear_model import LinearRegression

    x = digits_features()
    f = label_values(label)
    theta = digits_teacher(label)
    pred = x @ theta + f.mean()
    ref = LinearRegression().fit(x, f).predict(x)
    np.testing.assert_allclose(pred, ref, atol=1e-8)
    # normal equations: Xᵀ(f − f̄ − Xθ) = 0, relative to ‖Xᵀ(f − f̄)‖
    resid = x.T @ (f - f.mean() - x @ theta)
    assert np.linalg.norm(resid) <= 1e-9 * np.linalg.norm(x.T @ (f - f.mean()))


def test_excess_risk_identity_on_the_data_set():
    """The data set is the population: for any w, the excess squared error of the target label
    function over all 1797 images equals (w − θ_T)ᵀΣ(w − θ_T)."""
    task = digits_task("value", "ge5")
    x = digits_features()
    f = label_values("ge5")
    fc = f - f.mean()
    rng = np.random.default_rng(0)
    for _ in range(3):
        w = task.target + rng.standard_normal(64) * 0.05
        excess = np.mean((fc - x @ w) ** 2) - np.mean((fc - x @ task.target) ** 2)
        assert excess == pytest.approx(float(task.covariance.quadratic_form(w - task.target)),
                                       rel=1e-8)
    # zero-shot risk = mean squared disagreement of the two fitted predictors
    zs = np.mean((x @ task.delta) ** 2)
    assert zs == pytest.approx(float(task.covariance.quadratic_form(task.delta)), rel=1e-10)


def test_label_functions():
    k = np.arange(10)
    assert list(label_values("value", k)) == list(range(10))
    assert list(label_values("ge5", k)) == [-1] * 5 + [1] * 5
    assert list(label_values("even", k)) == [1, -1] * 5
    assert list(label_values("mod3", k)) == [0, 1, 2, 0, 1, 2, 0, 1, 2, 0]
    assert list(label_values("loop", k)) == [1, -1, -1, -1, 1, -1, 1, -1, 1, 1]
    assert list(label_values("is_7", k)) == [-1] * 7 + [1] + [-1] * 2
    assert set(LABEL_FUNCTIONS) >= {"value", "ge5", "even"}
    custom = digits_task(lambda d: (d == 1).astype(float), "is_1")
    np.testing.assert_allclose(custom.source * 2, custom.target, atol=1e-10)  # ±1 = 2·(0/1) − 1
    with pytest.raises(InvalidInputError, match="unknown label function"):
        label_values("prime")
    with pytest.raises(InvalidInputError, match="finite values"):
        label_values(lambda d: np.ones(3))
    with pytest.raises(InvalidInputError, match="finite values"):
        label_values(lambda d: np.full(d.shape, np.inf))


def test_digits_task_fields():
    t = digits_task(noise_variance=0.25)
    assert isinstance(t, LinearTask) and t.dim == 64 and t.noise_variance == 0.25
    assert not np.allclose(t.source, t.target)
    with pytest.raises(InvalidInputError):
        digits_task(noise_variance=-1.0)
    with pytest.raises(InvalidInputError):
        digits_task(rcond=0.0)


def test_digits_design():
    rng = np.random.default_rng(0)
    x = digits_design(50, rng, batch=(3,))
    assert x.shape == (3, 50, 64)
    feats = digits_features()
    ref = np.random.default_rng(0)
    for b in range(3):  # real images, chosen without replacement by the generator
        idx = ref.choice(1797, size=50, replace=False)
        np.testing.assert_array_equal(x[b], feats[idx])
        assert len(set(idx)) == 50
    assert digits_design(5, np.random.default_rng(1)).shape == (5, 64)
    with pytest.raises(InvalidInputError, match="≤ 1797"):
        digits_design(1798, rng)
    with pytest.raises(InvalidInputError):
        digits_design(0, rng)


def test_real_design_risk_against_gaussian_theory():
    """Training on real rows (design = "real") with teacher labels: the mean risk follows the
    Gaussian deterministic equivalent only roughly (real images are not Gaussian); check it is
    finite, positive and of the same order at n = 20 (a sanity band, not an agreement claim)."""
    from finetune_bounds.linear import expected_risk, simulate_curve

    task = digits_task()
    df = simulate_curve(task, [20], seeds=30, rng=0, sampler=digits_design, theory=False)
    emp = df[(df.quantity == "risk") & (df.method == "closed_form")]["value"].mean()
    de = expected_risk(task, 20).risk
    assert 0 < emp and 0.25 * de < emp < 4 * de
