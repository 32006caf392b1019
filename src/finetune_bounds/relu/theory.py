"""Two-layer ReLU networks in the NTK regime: Gram matrix, complexity, bounds, kernel limit.

Spec: ``linear-teachers.md`` §4. Model f(x) = (1/√m) Σ_r a_r ReLU(w_rᵀx) with a_r = ±1 fixed,
first layer trained by gradient descent on the sum loss ½Σ(f(x_i) − y_i)², inputs on the unit
sphere. In the infinite-width (kernel) regime the training dynamics are governed by the
arc-cosine NTK of the first layer

    H_ij = x_iᵀx_j (π − arccos x_iᵀx_j) / (2π) = x_iᵀx_j (1/4 + arcsin(x_iᵀx_j) / (2π)),

and fine-tuning from a source network f_S converges to the kernel regression of the residual,
f_S(x) + k(x, X) H⁻¹ (y − f_S(X)).

Everything here is a pure function of arrays: inputs in, frozen result (value + diagnostics) out.
Every Gram matrix is eigendecomposed once (:class:`GramSystem`); a numerically singular Gram
matrix is never inverted silently — it raises, or an explicit ``ridge`` is added and reported.

Defaults (documented once, used everywhere):

- confidence δ = :data:`DEFAULT_DELTA` = 0.05 and constant C = :data:`DEFAULT_CONSTANT` = 1 in
  the Arora et al. (2019) bound √(2 rᵀH⁻¹r / n) + C √(log(n / (λ₀ δ)) / n). The theorem states
  the second term as O(·); C = 1 is our choice, not a derived constant.
- singularity threshold: H is treated as singular when λ_min(H + ridge·I) ≤ rcond · λ_max(H)
  with rcond = :data:`DEFAULT_RCOND` = 1e-10.
- unit-norm tolerance: inputs count as on the sphere when |‖x‖ − 1| ≤ :data:`UNIT_ATOL` = 1e-6.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.linalg as sla
from numpy.typing import ArrayLike

from .._numerics import rank_mask
from .._validation import FloatArray, as_float_array, as_vector, nonneg_float, positive_int
from ..errors import InvalidInputError, NotReachableError
from ..limits import check, check_elements
from ._checks import float_list, guarded, int_list

if TYPE_CHECKING:
    from ._tasks import ReluTask, Split

__all__ = [
    "DEFAULT_CONSTANT",
    "DEFAULT_DELTA",
    "DEFAULT_RCOND",
    "SAMPLE_COMPLEXITY_METHODS",
    "STARTS",
    "UNIT_ATOL",
    "Complexity",
    "GramSystem",
    "KernelCurve",
    "KernelPrediction",
    "NTKBound",
    "NTKSampleComplexity",
    "SampleComplexityTable",
    "StartCurve",
    "StartSampleComplexity",
    "TheoryCurve",
    "WorstCaseComplexity",
    "bound_sample_complexity",
    "clipped_abs_loss",
    "complexity",
    "generalization_bound",
    "gram_system",
    "kernel_learning_curve",
    "kernel_predict",
    "normalize_inputs",
    "ntk_gram",
    "rate_sample_complexity",
    "theory_curve",
    "theory_sample_complexity",
    "worst_case_complexity",
]

#: default confidence δ of the generalisation bound
DEFAULT_DELTA = 0.05
#: default constant C in front of the confidence term √(log(n/(λ₀δ))/n)
DEFAULT_CONSTANT = 1.0
#: relative eigenvalue threshold below which a Gram matrix counts as numerically singular
DEFAULT_RCOND = 1e-10
#: tolerance on |‖x‖ − 1| for inputs to count as lying on the unit sphere
UNIT_ATOL = 1e-6


# ---------------------------------------------------------------------------------------------
# inputs and the Gram matrix
# ---------------------------------------------------------------------------------------------
@guarded
def normalize_inputs(x: ArrayLike, name: str = "X") -> FloatArray:
    """Project the rows of ``x`` onto the unit sphere (x ↦ x/‖x‖).

    Raises
    ------
    InvalidInputError
        If ``x`` is not a finite 2-d array or a row is (numerically) zero.
    """
    xa = as_float_array(x, name, ndim=2)
    top = np.max(np.abs(xa), axis=1, keepdims=True) if xa.size else np.ones((xa.shape[0], 1))
    xs = xa / np.where(top > 0, top, 1.0)  # scale first: no overflow/underflow in the norm
    norms = np.linalg.norm(xs, axis=1)
    bad = np.flatnonzero(top[:, 0] == 0)
    if bad.size:
        raise InvalidInputError(
            f"{name} has {bad.size} zero row(s) (first: row {int(bad[0])}); "
            "they cannot be normalised onto the sphere"
        )
    return np.asarray(xs / norms[:, None])


def _unit_rows(x: ArrayLike, name: str, normalize: bool, atol: float = UNIT_ATOL) -> FloatArray:
    if normalize:
        return normalize_inputs(x, name)
    xa = as_float_array(x, name, ndim=2)
    err = float(np.max(np.abs(np.linalg.norm(xa, axis=1) - 1.0)))
    if err > atol:
        raise InvalidInputError(
            f"{name} must have unit-norm rows for the NTK of spec §4 "
            f"(max |‖x‖ − 1| = {err:.3g} > {atol:g}); pass normalize=True to project them"
        )
    return xa


@guarded
def ntk_gram(
    x: ArrayLike,
    z: ArrayLike | None = None,
    *,
    normalize: bool = False,
    atol: float = UNIT_ATOL,
) -> FloatArray:
    """Arc-cosine NTK of the first layer of a two-layer ReLU network (spec §4).

    H(x, z) = xᵀz (π − arccos xᵀz) / (2π) = E_w[xᵀz 1{wᵀx > 0} 1{wᵀz > 0}], w ~ N(0, I),
    for unit vectors x, z. The cosine is clipped to [−1, 1] before ``arccos`` (rounding can push
    it just outside).

    Parameters
    ----------
    x : array_like, shape (n, d)
        Inputs, one per row, on the unit sphere.
    z : array_like, shape (p, d), optional
        Second set of inputs (default: ``x``, giving the n × n Gram matrix).
    normalize : bool
        Project rows onto the sphere first instead of validating them.
    atol : float
        Tolerance on |‖x‖ − 1| when ``normalize`` is False.

    Returns
    -------
    ndarray, shape (n, p)

    Raises
    ------
    InvalidInputError
        Non-finite values, rows off the sphere (without ``normalize``), zero rows (with it),
        or mismatched dimensions.

    Examples
    --------
    >>> import numpy as np
    >>> h = ntk_gram(np.eye(3))
    >>> float(h[0, 0]), float(h[0, 1])
    (0.5, 0.0)
    """
    xa = _unit_rows(x, "X", normalize, atol)
    za = xa if z is None else _unit_rows(z, "Z", normalize, atol)
    check_elements(xa.shape[0], za.shape[0], name="ntk_gram output (n × p)")
    if za.shape[1] != xa.shape[1]:
        raise InvalidInputError(
            f"inputs must have the same dimension, got {xa.shape[1]} and {za.shape[1]}"
        )
    return _arccos_kernel(xa @ za.T)


def _arccos_kernel(cos: FloatArray) -> FloatArray:
    """The arc-cosine (NTK) kernel κ(c) = c (π − arccos c) / (2π) of cosines, elementwise.

    Parameters
    ----------
    cos : array_like
        Cosines (inner products of unit vectors); clipped to [−1, 1] first.

    Returns
    -------
    ndarray, same shape (and floating dtype) as ``cos``
        A new array (``cos`` is not modified). The operations of the textbook expression
        ``c * (π − arccos c) / (2π)`` in the same order, so the values are identical bit for
        bit; but in place, block by block: each block of :data:`_KERNEL_BLOCK` elements is
        clipped into a small scratch buffer and every further step writes into the result
        while the block is still in cache — one allocation and one pass over memory instead of
        five temporaries and five passes.
    """
    c_all = np.asarray(cos)
    if c_all.dtype.kind != "f":
        c_all = c_all.astype(np.float64)
    out = np.empty(c_all.shape, dtype=c_all.dtype)
    src = c_all.reshape(-1)  # a copy only if ``cos`` is not contiguous
    dst = out.reshape(-1)
    scratch = np.empty(min(_KERNEL_BLOCK, src.size), dtype=c_all.dtype)
    for s in range(0, src.size, _KERNEL_BLOCK):
        o = dst[s : s + _KERNEL_BLOCK]
        c = np.clip(src[s : s + _KERNEL_BLOCK], -1.0, 1.0, out=scratch[: o.size])
        np.arccos(c, out=o)
        np.subtract(np.pi, o, out=o)
        np.multiply(c, o, out=o)
        np.divide(o, 2.0 * np.pi, out=o)
    return out


#: elements per block of :func:`_arccos_kernel` (two 256 kB blocks stay in a core's L2 cache)
_KERNEL_BLOCK = 32_768


# ---------------------------------------------------------------------------------------------
# one eigendecomposition, many uses
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class GramSystem:
    """The NTK Gram matrix of one design, eigendecomposed once (spec §4).

    Every solve uses H + ridge·I; ``ridge`` is 0 unless the caller asked for regularisation, and
    it is carried here so that every result built from this system can report it.

    Attributes
    ----------
    inputs : ndarray, shape (n, d)
        The unit-norm inputs.
    gram : ndarray, shape (n, n)
        H (without the ridge).
    eigenvalues : ndarray, shape (n,)
        Eigenvalues of H in increasing order (without the ridge).
    eigenvectors : ndarray, shape (n, n)
    ridge : float
        Explicit regularisation added to H in every solve (0 = none).
    rcond : float
        The singularity threshold that was checked.
    """

    inputs: FloatArray
    gram: FloatArray
    eigenvalues: FloatArray
    eigenvectors: FloatArray
    ridge: float
    rcond: float

    @property
    def n(self) -> int:
        """Number of inputs."""
        return int(self.gram.shape[0])

    @property
    def lambda_min(self) -> float:
        """λ₀ = λ_min(H) (without the ridge)."""
        return float(self.eigenvalues[0])

    @property
    def lambda_max(self) -> float:
        """λ_max(H)."""
        return float(self.eigenvalues[-1])

    @property
    def effective_lambda_min(self) -> float:
        """λ_min(H) + ridge, the smallest eigenvalue actually inverted."""
        return float(self.eigenvalues[0]) + self.ridge

    @property
    def condition(self) -> float:
        """(λ_max + ridge) / (λ_min + ridge)."""
        return (self.lambda_max + self.ridge) / self.effective_lambda_min

    def _coords(self, r: ArrayLike, name: str = "residual") -> FloatArray:
        ra = as_vector(r, name)
        if ra.shape[0] != self.n:
            raise InvalidInputError(
                f"{name} must have one entry per input (n = {self.n}), got {ra.shape[0]}"
            )
        return np.asarray(self.eigenvectors.T @ ra)

    def solve(self, r: ArrayLike) -> FloatArray:
        """(H + ridge·I)⁻¹ r through the eigendecomposition."""
        c = self._coords(r)
        return np.asarray(self.eigenvectors @ (c / (self.eigenvalues + self.ridge)))

    def quadratic_form(self, r: ArrayLike) -> float:
        """rᵀ(H + ridge·I)⁻¹r, the data-dependent complexity of the labels ``r``."""
        c = self._coords(r)
        return float(np.sum(c * c / (self.eigenvalues + self.ridge)))

    def gd_coefficients(self, r: ArrayLike, steps: float, lr: float) -> FloatArray:
        """α_t = H⁻¹(I − (I − ηH)^t) r: the kernel-regime gradient-descent coefficients.

        After t full-batch steps of size η on the sum loss, the linearised network's change of
        function is k(x, X) α_t; t = ∞ (with 0 < η < 2/λ_max) gives H⁻¹r.
        """
        c = self._coords(r)
        lam = self.eigenvalues + self.ridge
        if math.isinf(steps):
            filt = 1.0 / lam
        else:
            q = lr * lam
            small = q < 1.0  # (1 − q)^t = exp(t log1p(−q)), accurate for small q
            safe = np.where(small, q, 0.0)
            decay = np.where(small, np.exp(steps * np.log1p(-safe)), (1.0 - q) ** steps)
            tiny = np.abs(q) < 1e-12  # λ ≈ 0 (an empirical NTK may be singular): limit t·η
            lam_safe = np.where(tiny, 1.0, lam)
            filt = np.where(
                tiny,
                steps * lr,
                np.where(small, -np.expm1(steps * np.log1p(-safe)), 1.0 - decay) / lam_safe,
            )
        return np.asarray(self.eigenvectors @ (c * filt))

    def train_residual(self, r: ArrayLike, steps: float, lr: float) -> FloatArray:
        """(I − ηH)^t r: the residual on the training inputs after t kernel-regime steps."""
        c = self._coords(r)
        if math.isinf(steps):
            return np.zeros(self.n)
        lam = self.eigenvalues + self.ridge
        return np.asarray(self.eigenvectors @ (c * (1.0 - lr * lam) ** steps))


@guarded
def gram_system(
    x: ArrayLike,
    *,
    normalize: bool = False,
    ridge: float = 0.0,
    rcond: float = DEFAULT_RCOND,
) -> GramSystem:
    """Build and eigendecompose the NTK Gram matrix H of ``x`` (spec §4).

    Parameters
    ----------
    x : array_like, shape (n, d)
        Inputs on the unit sphere (or any non-zero rows with ``normalize=True``).
    normalize : bool
        Project the rows onto the sphere instead of validating them.
    ridge : float
        Explicit regularisation: every solve uses H + ridge·I (kernel ridge regression). With
        ridge > 0 the bound of :func:`generalization_bound` is no longer the theorem's; it is
        reported in every result built from this system.
    rcond : float
        H + ridge·I is refused when its smallest eigenvalue is ≤ rcond · λ_max(H).

    Raises
    ------
    InvalidInputError
        Bad inputs, or a numerically singular Gram matrix (two inputs equal or numerically
        equal: H is then singular; pass ``ridge > 0`` to regularise explicitly).
    """
    xa = _unit_rows(x, "X", normalize)
    check(xa.shape[0], "n", "X rows")
    check_elements(xa.shape[0], xa.shape[0], name="NTK Gram matrix (n × n)")
    ridge = nonneg_float(ridge, "ridge")
    rcond = nonneg_float(rcond, "rcond")
    h = _arccos_kernel(xa @ xa.T)
    evals, evecs = np.linalg.eigh(h)
    lam_max = float(evals[-1])
    if float(evals[0]) + ridge <= rcond * lam_max:
        raise InvalidInputError(
            f"the NTK Gram matrix of {xa.shape[0]} inputs is numerically singular "
            f"(λ_min = {evals[0]:.3g}, λ_max = {lam_max:.3g}, ridge = {ridge:g}, "
            f"rcond = {rcond:g}); are two inputs (nearly) equal? pass ridge > 0 to regularise"
        )
    return GramSystem(xa, h, np.asarray(evals), np.asarray(evecs), ridge, rcond)


def _system(
    x: ArrayLike | GramSystem, normalize: bool, ridge: float, rcond: float
) -> GramSystem:
    if isinstance(x, GramSystem):
        return x
    return gram_system(x, normalize=normalize, ridge=ridge, rcond=rcond)


# ---------------------------------------------------------------------------------------------
# complexity and the generalisation bound
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Complexity:
    """rᵀH⁻¹r for residual labels r (spec §4), with the Gram diagnostics.

    Attributes
    ----------
    value : float
        rᵀ(H + ridge·I)⁻¹r.
    n : int
    residual_norm2 : float
        ‖r‖².
    lambda_min, lambda_max : float
        Extreme eigenvalues of H (without the ridge).
    ridge : float
    """

    value: float
    n: int
    residual_norm2: float
    lambda_min: float
    lambda_max: float
    ridge: float


@guarded
def complexity(
    x: ArrayLike | GramSystem,
    residual: ArrayLike,
    *,
    normalize: bool = False,
    ridge: float = 0.0,
    rcond: float = DEFAULT_RCOND,
) -> Complexity:
    """Data-dependent complexity rᵀH⁻¹r of the labels to be learnt (spec §4).

    From scratch r = y; when fine-tuning from a source network r = y − f_S(X), which includes
    the pretraining error (≈ XΔ when pretraining is exact and the teachers are linear).

    ``x`` may be a :class:`GramSystem` to reuse an eigendecomposition.
    """
    sys = _system(x, normalize, ridge, rcond)
    val = sys.quadratic_form(residual)
    r = as_vector(residual, "residual")
    return Complexity(val, sys.n, float(r @ r), sys.lambda_min, sys.lambda_max, sys.ridge)


@dataclass(frozen=True)
class NTKBound:
    """Arora et al. (2019) style bound on the population loss (spec §4).

    value = √(2 rᵀH⁻¹r / n) + C √(log(n / (λ₀ δ)) / n), for a 1-Lipschitz loss bounded in
    [0, 1] (compare with the clipped absolute error, :func:`clipped_abs_loss`).

    Attributes
    ----------
    value : float
    complexity_term : float
        √(2 rᵀH⁻¹r / n).
    confidence_term : float
        C √(log(n / (λ₀ δ)) / n) (the logarithm is floored at 0).
    complexity : float
        rᵀ(H + ridge·I)⁻¹r.
    lambda_min : float
        λ₀ + ridge, the value used in the logarithm.
    n : int
    delta, constant, ridge : float
    vacuous : bool
        value ≥ 1: no information for a loss bounded by 1.
    """

    value: float
    complexity_term: float
    confidence_term: float
    complexity: float
    lambda_min: float
    n: int
    delta: float
    constant: float
    ridge: float
    vacuous: bool


def _confidence_term(n: int, lam0: float, delta: float, constant: float) -> float:
    return constant * math.sqrt(max(math.log(n / (lam0 * delta)), 0.0) / n)


def check_n(n: int, name: str = "X rows") -> int:
    check(n, "n", name)
    return n


def _check_task(task: object) -> None:
    from ._tasks import ReluTask

    if not isinstance(task, ReluTask):
        raise InvalidInputError(f"task must be a ReluTask, got {type(task).__name__}")


def _check_delta(delta: float) -> float:
    d = nonneg_float(delta, "delta", positive=True)
    if d >= 1.0:
        raise InvalidInputError(f"delta (confidence) must lie in (0, 1), got {d}")
    return d


@guarded
def generalization_bound(
    x: ArrayLike | GramSystem,
    residual: ArrayLike,
    *,
    delta: float = DEFAULT_DELTA,
    constant: float = DEFAULT_CONSTANT,
    normalize: bool = False,
    ridge: float = 0.0,
    rcond: float = DEFAULT_RCOND,
) -> NTKBound:
    """Generalisation bound of the NTK-regime network trained on residual labels (spec §4).

    Regime: width large enough for the kernel regime, loss 1-Lipschitz and bounded in [0, 1]
    (e.g. min(|f − y|, 1)), inputs on the sphere, n i.i.d. samples; holds with probability
    ≥ 1 − δ. The O(·) constant of the theorem is exposed as ``constant`` (default 1).

    Parameters
    ----------
    x : array_like, shape (n, d), or GramSystem
    residual : array_like, shape (n,)
        y (from scratch) or y − f_S(X) (fine-tuning).
    delta : float
        Confidence δ ∈ (0, 1), default 0.05.
    constant : float
        C ≥ 0, default 1.
    """
    delta = _check_delta(delta)
    constant = nonneg_float(constant, "constant")
    sys = _system(x, normalize, ridge, rcond)
    c = sys.quadratic_form(residual)
    n = sys.n
    lam0 = sys.effective_lambda_min
    comp = math.sqrt(2.0 * c / n)
    conf = _confidence_term(n, lam0, delta, constant)
    val = comp + conf
    return NTKBound(val, comp, conf, c, lam0, n, delta, constant, sys.ridge, val >= 1.0)


@dataclass(frozen=True)
class WorstCaseComplexity:
    """The worst-case chain rᵀH⁻¹r ≤ 4‖P_XΔ‖² ≤ 4‖Δ‖² for r = XΔ (spec §4).

    Attributes
    ----------
    data_dependent : float
        rᵀ(H + ridge·I)⁻¹r with r = XΔ.
    projected : float
        4‖P_XΔ‖² (P_X the row-space projector, from an SVD with a rank tolerance).
    euclidean : float
        4‖Δ‖².
    ratio : float
        data_dependent / ‖P_XΔ‖² ∈ [0, 4] (≈ 2 for n ≪ d, → 4 as n/rank X grows); 0 if P_XΔ = 0.
    rank : int
        rank of X.
    holds : bool
        data_dependent ≤ projected ≤ euclidean (relative tolerance 1e-9).
    """

    data_dependent: float
    projected: float
    euclidean: float
    ratio: float
    rank: int
    holds: bool


@guarded
def worst_case_complexity(
    x: ArrayLike | GramSystem,
    delta_vector: ArrayLike,
    *,
    normalize: bool = False,
    ridge: float = 0.0,
    rcond: float = DEFAULT_RCOND,
) -> WorstCaseComplexity:
    """Compare the data-dependent rᵀH⁻¹r (r = XΔ) with its worst-case bounds (spec §4).

    Since H = XXᵀ ∘ (1/4 + arcsin(XXᵀ)/(2π)) and the Hadamard product of PSD matrices is PSD,
    H ⪰ XXᵀ/4; hence rᵀH⁻¹r = max_v 2vᵀr − vᵀHv ≤ max_u 2uᵀΔ − ‖u‖²/4 over u ∈ rowspace(X)
    = 4‖P_XΔ‖², for any n and rank of X.
    """
    sys = _system(x, normalize, ridge, rcond)
    xa = sys.inputs
    dv = as_vector(delta_vector, "delta", xa.shape[1])
    c = sys.quadratic_form(xa @ dv)
    proj, rank = _projection(xa, dv)
    eucl = float(dv @ dv)
    ratio = c / proj if proj > 0 else 0.0
    holds = c <= 4 * proj * (1 + 1e-9) + 1e-300 and proj <= eucl * (1 + 1e-9) + 1e-300
    return WorstCaseComplexity(c, 4 * proj, 4 * eucl, ratio, rank, bool(holds))


# ---------------------------------------------------------------------------------------------
# what fine-tuning converges to: kernel regression on the residual
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class KernelPrediction:
    """Kernel-regime prediction f_S(x*) + k(x*, X) α (spec §4).

    Attributes
    ----------
    prediction : ndarray, shape (p,)
        Predicted values at the test inputs.
    coefficients : ndarray, shape (n,)
        α = H⁻¹(I − (I − ηH)^t) r (α = H⁻¹r at t = ∞).
    train_residual : ndarray, shape (n,)
        Remaining residual on the training inputs, (I − ηH)^t r (0 at t = ∞).
    steps : float
        t (inf for the converged limit).
    lr : float
        η (nan-free: 0 when ``steps`` is inf and no step size was given).
    complexity : float
        rᵀH⁻¹r.
    lambda_min, lambda_max, ridge : float
    """

    prediction: FloatArray
    coefficients: FloatArray
    train_residual: FloatArray
    steps: float
    lr: float
    complexity: float
    lambda_min: float
    lambda_max: float
    ridge: float


@guarded
def kernel_predict(
    x: ArrayLike | GramSystem,
    residual: ArrayLike,
    x_test: ArrayLike,
    *,
    offset_test: ArrayLike | None = None,
    steps: float | None = None,
    lr: float | None = None,
    normalize: bool = False,
    ridge: float = 0.0,
    rcond: float = DEFAULT_RCOND,
) -> KernelPrediction:
    """What NTK-regime fine-tuning converges to: f_S(x*) + k(x*, X) H⁻¹ (y − f_S(X)) (spec §4).

    Parameters
    ----------
    x : array_like, shape (n, d), or GramSystem
        Training inputs.
    residual : array_like, shape (n,)
        r = y − f_S(X) (fine-tuning) or y (from scratch, f ≡ 0 at the antisymmetric init).
    x_test : array_like, shape (p, d)
    offset_test : array_like, shape (p,), optional
        f_S(x*) at the test inputs (default 0).
    steps, lr : float, optional
        Early-stopped prediction after ``steps`` gradient-descent steps of size ``lr`` on the sum
        loss in the kernel regime (default: converged, t = ∞). ``lr`` must satisfy
        0 < lr·λ_max(H) < 2 for a finite ``steps``.
    """
    sys = _system(x, normalize, ridge, rcond)
    xt = _unit_rows(x_test, "X_test", normalize)
    if xt.shape[1] != sys.inputs.shape[1]:
        raise InvalidInputError(
            f"X_test must have {sys.inputs.shape[1]} columns, got shape {xt.shape}"
        )
    off = np.zeros(xt.shape[0]) if offset_test is None else as_vector(
        offset_test, "offset_test", xt.shape[0]
    )
    t = math.inf if steps is None or steps == math.inf else nonneg_float(steps, "steps")
    if math.isfinite(t):
        check(t, "steps", "steps")
    if math.isnan(t) or t < 0 or (math.isfinite(t) and not t.is_integer()):
        raise InvalidInputError(f"steps must be a whole number ≥ 0 (or inf), got {steps!r}")
    eta = 0.0
    if math.isfinite(t):
        if lr is None:
            raise InvalidInputError("a finite number of steps needs a step size lr")
        eta = nonneg_float(lr, "lr", positive=True)
        top = eta * (sys.lambda_max + sys.ridge)
        if top >= 2.0:
            raise InvalidInputError(
                f"lr·λ_max = {top:.3g} ≥ 2: gradient descent on the sum loss diverges"
            )
    elif lr is not None:
        eta = nonneg_float(lr, "lr", positive=True)
    alpha = sys.gd_coefficients(residual, t, eta)
    pred = off + _arccos_kernel(xt @ sys.inputs.T) @ alpha
    return KernelPrediction(
        prediction=np.asarray(pred),
        coefficients=alpha,
        train_residual=sys.train_residual(residual, t, eta),
        steps=t,
        lr=eta,
        complexity=sys.quadratic_form(residual),
        lambda_min=sys.lambda_min,
        lambda_max=sys.lambda_max,
        ridge=sys.ridge,
    )


@guarded
def clipped_abs_loss(prediction: ArrayLike, target: ArrayLike) -> FloatArray:
    """min(|f − y|, 1): the 1-Lipschitz loss bounded in [0, 1] that the bound of spec §4 covers.

    Its mean is the "MAE" reported throughout the ReLU family (equal to the plain mean absolute
    error whenever every error is below 1).
    """
    p = as_float_array(prediction, "prediction", allow_empty=True)
    y = as_float_array(target, "target", allow_empty=True)
    if p.shape != y.shape:
        raise InvalidInputError(
            f"prediction and target must have the same shape, got {p.shape} and {y.shape}"
        )
    return np.asarray(np.minimum(np.abs(p - y), 1.0))


# ---------------------------------------------------------------------------------------------
# learning curves on nested designs (one Cholesky for every n)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class KernelCurve:
    """Kernel-limit learning curve on the nested designs X[:n] (spec §4).

    Attributes
    ----------
    n : ndarray of int
        Sample sizes.
    complexity : ndarray
        r[:n]ᵀ H[:n, :n]⁻¹ r[:n].
    mae : ndarray
        Mean clipped absolute error of the converged kernel predictor on the test inputs.
    mse : ndarray
        Mean squared error on the test inputs.
    ridge : float
    lambda_min : float
        λ_min of the largest Gram matrix (a lower bound for every prefix, by interlacing).
    """

    n: np.ndarray
    complexity: FloatArray
    mae: FloatArray
    mse: FloatArray
    ridge: float
    lambda_min: float

    def first_below(self, eps: float, quantity: str = "mae") -> int | None:
        """Smallest n of the curve with ``quantity`` ≤ ε, or None."""
        vals = {"mae": self.mae, "mse": self.mse}[quantity]
        hit = np.flatnonzero(vals <= eps)
        return int(self.n[hit[0]]) if hit.size else None


def _lambda_min(h: FloatArray) -> float:
    return float(sla.eigh(h, eigvals_only=True, subset_by_index=[0, 0], driver="evr")[0])


def _cholesky(
    h: FloatArray, ridge: float, rcond: float, lam_max: float | None = None
) -> tuple[FloatArray, float]:
    if lam_max is None:  # both ends from one tridiagonalisation (two subset calls cost 2×)
        ends = sla.eigh(h, eigvals_only=True, driver="evr")
        lam_min, top = float(ends[0]), float(ends[-1])
    else:
        lam_min, top = _lambda_min(h), lam_max
    if lam_min + ridge <= rcond * top:
        raise InvalidInputError(
            f"the NTK Gram matrix of {h.shape[0]} inputs is numerically singular "
            f"(λ_min = {lam_min:.3g}, λ_max = {top:.3g}, ridge = {ridge:g}); "
            "pass ridge > 0 to regularise"
        )
    try:
        chol = np.linalg.cholesky(h + ridge * np.eye(h.shape[0]))
    except np.linalg.LinAlgError:  # pragma: no cover - excluded by the eigenvalue check
        raise InvalidInputError("Cholesky factorisation of the NTK Gram matrix failed") from None
    return np.asarray(chol), lam_min


@guarded
def kernel_learning_curve(
    x: ArrayLike,
    residual: ArrayLike,
    x_test: ArrayLike,
    target_test: ArrayLike,
    *,
    offset_test: ArrayLike | None = None,
    ns: ArrayLike | None = None,
    normalize: bool = False,
    ridge: float = 0.0,
    rcond: float = DEFAULT_RCOND,
) -> KernelCurve:
    """Converged kernel-regime learning curve for every prefix X[:n] at the cost of one solve.

    The Cholesky factor of a leading principal submatrix is the leading block of the factor:
    with H = LLᵀ, z = L⁻¹r and B = L⁻¹k(X, X*), the prediction from the first n samples is
    Σ_{i<n} z_i B_i and rᵀ_nH_n⁻¹r_n = Σ_{i<n} z_i². Cost O(N³/3 + N²p).

    Parameters
    ----------
    x : array_like, shape (N, d)
        Nested design (the first n rows are the n-sample design).
    residual : array_like, shape (N,)
    x_test : array_like, shape (p, d)
    target_test : array_like, shape (p,)
        True labels at the test inputs.
    offset_test : array_like, shape (p,), optional
        f_S(x*) (default 0).
    ns : array_like of int, optional
        Sample sizes to report (default 1 … N).
    """
    xa = _unit_rows(x, "X", normalize)
    big_n = check_n(xa.shape[0])
    r = as_vector(residual, "residual", big_n)
    xt = _unit_rows(x_test, "X_test", normalize)
    check_elements(big_n, big_n + xt.shape[0], name="Gram and test kernel matrices")
    if xt.shape[1] != xa.shape[1]:
        raise InvalidInputError(f"X_test must have {xa.shape[1]} columns, got shape {xt.shape}")
    yt = as_vector(target_test, "target_test", xt.shape[0])
    off = np.zeros(xt.shape[0]) if offset_test is None else as_vector(
        offset_test, "offset_test", xt.shape[0]
    )
    ridge = nonneg_float(ridge, "ridge")
    if ns is None:
        n_arr = np.arange(1, big_n + 1)
    else:
        n_arr = np.asarray(ns)
        if n_arr.dtype.kind == "b":
            raise InvalidInputError(f"ns must be integers, got booleans {ns!r}")
        if n_arr.ndim != 1 or n_arr.size == 0 or not np.issubdtype(n_arr.dtype, np.integer):
            raise InvalidInputError("ns must be a non-empty 1-d array of integers")
        if n_arr.min() < 1 or n_arr.max() > big_n:
            raise InvalidInputError(f"ns must lie in [1, {big_n}], got {n_arr.min()}…{n_arr.max()}")
    chol, lam_min = _cholesky(_arccos_kernel(xa @ xa.T), ridge, rcond)
    z = sla.solve_triangular(chol, r, lower=True)
    b = sla.solve_triangular(chol, _arccos_kernel(xa @ xt.T), lower=True)  # (N, p)
    preds = np.cumsum(b * z[:, None], axis=0)[n_arr - 1] + off[None, :]
    err = preds - yt[None, :]
    return KernelCurve(
        n=n_arr,
        complexity=np.cumsum(z * z)[n_arr - 1],
        mae=np.minimum(np.abs(err), 1.0).mean(axis=1),
        mse=(err * err).mean(axis=1),
        ridge=ridge,
        lambda_min=lam_min,
    )


# ---------------------------------------------------------------------------------------------
# sample complexity from the bound
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NTKSampleComplexity:
    """Smallest n whose bound is ≤ ε on a nested design (spec §4).

    Attributes
    ----------
    n : int or None
        None when no n ≤ ``n_max`` reaches ε.
    eps : float
    reachable : bool
    bound_at_n : float or None
    route : str
        ``"data_dependent"`` (rᵀH⁻¹r) or ``"worst_case"`` (4‖Δ‖² in its place).
    n_max : int
    evaluations : int
        Number of sample sizes at which λ₀ was computed exactly (grid + bisection).
    reason : str
    """

    n: int | None
    eps: float
    reachable: bool
    bound_at_n: float | None
    route: str
    n_max: int
    evaluations: int
    reason: str = ""


@guarded
def rate_sample_complexity(norm2: float, eps: float) -> int:
    """⌈8‖v‖²/ε²⌉: the n at which the complexity term √(2·4‖v‖²/n) alone reaches ε.

    The O(‖Δ‖²/ε²) (fine-tuning, v = Δ) versus O(‖θ_T‖²/ε²) (from scratch) rate of spec §4,
    ignoring the confidence term.
    """
    norm2 = nonneg_float(norm2, "norm2")
    eps = nonneg_float(eps, "eps", positive=True)
    val = 8.0 * norm2 / eps / eps
    if not math.isfinite(val):
        raise InvalidInputError(
            f"rate 8·norm2/eps² overflows float64 (norm2 = {norm2:g}, eps = {eps:g})"
        )
    return max(1, math.ceil(val - 1e-12))


class _NestedBound:
    """The bound on nested designs X[:n]: λ₀(n) computed on demand (cached), one Gram matrix."""

    def __init__(
        self, h: FloatArray, delta: float, constant: float, ridge: float, rcond: float
    ) -> None:
        self.h = h
        self.delta = delta
        self.constant = constant
        self.ridge = ridge
        self.rcond = rcond
        self.lam: dict[int, float] = {}

    def lambda_min(self, n: int) -> float:
        if n not in self.lam:
            self.lam[n] = _lambda_min(self.h[:n, :n])
        return self.lam[n]

    def value(self, comp: FloatArray, n: int) -> float:
        lam0 = self.lambda_min(n) + self.ridge
        if lam0 <= self.rcond * 0.5:  # λ_max ≥ H_ii = 1/2
            raise InvalidInputError(
                f"the NTK Gram matrix of the first {n} inputs is numerically singular "
                f"(λ_min = {self.lam[n]:.3g}); pass ridge > 0"
            )
        conf = _confidence_term(n, lam0, self.delta, self.constant)
        return math.sqrt(2.0 * float(comp[n - 1]) / n) + conf

    def first_crossing(
        self, comp: FloatArray, eps: float, n_min: int, grid_points: int
    ) -> tuple[int | None, float | None]:
        big_n = self.h.shape[0]
        grid = np.unique(np.geomspace(n_min, big_n, grid_points).round().astype(int))
        prev: int | None = None
        for g in grid:
            if self.value(comp, int(g)) <= eps:
                lo, hi = (prev if prev is not None else int(g)), int(g)
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    if self.value(comp, mid) <= eps:
                        hi = mid
                    else:
                        lo = mid
                if lo != hi and self.value(comp, lo) <= eps:
                    hi = lo
                return hi, self.value(comp, hi)
            prev = int(g)
        return None, None


def _prefix_complexity(h: FloatArray, r: FloatArray, ridge: float, rcond: float) -> FloatArray:
    chol, _ = _cholesky(h, ridge, rcond)
    z = sla.solve_triangular(chol, r, lower=True)
    return np.asarray(np.cumsum(z * z))


@guarded
def bound_sample_complexity(
    x: ArrayLike,
    residual: ArrayLike,
    eps: float,
    *,
    delta: float = DEFAULT_DELTA,
    constant: float = DEFAULT_CONSTANT,
    worst_case_norm2: float | None = None,
    n_min: int = 1,
    grid_points: int = 24,
    normalize: bool = False,
    ridge: float = 0.0,
    rcond: float = DEFAULT_RCOND,
    strict: bool = False,
) -> NTKSampleComplexity:
    """Smallest n ≤ N whose bound √(2 c_n/n) + C√(log(n/(λ₀(n)δ))/n) is ≤ ε (spec §4).

    The designs are the prefixes X[:n] of ``x`` (nested, as a data set grows). c_n = rᵀ_nH_n⁻¹r_n
    comes for every n from one Cholesky factor (see :func:`kernel_learning_curve`), or is
    4‖Δ‖² with ``worst_case_norm2 = ‖Δ‖²``. λ₀(n) needs an eigenvalue solve per n, so the bound
    is evaluated exactly on a geometric grid of ``grid_points`` sizes from ``n_min`` to N, and
    the first grid crossing is refined by bisection (exact evaluations throughout; the result is
    the first crossing if the bound crosses ε once inside that grid interval).

    Raises
    ------
    NotReachableError
        With ``strict=True`` when no n ≤ N reaches ε.
    InvalidInputError
        Bad inputs or a numerically singular Gram matrix.
    """
    xa = _unit_rows(x, "X", normalize)
    big_n = check_n(xa.shape[0])
    check_elements(big_n, big_n, name="NTK Gram matrix (n × n)")
    r = as_vector(residual, "residual", big_n)
    eps = nonneg_float(eps, "eps", positive=True)
    delta = _check_delta(delta)
    constant = nonneg_float(constant, "constant")
    ridge = nonneg_float(ridge, "ridge")
    n_min = positive_int(n_min, "n_min")
    if n_min > big_n:
        raise InvalidInputError(f"n_min = {n_min} exceeds the number of inputs {big_n}")
    grid_points = positive_int(grid_points, "grid_points", limit="n")
    h = _arccos_kernel(xa @ xa.T)
    if worst_case_norm2 is None:
        comp = _prefix_complexity(h, r, ridge, rcond)
        route = "data_dependent"
    else:
        comp = np.full(big_n, 4.0 * nonneg_float(worst_case_norm2, "worst_case_norm2"))
        route = "worst_case"
    nb = _NestedBound(h, delta, constant, ridge, rcond)
    found, val = nb.first_crossing(comp, eps, n_min, grid_points)
    if found is not None:
        return NTKSampleComplexity(found, eps, True, val, route, big_n, len(nb.lam))
    reason = f"bound never reaches ε = {eps:g} for n ≤ {big_n}"
    if strict:
        raise NotReachableError(reason)
    return NTKSampleComplexity(None, eps, False, None, route, big_n, len(nb.lam), reason)


# ---------------------------------------------------------------------------------------------
# task-level drivers: averaged theory curves and sample complexities (rows: relu._family)
# ---------------------------------------------------------------------------------------------
def _draw_rngs(seed: int, draws: int) -> list[np.random.Generator]:
    """Generators of the theory draws (child i of SeedSequence(seed), whatever ``draws`` is)."""
    seed = positive_int(seed, "seed", allow_zero=True)
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(draws)]


#: the starting points of fine-tuning, in the order every result lists them
STARTS: tuple[str, str] = ("pretrained", "scratch")


@dataclass(frozen=True)
class StartCurve:
    """Kernel-limit risks, complexities and bounds versus n for one starting point (spec §4).

    Every array has one entry per requested n (shape (k,)) and is the mean over the draws. For
    ``start = "pretrained"`` the residual is r = y − Xθ_S and v = Δ; for ``"scratch"`` r = y and
    v = θ_T. The ``worst_case*`` arrays need linear labels (else None).

    Attributes
    ----------
    mae, mse : ndarray
        Test mean clipped absolute error and squared error of the converged kernel prediction
        (quantities ``mae``/``mse``, source ``theory``, method ``ntk_limit``).
    complexity : ndarray
        r[:n]ᵀH⁻¹r[:n] (``complexity``, ``theory``, ``data_dependent``).
    bound : ndarray
        √(2rᵀH⁻¹r/n) + C√(log(n/(λ₀δ))/n) (``mae``, ``bound``, ``data_dependent``).
    worst_case_complexity : ndarray or None
        4‖P_Xv‖² (``complexity``, ``bound``, ``worst_case``).
    worst_case_norm_complexity : ndarray or None
        4‖v‖² (``complexity``, ``bound``, ``worst_case_norm``).
    worst_case_bound : ndarray or None
        √(8‖P_Xv‖²/n) + C√(log(n/(λ₀δ))/n) (``mae``, ``bound``, ``worst_case``).
    worst_case_norm_bound : ndarray or None
        √(8‖v‖²/n) + C√(log(n/(λ₀δ))/n) (``mae``, ``bound``, ``worst_case_norm``).
    """

    mae: FloatArray
    mse: FloatArray
    complexity: FloatArray
    bound: FloatArray
    worst_case_complexity: FloatArray | None
    worst_case_norm_complexity: FloatArray | None
    worst_case_bound: FloatArray | None
    worst_case_norm_bound: FloatArray | None


@dataclass(frozen=True)
class TheoryCurve:
    """Kernel-limit learning curve, bounds and complexities versus n, mean over random designs.

    The result of :func:`theory_curve` (spec §4); ``relu._family.curve_records`` turns it into
    the family's rows.

    Attributes
    ----------
    n : ndarray of int, shape (k,)
        The sample sizes, in the order requested.
    draws : int
        Number of nested designs averaged (0 when no n was requested).
    lambda_min : ndarray, shape (k,)
        λ₀ = λ_min(H[:n, :n]) (quantity ``lambda_min``, source ``theory``, method ``exact``).
    zero_shot : ndarray, shape (k,)
        Test ``mae`` of θ_S left unchanged (``mae``, ``theory``, method ``zero_shot``; the same
        value at every n of a draw).
    pretrained, scratch : StartCurve
        Fine-tuning from the source teacher and training from scratch (field ``start``).
    complexity_ratio : ndarray or None, shape (k,)
        rᵀH⁻¹r / ‖P_XΔ‖² of the fine-tuning residual, 0 where P_XΔ = 0 (``complexity_ratio``,
        ``theory``, ``data_dependent``); None unless the labels are linear.
    delta, constant, ridge : float
        Confidence δ, constant C and Gram regularisation used.
    """

    n: np.ndarray
    draws: int
    lambda_min: FloatArray
    zero_shot: FloatArray
    pretrained: StartCurve
    scratch: StartCurve
    complexity_ratio: FloatArray | None
    delta: float
    constant: float
    ridge: float

    @property
    def linear_labels(self) -> bool:
        """Whether the worst-case arrays (linear labels only) are present."""
        return self.complexity_ratio is not None

    def start(self, name: str) -> StartCurve:
        """The curve of ``start = name`` (``"pretrained"`` or ``"scratch"``)."""
        return {"pretrained": self.pretrained, "scratch": self.scratch}[name]


class _DrawSums:
    """Per-n arrays summed over draws (one addition per draw, in draw order), then averaged."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.sums: dict[tuple[str, str | None], FloatArray] = {}

    def add(self, name: str, start: str | None, vals: ArrayLike) -> None:
        key = (name, start)
        prev = self.sums.get(key, np.zeros(self.size))
        self.sums[key] = prev + np.asarray(vals, dtype=np.float64)

    def mean(self, name: str, start: str | None, draws: int) -> FloatArray:
        tot = self.sums.get((name, start), np.zeros(self.size))  # absent only without draws
        return np.asarray(tot / max(draws, 1))

    def start_curve(self, start: str, draws: int, linear: bool) -> StartCurve:
        def opt(name: str) -> FloatArray | None:
            return self.mean(name, start, draws) if linear else None

        return StartCurve(
            mae=self.mean("mae", start, draws),
            mse=self.mean("mse", start, draws),
            complexity=self.mean("complexity", start, draws),
            bound=self.mean("bound", start, draws),
            worst_case_complexity=opt("worst_case_complexity"),
            worst_case_norm_complexity=opt("worst_case_norm_complexity"),
            worst_case_bound=opt("worst_case_bound"),
            worst_case_norm_bound=opt("worst_case_norm_bound"),
        )


@guarded
def theory_curve(
    task: ReluTask,
    ns: Sequence[int],
    *,
    draws: int = 10,
    seed: int = 0,
    n_test: int = 1000,
    delta: float = DEFAULT_DELTA,
    constant: float = DEFAULT_CONSTANT,
    ridge: float = 0.0,
) -> TheoryCurve:
    """Kernel-limit risks, bounds and complexities versus n, averaged over random designs.

    Spec §4. For each of ``draws`` nested designs (child ``i`` of ``SeedSequence(seed)``, test
    set drawn first, so the value at n does not depend on the other ns requested) and each n:
    the test risk of the converged kernel prediction θ_Sᵀx + k(x, X)H⁻¹(y − Xθ_S) (idealised
    pretraining, spec §1) and, from scratch, k(x, X)H⁻¹y; the zero-shot risk of θ_S; the
    data-dependent bound √(2rᵀH⁻¹r/n) + C√(log(n/(λ₀δ))/n) and, for linear labels, its
    worst-case forms with 4‖P_XΔ‖² and 4‖Δ‖² (θ_T in place of Δ from scratch); rᵀH⁻¹r, the
    ratio rᵀH⁻¹r/‖P_XΔ‖² and λ₀.

    Parameters
    ----------
    task : ReluTask
    ns : sequence of int
        Sample sizes (each ≥ 1); the designs are the prefixes of one draw of max(ns) inputs.
    draws : int
        Number of random nested designs averaged.
    seed : int
        Seed of the designs (≥ 0).
    n_test : int
        Test inputs per draw.
    delta, constant : float
        Confidence δ ∈ (0, 1) and constant C of the bound.
    ridge : float
        Explicit Gram regularisation (0 = none).

    Returns
    -------
    TheoryCurve
        Every array is the mean over the draws, one entry per n (empty arrays for no n).

    Raises
    ------
    InvalidInputError
        Bad arguments, or a numerically singular Gram matrix in some draw (pass ridge > 0).
    """
    _check_task(task)
    n_arr = np.array(int_list(ns, "ns", limit="n"), dtype=int)
    linear = task.linear_labels
    sums = _DrawSums(n_arr.size)
    if n_arr.size == 0:
        return _curve_from_sums(sums, n_arr, 0, linear, delta, constant, ridge)
    draws = positive_int(draws, "draws", limit="draws")
    n_test = positive_int(n_test, "n_test", limit="n")
    delta = _check_delta(delta)
    constant = nonneg_float(constant, "constant")
    ridge = nonneg_float(ridge, "ridge")
    big_n = int(n_arr.max())
    check_elements(big_n, big_n + n_test, name="Gram and test kernel matrices")
    for g in _draw_rngs(seed, draws):
        s = task.nested_split(big_n, n_test, g)
        _curve_draw(task, s, n_arr, sums, delta=delta, constant=constant, ridge=ridge)
    return _curve_from_sums(sums, n_arr, draws, linear, delta, constant, ridge)


def _curve_from_sums(
    sums: _DrawSums,
    n_arr: np.ndarray,
    draws: int,
    linear: bool,
    delta: float,
    constant: float,
    ridge: float,
) -> TheoryCurve:
    return TheoryCurve(
        n=n_arr,
        draws=draws,
        lambda_min=sums.mean("lambda_min", None, draws),
        zero_shot=sums.mean("zero_shot", None, draws),
        pretrained=sums.start_curve("pretrained", draws, linear),
        scratch=sums.start_curve("scratch", draws, linear),
        complexity_ratio=sums.mean("complexity_ratio", None, draws) if linear else None,
        delta=float(delta),
        constant=float(constant),
        ridge=float(ridge),
    )


def _curve_draw(
    task: ReluTask,
    s: Split,
    n_arr: np.ndarray,
    sums: _DrawSums,
    *,
    delta: float,
    constant: float,
    ridge: float,
) -> None:
    """Add one nested design's per-n values to ``sums``."""
    h = _arccos_kernel(s.x @ s.x.T)
    lam0 = np.array([_lambda_min(h[:k, :k]) for k in n_arr])
    if np.any(lam0 + ridge <= DEFAULT_RCOND * 0.5):
        raise InvalidInputError(
            f"an NTK Gram matrix of the draw is numerically singular (λ_min = {lam0.min():.3g})"
            "; pass ridge > 0"
        )
    conf = np.array(
        [_confidence_term(int(k), float(l0) + ridge, delta, constant)
         for k, l0 in zip(n_arr, lam0, strict=True)]
    )
    sums.add("lambda_min", None, lam0)
    zero_shot = np.mean(np.minimum(np.abs(s.source_test - s.y_test), 1.0))
    sums.add("zero_shot", None, np.full(n_arr.size, zero_shot))
    for st, resid, off, vec in (
        ("pretrained", s.y - s.source, s.source_test, task.delta),
        ("scratch", s.y, np.zeros_like(s.y_test), task.target),
    ):
        curve = kernel_learning_curve(
            s.x, resid, s.x_test, s.y_test, offset_test=off, ns=n_arr, ridge=ridge
        )
        sums.add("mae", st, curve.mae)
        sums.add("mse", st, curve.mse)
        sums.add("complexity", st, curve.complexity)
        sums.add("bound", st, np.sqrt(2 * curve.complexity / n_arr) + conf)
        if task.linear_labels:
            proj = np.array([_projected_norm2(s.x[:k], vec) for k in n_arr])
            eucl = float(vec @ vec)
            sums.add("worst_case_complexity", st, 4 * proj)
            sums.add("worst_case_norm_complexity", st, np.full(n_arr.size, 4 * eucl))
            sums.add("worst_case_bound", st, np.sqrt(8 * proj / n_arr) + conf)
            sums.add("worst_case_norm_bound", st, np.sqrt(8 * eucl / n_arr) + conf)
            if st == "pretrained":
                ratio = np.where(proj > 0, curve.complexity / np.where(proj > 0, proj, 1), 0)
                sums.add("complexity_ratio", None, ratio)


def _projection(x: FloatArray, v: FloatArray) -> tuple[float, int]:
    """(‖P_Xv‖², rank X), P_X the row-space projector of x from an SVD with the shared rank
    cut-off (:func:`finetune_bounds._numerics.rank_mask`, numpy's ``matrix_rank`` default)."""
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    keep = rank_mask(s, x.shape)
    p = vt[keep] @ v
    return float(p @ p), int(np.sum(keep))


def _projected_norm2(x: FloatArray, v: FloatArray) -> float:
    """‖P_Xv‖² with P_X the row-space projector of x (see :func:`_projection`)."""
    return _projection(x, v)[0]


@dataclass(frozen=True)
class StartSampleComplexity:
    """n*(ε) for one starting point, one entry per ε, mean over the draws (spec §4).

    An entry is ``inf`` when some draw does not reach ε within ``n_max``. For
    ``start = "pretrained"`` v = Δ (residual y − Xθ_S), for ``"scratch"`` v = θ_T (residual y).

    Attributes
    ----------
    data_dependent : ndarray, shape (k,)
        First n with the data-dependent bound ≤ ε (:func:`bound_sample_complexity`; quantity
        ``sample_complexity``, source ``bound``, method ``data_dependent``).
    ntk_limit : ndarray, shape (k,)
        First n at which the converged kernel prediction's test ``mae`` is ≤ ε (source
        ``theory``, method ``ntk_limit``).
    worst_case : ndarray or None, shape (k,)
        The bound's n*(ε) with 4‖v‖² in place of rᵀH⁻¹r (``bound``, ``worst_case``); None
        unless the labels are linear.
    rate : ndarray, shape (k,)
        ⌈8‖v‖²/ε²⌉, the complexity term alone (``bound``, ``rate``).
    """

    data_dependent: FloatArray
    ntk_limit: FloatArray
    worst_case: FloatArray | None
    rate: FloatArray


@dataclass(frozen=True)
class SampleComplexityTable:
    """n*(ε) from the source teacher and from scratch (spec §4): :func:`theory_sample_complexity`.

    ``relu._family.sample_complexity_records`` turns it into the family's rows.

    Attributes
    ----------
    eps : ndarray, shape (k,)
        The targets ε, in the order requested.
    n_max : int
        Size of the nested designs searched (0 when no ε was requested).
    draws : int
        Number of designs averaged (0 when no ε was requested).
    pretrained, scratch : StartSampleComplexity
        Fine-tuning (field ``start = "pretrained"``) and training from scratch.
    """

    eps: FloatArray
    n_max: int
    draws: int
    pretrained: StartSampleComplexity
    scratch: StartSampleComplexity

    @property
    def linear_labels(self) -> bool:
        """Whether the ``worst_case`` arrays (linear labels only) are present."""
        return self.pretrained.worst_case is not None

    def start(self, name: str) -> StartSampleComplexity:
        """The table of ``start = name`` (``"pretrained"`` or ``"scratch"``)."""
        return {"pretrained": self.pretrained, "scratch": self.scratch}[name]


#: the routes of n*(ε), in the order every table lists them
SAMPLE_COMPLEXITY_METHODS: tuple[str, ...] = ("data_dependent", "ntk_limit", "worst_case", "rate")


@guarded
def theory_sample_complexity(
    task: ReluTask,
    eps: Sequence[float],
    *,
    n_max: int = 2000,
    draws: int = 3,
    seed: int = 0,
    n_test: int = 1000,
    delta: float = DEFAULT_DELTA,
    constant: float = DEFAULT_CONSTANT,
    ridge: float = 0.0,
    grid_points: int = 24,
) -> SampleComplexityTable:
    """n*(ε) from scratch (r = y) and from the source teacher (r = y − Xθ_S), spec §4.

    For each of ``draws`` nested designs of size ``n_max`` (child ``i`` of
    ``SeedSequence(seed)``) and each ε: the first n with the data-dependent bound ≤ ε
    (:func:`bound_sample_complexity`), the same with 4‖Δ‖² (4‖θ_T‖²) in place of rᵀH⁻¹r (linear
    labels only), the rate ⌈8‖Δ‖²/ε²⌉ (⌈8‖θ_T‖²/ε²⌉) and the first n at which the converged
    kernel prediction's test ``mae`` is ≤ ε (the infinite-width network's own learning curve).

    Parameters
    ----------
    task : ReluTask
    eps : sequence of float
        Targets ε > 0 (one entry of every array each).
    n_max : int
        Largest n searched (size of the nested designs).
    draws, seed, n_test : int
        Designs averaged, their seed, test inputs per draw.
    delta, constant, ridge : float
        Confidence δ, constant C and Gram regularisation of the bound.
    grid_points : int
        Exact bound evaluations on a geometric grid before bisection.

    Returns
    -------
    SampleComplexityTable
        Means over the draws; ``inf`` where a draw does not reach ε within ``n_max``.
    """
    _check_task(task)
    eps_arr = float_list(eps, "eps")
    linear = task.linear_labels
    if not eps_arr:
        return _sample_complexity_table([], {}, 0, 0, linear)
    n_max = positive_int(n_max, "n_max", limit="n")
    draws = positive_int(draws, "draws", limit="draws")
    n_test = positive_int(n_test, "n_test", limit="n")
    grid_points = positive_int(grid_points, "grid_points", limit="n")
    check_elements(n_max, n_max + n_test, name="Gram and test kernel matrices")
    delta = _check_delta(delta)
    constant = nonneg_float(constant, "constant")
    ridge = nonneg_float(ridge, "ridge")
    found: dict[tuple[str, str], list[list[float]]] = {}

    def add(st: str, method: str, j: int, v: int | None) -> None:
        cols = found.setdefault((st, method), [[] for _ in eps_arr])
        cols[j].append(math.inf if v is None else float(v))

    for g in _draw_rngs(seed, draws):
        s = task.nested_split(n_max, n_test, g)
        h = _arccos_kernel(s.x @ s.x.T)
        nb = _NestedBound(h, delta, constant, ridge, DEFAULT_RCOND)
        for q, resid, off, vec in (
            ("pretrained", s.y - s.source, s.source_test, task.delta),
            ("scratch", s.y, np.zeros_like(s.y_test), task.target),
        ):
            comp = _prefix_complexity(h, resid, ridge, DEFAULT_RCOND)
            curve = kernel_learning_curve(s.x, resid, s.x_test, s.y_test, offset_test=off,
                                          ridge=ridge)
            for j, e in enumerate(eps_arr):
                add(q, "data_dependent", j, nb.first_crossing(comp, e, 1, grid_points)[0])
                add(q, "ntk_limit", j, curve.first_below(e))
                if linear:
                    wc = np.full(n_max, 4.0 * float(vec @ vec))
                    add(q, "worst_case", j, nb.first_crossing(wc, e, 1, grid_points)[0])
                add(q, "rate", j, rate_sample_complexity(float(vec @ vec), e))
    return _sample_complexity_table(eps_arr, found, n_max, draws, linear)


def _sample_complexity_table(
    eps: list[float],
    found: dict[tuple[str, str], list[list[float]]],
    n_max: int,
    draws: int,
    linear: bool,
) -> SampleComplexityTable:
    def means(st: str, method: str) -> FloatArray:
        cols = found.get((st, method), [])
        return np.array([float(np.mean(vals)) for vals in cols], dtype=np.float64)

    def start(st: str) -> StartSampleComplexity:
        return StartSampleComplexity(
            data_dependent=means(st, "data_dependent"),
            ntk_limit=means(st, "ntk_limit"),
            worst_case=means(st, "worst_case") if linear else None,
            rate=means(st, "rate"),
        )

    return SampleComplexityTable(
        eps=np.array(eps, dtype=np.float64),
        n_max=n_max,
        draws=draws,
        pretrained=start("pretrained"),
        scratch=start("scratch"),
    )
