"""Fine-tuning tasks from real data that ships offline: scikit-learn's handwritten digits.

Spec: ``linear-teachers.md`` §5. ``load_digits`` is bundled with scikit-learn (1797 images of
8×8 pixels, values 0…16); nothing is downloaded.

A digits task takes Σ = the covariance of the (centered) pixel features over the whole data set,
and two linear teachers: least-squares fits of two *label functions* of the digit (the source
task and the target task). Because Σ and the teachers are computed on the full data set, the
excess risk over that data set of any linear predictor w is exactly (w − θ_T)ᵀΣ(w − θ_T): the
population of §2 is the finite data set itself.

Σ is singular: three pixels are 0 in every image (and several others nearly so). The teachers
are minimum-norm least-squares solutions (a pseudo-inverse with a rank tolerance), so they have
no component in the kernel of Σ — which never matters for the risk (spec §2.3).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from ._validation import FloatArray, nonneg_float, positive_int, readonly
from .errors import InvalidInputError
from .problems import Covariance, LinearTask

__all__ = [
    "LABEL_FUNCTIONS",
    "digits_design",
    "digits_features",
    "digits_labels",
    "digits_task",
    "digits_teacher",
    "label_values",
]

LabelFunction = str | Callable[[NDArray[np.int64]], NDArray[np.float64]]

#: named label functions of the digit k ∈ {0, …, 9}; binary ones are coded ±1
LABEL_FUNCTIONS: dict[str, str] = {
    "value": "the digit itself, k",
    "ge5": "+1 if k ≥ 5 else −1",
    "even": "+1 if k is even else −1",
    "mod3": "k mod 3 (0, 1, 2)",
    "loop": "+1 if the digit has a closed loop (0, 4, 6, 8, 9) else −1",
    **{f"is_{k}": f"+1 if the digit is {k} else −1 (one-vs-rest)" for k in range(10)},
}


@lru_cache(maxsize=1)
def _raw() -> tuple[FloatArray, NDArray[np.int64]]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = np.asarray(bunch.data, dtype=np.float64)
    y = np.asarray(bunch.target, dtype=np.int64)
    return readonly(x - x.mean(axis=0)), y


def digits_features() -> FloatArray:
    """The 1797 × 64 pixel features, float64, centered (column means subtracted), not scaled.

    Returns a read-only array (cached; copy it before modifying).
    """
    return _raw()[0]


def digits_labels() -> NDArray[np.int64]:
    """The digit of each image, an int array of shape (1797,) with values 0…9."""
    y = _raw()[1].copy()
    y.setflags(write=False)
    return y


def label_values(label: LabelFunction, digits: NDArray[np.int64] | None = None) -> FloatArray:
    """Evaluate a label function on digits (default: every image's digit).

    Parameters
    ----------
    label : str or callable
        A name of :data:`LABEL_FUNCTIONS` or a function mapping an int array of digits to a
        float array of the same shape.

    Raises
    ------
    InvalidInputError
        Unknown name, or a callable returning the wrong shape or non-finite values.
    """
    k = digits_labels() if digits is None else np.asarray(digits, dtype=np.int64)
    if callable(label):
        try:
            v = np.asarray(label(k), dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"label function failed: {exc}") from None
        if v.shape != k.shape or not np.all(np.isfinite(v)):
            raise InvalidInputError(
                f"label function must return {k.shape[0]} finite values, got shape {v.shape}"
            )
        return v
    if not isinstance(label, str) or label not in LABEL_FUNCTIONS:
        raise InvalidInputError(
            f"unknown label function {label!r}; choose one of {sorted(LABEL_FUNCTIONS)} "
            "or pass a callable"
        )
    pm = lambda b: np.where(b, 1.0, -1.0)  # noqa: E731
    if label == "value":
        return k.astype(np.float64)
    if label == "ge5":
        return pm(k >= 5)
    if label == "even":
        return pm(k % 2 == 0)
    if label == "mod3":
        return (k % 3).astype(np.float64)
    if label == "loop":
        return pm(np.isin(k, [0, 4, 6, 8, 9]))
    return pm(k == int(label.split("_")[1]))


def digits_teacher(label: LabelFunction, *, rcond: float = 1e-10) -> FloatArray:
    """Least-squares linear teacher of a label function on the centered features.

    θ = X⁺(f − mean f), the minimum-norm solution, with singular values below
    ``rcond``·s_max treated as zero (spec §6). Zero-variance pixels get θ_j = 0.
    """
    x = digits_features()
    f = label_values(label)
    rc = nonneg_float(rcond, "rcond", positive=True)
    theta, *_ = np.linalg.lstsq(x, f - f.mean(), rcond=rc)
    theta = np.asarray(theta, dtype=np.float64)
    theta[~np.any(x != 0.0, axis=0)] = 0.0  # constant pixels: exactly 0, not rounding noise
    return readonly(theta)


@lru_cache(maxsize=1)
def _digits_covariance() -> Covariance:
    x = digits_features()
    return Covariance.from_matrix(x.T @ x / x.shape[0])


def digits_task(
    source: LabelFunction = "ge5",
    target: LabelFunction = "even",
    noise_variance: float = 0.0,
    *,
    rcond: float = 1e-10,
) -> LinearTask:
    """A fine-tuning task on the digits covariance with teachers fitted to two label functions.

    Parameters
    ----------
    source, target : str or callable
        Label functions of the source and target tasks (names in :data:`LABEL_FUNCTIONS`:
        ``"value"`` = the digit, ``"ge5"`` = digit ≥ 5, ``"even"`` = digit is even, ``"mod3"``,
        ``"loop"``, ``"is_0"`` … ``"is_9"``; binary labels are ±1). Defaults: source
        "digit ≥ 5", target "digit is even" — two different binary tasks on the same images.
    noise_variance : float
        Label-noise variance σ² of the target labels used for training (spec §2).
    rcond : float
        Relative rank tolerance of the least-squares fits.

    Returns
    -------
    LinearTask
        Σ = XᵀX/N over all N = 1797 centered images (ddof 0: the data set is the population),
        d = 64, rank 61 (three constant pixels).
    """
    return LinearTask(
        _digits_covariance(),
        digits_teacher(source, rcond=rcond),
        digits_teacher(target, rcond=rcond),
        noise_variance,
    )


def digits_design(
    n: int, rng: np.random.Generator, *, batch: tuple[int, ...] = ()
) -> FloatArray:
    """n real images (centered features) drawn without replacement: shape ``batch + (n, 64)``.

    Use as the ``sampler`` of :func:`finetune_bounds.linear.simulate_curve` to train on real
    inputs instead of Gaussian ones with the same covariance.

    Raises
    ------
    InvalidInputError
        n < 1 or n larger than the 1797 images.
    """
    x = digits_features()
    n = positive_int(n, "n")
    if n > x.shape[0]:
        raise InvalidInputError(f"n must be ≤ {x.shape[0]} (number of digits images), got {n}")
    size = int(np.prod(batch)) if batch else 1
    idx = np.stack([rng.choice(x.shape[0], size=n, replace=False) for _ in range(size)])
    return np.asarray(x[idx].reshape(*batch, n, x.shape[1]))
