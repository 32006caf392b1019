"""Route ``"cvxpy"``: the implicit-bias program as a convex optimisation problem (private).

min ‖w‖^{(L+1)/L} − ((L+1)/L)‖θ_S‖^{(1−L)/L}⟨θ_S, w⟩ s.t. Xw = y (spec §3.2), solved with
Clarabel at tight tolerances and SCS as a fallback. A solver's ``optimal`` status is accepted as
it is; ``optimal_inaccurate`` only with an independent KKT certificate. When no solver gives an
acceptable solution :class:`~finetune_bounds.errors.SolverError` is raised (there is no vector to
return); each attempt's outcome (``converged`` or ``solver_failed``) is in
``diagnostics["attempts"]`` and ``info.extra["attempts"]``.
"""

from __future__ import annotations

import math
import time
import warnings
from typing import Any

import numpy as np

from .._numerics import CLARABEL_TIGHT, SCS_TIGHT, SolverInfo, SolverStatus
from .._validation import FloatArray
from ..errors import SolverError
from ._common import _depth_label
from ._design import PredictorResult, _Design, _finish

# Solver settings: _numerics.CLARABEL_TIGHT / SCS_TIGHT, ~1e-8 relative accuracy on these
# programs (the defaults give ~1e-4: the objective's curvature along w is only ~1/L, so the
# solution error is ~√(gap·L))


def _kkt_residual(v: FloatArray, theta_hat: FloatArray, vt: FloatArray, p: float) -> float:
    """‖P_⊥∇f(v)‖ for f(v) = ‖v‖^p − p⟨θ̂_S, v⟩ (scaled variables; the optimality condition of
    min f s.t. Xv = y is ∇f ∈ rowspace X). Relative to p (‖θ̂_S‖ = 1)."""
    nv = float(np.linalg.norm(v))
    grad = p * nv ** (p - 2.0) * v - p * theta_hat
    perp = grad - vt.T @ (vt @ grad)
    return float(np.linalg.norm(perp)) / p


def _solver_iterations(problem: Any) -> int:
    stats = getattr(problem, "solver_stats", None)
    iters = getattr(stats, "num_iters", None) if stats is not None else None
    return int(iters) if iters is not None else 0


def _attempt(
    problem: Any, v: Any, name: str, des: _Design, theta_hat: FloatArray, p: float, scale: float,
    kkt_tol: float,
) -> tuple[dict[str, Any], FloatArray | None]:
    """One solver on the program: its diagnostics and, if acceptable, the scaled solution v."""
    import cvxpy as cp

    opts = CLARABEL_TIGHT if name == "CLARABEL" else SCS_TIGHT if name == "SCS" else {}
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            problem.solve(solver=name, **opts)
    except (cp.error.SolverError, ValueError) as exc:
        return {"solver": name, "status": f"error: {exc}",
                "outcome": SolverStatus.SOLVER_FAILED.value}, None
    elapsed = time.perf_counter() - t0
    status = str(problem.status)
    info: dict[str, Any] = {"solver": name, "status": status, "solve_time": elapsed,
                            "iterations": _solver_iterations(problem)}
    if v.value is None or status not in ("optimal", "optimal_inaccurate"):
        return {**info, "outcome": SolverStatus.SOLVER_FAILED.value}, None
    val = np.asarray(v.value, dtype=np.float64)
    kkt = _kkt_residual(val, theta_hat, des.vt, p)
    feas = float(np.linalg.norm(des.vt @ val - des.coef / scale)) / max(
        float(np.linalg.norm(des.coef / scale)), 1e-300
    )
    info.update(kkt_residual=kkt, feasibility=feas)
    # 'optimal' is accepted as is; 'optimal_inaccurate' (Clarabel at tight tolerances often
    # says so while being accurate) only with an independent KKT certificate
    ok = status == "optimal" or (kkt <= kkt_tol and feas <= kkt_tol)
    info["outcome"] = (SolverStatus.CONVERGED if ok else SolverStatus.SOLVER_FAILED).value
    return info, (val if ok else None)


def _cvxpy(
    des: _Design, depth: float, solver: str | None, kkt_tol: float
) -> PredictorResult:
    import cvxpy as cp

    p = 1.0 if math.isinf(depth) else (depth + 1.0) / depth
    scale = math.sqrt(des.s2)
    if scale == 0.0:  # depth 1 from θ_S = 0: min ‖w‖²
        scale = 1.0
    theta_hat = des.source / scale
    d = des.source.shape[0]
    # w = ‖θ_S‖ v: f(w) = ‖θ_S‖^p (‖v‖^p − p⟨θ̂_S, v⟩); Xw = y as Vᵣv = S⁻¹Uᵀy/‖θ_S‖ (the
    # same affine set with orthonormal rows; also the least-squares set when y ∉ range X)
    v = cp.Variable(d)
    objective = cp.power(cp.norm(v, 2), p) - p * (theta_hat @ v) if p != 1.0 else (
        cp.norm(v, 2) - theta_hat @ v
    )
    constraints = [des.vt @ v == des.coef / scale]
    problem = cp.Problem(cp.Minimize(objective), constraints)
    order = [solver.upper()] if solver else ["CLARABEL", "SCS"]
    attempts: list[dict[str, Any]] = []
    for name in order:
        diag, val = _attempt(problem, v, name, des, theta_hat, p, scale, kkt_tol)
        attempts.append(diag)
        if val is not None:
            info = SolverInfo(
                SolverStatus.CONVERGED, int(diag["iterations"]), float(diag["kkt_residual"]),
                kkt_tol,
                {"solver": name, "cvxpy_status": diag["status"],
                 "feasibility": diag["feasibility"], "attempts": list(attempts)},
            )
            return _finish(des, val * scale, depth, "cvxpy", info,
                           {**diag, "attempts": attempts, "exponent": p})
    raise SolverError(
        f"cvxpy could not solve the depth-{_depth_label(depth)} implicit-bias program "
        f"({SolverStatus.SOLVER_FAILED.value}): "
        + "; ".join(f"{a['solver']}: {a['status']}" for a in attempts)
    )
