"""Fine-tuning tasks from real data that ships offline: scikit-learn's handwritten digits.

Spec: ``linear-teachers.md`` §5. ``load_digits`` is bundled with scikit-learn (1797 images of
8×8 pixels, values 0…16); nothing is downloaded. This module owns the digits data and the label
functions for every family: the linear family (:func:`digits_task`, :func:`digits_design`) and
the ReLU family (:func:`digits_pool`, used by :func:`finetune_bounds.relu.digits_task`).

Label functions: one convention
-------------------------------
A *label function* maps the digit k ∈ {0, …, 9} of an image to a number. Every named label
function (:data:`LABEL_FUNCTIONS`) takes values in **[0, 1]**:

- indicators are **0/1**: ``"ge5"`` (k ≥ 5), ``"even"``, ``"parity"`` (k odd), ``"loop"``
  (the digit has a closed loop: 0, 6, 8, 9 — a handwritten 4 is usually open at the top),
  ``"is_0"`` … ``"is_9"`` (one-vs-rest);
- ``"value"`` is the digit scaled to the unit interval, **k/9**; ``"mod3"`` is (k mod 3)/2.

Every user centres the labels (the linear teachers fit f − mean f; the ReLU tasks subtract the
pool mean, since the bias-free NTK cannot learn a constant), so only the *scale* of the
convention matters. [0, 1] is the scale the ReLU family needs: its loss min(|f − y|, 1) and the
Arora et al. bound are stated for labels bounded by 1. The linear family is homogeneous in the
label scale (teachers scale with the labels, every risk with their square, gradient-descent
iteration counts do not change), so the convention only sets its units.

``"large"`` (= ``"ge5"``) and ``"loops"`` (= ``"loop"``) are accepted aliases: the names the
ReLU family used before the two digits modules were merged.

The linear task
---------------
A digits task takes Σ = the covariance of the (centered) pixel features over the whole data set,
and two linear teachers: least-squares fits of two label functions of the digit (the source
task and the target task). Because Σ and the teachers are computed on the full data set, the
excess risk over that data set of any linear predictor w is exactly (w − θ_T)ᵀΣ(w − θ_T): the
population of §2 is the finite data set itself.

Σ is singular: three pixels are 0 in every image (and several others nearly so). The teachers
are minimum-norm least-squares solutions (a pseudo-inverse with a rank tolerance), so they have
no component in the kernel of Σ — which never matters for the risk (spec §2.3).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache, partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._validation import FloatArray, as_generator, nonneg_float, positive_int, readonly
from .errors import InvalidInputError
from .problems import Covariance, LinearTask

__all__ = [
    "LABEL_ALIASES",
    "LABEL_FUNCTIONS",
    "canonical_label",
    "digits_design",
    "digits_features",
    "digits_labels",
    "digits_pool",
    "digits_task",
    "digits_teacher",
    "label_values",
]

LabelFunction = str | Callable[[NDArray[np.int64]], NDArray[np.float64]]

_IndicatorOf = Callable[[NDArray[np.int64]], NDArray[np.bool_]]


def _indicator(pred: _IndicatorOf) -> Callable[[NDArray[np.int64]], FloatArray]:
    return lambda k: np.where(pred(k), 1.0, 0.0)


#: the label functions themselves (canonical names), each mapping digits to values in [0, 1]
_LABELS: dict[str, Callable[[NDArray[np.int64]], FloatArray]] = {
    "value": lambda k: k.astype(np.float64) / 9,
    "ge5": _indicator(lambda k: k >= 5),
    "even": _indicator(lambda k: k % 2 == 0),
    "parity": _indicator(lambda k: k % 2 == 1),
    "mod3": lambda k: (k % 3).astype(np.float64) / 2,
    "loop": _indicator(lambda k: np.isin(k, (0, 6, 8, 9))),
    **{f"is_{j}": _indicator(partial(np.equal, j)) for j in range(10)},
}

#: old names still accepted (the ReLU family's), mapped to their canonical label function
LABEL_ALIASES: dict[str, str] = {"large": "ge5", "loops": "loop"}

#: every accepted label-function name (canonical names and aliases) with what it computes;
#: values lie in [0, 1] (see the module docstring)
LABEL_FUNCTIONS: dict[str, str] = {
    "value": "the digit scaled to [0, 1], k/9",
    "ge5": "1 if k ≥ 5 else 0",
    "even": "1 if k is even else 0",
    "parity": "1 if k is odd else 0",
    "mod3": "(k mod 3)/2 (0, 1/2, 1)",
    "loop": "1 if the digit has a closed loop (0, 6, 8, 9) else 0",
    **{f"is_{k}": f"1 if the digit is {k} else 0 (one-vs-rest)" for k in range(10)},
    **{alias: f"alias of {name!r}" for alias, name in LABEL_ALIASES.items()},
}


def canonical_label(name: str) -> str:
    """The canonical name of a label function (aliases resolved).

    Raises
    ------
    InvalidInputError
        Unknown name.
    """
    if not isinstance(name, str) or name not in LABEL_FUNCTIONS:
        raise InvalidInputError(
            f"unknown label function {name!r}; choose one of {sorted(LABEL_FUNCTIONS)} "
            "or pass a callable"
        )
    return LABEL_ALIASES.get(name, name)


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


def _digits(digits: Any) -> NDArray[np.int64]:
    """An array of digits 0…9 (integers, or integral floats) as int64."""
    if isinstance(digits, str | bytes) or np.iscomplexobj(digits):
        raise InvalidInputError(f"digits must be an array of integers 0…9, got {digits!r}")
    try:
        arr = np.asarray(digits)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"digits must be an array of integers 0…9, got {digits!r}"
        ) from None
    ok = arr.dtype.kind in "iu" or (
        arr.dtype.kind == "f"
        and bool(np.all(np.isfinite(arr)))
        and bool(np.all(arr == np.round(arr)))
    )
    if not ok or arr.ndim != 1 or not np.all((arr >= 0) & (arr <= 9)):
        shown = repr(digits) if arr.size <= 20 else f"an array of shape {arr.shape}"
        raise InvalidInputError(f"digits must be a 1-D array of integers 0…9, got {shown}")
    return arr.astype(np.int64)


def label_values(label: LabelFunction, digits: NDArray[np.int64] | None = None) -> FloatArray:
    """Evaluate a label function on digits (default: every image's digit).

    Parameters
    ----------
    label : str or callable
        A name of :data:`LABEL_FUNCTIONS` (values in [0, 1], see the module docstring) or a
        function mapping an int array of digits to a float array of the same shape.
    digits : int array, optional
        Digits to evaluate on (default :func:`digits_labels`).

    Raises
    ------
    InvalidInputError
        Unknown name, or a callable returning the wrong shape or non-finite values.
    """
    k = digits_labels() if digits is None else _digits(digits)
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
    return np.asarray(_LABELS[canonical_label(label)](k))


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
        ``"value"`` = k/9, ``"ge5"`` = digit ≥ 5, ``"even"`` = digit is even, ``"parity"``,
        ``"mod3"``, ``"loop"``, ``"is_0"`` … ``"is_9"``; values in [0, 1], indicators 0/1), or
        callables. Defaults: source "digit ≥ 5", target "digit is even" — two different binary
        tasks on the same images.
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
    n: int, rng: np.random.Generator | int | None, *, batch: tuple[int, ...] = ()
) -> FloatArray:
    """n real images (centered features) drawn without replacement: shape ``batch + (n, 64)``.

    ``rng`` is a Generator, or an integer seed ≥ 0 (None: seed 0).

    Use as the ``sampler`` of :func:`finetune_bounds.linear.simulate_curve` to train on real
    inputs instead of Gaussian ones with the same covariance.

    Raises
    ------
    InvalidInputError
        n < 1 or n larger than the 1797 images, a bad ``rng`` or ``batch``.
    """
    n = positive_int(n, "n")
    gen = as_generator(rng)
    if isinstance(batch, int | np.integer) and not isinstance(batch, bool | np.bool_):
        batch = (batch,)
    if isinstance(batch, str | bytes) or not isinstance(batch, tuple | list):
        raise InvalidInputError(f"batch must be a tuple of positive integers, got {batch!r}")
    batch = tuple(positive_int(b, f"batch[{i}]") for i, b in enumerate(batch))
    size = positive_int(math.prod(batch), "batch size (product of batch)", limit="draws")
    x = digits_features()
    if n > x.shape[0]:
        raise InvalidInputError(f"n must be ≤ {x.shape[0]} (number of digits images), got {n}")
    idx = np.stack([gen.choice(x.shape[0], size=n, replace=False) for _ in range(size)])
    return np.asarray(x[idx].reshape(*batch, n, x.shape[1]))


@lru_cache(maxsize=1)
def digits_pool() -> tuple[FloatArray, NDArray[np.int64]]:
    """The digits as inputs on the unit sphere (spec §4–5, the ReLU family's pool).

    The centered features (:func:`digits_features`), re-centered (a no-op up to rounding, kept
    so that the committed ReLU numbers reproduce bit for bit), projected onto the unit sphere
    and de-duplicated (equal inputs would make the NTK Gram matrix singular; the first of each
    group of equal images is kept, in data-set order).

    Returns
    -------
    x : ndarray, shape (N, 64)
        Unit-norm rows, read-only (cached).
    digits : int ndarray, shape (N,)
        The digit of each row; evaluate label functions on it with :func:`label_values`.
    """
    feats = digits_features()
    x = feats - feats.mean(axis=0)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    _, first = np.unique(np.round(x, 12), axis=0, return_index=True)
    keep = np.sort(first)
    labels = np.asarray(digits_labels()[keep]).astype(int)
    labels.setflags(write=False)
    return readonly(x[keep]), labels
