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
        if int(dim) < 1:
            raise InvalidInputError(f"dim must be ≥ 1, got {dim}")
        return int(dim)
    if not 1 <= min_dim <= max_dim:
        raise InvalidInputError(f"need 1 ≤ min_dim ≤ max_dim, got {min_dim}, {max_dim}")
    return int(draw(st.integers(min_dim, max_dim)))


@st.composite
def spectra(
    draw: Any,
    *,
    dim: int | None = None,
    min_dim: int = 1,
    max_dim: int = 8,
    condition_number: float = 100.0,
    rank: int | None = None,
    isotropic: bool = False,
    scale: tuple[float, float] = (0.1, 10.0),
) -> np.ndarray:
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
    d = _resolve_dim(draw, dim, min_dim, max_dim)
    if condition_number < 1 or not math.isfinite(condition_number):
        raise InvalidInputError(f"condition_number must be finite and ≥ 1, got {condition_number}")
    lo, hi = scale
    if not 0 < lo <= hi:
        raise InvalidInputError(f"scale must be a range 0 < lo ≤ hi, got {scale}")
    r = d if rank is None else int(rank)
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


@st.composite
def orthogonal_matrices(draw: Any, dim: int) -> np.ndarray:
    """A d×d orthogonal matrix: a product of Givens rotations over every coordinate pair (angles
    drawn in [−π, π], which covers SO(d)) times an optional reflection. Shrinks to the identity.
    Meant for small d (d(d−1)/2 drawn angles)."""
    d = int(dim)
    if d < 1:
        raise InvalidInputError(f"dim must be ≥ 1, got {dim}")
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


@st.composite
def covariances(
    draw: Any,
    *,
    dim: int | None = None,
    min_dim: int = 1,
    max_dim: int = 8,
    condition_number: float = 100.0,
    rank: int | None = None,
    isotropic: bool = False,
    rotated: bool = True,
) -> Covariance:
    """A :class:`~finetune_bounds.Covariance` with a spectrum from :func:`spectra` (same
    parameters and defaults) and, when ``rotated`` (default), eigenvectors from
    :func:`orthogonal_matrices`; otherwise Σ is diagonal."""
    lam = draw(
        spectra(
            dim=dim,
            min_dim=min_dim,
            max_dim=max_dim,
            condition_number=condition_number,
            rank=rank,
            isotropic=isotropic,
        )
    )
    vec = draw(orthogonal_matrices(lam.shape[0])) if rotated else None
    return Covariance.from_spectrum(lam, vec)


def _vectors(d: int, bound: float) -> st.SearchStrategy[np.ndarray]:
    el = st.floats(-bound, bound, allow_nan=False, allow_infinity=False)
    return st.lists(el, min_size=d, max_size=d).map(lambda v: np.asarray(v, dtype=np.float64))


@st.composite
def linear_tasks(
    draw: Any,
    *,
    dim: int | None = None,
    min_dim: int = 1,
    max_dim: int = 8,
    covariance: Covariance | st.SearchStrategy[Covariance] | None = None,
    noise: bool | float = False,
    bound: float = 2.0,
) -> LinearTask:
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
    if isinstance(covariance, Covariance):
        cov = covariance
    elif covariance is None:
        cov = draw(covariances(dim=dim, min_dim=min_dim, max_dim=max_dim))
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


@st.composite
def designs(
    draw: Any,
    *,
    dim: int,
    n: int | None = None,
    min_n: int = 0,
    max_n: int = 10,
    covariance: Covariance | None = None,
    generic: bool = True,
) -> np.ndarray:
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
    m = int(draw(st.integers(min_n, max_n))) if n is None else int(n)
    if generic:
        seed = draw(st.integers(0, 2**32 - 1))
        rng = np.random.default_rng(seed)
        if covariance is None:
            return rng.standard_normal((m, dim))
        if covariance.dim != dim:
            raise InvalidInputError(f"covariance has dim {covariance.dim}, designs asked {dim}")
        return covariance.sample(m, rng)
    el = st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False)
    flat = draw(st.lists(el, min_size=m * dim, max_size=m * dim))
    return np.asarray(flat, dtype=np.float64).reshape(m, dim)


@st.composite
def tasks_with_designs(
    draw: Any,
    *,
    dim: int | None = None,
    min_dim: int = 1,
    max_dim: int = 8,
    n: int | None = None,
    min_n: int = 0,
    max_n: int | None = None,
    noise: bool | float = False,
    covariance: Covariance | st.SearchStrategy[Covariance] | None = None,
) -> tuple[LinearTask, np.ndarray]:
    """A pair (task, X) with X ~ N(0, Σ) drawn from the task's own covariance.

    ``n`` is drawn in [min_n, max_n] (default max_n = d + 2, so n < d, n = d and n > d all
    occur); other parameters as in :func:`linear_tasks`.
    """
    task = draw(
        linear_tasks(
            dim=dim, min_dim=min_dim, max_dim=max_dim, covariance=covariance, noise=noise
        )
    )
    d = task.dim
    x = draw(
        designs(
            dim=d,
            n=n,
            min_n=min_n,
            max_n=d + 2 if max_n is None else max_n,
            covariance=task.covariance,
        )
    )
    return task, x
