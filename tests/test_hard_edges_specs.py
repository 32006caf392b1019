"""Hard edges of the relu and deep-linear specs (issue 13): directly constructed tasks and
networks are checked like the constructors' (a typed error for NaN, inf, complex, None,
strings), the digits teachers exist in the ridge → 0 limit, and an overflowing depth is not
the infinite-depth limit."""

from __future__ import annotations

import numpy as np
import pytest

import finetune_bounds as fb
from finetune_bounds.relu import ReluTask
from finetune_bounds.relu.simulate import ReluNetwork

BAD = [np.array([np.nan, 1.0]), np.array([np.inf, 1.0]), np.array([1j, 1.0]), None, "ab",
       np.array([[1.0, 2.0]])]


@pytest.mark.parametrize("bad", BAD, ids=["nan", "inf", "complex", "none", "str", "2d"])
@pytest.mark.parametrize("field", ["source", "target"])
def test_relu_task_rejects_bad_teachers(field: str, bad: object) -> None:
    good = {"source": np.array([1.0, 0.0]), "target": np.array([0.0, 1.0])}
    with pytest.raises(fb.InvalidInputError, match=field):
        ReluTask(**{**good, field: bad})  # type: ignore[arg-type]


def test_relu_task_rejects_a_bad_covariance_root() -> None:
    with pytest.raises(fb.InvalidInputError, match="covariance_sqrt"):
        ReluTask(np.ones(2), np.ones(2), "gaussian", covariance_sqrt=np.full((2, 2), np.nan))


@pytest.mark.parametrize(
    ("weights", "readout", "needle"),
    [
        (np.full((1, 2, 3), np.nan), np.ones(2), "weights"),
        (np.ones((2, 3)), np.ones(2), "weights"),
        (np.ones((1, 2, 3)), np.array([1.0, np.inf]), "readout"),
        (np.ones((1, 2, 3)), np.ones(3), "one sign per hidden unit"),
        (None, np.ones(2), "weights"),
    ],
)
def test_relu_network_rejects_bad_weights(weights: object, readout: object, needle: str) -> None:
    with pytest.raises(fb.InvalidInputError, match=needle):
        ReluNetwork(weights, readout)  # type: ignore[arg-type]


def test_digits_teachers_in_the_ridgeless_limit() -> None:
    """teacher_ridge = 0 raised a raw LinAlgError (singular pooled Gram); it is now the
    minimum-norm least-squares fit, the limit of small ridges."""
    t0 = fb.relu.digits_task(teacher_ridge=0)
    t1 = fb.relu.digits_task(teacher_ridge=1e-9)
    assert np.all(np.isfinite(t0.source)) and np.all(np.isfinite(t0.target))
    x = t0.pool
    assert x is not None
    np.testing.assert_allclose(x @ t0.target, x @ t1.target, atol=1e-4)


@pytest.mark.parametrize("text", ["1e400", "-1e400", "nan"])
def test_a_depth_that_overflows_is_not_infinite_depth(text: str) -> None:
    """`--depth 1e400` used to become the infinite-depth limit; only 'inf' written so is."""
    from finetune_bounds.deep_linear import check_depth

    with pytest.raises(fb.InvalidInputError, match="depth"):
        check_depth(text)
    assert check_depth("inf") == float("inf") and check_depth("3") == 3.0
