"""Risk curves over n on nested designs, and the sample complexity n*(ε) (private).

One set of designs with max(n) rows serves every n (common random numbers): full fine-tuning
needs one QR per design for all prefixes, frozen layers only cumulative sums.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .._numerics import SolverInfo, SolverStatus, check_converged, stderr
from .._validation import FloatArray, boolean, nonneg_float, positive_int
from ..errors import InvalidInputError, NotReachableError
from ..limits import check_elements
from ..problems import LinearTask
from ..threads import small_blas
from ._batch import _check_batch_degenerate, _check_batch_row_source, _roots_info
from ._coefficient import _c_root, _Root
from ._common import (
    _check_frozen,
    _check_task,
    _depth_label,
    _generator,
    _require_finite,
    check_depth,
)
from ._frozen import _frozen_gamma, frozen_risk_floor
from ._status import _combine, _Solved, _status_array, _worse

__all__ = ["SampleComplexity", "risk_curve", "sample_complexity"]


def _prefix_frozen(
    task: LinearTask, depths: Sequence[float], frozen_layers: int, xe: FloatArray
) -> FloatArray:
    """Frozen layers: γ*(m) from cumulative sums over rows; shape (B, n_max, nd)."""
    lam = task.covariance.eigenvalues
    src, tgt = task.source_eig, task.target_eig
    out = np.empty((xe.shape[0], xe.shape[1], len(depths)))
    xs = xe @ src
    xt = xe @ tgt
    num = np.cumsum(xs * xt, axis=1)
    den = np.cumsum(xs * xs, axis=1)
    if np.any(den <= 0):
        raise InvalidInputError("frozen fine-tuning needs Xθ_S ≠ 0 on every design")
    g_ls = num / den
    ss = float(np.sum(lam * src * src))
    st = float(np.sum(lam * src * tgt))
    tt = float(np.sum(lam * tgt * tgt))
    for j, L in enumerate(depths):
        g, _ = _frozen_gamma(g_ls, L, frozen_layers)
        out[:, :, j] = np.maximum(g * g * ss - 2 * g * st + tt, 0.0)
    return out


class _PrefixGeometry:
    """Prefix sums over the orthonormal basis q_1, q_2, … of the nested row spaces.

    ``q`` (B, r, k) from one QR of X_rᵀ (restricted to range Σ): span(q_1..q_m) = rowspace X[:m].
    """

    def __init__(self, q: FloatArray, lp: FloatArray) -> None:
        self.q, self.lp = q, lp
        qt = np.swapaxes(q, 1, 2)
        self.qt = qt
        gram = qt @ (lp[:, None] * q)  # QᵀΣQ as one batched GEMM (a 3-operand einsum: 40× slower)
        self.low = np.tril(gram, -1)
        self.diag = np.diagonal(gram, axis1=1, axis2=2)

    def coords(self, v: FloatArray) -> tuple[FloatArray, FloatArray]:
        """(q_jᵀv, q_jᵀΣv) for every j."""
        return self.qt @ v, self.qt @ (self.lp * v)

    def quad_prefix(self, a: FloatArray, b: FloatArray) -> FloatArray:
        """Σ_{j,l≤m} a_j G_jl b_l for every m, via the lower triangle."""
        la = (self.low @ a[..., None])[..., 0]
        lb = (self.low @ b[..., None])[..., 0]
        return np.asarray(np.cumsum(a * self.diag * b + a * lb + b * la, axis=1))

    def weighted_perp(self, a: FloatArray, qa: FloatArray, b: FloatArray, qb: FloatArray,
                      full: float) -> FloatArray:
        """⟨Σ^{1/2}P_⊥u, Σ^{1/2}P_⊥v⟩ = uᵀΣv − Σ_j a_j q_jᵀΣv − Σ_j b_j q_jᵀΣu + aᵀGb."""
        return np.asarray(
            full - np.cumsum(a * qb, axis=1) - np.cumsum(b * qa, axis=1)
            + self.quad_prefix(a, b)
        )


def _prefix_full(
    task: LinearTask, n_max: int, depths: Sequence[float], xe: FloatArray
) -> tuple[FloatArray, SolverInfo]:
    """Full fine-tuning: R_L of every prefix from one QR per design (noiseless labels)."""
    lam = task.covariance.eigenvalues
    src, tgt = task.source_eig, task.target_eig
    out = np.empty((xe.shape[0], n_max, len(depths)))
    pos = lam > 0
    r = int(np.count_nonzero(pos))
    lp, sp, tp = lam[pos], src[pos], tgt[pos]
    s2 = float(src @ src)
    k = min(n_max, r)
    q, _ = np.linalg.qr(np.swapaxes(xe[:, :k, pos], 1, 2))  # (B, r, k)
    geo = _PrefixGeometry(q, lp)
    al_s, qs_s = geo.coords(sp)
    al_t, qs_t = geo.coords(tp)
    m_ss = geo.weighted_perp(al_s, qs_s, al_s, qs_s, float(np.sum(lp * sp * sp)))
    m_st = geo.weighted_perp(al_s, qs_s, al_t, qs_t, float(np.sum(lp * sp * tp)))
    m_tt = geo.weighted_perp(al_t, qs_t, al_t, qs_t, float(np.sum(lp * tp * tp)))
    b2 = np.cumsum(al_t**2, axis=1)
    q2 = np.cumsum(al_s**2, axis=1)
    a2 = np.clip(s2 - q2, 0.0, s2)
    s2_arr = np.full_like(a2, s2)
    statuses = _status_array(out.shape, SolverStatus.EXACT)
    roots: list[_Root] = []
    for j, L in enumerate(depths):
        if L > 1:
            _check_batch_degenerate(s2_arr, b2)
        if math.isinf(L):
            _check_batch_row_source(s2_arr, q2)
        root = _c_root(s2_arr, a2, b2, L, q2=q2)
        roots.append(root)
        c = root.c
        out[:, :k, j] = np.maximum(c * c * m_ss - 2 * c * m_st + m_tt, 0.0)
        statuses[:, :k, j] = _worse(statuses[:, :k, j], root.statuses)
        if n_max >= r:  # n ≥ rank Σ: X[:n] spans range Σ (a.s.), the risk is exactly 0
            out[:, r - 1:, j] = 0.0
    return out, _roots_info(statuses, roots)


def _prefix_curves(
    task: LinearTask,
    n_max: int,
    depths: Sequence[float],
    frozen_layers: int,
    xe: FloatArray,
) -> tuple[FloatArray, SolverInfo]:
    """R_L for every prefix X[:m] (m = 1..n_max) of B nested designs: shape (B, n_max, nd).

    Nested designs share their first rows (common random numbers across n). Full fine-tuning:
    one QR of X_rᵀ (restricted to range Σ) per design gives orthonormal q_1, q_2, … with
    span(q_1..q_m) = rowspace X[:m], so ‖P_Xθ‖² and ‖Σ^{1/2}P_⊥θ‖² are cumulative sums
    (noiseless labels). Frozen layers: γ*(m) from cumulative sums over rows (``exact``).
    """
    if frozen_layers > 0:
        out = _prefix_frozen(task, depths, frozen_layers, xe)
        return out, _roots_info(_status_array(out.shape, SolverStatus.EXACT), [])
    return _prefix_full(task, n_max, depths, xe)


def _check_ns(ns: Sequence[int] | ArrayLike) -> np.ndarray[Any, np.dtype[np.int_]]:
    arr = np.asarray(ns)
    if arr.ndim != 1 or arr.size == 0:
        raise InvalidInputError(f"ns must be a non-empty 1-D sequence, got shape {arr.shape}")
    if arr.dtype.kind not in "iuf" or arr.dtype.kind == "b":
        raise InvalidInputError(f"ns must be sample sizes (integers ≥ 1), got {ns!r}")
    return np.array([positive_int(v, "n", limit="n") for v in arr.tolist()], dtype=int)


@small_blas
def risk_curve(
    task: LinearTask,
    ns: Sequence[int] | ArrayLike,
    depth: Any,
    *,
    draws: int = 200,
    rng: np.random.Generator | int | None = None,
    frozen_layers: int = 0,
    strict: bool = False,
) -> dict[str, Any]:
    """E_X[R_L] on a grid of n, with standard errors, from nested designs (spec §3.3).

    One set of ``draws`` designs with max(ns) rows is drawn; X[:n] serves every n (common random
    numbers: the curve is smooth in n and cheap — one QR per design for all n). Noiseless
    labels only (the §3 measure).

    Returns
    -------
    dict
        ``n``, ``risk`` (mean), ``stderr`` (arrays over ``ns``) and ``info``: the
        :class:`~finetune_bounds._numerics.SolverInfo` of the c_L root solves (all draws and
        prefixes; ``strict=True`` raises :class:`ConvergenceError` instead of returning a
        curve whose solves did not all converge).

    Raises
    ------
    InvalidInputError
        Empty or invalid ``ns``, label noise in the task, degenerate draws.
    ConvergenceError
        ``strict=True`` and a root solve did not converge.

    Notes
    -----
    Runs with the library's ``small`` BLAS thread setting (one thread by default; batched
    small linear algebra is slower with more, see :mod:`finetune_bounds.threads`).
    """
    _check_task(task)
    if task.noise_variance > 0:
        raise InvalidInputError(
            "risk_curve/sample_complexity use the noiseless measure R_L (§3); got a task with "
            "noise_variance > 0 (use expected_risk for noisy labels)"
        )
    L = check_depth(depth)
    k = _check_frozen(frozen_layers)
    if (L > 1 or k > 0) and not np.any(task.source):
        raise InvalidInputError("source must be non-zero for depth ≥ 2 or frozen layers")
    n_arr = _check_ns(ns)
    draws = positive_int(draws, "draws", limit="draws")
    if draws < 2:
        raise InvalidInputError("draws must be ≥ 2 to estimate a standard error")
    strict = boolean(strict, "strict")
    n_max = int(n_arr.max())
    check_elements(draws, n_max, task.dim, name="draws × max(ns) × d (Gaussian design entries)")
    gen = _generator(rng)
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        return _risk_curve(task, n_arr, n_max, L, k, draws, gen, strict)


def _risk_curve(
    task: LinearTask, n_arr: np.ndarray[Any, np.dtype[np.int_]], n_max: int, L: float, k: int,
    draws: int, gen: np.random.Generator, strict: bool,
) -> dict[str, Any]:
    lam = task.covariance.eigenvalues
    budget = max(1, (32 * 2**20) // (8 * n_max * lam.shape[0]))
    chunks, infos = [], []
    done = 0
    while done < draws:
        b = min(budget, draws - done)
        xe = gen.standard_normal((b, n_max, lam.shape[0])) * np.sqrt(lam)
        curves_b, info_b = _prefix_curves(task, n_max, [L], k, xe)
        chunks.append(curves_b[:, :, 0])
        infos.append(info_b)
        done += b
    info = _combine(infos)
    check_converged(info, f"c_L root solver (depth {_depth_label(L)}, risk curve)",
                    strict=strict)
    curves = np.concatenate(chunks)[:, n_arr - 1]
    risk, err = curves.mean(axis=0), stderr(curves, axis=0)
    _require_finite(f"the depth-{_depth_label(L)} risk curve", curves, risk, err)
    return {"n": n_arr, "risk": risk, "stderr": err, "info": info}


@dataclass(frozen=True)
class SampleComplexity(_Solved):
    """Smallest n whose Monte Carlo E[R_L] ≤ ε (spec §2.4 applied to §3.3).

    ``n`` is None and ``reachable`` False when no n ≤ ``n_max`` reaches ε (``reason`` says why,
    e.g. the frozen-layer floor of §3.5). ``info`` is the risk curve's (the c_L root solves).
    """

    n: int | None
    eps: float
    reachable: bool
    risk_at_n: float | None
    stderr_at_n: float | None
    depth: float
    draws: int
    n_max: int
    frozen_layers: int = 0
    reason: str = ""
    info: SolverInfo = field(kw_only=True)


def _unreachable_reason(
    task: LinearTask, curve: dict[str, Any], eps: float, L: float, k: int, n_max: int
) -> str:
    floor = frozen_risk_floor(task, L, k) if k else None
    if floor is not None and floor > eps:
        return (
            f"not reachable: with {k} frozen layer(s) the risk tends to the floor {floor:.4g} > "
            f"ε = {eps:g} (§3.5)"
        )
    return (
        f"not reachable for n ≤ {n_max}: E[R_L] at n = {n_max} is "
        f"{float(curve['risk'][-1]):.4g} ± {float(curve['stderr'][-1]):.2g} > ε = {eps:g}"
    )


@small_blas
def sample_complexity(
    task: LinearTask,
    eps: float,
    depth: Any,
    *,
    n_max: int | None = None,
    draws: int = 200,
    rng: np.random.Generator | int | None = None,
    frozen_layers: int = 0,
    strict: bool = False,
) -> SampleComplexity:
    """n*(ε) for a depth-L network: the first n with Monte Carlo E[R_L] ≤ ε (§3.3).

    A scan over n = 1 … n_max on nested designs (:func:`risk_curve`; the curve need not be
    monotone). Without frozen layers the noiseless risk is exactly 0 once n ≥ rank Σ, so
    n* ≤ rank Σ whenever n_max ≥ rank Σ. With frozen layers the risk tends to the floor of
    :func:`frozen_risk_floor` and ε below it is never reached.

    Parameters
    ----------
    eps : float
        Target level ε ≥ 0.
    n_max : int, optional
        Largest n scanned (default rank Σ; with frozen layers 10·d).
    strict : bool
        Raise instead of returning a flagged result: :class:`ConvergenceError` when a c_L root
        solve did not converge, :class:`NotReachableError` instead of ``reachable=False``.

    Raises
    ------
    NotReachableError
        ``strict=True`` and no n ≤ n_max reaches ε.
    ConvergenceError
        ``strict=True`` and a root solve did not converge.

    Notes
    -----
    Runs with the library's ``small`` BLAS thread setting (one thread by default; batched
    small linear algebra is slower with more, see :mod:`finetune_bounds.threads`).
    """
    _check_task(task)
    eps = nonneg_float(eps, "eps")
    L = check_depth(depth)
    k = _check_frozen(frozen_layers)
    draws = positive_int(draws, "draws", limit="draws")
    strict = boolean(strict, "strict")
    if n_max is None:
        n_max = max(task.covariance.rank, 1) if k == 0 else 10 * task.dim
    n_max = positive_int(n_max, "n_max", limit="n")
    curve = risk_curve(task, np.arange(1, n_max + 1), L, draws=draws, rng=rng, frozen_layers=k,
                       strict=strict)
    info: SolverInfo = curve["info"]
    hit = np.flatnonzero(curve["risk"] <= eps * (1 + 1e-12))
    if hit.size:
        i = int(hit[0])
        return SampleComplexity(
            int(curve["n"][i]), eps, True, float(curve["risk"][i]), float(curve["stderr"][i]),
            L, draws, n_max, k, info=info,
        )
    reason = _unreachable_reason(task, curve, eps, L, k, n_max)
    if strict:
        raise NotReachableError(reason)
    return SampleComplexity(None, eps, False, None, None, L, draws, n_max, k, reason, info=info)
