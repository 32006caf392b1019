"""Route ``"ode"``: the balanced end-to-end gradient flow, integrated to its limit (private).

ẇ = −‖w‖^{2−2/L}(g + (L−1)ŵŵᵀg), g = Xᵀ(Xw − y)/n (spec §3.2), from w(0) = θ_S, integrated with
LSODA (stiffness switching, analytic Jacobian) until the interpolation residual
‖Xw − XX⁺y‖ ≤ tol·‖XX⁺y‖ (a terminal event at tol/2). Status: ``exact`` when θ_S already
interpolates, ``converged`` when the tolerance is met, ``max_iterations`` when the time horizon
ran out first (e.g. stalled near the saddle w = 0), ``solver_failed`` when LSODA failed,
``not_finite`` for a non-finite state; ``info.iterations`` counts right-hand-side evaluations.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from .._numerics import SolverInfo, SolverStatus
from .._validation import FloatArray
from ..errors import InvalidInputError
from ._design import PredictorResult, _Design, _finish


def _ode_rhs_jac(h: FloatArray, b: FloatArray, depth: float) -> tuple[Any, Any]:
    """Right-hand side and Jacobian of ẇ = −‖w‖^q(g + (L−1)ŵŵᵀg), q = 2 − 2/L, g = Hw − b."""
    q = 2.0 - 2.0 / depth
    m = depth - 1.0
    d = h.shape[0]
    eye = np.eye(d)

    def rhs(_t: float, w: FloatArray) -> FloatArray:
        g = h @ w - b
        nw2 = float(w @ w)
        nq = nw2 ** (q / 2)
        return np.asarray(-nq * g - m * nq / nw2 * w * float(w @ g))

    def jac(_t: float, w: FloatArray) -> FloatArray:
        # d/dw[‖w‖^q g] = q‖w‖^{q−2} g wᵀ + ‖w‖^q H
        # d/dw[‖w‖^{q−2} w wᵀg] = (q−2)‖w‖^{q−4}(wᵀg) w wᵀ + ‖w‖^{q−2}[(wᵀg) I + w(g + Hw)ᵀ]
        g = h @ w - b
        nw2 = float(w @ w)
        nq = nw2 ** (q / 2)
        wg = float(w @ g)
        j1 = q * nq / nw2 * np.outer(g, w) + nq * h
        j2 = (q - 2.0) * nq / nw2**2 * wg * np.outer(w, w) + nq / nw2 * (
            wg * eye + np.outer(w, g + h @ w)
        )
        return np.asarray(-j1 - m * j2)

    return rhs, jac


def _horizon(des: _Design, depth: float, t_max: float | None) -> float:
    """Default: 10⁵ time constants 1/(‖θ_S‖^{2−2/L}λ_min⁺(XᵀX/n))."""
    n = des.x.shape[0]
    lam_min = float(des.sv[-1] ** 2 / n) if des.sv.size else 1.0
    speed = max(des.s2, 1e-300) ** (1.0 - 1.0 / depth) if depth > 1 else 1.0
    return t_max if t_max is not None else 1e5 / (lam_min * speed)


def _ode_status(sol: Any, w: FloatArray, resid: float, tol: float) -> SolverStatus:
    if not (np.all(np.isfinite(w)) and math.isfinite(resid)):
        return SolverStatus.NOT_FINITE
    if sol.status == 1 or resid <= tol:
        return SolverStatus.CONVERGED
    if sol.status < 0:
        return SolverStatus.SOLVER_FAILED
    return SolverStatus.MAX_ITERATIONS  # the time horizon ran out


def _ode(des: _Design, depth: float, tol: float, t_max: float | None) -> PredictorResult:
    from scipy.integrate import solve_ivp

    if math.isinf(depth):
        raise InvalidInputError(
            "method='ode' needs a finite depth (the flow's speed grows like L); use "
            "'closed_form' or 'cvxpy' for L = ∞"
        )
    n = des.x.shape[0]
    rhs, jac = _ode_rhs_jac(des.x.T @ des.x / n, des.x.T @ des.y / n, depth)
    ynorm = float(np.linalg.norm(des.yhat))
    if ynorm == 0.0:  # depth 1 with y ∈ ker: the limit is θ_S − P_Xθ_S … integrate anyway
        ynorm = 1.0
    horizon = _horizon(des, depth, t_max)

    def event(_t: float, w: FloatArray) -> float:
        # fire at tol/2 so that the returned state satisfies the tolerance strictly
        return float(np.linalg.norm(des.x @ w - des.yhat)) - 0.5 * tol * ynorm

    event.terminal = True  # type: ignore[attr-defined]
    event.direction = -1  # type: ignore[attr-defined]
    scale = max(math.sqrt(des.s2), math.sqrt(des.b2), 1e-300)
    extra = {"t_max": float(horizon)}
    if event(0.0, des.source) <= 0:  # θ_S already interpolates: the flow does not move
        diag0 = {"status": 1, "message": "converged at t = 0", "t_final": 0.0,
                 "t_max": float(horizon), "nfev": 0, "njev": 0, "solve_time": 0.0, "tol": tol}
        resid0 = float(np.linalg.norm(des.x @ des.source - des.yhat)) / ynorm
        info0 = SolverInfo(SolverStatus.EXACT, 0, resid0, tol, {**extra, "t_final": 0.0})
        return _finish(des, des.source.copy(), depth, "ode", info0, diag0)
    t0 = time.perf_counter()
    sol = solve_ivp(
        rhs, (0.0, horizon), des.source.copy(), method="LSODA", jac=jac, events=event,
        rtol=1e-11, atol=1e-13 * scale,
    )
    elapsed = time.perf_counter() - t0
    w = np.asarray(sol.y[:, -1])
    resid = float(np.linalg.norm(des.x @ w - des.yhat)) / ynorm
    diag = {
        "status": int(sol.status),
        "message": str(sol.message),
        "t_final": float(sol.t[-1]),
        "t_max": float(horizon),
        "nfev": int(sol.nfev),
        "njev": int(sol.njev),
        "solve_time": elapsed,
        "tol": tol,
    }
    info = SolverInfo(
        _ode_status(sol, w, resid, tol), int(sol.nfev), resid, tol,
        {**extra, "t_final": float(sol.t[-1]), "ivp_status": int(sol.status),
         "message": str(sol.message)},
    )
    return _finish(des, w, depth, "ode", info, diag)
