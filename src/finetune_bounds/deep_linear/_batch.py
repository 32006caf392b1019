"""Batched closed-form kernel over B designs in Σ's eigenbasis (private).

One batched SVD per call gives every design's row space; c_L comes from the vectorised root
solver, so B problems × several depths cost a few array operations. Used by the Monte Carlo
expectations, the sweep family and the CLI.

Status: :func:`_batch_risks` returns per-element ``status`` (B, len(depths)) and the aggregate
``info`` with the arrays (``strict=True`` raises instead); :func:`_batch_predictors` returns only
the vectors, so it is strict by default; :func:`_batch_solve_predictors` returns the vectors with
their statuses.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from .._numerics import SolverInfo, SolverStatus, check_converged, rank_mask
from .._validation import FloatArray
from ..errors import InvalidInputError, SolverError
from ._coefficient import _STEP_TOL, _c_root, _Root
from ._common import _DEGENERATE_TOL
from ._frozen import _batch_frozen_gammas
from ._status import _aggregate, _status_array, _worse


def _check_batch_degenerate(s2: FloatArray, b2: FloatArray) -> None:
    """Depth ≥ 2 needs θ_S ≠ 0 and X⁺y ≠ 0 on every draw (same rule as solve_predictor)."""
    if np.any(s2 <= 0):
        raise InvalidInputError(
            "source must be non-zero for depth ≥ 2: zero pretrained weights are a saddle"
        )
    if np.any(np.sqrt(b2) <= _DEGENERATE_TOL * np.sqrt(s2)):
        raise InvalidInputError(
            "degenerate fine-tuning data: P_Xθ_T = X⁺y = 0 on some design (e.g. θ_T = 0); "
            "spec §3.2 needs P_Xθ_T ≠ 0 for depth ≥ 2"
        )


def _check_batch_row_source(s2: FloatArray, q2: FloatArray) -> None:
    """Infinite depth needs P_Xθ_S ≠ 0 on every draw (c_∞ = ‖P_Xθ_T‖/‖P_Xθ_S‖)."""
    if np.any(np.sqrt(q2) <= _DEGENERATE_TOL * np.sqrt(s2)):
        raise InvalidInputError(
            "infinite depth needs P_Xθ_S ≠ 0 on every design: c_∞ = ‖P_Xθ_T‖/‖P_Xθ_S‖ diverges"
        )


class _RowSpace(NamedTuple):
    """Row-space pieces of B designs (dropped singular directions zeroed in ``vt``)."""

    vt: FloatArray  # (B, k, d)
    keep: NDArray[np.bool_]  # (B, k)
    fitted: FloatArray  # X⁺y, (B, d)
    perp_src: FloatArray  # P_⊥θ_S, (B, d)
    s2: FloatArray  # ‖θ_S‖²
    a2: FloatArray  # ‖P_⊥θ_S‖² (≤ s2)
    q2: FloatArray  # ‖P_Xθ_S‖², computed directly
    b2: FloatArray  # ‖X⁺y‖²


def _row_space(
    src: FloatArray, xe: FloatArray, y: FloatArray, rtol: float | None
) -> _RowSpace:
    try:
        u, s, vt = np.linalg.svd(xe, full_matrices=False)
    except np.linalg.LinAlgError as exc:
        raise SolverError(f"the batched SVD of the designs failed: {exc}") from None
    keep = rank_mask(s, xe.shape, rtol)
    vt = vt * keep[..., None]
    coef_y = np.where(keep, np.einsum("bnk,bn->bk", u, y) / np.where(keep, s, 1.0), 0.0)
    fitted = np.einsum("bkd,bk->bd", vt, coef_y)  # X⁺y
    ps = np.einsum("bkd,bd->bk", vt, src)
    perp_src = src - np.einsum("bkd,bk->bd", vt, ps)
    s2 = np.sum(src * src, axis=-1)
    a2 = np.minimum(np.sum(perp_src * perp_src, axis=-1), s2)
    q2 = np.sum(ps * ps, axis=-1)
    b2 = np.sum(coef_y * coef_y, axis=-1)
    return _RowSpace(vt, keep, fitted, perp_src, s2, a2, q2, b2)


def _check_depth_batch(rs: _RowSpace, depth: float, b2: FloatArray) -> None:
    """The degeneracy rules of :func:`solve_predictor`, on every design."""
    if depth > 1:
        _check_batch_degenerate(rs.s2, b2)
    if math.isinf(depth):
        _check_batch_row_source(rs.s2, rs.q2)


def _roots_info(statuses: NDArray[np.str_], roots: Sequence[_Root]) -> SolverInfo:
    """Aggregate info of the root solves behind a (B, nd) status array."""
    return _aggregate(
        statuses,
        iterations=max((r.iterations for r in roots), default=0),
        residual=max((r.info.residual for r in roots), default=0.0),
        tolerance=_STEP_TOL,
        extra={"root_residual": max((float(r.info.extra.get("root_residual", 0.0))
                                     for r in roots), default=0.0)},
    )


def _frozen_risks(
    lam: FloatArray, src: FloatArray, tgt: FloatArray, xe: FloatArray, ys: FloatArray,
    depths: Sequence[float], frozen_layers: int, rtol: float | None, zero_shot: FloatArray,
) -> dict[str, Any]:
    """:func:`_batch_risks` with frozen layers: γθ_S, a closed form (status ``exact``)."""
    coef = _batch_frozen_gammas(src, xe, ys, depths, frozen_layers)
    risk = np.empty_like(coef)
    for j in range(len(depths)):
        risk[:, j] = np.sum(lam * (coef[:, j, None] * src - tgt) ** 2, axis=-1)
    try:
        sv = np.linalg.svd(xe, compute_uv=False)
    except np.linalg.LinAlgError as exc:
        raise SolverError(f"the batched SVD of the designs failed: {exc}") from None
    rank = np.sum(rank_mask(sv, xe.shape, rtol), axis=-1)
    statuses = _status_array(coef.shape, SolverStatus.EXACT)
    return {"risk": risk, "measure": risk.copy(), "c": coef, "zero_shot": zero_shot,
            "rank": np.asarray(rank, dtype=np.float64), "status": statuses,
            "info": _roots_info(statuses, [])}


def _batch_risks(
    lam: FloatArray,
    src: FloatArray,
    tgt: FloatArray,
    xe: FloatArray,
    depths: Sequence[float],
    *,
    y: FloatArray | None = None,
    frozen_layers: int = 0,
    rtol: float | None = None,
    max_iter: int = 200,
    strict: bool = False,
) -> dict[str, Any]:
    """Closed-form risks of B fine-tuning problems, batched (spec §3.2–3.5).

    ``lam`` (d,) eigenvalues of Σ; ``src``, ``tgt`` (B, d) teachers and ``xe`` (B, n, d) designs,
    all in Σ's eigenbasis; ``y`` (B, n) labels (default noiseless Xθ_T). Returns arrays of shape
    (B, len(depths)): ``risk`` (of the predictor the network reaches), ``measure``
    (R_L = ‖Σ^{1/2}P_⊥(c_Lθ_S − θ_T)‖² with the noiseless c_L; for frozen layers the risk), ``c``
    (c_L, or γ for frozen layers) and ``status`` (the c_L solves' statuses as strings, the worse
    of the noisy and the noiseless solve); (B,) arrays ``zero_shot``, ``rank``; and ``info``,
    the aggregate :class:`SolverInfo`. ``strict=True`` raises :class:`ConvergenceError` when a
    root solve did not converge.
    """
    ys = np.einsum("bnd,bd->bn", xe, tgt) if y is None else y
    zero_shot = np.sum(lam * (src - tgt) ** 2, axis=-1)
    if frozen_layers > 0:
        return _frozen_risks(lam, src, tgt, xe, ys, depths, frozen_layers, rtol, zero_shot)
    rs = _row_space(src, xe, ys, rtol)
    pt = np.einsum("bkd,bd->bk", rs.vt, tgt)
    perp_tgt = tgt - np.einsum("bkd,bk->bd", rs.vt, pt)
    b2_clean = np.sum(pt * pt, axis=-1)
    shape = (xe.shape[0], len(depths))
    risk, measure, coef = np.empty(shape), np.empty(shape), np.empty(shape)
    statuses = _status_array(shape, SolverStatus.EXACT)
    roots: list[_Root] = []
    for j, L in enumerate(depths):
        _check_depth_batch(rs, L, rs.b2 if y is not None else b2_clean)
        root = _c_root(rs.s2, rs.a2, rs.b2, L, q2=rs.q2, max_iter=max_iter)
        clean = root if y is None else _c_root(rs.s2, rs.a2, b2_clean, L, q2=rs.q2,
                                               max_iter=max_iter)
        roots += [root] if y is None else [root, clean]
        statuses[:, j] = _worse(root.statuses, clean.statuses)
        w = rs.fitted + root.c[:, None] * rs.perp_src
        risk[:, j] = np.sum(lam * (w - tgt) ** 2, axis=-1)
        v = clean.c[:, None] * rs.perp_src - perp_tgt  # direct, no cancellation for tiny R_L
        measure[:, j] = np.sum(lam * v * v, axis=-1)
        coef[:, j] = root.c
    info = _roots_info(statuses, roots)
    check_converged(info, "c_L root solver (batched closed form)", strict=strict)
    return {"risk": risk, "measure": measure, "c": coef, "zero_shot": zero_shot,
            "rank": np.sum(rs.keep, axis=-1).astype(np.float64), "status": statuses,
            "info": info}


def _batch_solve_predictors(
    src: FloatArray,
    xe: FloatArray,
    y: FloatArray,
    depths: Sequence[float],
    *,
    frozen_layers: int = 0,
    rtol: float | None = None,
    max_iter: int = 200,
) -> tuple[FloatArray, NDArray[np.str_], SolverInfo]:
    """Closed-form limits w (B, len(depths), d) with per-element statuses (B, len(depths)) and
    their aggregate info."""
    if frozen_layers > 0:
        gam = _batch_frozen_gammas(src, xe, y, depths, frozen_layers)
        statuses = _status_array(gam.shape, SolverStatus.EXACT)
        return gam[:, :, None] * src[:, None], statuses, _roots_info(statuses, [])
    out = np.empty((src.shape[0], len(depths), src.shape[1]))
    rs = _row_space(src, xe, y, rtol)
    statuses = _status_array((src.shape[0], len(depths)), SolverStatus.EXACT)
    roots: list[_Root] = []
    for j, L in enumerate(depths):
        _check_depth_batch(rs, L, rs.b2)
        root = _c_root(rs.s2, rs.a2, rs.b2, L, q2=rs.q2, max_iter=max_iter)
        roots.append(root)
        statuses[:, j] = root.statuses
        out[:, j] = rs.fitted + root.c[:, None] * rs.perp_src
    return out, statuses, _roots_info(statuses, roots)


def _batch_predictors(
    src: FloatArray,
    xe: FloatArray,
    y: FloatArray,
    depths: Sequence[float],
    *,
    frozen_layers: int = 0,
    rtol: float | None = None,
    max_iter: int = 200,
    strict: bool = True,
) -> FloatArray:
    """Closed-form limits w for B problems at several depths: shape (B, len(depths), d).

    Full fine-tuning: X⁺y + c_L P_⊥θ_S (§3.2) from one batched SVD; frozen layers: γθ_S (§3.5).
    Same degeneracy errors as :func:`solve_predictor`. Only the vectors are returned, so a root
    solve that did not converge raises :class:`ConvergenceError` unless ``strict=False`` (use
    :func:`_batch_solve_predictors` to get the statuses).
    """
    w, _, info = _batch_solve_predictors(src, xe, y, depths, frozen_layers=frozen_layers,
                                         rtol=rtol, max_iter=max_iter)
    check_converged(info, "c_L root solver (batched closed form)", strict=strict)
    return w
