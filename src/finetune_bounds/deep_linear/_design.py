"""One fine-tuning problem: validated design, its row-space pieces, and the route result (private).

:class:`PredictorResult` is public (re-exported); :func:`_prepare` turns (X, y, θ_S) into the
SVD-derived :class:`_Design` every route works on, and :func:`_finish` packs a route's vector
into a :class:`PredictorResult` with the common diagnostics.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .._numerics import SolverInfo, rank_mask
from .._validation import FloatArray, as_float_array, as_vector, nonneg_float, readonly
from ..errors import InvalidInputError, SolverError
from ._common import _DEGENERATE_TOL
from ._status import _Solved

_EPS = float(np.finfo(np.float64).eps)

__all__ = ["PredictorResult"]


@dataclass(frozen=True)
class PredictorResult(_Solved):
    """The end-to-end vector a depth-L network fine-tunes to, with diagnostics.

    Attributes
    ----------
    predictor : ndarray, shape (d,)
        w (read-only).
    depth : float
        L (``inf`` allowed for the closed form and cvxpy).
    method : str
        ``"closed_form"``, ``"cvxpy"`` or ``"ode"``.
    coefficient : float or None
        c with P_⊥w = c P_⊥θ_S: c_L for the closed form, the least-squares fit
        ⟨P_⊥w, P_⊥θ_S⟩/‖P_⊥θ_S‖² for the other routes (None when P_⊥θ_S = 0).
    residual : float
        Interpolation residual ‖Xw − XX⁺y‖ / ‖XX⁺y‖.
    info : SolverInfo
        How the route's solve ended: the c_L root solver (closed form; ``exact`` for L ∈ {1, ∞}
        or P_⊥θ_S = 0), the cvxpy solver (``converged`` when its status is ``optimal`` or an
        ``optimal_inaccurate`` solution passes the KKT certificate; iterations from the solver,
        residual the KKT residual), or the ODE integrator (``converged`` when the interpolation
        residual reached ``ode_tol``; ``max_iterations`` when the time horizon ran out,
        ``solver_failed`` when LSODA failed, ``not_finite``; iterations = function evaluations).
    diagnostics : mapping
        Route-specific: root-finding residual and iterations; solver, status, KKT residual and
        time; ODE status, integration time, function evaluations; ``saddle_risk`` (True when
        ⟨X⁺y, P_Xθ_S⟩ < 0: the flow passes near w = 0 and may stall, §6); ``parallel_defect``
        ‖P_⊥w − cP_⊥θ_S‖/‖w‖ (the §3.2 invariant P_⊥w ∥ P_⊥θ_S).

    ``status`` and ``converged`` (properties) read ``info``; a result with ``converged=False``
    is only returned with ``strict=False``.
    """

    predictor: FloatArray
    depth: float
    method: str
    coefficient: float | None
    residual: float
    info: SolverInfo
    diagnostics: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Design:
    """SVD-derived pieces of one fine-tuning problem (validated inputs)."""

    x: FloatArray
    y: FloatArray
    source: FloatArray
    vt: FloatArray  # (r, d) orthonormal rows spanning the row space
    coef: FloatArray  # (r,) with X⁺y = vtᵀ coef
    fitted: FloatArray  # X⁺y
    perp_source: FloatArray  # P_⊥θ_S
    s2: float
    a2: float
    b2: float
    q2: float  # ‖P_Xθ_S‖², computed directly
    yhat: FloatArray  # XX⁺y
    sv: FloatArray  # kept singular values
    row_source: FloatArray  # (r,) coordinates of P_Xθ_S: vt θ_S


def _float_copy(x: ArrayLike) -> FloatArray | None:
    """A float64 copy of a finite, non-empty real ndarray, or None (then the caller validates
    with :func:`as_float_array`, which raises the precise error or converts the rest)."""
    if type(x) is not np.ndarray or x.dtype != np.float64 or x.size == 0:
        return None
    arr = np.array(x, dtype=np.float64)  # as as_float_array converts it (memory order kept)
    # a finite sum implies finite entries (NaN and ±inf propagate); a sum that overflows from
    # finite entries falls back to the entry-wise check
    return arr if math.isfinite(float(arr.sum())) else None


def _prepare(x: ArrayLike, y: ArrayLike, source: ArrayLike, rtol: float | None) -> _Design:
    # fast path for finite float64 arrays of the right shapes; everything else (and every
    # error message) goes through the shared validators. One errstate for the whole body
    # (the sums of the finiteness checks may overflow; each errstate costs ≈ 2 µs)
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        xa = _float_copy(x)
        if xa is None or xa.ndim != 2:
            xa = as_float_array(x, "X", ndim=2)
        n, d = xa.shape
        ya = _float_copy(y)
        if ya is None or ya.shape != (n,):
            ya = as_vector(y, "y", n)
        th = _float_copy(source)
        if th is None or th.shape != (d,):
            th = as_vector(source, "source", d)
        if rtol is not None:
            rtol = nonneg_float(rtol, "rtol")
        try:
            u, s, vt = np.linalg.svd(xa, full_matrices=False)
        except np.linalg.LinAlgError as exc:
            raise SolverError(f"the SVD of X failed: {exc}") from None
        if not (math.isfinite(float(s.sum())) or np.isfinite(s).all()):
            raise InvalidInputError("X is too large: its singular values overflow float64")
        # rank_mask(s, shape, rtol) (s > rtol·s_max, default rtol max(n, d)·eps), read from
        # the smallest value first: s is in descending order
        rt = max(n, d) * _EPS if rtol is None else float(rtol)
        if not float(s[-1]) > float(s[0]) * rt:  # rank-deficient: drop the null directions
            keep = rank_mask(s, xa.shape, rtol)
            u, s, vt = u[:, keep], s[keep], vt[keep]
        uty = u.T @ ya
        coef = uty / s
        fitted = vt.T @ coef
        ps = vt @ th
        perp = th - vt.T @ ps
        des = _Design(
            xa, ya, th, vt, coef, fitted, perp,
            float(th @ th), float(perp @ perp), float(coef @ coef), float(ps @ ps),
            u @ uty, s, ps,
        )
        # a finite sum implies finite terms; an overflowing sum of finite terms is checked
        # term-wise
        finite = (
            (math.isfinite(des.s2 + des.a2 + des.b2 + des.q2)
             or all(math.isfinite(v) for v in (des.s2, des.a2, des.b2, des.q2)))
            and (math.isfinite(float(fitted.sum())) or bool(np.isfinite(fitted).all()))
        )
    if not finite:
        raise InvalidInputError(
            "the fine-tuning problem overflows float64: ‖θ_S‖², ‖X⁺y‖² (or X⁺y) is not "
            "finite for this scale of X, y and source; rescale the inputs"
        )
    return des


def _check_nondegenerate(des: _Design, depth: float) -> None:
    if depth == 1.0:
        return
    if des.s2 == 0.0:
        raise InvalidInputError(
            "source must be non-zero for depth ≥ 2: zero pretrained weights are a saddle of the "
            "deep network and gradient flow never leaves them"
        )
    scale = math.sqrt(des.s2)
    if math.sqrt(des.b2) <= _DEGENERATE_TOL * scale:
        raise InvalidInputError(
            "degenerate fine-tuning data: X⁺y = P_Xθ_T = 0 (the labels have no component in the "
            "row space of X); spec §3.2 needs P_Xθ_T ≠ 0 for depth ≥ 2"
        )
    if math.isinf(depth) and math.sqrt(des.q2) <= _DEGENERATE_TOL * scale:
        raise InvalidInputError(
            "infinite depth needs P_Xθ_S ≠ 0 (θ_S orthogonal to the row space of X): "
            "c_∞ = ‖P_Xθ_T‖/‖P_Xθ_S‖ diverges"
        )


def _norm(v: FloatArray) -> float:
    """‖v‖ for a real 1-D array, as ``np.linalg.norm`` computes it (sqrt of v·v)."""
    return math.sqrt(float(v @ v))


def _finish(
    des: _Design,
    w: FloatArray,
    depth: float,
    method: str,
    info: SolverInfo,
    diag: dict[str, Any],
    coefficient: float | None = None,
) -> PredictorResult:
    """Pack a route's vector with the interpolation residual and the common diagnostics."""
    # norms as sqrt(v·v): what np.linalg.norm computes for a real vector, without its overhead
    if des.a2 > 0:
        pw = w - des.vt.T @ (des.vt @ w)
        if coefficient is None:
            coefficient = float(pw @ des.perp_source) / des.a2
        wn = max(_norm(w), 1e-300)
        diag["parallel_defect"] = _norm(pw - coefficient * des.perp_source) / wn
    ynorm = _norm(des.yhat)
    resid = _norm(des.x @ w - des.yhat) / ynorm if ynorm > 0 else 0.0
    diag.setdefault("saddle_risk", bool(depth > 1 and float(des.coef @ des.row_source) < 0))
    w = readonly(np.array(w, dtype=np.float64))
    return PredictorResult(w, depth, method, coefficient, resid, info, diag)
