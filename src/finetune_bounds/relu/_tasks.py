"""Task specifications for the ReLU family: teachers and where the inputs come from (spec §4–5).

A :class:`ReluTask` holds linear teachers θ_S, θ_T and an input distribution on the unit sphere:
uniform on the sphere, a normalised Gaussian x = z/‖z‖ with z ~ N(0, Σ), or a finite pool of real
inputs (scikit-learn digits, centred and normalised). :meth:`ReluTask.split` draws a training
design and a test set.

The digits data and its label functions live in :mod:`finetune_bounds.data` (one module, one
label convention for every family: values in [0, 1], indicators 0/1, ``"value"`` = k/9);
:func:`digits_task` only builds the ReLU task from them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from .._numerics import power_law_spectrum
from .._validation import (
    FloatArray,
    as_float_array,
    as_generator,
    as_vector,
    nonneg_float,
    positive_int,
    readonly,
)
from ..data import LABEL_FUNCTIONS, LabelFunction, digits_pool, label_values
from ..errors import InvalidInputError
from ..limits import check_elements
from ._checks import generator, guarded, value_range

__all__ = [
    "LABEL_FUNCTIONS",
    "ReluTask",
    "Split",
    "digits_pool",
    "digits_task",
    "random_instance",
    "synthetic_task",
]

INPUTS = ("sphere", "gaussian", "pool")


@dataclass(frozen=True)
class Split:
    """One draw: training design and test set, with target labels and source-teacher values.

    Attributes
    ----------
    x, x_test : ndarray, shapes (n, d) and (p, d), unit-norm rows
    y, y_test : ndarray
        Target labels.
    source, source_test : ndarray
        θ_Sᵀx, the idealised pretrained function (spec §1: pretraining implements θ_S).
    """

    x: FloatArray
    y: FloatArray
    source: FloatArray
    x_test: FloatArray
    y_test: FloatArray
    source_test: FloatArray


@dataclass(frozen=True, eq=False)
class ReluTask:
    """Linear source/target teachers and an input distribution on the sphere (spec §4).

    Attributes
    ----------
    source, target : ndarray, shape (d,)
        θ_S and θ_T (for digits with direct labels, θ_T is the least-squares fit of the target
        label function and only enters the ‖Δ‖-type measures).
    inputs : str
        ``"sphere"`` (uniform), ``"gaussian"`` (z/‖z‖, z ~ N(0, Σ)) or ``"pool"``.
    covariance_sqrt : ndarray, shape (d, d), optional
        Σ^{1/2} for ``"gaussian"``.
    pool : ndarray, shape (N, d), optional
        Unit-norm inputs to sample from without replacement (``"pool"``).
    pool_labels : ndarray, shape (N,), optional
        Direct target labels of the pool; None means y = θ_Tᵀx.
    name : str
    """

    source: FloatArray
    target: FloatArray
    inputs: str = "sphere"
    covariance_sqrt: FloatArray | None = None
    pool: FloatArray | None = None
    pool_labels: FloatArray | None = None
    name: str = "synthetic"

    def __post_init__(self) -> None:
        # a directly constructed task is checked like one from the constructors: real, finite
        # arrays of the right dimensions (NaN, inf, complex, None or strings raise here)
        for name in ("source", "target", "covariance_sqrt", "pool", "pool_labels"):
            value = getattr(self, name)
            if value is None and name not in ("source", "target"):
                continue
            ndim = 1 if name in ("source", "target", "pool_labels") else 2
            object.__setattr__(self, name, readonly(as_float_array(value, name, ndim=ndim)))
        if self.inputs not in INPUTS:
            raise InvalidInputError(f"inputs must be one of {INPUTS}, got {self.inputs!r}")
        d = self.source.shape[0]
        if self.target.shape != (d,):
            raise InvalidInputError(
                f"source and target teachers must have the same length, got {d} and "
                f"{self.target.shape[0]}"
            )
        if self.inputs == "gaussian" and (
            self.covariance_sqrt is None or self.covariance_sqrt.shape != (d, d)
        ):
            raise InvalidInputError(f"gaussian inputs need a ({d}, {d}) covariance square root")
        if self.inputs == "pool" and (self.pool is None or self.pool.shape[1] != d):
            raise InvalidInputError(f"pool inputs need an (N, {d}) pool")

    @classmethod
    def from_teachers(
        cls,
        source: ArrayLike,
        target: ArrayLike,
        *,
        covariance: ArrayLike | None = None,
        name: str = "teachers",
    ) -> ReluTask:
        """Teachers θ_S, θ_T with inputs uniform on the sphere, or z/‖z‖ with z ~ N(0, Σ).

        Raises
        ------
        InvalidInputError
            Mismatched lengths, non-finite values, or a covariance that is not PSD / is zero.
        """
        src = as_vector(source, "source")
        tgt = as_vector(target, "target", src.shape[0])
        if covariance is None:
            return cls(readonly(src), readonly(tgt), "sphere", name=name)
        from ..problems import Covariance

        cov = Covariance.from_matrix(as_float_array(covariance, "covariance", ndim=2))
        if cov.dim != src.shape[0]:
            raise InvalidInputError(
                f"covariance is {cov.dim}×{cov.dim} but the teachers have length {src.shape[0]}"
            )
        if cov.rank == 0:
            raise InvalidInputError("covariance is zero: inputs cannot be normalised")
        return cls(readonly(src), readonly(tgt), "gaussian", readonly(cov.sqrt_matrix), name=name)

    @property
    def dim(self) -> int:
        """Input dimension d."""
        return int(self.source.shape[0])

    @property
    def delta(self) -> FloatArray:
        """Δ = θ_T − θ_S."""
        return np.asarray(self.target - self.source)

    @property
    def linear_labels(self) -> bool:
        """True when y = θ_Tᵀx exactly (the worst-case chain of spec §4 then applies)."""
        return self.pool_labels is None

    @property
    def pool_size(self) -> int | None:
        """Number of pool inputs (None unless ``inputs == "pool"``)."""
        return None if self.pool is None else int(self.pool.shape[0])

    def sample(self, n: int, rng: np.random.Generator) -> FloatArray:
        """n i.i.d. inputs on the sphere (not for pools: use :meth:`split`)."""
        n = positive_int(n, "n", limit="n")
        rng = generator(rng)
        check_elements(n, self.dim, name="sample (n × d)")
        if self.inputs == "pool":
            raise InvalidInputError("a pool task is sampled without replacement: use split()")
        z = rng.standard_normal((n, self.dim))
        if self.covariance_sqrt is not None:
            z = z @ self.covariance_sqrt.T
        norms = np.linalg.norm(z, axis=1, keepdims=True)
        return np.asarray(z / norms)

    def split(self, n: int, n_test: int, rng: np.random.Generator) -> Split:
        """A training design of n inputs and a test set of ``n_test`` inputs.

        Pools are sampled without replacement (the test set is disjoint from the training set
        and shrinks to the rest of the pool if needed).
        """
        n = positive_int(n, "n", limit="n")
        n_test = positive_int(n_test, "n_test", limit="n")
        rng = generator(rng)
        if self.pool is not None:
            size = self.pool.shape[0]
            if n >= size:
                raise InvalidInputError(f"n = {n} must be smaller than the pool size {size}")
            idx = rng.permutation(size)[: n + min(n_test, size - n)]
            x_all = self.pool[idx]
            y_all = x_all @ self.target if self.pool_labels is None else self.pool_labels[idx]
        else:
            x_all = self.sample(n + n_test, rng)
            y_all = x_all @ self.target
        s_all = x_all @ self.source
        return Split(
            x=x_all[:n],
            y=np.asarray(y_all[:n]),
            source=np.asarray(s_all[:n]),
            x_test=x_all[n:],
            y_test=np.asarray(y_all[n:]),
            source_test=np.asarray(s_all[n:]),
        )

    def nested_split(self, n_max: int, n_test: int, rng: np.random.Generator) -> Split:
        """Like :meth:`split`, but the test set is drawn first, so that the training rows
        X[:n] of a draw do not depend on ``n_max`` (nested designs for learning curves)."""
        n_max = positive_int(n_max, "n_max", limit="n")
        n_test = positive_int(n_test, "n_test", limit="n")
        rng = generator(rng)
        if self.pool is not None:
            size = self.pool.shape[0]
            if n_max + n_test > size:
                raise InvalidInputError(
                    f"n_max + n_test = {n_max + n_test} exceeds the pool size {size}"
                )
            perm = rng.permutation(size)
            idx = np.concatenate([perm[n_test : n_test + n_max], perm[:n_test]])
            x_all = self.pool[idx]
            y_all = x_all @ self.target if self.pool_labels is None else self.pool_labels[idx]
        else:
            x_test = self.sample(n_test, rng)
            x_all = np.concatenate([self.sample(n_max, rng), x_test])
            y_all = x_all @ self.target
        s_all = x_all @ self.source
        k = n_max
        return Split(x_all[:k], np.asarray(y_all[:k]), np.asarray(s_all[:k]), x_all[k:],
                     np.asarray(y_all[k:]), np.asarray(s_all[k:]))


def _power_law_sqrt(d: int, alpha: float) -> FloatArray:
    """Σ^{1/2} = diag(i^{−α/2}) for the power-law spectrum λ_i = i^{−α} (not normalised).

    Built as the power law of exponent α/2 (bit for bit the same numbers as √(i^{−α}) written
    i^{−α/2}); the inputs are normalised onto the sphere, so the scale of Σ never matters.
    """
    return np.diag(power_law_spectrum(d, alpha / 2, normalize=None))


def _random_unit(d: int, rng: np.random.Generator) -> FloatArray:
    v = rng.standard_normal(d)
    return np.asarray(v / np.linalg.norm(v))


@guarded
def synthetic_task(
    d: int,
    *,
    source_norm: float = 1.0,
    delta_norm: float = 0.5,
    inputs: str = "sphere",
    alpha: float = 1.0,
    rng: np.random.Generator | int | None = 0,
) -> ReluTask:
    """θ_S = ‖θ_S‖·u, θ_T = θ_S + ‖Δ‖·v with independent uniform directions u, v.

    Parameters
    ----------
    inputs : {"sphere", "power_law"}
        Uniform on the sphere, or z/‖z‖ with z ~ N(0, diag(i^{−α})).
    rng : Generator, int or None
        Draws the teacher directions (the task is fixed by it; None means seed 0).
    """
    d = positive_int(d, "d", limit="d")
    if inputs not in ("sphere", "power_law"):
        raise InvalidInputError(f"inputs must be 'sphere' or 'power_law', got {inputs!r}")
    source_norm = nonneg_float(source_norm, "source_norm")
    delta_norm = nonneg_float(delta_norm, "delta_norm")
    gen = as_generator(rng)  # None → seed 0 (reproducible); bad seeds → InvalidInputError
    src = source_norm * _random_unit(d, gen)
    tgt = src + delta_norm * _random_unit(d, gen)
    if inputs == "sphere":
        return ReluTask(readonly(src), readonly(tgt), "sphere", name="sphere")
    if inputs == "power_law":
        alpha = nonneg_float(alpha, "alpha")
        sqrt = _power_law_sqrt(d, alpha)
        return ReluTask(readonly(src), readonly(tgt), "gaussian", readonly(sqrt), name="power_law")
    raise InvalidInputError(f"inputs must be 'sphere' or 'power_law', got {inputs!r}")


@guarded
def random_instance(
    d: int,
    rng: np.random.Generator,
    *,
    source_norm: float = 1.0,
    delta_range: tuple[float, float] = (0.1, 1.0),
) -> ReluTask:
    """A random instance for the measure-correlation study (spec §2.4 [paper], transferred to §4).

    Inputs z/‖z‖ with z ~ N(0, diag(i^{−α})), α ~ U(0.5, 2); θ_S = ‖θ_S‖·u; Δ_i ~ N(0, i^b)
    with b ~ U(−2, 2) (energy on a random part of the spectrum) and ‖Δ‖ log-uniform in
    ``delta_range``. ‖Δ‖ alone then says little about the risk; where Δ sits does.
    """
    d = positive_int(d, "d", limit="d")
    rng = generator(rng)
    source_norm = nonneg_float(source_norm, "source_norm")
    lo, hi = value_range(delta_range, "delta_range")
    i = np.arange(1, d + 1, dtype=np.float64)
    alpha = rng.uniform(0.5, 2.0)
    sqrt = _power_law_sqrt(d, alpha)
    src = source_norm * _random_unit(d, rng)
    delta = rng.standard_normal(d) * i ** (rng.uniform(-2.0, 2.0) / 2)
    delta *= math.exp(rng.uniform(math.log(lo), math.log(hi))) / np.linalg.norm(delta)
    return ReluTask(readonly(src), readonly(src + delta), "gaussian", readonly(sqrt), name="random")


# ---------------------------------------------------------------------------------------------
# scikit-learn digits (spec §5)
# ---------------------------------------------------------------------------------------------
def _centred_labels(label: LabelFunction, digits: np.ndarray) -> FloatArray:
    """The label function on the pool's digits (:func:`finetune_bounds.data.label_values`),
    centred over the pool: the bias-free ReLU NTK has no constant component (its kernel is
    odd·even in xᵀz with no degree-0 term), so a constant offset could never be learnt."""
    g = label_values(label, digits)
    return np.asarray(g - g.mean())


@guarded
def digits_task(
    source: LabelFunction = "value",
    target: LabelFunction = "ge5",
    *,
    labels: str = "teacher",
    teacher_ridge: float = 1e-3,
) -> ReluTask:
    """Fine-tuning between two label functions of scikit-learn digits (spec §5).

    Inputs: :func:`finetune_bounds.data.digits_pool`, the 8×8 pixel features centred and
    normalised onto the sphere (d = 64). Label functions: those of :mod:`finetune_bounds.data`
    (names in :data:`LABEL_FUNCTIONS`, values in [0, 1]; ``"value"`` = k/9, ``"ge5"`` (alias
    ``"large"``) = 1{k ≥ 5}), centred over the pool. Teachers θ_S, θ_T are ridge least-squares
    fits of the source/target label functions on the whole pool (ridge
    ``teacher_ridge``·tr(XᵀX)/d).

    Parameters
    ----------
    source, target : str or callable
        Label functions of the source and target tasks.
    labels : {"teacher", "direct"}
        ``"teacher"``: target labels y = θ_Tᵀx (linear teachers, as in the paper).
        ``"direct"``: target labels are the centred label function itself (not linear in x);
        the pretrained model is still the source teacher.
    """
    if labels not in ("teacher", "direct"):
        raise InvalidInputError(f"labels must be 'teacher' or 'direct', got {labels!r}")
    ridge = nonneg_float(teacher_ridge, "teacher_ridge")
    x, lab = digits_pool()
    gs, gt = _centred_labels(source, lab), _centred_labels(target, lab)
    d = x.shape[1]
    gram = x.T @ x
    rhs = np.stack([gs, gt], axis=1)
    if ridge == 0:  # the ridge → 0 limit: the minimum-norm least-squares teachers (the pooled
        # digits Gram is singular: centred pixels, constant border pixels)
        theta = np.asarray(np.linalg.lstsq(x, rhs, rcond=None)[0], dtype=np.float64)
    else:
        reg = ridge * float(np.trace(gram)) / d * np.eye(d)
        theta = np.asarray(np.linalg.solve(gram + reg, x.T @ rhs), dtype=np.float64)
    return ReluTask(
        readonly(theta[:, 0].copy()),
        readonly(theta[:, 1].copy()),
        "pool",
        pool=x,
        pool_labels=None if labels == "teacher" else readonly(gt),
        name=f"digits:{_label_name(source)}->{_label_name(target)}:{labels}",
    )


def _label_name(label: LabelFunction) -> str:
    return label if isinstance(label, str) else getattr(label, "__name__", "custom")
