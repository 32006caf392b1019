"""The fine-tuned predictor of one design by three independent routes (private).

:func:`solve_predictor` dispatches to the closed form (here), cvxpy (:mod:`._route_cvxpy`) or the
gradient-flow ODE (:mod:`._route_ode`), and applies ``strict`` to the route's
:class:`~finetune_bounds._numerics.SolverInfo` with
:func:`~finetune_bounds._numerics.check_converged`.
"""

from __future__ import annotations

import math
import os
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from .. import limits
from .._numerics import check_converged
from .._validation import FloatArray, boolean, check_choice, nonneg_float, positive_int
from ..errors import InvalidInputError
from ._coefficient import _MAX_ITER, _c_root_scalar
from ._common import _depth_label, _require_finite, check_depth
from ._design import PredictorResult, _check_nondegenerate, _Design, _finish, _prepare
from ._route_cvxpy import _cvxpy
from ._route_ode import _ode
from ._status import _exact

__all__ = ["METHODS", "predictor", "solve_predictor"]

_add_reduce = np.add.reduce  # ``a.sum()`` without the method's Python-level dispatch

Method = Literal["closed_form", "cvxpy", "ode"]
METHODS: tuple[str, ...] = ("closed_form", "cvxpy", "ode")


def _closed_form(des: _Design, depth: float, max_iter: int = _MAX_ITER) -> PredictorResult:
    """w = X⁺y + c_L P_⊥θ_S; ``info`` is the c_L root solver's (``exact`` for L = 1)."""
    if depth == 1.0:
        w = des.fitted + des.perp_source
        return _finish(des, w, depth, "closed_form", _exact(), {"iterations": 0}, 1.0,
                       owned=True)
    # one element: the scalar copy of the vectorised root solver (same iteration, ≈ 10× less
    # overhead; it defers to :func:`_c_root` for L = ∞ and any out-of-range float), as floats
    root = _c_root_scalar(des.s2, min(des.a2, des.s2), des.b2, des.q2, depth, max_iter)
    c = root.c
    w = des.fitted + c * des.perp_source
    diag = {"root_residual": root.residual, "iterations": root.iterations,
            "c_infinite": root.c_inf}
    return _finish(des, w, depth, "closed_form", root.info, diag, c, owned=True)


#: root_max_iter values that passed :func:`positive_int` with the ``steps`` limit, keyed by
#: (type, value, the limits' environment variable): the limit check reads and parses that
#: variable on every call (≈ 5 µs, a tenth of the closed form's floor at d = 100)
_MAX_ITER_OK: dict[tuple[type, Any, str | None], int] = {}


def _root_max_iter(value: Any) -> int:
    """``positive_int(value, "root_max_iter", limit="steps")``, remembered per limits setting."""
    try:
        key = (type(value), value, os.environ.get(limits.ENV_VAR))
        hit = _MAX_ITER_OK.get(key)
    except TypeError:  # unhashable: validate (and reject) it
        return positive_int(value, "root_max_iter", limit="steps")
    if hit is None:
        hit = positive_int(value, "root_max_iter", limit="steps")
        if len(_MAX_ITER_OK) < 64:
            _MAX_ITER_OK[key] = hit
    return hit


def _failure_label(res: PredictorResult, method: str, depth: float) -> str:
    """What did not converge, for :func:`check_converged`'s message."""
    label = _depth_label(depth)
    if method == "closed_form":
        return f"c_L root solver (closed form, depth {label})"
    saddle = (" (near the saddle w = 0: ⟨P_Xθ_T, P_Xθ_S⟩ < 0)"
              if res.diagnostics.get("saddle_risk") else "")
    return (f"gradient-flow ODE (depth {label}, stopped at t = "
            f"{res.diagnostics.get('t_final', float('nan')):.3g}){saddle}")


def solve_predictor(
    x: ArrayLike,
    y: ArrayLike,
    source: ArrayLike,
    depth: Any,
    method: Method = "closed_form",
    *,
    rtol: float | None = None,
    solver: str | None = None,
    kkt_tol: float = 1e-9,
    ode_tol: float = 1e-10,
    t_max: float | None = None,
    root_max_iter: int = _MAX_ITER,
    strict: bool = False,
) -> PredictorResult:
    """Fine-tuned end-to-end predictor of a depth-L linear network, with diagnostics (§3.2).

    Regime: balanced pretrained weights with end-to-end vector θ_S (§3.1), all layers trained by
    gradient flow on ‖Xw − y‖²/(2n) to convergence (a global minimum; see the theory module
    note on the saddle when ⟨P_Xθ_T, P_Xθ_S⟩ < 0).

    Parameters
    ----------
    x : array_like, shape (n, d)
        Target design, one sample per row (n ≥ 1; n ≥ d allowed: then P_⊥ = 0 and every depth
        gives the least-squares solution).
    y : array_like, shape (n,)
        Target labels (labels outside the column space of X are projected: the flow converges
        to the least-squares set).
    source : array_like, shape (d,)
        θ_S, the pretrained network's end-to-end vector.
    depth : int or inf
        L ≥ 1 (``math.inf`` or ``"inf"`` for the infinite-depth limit; not with ``"ode"``).
    method : {"closed_form", "cvxpy", "ode"}
        Which independent route (see the theory module docstring).
    rtol : float, optional
        Relative singular-value cut-off for the row space (default ``max(n, d)·eps``).
    solver : str, optional
        cvxpy solver name (default: Clarabel, then SCS as a fallback).
    kkt_tol : float
        cvxpy: an ``optimal_inaccurate`` status is accepted only if the relative KKT residual
        ‖P_⊥∇f(w)‖ and the feasibility residual are below this.
    ode_tol : float
        ODE: stop when ‖Xw − XX⁺y‖ ≤ ode_tol·‖XX⁺y‖.
    t_max : float, optional
        ODE time horizon (default 10⁵ time constants 1/(‖θ_S‖^{2−2/L}λ_min⁺(XᵀX/n))).
    root_max_iter : int
        Closed form: iteration budget of the c_L root solver.
    strict : bool
        Raise :class:`ConvergenceError` when the route did not converge (the ODE did not reach
        ``ode_tol``, the c_L root solver did not converge); otherwise the result says so in
        ``status``/``converged``/``info``.

    Returns
    -------
    PredictorResult

    Raises
    ------
    InvalidInputError
        Bad shapes or values; depth < 1; for depth ≥ 2: θ_S = 0 or P_Xθ_T = X⁺y = 0
        (degenerate); L = ∞ with P_Xθ_S = 0; ``"ode"`` with L = ∞.
    SolverError
        cvxpy failed with every solver tried (status not optimal, no KKT certificate); raised
        whatever ``strict`` is, since there is no solution to return.
    ConvergenceError
        ``strict=True`` and the route did not converge.

    Notes
    -----
    Cost of the closed form: one thin SVD of X (its floor; LAPACK ``dgesdd``, the driver of
    ``np.linalg.svd``, called directly on the tall orientation of X, which OpenBLAS factors
    1.2–1.6× faster than the wide one) plus O(nd) products and a scalar c_L root; measured
    0.8–1.0× a bare ``np.linalg.svd(X)`` for d ≥ 200 (n = d/10) and ≈ 1.7–1.8× at d = 100,
    n = 10 (≈ 35 µs above a 45–50 µs SVD: input checks and the row-space products ≈ 16 µs,
    the c_L root ≈ 8 µs, the residual and diagnostics ≈ 9 µs; 2026-11-30, 2-core machine)
    (``benchmarks/bench_deep_linear.py``).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((3, 8)); src = rng.standard_normal(8); tgt = src + 0.1
    >>> r = solve_predictor(x, x @ tgt, src, depth=3)
    >>> bool(r.residual < 1e-12), r.coefficient > 0, r.status.value
    (True, True, 'converged')
    """
    L = check_depth(depth)
    check_choice(method, "method", METHODS)
    # every setting is validated whatever the route (a bad one is never silently ignored); a
    # positive finite float passes its validator unchanged, so it skips the call
    max_iter = _root_max_iter(root_max_iter)
    if not (type(kkt_tol) is float and 0.0 < kkt_tol < math.inf):
        kkt_tol = nonneg_float(kkt_tol, "kkt_tol", positive=True)
    if not (type(ode_tol) is float and 0.0 < ode_tol < math.inf):
        ode_tol = nonneg_float(ode_tol, "ode_tol", positive=True)
    if t_max is not None:
        t_max = nonneg_float(t_max, "t_max", positive=True)
    if solver is not None and not isinstance(solver, str):
        raise InvalidInputError(f"solver must be a cvxpy solver name or None, got {solver!r}")
    if strict is not True and strict is not False:
        strict = boolean(strict, "strict")
    # one errstate for the input checks and the route (≈ 2 µs each): the finiteness sums of
    # the inputs may overflow, and overflow for extreme inputs shows up as a non-finite
    # result, refused below
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        des = _prepare(x, y, source, rtol)
        _check_nondegenerate(des, L)
        if method == "closed_form":
            res = _closed_form(des, L, max_iter)
        elif method == "cvxpy":
            res = _cvxpy(des, L, solver, kkt_tol)
        else:
            res = _ode(des, L, ode_tol, t_max)
        # (a finite sum implies finite entries; otherwise the entry-wise check and its message)
        finite = math.isfinite(res.residual) and math.isfinite(_add_reduce(res.predictor))
    if not finite:
        _require_finite(f"the fine-tuned predictor ({method}, depth {_depth_label(L)})",
                        res.predictor, res.residual)
    if strict and not res.converged:
        check_converged(res.info, _failure_label(res, method, L), strict=True)
    return res


def predictor(
    x: ArrayLike,
    y: ArrayLike,
    source: ArrayLike,
    depth: Any,
    method: Method = "closed_form",
    **kwargs: Any,
) -> FloatArray:
    """The fine-tuned end-to-end vector w of a depth-L linear network (spec §3.2).

    Shorthand for ``solve_predictor(...).predictor`` that raises when a route did not converge
    (``strict=True``). See :func:`solve_predictor` for the parameters.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.eye(2, 4); src = np.ones(4); tgt = np.array([2.0, 2.0, 1.0, 1.0])
    >>> predictor(x, x @ tgt, src, depth=float("inf")).round(6).tolist()
    [2.0, 2.0, 2.0, 2.0]
    """
    kwargs.setdefault("strict", True)
    return solve_predictor(x, y, source, depth, method, **kwargs).predictor
