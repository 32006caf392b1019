"""Fine-tuning deep linear networks from balanced pretrained weights: theory.

Spec: ``linear-teachers.md`` §3 (numerical notes §6). A depth-L linear network
f(x) = W_L ⋯ W_1 x with scalar output, started at balanced rank-one weights whose end-to-end
vector is θ_S (§3.1), and fine-tuned by gradient flow on the target squared loss
ℓ(w) = ‖Xw − y‖²/(2n), converges to (§3.2)

    w_L = X⁺y + c_L P_⊥θ_S   (noiseless labels: X⁺y = P_Xθ_T),

where c_L > 0 is the unique positive root of

    c^{2L/(L−1)} ‖θ_S‖² = ‖X⁺y‖² + c² ‖P_⊥θ_S‖²            (L ≥ 2; c_1 = 1).

Three independent routes compute the limit (:func:`solve_predictor`):

- ``"closed_form"``: the formula above; c_L by safeguarded Newton/bisection in t = log c inside
  the bracket [min(1, c_∞), max(1, c_∞)], which always contains the root (see
  :func:`depth_coefficient`); L = ∞ gives c_∞ = ‖X⁺y‖/‖P_Xθ_S‖.
- ``"cvxpy"``: the implicit-bias program  min ‖w‖^{(L+1)/L} − ((L+1)/L)‖θ_S‖^{(1−L)/L}⟨θ_S, w⟩
  s.t. Xw = y (Clarabel, SCS fallback; the status and a KKT certificate are checked).
- ``"ode"``: the balanced end-to-end gradient flow ẇ = −‖w‖^{2−2/L}(g + (L−1)ŵŵᵀg),
  g = Xᵀ(Xw − y)/n, integrated with LSODA (stiffness switching, analytic Jacobian) until the
  interpolation residual is below a tolerance.

Derivation of the closed form [derived]: the gradient of W_1 is (W_L⋯W_2)ᵀgᵀ with g in the row
space of X, so W_1P_⊥ never changes; balancedness (conserved by the flow) keeps every layer rank
one with singular value ‖w‖^{1/L}, whence P_⊥w = (‖w‖/‖θ_S‖)^{(L−1)/L} P_⊥θ_S, and
‖w‖² = ‖X⁺y‖² + c²‖P_⊥θ_S‖² at the interpolating limit.

Facts proved here and tested [derived]:

- c_L always lies between 1 (= c_1, linear fine-tuning) and c_∞, and moves monotonically from
  one to the other as L grows; c_L = c_∞[1 − (‖θ_S‖²/‖P_Xθ_S‖²) log(c_∞)/(L − 1) + O(L⁻²)].
- Hence the measure R_L = ‖Σ^{1/2}P_⊥(c_Lθ_S − θ_T)‖² (§3.3), a convex quadratic in c, obeys
  R_L ≤ max(R_1, R_∞) for every design.
- With the first k ≥ 1 layers frozen (§3.5) the reachable set is {γθ_S}; the limit is
  γ*θ_S with γ* the least-squares scalar, except that a trainable part of depth ≥ 2 cannot
  cross γ = 0 (a saddle), so γ = max(γ*, 0) then.
- P_Xθ_T = 0 is rejected (as the spec requires P_Xθ_T ≠ 0), although for finite L and
  P_⊥θ_S ≠ 0 the flow still converges to the root of the same equation with B = 0,
  c = (‖P_⊥θ_S‖/‖θ_S‖)^{L−1} (checked with the ODE); only L = ∞ truly degenerates.
- Near the saddle (P_Xθ_T anti-parallel to P_Xθ_S, ‖P_⊥θ_S‖ = δ‖θ_S‖) the flow needs a time
  ~ δ^{−(L−2)}; δ = 0 converges to the saddle w = 0 itself.

Regime: gradient *flow* from exactly balanced weights, run to convergence, reaching a global
minimum. When ⟨P_Xθ_T, P_Xθ_S⟩ < 0 the flow passes close to the saddle w = 0 and can stall for a
very long time; with P_⊥θ_S = 0 and θ_T ∥ −θ_S it converges to the saddle itself (§6). The
closed form then still describes the global minimum the flow would reach, not what it reaches in
finite time; :attr:`PredictorResult.diagnostics` flags the case (``"saddle_risk"``).

This module is the public face of the theory; the implementation lives in private modules
beside it, one per job:

- ``_coefficient``: c_L, the vectorised safeguarded-Newton root (:func:`depth_coefficient`);
- ``_design``, ``_routes``, ``_route_cvxpy``, ``_route_ode``: one design and the three routes
  (:func:`solve_predictor`, :func:`predictor`);
- ``_frozen``: frozen early layers (:func:`frozen_predictor`, :func:`frozen_risk_floor`);
- ``_batch``: the batched closed-form kernel over many designs;
- ``_montecarlo``: :func:`sample_risk`, :func:`expected_risk`;
- ``_curves``: :func:`risk_curve`, :func:`sample_complexity` on nested designs;
- ``_common``, ``_status``: validation and the solver-status shape shared by every result.

Solver status [issue 8]: every result carries ``info`` (a
:class:`~finetune_bounds._numerics.SolverInfo`) and ``status``; results of one problem have
``converged: bool``, batched ones per-element ``statuses`` (see ``_status``). Functions that
iterate take ``strict``: ``True`` raises :class:`~finetune_bounds.errors.ConvergenceError`,
``False`` (the default except in :func:`predictor`) returns the flagged result.
"""

from __future__ import annotations

from .._numerics import stderr as _shared_stderr
from .._validation import FloatArray

# ``_batch_*``, ``_frozen_gamma``, ``_ode_rhs_jac``, ``Method`` (and ``_stderr`` below) are
# compatibility re-exports (redundant aliases): the sweep family (``_family``), the CLI
# (``_cli``) and older callers import these private names from here.
from ._batch import _batch_predictors as _batch_predictors
from ._batch import _batch_risks as _batch_risks
from ._batch import _batch_solve_predictors as _batch_solve_predictors
from ._coefficient import DepthCoefficient, depth_coefficient
from ._common import check_depth
from ._curves import SampleComplexity, risk_curve, sample_complexity
from ._design import PredictorResult
from ._frozen import FrozenResult, frozen_predictor, frozen_risk_floor
from ._frozen import _batch_frozen_gammas as _batch_frozen_gammas
from ._frozen import _frozen_gamma as _frozen_gamma
from ._montecarlo import ExpectedRisk, SampleRisk, expected_risk, sample_risk
from ._route_ode import _ode_rhs_jac as _ode_rhs_jac
from ._routes import METHODS, predictor, solve_predictor
from ._routes import Method as Method

__all__ = [
    "METHODS",
    "DepthCoefficient",
    "ExpectedRisk",
    "FrozenResult",
    "PredictorResult",
    "SampleComplexity",
    "SampleRisk",
    "check_depth",
    "depth_coefficient",
    "expected_risk",
    "frozen_predictor",
    "frozen_risk_floor",
    "predictor",
    "risk_curve",
    "sample_complexity",
    "sample_risk",
    "solve_predictor",
]


def _stderr(a: FloatArray, axis: int = 0) -> FloatArray:
    """Compatibility alias: the shared :func:`finetune_bounds._numerics.stderr` with this
    module's old default ``axis=0`` (the family and the CLI call it without an axis)."""
    return _shared_stderr(a, axis=axis)
