"""Training two-layer ReLU networks in numpy, batched over seeds (spec §4).

f(x) = (1/√m) Σ_r a_r ReLU(w_rᵀx), readout a_r = ±1 fixed, first layer W trained by full-batch
gradient descent on the sum loss ½Σ_i (f(x_i) − y_i)².

- Initialisation (spec §4): antisymmetric — m/2 rows w_r ~ N(0, I) each duplicated with the
  opposite readout sign, so f ≡ 0 at init while the NTK is that of scale-1 weights.
- Pretraining: the zero-cost closed form W_S = W₀ + 2aθ_Sᵀ/√m (a pair (w + 2θ/√m, +1),
  (w − 2θ/√m, −1) adds 4θᵀx/√m when wᵀx > 0, and about half of the m/2 pairs are active, so
  f_S(x) = θ_Sᵀx · (4/m)·#{active pairs} ≈ θ_Sᵀx with relative error √(2/m)), or gradient descent
  on source-teacher data.
- Step size: η = 1/λ_max(H) on the sum loss. In the kernel regime the training residual evolves
  as r ← (I − ηK)r with K the empirical NTK Gram matrix, K = H + O(m^{-1/2}); gradient descent on
  this quadratic is stable for η < 2/λ_max(K), so 1/λ_max(H) keeps a factor-2 margin while fitting
  the top mode in one step. The slowest mode contracts by 1 − λ₀/λ_max per step, hence the step
  count ≈ (λ_max/λ₀) log(1/tol).

Every array of weights carries a leading batch axis (one slice per seed or instance); seeds never
interact, so the numbers of seed i depend only on ``rngs[i]``.

:func:`train`, :func:`gd_pretrain`, :func:`simulate_cell` and :func:`simulate_measures` run with
the library's ``small`` BLAS thread setting (one thread by default; see
:mod:`finetune_bounds.threads`). :func:`train` iterates on preallocated buffers (measured
≈ 1.3× its floor of two matrix products per step, against ≈ 1.8× for the textbook loop it
replaced: ``benchmarks/bench_relu.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .._numerics import HasStatus, SolverInfo, SolverStatus, check_converged
from .._validation import FloatArray, as_float_array, nonneg_float, positive_int
from ..errors import InvalidInputError, SolverError
from ..limits import check, check_elements
from ..threads import small_blas
from ._checks import guarded, rng_list, value_range
from ._tasks import ReluTask, Split, random_instance
from .theory import (
    DEFAULT_CONSTANT,
    DEFAULT_DELTA,
    GramSystem,
    _arccos_kernel,
    _check_delta,
    _check_task,
    _projected_norm2,
    generalization_bound,
    gram_system,
)

__all__ = [
    "MEASURES",
    "RISKS",
    "CellMeasurements",
    "MeasuresResult",
    "ReluNetwork",
    "StartMeasurements",
    "TrainResult",
    "antisymmetric_init",
    "closed_form_pretrain",
    "empirical_ntk",
    "gd_pretrain",
    "simulate_cell",
    "simulate_measures",
    "train",
]

_CHUNK = 4_000_000  # max elements of one (batch, points, width) pre-activation block
#: elements of one block of rows of the pre-activations in :func:`train` (512 kB: in L2 cache)
_TRAIN_BLOCK = 65_536


@dataclass(frozen=True, eq=False)
class ReluNetwork:
    """A batch of two-layer ReLU networks sharing the readout signs.

    Attributes
    ----------
    weights : ndarray, shape (B, m, d)
        First-layer weights, one network per batch slice.
    readout : ndarray, shape (m,)
        Fixed ±1 readout signs.
    """

    weights: FloatArray
    readout: FloatArray

    def __post_init__(self) -> None:
        w = as_float_array(self.weights, "weights", ndim=3)
        a = as_float_array(self.readout, "readout", ndim=1)
        if a.shape[0] != w.shape[1]:
            raise InvalidInputError(
                f"readout must have one sign per hidden unit ({w.shape[1]}), got {a.shape[0]}"
            )
        object.__setattr__(self, "weights", w)
        object.__setattr__(self, "readout", a)

    @property
    def batch(self) -> int:
        return int(self.weights.shape[0])

    @property
    def width(self) -> int:
        return int(self.weights.shape[1])

    @property
    def dim(self) -> int:
        return int(self.weights.shape[2])

    def __call__(self, x: ArrayLike) -> FloatArray:
        """f(x) for every network; ``x`` of shape (p, d) (shared) or (B, p, d). Returns (B, p)."""
        xa = _batched_inputs(x, self.batch, self.dim)
        p = xa.shape[1]
        step = max(1, _CHUNK // max(1, self.batch * self.width))
        out = np.empty((self.batch, p))
        scale = self.readout / math.sqrt(self.width)
        for s in range(0, p, step):
            pre = np.matmul(xa[:, s : s + step], self.weights.transpose(0, 2, 1))
            out[:, s : s + step] = np.maximum(pre, 0.0) @ scale
        return out


def _check_net(net: object) -> None:
    if not isinstance(net, ReluNetwork):
        raise InvalidInputError(f"net must be a ReluNetwork, got {type(net).__name__}")


def _batched_inputs(x: ArrayLike, batch: int, dim: int) -> FloatArray:
    xa = as_float_array(x, "inputs", allow_empty=True)
    if not np.all(np.isfinite(xa)):  # bad input, not a silent NaN output or a "divergence"
        bad = int(np.size(xa) - np.count_nonzero(np.isfinite(xa)))
        raise InvalidInputError(f"inputs contain {bad} non-finite value(s) (NaN or inf)")
    if xa.ndim == 2:
        xa = np.broadcast_to(xa, (batch, *xa.shape))
    if xa.ndim != 3 or xa.shape[0] != batch or xa.shape[2] != dim:
        raise InvalidInputError(
            f"inputs must have shape (p, {dim}) or ({batch}, p, {dim}), got {np.shape(x)}"
        )
    return xa


@guarded
def antisymmetric_init(
    width: int, dim: int, rngs: Sequence[np.random.Generator] | np.random.Generator
) -> ReluNetwork:
    """Antisymmetric initialisation of spec §4: f ≡ 0, w ~ N(0, I) (scale 1).

    Rows r and r + m/2 share w_r ~ N(0, I); readout +1 for the first half, −1 for the second.
    One network per generator (a single generator gives a batch of one).

    Raises
    ------
    InvalidInputError
        If ``width`` is not an even positive integer.
    """
    m = positive_int(width, "width", limit="width")
    if m % 2:
        raise InvalidInputError(f"width must be even for the antisymmetric init, got {m}")
    d = positive_int(dim, "dim", limit="d")
    gens = rng_list(rngs)
    if not gens:
        raise InvalidInputError("rngs: need at least one random generator")
    check_elements(len(gens), m, d, name="weights (batch × width × dim)")
    half = np.stack([g.standard_normal((m // 2, d)) for g in gens])
    w = np.concatenate([half, half], axis=1)
    a = np.concatenate([np.ones(m // 2), -np.ones(m // 2)])
    return ReluNetwork(w, a)


@guarded
def closed_form_pretrain(net: ReluNetwork, source: ArrayLike) -> ReluNetwork:
    """Zero-cost pretrained network W_S = W₀ + 2aθ_Sᵀ/√m (spec §4).

    ``source`` has shape (d,) (shared) or (B, d). Exact only in the limit: relative error of
    f_S(x) against θ_Sᵀx is ≈ √(2/m) for the antisymmetric init (binomial count of active pairs).
    """
    _check_net(net)
    th = as_float_array(source, "source")
    if th.ndim == 1:
        th = np.broadcast_to(th, (net.batch, th.shape[0]))
    if th.shape != (net.batch, net.dim):
        raise InvalidInputError(
            f"source must have shape ({net.dim},) or ({net.batch}, {net.dim}), got {th.shape}"
        )
    shift = 2.0 * net.readout[None, :, None] * th[:, None, :] / math.sqrt(net.width)
    return ReluNetwork(net.weights + shift, net.readout)


@dataclass(frozen=True)
class TrainResult(HasStatus):
    """Outcome of full-batch gradient descent, per batch slice.

    Attributes
    ----------
    network : ReluNetwork
        Final weights.
    steps : ndarray of int, shape (B,)
        Steps taken by each slice (a slice stops once converged).
    converged : ndarray of bool, shape (B,)
        ‖f(X) − y‖ ≤ tol·‖f₀(X) − y‖ reached.
    residual_norm, initial_residual_norm : ndarray, shape (B,)
    lr : ndarray, shape (B,)
    history : ndarray, shape (T + 1, B)
        ‖f(X) − y‖ after every step (frozen once a slice has converged).
    info : SolverInfo
        The run as a whole: status ``converged`` when every slice reached ``tol``, else
        ``max_iterations``; ``iterations`` = most steps of a slice, ``residual`` = worst
        relative residual ‖f(X) − y‖/‖f₀(X) − y‖, ``tolerance`` = ``tol``, ``extra`` = the
        number of ``converged`` slices out of ``slices``. (A residual that becomes non-finite
        or grows 10⁶-fold raises :class:`~finetune_bounds.errors.SolverError` instead.)
    """

    network: ReluNetwork
    steps: np.ndarray
    converged: np.ndarray
    residual_norm: FloatArray
    initial_residual_norm: FloatArray
    lr: FloatArray
    history: FloatArray
    info: SolverInfo


@guarded
@small_blas
def train(
    net: ReluNetwork,
    x: ArrayLike,
    y: ArrayLike,
    *,
    lr: ArrayLike,
    tol: float = 1e-3,
    max_steps: int = 5000,
    strict: bool = False,
) -> TrainResult:
    """Full-batch gradient descent on ½Σ(f(x_i) − y_i)² over the first layer (spec §4).

    Parameters
    ----------
    net : ReluNetwork
        Starting weights (batch B).
    x : array_like, shape (B, n, d) or (n, d)
    y : array_like, shape (B, n) or (n,)
    lr : float or array_like, shape (B,)
        Step size per slice; 1/λ_max(H) is the spec's choice (module docstring).
    tol : float
        Relative residual at which a slice stops.
    max_steps : int
        Iteration budget; slices still above ``tol`` report ``converged = False`` (and the
        result's :attr:`TrainResult.status` is ``max_iterations``).
    strict : bool
        Raise :class:`~finetune_bounds.errors.ConvergenceError` when some slice did not reach
        ``tol`` within ``max_steps``.

    Raises
    ------
    SolverError
        If the residual becomes non-finite or grows 10⁶-fold (step size too large).
    ConvergenceError
        Only with ``strict=True``.
    """
    _check_net(net)
    xa, ya, eta = _train_inputs(net, x, y, lr)
    tol = nonneg_float(tol, "tol")
    max_steps = positive_int(max_steps, "max_steps", allow_zero=True, limit="steps")
    check_elements(net.batch, xa.shape[1], net.width, name="pre-activations (batch × n × width)")
    w = net.weights.copy()
    active = np.ones(net.batch, dtype=bool)
    steps = np.zeros(net.batch, dtype=int)
    hist: list[FloatArray] = []
    r0 = np.zeros(net.batch)
    norms = np.zeros(net.batch)
    loop = _GDLoop(w, xa, ya, eta, net.readout / math.sqrt(net.width))
    for it in range(max_steps + 1):
        now = loop.residual_norms()
        if it == 0:
            r0 = now.copy()
        norms[loop.live] = now
        hist.append(norms.copy())
        if not np.all(np.isfinite(now)) or np.any(now > 1e6 * np.maximum(r0[loop.live], 1e-300)):
            raise SolverError(
                "gradient descent diverged (residual grew 10⁶-fold or became non-finite); "
                "reduce the step size"
            )
        still = now > tol * r0[loop.live]
        active[loop.live] = still
        if not still.any() or it == max_steps:
            break
        loop.keep(still)
        loop.step()
        steps[loop.live] += 1
    w = loop.weights()
    converged = ~active
    info = _train_info(converged, steps, norms, r0, tol)
    check_converged(info, "ReLU network gradient descent", strict=strict)
    return TrainResult(
        ReluNetwork(w, net.readout),
        steps,
        converged,
        norms,
        r0,
        eta,
        np.asarray(hist),
        info,
    )


class _GDLoop:
    """The inner loop of :func:`train` on preallocated buffers (private).

    Per step the same mathematics as the textbook loop

    .. code-block:: python

        pre = X @ Wᵀ                                        # (B, n, m)
        err = ReLU(pre) @ s − y                             # s = a/√m
        W −= η · s ⊙ ((pre > 0) ⊙ err)ᵀ X

    but without a temporary per step: the forward product goes into one (B, n, m) buffer; block
    by block of rows (:data:`_TRAIN_BLOCK` elements, in cache) the ReLU is taken in place, the
    outputs f(x_i) are read off it and the block is overwritten by the 0/1 mask (pre > 0); the
    backward product is maskᵀ (η·err ⊙ X) into one (B, m, d) buffer (the products η·err_i·x_i
    are those of the textbook loop, formed once per sample instead of once per hidden unit: the
    iterates agree to rounding). Beside the two matrix products this is one pass over the
    (B, n, m) buffer and a few over the (B, m, d) weights.

    Only the *live* slices (still above ``tol``) are computed: when some slices converge the
    live ones are compacted to the front of the buffers, and the finished ones keep their
    weights — exactly what the textbook loop does with a zero step for them.
    """

    def __init__(self, w: FloatArray, x: FloatArray, y: FloatArray, eta: FloatArray,
                 scale: FloatArray) -> None:
        b, n, d = x.shape
        m = w.shape[1]
        self.w_all, self.x_all, self.y_all, self.eta_all = w, x, y, eta
        self.scale = scale
        self.scale_rows = scale[:, None]
        self.live = np.arange(b)
        self.w, self.x, self.y, self.eta = w, x, y, eta  # the live slices (views at first)
        self._pre = np.empty((b, n, m))  # pre-activations, then ReLU, then the 0/1 mask
        self._err = np.empty((b, n))
        self._ex = np.empty((b, n, d))  # η·err_i·x_i
        self._grad = np.empty((b, m, d))

    def residual_norms(self) -> FloatArray:
        """Forward pass of the live slices: err = f(X) − y in the buffer; ‖err‖ per slice."""
        k = self.live.size
        pre, err = self._pre[:k], self._err[:k]
        np.matmul(self.x, self.w.transpose(0, 2, 1), out=pre)
        rows, flat = pre.reshape(-1, pre.shape[2]), err.reshape(-1)
        block = max(1, _TRAIN_BLOCK // max(1, pre.shape[2]))
        for s in range(0, rows.shape[0], block):  # one pass over memory, the block in cache
            blk = rows[s : s + block]
            np.maximum(blk, 0.0, out=blk)  # ReLU(pre)
            np.matmul(blk, self.scale, out=flat[s : s + block])  # f(x_i) = ReLU(pre_i)·s
            np.greater(blk, 0.0, out=blk)  # ReLU(pre) > 0 ⇔ pre > 0: the mask, 0.0 / 1.0
        err -= self.y
        return np.asarray(np.linalg.norm(err, axis=1))

    def keep(self, still: np.ndarray) -> None:
        """Drop the live slices that are not ``still`` active (their weights are final)."""
        if still.all():
            return
        k = self.live.size
        if self.w is not self.w_all:
            self.w_all[self.live] = self.w
        self.live = self.live[still]
        j = self.live.size
        self._pre[:j] = self._pre[:k][still]
        self._err[:j] = self._err[:k][still]
        self.w = self.w_all[self.live]
        self.x, self.y, self.eta = (self.x_all[self.live], self.y_all[self.live],
                                    self.eta_all[self.live])

    def step(self) -> None:
        """One gradient step of the live slices (after :meth:`residual_norms`)."""
        k = self.live.size
        pre, err, ex, grad = self._pre[:k], self._err[:k], self._ex[:k], self._grad[:k]
        err *= self.eta[:, None]
        np.multiply(err[:, :, None], self.x, out=ex)
        np.matmul(pre.transpose(0, 2, 1), ex, out=grad)
        grad *= self.scale_rows
        self.w -= grad

    def weights(self) -> FloatArray:
        """All slices' weights (the live ones written back)."""
        if self.w is not self.w_all:
            self.w_all[self.live] = self.w
        return self.w_all


def _train_inputs(
    net: ReluNetwork, x: ArrayLike, y: ArrayLike, lr: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Inputs (B, n, d), labels (B, n) and step sizes (B,) of :func:`train`, validated."""
    xa = _batched_inputs(x, net.batch, net.dim)
    ya = as_float_array(y, "y", allow_empty=True)
    if ya.ndim == 1:
        ya = np.broadcast_to(ya, (net.batch, ya.shape[0]))
    if ya.shape != xa.shape[:2]:
        raise InvalidInputError(f"y must have shape {xa.shape[:2]}, got {np.shape(y)}")
    if not np.all(np.isfinite(ya)):
        raise InvalidInputError("y contains NaN or inf")
    lra = as_float_array(lr, "lr")
    if lra.ndim > 1 or (lra.ndim == 1 and lra.shape[0] not in (1, net.batch)):
        raise InvalidInputError(f"lr must be a number or have shape ({net.batch},), got {lr!r}")
    eta = np.broadcast_to(lra, (net.batch,)).copy()
    if not np.all(np.isfinite(eta)) or np.any(eta <= 0):
        raise InvalidInputError(f"lr must be positive and finite, got {lr!r}")
    return xa, ya, eta


def _train_info(
    converged: np.ndarray, steps: np.ndarray, norms: FloatArray, r0: FloatArray, tol: float
) -> SolverInfo:
    """The run as a whole (see :class:`TrainResult`)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(r0 > 0, norms / np.where(r0 > 0, r0, 1.0), 0.0)
    return SolverInfo(
        SolverStatus.CONVERGED if converged.all() else SolverStatus.MAX_ITERATIONS,
        iterations=int(steps.max(initial=0)),
        residual=float(rel.max(initial=0.0)),
        tolerance=tol,
        extra={"converged": int(converged.sum()), "slices": int(converged.shape[0])},
    )


@guarded
@small_blas
def gd_pretrain(
    net: ReluNetwork,
    x_source: ArrayLike,
    y_source: ArrayLike,
    *,
    steps: int = 100,
    lr_scale: float = 1.0,
) -> TrainResult:
    """Pretrain by ``steps`` gradient-descent steps on source data (spec §4 practical setting:
    ≈ 100·d source samples, 50–100 steps, η = lr_scale/λ_max(H) per slice).

    A fixed budget, not a run to a tolerance (``tol = 0``): the result's status is
    ``max_iterations`` unless the source data are fitted exactly."""
    _check_net(net)
    steps = positive_int(steps, "steps", allow_zero=True, limit="steps")
    lr_scale = nonneg_float(lr_scale, "lr_scale", positive=True)
    xa = _batched_inputs(x_source, net.batch, net.dim)
    check_elements(net.batch, xa.shape[1], max(xa.shape[1], net.width), name="x_source Gram")
    lam_max = np.array([_lambda_max(_arccos_kernel(xb @ xb.T)) for xb in xa])
    return train(net, xa, y_source, lr=lr_scale / lam_max, tol=0.0, max_steps=steps)


def _lambda_max(h: FloatArray) -> float:
    if h.shape[0] <= 400:
        return float(np.linalg.eigvalsh(h)[-1])
    from scipy.sparse.linalg import eigsh

    return float(eigsh(h, k=1, which="LA", return_eigenvectors=False, tol=1e-6)[0])


@guarded
def empirical_ntk(net: ReluNetwork, x: ArrayLike, z: ArrayLike | None = None) -> FloatArray:
    """Empirical first-layer NTK K(x, z) = xᵀz · (1/m) Σ_r 1{w_rᵀx > 0} 1{w_rᵀz > 0}.

    ``x`` and ``z`` of shape (p, d) or (B, p, d); returns (B, p, q).
    """
    _check_net(net)
    xa = _batched_inputs(x, net.batch, net.dim)
    za = xa if z is None else _batched_inputs(z, net.batch, net.dim)
    check_elements(net.batch, max(xa.shape[1], za.shape[1]), max(za.shape[1], net.width),
                   name="empirical NTK (batch × p × q)")
    sx = (np.matmul(xa, net.weights.transpose(0, 2, 1)) > 0).astype(np.float64)
    sz = sx if z is None else (np.matmul(za, net.weights.transpose(0, 2, 1)) > 0).astype(
        np.float64
    )
    act = np.matmul(sx, sz.transpose(0, 2, 1)) / net.width
    return np.asarray(np.matmul(xa, za.transpose(0, 2, 1)) * act)


# ---------------------------------------------------------------------------------------------
# one cell: fine-tune and train from scratch, compare with the kernel limit (rows: relu._family)
# ---------------------------------------------------------------------------------------------
def _rel(num: FloatArray, den: FloatArray) -> float:
    d = float(np.linalg.norm(den))
    return float(np.linalg.norm(num)) / d if d > 0 else 0.0


def _risks(pred: FloatArray, target: FloatArray) -> tuple[float, float]:
    err = pred - target
    return float(np.mean(np.minimum(np.abs(err), 1.0))), float(np.mean(err * err))


def _gd_kernel_prediction(
    sys_: GramSystem,
    kx: FloatArray,
    residual: FloatArray,
    offset: FloatArray,
    steps: float,
    lr: float,
) -> FloatArray:
    return np.asarray(offset + kx @ sys_.gd_coefficients(residual, steps, lr))


def _empirical_system(k: FloatArray, x: FloatArray, ridge: float) -> GramSystem:
    evals, evecs = np.linalg.eigh(k)
    return GramSystem(x, k, evals, evecs, ridge, 0.0)


@dataclass(frozen=True)
class StartMeasurements:
    """Trained network versus its kernel limit, one entry per seed, for one starting point.

    Every array has shape (S,), entry i from generator ``rngs[i]`` (rows: ``seed = i``, source
    ``empirical``, field ``start``). MAE is the mean clipped absolute error min(|f − y|, 1) on
    the test inputs, the loss the bound covers.

    Attributes
    ----------
    mae, mse : ndarray
        Test risk of the trained network (quantities ``mae``/``mse``, method ``network``).
    ntk_limit_mae, ntk_limit_mse : ndarray
        Test risk of the converged kernel prediction on the same data,
        f_0(x) + k(x, X)H⁻¹(y − f_0(X)) with the actual starting network f_0 (method
        ``ntk_limit``).
    kernel_gap : ndarray
        ‖f_net − f_ker‖/‖f_ker − f_0‖ on the test inputs, f_ker the kernel-regime prediction of
        the analytic H after the *same* number of steps (``kernel_gap``, method ``analytic``).
    kernel_gap_empirical_ntk : ndarray
        The same with the empirical NTK at the starting weights (method ``empirical_ntk``).
    kernel_gap_scaled : ndarray
        ``kernel_gap`` · √m (``kernel_gap_scaled``, method ``analytic``; flat when the gap
        shrinks like m^{-1/2}).
    bound : ndarray
        Data-dependent bound √(2rᵀH⁻¹r/n) + C√(log(n/(λ₀δ))/n) on this design, r = y − f_0(X).
    complexity_term : ndarray
        Its first term √(2rᵀH⁻¹r/n).
    bound_ratio : ndarray
        ``bound`` / ``mae`` (inf when ``mae`` = 0; quantity ``bound_ratio``, no method).
    complexity_term_ratio : ndarray
        ``complexity_term`` / ``mae`` (inf when ``mae`` = 0; ``complexity_term_ratio``).
    iterations : ndarray of int
        Gradient-descent steps taken (``iterations``, method ``gd``).
    converged : ndarray of bool
        Whether training reached ``tol`` (``converged`` as 0/1, method ``gd``).
    pretrain_error : ndarray or None
        ‖f_S − θ_Sᵀx‖/‖θ_Sᵀx‖ on the test inputs (≈ √(2/m) for the closed form;
        ``pretrain_error``, no method); None for ``start = "scratch"``.
    """

    mae: FloatArray
    mse: FloatArray
    ntk_limit_mae: FloatArray
    ntk_limit_mse: FloatArray
    kernel_gap: FloatArray
    kernel_gap_empirical_ntk: FloatArray
    kernel_gap_scaled: FloatArray
    bound: FloatArray
    complexity_term: FloatArray
    bound_ratio: FloatArray
    complexity_term_ratio: FloatArray
    iterations: np.ndarray
    converged: np.ndarray
    pretrain_error: FloatArray | None

    @property
    def seeds(self) -> int:
        """Number of seeds S."""
        return int(self.mae.shape[0])


#: the per-seed float measurements of :class:`StartMeasurements`, in field order
_START_FLOATS: tuple[str, ...] = (
    "mae", "mse", "ntk_limit_mae", "ntk_limit_mse", "kernel_gap", "kernel_gap_empirical_ntk",
    "kernel_gap_scaled", "bound", "complexity_term", "bound_ratio", "complexity_term_ratio",
)


@dataclass(frozen=True)
class CellMeasurements:
    """The result of :func:`simulate_cell`: one n, one width, per-seed arrays per start.

    ``relu._family.cell_records`` turns it into the family's rows.

    Attributes
    ----------
    n : int
        Target samples.
    width : int
        Hidden width m.
    pretrained : StartMeasurements
        Fine-tuning from the pretrained weights (field ``start = "pretrained"``).
    scratch : StartMeasurements or None
        Training from the antisymmetric initialisation, f ≡ 0 (``start = "scratch"``); None
        when :func:`simulate_cell` ran with ``scratch=False``.
    """

    n: int
    width: int
    pretrained: StartMeasurements
    scratch: StartMeasurements | None

    @property
    def seeds(self) -> int:
        """Number of seeds S."""
        return self.pretrained.seeds

    def starts(self) -> list[tuple[str, StartMeasurements]]:
        """``(start, measurements)`` for ``pretrained`` and, if it ran, ``scratch``."""
        out = [("pretrained", self.pretrained)]
        return out if self.scratch is None else [*out, ("scratch", self.scratch)]


@dataclass(frozen=True)
class _CellData:
    """The target designs of every seed, their Gram systems, step sizes and test kernels."""

    splits: list[Split]
    systems: list[GramSystem]
    x: FloatArray
    y: FloatArray
    x_test: FloatArray
    lr: FloatArray
    k_test: list[FloatArray]


@guarded
@small_blas
def simulate_cell(
    task: ReluTask,
    n: int,
    width: int,
    rngs: Sequence[np.random.Generator],
    *,
    n_test: int = 1000,
    pretrain: str = "closed_form",
    pretrain_samples: int | None = None,
    pretrain_steps: int = 100,
    tol: float = 1e-3,
    max_steps: int = 4000,
    lr_scale: float = 1.0,
    delta: float = DEFAULT_DELTA,
    constant: float = DEFAULT_CONSTANT,
    ridge: float = 0.0,
    scratch: bool = True,
) -> CellMeasurements:
    """Train the network on n target samples from the pretrained weights and from scratch,
    once per generator, and measure it against the kernel limit (spec §4).

    Per seed i: draw the target design and test set from ``rngs[i]``, then the antisymmetric
    initialisation, then (``pretrain = "gd"``) the source data; train by full-batch GD with
    η = ``lr_scale``/λ_max(H) to ``tol`` from the pretrained weights and, with ``scratch=True``,
    from the initialisation (f ≡ 0). Seeds never interact: entry i depends on ``rngs[i]`` only.

    Parameters
    ----------
    task : ReluTask
    n, width : int
        Target samples and hidden width m (even).
    rngs : sequence of numpy.random.Generator
        One per seed.
    n_test : int
        Test inputs per seed.
    pretrain : {"closed_form", "gd"}
        W_S = W₀ + 2aθ_Sᵀ/√m, or ``pretrain_steps`` GD steps on ``pretrain_samples`` (default
        100·d) source-teacher samples.
    tol, max_steps : float, int
        Relative training residual at which GD stops, and its budget.
    lr_scale : float
        Step η = lr_scale / λ_max(H), in (0, 2).
    delta, constant : float
        Confidence δ and constant C of the bound.
    ridge : float
        Explicit Gram regularisation (0 = none).
    scratch : bool
        Also train from scratch.

    Returns
    -------
    CellMeasurements
        Per-seed arrays (length 0 for no generator).
    """
    _check_task(task)
    n = positive_int(n, "n", limit="n")
    width = positive_int(width, "width", limit="width")
    n_test = positive_int(n_test, "n_test", limit="n")
    if pretrain not in ("closed_form", "gd"):
        raise InvalidInputError(f"pretrain must be 'closed_form' or 'gd', got {pretrain!r}")
    if pretrain_samples is not None:
        pretrain_samples = positive_int(pretrain_samples, "pretrain_samples", limit="n")
    pretrain_steps = positive_int(pretrain_steps, "pretrain_steps", allow_zero=True,
                                  limit="steps")
    tol = nonneg_float(tol, "tol")
    max_steps = positive_int(max_steps, "max_steps", allow_zero=True, limit="steps")
    delta = _check_delta(delta)
    constant = nonneg_float(constant, "constant")
    ridge = nonneg_float(ridge, "ridge")
    lr_scale = nonneg_float(lr_scale, "lr_scale", positive=True)
    if lr_scale >= 2.0:
        raise InvalidInputError(f"lr_scale must be < 2 (stability), got {lr_scale}")
    gens = rng_list(rngs)
    n_src = pretrain_samples if pretrain_samples else 100 * task.dim
    check_elements(len(gens), max(n, n_test, n_src if pretrain == "gd" else 0), width,
                   name="activations (seeds × samples × width)")
    if not gens:
        empty = _empty_start
        return CellMeasurements(n, width, empty(True), empty(False) if scratch else None)
    data = _cell_data(task, n, n_test, gens, ridge, lr_scale)
    net0 = antisymmetric_init(width, task.dim, gens)
    net_s = _pretrained(net0, task, gens, pretrain, pretrain_samples, pretrain_steps, lr_scale)
    opts: dict[str, Any] = {"tol": tol, "max_steps": max_steps, "delta": delta,
                            "constant": constant, "ridge": ridge}
    return CellMeasurements(
        n=n,
        width=width,
        pretrained=_measure_start(data, net_s, pretrained=True, **opts),
        scratch=_measure_start(data, net0, pretrained=False, **opts) if scratch else None,
    )


def _pretrained(
    net0: ReluNetwork,
    task: ReluTask,
    gens: list[np.random.Generator],
    pretrain: str,
    pretrain_samples: int | None,
    pretrain_steps: int,
    lr_scale: float,
) -> ReluNetwork:
    """The pretrained networks: the closed form, or GD on source data drawn from ``gens``."""
    if pretrain == "closed_form":
        return closed_form_pretrain(net0, task.source)
    n_src = pretrain_samples if pretrain_samples else 100 * task.dim
    src = [task.split(n_src, 1, g) for g in gens]
    return gd_pretrain(
        net0,
        np.stack([s.x for s in src]),
        np.stack([s.source for s in src]),
        steps=pretrain_steps,
        lr_scale=lr_scale,
    ).network


def _cell_data(
    task: ReluTask,
    n: int,
    n_test: int,
    gens: list[np.random.Generator],
    ridge: float,
    lr_scale: float,
) -> _CellData:
    splits: list[Split] = [task.split(n, n_test, g) for g in gens]
    systems = [gram_system(s.x, ridge=ridge) for s in splits]
    x_test = np.stack([s.x_test for s in splits])
    return _CellData(
        splits=splits,
        systems=systems,
        x=np.stack([s.x for s in splits]),
        y=np.stack([s.y for s in splits]),
        x_test=x_test,
        lr=lr_scale / np.array([s.lambda_max for s in systems]),
        k_test=[_arccos_kernel(xt @ s.inputs.T) for xt, s in zip(x_test, systems, strict=True)],
    )


def _empty_start(pretrained: bool) -> StartMeasurements:
    z = np.zeros(0)
    return StartMeasurements(
        **{k: z for k in _START_FLOATS},
        iterations=np.zeros(0, dtype=int),
        converged=np.zeros(0, dtype=bool),
        pretrain_error=z if pretrained else None,
    )


def _measure_start(
    data: _CellData,
    start: ReluNetwork,
    *,
    pretrained: bool,
    tol: float,
    max_steps: int,
    delta: float,
    constant: float,
    ridge: float,
) -> StartMeasurements:
    """Train every seed from ``start`` and measure it against the kernel limit."""
    f0_train = start(data.x)
    f0_test = start(data.x_test)
    res = train(start, data.x, data.y, lr=data.lr, tol=tol, max_steps=max_steps)
    f_test = res.network(data.x_test)
    k_emp_train = empirical_ntk(start, data.x)
    k_emp_test = empirical_ntk(start, data.x_test, data.x)
    cols: dict[str, list[float]] = {k: [] for k in (*_START_FLOATS, "pretrain_error")}
    for i, s in enumerate(data.splits):
        r = s.y - f0_train[i]
        mae, mse = _risks(f_test[i], s.y_test)
        t, eta = float(res.steps[i]), float(data.lr[i])
        sys_, k_t = data.systems[i], data.k_test[i]
        ker_t = _gd_kernel_prediction(sys_, k_t, r, f0_test[i], t, eta)
        ker_inf = _gd_kernel_prediction(sys_, k_t, r, f0_test[i], math.inf, eta)
        emp_sys = _empirical_system(k_emp_train[i], s.x, ridge)
        ker_emp = f0_test[i] + k_emp_test[i] @ emp_sys.gd_coefficients(r, t, eta)
        kmae, kmse = _risks(ker_inf, s.y_test)
        gap = _rel(f_test[i] - ker_t, ker_t - f0_test[i])
        bnd = generalization_bound(sys_, r, delta=delta, constant=constant)
        vals = {
            "mae": mae, "mse": mse, "ntk_limit_mae": kmae, "ntk_limit_mse": kmse,
            "kernel_gap": gap,
            "kernel_gap_empirical_ntk": _rel(f_test[i] - ker_emp, ker_emp - f0_test[i]),
            "kernel_gap_scaled": gap * math.sqrt(start.width),
            "bound": bnd.value, "complexity_term": bnd.complexity_term,
            "bound_ratio": bnd.value / mae if mae > 0 else math.inf,
            "complexity_term_ratio": bnd.complexity_term / mae if mae > 0 else math.inf,
            "pretrain_error": _rel(f0_test[i] - s.source_test, s.source_test),
        }
        for k, v in vals.items():
            cols[k].append(v)
    return StartMeasurements(
        **{k: np.array(cols[k], dtype=np.float64) for k in _START_FLOATS},
        iterations=np.array(res.steps, dtype=int),
        converged=np.array(res.converged, dtype=bool),
        pretrain_error=np.array(cols["pretrain_error"], dtype=np.float64) if pretrained else None,
    )


#: the similarity measures of :func:`simulate_measures`, in the order of its arrays
MEASURES: tuple[str, ...] = ("complexity", "projected", "delta_norm", "zero_shot", "bound")
#: the measured risks they are correlated with
RISKS: tuple[str, ...] = ("mae", "mse")


@dataclass(frozen=True)
class MeasuresResult:
    """The result of :func:`simulate_measures`: per seed, per-instance measures and risks and
    their correlations (spec §2.4 [paper] → §4).

    ``relu._family.measures_records`` turns it into the family's rows (source ``empirical``,
    ``seed = i``).

    Attributes
    ----------
    n, width : int
        Target samples and hidden width of every instance.
    complexity, projected, delta_norm, zero_shot, bound : ndarray, shape (S, I)
        The measures of :data:`MEASURES` per seed and instance: rᵀH⁻¹r (r = y − f_S(X)),
        ‖P_XΔ‖², ‖Δ‖², the zero-shot risk mean (Δᵀx)² on the test inputs, the data-dependent
        bound.
    mae, mse : ndarray, shape (S, I)
        Measured test risks of the fine-tuned network (:data:`RISKS`).
    spearman, pearson : ndarray, shape (S, len(MEASURES), len(RISKS))
        Correlation across a seed's instances of a measure with a risk (quantities
        ``spearman``/``pearson``, fields ``measure``, ``against``); NaN where ``defined`` is
        False.
    defined : ndarray of bool, shape (S, len(MEASURES), len(RISKS))
        False when the measure or the risk is constant up to rounding over the seed's
        instances (a correlation with a constant is undefined: no row).
    bound_ratio_min, bound_ratio_median : ndarray, shape (S,)
        Minimum and median over the instances of bound / measured mae.
    """

    n: int
    width: int
    complexity: FloatArray
    projected: FloatArray
    delta_norm: FloatArray
    zero_shot: FloatArray
    bound: FloatArray
    mae: FloatArray
    mse: FloatArray
    spearman: FloatArray
    pearson: FloatArray
    defined: np.ndarray
    bound_ratio_min: FloatArray
    bound_ratio_median: FloatArray

    @property
    def seeds(self) -> int:
        """Number of seeds S."""
        return int(self.bound_ratio_min.shape[0])

    def measure(self, name: str) -> FloatArray:
        """The (S, I) array of a measure or risk by name."""
        if name not in MEASURES + RISKS:
            raise InvalidInputError(f"unknown measure {name!r}; known: {MEASURES + RISKS}")
        return np.asarray(getattr(self, name))


@guarded
@small_blas
def simulate_measures(
    d: int,
    n: int,
    width: int,
    rngs: Sequence[np.random.Generator],
    *,
    instances: int = 24,
    source_norm: float = 1.0,
    delta_range: tuple[float, float] = (0.1, 1.0),
    n_test: int = 500,
    tol: float = 1e-3,
    max_steps: int = 4000,
    delta: float = DEFAULT_DELTA,
    constant: float = DEFAULT_CONSTANT,
) -> MeasuresResult:
    """Which similarity measure tracks the measured fine-tuning risk? (spec §2.4 [paper] → §4)

    Per seed: ``instances`` random tasks (:func:`random_instance`: power-law inputs, Δ on a
    random part of the spectrum, ‖Δ‖ log-uniform in ``delta_range``; equal ends fix ‖Δ‖, and
    then the ``delta_norm`` correlations are undefined), one design and one network each
    (closed-form pretraining, then fine-tuning on n samples); measured risk = test ``mae`` and
    ``mse`` of the network. Measures (:data:`MEASURES`): ``complexity`` rᵀH⁻¹r
    (r = y − f_S(X)), ``projected`` ‖P_XΔ‖², ``delta_norm`` ‖Δ‖², ``zero_shot`` E(Δᵀx)²,
    ``bound``.

    Parameters
    ----------
    d, n, width : int
        Input dimension, target samples, hidden width.
    rngs : sequence of numpy.random.Generator
        One per seed; seed i's instances are ``rngs[i].spawn(instances)``.
    instances : int
        Random tasks per seed (≥ 3).
    source_norm : float
        ‖θ_S‖.
    delta_range : (float, float)
        Range of ‖Δ‖.
    n_test, tol, max_steps : int, float, int
        Test inputs, training tolerance and budget.
    delta, constant : float
        Confidence δ and constant C of the bound.

    Returns
    -------
    MeasuresResult
        Per-seed correlations of each measure with each risk, and bound / risk ratios.
    """
    d = positive_int(d, "d", limit="d")
    n = positive_int(n, "n", limit="n")
    width = positive_int(width, "width", limit="width")
    instances = positive_int(instances, "instances", limit="draws")
    if instances < 3:
        raise InvalidInputError("instances must be ≥ 3 to compute a correlation")
    gens = rng_list(rngs)
    check(len(gens) * instances, "draws", "len(rngs) × instances")
    source_norm = nonneg_float(source_norm, "source_norm")
    delta_range = value_range(delta_range, "delta_range")
    n_test = positive_int(n_test, "n_test", limit="n")
    tol = nonneg_float(tol, "tol")
    max_steps = positive_int(max_steps, "max_steps", allow_zero=True, limit="steps")
    delta = _check_delta(delta)
    constant = nonneg_float(constant, "constant")
    check_elements(instances, max(n, n_test), width, name="activations (instances × n × width)")
    per_seed = [
        _measures_seed(d, n, width, g, instances=instances, source_norm=source_norm,
                       delta_range=delta_range, n_test=n_test, tol=tol, max_steps=max_steps,
                       delta=delta, constant=constant)
        for g in gens
    ]
    return _measures_result(n, width, instances, per_seed)


def _measures_seed(
    d: int,
    n: int,
    width: int,
    g: np.random.Generator,
    *,
    instances: int,
    source_norm: float,
    delta_range: tuple[float, float],
    n_test: int,
    tol: float,
    max_steps: int,
    delta: float,
    constant: float,
) -> dict[str, list[float]]:
    """Measures and risks of one seed's instances, by name (:data:`MEASURES`, :data:`RISKS`)."""
    inst_rngs = g.spawn(instances)
    tasks = [random_instance(d, ig, source_norm=source_norm, delta_range=delta_range)
             for ig in inst_rngs]
    splits = [t.split(n, n_test, ig) for t, ig in zip(tasks, inst_rngs, strict=True)]
    systems = [gram_system(s.x) for s in splits]
    net0 = antisymmetric_init(width, d, inst_rngs)
    net_s = closed_form_pretrain(net0, np.stack([t.source for t in tasks]))
    x = np.stack([s.x for s in splits])
    y = np.stack([s.y for s in splits])
    lr = 1.0 / np.array([s.lambda_max for s in systems])
    f_s = net_s(x)
    res = train(net_s, x, y, lr=lr, tol=tol, max_steps=max_steps)
    f_test = res.network(np.stack([s.x_test for s in splits]))
    out: dict[str, list[float]] = {k: [] for k in MEASURES + RISKS}
    for j, (t, s, sy) in enumerate(zip(tasks, splits, systems, strict=True)):
        b = generalization_bound(sy, s.y - f_s[j], delta=delta, constant=constant)
        out["complexity"].append(b.complexity)
        out["projected"].append(_projected_norm2(s.x, t.delta))
        out["delta_norm"].append(float(t.delta @ t.delta))
        out["zero_shot"].append(float(np.mean((s.x_test @ t.delta) ** 2)))
        out["bound"].append(b.value)
        mae, mse = _risks(f_test[j], s.y_test)
        out["mae"].append(mae)
        out["mse"].append(mse)
    return out


def _measures_result(
    n: int, width: int, instances: int, per_seed: list[dict[str, list[float]]]
) -> MeasuresResult:
    """Correlations and bound ratios of every seed, stacked into a :class:`MeasuresResult`."""
    from scipy import stats

    shape = (len(per_seed), len(MEASURES), len(RISKS))
    spearman, pearson = np.full(shape, np.nan), np.full(shape, np.nan)
    defined = np.zeros(shape, dtype=bool)
    ratio_min, ratio_median = [], []
    for i, vals in enumerate(per_seed):
        for a, name in enumerate(MEASURES):
            for b, against in enumerate(RISKS):
                if _constant(vals[name]) or _constant(vals[against]):
                    continue  # a correlation with a constant is undefined
                defined[i, a, b] = True
                spearman[i, a, b] = float(stats.spearmanr(vals[name], vals[against])[0])
                pearson[i, a, b] = float(stats.pearsonr(vals[name], vals[against])[0])
        ratio = np.array(vals["bound"]) / np.maximum(np.array(vals["mae"]), 1e-300)
        ratio_min.append(float(ratio.min()))
        ratio_median.append(float(np.median(ratio)))

    def stacked(name: str) -> FloatArray:
        return np.array([v[name] for v in per_seed], dtype=np.float64).reshape(-1, instances)

    return MeasuresResult(
        n=n,
        width=width,
        **{k: stacked(k) for k in MEASURES + RISKS},
        spearman=spearman,
        pearson=pearson,
        defined=defined,
        bound_ratio_min=np.array(ratio_min, dtype=np.float64),
        bound_ratio_median=np.array(ratio_median, dtype=np.float64),
    )


def _constant(v: list[float]) -> bool:
    """Constant up to rounding (e.g. ‖Δ‖² when every instance has the same ‖Δ‖)."""
    a = np.asarray(v)
    return bool(np.ptp(a) <= 1e-9 * max(float(np.max(np.abs(a))), 1e-300))
