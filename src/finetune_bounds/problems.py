"""Problem specifications: target covariance and linear source/target teachers.

Spec: ``linear-teachers.md`` §1. Both classes are frozen and validated on construction; the
covariance is eigendecomposed exactly once, and every theory route works in its eigenbasis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import scipy.linalg
from numpy.typing import ArrayLike, NDArray

from ._validation import (
    FloatArray,
    as_float_array,
    as_vector,
    nonneg_float,
    positive_int,
    readonly,
)
from .errors import InvalidInputError
from .limits import check_elements

__all__ = ["Covariance", "LinearTask"]

#: relative tolerance used for symmetry, PSD and rank decisions
DEFAULT_TOL = 1e-10


def _check_tol(tol: object) -> float:
    t = nonneg_float(tol, "tol", positive=True)
    if t >= 1.0:
        raise InvalidInputError(f"tol is a relative tolerance and must be < 1, got {t}")
    return t


def _check_eigenvectors(eigenvectors: ArrayLike, d: int) -> FloatArray:
    vec = as_float_array(eigenvectors, "eigenvectors", ndim=2)
    if vec.shape != (d, d):
        raise InvalidInputError(
            f"eigenvectors must have shape ({d}, {d}) to match {d} eigenvalues, got {vec.shape}"
        )
    err = float(np.max(np.abs(vec.T @ vec - np.eye(d))))
    if err > 1e-8:
        raise InvalidInputError(
            f"eigenvectors must be orthonormal columns (max |VᵀV - I| = {err:.3g} > 1e-8)"
        )
    return vec


#: rows × columns of one block of :func:`_symmetrize_scaled` (≈ 2 MB per temporary)
_BLOCK = 512


def _symmetrize_scaled(s: FloatArray, scale: float) -> tuple[float, bool]:
    """In place: ``s ← (s/scale + (s/scale)ᵀ)/2``, block pair by block pair.

    Returns ``max |s − sᵀ|`` of the input and whether the input was diagonal. Each element is
    read once and written once; the temporaries are a few ``_BLOCK × _BLOCK`` blocks.
    """
    d = s.shape[0]
    asym = 0.0
    diagonal = True
    for i in range(0, d, _BLOCK):
        bi = slice(i, min(i + _BLOCK, d))
        for j in range(i, d, _BLOCK):
            bj = slice(j, min(j + _BLOCK, d))
            upper = s[bi, bj]
            lower_t = s[bj, bi].T
            if upper.size:
                asym = max(asym, float(np.max(np.abs(upper - lower_t))))
            if diagonal:
                if i == j:
                    diagonal = np.count_nonzero(upper) == np.count_nonzero(np.diag(upper))
                else:
                    diagonal = not (np.any(upper) or np.any(lower_t))
            mean = 0.5 * (upper / scale + lower_t / scale)
            s[bi, bj] = mean
            s[bj, bi] = mean.T
    return asym, diagonal


@dataclass(frozen=True, eq=False)
class Covariance:
    """A positive semi-definite covariance Σ of the target inputs, held by its eigenpairs.

    Build it with :meth:`from_matrix`, :meth:`from_spectrum` or :meth:`isotropic` (a direct
    call ``Covariance(eigenvalues, eigenvectors)`` is validated the same way and needs the
    eigenvalues in decreasing order). Eigenvalues are stored in decreasing order
    (``eigenvalues[0] = λ_max``); ``eigenvectors[:, i]`` pairs with ``eigenvalues[i]``. Both
    arrays are read-only copies: nothing the caller passed is kept or mutated.

    The PSD and rank decisions are relative to λ_max: an eigenvalue below ``-tol·λ_max`` makes
    the matrix indefinite (an error); eigenvalues with ``|λ| ≤ tol·λ_max`` are set to exactly 0,
    which defines the rank r used by the theory (spec §2.3, "Σ of rank r"). Spectra with a
    condition number beyond ``1/tol`` therefore lose their smallest eigenvalues; pass a smaller
    ``tol`` if they matter.

    A diagonal Σ (:meth:`from_spectrum` without eigenvectors, :meth:`isotropic`) is held in O(d):
    its eigenvectors are coordinate axes, kept as a permutation, and the dense (d, d) matrices
    (``eigenvectors``, ``matrix``, ``sqrt_matrix``) are built only when asked for — every theory
    path (eigenbasis coordinates, quadratic forms, sampling) stays O(d) per vector.

    Attributes
    ----------
    eigenvalues : ndarray, shape (d,)
        λ_1 ≥ … ≥ λ_d ≥ 0.
    eigenvectors : ndarray, shape (d, d)
        Orthonormal columns (built on first access for a diagonal Σ).
    tol : float
        Relative tolerance for the rank and PSD decisions.
    """

    eigenvalues: FloatArray
    tol: float = DEFAULT_TOL
    #: dense eigenvectors, or None for a diagonal Σ (then ``_perm`` says which axis is which)
    _dense: FloatArray | None = field(default=None, repr=False)
    #: diagonal Σ: eigenvector i is the coordinate axis ``_perm[i]``
    _perm: NDArray[np.int64] | None = field(default=None, repr=False)
    _is_diagonal: bool = field(default=False, repr=False)

    def __init__(
        self, eigenvalues: ArrayLike, eigenvectors: ArrayLike, tol: float = DEFAULT_TOL
    ) -> None:
        """``Covariance(eigenvalues, eigenvectors)``: validated like :meth:`from_spectrum`, with
        the eigenvalues already in decreasing order."""
        tol = _check_tol(tol)
        lam = as_vector(eigenvalues, "eigenvalues")
        vec = _check_eigenvectors(eigenvectors, lam.shape[0])
        if np.any(np.diff(lam) > 0):
            raise InvalidInputError(
                "eigenvalues must be in decreasing order when Covariance is built directly "
                "(use Covariance.from_spectrum to sort them)"
            )
        ref = Covariance._from_eig(lam, vec, tol=tol, diagonal=False)
        for name in ("eigenvalues", "tol", "_dense", "_perm", "_is_diagonal"):
            object.__setattr__(self, name, getattr(ref, name))

    @classmethod
    def _trusted(
        cls, evals: FloatArray, tol: float, dense: FloatArray | None,
        perm: NDArray[np.int64] | None, diagonal: bool,
    ) -> Covariance:
        """An instance from already validated, read-only parts (no checks)."""
        obj = object.__new__(cls)
        for name, value in (("eigenvalues", evals), ("tol", tol), ("_dense", dense),
                            ("_perm", perm), ("_is_diagonal", diagonal)):
            object.__setattr__(obj, name, value)
        return obj

    # -- constructors ---------------------------------------------------------------------------
    @classmethod
    def from_matrix(cls, matrix: ArrayLike, *, tol: float = DEFAULT_TOL) -> Covariance:
        """Validate a covariance matrix and eigendecompose it once.

        Raises
        ------
        InvalidInputError
            If the matrix is not square, not finite, not symmetric (relative tolerance ``tol``
            scaled by its largest entry, with a floor of 1e-8) or has an eigenvalue below
            ``-tol·λ_max`` (indefinite).
        """
        tol = _check_tol(tol)
        s = as_float_array(matrix, "covariance", ndim=2)  # a fresh copy: our workspace
        if s.shape[0] != s.shape[1]:
            raise InvalidInputError(f"covariance must be square, got shape {s.shape}")
        scale = max(float(s.max()), -float(s.min())) or 1.0
        # One blocked pass, in place: the symmetry check, the diagonal test, and Σ/scale
        # symmetrised — (Σ/scale + Σᵀ/scale)/2, entries in [-1, 1], so eigh neither overflows
        # (entries ~1e308) nor loses the spectrum to underflow (~1e-300); the eigenvalues scale
        # back exactly. No d × d temporary: at d = 10⁴ each one is 800 MB.
        asym, diagonal = _symmetrize_scaled(s, scale)
        if asym > max(tol, 1e-8) * scale:
            raise InvalidInputError(
                f"covariance is not symmetric (max |S - S^T| = {asym:.3g}, scale {scale:.3g})"
            )
        # LAPACK's divide and conquer (syevd, as numpy's eigh) on the workspace itself: s is
        # symmetric and C-ordered, so s.T is the same matrix in Fortran order (no copy)
        evals, evecs = scipy.linalg.eigh(
            s.T, lower=True, overwrite_a=True, check_finite=False, driver="evd"
        )
        with np.errstate(over="ignore"):
            evals = evals * scale
        if not np.all(np.isfinite(evals)):
            raise InvalidInputError(
                f"covariance eigenvalues overflow float64 (entries up to {scale:.3g}); "
                "rescale the covariance"
            )
        return cls._from_eig(evals, evecs, tol=tol, diagonal=diagonal)

    @classmethod
    def from_spectrum(
        cls,
        eigenvalues: ArrayLike,
        eigenvectors: ArrayLike | None = None,
        *,
        tol: float = DEFAULT_TOL,
    ) -> Covariance:
        """Build Σ = V diag(λ) Vᵀ from its spectrum (V = I when ``eigenvectors`` is None).

        Raises
        ------
        InvalidInputError
            If an eigenvalue is negative beyond the tolerance, the eigenvectors are not a
            square orthonormal matrix of matching size, or any value is non-finite.
        """
        tol = _check_tol(tol)
        lam = as_vector(eigenvalues, "eigenvalues")
        if eigenvectors is None:  # coordinate axes: O(d), no dense identity
            return cls._from_eig(lam, None, tol=tol, diagonal=True)
        vec = _check_eigenvectors(eigenvectors, lam.shape[0])
        return cls._from_eig(lam, vec, tol=tol, diagonal=False)

    @classmethod
    def isotropic(cls, dim: int, scale: float = 1.0) -> Covariance:
        """Σ = scale · I_d (``scale`` ≥ 0; 0 gives the zero covariance, rank 0)."""
        d = positive_int(dim, "dim", limit="d")
        s = nonneg_float(scale, "scale")
        return cls._from_eig(np.full(d, s), None, tol=DEFAULT_TOL, diagonal=True)

    @classmethod
    def _from_eig(
        cls, evals: FloatArray, evecs: FloatArray | None, *, tol: float, diagonal: bool
    ) -> Covariance:
        """Sort, clip and threshold the eigenvalues; ``evecs`` None means coordinate axes."""
        # Scale-invariant PSD decision: an eigenvalue below -tol·max|λ| means indefinite; the
        # ones in [-tol·max|λ|, tol·max|λ|] are rounding noise and become exact zeros (rank).
        lam_max = float(np.max(np.abs(evals))) if evals.size else 0.0
        lam_min = float(np.min(evals))
        if lam_min < -tol * lam_max:
            raise InvalidInputError(
                f"covariance is not positive semi-definite (smallest eigenvalue {lam_min:.3g}, "
                f"largest {float(np.max(evals)):.3g}; tolerance {tol:g} relative)"
            )
        order = np.argsort(-evals, kind="stable")
        evals = np.clip(evals[order], 0.0, None)
        evals[evals <= tol * lam_max] = 0.0
        if evecs is None:
            perm = np.asarray(order, dtype=np.int64)
            perm.setflags(write=False)
            return cls._trusted(readonly(evals), tol, None, perm, True)
        return cls._trusted(readonly(evals), tol, readonly(np.array(evecs[:, order])), None,
                            diagonal)

    # -- derived quantities ---------------------------------------------------------------------
    @property
    def dim(self) -> int:
        """Input dimension d."""
        return int(self.eigenvalues.shape[0])

    @cached_property
    def eigenvectors(self) -> FloatArray:
        """The eigenvectors as a dense (d, d) matrix (columns; O(d²), built once when Σ is
        diagonal — the theory never needs it)."""
        if self._dense is not None:
            return self._dense
        assert self._perm is not None
        v = np.zeros((self.dim, self.dim))
        v[self._perm, np.arange(self.dim)] = 1.0
        return readonly(v)

    @cached_property
    def matrix(self) -> FloatArray:
        """Σ as a dense (d, d) matrix."""
        v = self.eigenvectors
        return readonly((v * self.eigenvalues) @ v.T)

    @cached_property
    def sqrt_matrix(self) -> FloatArray:
        """Σ^{1/2} as a dense matrix."""
        v = self.eigenvectors
        return readonly((v * np.sqrt(self.eigenvalues)) @ v.T)

    @property
    def rank(self) -> int:
        """Number of strictly positive eigenvalues (after the tolerance)."""
        return int(np.count_nonzero(self.eigenvalues > 0))

    @property
    def trace(self) -> float:
        return float(np.sum(self.eigenvalues))

    @property
    def operator_norm(self) -> float:
        """λ_max(Σ)."""
        return float(self.eigenvalues[0])

    @property
    def effective_rank(self) -> float:
        """r₀ = tr Σ / ‖Σ‖ (0 for Σ = 0)."""
        return self.trace / self.operator_norm if self.operator_norm > 0 else 0.0

    @property
    def is_isotropic(self) -> bool:
        """True when Σ = s²I (all eigenvalues equal within the tolerance)."""
        lam = self.eigenvalues
        return bool(lam[0] - lam[-1] <= self.tol * max(lam[0], 1e-300) * 10)

    def to_eigenbasis(self, v: FloatArray) -> FloatArray:
        """Coordinates Vᵀv of a vector (or the rows of a matrix, last axis) in the eigenbasis."""
        a = np.asarray(v, dtype=np.float64)
        if self._perm is not None:  # coordinate axes: a gather, O(d)
            return np.asarray(a[..., self._perm])
        return np.asarray(a @ self.eigenvectors)

    def quadratic_form(self, v: ArrayLike) -> FloatArray:
        """vᵀΣv along the last axis (batched), computed from the eigenpairs."""
        c = self.to_eigenbasis(np.asarray(v, dtype=np.float64))
        return np.asarray(np.sum(self.eigenvalues * c * c, axis=-1))

    def sample(
        self, n: int, rng: np.random.Generator, *, batch: tuple[int, ...] = ()
    ) -> FloatArray:
        """Draw Gaussian inputs x ~ N(0, Σ): an array of shape ``batch + (n, d)``.

        Rows are z·diag(√λ)·Vᵀ with z standard normal, so they lie exactly in range Σ (up to
        rounding) when Σ is singular.
        """
        n = positive_int(n, "n", allow_zero=True, limit="n")
        if not isinstance(rng, np.random.Generator):
            raise InvalidInputError(f"rng must be a numpy Generator, got {type(rng).__name__}")
        batch = tuple(positive_int(b, "batch size", allow_zero=True) for b in batch)
        check_elements(*batch, n, self.dim, name="the sample (batch × n × d)")
        z = rng.standard_normal((*batch, n, self.dim))
        x = z * np.sqrt(self.eigenvalues)
        if self._perm is None:
            return np.asarray(x @ self.eigenvectors.T)
        if np.array_equal(self._perm, np.arange(self.dim)):
            return np.asarray(x)
        out = np.empty_like(x)
        out[..., self._perm] = x  # x Vᵀ for coordinate-axis eigenvectors, O(d) per row
        return out

    def __repr__(self) -> str:
        lam = self.eigenvalues
        return (
            f"Covariance(dim={self.dim}, rank={self.rank}, λ_max={lam[0]:.4g}, "
            f"λ_min={lam[-1]:.4g}, trace={self.trace:.4g})"
        )


@dataclass(frozen=True, eq=False)
class LinearTask:
    """A fine-tuning problem with linear teachers (spec ``linear-teachers.md`` §1).

    Parameters
    ----------
    covariance : Covariance or array_like
        Target input covariance Σ (a matrix is accepted and validated).
    source : array_like, shape (d,)
        Pretrained (source) teacher θ_S.
    target : array_like, shape (d,)
        Target teacher θ_T.
    noise_variance : float, default 0
        Label-noise variance σ² on the target labels (0 in the paper; kept separate in results).
    """

    covariance: Covariance
    source: FloatArray
    target: FloatArray
    noise_variance: float = 0.0

    def __post_init__(self) -> None:
        cov = self.covariance
        if not isinstance(cov, Covariance):
            cov = Covariance.from_matrix(cov)
            object.__setattr__(self, "covariance", cov)
        d = cov.dim
        object.__setattr__(self, "source", readonly(as_vector(self.source, "source", d)))
        object.__setattr__(self, "target", readonly(as_vector(self.target, "target", d)))
        object.__setattr__(
            self, "noise_variance", nonneg_float(self.noise_variance, "noise_variance")
        )
        self._check_scale()

    def _check_scale(self) -> None:
        """Risks are quadratic forms vᵀΣv ≤ ‖v‖²·tr Σ of θ_S, θ_T and Δ (and the bounds are of
        that size): refuse a task whose risks would overflow float64 (a NaN/inf risk is never
        returned silently). A margin of 2⁸ covers the sums of the theory routes."""
        cov = self.covariance
        tr = float(np.sum(cov.eigenvalues))  # eigenvalues are finite, tr may still overflow
        big = 0.0
        with np.errstate(over="ignore"):
            for v in (self.source, self.target):
                big = max(big, float(np.max(np.abs(v))))
            top = 2.0 * big  # ‖Δ‖∞ ≤ 2·max(‖θ_S‖∞, ‖θ_T‖∞)
            sq = (top * top) * cov.dim
            worst = sq * max(tr, cov.operator_norm) * 256.0
        if not math.isfinite(tr) or not math.isfinite(worst):
            raise InvalidInputError(
                f"task overflows float64: θ_S, θ_T entries up to {big:.3g} with tr Σ = {tr:.3g} "
                "give risks beyond the float64 range; rescale θ_S, θ_T (or Σ)"
            )

    @property
    def dim(self) -> int:
        return self.covariance.dim

    @cached_property
    def delta(self) -> FloatArray:
        """Δ = θ_T − θ_S."""
        return readonly(self.target - self.source)

    @cached_property
    def delta_eig(self) -> FloatArray:
        """Δ in the eigenbasis of Σ (Δ_i = v_iᵀΔ)."""
        return readonly(self.covariance.to_eigenbasis(self.delta))

    @cached_property
    def target_eig(self) -> FloatArray:
        return readonly(self.covariance.to_eigenbasis(self.target))

    @cached_property
    def source_eig(self) -> FloatArray:
        return readonly(self.covariance.to_eigenbasis(self.source))

    def from_scratch(self) -> LinearTask:
        """The same target learnt from zero (θ_S = 0): the no-pretraining reference."""
        return LinearTask(self.covariance, np.zeros(self.dim), self.target, self.noise_variance)

    def __repr__(self) -> str:
        return (
            f"LinearTask(d={self.dim}, ‖θ_S‖={np.linalg.norm(self.source):.4g}, "
            f"‖θ_T‖={np.linalg.norm(self.target):.4g}, ‖Δ‖={np.linalg.norm(self.delta):.4g}, "
            f"σ²={self.noise_variance:.4g})"
        )


def check_linear_task(task: object) -> None:
    """Raise :class:`InvalidInputError` unless ``task`` is a :class:`LinearTask`."""
    if not isinstance(task, LinearTask):
        raise InvalidInputError(f"task must be a LinearTask, got {type(task).__name__}")
