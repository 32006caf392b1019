"""Hypothesis strategies for property tests of fine-tuning theory (xarray ``testing.strategies``
style: composite strategies with keyword-only arguments and documented defaults).

Everything is float64 and small by default (dimensions ≤ 8) so that properties stay cheap. Each
strategy shrinks towards the simplest case: the smallest dimension, the identity rotation,
λ_max = 1, zero teachers.

>>> from hypothesis import given
>>> from finetune_bounds.testing import linear_tasks
>>> @given(linear_tasks(max_dim=4))
... def test_zero_shot_nonnegative(task):
...     assert task.covariance.quadratic_form(task.delta) >= 0

Spec: ``linear-teachers.md`` §1 (the objects), §2 (what is usually tested about them).
"""

from __future__ import annotations

import functools
import math
from typing import Any

try:
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - exercised only without the test extra
    raise ImportError(
        "finetune_bounds.testing needs hypothesis; install it with `pip install "
        "finetune-bounds[test]`"
    ) from exc

import numpy as np

from .._validation import boolean, nonneg_float, positive_int
from ..errors import InvalidInputError
from ..problems import Covariance, LinearTask

__all__ = [
    "covariances",
    "designs",
    "linear_tasks",
    "orthogonal_matrices",
    "spectra",
    "tasks_with_designs",
]

_unit = st.floats(0.0, 1.0, allow_nan=False, allow_infinity=False)


def _resolve_dim(draw: Any, dim: int | None, min_dim: int, max_dim: int) -> int:
    if dim is not None:
        return int(dim)
    return int(draw(st.integers(min_dim, max_dim)))


# -- argument checks: every strategy checks its arguments when it is built, before any draw ------
def _deferred(fn: Any) -> Any:
    """Check the arguments when the strategy is built, and report a bad one (as Hypothesis
    does) when the strategy is first drawn from: a strategy that raises the
    :class:`InvalidInputError`."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except InvalidInputError as exc:
            return _raising(type(exc), str(exc))

    return wrapper


@st.composite
def _raising(draw: Any, kind: type[InvalidInputError], message: str) -> Any:
    draw(st.just(None))  # a composite must draw (Hypothesis deprecates one that does not)
    raise kind(message)




def _dims(dim: Any, min_dim: Any, max_dim: Any) -> tuple[int | None, int, int]:
    d = None if dim is None else positive_int(dim, "dim", limit="d")
    lo = positive_int(min_dim, "min_dim", limit="d")
    hi = positive_int(max_dim, "max_dim", limit="d")
    if d is None and lo > hi:
        raise InvalidInputError(f"need 1 ≤ min_dim ≤ max_dim, got min_dim={lo}, max_dim={hi}")
    return d, lo, hi


def _spectrum_args(condition_number: Any, rank: Any, isotropic: Any,
                   dim: int | None) -> tuple[float, int | None, bool]:
    kappa = nonneg_float(condition_number, "condition_number", positive=True)
    if kappa < 1:
        raise InvalidInputError(f"condition_number must be finite and ≥ 1, got {kappa}")
    r = None if rank is None else positive_int(rank, "rank", allow_zero=True, limit="d")
    if r is not None and dim is not None and r > dim:
        raise InvalidInputError(f"rank must be in [0, {dim}], got {r}")
    iso = boolean(isotropic, "isotropic")
    return kappa, r, iso


def _covariance_arg(covariance: Any) -> Any:
    if covariance is None or isinstance(covariance, Covariance | st.SearchStrategy):
        return covariance
    raise InvalidInputError(
        f"covariance must be a Covariance, a strategy of Covariances or None, got {covariance!r}"
    )


def _noise_arg(noise: Any) -> bool | float:
    if isinstance(noise, bool | np.bool_):
        return bool(noise)
    return nonneg_float(noise, "noise (σ²)")


@_deferred
def spectra(
    *,
    dim: int | None = None,
    min_dim: int = 1,
    max_dim: int = 8,
    condition_number: float = 100.0,
    rank: int | None = None,
    isotropic: bool = False,
    scale: tuple[float, float] = (0.1, 10.0),
) -> st.SearchStrategy[np.ndarray]:
    """Eigenvalues λ_1 ≥ … ≥ λ_d ≥ 0 of a covariance (a float64 array of length d).

    Parameters
    ----------
    dim : int, optional
        Fixed dimension d; default: drawn in [min_dim, max_dim].
    min_dim, max_dim : int
        Range of d when ``dim`` is None (default 1 … 8).
    condition_number : float
        Upper bound on λ_max/λ_min over the *positive* eigenvalues (default 100; ≥ 1). The
        positive eigenvalues are λ_max·condition_number^{-u}, u ∈ [0, 1] drawn.
    rank : int, optional
        Number of positive eigenvalues (the rest are exactly 0); default: full rank d. Must be
        ≤ d (0 gives Σ = 0).
    isotropic : bool
        All eigenvalues equal to λ_max (Σ = s²I); incompatible with ``rank < d``.
    scale : (float, float)
        Range of λ_max, drawn log-uniformly (default 0.1 … 10).
    """
    d0, lo_dim, hi_dim = _dims(dim, min_dim, max_dim)
    kappa, rk, iso = _spectrum_args(condition_number, rank, isotropic, d0)
    if isinstance(scale, str | bytes) or not isinstance(scale, tuple | list) or len(scale) != 2:
        raise InvalidInputError(f"scale must be a range (lo, hi) with 0 < lo ≤ hi, got {scale!r}")
    lo = nonneg_float(scale[0], "scale (lo)", positive=True)
    hi = nonneg_float(scale[1], "scale (hi)", positive=True)
    if lo > hi:
        raise InvalidInputError(f"scale must be a range 0 < lo ≤ hi, got {scale}")
    return _spectra(d0, lo_dim, hi_dim, kappa, rk, iso, lo, hi)


@st.composite
def _spectra(draw: Any, dim: int | None, min_dim: int, max_dim: int, condition_number: float,
             rank: int | None, isotropic: bool, lo: float, hi: float) -> np.ndarray:
    d = _resolve_dim(draw, dim, min_dim, max_dim)
    r = d if rank is None else rank
    if not 0 <= r <= d:
        raise InvalidInputError(f"rank must be in [0, {d}], got {rank}")
    if isotropic and r != d:
        raise InvalidInputError("an isotropic spectrum has full rank; drop rank or isotropic")
    top = math.exp(math.log(lo) + draw(_unit) * (math.log(hi) - math.log(lo)))
    if isotropic:
        return np.full(d, top)
    us = [draw(_unit) for _ in range(max(r - 1, 0))]
    pos = [top] + [top * condition_number ** (-u) for u in us] if r > 0 else []
    lam = np.zeros(d)
    lam[:r] = sorted(pos, reverse=True)
    return lam


@_deferred
def orthogonal_matrices(dim: int) -> st.SearchStrategy[np.ndarray]:
    """A d×d orthogonal matrix: a product of Givens rotations over every coordinate pair (angles
    drawn in [−π, π], which covers SO(d)) times an optional reflection. Shrinks to the identity.
    Meant for small d (d(d−1)/2 drawn angles)."""
    return _orthogonal(positive_int(dim, "dim", limit="d"))


@st.composite
def _orthogonal(draw: Any, d: int) -> np.ndarray:
    q = np.eye(d)
    angle = st.floats(-math.pi, math.pi, allow_nan=False, allow_infinity=False)
    for i in range(d):
        for j in range(i + 1, d):
            t = draw(angle)
            if t == 0.0:
                continue
            c, s = math.cos(t), math.sin(t)
            qi, qj = q[:, i].copy(), q[:, j].copy()
            q[:, i], q[:, j] = c * qi - s * qj, s * qi + c * qj
    if draw(st.booleans()):
        q[:, 0] = -q[:, 0]
    return q


@_deferred
def covariances(
    *,
    dim: int | None = None,
    min_dim: int = 1,
    max_dim: int = 8,
    condition_number: float = 100.0,
    rank: int | None = None,
    isotropic: bool = False,
    rotated: bool = True,
) -> st.SearchStrategy[Covariance]:
    """A :class:`~finetune_bounds.Covariance` with a spectrum from :func:`spectra` (same
    parameters and defaults) and, when ``rotated`` (default), eigenvectors from
    :func:`orthogonal_matrices`; otherwise Σ is diagonal."""
    lams = spectra(dim=dim, min_dim=min_dim, max_dim=max_dim,
                   condition_number=condition_number, rank=rank, isotropic=isotropic)
    return _covariances(lams, boolean(rotated, "rotated"))


@st.composite
def _covariances(draw: Any, lams: st.SearchStrategy[np.ndarray], rotated: bool) -> Covariance:
    lam = draw(lams)
    vec = draw(_orthogonal(lam.shape[0])) if rotated else None
    return Covariance.from_spectrum(lam, vec)


def _vectors(d: int, bound: float) -> st.SearchStrategy[np.ndarray]:
    el = st.floats(-bound, bound, allow_nan=False, allow_infinity=False)
    return st.lists(el, min_size=d, max_size=d).map(lambda v: np.asarray(v, dtype=np.float64))


@_deferred
def linear_tasks(
    *,
    dim: int | None = None,
    min_dim: int = 1,
    max_dim: int = 8,
    covariance: Covariance | st.SearchStrategy[Covariance] | None = None,
    noise: bool | float = False,
    bound: float = 2.0,
) -> st.SearchStrategy[LinearTask]:
    """A :class:`~finetune_bounds.LinearTask`: Σ, θ_S, θ_T (and the noise variance σ²).

    Parameters
    ----------
    dim, min_dim, max_dim : int
        Dimension, as in :func:`spectra` (ignored when ``covariance`` is a Covariance).
    covariance : Covariance or strategy, optional
        Default: :func:`covariances` with the same dimension and its other defaults.
    noise : bool or float
        ``False`` (default): σ² = 0, the paper's setting. ``True``: σ² drawn in [0, 2].
        A float: that σ².
    bound : float
        Teacher entries are drawn in [−bound, bound] (default 2).
    """
    d0, lo_dim, hi_dim = _dims(dim, min_dim, max_dim)
    covariance = _covariance_arg(covariance)
    if covariance is None:
        covariance = covariances(dim=d0, min_dim=lo_dim, max_dim=hi_dim)
    noise = _noise_arg(noise)
    bound = nonneg_float(bound, "bound")
    return _linear_tasks(covariance, noise, bound)


@st.composite
def _linear_tasks(draw: Any, covariance: Any, noise: bool | float, bound: float) -> LinearTask:
    if isinstance(covariance, Covariance):
        cov = covariance
    else:
        cov = draw(covariance)
    d = cov.dim
    src = draw(_vectors(d, bound))
    tgt = draw(_vectors(d, bound))
    if isinstance(noise, bool):
        sigma2 = draw(st.floats(0.0, 2.0, allow_nan=False)) if noise else 0.0
    else:
        sigma2 = float(noise)
    return LinearTask(cov, src, tgt, sigma2)


@_deferred
def designs(
    *,
    dim: int,
    n: int | None = None,
    min_n: int = 0,
    max_n: int = 10,
    covariance: Covariance | None = None,
    generic: bool = True,
) -> st.SearchStrategy[np.ndarray]:
    """A design X of shape (n, dim), one sample per row.

    Parameters
    ----------
    dim : int
        Number of columns.
    n : int, optional
        Number of rows; default drawn in [min_n, max_n] (0 … 10).
    covariance : Covariance, optional
        With ``generic=True`` the rows are x ~ N(0, Σ) (default Σ = I).
    generic : bool
        ``True`` (default): Gaussian rows from a drawn seed, so X has the generic rank
        min(n, rank Σ) with probability 1 (what the §2.3 statements assume). ``False``: every
        entry drawn by Hypothesis in [−3, 3]: degenerate, rank-deficient designs included.
    """
    d = positive_int(dim, "dim", limit="d")
    n0 = None if n is None else positive_int(n, "n", allow_zero=True, limit="n")
    lo = positive_int(min_n, "min_n", allow_zero=True, limit="n")
    hi = positive_int(max_n, "max_n", allow_zero=True, limit="n")
    if n0 is None and lo > hi:
        raise InvalidInputError(f"need 0 ≤ min_n ≤ max_n, got min_n={lo}, max_n={hi}")
    if covariance is not None and not isinstance(covariance, Covariance):
        raise InvalidInputError(f"covariance must be a Covariance or None, got {covariance!r}")
    if covariance is not None and covariance.dim != d:
        raise InvalidInputError(f"covariance has dim {covariance.dim}, designs asked {d}")
    return _designs(d, n0, lo, hi, covariance, boolean(generic, "generic"))


@st.composite
def _designs(draw: Any, dim: int, n: int | None, min_n: int, max_n: int,
             covariance: Covariance | None, generic: bool) -> np.ndarray:
    m = int(draw(st.integers(min_n, max_n))) if n is None else n
    if generic:
        seed = draw(st.integers(0, 2**32 - 1))
        rng = np.random.default_rng(seed)
        if covariance is None:
            return rng.standard_normal((m, dim))
        return covariance.sample(m, rng)
    el = st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False)
    flat = draw(st.lists(el, min_size=m * dim, max_size=m * dim))
    return np.asarray(flat, dtype=np.float64).reshape(m, dim)


@_deferred
def tasks_with_designs(
    *,
    dim: int | None = None,
    min_dim: int = 1,
    max_dim: int = 8,
    n: int | None = None,
    min_n: int = 0,
    max_n: int | None = None,
    noise: bool | float = False,
    covariance: Covariance | st.SearchStrategy[Covariance] | None = None,
) -> st.SearchStrategy[tuple[LinearTask, np.ndarray]]:
    """A pair (task, X) with X ~ N(0, Σ) drawn from the task's own covariance.

    ``n`` is drawn in [min_n, max_n] (default max_n = d + 2, so n < d, n = d and n > d all
    occur); other parameters as in :func:`linear_tasks`.
    """
    tasks = linear_tasks(dim=dim, min_dim=min_dim, max_dim=max_dim, covariance=covariance,
                         noise=noise)
    n0 = None if n is None else positive_int(n, "n", allow_zero=True, limit="n")
    lo = positive_int(min_n, "min_n", allow_zero=True, limit="n")
    hi = None if max_n is None else positive_int(max_n, "max_n", allow_zero=True, limit="n")
    if n0 is None and hi is not None and lo > hi:
        raise InvalidInputError(f"need 0 ≤ min_n ≤ max_n, got min_n={lo}, max_n={hi}")
    return _tasks_with_designs(tasks, n0, lo, hi)


@st.composite
def _tasks_with_designs(draw: Any, tasks: Any, n: int | None, min_n: int,
                        max_n: int | None) -> tuple[LinearTask, np.ndarray]:
    task = draw(tasks)
    d = task.dim
    x = draw(
        designs(
            dim=d,
            n=n,
            min_n=min_n,
            max_n=max(d + 2, min_n) if max_n is None else max_n,
            covariance=task.covariance,
        )
    )
    return task, x
