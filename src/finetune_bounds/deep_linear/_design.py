"""One fine-tuning problem: validated design, its row-space pieces, and the route result (private).

:class:`PredictorResult` is public (re-exported); :func:`_prepare` turns (X, y, θ_S) into the
SVD-derived :class:`_Design` every route works on, and :func:`_finish` packs a route's vector
into a :class:`PredictorResult` with the common diagnostics.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from scipy.linalg.lapack import dgesdd as _dgesdd
from scipy.linalg.lapack import dgesdd_lwork as _dgesdd_lwork

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


class _Design(NamedTuple):
    """SVD-derived pieces of one fine-tuning problem (validated inputs; immutable: a named
    tuple, built ≈ 4× faster than a frozen dataclass of 15 fields)."""

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
    ynorm: float  # ‖XX⁺y‖
    saddle: bool  # ⟨X⁺y, P_Xθ_S⟩ < 0 (the §6 saddle risk for depth ≥ 2)


def _float_copy(x: ArrayLike) -> FloatArray | None:
    """A float64 copy of a finite, non-empty real ndarray, or None (then the caller validates
    with :func:`as_float_array`, which raises the precise error or converts the rest)."""
    if type(x) is not np.ndarray or x.dtype != np.float64 or x.size == 0:
        return None
    arr = np.array(x, dtype=np.float64)  # as as_float_array converts it (memory order kept)
    # a finite sum implies finite entries (NaN and ±inf propagate); a sum that overflows from
    # finite entries falls back to the entry-wise check
    return arr if math.isfinite(_add_reduce(arr, None)) else None


_add_reduce = np.add.reduce

#: optimal LAPACK workspace of dgesdd per (rows, columns), from its workspace query
_LWORK: dict[tuple[int, int], int] = {}


def _thin_svd(xa: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Thin SVD ``X = u diag(s) vt``: LAPACK ``dgesdd`` (the driver ``np.linalg.svd`` calls, with
    the same optimal workspace), called directly on the tall orientation of X.

    For n < d it factors Xᵀ = V S Uᵀ instead of X: the same factorisation to rounding, and
    OpenBLAS' QR-first path for a tall matrix is 1.2–1.6× faster than its LQ-first path for the
    wide one (measured at n = d/10, d = 100–1000); calling the wrapper directly also skips
    ≈ 10 µs of ``np.linalg.svd`` overhead. Failure (``info > 0``: the divide and conquer did not
    converge) raises :class:`SolverError` as ``np.linalg.svd``'s ``LinAlgError`` did.
    """
    n, d = xa.shape
    tall = xa if n >= d else xa.T
    rows, cols = tall.shape
    lwork = _LWORK.get((rows, cols))
    if lwork is None:  # the workspace query numpy's svd also makes
        lwork = max(int(_dgesdd_lwork(rows, cols, compute_uv=1, full_matrices=0)[0]), 1)
        if len(_LWORK) < 64:
            _LWORK[(rows, cols)] = lwork
    a, s, b, info = _dgesdd(tall, compute_uv=1, full_matrices=0, lwork=lwork)
    if info > 0:
        raise SolverError("the SVD of X failed: SVD did not converge")
    if info < 0:
        raise SolverError(f"the SVD of X failed: dgesdd rejected argument {-info}")
    if n >= d:  # C order as numpy returns them (the same products, bit for bit)
        return np.ascontiguousarray(a), s, np.ascontiguousarray(b)
    return b.T, s, a.T  # transposes of Fortran-ordered factors: C order


def _prepare(x: ArrayLike, y: ArrayLike, source: ArrayLike, rtol: float | None) -> _Design:
    """Validate (X, y, θ_S) and build the :class:`_Design`.

    Float warnings are not silenced here: the caller wraps the call in one
    ``np.errstate(over/under/invalid/divide="ignore")`` (the finiteness sums may overflow;
    :func:`solve_predictor` covers this and the route with one errstate, ≈ 2 µs each).
    """
    # fast path for finite float64 arrays of the right shapes; everything else (and every
    # error message) goes through the shared validators
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
    u, s, vt = _thin_svd(xa)
    if not (math.isfinite(_add_reduce(s, None)) or np.isfinite(s).all()):
        raise InvalidInputError("X is too large: its singular values overflow float64")
    # rank_mask(s, shape, rtol) (s > rtol·s_max, default rtol max(n, d)·eps), read from
    # the smallest value first: s is in descending order
    rt = max(n, d) * _EPS if rtol is None else float(rtol)
    if not float(s[-1]) > float(s[0]) * rt:  # rank-deficient: drop the null directions
        keep = rank_mask(s, xa.shape, rtol)
        u, s, vt = u[:, keep], s[keep], vt[keep]
    # products by the ndarray.dot method: the same BLAS calls as ``@`` without matmul's
    # ≈ 1 µs of dispatch each (a dozen of them are the closed form's overhead at d ≈ 100)
    uty = ya.dot(u)  # Uᵀy
    coef = uty / s
    fitted = coef.dot(vt)  # X⁺y = Vcoef
    ps = vt.dot(th)
    perp = th - ps.dot(vt)
    yhat = u.dot(uty)
    s2, a2, b2, q2 = float(th.dot(th)), float(perp.dot(perp)), float(coef.dot(coef)), float(
        ps.dot(ps))
    # a finite sum implies finite terms; an overflowing sum of finite terms is checked
    # term-wise
    if not (
        (math.isfinite(s2 + a2 + b2 + q2)
         or all(math.isfinite(v) for v in (s2, a2, b2, q2)))
        and (math.isfinite(_add_reduce(fitted, None)) or bool(np.isfinite(fitted).all()))
    ):
        raise InvalidInputError(
            "the fine-tuning problem overflows float64: ‖θ_S‖², ‖X⁺y‖² (or X⁺y) is not "
            "finite for this scale of X, y and source; rescale the inputs"
        )
    return _Design(xa, ya, th, vt, coef, fitted, perp, s2, a2, b2, q2, yhat, s, ps,
                   _norm(yhat), float(coef.dot(ps)) < 0)


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
    return math.sqrt(float(v.dot(v)))


def _finish(
    des: _Design,
    w: FloatArray,
    depth: float,
    method: str,
    info: SolverInfo,
    diag: dict[str, Any],
    coefficient: float | None = None,
    *,
    owned: bool = False,
) -> PredictorResult:
    """Pack a route's vector with the interpolation residual and the common diagnostics.

    ``owned``: ``w`` is a fresh float64 vector no one else holds (the closed form's), frozen in
    place instead of copied.
    """
    # norms as sqrt(v·v): what np.linalg.norm computes for a real vector, without its
    # overhead; products by ndarray.dot (see :func:`_prepare`)
    if des.a2 > 0:
        vt = des.vt
        pw = w - vt.dot(w).dot(vt)
        if coefficient is None:
            coefficient = float(pw.dot(des.perp_source)) / des.a2
        wn = max(math.sqrt(float(w.dot(w))), 1e-300)
        dv = pw - coefficient * des.perp_source
        diag["parallel_defect"] = math.sqrt(float(dv.dot(dv))) / wn
    ynorm = des.ynorm
    if ynorm > 0:
        rv = des.x.dot(w) - des.yhat
        resid = math.sqrt(float(rv.dot(rv))) / ynorm
    else:
        resid = 0.0
    if "saddle_risk" not in diag:
        diag["saddle_risk"] = depth > 1 and des.saddle
    if owned:
        w.setflags(write=False)
    else:
        w = readonly(np.array(w, dtype=np.float64))
    return PredictorResult(w, depth, method, coefficient, resid, info, diag)
