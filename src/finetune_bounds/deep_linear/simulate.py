"""Real layered linear networks in numpy: balanced or pretrained weights, full-batch GD.

Spec: ``linear-teachers.md`` §3.1 (balanced pretrained weights), §3.2 (what GD converges to),
§3.5 (frozen early layers), §6 (discrete GD breaks balancedness: monitor it).

Everything is batched over a leading axis B (seeds): layer j is an array of shape
(B, h_j, h_{j−1}) with h_0 = d and h_L = 1, and each batch member has its own design, labels and
step size. A step costs O(B(L h² + h d + n d)): the gradient of layer j is the outer product
q_j ⊗ r_{j−1} of the row vector q_j = W_L⋯W_{j+1} and the column vector r_{j−1} = W_{j−1}⋯W_1 g,
with g = Xᵀ(Xw − y)/n the end-to-end gradient of ℓ(w) = ‖Xw − y‖²/(2n).

Status: the results keep one status per member in ``statuses`` (``converged`` or
``max_iterations``; ``converged`` stays the per-member boolean array) and the aggregate in
``info`` (a :class:`~finetune_bounds._numerics.SolverInfo`: worst status, largest step count and
residual, ``info.extra["counts"]``). Divergence (non-finite weights) always raises
:class:`ConvergenceError`; ``strict=True`` also raises when a member did not converge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._numerics import HasStatus, SolverInfo, SolverStatus, check_converged
from .._validation import FloatArray, as_float_array, nonneg_float, positive_int
from ..errors import ConvergenceError, InvalidInputError
from ..threads import small_blas
from ._common import check_depth
from ._status import _aggregate, _status_array

__all__ = [
    "LayeredGDResult",
    "PretrainResult",
    "balanced_weights",
    "balancedness",
    "end_to_end",
    "pretrain",
    "train",
]

Weights = tuple[FloatArray, ...]


def _batch_source(source: ArrayLike) -> FloatArray:
    th = as_float_array(source, "source")
    if th.ndim == 1:
        th = th[None]
    if th.ndim != 2:
        raise InvalidInputError(f"source must have shape (d,) or (B, d), got {th.shape}")
    return th


def _finite_depth(depth: Any) -> int:
    L = check_depth(depth)
    if math.isinf(L):
        raise InvalidInputError("a layered network needs a finite depth (got inf)")
    return int(L)


def balanced_weights(
    source: ArrayLike,
    depth: int,
    width: int = 8,
    *,
    rng: np.random.Generator | None = None,
) -> Weights:
    """Balanced rank-one weights with end-to-end vector θ_S (spec §3.1).

    W_1 = s u₁θ̂_Sᵀ, W_j = s u_j u_{j−1}ᵀ, W_L = s u_{L−1}ᵀ with s = ‖θ_S‖^{1/L} and unit
    vectors u_j ∈ R^h (random if ``rng`` is given, else e₁). Then W_{j+1}ᵀW_{j+1} = W_jW_jᵀ and
    W_L⋯W_1 = θ_Sᵀ exactly.

    Parameters
    ----------
    source : array_like, shape (d,) or (B, d)
        θ_S (one per batch member).
    depth : int
        L ≥ 1 (L = 1 is the linear model, W_1 = θ_Sᵀ).
    width : int
        Hidden width h ≥ 1.

    Returns
    -------
    tuple of ndarrays
        Layer j has shape (B, h_j, h_{j−1}).

    Raises
    ------
    InvalidInputError
        θ_S = 0 for L ≥ 2 (not representable by balanced rank-one weights with s > 0 — it is
        the saddle), invalid depth or width.
    """
    th = _batch_source(source)
    L = _finite_depth(depth)
    h = positive_int(width, "width")
    bsz = th.shape[0]
    if L == 1:
        return (th[:, None, :].copy(),)
    norms = np.linalg.norm(th, axis=1)
    if np.any(norms == 0):
        raise InvalidInputError("source must be non-zero for depth ≥ 2 (θ_S = 0 is a saddle)")
    s = norms ** (1.0 / L)
    if rng is None:
        u = np.zeros((L - 1, bsz, h))
        u[:, :, 0] = 1.0
    else:
        u = rng.standard_normal((L - 1, bsz, h))
        u /= np.linalg.norm(u, axis=-1, keepdims=True)
    theta_hat = th / norms[:, None]
    ws: list[FloatArray] = [s[:, None, None] * u[0][:, :, None] * theta_hat[:, None, :]]
    for j in range(1, L - 1):
        ws.append(s[:, None, None] * u[j][:, :, None] * u[j - 1][:, None, :])
    ws.append(s[:, None, None] * u[L - 2][:, None, :])
    return tuple(ws)


def _check_weights(weights: Any) -> Weights:
    if not isinstance(weights, tuple | list) or not weights:
        raise InvalidInputError("weights must be a non-empty sequence of (B, out, in) arrays")
    ws = tuple(as_float_array(w, f"weights[{j}]", ndim=3) for j, w in enumerate(weights))
    bsz = ws[0].shape[0]
    for j in range(1, len(ws)):
        if ws[j].shape[0] != bsz or ws[j].shape[2] != ws[j - 1].shape[1]:
            raise InvalidInputError(
                f"weights[{j}] has shape {ws[j].shape}, incompatible with {ws[j - 1].shape}"
            )
    if ws[-1].shape[1] != 1:
        raise InvalidInputError(f"the last layer must have one output, got {ws[-1].shape}")
    return ws


def end_to_end(weights: Weights) -> FloatArray:
    """w = (W_L⋯W_1)ᵀ for each batch member: shape (B, d)."""
    ws = _check_weights(weights)
    return _end_to_end(ws)


def _end_to_end(ws: Weights) -> FloatArray:
    q = ws[-1][:, 0, :]
    for w in reversed(ws[:-1]):
        q = np.einsum("bi,bij->bj", q, w)
    return np.asarray(q)


def balancedness(weights: Weights) -> FloatArray:
    """max_j ‖W_{j+1}ᵀW_{j+1} − W_jW_jᵀ‖_F per batch member (0 for exactly balanced weights;
    conserved by gradient flow, broken at O(η²) per step by gradient descent — spec §6)."""
    ws = _check_weights(weights)
    return _balancedness(ws)


def _balancedness(ws: Weights) -> FloatArray:
    if len(ws) == 1:
        return np.zeros(ws[0].shape[0])
    out = np.zeros(ws[0].shape[0])
    for j in range(len(ws) - 1):
        a = np.einsum("boi,boj->bij", ws[j + 1], ws[j + 1])
        b = np.einsum("bio,bjo->bij", ws[j], ws[j])
        out = np.maximum(out, np.linalg.norm(a - b, axis=(1, 2)))
    return out


def _layer_curvature(ws: Weights, trainable: range) -> FloatArray:
    """Σ_{j trainable} Π_{i≠j} ‖W_i‖₂²: the end-to-end curvature factor of a layered network
    (= (#trainable)·‖w‖^{2−2/L} for balanced rank-one weights). ‖W‖₂² = λ_max(WWᵀ), an
    eigenvalue of a small (h × h) Gram matrix."""
    sq = np.stack(
        [np.linalg.eigvalsh(np.einsum("bij,bkj->bik", w, w))[:, -1] for w in ws]
    )  # (L, B)
    total = np.zeros(ws[0].shape[0])
    for j in trainable:
        total += np.prod(np.delete(sq, j, axis=0), axis=0)
    return total


@dataclass(frozen=True)
class LayeredGDResult(HasStatus):
    """Full-batch gradient descent on a layered linear network (batched over B members).

    Attributes
    ----------
    weights : tuple of ndarrays
        Final layers, shapes (B, h_j, h_{j−1}).
    predictor : ndarray, shape (B, d)
        Final end-to-end vector.
    steps : ndarray of int, shape (B,)
        Steps taken until the member's stopping criterion held (``max_steps`` if never).
    converged : ndarray of bool, shape (B,)
    residual : ndarray, shape (B,)
        Final stationarity measure: ‖g‖ (full) or |⟨g, ŵ⟩| (frozen), relative to ‖Xᵀy‖/n.
    balancedness, initial_balancedness : ndarray, shape (B,)
        max_j ‖W_{j+1}ᵀW_{j+1} − W_jW_jᵀ‖_F at the end and at the start.
    lr : ndarray, shape (B,)
        Step sizes used.
    frozen_layers : int
    statuses : ndarray of str, shape (B,)
        Per member: ``converged`` or ``max_iterations``.
    info : SolverInfo
        Aggregate (worst status; iterations = the largest step count; residual = the largest
        final stationarity measure; tolerance = ``tol``; ``extra["counts"]``).
    """

    weights: Weights
    predictor: FloatArray
    steps: NDArray[np.int64]
    converged: NDArray[np.bool_]
    residual: FloatArray
    balancedness: FloatArray
    initial_balancedness: FloatArray
    lr: FloatArray
    frozen_layers: int
    statuses: NDArray[np.str_]
    info: SolverInfo



def _check_data(x: ArrayLike, y: ArrayLike, bsz: int, d: int) -> tuple[FloatArray, FloatArray]:
    xa = as_float_array(x, "X")
    if xa.ndim == 2:
        xa = np.broadcast_to(xa, (bsz, *xa.shape))
    if xa.ndim != 3 or xa.shape[0] != bsz or xa.shape[2] != d:
        raise InvalidInputError(f"X must have shape (n, {d}) or ({bsz}, n, {d}), got {xa.shape}")
    ya = as_float_array(y, "y")
    if ya.ndim == 1:
        ya = np.broadcast_to(ya, (bsz, ya.shape[0]))
    if ya.shape != xa.shape[:2]:
        raise InvalidInputError(f"y must have shape {xa.shape[:2]} (or (n,)), got {ya.shape}")
    return np.asarray(xa), np.asarray(ya)


@small_blas
def train(
    weights: Weights,
    x: ArrayLike,
    y: ArrayLike,
    *,
    frozen_layers: int = 0,
    lr: float | ArrayLike | None = None,
    lr_scale: float = 0.5,
    target_norm: ArrayLike | None = None,
    max_steps: int = 20_000,
    tol: float = 1e-10,
    strict: bool = False,
    adaptive: bool = False,
) -> LayeredGDResult:
    """Full-batch GD on ℓ = ‖XW_L⋯W_1 − y‖²/(2n) over the layers j > ``frozen_layers``.

    The step size is chosen per batch member from the end-to-end curvature (§3.2):
    η = lr_scale / (λ_max(XᵀX/n) · K) with K = max(Σ_{j trainable} Π_{i≠j}‖W_i‖₂²,
    (#trainable)·M^{2−2/L}) — for balanced weights L‖w‖^{2−2/L}λ_max(XᵀX/n) — where M is
    ``target_norm`` (e.g. ‖w‖ of the closed-form limit, since ‖w‖ can grow during training) or
    ‖X⁺y‖. GD is stable for η < 2/curvature; the default lr_scale = 0.5 keeps a factor 4.
    Members stop individually once their stationarity measure is ≤ ``tol`` (relative to
    ‖Xᵀy‖/n): ‖g‖ for full fine-tuning (g → 0 at an interpolant), |⟨g, ŵ⟩| with frozen layers
    (the reachable set is the line {γθ_S}).

    Parameters
    ----------
    weights : sequence of arrays (B, h_j, h_{j−1})
        Initial layers (e.g. :func:`balanced_weights` or :func:`pretrain`).
    x : array_like, shape (n, d) or (B, n, d)
    y : array_like, shape (n,) or (B, n)
    frozen_layers : int
        k: layers 1..k are not trained (§3.5).
    lr : float or array (B,), optional
        Explicit step size(s), overriding the automatic choice.
    lr_scale : float
        Fraction of 1/curvature for the automatic step.
    target_norm : array_like (B,), optional
        M in the curvature estimate.
    max_steps : int
    tol : float
    strict : bool
        Raise :class:`ConvergenceError` if a member did not converge (otherwise the result's
        ``converged``/``statuses``/``info`` say so).
    adaptive : bool
        Re-choose the step at every step from the current layer curvature Σ_j Π_{i≠j}‖W_i‖₂²,
        capped so that no layer moves by more than 10 % of its norm (ignores ``target_norm``;
        used for pretraining from a small initialisation, where the curvature grows by orders
        of magnitude and the gradient is large relative to the weights).

    Returns
    -------
    LayeredGDResult

    Raises
    ------
    InvalidInputError
        Inconsistent shapes; frozen_layers ≥ L.
    ConvergenceError
        GD diverged (non-finite weights: step too large), or ``strict`` and not converged.

    Notes
    -----
    Runs with the library's ``small`` BLAS thread setting (one thread by default; batched
    small linear algebra is slower with more, see :mod:`finetune_bounds.threads`).
    """
    ws = [np.array(w) for w in _check_weights(weights)]
    L = len(ws)
    bsz, _, d = ws[0].shape
    xa, ya = _check_data(x, y, bsz, d)
    n = xa.shape[1]
    k = positive_int(frozen_layers, "frozen_layers", allow_zero=True)
    if k >= L:
        raise InvalidInputError(f"frozen_layers must be < depth = {L}, got {k} (nothing to train)")
    lr_scale = nonneg_float(lr_scale, "lr_scale", positive=True)
    max_steps = positive_int(max_steps, "max_steps", allow_zero=True)
    tol = nonneg_float(tol, "tol", positive=True)
    lam_max = np.linalg.norm(xa, ord=2, axis=(1, 2)) ** 2 / n
    ref = np.linalg.norm(np.einsum("bnd,bn->bd", xa, ya), axis=1) / n
    ref = np.where(ref > 0, ref, 1.0)
    trainable = range(k, L)
    if lr is None:
        if target_norm is None:  # ‖X⁺y‖ (batched pseudo-inverse)
            m_arr = np.linalg.norm(np.einsum("bdn,bn->bd", np.linalg.pinv(xa), ya), axis=1)
        else:
            m_arr = np.broadcast_to(as_float_array(target_norm, "target_norm"), (bsz,))
        curv = np.maximum(
            _layer_curvature(tuple(ws), trainable),
            (L - k) * np.asarray(m_arr) ** (2.0 - 2.0 / L),
        )
        curv = np.where(curv > 0, curv, 1.0)
        eta = lr_scale / (lam_max * curv)
    else:
        eta = np.broadcast_to(as_float_array(np.atleast_1d(lr), "lr"), (bsz,)).copy()
        if np.any(eta <= 0):
            raise InvalidInputError("lr must be > 0")
    bal0 = _balancedness(tuple(ws))
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is detected below
        return _gd_loop(ws, xa, ya, n, k, L, trainable, eta, lam_max, lr_scale, ref, tol,
                        max_steps, adaptive, strict, bal0)


def _gd_loop(
    ws: list[FloatArray],
    xa: FloatArray,
    ya: FloatArray,
    n: int,
    k: int,
    L: int,
    trainable: range,
    eta: FloatArray,
    lam_max: FloatArray,
    lr_scale: float,
    ref: FloatArray,
    tol: float,
    max_steps: int,
    adaptive: bool,
    strict: bool,
    bal0: FloatArray,
) -> LayeredGDResult:
    bsz = xa.shape[0]
    steps = np.full(bsz, max_steps, dtype=np.int64)
    active = np.ones(bsz, dtype=bool)
    resid = np.full(bsz, np.inf)
    xt = np.ascontiguousarray(np.swapaxes(xa, 1, 2))  # batched matvecs as matmul (BLAS), not einsum
    ya3 = ya[:, :, None]
    ones = np.ones((bsz, 1, 1))
    # The loop works on (B, ·, 1) columns and (B, 1, ·) rows so that no step re-slices or
    # re-allocates what it can reuse (the per-step Python/numpy overhead is most of a step on
    # small designs); the arithmetic is the same operations in the same order as the plain
    # form (same iterates, bit for bit): q_j = W_L⋯W_{j+1}, g = Xᵀ(Xw − y)/n,
    # grad W_j = q_j ⊗ r_{j−1}, r_j = W_j⋯W_1 g. ‖g‖ is sqrt(Σ g²), as np.linalg.norm.
    trained = range(k + 1, L + 1)
    bufs = [np.empty_like(w) for w in ws]
    eta_col = np.asarray(eta, dtype=np.float64)
    step = eta_col[:, None, None] * 1.0  # (eta · active) while every member is active
    all_active = True
    for t in range(max_steps + 1):
        # suffix row vectors q_j (as (B, 1, h_j) rows), end-to-end w = q_0
        qs: list[FloatArray] = [ones] * (L + 1)
        for j in range(L, 0, -1):
            qs[j - 1] = qs[j] @ ws[j - 1]
        w_row = qs[0]  # (B, 1, d)
        r = xa @ w_row.mT
        r -= ya3
        g_col = xt @ r
        g_col /= n  # (B, d, 1)
        if k == 0:
            stat = np.sqrt(np.add.reduce(g_col[:, :, 0] * g_col[:, :, 0], axis=1)) / ref
        else:
            w = w_row[:, 0, :]
            g = g_col[:, :, 0]
            wn = np.sqrt(np.add.reduce(w * w, axis=1))
            stat = np.abs(np.sum(g * w, axis=1)) / np.where(wn > 0, wn, 1.0) / ref
        if not np.isfinite(stat).all():
            raise ConvergenceError(
                "layered GD diverged (non-finite weights); use a smaller lr / lr_scale"
            )
        newly = stat <= tol
        if all_active:
            resid = stat
        else:
            newly &= active
            resid = np.where(active, stat, resid)
        if newly.any():
            steps[newly] = t
            active &= ~newly
            all_active = False
            if not active.any():
                break
        if t == max_steps:
            break
        # prefix column vectors r_j = W_j⋯W_1 g (pre-update weights); grad W_j = q_j ⊗ r_{j−1}
        rs = [g_col]
        for j in range(1, L):
            rs.append(ws[j - 1] @ rs[-1])
        if adaptive:
            # curvature step, capped so that no layer moves by more than 10 % of its norm in
            # one step (from a small init the gradient is large relative to the weights)
            curv = _layer_curvature(tuple(ws), trainable)
            eta_col = lr_scale / (lam_max * np.where(curv > 0, curv, 1.0))
            for j in trained:
                gn = (np.linalg.norm(qs[j][:, 0, :], axis=1)
                      * np.linalg.norm(rs[j - 1][:, :, 0], axis=1))
                wn = np.linalg.norm(ws[j - 1], axis=(1, 2))
                eta_col = np.minimum(
                    eta_col, np.where(gn > 0, 0.1 * wn / np.where(gn > 0, gn, 1), eta_col)
                )
            step = (eta_col * active)[:, None, None]
        elif not all_active:
            step = (eta_col * active)[:, None, None]
        for j in trained:
            # W_j − η (q_j ⊗ r_{j−1}): the outer product of a (B, h, 1) column and a (B, 1, h')
            # row into a reused buffer, then scaled by η (η·(q⊗r) = (q⊗r)·η exactly)
            buf = bufs[j - 1]
            np.multiply(qs[j].mT, rs[j - 1].mT, out=buf)
            buf *= step
            ws[j - 1] -= buf
    eta = eta_col
    result_ws = tuple(ws)
    converged = ~active
    statuses, info = _gd_status(converged, steps, resid, tol)
    check_converged(
        info,
        f"layered GD ({int(np.sum(~converged))} of {bsz} members in {max_steps} steps)",
        strict=strict,
    )
    return LayeredGDResult(
        result_ws, _end_to_end(result_ws), steps, converged, resid, _balancedness(result_ws),
        bal0, np.asarray(eta, dtype=np.float64), k, statuses, info,
    )


def _gd_status(
    converged: NDArray[np.bool_], steps: NDArray[np.int64], resid: FloatArray, tol: float
) -> tuple[NDArray[np.str_], SolverInfo]:
    """Per-member statuses (converged / max_iterations) and their aggregate info."""
    statuses = _status_array(converged.shape, SolverStatus.MAX_ITERATIONS)
    statuses[converged] = SolverStatus.CONVERGED.value
    info = _aggregate(statuses, iterations=int(np.max(steps, initial=0)),
                      residual=float(np.max(resid, initial=0.0)), tolerance=tol)
    return statuses, info


@dataclass(frozen=True)
class PretrainResult(HasStatus):
    """Pretraining from a small random initialisation on source data (§3.1).

    Attributes
    ----------
    weights : tuple of ndarrays
    predictor : ndarray (B, d)
        End-to-end vector after pretraining (≈ θ_S).
    error : ndarray (B,)
        ‖w − θ_S‖/‖θ_S‖.
    balancedness : ndarray (B,)
        Imbalance left (gradient flow conserves the initial imbalance ~ init_scale²·s²).
    steps : ndarray of int (B,)
    converged : ndarray of bool (B,)
    statuses : ndarray of str (B,)
    info : SolverInfo
        As in :class:`LayeredGDResult` (the pretraining GD run).
    """

    weights: Weights
    predictor: FloatArray
    error: FloatArray
    balancedness: FloatArray
    steps: NDArray[np.int64]
    converged: NDArray[np.bool_]
    statuses: NDArray[np.str_]
    info: SolverInfo



@small_blas
def pretrain(
    source: ArrayLike,
    depth: int,
    width: int = 8,
    *,
    rng: np.random.Generator,
    n_source: int | None = None,
    init_scale: float = 0.1,
    lr_scale: float = 0.5,
    max_steps: int = 50_000,
    tol: float = 1e-10,
    strict: bool = False,
) -> PretrainResult:
    """Pretrain a depth-L network on source data from a small random initialisation (§3.1).

    Source inputs x ~ N(0, I_d) (``n_source`` of them, default 2d, so θ_S is identifiable),
    labels θ_Sᵀx. Layer j starts with i.i.d. N(0, σ_j²) entries, σ_j = init_scale·s/(√h_j +
    √h_{j−1}) so that ‖W_j‖₂ ≈ init_scale·s (s = ‖θ_S‖^{1/L}). Full-batch GD with the step
    re-chosen at every step from the current layer curvature (``train(adaptive=True)``: small
    weights → large steps, each layer's move capped at 10 % of its norm, so escaping the saddle at 0
    takes O(L log(1/init_scale)) steps). Gradient flow keeps the initial imbalance (≈
    init_scale²·s²), so the result is only approximately the balanced rank-one network of
    :func:`balanced_weights`; how much that matters for fine-tuning is what :func:`train`
    measures.

    ``strict=True`` raises when some member did not reach ``tol`` within ``max_steps``
    (otherwise ``converged``/``statuses``/``info`` say so).

    Raises
    ------
    InvalidInputError
        θ_S = 0, invalid depth/width/scales.
    ConvergenceError
        GD diverged (non-finite weights), or ``strict`` and not converged.

    Notes
    -----
    Runs with the library's ``small`` BLAS thread setting (one thread by default; batched
    small linear algebra is slower with more, see :mod:`finetune_bounds.threads`).
    """
    th = _batch_source(source)
    L = _finite_depth(depth)
    h = positive_int(width, "width")
    init_scale = nonneg_float(init_scale, "init_scale", positive=True)
    lr_scale = nonneg_float(lr_scale, "lr_scale", positive=True)
    max_steps = positive_int(max_steps, "max_steps")
    tol = nonneg_float(tol, "tol", positive=True)
    bsz, d = th.shape
    ns = 2 * d if n_source is None else positive_int(n_source, "n_source")
    norms = np.linalg.norm(th, axis=1)
    if np.any(norms == 0):
        raise InvalidInputError("source must be non-zero")
    s = norms ** (1.0 / L)
    dims = [d] + [h] * (L - 1) + [1]
    ws: list[FloatArray] = []
    for j in range(L):
        sig = init_scale * s / (math.sqrt(dims[j + 1]) + math.sqrt(dims[j]))
        ws.append(rng.standard_normal((bsz, dims[j + 1], dims[j])) * sig[:, None, None])
    x = rng.standard_normal((bsz, ns, d))
    y = np.einsum("bnd,bd->bn", x, th)
    res = train(tuple(ws), x, y, lr_scale=lr_scale, max_steps=max_steps, tol=tol, adaptive=True,
                strict=strict)
    w = _end_to_end(res.weights)
    err = np.linalg.norm(w - th, axis=1) / norms
    return PretrainResult(res.weights, w, err, _balancedness(res.weights), res.steps,
                          res.converged, res.statuses, res.info)
