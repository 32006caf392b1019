"""Actually fine-tune linear regression: gradient descent over many seeds, batched with numpy.

Spec: ``linear-teachers.md`` §2 (the setting), §2.1 (what gradient descent converges to), §2.2
(the exact risk of one sample set), §2.4 (sample complexity), §6 (numerics).

The theory of :mod:`finetune_bounds.linear.theory` predicts the risk of the *limit* of gradient
descent started at θ_S. This module produces the empirical side:

- :func:`gradient_descent` runs full-batch GD on ½‖Xw − y‖²/n from θ_S, batched over a leading
  seed axis, with a stable step from λ_max(XᵀX/n) per seed and an honest convergence flag;
- :func:`simulate_curve` draws designs X ~ N(0, Σ) and labels y = Xθ_T + ξ for many seeds on a
  grid of n, trains (closed-form limit and/or GD) and returns a tidy table that already holds the
  theory (deterministic equivalent) and the bounds of the same task, row by row;
- :func:`summarize_curve` and :func:`empirical_sample_complexity` read such a table.

Near n ≈ rank Σ the Gram matrix is ill-conditioned and GD converges slowly; runs that hit
``max_iter`` are reported (``converged = False``) rather than waited for. The closed form
:func:`~finetune_bounds.linear.theory.finetuned_predictor` is their limit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._numerics import (
    HasStatus,
    SolverInfo,
    SolverStatus,
    rank_mask,
    stderr,
)
from .._validation import (
    FloatArray,
    as_float_array,
    as_generator,
    boolean,
    nonneg_float,
    open_fraction,
    positive_int,
    readonly,
)
from ..errors import ConvergenceError, InvalidInputError, NotReachableError
from ..problems import LinearTask, check_linear_task
from ..threads import small_blas
from ._tasks import SPECTRA, example_task, spectrum_task  # re-exported (built in ._tasks)

__all__ = [
    "SPECTRA",
    "EmpiricalSampleComplexity",
    "GDResult",
    "closed_form_batch",
    "empirical_sample_complexity",
    "example_task",
    "gradient_descent",
    "simulate_batch",
    "simulate_curve",
    "spectrum_task",
    "summarize_curve",
]

IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]
RngLike = np.random.Generator | int | None | Sequence[np.random.Generator]
Sampler = Callable[[int, np.random.Generator], FloatArray]


# ---------------------------------------------------------------------------------------------
# Gradient descent (spec §2.1)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GDResult(HasStatus):
    """Result of batched full-batch gradient descent (spec §2.1).

    Arrays have a leading seed axis of length S; when the design passed in was 2-D the axis is
    dropped (``weights`` of shape (d,), numpy scalars for the rest).

    Attributes
    ----------
    weights : ndarray, shape (S, d)
        Final iterates.
    iterations : ndarray of int, shape (S,)
        Updates made (the first k with ‖∇L(w_k)‖ ≤ tol·‖∇L(w_0)‖, or ``max_iter``).
    converged : ndarray of bool, shape (S,)
        Whether the relative gradient norm reached ``tol`` within ``max_iter``.
    grad_norm : ndarray, shape (S,)
        ‖∇L(w)‖ at the returned weights.
    rel_grad_norm : ndarray, shape (S,)
        ‖∇L(w)‖ / ‖∇L(w_0)‖ (0 when the start is already stationary).
    step : ndarray, shape (S,)
        Step size used per seed (NaN for ``method="cg"``, whose steps vary).
    lambda_max, lambda_min : ndarray, shape (S,)
        Largest and smallest *positive* eigenvalue of XᵀX/n (rank tolerance as numpy's
        ``matrix_rank``); λ_min > 0 always (λ_max = λ_min = 0 only for X = 0).
    distance_bound : ndarray, shape (S,)
        ‖∇L(w)‖ / λ_min: an upper bound on the distance ‖w − w_∞‖ to the limit, valid because
        GD never leaves w_0 + rowspace(X), where ∇L(w) = (XᵀX/n)(w − w_∞).
    tol, max_iter :
        The stopping rule used.
    method : str
        ``"gd"`` or ``"cg"`` (see :func:`gradient_descent`).
    info : SolverInfo
        The batch as a whole: status ``converged`` when every seed reached ``tol`` (a seed
        whose start is already stationary counts), ``not_finite`` when some iterate became
        inf/NaN, else ``max_iterations``; ``iterations`` = most updates of a seed, ``residual``
        = worst ``rel_grad_norm``, ``tolerance`` = ``tol``, ``extra`` = the number of
        ``converged`` seeds out of ``seeds``.
    """

    weights: FloatArray
    iterations: IntArray
    converged: BoolArray
    grad_norm: FloatArray
    rel_grad_norm: FloatArray
    step: FloatArray
    lambda_max: FloatArray
    lambda_min: FloatArray
    distance_bound: FloatArray
    tol: float
    max_iter: int
    info: SolverInfo
    method: str = "gd"


    @property
    def all_converged(self) -> bool:
        """True when every seed reached the tolerance."""
        return bool(np.all(self.converged))

    @property
    def message(self) -> str:
        """One line on how the run ended: how many seeds converged and, when some did not,
        why (budget and condition number) and what to use for the limit instead."""
        conv = np.atleast_1d(self.converged)
        seeds, ok = conv.size, int(np.count_nonzero(conv))
        if ok == seeds:
            return f"converged: {seeds} of {seeds} seed(s) reached tol={self.tol:g}"
        if self.info.status is SolverStatus.NOT_FINITE:
            return (f"not finite: {seeds - ok} of {seeds} seed(s) diverged or overflowed "
                    "(non-finite iterate)")
        bad = ~conv
        lmax = np.atleast_1d(self.lambda_max)[bad]
        lmin = np.atleast_1d(self.lambda_min)[bad]
        cond = float(np.max(lmax / np.maximum(lmin, 1e-300)))
        return (f"NOT converged: {seeds - ok} of {seeds} seed(s) did not reach tol={self.tol:g} "
                f"within max_iter={self.max_iter} steps (worst relative gradient norm "
                f"{float(np.max(np.atleast_1d(self.rel_grad_norm)[bad])):.3g}, condition number "
                f"up to {cond:.3g}); for the limit use method='cg' or closed_form_batch")


def _gram_eigh(x: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Eigenvalues (ascending, (S, m)) and eigenvectors ((S, m, m)) of the smaller Gram matrix
    XXᵀ/n (n < d) or XᵀX/n (n ≥ d), m = min(n, d): its nonzero eigenvalues are those of XᵀX/n."""
    _, n, d = x.shape
    g = x @ np.swapaxes(x, -1, -2) if n < d else np.swapaxes(x, -1, -2) @ x
    ev, vecs = np.linalg.eigh(g / n)
    return ev, vecs


def _extremes(ev: FloatArray, shape: tuple[int, ...]) -> tuple[FloatArray, FloatArray]:
    """λ_max and smallest positive eigenvalue of XᵀX/n for each seed, from the smaller Gram's
    eigenvalues ``ev`` (ascending).

    "Positive" uses the shared rank cut-off (:func:`~finetune_bounds._numerics.rank_mask`) on
    the singular values √(n·λ) of X, so it agrees with the rank of the closed form."""
    lmax = np.clip(ev[:, -1], 0.0, None)
    sv = np.sqrt(np.clip(ev[:, ::-1], 0.0, None))  # singular values of X/√n, descending
    keep = rank_mask(sv, shape)[:, ::-1]
    pos = np.where(keep, ev, np.inf)
    lmin = np.min(pos, axis=1)
    lmin = np.where(np.isfinite(lmin), lmin, 0.0)
    return lmax, lmin


#: Iterate in the Gram eigenbasis when λ_min ≥ _EIG_MARGIN·m·eps·λ_max (the eigenvalues' rounding
#: then moves the gradient norm by < 10⁻⁴ relative); otherwise with X itself.
_EIG_MARGIN = 1e4


def _grad(xs: FloatArray, ws: FloatArray, ys: FloatArray) -> FloatArray:
    """∇L(w) = Xᵀ(Xw − y)/n per seed."""
    n = xs.shape[1]
    r = np.matmul(xs, ws[:, :, None])[:, :, 0] - ys
    return np.asarray(np.matmul(r[:, None, :], xs)[:, 0, :] / n)


def _loop(
    state: dict[str, FloatArray], advance: Callable[[dict[str, FloatArray]], FloatArray],
    thr: FloatArray, max_iter: int,
) -> tuple[dict[str, FloatArray], FloatArray, IntArray, BoolArray]:
    """Run ``advance`` (one update of every active seed, returning ‖∇L‖ after it) until each
    seed reaches its threshold, stops being finite, or ``max_iter`` updates; every array of
    ``state`` has a leading seed axis and is subset as seeds finish. Returns the final state,
    gradient norms, updates made and whether the threshold was reached."""
    a_ = thr.shape[0]
    final = {k: np.array(v, copy=True) for k, v in state.items()}
    gn_out = np.zeros(a_)
    iters = np.zeros(a_, dtype=np.int64)
    conv = np.zeros(a_, dtype=bool)
    active = np.arange(a_)
    k = 0
    while active.size:
        gn = advance(state)
        k += 1
        done = (gn <= thr) | ~np.isfinite(gn)  # a non-finite run stops (status not_finite)
        if k >= max_iter:
            done = np.ones_like(done)
        if np.any(done):
            ids = active[done]
            for key, v in state.items():
                final[key][ids] = v[done]
            gn_out[ids] = gn[done]
            iters[ids] = k
            conv[ids] = gn[done] <= thr[done]
            keep = ~done
            active = active[keep]
            state = {key: v[keep] for key, v in state.items()}
            thr = thr[keep]
    return final, gn_out, iters, conv


def _cg_step(st: dict[str, FloatArray], hp: FloatArray, pos: str) -> FloatArray:
    """One conjugate-gradient step on ½wᵀHw − bᵀw given H·p: moves ``st[pos]`` along p."""
    p, g, gg = st["p"], st["g"], st["gg"]
    php = np.sum(p * hp, axis=1)
    alpha = np.where(php > 0, gg / np.where(php > 0, php, 1.0), 0.0)
    st[pos] += alpha[:, None] * p
    g += alpha[:, None] * hp
    gg_new = np.sum(g * g, axis=1)
    beta = np.where(gg > 0, gg_new / np.where(gg > 0, gg, 1.0), 0.0)
    p *= beta[:, None]
    p -= g
    st["gg"] = gg_new
    return np.asarray(np.sqrt(gg_new))


def _run_data(
    xs: FloatArray, ys: FloatArray, w: FloatArray, g: FloatArray, eta: FloatArray,
    thr: FloatArray, max_iter: int, method: str,
) -> tuple[FloatArray, FloatArray, IntArray, BoolArray]:
    """GD or CG with X itself (n·d per step): the route of rank-deficient Gram matrices."""
    n = xs.shape[1]
    state = {"x": xs, "y": ys, "w": w.copy(), "g": g.copy(), "e": eta}
    if method == "gd":

        def advance(st: dict[str, FloatArray]) -> FloatArray:
            st["w"] -= st["e"][:, None] * st["g"]
            st["g"] = _grad(st["x"], st["w"], st["y"])
            return np.asarray(np.linalg.norm(st["g"], axis=1))
    else:
        state["p"] = -g
        state["gg"] = np.sum(g * g, axis=1)

        def advance(st: dict[str, FloatArray]) -> FloatArray:
            xp = np.matmul(st["x"], st["p"][:, :, None])
            hp = np.matmul(np.swapaxes(st["x"], -1, -2), xp)[:, :, 0] / n
            return _cg_step(st, hp, "w")

    final, gn, k, conv = _loop(state, advance, thr, max_iter)
    return final["w"], gn, k, conv


def _run_eigen(
    xs: FloatArray, ys: FloatArray, w: FloatArray, g: FloatArray, ev: FloatArray,
    vecs: FloatArray, eta: FloatArray, thr: FloatArray, max_iter: int, method: str,
) -> tuple[FloatArray, FloatArray, IntArray, BoolArray]:
    """GD or CG in the eigenbasis of the smaller Gram matrix (O(min(n, d)) per step).

    With H = XᵀX/n = V diag(λ) Vᵀ on the row space (every λ > 0 here), GD from w_0 stays in
    w_0 + span V and its gradient has coordinates ĝ = Vᵀ∇L: ĝ_{k+1} = (1 − ηλ)ĝ_k and the
    displacement δ = Vᵀ(w_k − w_0) moves by −ηĝ_k — the same iterates as with X. For n ≥ d, V
    is the Gram's eigenvectors; for n < d, V_i = Xᵀu_i/√(nλ_i) with u_i those of XXᵀ/n."""
    n, d = xs.shape[1:]
    lam = ev
    if n < d:  # ĝ_i = u_iᵀX∇L/√(nλ_i) = √(λ_i/n)·u_iᵀ(Xw_0 − y)
        r0 = np.matmul(xs, w[:, :, None])[:, :, 0] - ys
        gh = np.sqrt(lam / n) * np.matmul(np.swapaxes(vecs, -1, -2), r0[:, :, None])[:, :, 0]
    else:
        gh = np.matmul(np.swapaxes(vecs, -1, -2), g[:, :, None])[:, :, 0]
    state = {"g": gh, "dh": np.zeros_like(gh), "lam": lam}
    if method == "gd":
        state["e"] = eta
        state["rho"] = 1.0 - eta[:, None] * lam

        def advance(st: dict[str, FloatArray]) -> FloatArray:
            st["dh"] -= st["e"][:, None] * st["g"]
            st["g"] *= st["rho"]
            return np.asarray(np.sqrt(np.sum(st["g"] * st["g"], axis=1)))
    else:
        state["p"] = -gh
        state["gg"] = np.sum(gh * gh, axis=1)

        def advance(st: dict[str, FloatArray]) -> FloatArray:
            return _cg_step(st, st["lam"] * st["p"], "dh")

    final, gn, k, conv = _loop(state, advance, thr, max_iter)
    dh = final["dh"]
    if n < d:  # w = w_0 + Σ V_i δ_i = w_0 + Xᵀ U (δ / √(nλ))
        a = np.matmul(vecs, (dh / np.sqrt(n * lam))[:, :, None])
        w_out = w + np.matmul(np.swapaxes(xs, -1, -2), a)[:, :, 0]
    else:
        w_out = w + np.matmul(vecs, dh[:, :, None])[:, :, 0]
    return w_out, gn, k, conv


@small_blas
def gradient_descent(
    X: ArrayLike,
    y: ArrayLike,
    init: ArrayLike,
    *,
    step: float | ArrayLike | None = None,
    tol: float = 1e-10,
    max_iter: int = 100_000,
    strict: bool = False,
    method: Literal["gd", "cg"] = "gd",
) -> GDResult:
    """Full-batch gradient descent on L(w) = ½‖Xw − y‖²/n, started at ``init`` (spec §2.1).

    Batched over a leading seed axis: every seed runs its own GD with its own step. Regime: any
    n and d (under- or over-parameterised, rank-deficient X allowed). GD from θ_S stays in
    θ_S + rowspace(X) and converges to θ_S + X⁺(y − Xθ_S) for a stable step
    (:func:`~finetune_bounds.linear.theory.finetuned_predictor`).

    Parameters
    ----------
    X : array_like, shape (S, n, d) or (n, d)
        Designs, one per seed.
    y : array_like, shape (S, n) or (n,)
        Labels.
    init : array_like, shape (S, d) or (d,)
        Starting point (the pretrained θ_S), broadcast over seeds.
    step : float or array_like (S,), optional
        Step size. Default 1/λ_max(XᵀX/n) per seed: monotone decrease of the loss and the
        contraction factor 1 − λ_min/λ_max on the row space. A given step must satisfy
        step·λ_max < 2 for every seed (otherwise GD diverges).
    tol : float
        Stop a seed at the first iterate with ‖∇L(w_k)‖ ≤ tol·‖∇L(w_0)‖. Since
        w_{k+1} − w_k = −step·∇L(w_k), this is the same as a relative parameter change
        ‖w_{k+1} − w_k‖ ≤ tol·‖w_1 − w_0‖.
    max_iter : int
        Iteration budget. Seeds that do not reach ``tol`` are returned with
        ``converged = False`` (the number of iterations needed grows like the condition number
        λ_max/λ_min of the Gram matrix, large when n ≈ rank Σ).
    strict : bool
        Raise :class:`~finetune_bounds.errors.ConvergenceError` if some seed did not converge.
    method : {"gd", "cg"}
        ``"gd"`` (default): gradient descent itself — use it when the experiment is about GD
        (its iterates, its iteration count, early stopping). ``"cg"``: conjugate gradient on
        the same quadratic from the same start; it also stays in ``init`` + rowspace(X) and
        reaches the same limit θ_S + X⁺(y − Xθ_S) in about √(λ_max/λ_min) times fewer steps
        (near n ≈ d, where GD needs tens of thousands of steps, CG needs a few hundred) — use
        it when you want GD's *limit* (the theory's predictor) by iteration; ``step`` must
        then be None and the ``step`` field is NaN. :func:`closed_form_batch` gives the same
        limit directly and is cheaper still.

    Returns
    -------
    GDResult

    Raises
    ------
    InvalidInputError
        Shapes that do not match, non-finite values, tol ≤ 0, or an unstable step.
    ConvergenceError
        Only with ``strict=True``.

    Notes
    -----
    Seeds whose Gram matrix is well conditioned (λ_min ≥ 10⁴·min(n, d)·eps·λ_max) iterate in
    the eigenbasis of the smaller Gram matrix (XXᵀ/n when n < d, XᵀX/n otherwise), computed
    once: the same iterates as with X (up to rounding), O(min(n, d)) per step instead of
    O(n·d). The others (rank-deficient or nearly so) iterate with X itself.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((3, 5, 8)); y = rng.standard_normal((3, 5))
    >>> res = gradient_descent(X, y, np.zeros(8), tol=1e-9)
    >>> bool(res.all_converged)
    True
    """
    xa = as_float_array(X, "X")
    batched = xa.ndim == 3
    if xa.ndim == 2:
        xa = xa[None]
    if xa.ndim != 3:
        raise InvalidInputError(f"X must have shape (S, n, d) or (n, d), got {xa.shape}")
    s_, n, d = xa.shape
    ya = as_float_array(y, "y")
    if not batched and ya.ndim == 1:
        ya = ya[None]
    if ya.shape != (s_, n):
        want = f"({s_}, {n})" if batched else f"({n},)"
        raise InvalidInputError(
            f"y must have shape {want} to match X {np.shape(X)}, got {ya.shape}"
        )
    w0 = as_float_array(init, "init")
    if w0.ndim == 1:
        w0 = np.broadcast_to(w0, (s_, w0.shape[0]))
    if w0.shape != (s_, d):
        raise InvalidInputError(f"init must have shape ({d},) or ({s_}, {d}), got {w0.shape}")
    tol = _check_tol(tol, "tol")
    max_iter = positive_int(max_iter, "max_iter", allow_zero=True, limit="steps")
    if not isinstance(method, str) or method not in ("gd", "cg"):
        raise InvalidInputError(f"method must be 'gd' or 'cg', got {method!r}")
    # GD is scale-equivariant: with X' = X/c, y' = y/c and step' = c²·step the iterates are the
    # same, so iterate on data scaled to max |X| = 1 (no overflow/underflow of XᵀX at extreme
    # scales) and report gradients, eigenvalues and steps in the caller's units.
    c = float(np.max(np.abs(xa))) if xa.size else 0.0
    if not c > 0:
        c = 1.0
    xa = xa / c
    ya = ya / c
    c2 = c * c

    ev, vecs = _gram_eigh(xa)
    lmax, lmin = _extremes(ev, xa.shape)
    if method == "cg":
        if step is not None:
            raise InvalidInputError("step applies to method='gd' only (cg chooses its own steps)")
        eta = np.full(s_, np.nan)
    elif step is None:
        eta = np.where(lmax > 0, 1.0 / np.where(lmax > 0, lmax, 1.0), 1.0)
    else:
        eta_user = _check_step(step, s_)
        with np.errstate(over="ignore"):
            eta = eta_user * c2
        bad = ~(eta * lmax < 2.0)
        if np.any(bad):
            i = int(np.flatnonzero(bad)[0])
            with np.errstate(over="ignore", divide="ignore"):
                lm = lmax[i] * c2
                raise InvalidInputError(
                    f"step {eta_user[i]:.4g} is unstable for seed {i}: need step < 2/λ_max = "
                    f"{2.0 / lm:.4g} (λ_max of XᵀX/n = {lm:.4g})"
                )

    w = np.array(w0, dtype=np.float64, copy=True)
    g = _grad(xa, w, ya)
    g0 = np.linalg.norm(g, axis=1)
    gnorm = g0.copy()
    iters = np.zeros(s_, dtype=np.int64)
    conv = g0 == 0.0
    thr = tol * g0
    active = ~conv
    # seeds whose Gram matrix is well conditioned iterate in its eigenbasis (O(min(n, d)) per
    # step, the same iterates); the others (rank-deficient or nearly so) iterate with X
    m = min(n, d)
    eig_ok = active & (ev[:, 0] >= _EIG_MARGIN * m * np.finfo(np.float64).eps * ev[:, -1]) & (
        ev[:, -1] > 0)
    x_ok = active & ~eig_ok
    if max_iter > 0:
        for sel, space in ((eig_ok, "eigen"), (x_ok, "data")):
            idx = np.flatnonzero(sel)
            if not idx.size:
                continue
            if space == "eigen":
                wi, gi, ki, ci = _run_eigen(xa[idx], ya[idx], w[idx], g[idx], ev[idx],
                                            vecs[idx], eta[idx], thr[idx], max_iter, method)
            else:
                wi, gi, ki, ci = _run_data(xa[idx], ya[idx], w[idx], g[idx], eta[idx],
                                           thr[idx], max_iter, method)
            w[idx], gnorm[idx], iters[idx] = wi, gi, ki
            # a non-finite (diverged/overflowed) run never counts as converged
            conv[idx] = ci & np.isfinite(gi) & np.all(np.isfinite(wi), axis=1)
    with np.errstate(invalid="ignore"):
        rel = np.where(g0 > 0, gnorm / np.where(g0 > 0, g0, 1.0), 0.0)
        dist = np.where(lmin > 0, gnorm / np.where(lmin > 0, lmin, 1.0), 0.0)
    finite = np.isfinite(gnorm) & np.all(np.isfinite(w), axis=1)
    conv &= finite
    with np.errstate(all="ignore"):  # back to the caller's units
        gnorm = gnorm * c2
        lmax, lmin, eta = lmax * c2, lmin * c2, eta / c2
    if not np.all(finite):
        status = SolverStatus.NOT_FINITE
    else:
        status = SolverStatus.CONVERGED if np.all(conv) else SolverStatus.MAX_ITERATIONS
    info = SolverInfo(
        status,
        iterations=int(iters.max(initial=0)),
        residual=float(np.max(np.where(finite, rel, np.inf), initial=0.0)),
        tolerance=tol,
        extra={"converged": int(np.count_nonzero(conv)), "seeds": s_},
    )
    if strict and not info.converged:
        bad_i = np.flatnonzero(~conv)
        if not np.all(finite):
            raise ConvergenceError(
                f"gradient descent diverged (non-finite iterate) for "
                f"{int(np.count_nonzero(~finite))} of {s_} seed(s): the data overflow float64 "
                "or the step is unstable"
            )
        raise ConvergenceError(
            f"gradient descent did not reach tol={tol:g} within {max_iter} iterations for "
            f"{bad_i.size} of {s_} seed(s) (status {status.value}; worst relative gradient norm "
            f"{np.max(rel[bad_i]):.3g}, condition number up to "
            f"{np.max(lmax[bad_i] / np.maximum(lmin[bad_i], 1e-300)):.3g})"
        )

    def out(a: Any) -> Any:
        if batched:
            return readonly(np.asarray(a))
        a0 = np.asarray(a)[0]
        return readonly(a0) if a0.ndim else a0[()]  # unbatched: (d,) weights, numpy scalars

    return GDResult(
        weights=out(w),
        iterations=out(iters),
        converged=out(conv),
        grad_norm=out(gnorm),
        rel_grad_norm=out(rel),
        step=out(eta),
        lambda_max=out(lmax),
        lambda_min=out(lmin),
        distance_bound=out(dist),
        tol=tol,
        max_iter=max_iter,
        info=info,
        method=method,
    )


def _check_tol(tol: Any, name: str) -> float:
    """A relative tolerance: finite, in (0, 1)."""
    v = open_fraction(tol, name)
    assert v is not None
    return v


def _check_step(step: Any, seeds: int) -> FloatArray:
    """A positive finite step, scalar or one per seed (booleans are not numbers)."""
    if np.ndim(step) == 0:
        return np.full(seeds, nonneg_float(step, "step", positive=True))
    if np.asarray(step).dtype == np.bool_:
        raise InvalidInputError(f"step must be numbers, got booleans {step!r}")
    eta = as_float_array(step, "step", ndim=1)
    if eta.shape[0] not in (1, seeds):
        raise InvalidInputError(f"step must be a number or have length {seeds}, got {eta.shape}")
    if np.any(eta <= 0):
        raise InvalidInputError(f"step must be > 0, got {step!r}")
    return np.array(np.broadcast_to(eta, (seeds,)), dtype=np.float64)


@small_blas
def closed_form_batch(
    X: ArrayLike, y: ArrayLike, init: ArrayLike, *, rtol: float | None = None
) -> FloatArray:
    """θ_S + X⁺(y − Xθ_S) for a batch of designs (S, n, d): the limit of :func:`gradient_descent`
    (spec §2.1), with numpy's rank tolerance (spec §6).

    Parameters
    ----------
    X : array_like, shape (S, n, d)
    y : array_like, shape (S, n)
    init : array_like, shape (d,) or (S, d)
        θ_S, broadcast over seeds.
    rtol : float, optional
        Rank tolerance of the pseudo-inverse: singular values ≤ ``rtol``·s_max count as zero
        (default max(n, d)·eps, numpy's ``matrix_rank``).

    Returns
    -------
    ndarray, shape (S, d)

    Notes
    -----
    A seed whose design is clearly of full rank min(n, d) — the 1-norm condition estimate of
    its triangular factor (LAPACK ``trcon``) times min(n, d) is below 10⁻³/``rtol``, so no
    singular value is anywhere near the cut-off — is solved by one Householder QR (of Xᵀ for
    n < d: the minimum-norm solution Q R⁻ᵀ r; of X for n ≥ d: R⁻¹Qᵀr), the cost of a per-seed
    ``lstsq`` or less. Every other seed (rank-deficient or nearly so) goes through the SVD with
    the rank cut-off, as before. Both give X⁺r up to rounding (≈ cond(X)·eps relative).
    """
    xa = as_float_array(X, "X", ndim=3)
    s_, n, d = xa.shape
    ya = as_float_array(y, "y", ndim=2)
    if ya.shape != (s_, n):
        raise InvalidInputError(f"y must have shape ({s_}, {n}), got {ya.shape}")
    w0 = as_float_array(init, "init")
    if w0.shape not in ((d,), (s_, d)):
        raise InvalidInputError(f"init must have shape ({d},) or ({s_}, {d}), got {w0.shape}")
    w0 = np.broadcast_to(w0, (s_, d))
    rtol = open_fraction(rtol, "rtol", allow_none=True)
    resid = ya - np.matmul(xa, w0[:, :, None])[:, :, 0]
    facs = _qr_factors(xa, rtol)
    out = np.empty((s_, d))
    for i, f in enumerate(facs):
        if f is not None:
            out[i] = f.apply(resid[i][:, None])[:, 0]
    bad = np.array([f is None for f in facs], dtype=bool)
    if np.any(bad):
        u, s, vt = np.linalg.svd(xa[bad], full_matrices=False)
        out[bad] = _pinv_apply(u, s, vt, resid[bad], xa.shape, rtol)
    return out + w0


#: A QR solve is used when min(n, d)·cond₁(R) ≤ _QR_MARGIN / rtol (far from the rank cut-off).
_QR_MARGIN = 1e-3


@dataclass(frozen=True)
class _QR:
    """Householder QR of one design: of Xᵀ when n < d (``wide``), of X otherwise."""

    qr: FloatArray
    tau: FloatArray
    wide: bool

    def _r(self) -> FloatArray:
        k = self.tau.shape[0]
        return self.qr[:k]

    def apply(self, b: FloatArray) -> FloatArray:
        """X⁺b for b of shape (n, m): the minimum-norm least-squares solutions, (d, m)."""
        k = self.tau.shape[0]
        m = b.shape[1]
        rows = self.qr.shape[0]
        if self.wide:  # X = RᵀQᵀ: X⁺b = Q R⁻ᵀ b
            z, _ = _lapack().dtrtrs(self._r(), b, lower=0, trans=1)
            c = np.zeros((rows, m), order="F")
            c[:k] = z
            return np.asarray(self._q(c, trans="N"))
        c = self._q(np.asfortranarray(b), trans="T")  # X = QR: X⁺b = R⁻¹Qᵀb
        z, _ = _lapack().dtrtrs(self._r(), c[:k], lower=0, trans=0)
        return np.asarray(z)

    def _q(self, c: FloatArray, trans: str) -> FloatArray:
        lwork = max(1, 64 * c.shape[1])
        cq, _, info = _lapack().dormqr("L", trans, self.qr, self.tau, c, lwork, overwrite_c=1)
        if info != 0:  # pragma: no cover - LAPACK argument error
            raise RuntimeError(f"dormqr failed (info = {info})")
        return np.asarray(cq)

    def pinv_rows(self) -> FloatArray:
        """Rows whose Σ-quadratic forms sum to tr(X⁺ᵀΣX⁺): X⁺ᵀ (n × d) when n < d, R⁻ᵀ
        (d × d) when n ≥ d (X⁺X⁺ᵀ = R⁻¹R⁻ᵀ)."""
        k = self.tau.shape[0]
        rinv_t, _ = _lapack().dtrtrs(self._r(), np.eye(k, order="F"), lower=0, trans=1)
        if not self.wide:
            return np.asarray(rinv_t)
        c = np.zeros((self.qr.shape[0], k), order="F")
        c[:k] = rinv_t
        return np.asarray(self._q(c, trans="N")).T  # (Q R⁻ᵀ)ᵀ = X⁺ᵀ


def _lapack() -> Any:
    from scipy.linalg import lapack

    return lapack


def _qr_factors(xa: FloatArray, rtol: float | None) -> list[_QR | None]:
    """Per seed, the QR factors when the design is clearly of full rank, else None (use the SVD).

    The rank cut-off keeps singular values > rtol·s_max (default rtol = max(n, d)·eps). The
    singular values of R are those of X, and cond₂(R) ≤ k·cond₁(R); LAPACK's ``trcon`` estimate
    of cond₁ is within a small factor of the truth in practice, so requiring
    k·cond₁ ≤ 10⁻³/rtol leaves three orders of magnitude between an accepted design and the
    cut-off. X = 0 or an exactly singular R gives rcond = 0: SVD.
    """
    s_, n, d = xa.shape
    k = min(n, d)
    rt = max(n, d) * np.finfo(np.float64).eps if rtol is None else float(rtol)
    limit = _QR_MARGIN / (rt * max(k, 1))
    lp = _lapack()
    wide = n < d
    out: list[_QR | None] = []
    for i in range(s_):
        a = xa[i].T if wide else xa[i]
        qr, tau, _, info = lp.dgeqrf(a)
        ok = info == 0 and k > 0
        if ok:
            rcond, info2 = lp.dtrcon(qr[:k], norm="1", uplo="U", diag="N")
            ok = info2 == 0 and rcond > 0 and 1.0 / rcond <= limit
        out.append(_QR(qr, tau, wide) if ok else None)
    return out


def _pinv_apply(
    u: FloatArray, s: FloatArray, vt: FloatArray, r: FloatArray, shape: tuple[int, ...],
    rtol: float | None,
) -> FloatArray:
    """X⁺r for a batch, given the SVD of X (r of shape (S, n) or (S, n, m))."""
    keep = rank_mask(s, shape, rtol)
    inv = np.where(keep, 1.0 / np.where(keep, s, 1.0), 0.0)
    vec = r.ndim == 2
    rm = r[:, :, None] if vec else r
    coef = (np.swapaxes(u, -1, -2) @ rm) * inv[:, :, None]
    out = np.swapaxes(vt, -1, -2) @ coef
    return np.asarray(out[:, :, 0] if vec else out)


# ---------------------------------------------------------------------------------------------
# One batch of seeds at one n (spec §2.2 evaluated on trained predictors)
# ---------------------------------------------------------------------------------------------
@small_blas
def simulate_batch(
    task: LinearTask,
    X: ArrayLike,
    noise: ArrayLike,
    *,
    gd: bool = False,
    step: float | None = None,
    tol: float = 1e-8,
    max_iter: int = 20_000,
    rtol: float | None = None,
) -> dict[str, FloatArray]:
    """Train on a batch of designs and measure the population risk of what was learnt.

    Labels are y = Xθ_T + ``noise``. For each seed:

    - ``risk``: R(θ̂) = (θ̂ − θ_T)ᵀΣ(θ̂ − θ_T) of the closed-form limit θ̂ (spec §2.1), with the
      drawn noise (so its mean over seeds estimates E[B + V]);
    - ``bias``: ‖Σ^{1/2}P_⊥Δ‖², the risk of the same fit on noiseless labels (spec §2.2);
    - ``variance``: σ² tr(X⁺ᵀΣX⁺), the noise part averaged over the noise for this X (§2.2);
    - ``from_scratch``: the risk of the same fit started at 0 (same noise);
    - ``rank``: rank of X;
    - with ``gd``: ``risk_gd``, ``gd_vs_closed_form`` (‖w_GD − θ̂‖), ``iterations``,
      ``converged`` (0/1), ``grad_norm``, ``distance_bound`` (see :class:`GDResult`).

    Parameters
    ----------
    task : LinearTask
    X : array_like, shape (S, n, d)
    noise : array_like, shape (S, n)
        Label noise ξ (zeros for the paper's noiseless teachers).
    gd, step, tol, max_iter :
        Also run :func:`gradient_descent` from θ_S with these settings.
    rtol : float, optional
        Rank tolerance of the pseudo-inverse (numpy's default when None).
    """
    check_linear_task(task)
    xa = as_float_array(X, "X", ndim=3)
    s_, n, d = xa.shape
    if d != task.dim:
        raise InvalidInputError(f"X must have {task.dim} columns, got shape {xa.shape}")
    xi = as_float_array(noise, "noise", ndim=2)
    if xi.shape != (s_, n):
        raise InvalidInputError(f"noise must have shape ({s_}, {n}), got {xi.shape}")
    rtol = open_fraction(rtol, "rtol", allow_none=True)
    boolean(gd, "gd")
    if gd:  # validated up front (also when only the closed form runs, for a clear error)
        _check_tol(tol, "tol")
        positive_int(max_iter, "max_iter", allow_zero=True, limit="steps")
    cov = task.covariance
    th_s, th_t = task.source, task.target
    y = np.matmul(xa, th_t) + xi
    delta = task.delta
    src = np.broadcast_to(th_s, (s_, d))
    resid = y - np.matmul(xa, th_s)
    # X⁺ applied to [y − Xθ_S, y, XΔ] at once: the fit, the fit from scratch, and PΔ (P = X⁺X)
    rhs = np.stack([resid, y, np.matmul(xa, delta)], axis=-1)  # (S, n, 3)
    k = min(n, d)
    sol = np.empty((s_, d, 3))
    rows = np.empty((s_, k, d))  # Σ-quadratic forms of these rows sum to tr(X⁺ᵀΣX⁺)
    rank = np.full(s_, float(k))
    facs = _qr_factors(xa, rtol)
    for i, f in enumerate(facs):
        if f is not None:
            sol[i] = f.apply(rhs[i])
            rows[i] = f.pinv_rows()
    bad = np.array([f is None for f in facs], dtype=bool)
    if np.any(bad):  # rank-deficient or nearly so: the SVD with the rank cut-off
        u, s, vt = np.linalg.svd(xa[bad], full_matrices=False)
        keep = rank_mask(s, xa.shape, rtol)
        inv = np.where(keep, 1.0 / np.where(keep, s, 1.0), 0.0)
        sol[bad] = _pinv_apply(u, s, vt, rhs[bad], xa.shape, rtol)
        vk = vt * keep[:, :, None]
        sol[bad, :, 2] = np.matmul(np.swapaxes(vk, -1, -2), vk @ delta[:, None])[:, :, 0]
        rows[bad] = vt * inv[:, :, None]
        rank[bad] = np.sum(keep, axis=1)
    w_cf = src + sol[:, :, 0]
    w_scratch = sol[:, :, 1]
    perp = delta[None, :] - sol[:, :, 2]
    var_tr = np.sum(cov.quadratic_form(rows), axis=1)
    out: dict[str, FloatArray] = {
        "risk": cov.quadratic_form(w_cf - th_t),
        "bias": cov.quadratic_form(perp),
        "variance": task.noise_variance * var_tr,
        "from_scratch": cov.quadratic_form(w_scratch - th_t),
        "rank": rank,
    }
    if gd:
        res = gradient_descent(xa, y, th_s, step=step, tol=tol, max_iter=max_iter)
        out["risk_gd"] = cov.quadratic_form(res.weights - th_t)
        out["gd_vs_closed_form"] = np.linalg.norm(res.weights - w_cf, axis=1)
        out["iterations"] = res.iterations.astype(np.float64)
        out["converged"] = res.converged.astype(np.float64)
        out["grad_norm"] = np.asarray(res.grad_norm)
        out["distance_bound"] = np.asarray(res.distance_bound)
    return out


def _generators(rng: RngLike, seeds: int) -> list[np.random.Generator] | np.random.Generator:
    if rng is None or isinstance(rng, np.random.Generator | int | np.integer | bool | float):
        return as_generator(rng)
    if not isinstance(rng, Sequence):
        raise InvalidInputError(
            f"rng must be a Generator, an int or a sequence of {seeds} Generators, got {rng!r}"
        )
    gens = list(rng)
    if len(gens) != seeds or not all(isinstance(g, np.random.Generator) for g in gens):
        raise InvalidInputError(
            f"rng must be a Generator, an int or a sequence of {seeds} Generators"
        )
    return gens


def _draw(
    task: LinearTask,
    n: int,
    seeds: int,
    gens: list[np.random.Generator] | np.random.Generator,
    sampler: Sampler | None,
) -> tuple[FloatArray, FloatArray]:
    """Designs (S, n, d) and noise (S, n). One generator: one batched draw; a list of
    generators: seed i uses only ``gens[i]`` (its numbers do not depend on the other seeds)."""
    sigma = math.sqrt(max(task.noise_variance, 0.0))

    def one(g: np.random.Generator, batch: tuple[int, ...]) -> tuple[FloatArray, FloatArray]:
        if sampler is None:
            x = task.covariance.sample(n, g, batch=batch)
        else:
            x = np.stack([np.asarray(sampler(n, g), dtype=np.float64) for _ in range(batch[0])])
        if x.shape != (*batch, n, task.dim):
            raise InvalidInputError(f"sampler returned shape {x.shape[1:]}, want ({n}, {task.dim})")
        xi = g.standard_normal((*batch, n)) * sigma if sigma > 0 else np.zeros((*batch, n))
        return x, xi

    if isinstance(gens, np.random.Generator):
        return one(gens, (seeds,))
    parts = [one(g, (1,)) for g in gens]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


@small_blas
def simulate_curve(
    task: LinearTask,
    ns: Sequence[int] | ArrayLike,
    *,
    seeds: int = 20,
    rng: RngLike = None,
    method: Literal["gd", "closed_form", "both"] = "closed_form",
    theory: bool = True,
    theory_method: Literal["deterministic", "isotropic", "monte_carlo"] = "deterministic",
    theory_draws: int = 200,
    theory_rng: np.random.Generator | int | None = None,
    bound_constants: Mapping[str, float] | None = None,
    step: float | None = None,
    tol: float = 1e-8,
    max_iter: int = 20_000,
    sampler: Sampler | None = None,
) -> Any:
    """Fine-tune on many seeds over a grid of n and put theory, bounds and training side by side.

    For each n and seed: draw X ~ N(0, Σ) (or ``sampler``), labels y = Xθ_T + ξ with
    ξ ~ N(0, σ²), fine-tune from θ_S (closed-form limit and/or gradient descent), and measure the
    population risk exactly (spec §2.2). Regime: any n ≥ 1; theory rows use the deterministic
    equivalent (spec §2.3), asymptotically exact, a few per cent off at d of a few hundred.

    Parameters
    ----------
    task : LinearTask
    ns : sequence of int
        Sample sizes (each ≥ 1).
    seeds : int
        Number of independent training runs per n (0: theory and bound rows only).
    rng : Generator, int, None or sequence of ``seeds`` Generators
        One generator/int: all seeds drawn in one batch. A sequence: seed i draws from
        ``rng[i]`` only (reproducible per seed whatever the number of seeds).
    method : {"closed_form", "gd", "both"}
        ``"closed_form"``: the limit θ_S + X⁺(y − Xθ_S) (fast, exact). ``"gd"``: iterative
        gradient descent (risk rows with ``method="gd"``) plus the closed form for reference
        (its distance to GD is always reported). ``"both"``: the same rows as ``"gd"``.
    theory : bool
        Add the theory and bound rows (no seed: ``seed = -1``).
    theory_method : str
        Method of :func:`~finetune_bounds.linear.theory.expected_risk` for the theory rows.
    theory_draws, theory_rng :
        Draws (minimum) and randomness of the Monte Carlo theory rows (``theory_method =
        "monte_carlo"``; seed 0 by default, independent of the training seeds).
    bound_constants : mapping, optional
        Constants of the bound families (keys ``naive``, ``benign``, ``head_tail``).
    step, tol, max_iter :
        Gradient-descent settings (see :func:`gradient_descent`); seeds that hit ``max_iter``
        are kept with ``converged = False``.
    sampler : callable(n, rng) -> (n, d) array, optional
        Draw designs another way (e.g. real data rows, :func:`finetune_bounds.data.digits_design`).

    Returns
    -------
    pandas.DataFrame
        Tidy: ``quantity, source, method, n, seed, value`` and ``converged`` (GD rows),
        ``stderr`` (Monte Carlo theory rows), ``constant``/``argmin_k`` (bound rows), ``start``
        (risk rows: ``pretrained`` for fine-tuning from θ_S, ``scratch`` for the same fit
        started at 0). Empirical quantities: ``risk`` (closed_form and gd), ``bias``,
        ``variance`` (given X, averaged over the noise), ``gd_vs_closed_form``, ``iterations``.
        Theory: ``risk``, ``bias``, ``variance``, ``zero_shot``. Bounds: quantity ``risk`` with
        ``method`` = ``naive``/``benign``/``head_tail``. The rows are built by the ``linear``
        family's record builders (:func:`finetune_bounds.linear._family.theory_records`), the
        same as in sweeps; for runner seeding and a store, use ``finetune_bounds.run("linear",
        params={"spectrum": "files", ...})`` instead.

    Examples
    --------
    >>> task = spectrum_task(50, "power_law", seed=0)
    >>> df = simulate_curve(task, [10, 25], seeds=4, rng=0)
    >>> sorted(df["source"].unique())
    ['bound', 'empirical', 'theory']
    """
    import pandas as pd

    check_linear_task(task)
    seeds = positive_int(seeds, "seeds", allow_zero=True, limit="draws")
    if not (seeds or theory):
        raise InvalidInputError("nothing to compute: seeds = 0 and theory = False")
    arr = np.atleast_1d(np.asarray(ns))
    if arr.ndim != 1 or arr.size == 0:
        raise InvalidInputError("ns must be a non-empty 1-D sequence of sample sizes")
    n_list = [positive_int(v, "n", limit="n") for v in arr]
    if method not in ("gd", "closed_form", "both"):
        raise InvalidInputError(f"method must be 'gd', 'closed_form' or 'both', got {method!r}")
    gd = method != "closed_form"
    gens = _generators(rng, seeds) if seeds else None
    t_rng = as_generator(theory_rng)
    boolean(theory, "theory")
    if sampler is not None and not callable(sampler):
        raise InvalidInputError(
            f"sampler must be a callable (n, rng) -> (n, d) array, got {sampler!r}"
        )
    from ._family import empirical_records, theory_records  # the family's one record builder

    rows: list[dict[str, Any]] = []
    for n in n_list:
        if gens is not None:
            x, xi = _draw(task, n, seeds, gens, sampler)
            arrays = simulate_batch(task, x, xi, gd=gd, step=step, tol=tol, max_iter=max_iter)
            rows += empirical_records(n, arrays, gd)
        if theory:
            for r in theory_records(task, n, method=theory_method,
                                    bound_constants=bound_constants, rng=t_rng,
                                    n_draws=theory_draws):
                rows.append({**r, "seed": -1})
    df = pd.DataFrame(rows)
    lead = ["quantity", "source", "method", "n", "seed", "value"]
    return df[lead + [c for c in df.columns if c not in lead]]


def summarize_curve(frame: Any) -> Any:
    """Mean, standard error (std/√count) and count of ``value`` per quantity, source, method and
    n (and any other column that is constant within a group), over seeds.

    GD rows also get ``converged_fraction``. Theory and bound rows have count 1 and stderr 0
    (Monte Carlo theory rows keep their own ``stderr`` column as ``theory_stderr``).
    """
    import pandas as pd

    from ..records import summarize

    if not isinstance(frame, pd.DataFrame) or "value" not in frame.columns:
        raise InvalidInputError("summarize_curve needs the DataFrame returned by simulate_curve")
    df = frame.copy()
    per_seed = {"seed", "value", "converged", "stderr", "argmin_k"}
    keys = [c for c in df.columns if c not in per_seed]
    out = summarize(df, by=keys)
    if "converged" in df.columns:
        conv = (
            df.assign(_c=df["converged"].astype("float64"))
            .groupby(keys, dropna=False, sort=True)["_c"]
            .mean()
            .rename("converged_fraction")
            .reset_index()
        )
        out = out.merge(conv, on=keys, how="left")
    if "stderr" in df.columns:
        th = (
            df.groupby(keys, dropna=False, sort=True)["stderr"].first()
            .rename("theory_stderr").reset_index()
        )
        out = out.merge(th, on=keys, how="left")
    return out


# ---------------------------------------------------------------------------------------------
# §2.4 from an empirical curve
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EmpiricalSampleComplexity:
    """First grid n whose mean empirical risk is ≤ ε (spec §2.4, from a trained curve).

    ``n`` is None and ``reachable`` False when no grid point reaches ε; ``reason`` says why.
    The answer is only as fine as the grid: the true n* lies in (previous grid n, ``n``].
    """

    n: int | None
    eps: float
    reachable: bool
    mean_risk: float | None
    stderr: float | None
    method: str
    grid: tuple[int, ...] = field(default=())
    previous_n: int | None = None
    reason: str = ""


def empirical_sample_complexity(
    frame: Any,
    eps: float,
    *,
    method: str = "closed_form",
    quantity: str = "risk",
    strict: bool = False,
    start: str = "pretrained",
) -> EmpiricalSampleComplexity:
    """The first n on the grid whose mean empirical ``quantity`` is ≤ ε.

    With label noise the ridgeless risk is not monotone in n (peak near n = d), so this is the
    *first* grid point that reaches ε, as in
    :func:`~finetune_bounds.linear.theory.sample_complexity`.

    Parameters
    ----------
    frame : DataFrame
        As returned by :func:`simulate_curve` (raw, not summarised).
    eps : float
    method : str
        Which empirical route (``"closed_form"`` or ``"gd"``).
    strict : bool
        Raise :class:`~finetune_bounds.errors.NotReachableError` instead of returning
        ``reachable=False``.
    start : {"pretrained", "scratch"}
        Fine-tuning from θ_S (default) or training from scratch (rows whose ``start`` field is
        set; rows without one always count).
    """
    import pandas as pd

    eps = nonneg_float(eps, "eps")
    need = {"source", "quantity", "method", "n", "value"}
    if not isinstance(frame, pd.DataFrame) or not need <= set(frame.columns):
        raise InvalidInputError(
            "empirical_sample_complexity needs the DataFrame returned by simulate_curve "
            f"(columns {sorted(need)}), got {type(frame).__name__}"
        )
    for key, val in (("method", method), ("quantity", quantity), ("start", start)):
        if not isinstance(val, str):
            raise InvalidInputError(f"{key} must be a string, got {val!r}")
    sel = frame[
        (frame["source"] == "empirical") & (frame["quantity"] == quantity)
        & (frame["method"] == method)
    ]
    if "start" in sel.columns:
        sel = sel[sel["start"].isna() | (sel["start"] == start)]
    if sel.empty:
        raise InvalidInputError(
            f"no empirical {quantity!r} rows with method {method!r} in the frame"
        )
    g = sel.groupby("n")["value"]
    means = g.mean()
    grid = tuple(int(v) for v in means.index)
    prev: int | None = None
    for n_val in means.index:
        m = float(means[n_val])
        if m <= eps:
            se = float(stderr(g.get_group(n_val).to_numpy()))  # inf for a single seed
            return EmpiricalSampleComplexity(int(n_val), eps, True, m, se, method, grid, prev)
        prev = int(n_val)
    reason = (
        f"mean empirical {quantity} never reaches ε = {eps:g} on the grid n ≤ {grid[-1]} "
        f"(smallest mean {float(means.min()):.4g} at n = {grid[int(np.argmin(means.to_numpy()))]})"
    )
    if strict:
        raise NotReachableError(reason)
    return EmpiricalSampleComplexity(None, eps, False, None, None, method, grid, prev, reason)
