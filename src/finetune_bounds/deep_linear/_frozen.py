"""Frozen early layers (spec §3.5): the reachable set is the line {γθ_S} (private).

With the first k ≥ 1 layers frozen at balanced pretrained values, the trainable layers only see
the one feature θ̂_Sᵀx, so the limit is γθ_S with γ* = ⟨Xθ_S, y⟩/‖Xθ_S‖² — except that a
trainable part of depth ≥ 2 cannot cross the saddle γ = 0, so γ = max(γ*, 0) then [derived].
Everything here is a closed form (status ``exact``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._numerics import SolverInfo
from .._validation import FloatArray, as_float_array, as_vector, positive_int, readonly
from ..errors import InvalidInputError
from ..problems import LinearTask
from ._common import _DEGENERATE_TOL, _check_task, _require_finite, check_depth
from ._status import _exact, _Solved

__all__ = ["FrozenResult", "frozen_predictor", "frozen_risk_floor"]


@dataclass(frozen=True)
class FrozenResult(_Solved):
    """Fine-tuning with the first k layers frozen (spec §3.5).

    Attributes
    ----------
    predictor : ndarray
        w = γθ_S.
    gamma : float
        The scalar the network converges to.
    gamma_least_squares : float
        γ* = ⟨Xθ_S, y⟩/‖Xθ_S‖² (the least-squares scalar).
    stalled_at_saddle : bool
        True when γ* < 0 and the trainable part has depth ≥ 2: it cannot cross the saddle at
        γ = 0, so γ = 0.
    frozen_layers, depth : int/float
    info : SolverInfo
        ``exact`` (a closed form: least squares in one scalar).
    """

    predictor: FloatArray
    gamma: float
    gamma_least_squares: float
    stalled_at_saddle: bool
    frozen_layers: int
    depth: float
    info: SolverInfo


def _frozen_gamma(
    gamma_ls: FloatArray, depth: float, frozen_layers: int
) -> tuple[FloatArray, NDArray[np.bool_]]:
    """γ reached by GD with the first k layers frozen, from the least-squares γ* (batched)."""
    trainable = depth - frozen_layers
    if trainable <= 0:  # nothing trains: the network stays at θ_S
        return np.ones_like(gamma_ls), np.zeros(gamma_ls.shape, dtype=bool)
    if trainable == 1:  # one linear layer: any γ is reachable
        return gamma_ls, np.zeros(gamma_ls.shape, dtype=bool)
    stalled = gamma_ls < 0
    return np.where(stalled, 0.0, gamma_ls), stalled


def _batch_frozen_gammas(
    src: FloatArray, xe: FloatArray, y: FloatArray, depths: Sequence[float], frozen_layers: int
) -> FloatArray:
    """γ of the frozen-layer limit γθ_S (§3.5) for B problems and each depth: shape (B, nd).

    Least squares in the one reachable direction, clipped by :func:`_frozen_gamma` where the
    trainable part cannot cross γ = 0.
    """
    xs = np.einsum("bnd,bd->bn", xe, src)
    denom = np.sum(xs * xs, axis=-1)
    if np.any(denom <= 0):
        raise InvalidInputError("frozen fine-tuning needs Xθ_S ≠ 0 on every design")
    g_ls = np.sum(xs * y, axis=-1) / denom
    return np.stack([_frozen_gamma(g_ls, L, frozen_layers)[0] for L in depths], axis=1)


def frozen_predictor(
    x: ArrayLike, y: ArrayLike, source: ArrayLike, depth: Any, frozen_layers: int
) -> FrozenResult:
    """The limit of gradient descent with the first ``frozen_layers`` layers frozen (§3.5).

    With W_1 frozen at its balanced value s u₁θ̂_Sᵀ, every reachable end-to-end vector is γθ_S
    (the trainable layers only see the one feature θ̂_Sᵀx). The trainable part is a depth-(L−k)
    balanced scalar network on that feature, so it converges to the least-squares γ* =
    ⟨Xθ_S, y⟩/‖Xθ_S‖² — except that for L − k ≥ 2 the point γ = 0 is a saddle it cannot
    cross from γ = 1, so γ = max(γ*, 0) [derived]. k ≥ L trains nothing (γ = 1); k = 0 is full
    fine-tuning (use :func:`solve_predictor`).

    Raises
    ------
    InvalidInputError
        Bad inputs, ``frozen_layers`` < 1, θ_S = 0, or Xθ_S = 0 (γ undetermined).
    """
    L = check_depth(depth)
    k = positive_int(frozen_layers, "frozen_layers")
    xa = as_float_array(x, "X", ndim=2)
    ya = as_vector(y, "y", xa.shape[0])
    th = as_vector(source, "source", xa.shape[1])
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        xs = xa @ th
        # γ* = ⟨Xθ_S, y⟩/‖Xθ_S‖², with Xθ_S rescaled (its squared norm may overflow)
        xs_scale = float(np.max(np.abs(xs))) if xs.size else 0.0
        xs_n = xs / xs_scale if xs_scale > 0 else xs
        xs_norm = math.sqrt(float(xs_n @ xs_n)) * xs_scale  # ‖Xθ_S‖ (may be inf)
        thr = _DEGENERATE_TOL * float(np.linalg.norm(xa)) * float(np.linalg.norm(th))
        degenerate = xs_scale == 0.0 or not np.any(th) or xs_norm <= thr
        if degenerate:
            raise InvalidInputError(
                "frozen fine-tuning needs Xθ_S ≠ 0 (the only trainable feature θ_Sᵀx is zero)"
            )
        g_ls = float(xs_n @ ya) / xs_scale / float(xs_n @ xs_n)
        g, stalled = _frozen_gamma(np.array([g_ls]), L, k)
        gamma = float(g[0])
        w = gamma * th
    _require_finite("the frozen-layer predictor γθ_S", g_ls, w)
    return FrozenResult(readonly(w), gamma, g_ls, bool(stalled[0]), k, L, _exact())


def frozen_risk_floor(task: LinearTask, depth: Any = math.inf, frozen_layers: int = 1) -> float:
    """Population limit (n → ∞) of the risk with the first k ≥ 1 layers frozen (§3.5).

    γ* → γ_pop = ⟨θ_S, θ_T⟩_Σ/‖θ_S‖²_Σ, so the risk tends to ‖θ_T − γθ_S‖²_Σ =
    ‖θ_T‖²_Σ − ⟨θ_S, θ_T⟩²_Σ/‖θ_S‖²_Σ (γ = γ_pop), which is > 0 unless θ_T ∥ θ_S in the Σ
    geometry — fine-tuning with frozen early layers never learns the rest. With a trainable
    depth ≥ 2 and γ_pop < 0 the network stalls at γ = 0 and the floor is ‖θ_T‖²_Σ. It is also a
    lower bound on the frozen risk for every n (the reachable set is {γθ_S}).
    """
    _check_task(task)
    L = check_depth(depth)
    k = positive_int(frozen_layers, "frozen_layers")
    cov = task.covariance
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        ss = float(cov.quadratic_form(task.source))
        st = float(np.sum(cov.eigenvalues * task.source_eig * task.target_eig))
        tt = float(cov.quadratic_form(task.target))
    if ss == 0.0:
        _require_finite("the frozen-layer risk floor", tt)
        return tt
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        g, _ = _frozen_gamma(np.array([st / ss]), L, k)
        gam = float(g[0])
        out = max(tt - 2 * gam * st + gam * gam * ss, 0.0)
    _require_finite("the frozen-layer risk floor", out)
    return out
