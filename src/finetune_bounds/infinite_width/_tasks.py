"""Source/target task pairs for the transfer experiments (spec infinite-width-transfer §4–§5).

Three kinds, all generated or loaded offline:

* :func:`linear_pair` — the linear toy model: x ~ N(0, I_D), teachers with |β₁|² = |β₂|² = D
  and alignment exactly α_s = β₁·β₂/D, y = β·x/√D (+ label noise).
* :func:`hermite_pair` — polynomial tasks y = He_k(β·x/√D)/√(k!) (unit variance; by Mehler's
  formula the degree-k components of the two tasks align at α_s^k).
* :func:`digits_pair` — scikit-learn's bundled digits: source = one pair of classes, target =
  another, labels ±1, inputs on the sphere of radius √D (so K_x(x, x) = 1).

Every pair carries the noise-free target on its test inputs (``y_test``): errors are measured
against it (add the target noise variance for noisy test labels), spec §4.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.polynomial import hermite_e

from .. import limits
from .._validation import (
    FloatArray,
    as_float_array,
    as_generator,
    as_vector,
    positive_int,
    readonly,
)
from ..errors import InvalidInputError

__all__ = ["TASK_KINDS", "TransferTask", "digits_pair", "hermite_pair", "linear_pair", "make_task"]

#: Task kinds accepted by :func:`make_task`.
TASK_KINDS: tuple[str, ...] = ("linear", "hermite", "digits")


@dataclass(frozen=True)
class TransferTask:
    """One source/target data set (spec §3–§5).

    Attributes
    ----------
    x_source, y_source : ndarray, shapes (P₁, D), (P₁,)
        Source training data (labels with their noise).
    x_target, y_target : ndarray, shapes (P₂, D), (P₂,)
        Target training data (labels with their noise).
    x_test, y_test : ndarray, shapes (n_test, D), (n_test,)
        Target test inputs and the noise-free target on them.
    kind : str
        ``linear``, ``hermite`` or ``digits``.
    meta : dict
        What generated it (α_s, degree, classes, noise variances, …).
    """

    x_source: FloatArray
    y_source: FloatArray
    x_target: FloatArray
    y_target: FloatArray
    x_test: FloatArray
    y_test: FloatArray
    kind: str
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        xs = {}
        for xn, yn in (("x_source", "y_source"), ("x_target", "y_target"), ("x_test", "y_test")):
            x = as_float_array(getattr(self, xn), xn, ndim=2)
            y = as_vector(getattr(self, yn), yn, x.shape[0])
            object.__setattr__(self, xn, readonly(x))
            object.__setattr__(self, yn, readonly(y))
            xs[xn] = x
        dims = {k: v.shape[1] for k, v in xs.items()}
        if len(set(dims.values())) != 1:
            raise InvalidInputError(f"x_source, x_target and x_test must share D, got {dims}")
        if not isinstance(self.kind, str):
            raise InvalidInputError(f"kind must be a string, got {self.kind!r}")
        if not isinstance(self.meta, dict):
            raise InvalidInputError(f"meta must be a dict, got {self.meta!r}")

    @property
    def dim(self) -> int:
        """Input dimension D."""
        return int(self.x_source.shape[1])


def _alignment(alpha_s: Any) -> float:
    try:
        a = float(alpha_s)
    except (TypeError, ValueError):
        raise InvalidInputError(f"alpha_s must be a number in [-1, 1], got {alpha_s!r}") from None
    if not (math.isfinite(a) and -1.0 <= a <= 1.0):
        raise InvalidInputError(f"alpha_s must be in [-1, 1], got {alpha_s!r}")
    return a


def _noise(v: Any, name: str) -> float:
    try:
        a = float(v)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must be a number ≥ 0, got {v!r}") from None
    if not (math.isfinite(a) and a >= 0.0):
        raise InvalidInputError(f"{name} must be finite and ≥ 0, got {v!r}")
    return a


def _teachers(dim: int, alpha_s: float, gen: np.random.Generator) -> tuple[FloatArray, FloatArray]:
    """β₁, β₂ with |β|² = D and β₁·β₂/D = α_s exactly (β₂ = α β₁ + √(1−α²) β⊥)."""
    b1 = gen.standard_normal(dim)
    b1 *= math.sqrt(dim) / np.linalg.norm(b1)
    if dim == 1:
        if abs(alpha_s) != 1.0:
            raise InvalidInputError("D = 1 admits only alpha_s = ±1")
        return b1, alpha_s * b1
    perp = gen.standard_normal(dim)
    perp -= (perp @ b1) / dim * b1
    perp *= math.sqrt(dim) / np.linalg.norm(perp)
    return b1, alpha_s * b1 + math.sqrt(max(0.0, 1.0 - alpha_s * alpha_s)) * perp


def _sizes(dim: Any, p_source: Any, p_target: Any, n_test: Any) -> tuple[int, int, int, int]:
    out = (
        positive_int(dim, "dim", limit="d"),
        positive_int(p_source, "p_source", limit="n"),
        positive_int(p_target, "p_target", limit="n"),
        positive_int(n_test, "n_test", limit="n"),
    )
    limits.check_elements(out[1] + out[2] + out[3], out[0],
                          name="(p_source + p_target + n_test) × dim")
    return out


def _task(
    arrays: tuple[FloatArray, ...], kind: str, meta: dict[str, Any]
) -> TransferTask:
    x1, y1, x2, y2, xt, yt = arrays
    return TransferTask(x1, y1, x2, y2, xt, yt, kind=kind, meta=meta)


def linear_pair(
    dim: int,
    p_source: int,
    p_target: int,
    n_test: int,
    *,
    alpha_s: float,
    noise_source: float = 0.0,
    noise_target: float = 0.0,
    rng: np.random.Generator | int | None = None,
) -> TransferTask:
    """The linear toy model of spec §4: y = β·x/√D, x ~ N(0, I_D), |β|² = D, β₁·β₂/D = α_s.

    Examples
    --------
    >>> t = linear_pair(50, 20, 10, 5, alpha_s=0.5, rng=0)
    >>> t.x_source.shape, t.y_target.shape, t.meta["alpha_s"]
    ((20, 50), (10,), 0.5)
    """
    d, p1, p2, nt = _sizes(dim, p_source, p_target, n_test)
    a = _alignment(alpha_s)
    s1, s2 = _noise(noise_source, "noise_source"), _noise(noise_target, "noise_target")
    gen = as_generator(rng)
    b1, b2 = _teachers(d, a, gen)
    x1, x2, xt = (gen.standard_normal((k, d)) for k in (p1, p2, nt))
    root = math.sqrt(d)
    y1 = x1 @ b1 / root + math.sqrt(s1) * gen.standard_normal(p1)
    y2 = x2 @ b2 / root + math.sqrt(s2) * gen.standard_normal(p2)
    return _task((x1, y1, x2, y2, xt, xt @ b2 / root), "linear",
                 {"alpha_s": a, "noise_source": s1, "noise_target": s2})


def hermite_pair(
    dim: int,
    p_source: int,
    p_target: int,
    n_test: int,
    *,
    alpha_s: float,
    degree: int = 2,
    noise_source: float = 0.0,
    noise_target: float = 0.0,
    rng: np.random.Generator | int | None = None,
) -> TransferTask:
    """Polynomial tasks y = He_k(β·x/√D)/√(k!) (spec §4; unit variance under x ~ N(0, I)).

    The teachers are those of :func:`linear_pair`; E[y₁ y₂] = α_s^k (Mehler).

    Examples
    --------
    >>> t = hermite_pair(50, 20, 10, 5, alpha_s=0.5, degree=2, rng=0)
    >>> t.kind, t.meta["degree"]
    ('hermite', 2)
    """
    d, p1, p2, nt = _sizes(dim, p_source, p_target, n_test)
    k = positive_int(degree, "degree")
    if k > 10:
        raise InvalidInputError(f"degree must be ≤ 10, got {k}")
    a = _alignment(alpha_s)
    s1, s2 = _noise(noise_source, "noise_source"), _noise(noise_target, "noise_target")
    gen = as_generator(rng)
    b1, b2 = _teachers(d, a, gen)
    x1, x2, xt = (gen.standard_normal((n, d)) for n in (p1, p2, nt))
    coef = np.zeros(k + 1)
    coef[k] = 1.0 / math.sqrt(math.factorial(k))
    root = math.sqrt(d)

    def he(t: FloatArray) -> FloatArray:
        return np.asarray(hermite_e.hermeval(t, coef))

    y1 = he(x1 @ b1 / root) + math.sqrt(s1) * gen.standard_normal(p1)
    y2 = he(x2 @ b2 / root) + math.sqrt(s2) * gen.standard_normal(p2)
    return _task((x1, y1, x2, y2, xt, he(xt @ b2 / root)), "hermite",
                 {"alpha_s": a, "degree": k, "noise_source": s1, "noise_target": s2})


def digits_pair(
    p_source: int,
    p_target: int,
    n_test: int,
    *,
    source_classes: tuple[int, int] = (0, 1),
    target_classes: tuple[int, int] = (7, 9),
    rng: np.random.Generator | int | None = None,
) -> TransferTask:
    """scikit-learn digits: source = one pair of classes, target = another (spec §5).

    Labels are +1 for the first class of a pair and −1 for the second. Inputs are the centered
    pixels projected on the sphere of radius √64 (K_x(x, x) = 1). Target training and test
    images are disjoint; the source pair may share classes with the target pair.

    Examples
    --------
    >>> t = digits_pair(40, 20, 30, rng=0)
    >>> t.x_source.shape, sorted(set(t.y_test.tolist()))
    ((40, 64), [-1.0, 1.0])
    """
    from ..data import digits_pool

    p1, p2, nt = (positive_int(v, n, limit="n") for v, n in
                  ((p_source, "p_source"), (p_target, "p_target"), (n_test, "n_test")))
    pairs = []
    for name, pair in (("source_classes", source_classes), ("target_classes", target_classes)):
        try:
            cls = tuple(int(c) for c in pair)
        except (TypeError, ValueError):
            raise InvalidInputError(f"{name} must be two digits, got {pair!r}") from None
        if len(cls) != 2 or cls[0] == cls[1] or not all(0 <= c <= 9 for c in cls):
            raise InvalidInputError(f"{name} must be two different digits 0–9, got {pair!r}")
        pairs.append(cls)
    x, digits = digits_pool()
    gen = as_generator(rng)
    scale = math.sqrt(x.shape[1])

    def take(cls: tuple[int, int], n: int, what: str) -> tuple[FloatArray, FloatArray]:
        idx = np.flatnonzero(np.isin(digits, cls))
        if n > idx.size:
            raise InvalidInputError(
                f"{what} asks for {n} images of digits {cls}, only {idx.size} exist"
            )
        pick = gen.permutation(idx)[:n]
        return x[pick] * scale, np.where(digits[pick] == cls[0], 1.0, -1.0)

    x1, y1 = take(pairs[0], p1, "p_source")
    x2t, y2t = take(pairs[1], p2 + nt, "p_target + n_test")
    return _task((x1, y1, x2t[:p2], y2t[:p2], x2t[p2:], y2t[p2:]), "digits",
                 {"source_classes": pairs[0], "target_classes": pairs[1]})


def make_task(kind: str, **kwargs: Any) -> TransferTask:
    """Dispatch to :func:`linear_pair`, :func:`hermite_pair` or :func:`digits_pair`."""
    import inspect

    funcs: dict[str, Callable[..., TransferTask]] = {
        "linear": linear_pair, "hermite": hermite_pair, "digits": digits_pair,
    }
    if not isinstance(kind, str) or kind not in funcs:
        raise InvalidInputError(f"unknown task kind {kind!r}; choose one of {TASK_KINDS}")
    if kind == "digits":
        kwargs.pop("dim", None)
        kwargs.pop("alpha_s", None)
    func = funcs[kind]
    params = inspect.signature(func).parameters
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        raise InvalidInputError(f"make_task({kind!r}) got unknown parameter(s) {unknown}")
    missing = sorted(n for n, p in params.items()
                     if p.default is inspect.Parameter.empty and n not in kwargs)
    if missing:
        raise InvalidInputError(f"make_task({kind!r}) is missing parameter(s) {missing}")
    return func(**kwargs)
