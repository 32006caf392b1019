"""Train two-pathway diagonal linear networks: pretraining state, fine-tuning re-init, batched GD.

Spec ``diagonal-networks.md`` §1 (model, teachers, data), §2 (conserved quantities and the
post-pretraining state), §5 (experiments), §6 (numerics). Everything is float64.

The model is f(x) = βᵀx with β = w⁺⊙v⁺ − w⁻⊙v⁻ (w: first layer, kept after pretraining; v:
readout). Gradient flow conserves, per coordinate, λ^± = (w^±)² − (v^±)² and c = w⁺w⁻ + v⁺v⁻;
with λ⁺ = λ⁻ it is the mirror flow dβ_i/dt = −2√(c_i² + β_i²)·∂L/∂β_i, whose limit from β(0) = 0
depends on c alone (spec §2).

- :class:`DiagonalNetwork`: the four parameter arrays (optionally with a leading seed axis) and the
  derived β, λ^± and c;
- :func:`pretraining_init`, :func:`pretrained_state`, :func:`finetune_init`: the balanced
  homogeneous initialisation, the exact state after (perfect) pretraining, and the fine-tuning
  re-initialisation (spec §1–§2);
- :func:`gradient_descent`: full-batch GD on every parameter, batched over seeds, with a step from
  the local curvature, backtracking, a stop on the training loss and the invariant drift;
- :func:`sample_teachers`, :func:`sample_design`, :func:`sample_labels`,
  :func:`empirical_error`: the teachers and data of spec §1;
- :func:`simulate_finetuning` and :func:`simulate_scratch`: perfect pretraining → re-init → GD on
  n = round(αd) fresh samples (or GD from the pretraining init on the target directly), per seed.

Loss and step convention (spec §6)
----------------------------------
The loss is the mean squared loss L = ‖Xβ − y‖²/(2n), g = Xᵀ(Xβ − y)/n = ∂L/∂β. The step is not
given in raw units (the 1/n of a mean loss would shrink it, and its right size changes by orders
of magnitude as the network grows from a small initialisation): at every step, for every seed,

    η = lr / K,   K = λ_max(X diag(Σ) Xᵀ)/n + max_i |g_i| / ρ,

with Σ_i = (w⁺_i)² + (v⁺_i)² + (w⁻_i)² + (v⁻_i)² (= 2√(c_i² + β_i²) on the flow) and ρ =
``rapidity``. The first term is the Gauss–Newton curvature of L in the parameters (the Jacobian J
of β has JJᵀ = diag(Σ)); it is estimated by a warm-started power iteration (every 10 steps, ×1.1
for safety, scaled up by max_i Σ_i(t)/Σ_i(t_estimate) in between — a valid bound on its growth —
and capped by the rigorous bound ‖X‖₂²·max_i Σ_i/n). The second is the residual part of the
Hessian (2×2 blocks ±g_i [[0, 1], [1, 0]]), weighted by 1/ρ: one step turns each pathway's
(w_i, v_i) by a hyperbolic angle η|g_i| ≤ lr·ρ. So ``lr`` is dimensionless (a fraction of
1/curvature, the same for a sum or a mean loss; the loss decreases for lr < 2), and the spec's
2 / 0.5 / 0.125 are meaningful values of it. A step that increases the loss or makes it
non-finite is rejected and that seed's step multiplier halved; it recovers by ×1.05 per accepted
step. Gradient flow's path does not depend on how time is parametrised, so this schedule
approximates the same flow, with an O(lr·ρ) deviation during the escape from small
initialisation (which dominates) and O(lr) overall.

Measured (d = 300, α = 0.3, ω = 0.5, c_PT = 1e-3, γ_FT = 0, one seed; relative distance
‖β_GD − β̂‖/‖β̂‖ to the implicit-bias solution β̂ of spec §2, from the dual solver):

=====  =====  =====  ==================  ==================
ρ      lr     steps  error, λ_PT = 0     error, λ_PT = −0.99
=====  =====  =====  ==================  ==================
0.01   2      2 400  1.0e-3              6.9e-4 (6 700 st.)
0.01   1      4 900  5.2e-4              3.5e-4 (13 400)
0.01   0.5    9 700  2.6e-4              1.7e-4 (26 800)
0.01   0.125  38 800 6.5e-5              4.4e-5 (107 000)
0.002  1      9 100  1.1e-4              7.6e-5 (21 700)
1      2      1 800  1.2e-2              1.9e-2 (5 400)
1      0.5    7 600  3.7e-3              5.3e-3 (22 200)
1      0.125  30 300 1.1e-3              1.5e-3 (90 000)
=====  =====  =====  ==================  ==================

The error is linear in lr. Against the spec's 0.6 % / 0.15 % / 0.04 % at lr = 2 / 0.5 / 0.125:
ρ = 1 (K the plain Hessian bound) is 2–3× above them, the default ρ = 0.01 6× below them (15–30×
more accurate than ρ = 1 for 1.2–1.3× the steps). At d = 1000, n = 300 (fine-tuning, ω = 0.5,
5 seeds) the defaults (lr = 1, ρ = 0.01) take 6 300–6 900 steps for λ_PT = 0 and 16 700–22 200
for λ_PT = −0.99, at 0.25–0.6 ms per step and seed (two matrix–vector products of n × d; the
range is machine load). Regime I (c_FT ~ 1e-9) is the slow case: β reaches the implicit-bias
solution long before the loss reaches 1e-12 × its start (loss ratio 7e-9 after 20 000 steps,
7e-10 after 100 000, at d = 300): pass a looser ``tol`` there.

Exact invariant drift of GD: one step multiplies λ^±_i and c_i by (1 − η²g_i²) (both pathways
and both invariants by the same factor), so the drift grows monotonically during a run and its
final value is its maximum over time. It is O(lr·ρ) (for lr·ρ ≪ 1), like the deviation.

BLAS threads: :func:`gradient_descent`, :func:`simulate_finetuning` and
:func:`simulate_scratch` (many small matrix–vector products per step and seed) run under
:func:`finetune_bounds.threads.small_blas` — one BLAS thread by default, ``threads.configure``
or ``FINETUNE_BOUNDS_THREADS`` to change it; their results do not depend on it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .. import limits
from .._numerics import HasStatus, SolverInfo, SolverStatus, stderr
from .._validation import (
    FloatArray,
    as_float_array,
    as_generator,
    check_choice,
    nonneg_float,
    positive_int,
    readonly,
)
from .._validation import boolean as flag
from .._validation import seed_list as seeds_checked
from ..errors import ConvergenceError, InvalidInputError
from ..threads import small_blas
from ._checks import finite_result
from ._penalty import check_scales, check_task

__all__ = [
    "DiagonalGDResult",
    "DiagonalNetwork",
    "SimulationResult",
    "Teachers",
    "empirical_error",
    "finetune_init",
    "gradient_descent",
    "pretrained_state",
    "pretraining_init",
    "sample_design",
    "sample_labels",
    "sample_teachers",
    "simulate_finetuning",
    "simulate_scratch",
]

IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]
RngLike = np.random.Generator | int | None

#: numpy dtype wide enough for every status value
_STATUS_DTYPE = np.dtype(f"U{max(len(s.value) for s in SolverStatus)}")

#: coordinate-group codes of :class:`Teachers` (spec §1)
GROUP_NONE, GROUP_OVERLAP, GROUP_NEW, GROUP_PT_ONLY = 0, 1, 2, 3
_PARAMS = ("w_plus", "w_minus", "v_plus", "v_minus")
GROUP_NAMES: dict[int, str] = {
    GROUP_NONE: "none", GROUP_OVERLAP: "overlap", GROUP_NEW: "new", GROUP_PT_ONLY: "pt_only",
}


# ---------------------------------------------------------------------------------------------
# Model state (spec §1)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class DiagonalNetwork:
    """Parameters of a two-pathway diagonal linear network (spec §1), optionally batched.

    Attributes
    ----------
    w_plus, w_minus : ndarray, shape (d,) or (S, d)
        First-layer weights of the + and − pathways (kept after pretraining).
    v_plus, v_minus : ndarray, same shape
        Readout weights (re-initialised before fine-tuning).

    The arrays are stored as read-only float64 copies; a leading axis, if present, indexes seeds.
    Derived (per coordinate): :attr:`beta`, the conserved :attr:`lambda_plus`,
    :attr:`lambda_minus` and :attr:`c`, and :attr:`scale` (Σ_i, the mirror-flow metric).

    Raises
    ------
    InvalidInputError
        Arrays of different shapes, not 1-D or 2-D, empty or non-finite.
    """

    w_plus: FloatArray
    w_minus: FloatArray
    v_plus: FloatArray
    v_minus: FloatArray

    def __post_init__(self) -> None:
        shape: tuple[int, ...] | None = None
        for name in ("w_plus", "w_minus", "v_plus", "v_minus"):
            arr = as_float_array(getattr(self, name), name)
            if arr.ndim not in (1, 2):
                raise InvalidInputError(f"{name} must have shape (d,) or (S, d), got {arr.shape}")
            if shape is None:
                shape = arr.shape
            elif arr.shape != shape:
                raise InvalidInputError(
                    f"{name} has shape {arr.shape}, but w_plus has shape {shape}"
                )
            object.__setattr__(self, name, readonly(arr))
        with np.errstate(over="ignore"):
            big = not np.all(np.isfinite(self.scale))
        if big:
            raise InvalidInputError(
                "network parameters too large: w² + v² overflows float64 (max |w|, |v| = "
                f"{max(float(np.max(np.abs(getattr(self, k)))) for k in _PARAMS):.3g})"
            )

    @property
    def shape(self) -> tuple[int, ...]:
        """(d,) or (S, d)."""
        return tuple(self.w_plus.shape)

    @property
    def dim(self) -> int:
        """d, the number of coordinates."""
        return int(self.w_plus.shape[-1])

    @property
    def batched(self) -> bool:
        """True when the arrays carry a leading seed axis."""
        return self.w_plus.ndim == 2

    @property
    def beta(self) -> FloatArray:
        """β = w⁺v⁺ − w⁻v⁻ (the end-to-end linear predictor)."""
        return np.asarray(self.w_plus * self.v_plus - self.w_minus * self.v_minus)

    @property
    def lambda_plus(self) -> FloatArray:
        """λ⁺ = (w⁺)² − (v⁺)² (raw units; conserved by gradient flow)."""
        return np.asarray(self.w_plus**2 - self.v_plus**2)

    @property
    def lambda_minus(self) -> FloatArray:
        """λ⁻ = (w⁻)² − (v⁻)² (raw units; conserved by gradient flow)."""
        return np.asarray(self.w_minus**2 - self.v_minus**2)

    @property
    def c(self) -> FloatArray:
        """c = w⁺w⁻ + v⁺v⁻ (conserved by gradient flow; the scale of the implicit bias, §2)."""
        return np.asarray(self.w_plus * self.w_minus + self.v_plus * self.v_minus)

    @property
    def scale(self) -> FloatArray:
        """Σ = (w⁺)² + (v⁺)² + (w⁻)² + (v⁻)²; equals 2√(c² + β²) when λ⁺ = λ⁻ (spec §2)."""
        return np.asarray(self.w_plus**2 + self.v_plus**2 + self.w_minus**2 + self.v_minus**2)

    def __getitem__(self, index: int) -> DiagonalNetwork:
        """Seed ``index`` of a batched network (an unbatched network)."""
        if not self.batched:
            raise InvalidInputError("only a batched network (shape (S, d)) can be indexed")
        return DiagonalNetwork(
            self.w_plus[index], self.w_minus[index], self.v_plus[index], self.v_minus[index]
        )


def pretraining_init(d: int, c_pt: float, lambda_pt: float) -> DiagonalNetwork:
    """Balanced homogeneous pretraining initialisation (spec §1).

    w^±(0) = √((c_PT + λ)/2), v^±(0) = √((c_PT − λ)/2) on every coordinate, with λ = λ_PT·c_PT
    (raw units), so β(0) = 0, λ^± = λ and c = c_PT.

    Parameters
    ----------
    d : int
        Dimension (≥ 1).
    c_pt : float
        Absolute scale c_PT = w(0)² + v(0)² > 0.
    lambda_pt : float
        Relative scale λ_PT = (w(0)² − v(0)²)/c_PT ∈ [−1, 1] (λ_PT < 0: smaller first layer).

    Returns
    -------
    DiagonalNetwork
        Unbatched, shape (d,).

    Raises
    ------
    InvalidInputError
        d not a positive integer; c_PT ≤ 0; λ_PT outside [−1, 1]; NaN/inf.

    Examples
    --------
    >>> net = pretraining_init(3, 1e-3, -0.5)
    >>> bool(np.allclose(net.c, 1e-3)) and bool(np.all(net.beta == 0))
    True
    """
    d = positive_int(d, "d", limit="d")
    c, lam, _ = check_scales(c_pt, lambda_pt, 0.0)
    w = math.sqrt(0.5 * c * (1.0 + lam))
    v = math.sqrt(0.5 * c * (1.0 - lam))
    wa, va = np.full(d, w), np.full(d, v)
    return DiagonalNetwork(wa, wa.copy(), va, va.copy())


def pretrained_state(beta: ArrayLike, c_pt: float, lambda_pt: float) -> DiagonalNetwork:
    """The exact state gradient flow reaches from :func:`pretraining_init` when it implements β.

    Spec §2: the flow conserves λ^± = λ = λ_PT·c_PT and c = c_PT, and β with these invariants fixes
    the state. With B = arcsinh(β/c), A = arccosh(c/|λ|), θ± = (A ± B)/2: for λ > 0,
    w^± = √λ cosh θ±, v^± = √λ sinh θ±; for λ < 0, w^± = √|λ| sinh θ±, v^± = √|λ| cosh θ±; for
    λ = 0, w⁺ = v⁺ = √s, w⁻ = v⁻ = c/(2√s) with s = ½(β + √(β² + c²)). The + pathway carries
    +β: w⁺v⁺ = ½(√(c² − λ²)·√(1 + (β/c)²) + β) and w⁻v⁻ = the same with −β. Always
    (w⁺ + w⁻)² = (c + λ)(1 + √(1 + (β/c)²)).

    Computed without hyperbolic functions, from P^± = (w^±)² + (v^±)² = R ± β√(1 − λ_PT²) and
    Q^± = w^±v^± (R = √(c² + β²)), each written in a cancellation-free form; the larger of
    |w^±|, |v^±| (the one whose square is (P^± + |λ|)/2) is positive, the other is Q^±/that. This
    is exact on the whole range, including λ_PT = ±1 (A = 0) and λ_PT = 0 (A = ∞), and accurate
    for |β| ≫ c (the small pathway).

    Parameters
    ----------
    beta : array_like, shape (d,) or (S, d)
        The pretrained predictor (for perfect pretraining, β*_PT).
    c_pt : float
        c_PT > 0.
    lambda_pt : float
        Normalised λ_PT ∈ [−1, 1].

    Returns
    -------
    DiagonalNetwork
        Same shape as ``beta``, with beta == β, λ^± = λ_PT·c_PT and c = c_PT (to rounding).

    Raises
    ------
    InvalidInputError
        Non-finite β, invalid scales, or |β|/c_PT so large that the state overflows.

    Examples
    --------
    >>> net = pretrained_state([0.5, -2.0, 0.0], 1e-3, -0.99)
    >>> bool(np.allclose(net.beta, [0.5, -2.0, 0.0]))
    True
    """
    b_raw = as_float_array(beta, "beta")
    if b_raw.ndim not in (1, 2):
        raise InvalidInputError(f"beta must have shape (d,) or (S, d), got {b_raw.shape}")
    c, lam, _ = check_scales(c_pt, lambda_pt, 0.0)
    al = abs(lam)
    sn = math.sqrt((1.0 - al) * (1.0 + al))  # √(1 − λ_PT²)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        b = b_raw / c  # normalised units: w, v scale as √c
        babs = np.abs(b)
        r = np.hypot(1.0, b)
        big_den = sn * r + babs  # > 0 wherever it is used (β ≠ 0 there)
        safe_den = np.where(big_den > 0, big_den, 1.0)
        p_small = (1.0 + (lam * b) ** 2) / (r + sn * babs)  # R − |β|√(1 − λ²)
        q_small = 0.5 * (sn - al * babs) * (sn + al * babs) / safe_den  # ½(√(1−λ²)R − |β|)
        if sn == 0.0:  # |λ_PT| = 1 (A = 0): P^± = R and Q^± = ±β/2 exactly, so w⁺ + w⁻ = 0
            p_small, q_small = r, -0.5 * babs  # (λ_PT = −1) and v⁺ + v⁻ = 0 (λ_PT = 1)
        parts: list[FloatArray] = []
        for sign in (1.0, -1.0):
            bs = sign * b
            pos = bs >= 0
            p = np.where(pos, r + sn * bs, p_small)
            q = np.where(pos, 0.5 * (sn * r + bs), q_small)
            big = np.sqrt(0.5 * (p + al))
            small = q / big
            w, v = (big, small) if lam >= 0 else (small, big)
            parts += [np.sqrt(c) * w, np.sqrt(c) * v]
    if not all(np.all(np.isfinite(a)) for a in parts):
        raise InvalidInputError(
            f"beta/c_pt too large for a finite state (max |beta|/c_pt = {np.max(babs):.3g})"
        )
    wp, vp, wm, vm = parts
    return DiagonalNetwork(wp, wm, vp, vm)


def finetune_init(state: DiagonalNetwork, gamma_ft: float) -> DiagonalNetwork:
    """Fine-tuning re-initialisation of a (pretrained) network (spec §1).

    Both first-layer pathways are set to w⁺ + w⁻ and the readout to γ_FT/√2 on each pathway, so
    β_FT(0) = 0, λ^±_FT = (w⁺ + w⁻)² − γ_FT²/2 (equal on both pathways: the mirror flow of §2
    applies) and c_FT = (w⁺ + w⁻)² + γ_FT²/2; for the state of :func:`pretrained_state` this is
    :func:`~finetune_bounds.diagonal._penalty.c_finetune`.

    Parameters
    ----------
    state : DiagonalNetwork
        The network after pretraining (batched or not).
    gamma_ft : float
        Readout re-initialisation scale γ_FT ≥ 0.

    Returns
    -------
    DiagonalNetwork
        Same shape as ``state``. With w⁺ + w⁻ = 0 and γ_FT = 0 (λ_PT = −1) every parameter
        gradient vanishes: a saddle GD cannot leave (spec §2).

    Raises
    ------
    InvalidInputError
        ``state`` not a :class:`DiagonalNetwork`; γ_FT negative or not finite.
    """
    if not isinstance(state, DiagonalNetwork):
        raise InvalidInputError(f"state must be a DiagonalNetwork, got {type(state).__name__}")
    g = nonneg_float(gamma_ft, "gamma_ft")
    with np.errstate(over="ignore"):
        w = state.w_plus + state.w_minus
    v = np.full(state.shape, g / math.sqrt(2.0))
    if not np.all(np.isfinite(w)):
        raise InvalidInputError("state too large: w⁺ + w⁻ overflows float64")
    return DiagonalNetwork(w, w.copy(), v, v.copy())


# ---------------------------------------------------------------------------------------------
# Gradient descent (spec §1, §6)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class DiagonalGDResult(HasStatus):
    """Result of batched full-batch GD on a diagonal network (see the module docstring).

    Arrays have a leading seed axis of length S; when neither the network nor the data was
    batched the axis is dropped (numpy scalars, (d,) arrays).

    Attributes
    ----------
    network : DiagonalNetwork
        Final parameters.
    beta : ndarray, shape (S, d)
        Final β = w⁺v⁺ − w⁻v⁻.
    steps : ndarray of int, shape (S,)
        Accepted GD updates.
    backtracks : ndarray of int, shape (S,)
        Rejected steps (the loss increased or became non-finite: the seed's step multiplier was
        halved; it recovers by ×1.05 per accepted step).
    loss, initial_loss : ndarray, shape (S,)
        L = ‖Xβ − y‖²/(2n) at the end and at the start.
    converged : ndarray of bool, shape (S,)
        loss ≤ max(tol·initial_loss, atol) was reached within ``max_steps`` attempted steps.
    statuses : ndarray of str, shape (S,)
        ``converged`` or ``max_iterations`` per seed.
    drift_c : ndarray, shape (S,)
        max_i |c_i(T) − c_i(0)| / c_i(0) (absolute where c_i(0) = 0). GD multiplies c_i by
        (1 − η²g_i²) per step, so while η|g_i| < 1 (always when lr·rapidity < 1) this is also
        the maximum over the run. O(lr·rapidity).
    drift_lambda : ndarray, shape (S,)
        max_i max_± |λ^±_i(T) − λ^±_i(0)| / c_i(0) (normalised by c since λ may be 0;
        |λ^±| ≤ c when λ⁺ = λ⁻).
    lr, rapidity, tol, atol, max_steps :
        The settings used.
    info : SolverInfo
        The batch: worst status, most attempted steps, worst loss/threshold ratio as
        ``residual`` (≤ 1 when converged), ``tolerance`` = ``tol``; ``extra`` holds
        ``converged``/``seeds`` counts and ``critical_start`` (seeds started at a critical point
        — zero parameter gradient with a positive loss — that GD cannot leave).
    """

    network: DiagonalNetwork
    beta: FloatArray
    steps: IntArray
    backtracks: IntArray
    loss: FloatArray
    initial_loss: FloatArray
    converged: BoolArray
    statuses: NDArray[np.str_]
    drift_c: FloatArray
    drift_lambda: FloatArray
    lr: float
    rapidity: float
    tol: float
    atol: float
    max_steps: int
    info: SolverInfo

    @property
    def all_converged(self) -> bool:
        """True when every seed reached the loss threshold."""
        return bool(np.all(self.converged))


def _batch_inputs(
    network: DiagonalNetwork, X: ArrayLike, y: ArrayLike
) -> tuple[FloatArray, bool, FloatArray, tuple[FloatArray, ...], bool]:
    """Validate and broadcast (network, X, y) to a common seed axis S.

    Returns the designs as one (S, n, d) array (a read-only broadcast view of X when the design
    is shared), whether it is shared, y as (S, n), the four parameter arrays as (S, d) copies
    and whether the input was batched."""
    if not isinstance(network, DiagonalNetwork):
        raise InvalidInputError(f"network must be a DiagonalNetwork, got {type(network).__name__}")
    xa = as_float_array(X, "X")
    if xa.ndim not in (2, 3):
        raise InvalidInputError(f"X must have shape (n, d) or (S, n, d), got {xa.shape}")
    ya = as_float_array(y, "y")
    if ya.ndim not in (1, 2):
        raise InvalidInputError(f"y must have shape (n,) or (S, n), got {ya.shape}")
    d = network.dim
    if xa.shape[-1] != d:
        raise InvalidInputError(f"X must have {d} columns (the network's d), got {xa.shape}")
    n = xa.shape[-2]
    if ya.shape[-1] != n:
        raise InvalidInputError(f"y must have {n} entries (the rows of X), got {ya.shape}")
    sizes = {a.shape[0] for a, k in ((xa, 3), (ya, 2)) if a.ndim == k}
    if network.batched:
        sizes.add(network.shape[0])
    if len(sizes) > 1:
        raise InvalidInputError(
            f"batch sizes disagree: network {network.shape}, X {xa.shape}, y {ya.shape}"
        )
    batched = bool(sizes)
    s_ = sizes.pop() if sizes else 1
    shared = xa.ndim == 2
    x3 = np.broadcast_to(xa, (s_, n, d)) if shared else xa
    ys = np.array(np.broadcast_to(ya, (s_, n)), dtype=np.float64)
    params = tuple(
        np.array(np.broadcast_to(a, (s_, d)), dtype=np.float64)
        for a in (network.w_plus, network.w_minus, network.v_plus, network.v_minus)
    )
    return x3, shared, ys, params, batched


def _rowdot(a: FloatArray, b: FloatArray) -> FloatArray:
    """Row-wise dot products a[k]·b[k]. One stacked ``matmul`` that calls BLAS ``dot`` once per
    row (numpy's matmul loop), so a seed's numbers never depend on the other rows of the batch:
    batched runs equal separate runs bit for bit."""
    out = np.empty((a.shape[0], 1, 1))
    np.matmul(a[:, None, :], b[:, :, None], out=out)
    return out[:, 0, 0]


def _spectral_sq(x3: FloatArray, shared: bool) -> FloatArray:
    """‖X_s‖₂² per seed (one SVD when the design is shared)."""
    with np.errstate(over="ignore"):
        if shared:
            x = x3[0]
            return np.full(x3.shape[0], np.linalg.norm(x, 2) ** 2 if x.size else 0.0)
        return np.array([np.linalg.norm(x, 2) ** 2 for x in x3], dtype=np.float64)


@small_blas
def gradient_descent(
    network: DiagonalNetwork,
    X: ArrayLike,
    y: ArrayLike,
    *,
    lr: float = 1.0,
    rapidity: float = 0.01,
    tol: float = 1e-12,
    atol: float = 0.0,
    max_steps: int = 500_000,
    strict: bool = False,
) -> DiagonalGDResult:
    """Full-batch GD on L = ‖Xβ − y‖²/(2n) over all parameters (w^±, v^±), batched over seeds.

    Regime: any n, d; every seed runs its own GD (own design, labels, step, stopping time). The
    step is η = lr·m/K with the curvature scale K of the module docstring (re-estimated as the
    network grows) and a backtracking multiplier m. From a state with λ⁺ = λ⁻ and β(0) = 0 the
    limit approximates the implicit-bias solution of spec §2 with an error linear in lr (and
    decreasing with ``rapidity``); the invariants drift by O(lr) likewise. A seed stops at the first
    iterate with L ≤ max(tol·L(0), atol) (interpolation: n < d or noiseless labels); a noisy
    problem with n ≥ d cannot reach a relative tolerance (pass ``atol``).

    Parameters
    ----------
    network : DiagonalNetwork
        Starting point, shape (d,) (broadcast over the seeds of X, y) or (S, d).
    X : array_like, shape (n, d) or (S, n, d)
    y : array_like, shape (n,) or (S, n)
    lr : float
        Dimensionless step: a fraction of 1/K (the loss decreases for lr < 2; the spec's
        2 / 0.5 / 0.125 are read in these units).
    rapidity : float
        Weight ρ of the residual term max|g|/ρ in K: one step (at m = 1) turns a pathway's
        (w_i, v_i) by a hyperbolic angle η|g_i| ≤ lr·ρ. This angle, not the Gauss–Newton
        curvature, sets GD's deviation from gradient flow while the network escapes a small
        initialisation. ρ = 1 makes K the plain Hessian bound; the default 0.01 is 15–30× more
        accurate at the same lr for 1.2–1.3× the steps (module docstring).
    tol : float
        Relative loss tolerance (> 0); the spec's 1e-12 by default.
    atol : float
        Absolute loss tolerance (≥ 0).
    max_steps : int
        Budget of attempted steps (accepted + rejected) per seed.
    strict : bool
        Raise :class:`~finetune_bounds.errors.ConvergenceError` when some seed did not converge.

    Returns
    -------
    DiagonalGDResult

    Raises
    ------
    InvalidInputError
        Shapes that disagree, non-finite inputs, lr ≤ 0, rapidity ≤ 0, tol ≤ 0.
    ConvergenceError
        Only with ``strict=True``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((8, 20)) / np.sqrt(20); y = X[:, 0]
    >>> res = gradient_descent(pretraining_init(20, 1e-2, 0.0), X, y)
    >>> bool(res.converged) and float(res.loss) <= 1e-12 * float(res.initial_loss)
    True
    """
    x3, shared, ys, (wp, wm, vp, vm), batched = _batch_inputs(network, X, y)
    lr = nonneg_float(lr, "lr", positive=True)
    rho = nonneg_float(rapidity, "rapidity", positive=True)
    tol = nonneg_float(tol, "tol", positive=True)
    atol = nonneg_float(atol, "atol")
    max_steps = positive_int(max_steps, "max_steps", allow_zero=True, limit="steps")
    strict = flag(strict, "strict")
    s_, n = ys.shape

    c0 = wp * wm + vp * vm
    lam0 = (wp * wp - vp * vp, wm * wm - vm * vm)
    with np.errstate(all="ignore"):
        run = _Run(x3, shared, ys, wp, wm, vp, vm, _spectral_sq(x3, shared) / n, lr, 1.0 / rho)
        loss0 = run.loss.copy()
        thr = np.maximum(tol * loss0, atol)
        sig = wp * wp + vp * vp + wm * wm + vm * vm
        gsig = _rowdot(run.g * run.g, sig)
    if not (np.all(np.isfinite(loss0)) and np.all(np.isfinite(run.g))
            and np.all(np.isfinite(run.xn2)) and np.all(np.isfinite(gsig))):
        raise InvalidInputError(
            "the initial loss, gradient or curvature of gradient descent overflows float64:"
            f" X (max |X| = {float(np.max(np.abs(x3))):.3g}), y (max |y| ="
            f" {float(np.max(np.abs(ys))):.3g}) or the network are too large; rescale them"
        )
    critical = (gsig == 0.0) & (loss0 > thr)
    out = _Outcome(s_, wp, wm, vp, vm, loss0)
    active = np.flatnonzero((loss0 > thr) & ~critical & (max_steps > 0))
    if active.size:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            run.iterate(active, thr, max_steps, out)  # a diverging step is rejected inside
    owp, owm, ovp, ovm = out.w
    with np.errstate(all="ignore"):
        c_end = owp * owm + ovp * ovm
        den = np.where(c0 > 0, c0, 1.0)
        drift_c = np.max(np.abs(c_end - c0) / den, axis=1)
        drift_l = np.maximum(
            np.max(np.abs(owp * owp - ovp * ovp - lam0[0]) / den, axis=1),
            np.max(np.abs(owm * owm - ovm * ovm - lam0[1]) / den, axis=1),
        )
        beta_end = owp * ovp - owm * ovm
    finite_result("diagonal-network gradient descent", loss=out.loss, beta=beta_end,
                  drift_c=drift_c, drift_lambda=drift_l)
    conv = out.loss <= thr
    statuses = np.full(s_, SolverStatus.MAX_ITERATIONS.value, dtype=_STATUS_DTYPE)
    statuses[conv] = SolverStatus.CONVERGED.value
    status = SolverStatus.CONVERGED if np.all(conv) else SolverStatus.MAX_ITERATIONS
    ratio = np.where(thr > 0, out.loss / np.where(thr > 0, thr, 1.0), np.where(conv, 0.0, np.inf))
    info = SolverInfo(
        status,
        iterations=int(out.attempts.max(initial=0)),
        residual=float(np.max(ratio, initial=0.0)),
        tolerance=tol,
        extra={
            "converged": int(np.count_nonzero(conv)),
            "seeds": s_,
            "critical_start": int(np.count_nonzero(critical)),
        },
    )
    if strict and not info.converged:
        bad = np.flatnonzero(~conv)
        raise ConvergenceError(
            f"diagonal-network GD did not reach the loss tolerance (tol={tol:g}, atol={atol:g})"
            f" within {max_steps} steps for {bad.size} of {s_} seed(s) (worst loss/threshold"
            f" {np.max(ratio[bad]):.3g}; {int(np.count_nonzero(critical))} started at a critical"
            " point)"
        )

    def fin(a: Any) -> Any:
        a = np.asarray(a)
        if batched:
            return readonly(a)
        a0 = a[0, ...]
        return readonly(a0) if a0.ndim else a0[()]

    return DiagonalGDResult(
        network=DiagonalNetwork(fin(owp), fin(owm), fin(ovp), fin(ovm)),
        beta=fin(beta_end),
        steps=fin(out.steps),
        backtracks=fin(out.backtracks),
        loss=fin(out.loss),
        initial_loss=fin(loss0),
        converged=fin(conv),
        statuses=fin(statuses),
        drift_c=fin(drift_c),
        drift_lambda=fin(drift_l),
        lr=lr,
        rapidity=rho,
        tol=tol,
        atol=atol,
        max_steps=max_steps,
        info=info,
    )


class _Outcome:
    """Where finished seeds are written (indexed by the original seed number)."""

    def __init__(
        self, s_: int, wp: FloatArray, wm: FloatArray, vp: FloatArray, vm: FloatArray,
        loss: FloatArray,
    ) -> None:
        self.w = [wp.copy(), wm.copy(), vp.copy(), vm.copy()]
        self.loss = loss.copy()
        self.steps = np.zeros(s_, dtype=np.int64)
        self.backtracks = np.zeros(s_, dtype=np.int64)
        self.attempts = np.zeros(s_, dtype=np.int64)


#: steps between two power-iteration updates of the curvature estimate
_POWER_EVERY = 10
#: power iterations at the start (warm-started afterwards)
_POWER_START = 30
#: safety factor on the power-iteration estimate (it approaches λ_max from below)
_POWER_SAFETY = 1.1
#: growth of the backtracking multiplier per accepted step (back to 1 after a rejection)
_RECOVER = 1.05


class _Run:
    """State of the active seeds of one GD run (private; see :func:`gradient_descent`).

    Per step and seed: one Xβ (the trial residual) and one Xᵀr (the gradient at an accepted
    point), plus O(d) in-place arithmetic; every ``_POWER_EVERY`` steps one more pair for the
    power iteration. Parameters are double-buffered so that a rejected step keeps the old ones.

    Layout (for few numpy calls per step): the parameters are one (S, 2, 2, d) array ``p`` with
    p[:, 0] = (w⁺, v⁺) and p[:, 1] = (w⁻, v⁻), so the four updates w⁺ − ηg v⁺, v⁺ − ηg w⁺,
    w⁻ + ηg v⁻, v⁻ + ηg w⁻ are p − (±ηg)·p[:, :, ::-1] in two calls (a sign flip is exact: the
    same numbers as four separate updates); the designs are one (S, n, d) array (a broadcast
    view when shared) and every product is one stacked ``matmul``, which calls BLAS once per
    seed (batched runs equal separate runs bit for bit).
    """

    def __init__(
        self, x3: FloatArray, shared: bool, ys: FloatArray, wp: FloatArray, wm: FloatArray,
        vp: FloatArray, vm: FloatArray, xn2: FloatArray, lr: float, inv_rho: float,
    ) -> None:
        self.x3, self.shared, self.ys = x3, shared, ys
        s_, d = wp.shape
        self.inv_n = 1.0 / ys.shape[1]
        self.lr, self.inv_rho = lr, inv_rho
        self.p = np.empty((s_, 2, 2, d))
        for (i, j), a in zip(((0, 0), (1, 0), (0, 1), (1, 1)), (wp, wm, vp, vm), strict=True):
            self.p[:, i, j] = a
        self.xn2 = xn2
        beta = wp * vp - wm * vm
        self.r = np.empty_like(ys)
        np.matmul(x3, beta[:, :, None], out=self.r[:, :, None])
        self.r -= ys
        self.loss = 0.5 * self.inv_n * _rowdot(self.r, self.r)
        self.g = np.empty_like(wp)
        self._gradient()
        self.m = np.ones(s_)
        # power iteration for λ_max(X diag(Σ) Xᵀ) (warm vector u, Σ at the last estimate)
        self.u = np.where(np.any(self.r != 0, axis=1, keepdims=True), self.r, 1.0)
        self.u /= np.sqrt(_rowdot(self.u, self.u))[:, None]
        self.mu = np.zeros(s_)
        self.sig_e = np.empty_like(wp)
        # derived from the last estimate: safety·μ/n, Σ_e with its zeros replaced by 1 (and
        # where they are, or None)
        self.c1 = np.zeros(s_)
        self.sig_safe = np.ones_like(wp)
        self.sig_zero: BoolArray | None = None

    @property
    def params(self) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """(w⁺, w⁻, v⁺, v⁻), views of ``p``."""
        p = self.p
        return p[:, 0, 0], p[:, 1, 0], p[:, 0, 1], p[:, 1, 1]

    def _gradient(self) -> None:
        np.matmul(self.r[:, None, :], self.x3, out=self.g[:, None, :])
        self.g *= self.inv_n

    def _power(self, sig: FloatArray, iterations: int) -> None:
        z = np.empty_like(sig)
        un = np.empty_like(self.u)
        for _ in range(iterations):
            np.matmul(self.u[:, None, :], self.x3, out=z[:, None, :])
            z *= sig
            np.matmul(self.x3, z[:, :, None], out=un[:, :, None])
            mu = np.sqrt(_rowdot(un, un))
            ok = mu > 0
            if ok.all():
                np.divide(un, mu[:, None], out=self.u)
            else:
                self.u[ok] = un[ok] / mu[ok, None]
            self.mu = mu
        np.copyto(self.sig_e, sig)
        self.c1 = _POWER_SAFETY * self.mu * self.inv_n
        pos = self.sig_e > 0
        self.sig_safe = np.where(pos, self.sig_e, 1.0)
        self.sig_zero = None if pos.all() else ~pos

    def _keep(self, keep: BoolArray) -> None:
        s_ = int(np.count_nonzero(keep))
        self.x3 = (np.broadcast_to(self.x3[0], (s_, *self.x3.shape[1:])) if self.shared
                   else self.x3[keep])
        for name in ("ys", "p", "xn2", "r", "loss", "g", "m", "u", "mu", "sig_e", "c1",
                     "sig_safe"):
            setattr(self, name, getattr(self, name)[keep])
        if self.sig_zero is not None:
            self.sig_zero = self.sig_zero[keep]

    def iterate(self, active: IntArray, thr_all: FloatArray, max_steps: int,
                out: _Outcome) -> None:
        """Run the active seeds until each meets its threshold or the budget (in place).

        Every active seed attempts every step, so its accepted steps are ``it`` − its rejected
        ones. The loop body is a fixed sequence of numpy calls on preallocated buffers and
        views (made once per set of active seeds, one set per double buffer)."""
        if active.size < self.r.shape[0]:
            self._keep(np.isin(np.arange(self.r.shape[0]), active))
        thr = thr_all[active]
        n_bad = np.zeros(active.size, dtype=np.int64)
        half_inv_n, inv_n = 0.5 * self.inv_n, self.inv_n
        lr, inv_rho = self.lr, self.inv_rho
        it = 0
        while True:
            x3, ys, g = self.x3, self.ys, self.g
            s_, d = g.shape
            # double buffers: (parameters, residual) of the current point and of the trial
            bufs = [(self.p, self.r), (np.empty_like(self.p), np.empty_like(self.r))]
            views = [(p, r, p.reshape(s_, 4, d), p[:, :, ::-1], p[:, :, 0], p[:, :, 1],
                      r[:, :, None], r[:, None, :]) for p, r in bufs]
            sig, t1, nb = (np.empty_like(g) for _ in range(3))
            sq = np.empty((s_, 4, d))
            eg, prod = np.empty((s_, 2, d)), np.empty((s_, 2, d))
            eg0, eg1, eg4 = eg[:, 0], eg[:, 1], eg[:, :, None, :]
            prod0, prod1, nb3, g3 = prod[:, 0], prod[:, 1], nb[:, :, None], g[:, None, :]
            nl = np.empty((s_, 1, 1))
            nl0 = nl[:, 0, 0]
            m_one = bool(np.all(self.m >= 1.0))  # the multiplier is 1 for every seed
            cur = 0
            while True:
                p, r, p4, _, _, _, _, _ = views[cur]
                q, nr, _, _, q0, q1, nr_col, nr_row = views[1 - cur]
                # Σ = (w⁺)² + (v⁺)² + (w⁻)² + (v⁻)² (summed in this order)
                np.square(p4, out=sq)
                np.add.reduce(sq, axis=1, out=sig)
                if it % _POWER_EVERY == 0:  # same schedule for every seed (batch = separate)
                    self._power(sig, _POWER_START if it == 0 else 1)
                # K = GN curvature (estimate scaled by the growth of Σ since, capped by the
                # bound ‖X‖²·max Σ) + residual term max|g|/ρ
                growth = np.divide(sig, self.sig_safe, out=t1)
                if self.sig_zero is not None:
                    growth[self.sig_zero] = 1.0
                k_gn = np.minimum(self.c1 * np.maximum.reduce(growth, axis=1),
                                  self.xn2 * np.maximum.reduce(sig, axis=1))
                curv = k_gn + np.maximum.reduce(np.abs(g, out=t1), axis=1) * inv_rho
                pos = curv > 0
                eta = np.divide(lr if m_one else lr * self.m,
                                curv if np.count_nonzero(pos) == s_ else np.where(pos, curv, 1.0))
                # eg = (ηg, −ηg) (negation is exact); q = p − eg·(v⁺, w⁺ | v⁻, w⁻)
                np.multiply(g, eta[:, None], out=eg0)
                np.negative(eg0, out=eg1)
                np.multiply(views[cur][3], eg4, out=q)
                np.subtract(p, q, out=q)
                np.multiply(q0, q1, out=prod)  # (w⁺v⁺, w⁻v⁻)
                np.subtract(prod0, prod1, out=nb)
                np.matmul(x3, nb3, out=nr_col)
                nr -= ys
                np.matmul(nr_row, nr_col, out=nl)
                nloss = nl0 * half_inv_n
                ok = nloss <= self.loss  # False for NaN
                it += 1
                if np.count_nonzero(ok) < s_:
                    bad = ~ok
                    q[bad] = p[bad]
                    nr[bad] = r[bad]
                    nloss[bad] = self.loss[bad]
                    n_bad += bad
                    self.m = np.where(ok, np.minimum(1.0, self.m * _RECOVER), 0.5 * self.m)
                    m_one = False
                elif not m_one:
                    self.m = np.minimum(1.0, self.m * _RECOVER)
                    m_one = bool(np.all(self.m >= 1.0))
                cur = 1 - cur
                self.loss = nloss
                done = nloss <= thr
                if it >= max_steps:
                    done[:] = True
                np.matmul(nr_row, x3, out=g3)  # the gradient at the new point
                g *= inv_n
                if np.count_nonzero(done):
                    break
            self.p, self.r = bufs[cur]
            idx = active[done]
            for o, a in zip(out.w, self.params, strict=True):
                o[idx] = a[done]
            out.loss[idx] = self.loss[done]
            out.steps[idx] = it - n_bad[done]
            out.backtracks[idx] = n_bad[done]
            out.attempts[idx] = it
            keep = ~done
            if not np.any(keep):
                return
            active, thr, n_bad = active[keep], thr[keep], n_bad[keep]
            self._keep(keep)


# ---------------------------------------------------------------------------------------------
# Teachers and data (spec §1)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Teachers:
    """A pretraining and a fine-tuning teacher with their coordinate groups (spec §1).

    Attributes
    ----------
    beta_pt, beta_ft : ndarray, shape (d,)
        β*_PT and β*_FT.
    groups : ndarray of int8, shape (d,)
        Coordinate group: 0 none, 1 overlap (S_PT ∩ S_FT), 2 new (S_FT only), 3 PT-only
        (see ``GROUP_NAMES``).
    counts : dict
        Number of coordinates per group name.
    """

    beta_pt: FloatArray
    beta_ft: FloatArray
    groups: NDArray[np.int8]
    counts: dict[str, int] = field(default_factory=dict)


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


def sample_teachers(
    d: int,
    *,
    omega: float,
    rho_pt: float,
    rho_ft: float,
    a_pt: float = 1.0,
    pt_amplitude: Literal["constant", "gaussian"] = "constant",
    rng: RngLike = None,
) -> Teachers:
    """Draw β*_PT and β*_FT with the four coordinate groups of spec §1.

    Counts (rounded half up, exact — not Bernoulli): k_FT = round(ρ_FT·d), overlap
    k_ov = round(ω·k_FT), new k_new = k_FT − k_ov, k_PT = round(ρ_PT·d), PT-only k_PT − k_ov, none
    the rest. Where rounding alone breaks feasibility the overlap is capped at k_PT and the new
    group at d − k_PT. The groups are placed by one random permutation of the coordinates.
    FT nonzeros are N(0, 1/ρ_FT) (E[β*_FT,i²] ≈ 1); PT nonzeros have magnitude a_PT with random
    signs (``pt_amplitude="constant"``, the convention of the theory: the only one of four that
    reproduces the spec's reference table, see :mod:`finetune_bounds.diagonal._fixed_point`) or
    are N(0, a_PT²) (``"gaussian"``). FT values are independent of the PT values on the
    overlap.

    Parameters
    ----------
    d : int
        Dimension (≥ 1).
    omega : float
        Overlap ω = |S_PT ∩ S_FT|/|S_FT| ∈ [0, 1].
    rho_pt, rho_ft : float
        Sparsities in (0, 1]; feasibility ωρ_FT ≤ ρ_PT and ρ_PT + (1 − ω)ρ_FT ≤ 1.
    a_pt : float
        PT amplitude (≥ 0).
    pt_amplitude : {"constant", "gaussian"}
        Magnitude convention of the PT nonzeros (see above).
    rng : Generator, int or None
        Randomness (None: seed 0). Draw order: permutation, FT values, PT values (signs).

    Returns
    -------
    Teachers

    Raises
    ------
    InvalidInputError
        Out-of-range or infeasible parameters; ρ·d rounding to no nonzero coordinate.
    """
    d = positive_int(d, "d", limit="d")
    om, rp, rf = check_task(omega, rho_pt, rho_ft)
    a = nonneg_float(a_pt, "a_pt")
    check_choice(pt_amplitude, "pt_amplitude", ("constant", "gaussian"))
    k_ft, k_pt = _round_half_up(rf * d), _round_half_up(rp * d)
    if k_ft < 1 or k_pt < 1:
        raise InvalidInputError(
            f"rho·d rounds to no nonzero coordinate (d = {d}, rho_pt = {rp}, rho_ft = {rf})"
        )
    k_ov = min(_round_half_up(om * k_ft), k_pt)
    k_new = min(k_ft - k_ov, d - k_pt)
    k_pto = k_pt - k_ov
    gen = as_generator(rng)
    perm = gen.permutation(d)
    ov, pto = perm[:k_ov], perm[k_ov:k_ov + k_pto]
    new = perm[k_pt:k_pt + k_new]
    groups = np.zeros(d, dtype=np.int8)
    groups[ov], groups[new], groups[pto] = GROUP_OVERLAP, GROUP_NEW, GROUP_PT_ONLY
    ft_idx = np.concatenate([ov, new])
    pt_idx = np.concatenate([ov, pto])
    beta_ft = np.zeros(d)
    beta_ft[ft_idx] = gen.standard_normal(ft_idx.size) / math.sqrt(rf)
    beta_pt = np.zeros(d)
    amp = a
    if pt_amplitude == "constant":
        beta_pt[pt_idx] = amp * np.where(gen.random(pt_idx.size) < 0.5, -1.0, 1.0)
    else:
        beta_pt[pt_idx] = amp * gen.standard_normal(pt_idx.size)
    counts = {GROUP_NAMES[k]: int(np.count_nonzero(groups == k)) for k in GROUP_NAMES}
    return Teachers(readonly(beta_pt), readonly(beta_ft), _readonly_int(groups), counts)


def _readonly_int(a: NDArray[np.int8]) -> NDArray[np.int8]:
    """Mark an int array read-only (private helper)."""
    a.setflags(write=False)
    return a


def sample_design(n: int, d: int, rng: RngLike = None) -> FloatArray:
    """A design X of shape (n, d) with i.i.d. N(0, 1/d) entries (spec §1; E‖x‖² = 1).

    Raises
    ------
    InvalidInputError
        n or d not a positive integer; a bad seed.
    """
    n = positive_int(n, "n", limit="n")
    d = positive_int(d, "d", limit="d")
    limits.check_elements(n, d, name="the design X (n × d)")
    return np.asarray(as_generator(rng).standard_normal((n, d)) / math.sqrt(d))


def sample_labels(
    X: ArrayLike, beta_star: ArrayLike, *, noise_variance: float = 0.0, rng: RngLike = None
) -> FloatArray:
    """Labels y = Xβ* + σξ, ξ ~ N(0, I_n), σ² = ``noise_variance`` (spec §1).

    No random numbers are drawn when σ = 0. X may be (n, d) or (S, n, d) with β* (d,) or (S, d).
    """
    xa = as_float_array(X, "X")
    b = as_float_array(beta_star, "beta_star")
    if xa.ndim not in (2, 3) or b.ndim not in (1, 2) or xa.shape[-1] != b.shape[-1]:
        raise InvalidInputError(
            f"X (n, d) or (S, n, d) and beta_star (d,) or (S, d) must agree, got {xa.shape},"
            f" {b.shape}"
        )
    y = np.matmul(xa, b[..., None])[..., 0]
    var = nonneg_float(noise_variance, "noise_variance")
    if var > 0:
        y = y + math.sqrt(var) * as_generator(rng).standard_normal(y.shape)
    return np.asarray(y)


def empirical_error(beta_hat: ArrayLike, beta_star: ArrayLike) -> Any:
    """(1/d)‖β̂ − β*‖² along the last axis (spec §1; the noiseless test MSE for X_ij ~ N(0, 1/d)).

    Returns a float for vectors and an array over leading axes otherwise.
    """
    bh = as_float_array(beta_hat, "beta_hat")
    bs = as_float_array(beta_star, "beta_star")
    if bh.shape[-1] != bs.shape[-1]:
        raise InvalidInputError(f"beta_hat {bh.shape} and beta_star {bs.shape} must agree")
    e = np.mean((bh - bs) ** 2, axis=-1)
    return float(e) if np.ndim(e) == 0 else np.asarray(e)


# ---------------------------------------------------------------------------------------------
# Experiments (spec §5)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class SimulationResult(HasStatus):
    """Per-seed generalisation errors of GD on one setting, with GD diagnostics (spec §5).

    Attributes
    ----------
    kind : {"finetune", "scratch"}
    alpha : float
    n, d : int
        n = round(α d) training samples.
    seeds : tuple of int
        The seeds (seed s draws from ``numpy.random.default_rng(s)``).
    errors : ndarray, shape (S,)
        (1/d)‖β̂ − β*_FT‖² per seed.
    mean_error, stderr_error : float
        Their mean and standard error (std(ddof=1)/√S; inf for one seed).
    beta_hat, beta_star, beta_pt : ndarray, shape (S, d)
        GD's predictor, the target teacher and the pretraining teacher (the pretrained β).
    c : ndarray, shape (S, d)
        The conserved c_i of the network GD starts from (c_FT for fine-tuning, c_PT from
        scratch): the scale of the implicit bias (spec §2).
    gd : DiagonalGDResult
        The training run (steps, loss, converged, drift_c, drift_lambda, …).
    X, y : ndarray or None
        Training data, (S, n, d) and (S, n), when ``keep_data`` was set.
    params : dict
        The settings.
    info : SolverInfo
        ``gd.info``.
    """

    kind: str
    alpha: float
    n: int
    d: int
    seeds: tuple[int, ...]
    errors: FloatArray
    mean_error: float
    stderr_error: float
    beta_hat: FloatArray
    beta_star: FloatArray
    beta_pt: FloatArray
    c: FloatArray
    gd: DiagonalGDResult
    X: FloatArray | None
    y: FloatArray | None
    params: dict[str, Any]
    info: SolverInfo

    @property
    def converged(self) -> BoolArray:
        """Per-seed convergence of GD."""
        return np.asarray(self.gd.converged)

    @property
    def steps(self) -> IntArray:
        """Per-seed accepted GD steps."""
        return np.asarray(self.gd.steps)

    def records(self) -> list[dict[str, Any]]:
        """One tidy row per seed: the settings, ``seed``, ``error``, ``steps``, ``converged``,
        ``train_loss``, ``drift_c``, ``drift_lambda``, ``backtracks``."""
        rows = []
        for i, s in enumerate(self.seeds):
            rows.append({
                **self.params, "kind": self.kind, "n": self.n, "seed": s,
                "error": float(self.errors[i]), "steps": int(self.gd.steps[i]),
                "converged": bool(self.gd.converged[i]), "train_loss": float(self.gd.loss[i]),
                "drift_c": float(self.gd.drift_c[i]),
                "drift_lambda": float(self.gd.drift_lambda[i]),
                "backtracks": int(self.gd.backtracks[i]),
            })
        return rows


def _draw_all(
    seeds: tuple[int, ...], n: int, d: int, teacher_kw: dict[str, Any], noise_variance: float
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Per seed s (generator default_rng(s)): teachers, then X, then the label noise."""
    bpt, bft, xs, ys = [], [], [], []
    for s in seeds:
        gen = np.random.default_rng(s)
        t = sample_teachers(d, rng=gen, **teacher_kw)
        x = sample_design(n, d, gen)
        bpt.append(t.beta_pt)
        bft.append(t.beta_ft)
        xs.append(x)
        ys.append(sample_labels(x, t.beta_ft, noise_variance=noise_variance, rng=gen))
    return np.stack(bpt), np.stack(bft), np.stack(xs), np.stack(ys)


def _gd_settings(
    lr: float, rapidity: float, tol: float, max_steps: int, strict: bool
) -> dict[str, Any]:
    """Validated keyword arguments of :func:`gradient_descent`."""
    return {
        "lr": nonneg_float(lr, "lr", positive=True),
        "rapidity": nonneg_float(rapidity, "rapidity", positive=True),
        "tol": nonneg_float(tol, "tol", positive=True),
        "max_steps": positive_int(max_steps, "max_steps", allow_zero=True, limit="steps"),
        "strict": flag(strict, "strict"),
    }


def _sample_size(alpha: float, d: int) -> tuple[float, int, int]:
    a = nonneg_float(alpha, "alpha", positive=True)
    d = positive_int(d, "d", limit="d")
    limits.check(a * d, "n", "n = round(alpha·d)")
    n = _round_half_up(a * d)
    if n < 1:
        raise InvalidInputError(f"alpha·d = {a * d:g} rounds to n = 0 training samples")
    return a, d, n


def _run(
    kind: str,
    start: DiagonalNetwork,
    a: float,
    n: int,
    d: int,
    seeds: tuple[int, ...],
    draws: tuple[FloatArray, FloatArray, FloatArray, FloatArray],
    params: dict[str, Any],
    gd_kw: dict[str, Any],
    keep_data: bool,
) -> SimulationResult:
    bpt, bft, x, y = draws
    gd = gradient_descent(start, x, y, **gd_kw)
    errors = np.mean((gd.beta - bft) ** 2, axis=1)
    return SimulationResult(
        kind=kind, alpha=a, n=n, d=d, seeds=seeds,
        errors=readonly(errors), mean_error=float(np.mean(errors)),
        stderr_error=float(stderr(errors)),
        beta_hat=gd.beta, beta_star=readonly(bft), beta_pt=readonly(bpt),
        c=readonly(start.c), gd=gd,
        X=readonly(x) if keep_data else None, y=readonly(y) if keep_data else None,
        params=params, info=gd.info,
    )


@small_blas
def simulate_finetuning(
    alpha: float,
    *,
    d: int,
    omega: float,
    lambda_pt: float,
    gamma_ft: float,
    c_pt: float = 1e-3,
    rho_pt: float = 0.1,
    rho_ft: float = 0.1,
    a_pt: float = 1.0,
    pt_amplitude: Literal["constant", "gaussian"] = "constant",
    noise_variance: float = 0.0,
    seeds: int | Sequence[int] = 5,
    lr: float = 1.0,
    rapidity: float = 0.01,
    tol: float = 1e-12,
    max_steps: int = 500_000,
    keep_data: bool = False,
    strict: bool = False,
) -> SimulationResult:
    """Perfect pretraining, fine-tuning re-init, GD on n = round(αd) fresh samples (spec §1, §5).

    For each seed s (generator ``default_rng(s)``): draw the teachers
    (:func:`sample_teachers`), the design X (n × d, N(0, 1/d)) and labels y = Xβ*_FT + σξ; set the
    network to :func:`pretrained_state` (β*_PT, c_PT, λ_PT) — pretraining is perfect — then
    :func:`finetune_init` (γ_FT), and train every parameter by :func:`gradient_descent` until the
    training loss is ≤ tol × its initial value. All seeds train in one batch.

    Parameters
    ----------
    alpha : float
        α = n/d > 0.
    d : int
        Dimension.
    omega, rho_pt, rho_ft, a_pt, pt_amplitude :
        Teachers (see :func:`sample_teachers`).
    lambda_pt : float
        Normalised λ_PT ∈ [−1, 1]; λ_PT = −1 with γ_FT = 0 is rejected (c_FT = 0: a saddle).
    gamma_ft : float
        Readout re-init scale γ_FT ≥ 0.
    c_pt : float
        c_PT > 0.
    noise_variance : float
        σ² ≥ 0 of the label noise (with n ≥ d and σ > 0 the loss cannot reach ``tol``).
    seeds : int or sequence of int
        A count k (seeds 0 … k−1) or the seeds themselves; a seed's draws do not depend on the
        other seeds, so a batch equals its seeds run one by one.
    lr, rapidity, tol, max_steps, strict :
        GD settings (see :func:`gradient_descent` and the module docstring: ``lr`` is a
        dimensionless fraction of 1/curvature; the defaults put GD within ≈ 5e-4 (relative) of
        the implicit-bias solution at d = 300 and stop at a training loss of 1e-12 × its start).
    keep_data : bool
        Keep X and y in the result (e.g. to compare with the implicit-bias solver on the same
        data: the solver takes X, y and ``result.c``).

    Returns
    -------
    SimulationResult

    Raises
    ------
    InvalidInputError
        Any invalid input (NaN, α ≤ 0, d < 1, λ_PT ∉ [−1, 1], c_PT ≤ 0, infeasible teachers…).
    ConvergenceError
        Only with ``strict=True``.

    Examples
    --------
    >>> res = simulate_finetuning(0.5, d=40, omega=1.0, lambda_pt=0.0, gamma_ft=0.0,
    ...                           c_pt=1e-2, seeds=2, lr=1.0)
    >>> res.errors.shape
    (2,)
    """
    a, d, n = _sample_size(alpha, d)
    c, lam, gam = check_scales(c_pt, lambda_pt, gamma_ft)
    if lam == -1.0 and gam == 0.0:
        raise InvalidInputError(
            "lambda_pt = -1 with gamma_ft = 0 gives c_FT = 0, a saddle GD cannot leave; use e.g."
            " lambda_pt = -0.999999, gamma_ft = 1e-6"
        )
    var = nonneg_float(noise_variance, "noise_variance")
    seed_t = seeds_checked(seeds)
    limits.check_elements(len(seed_t), n, d, name="the designs (seeds × n × d)")
    gd_kw = _gd_settings(lr, rapidity, tol, max_steps, strict)
    keep = flag(keep_data, "keep_data")
    teacher_kw: dict[str, Any] = {"omega": omega, "rho_pt": rho_pt, "rho_ft": rho_ft, "a_pt": a_pt,
                  "pt_amplitude": pt_amplitude}
    sample_teachers(d, rng=0, **teacher_kw)  # validate before any training work
    draws = _draw_all(seed_t, n, d, teacher_kw, var)
    start = finetune_init(pretrained_state(draws[0], c, lam), gam)
    params = {"alpha": a, "d": d, "omega": float(omega), "lambda_pt": lam, "gamma_ft": gam,
              "c_pt": c, "rho_pt": float(rho_pt), "rho_ft": float(rho_ft), "a_pt": float(a_pt),
              "pt_amplitude": pt_amplitude, "noise_variance": var, "lr": gd_kw["lr"],
              "rapidity": gd_kw["rapidity"], "tol": gd_kw["tol"]}
    return _run("finetune", start, a, n, d, seed_t, draws, params, gd_kw, keep)


@small_blas
def simulate_scratch(
    alpha: float,
    *,
    d: int,
    lambda_pt: float,
    c_pt: float = 1e-3,
    omega: float = 0.0,
    rho_pt: float = 0.1,
    rho_ft: float = 0.1,
    a_pt: float = 1.0,
    pt_amplitude: Literal["constant", "gaussian"] = "constant",
    noise_variance: float = 0.0,
    seeds: int | Sequence[int] = 5,
    lr: float = 1.0,
    rapidity: float = 0.01,
    tol: float = 1e-12,
    max_steps: int = 500_000,
    keep_data: bool = False,
    strict: bool = False,
) -> SimulationResult:
    """GD from :func:`pretraining_init` (c_PT, λ_PT) directly on the fine-tuning task (spec §2, §5).

    The single-task baseline: the implicit bias depends on c_PT only, so the result does not
    depend on λ_PT up to GD's O(lr) deviation from gradient flow (spec §2, a test). The draws
    (teachers, X, y) are those of :func:`simulate_finetuning` with the same seeds and teacher
    settings, so the two are paired; ``beta_pt`` is reported but not used.

    Parameters
    ----------
    See :func:`simulate_finetuning` (there is no γ_FT; λ_PT = −1 is allowed, c = c_PT > 0).

    Returns
    -------
    SimulationResult
        ``kind = "scratch"``, ``c`` = c_PT everywhere.

    Raises
    ------
    InvalidInputError
        Any invalid input.
    ConvergenceError
        Only with ``strict=True``.
    """
    a, d, n = _sample_size(alpha, d)
    c, lam, _ = check_scales(c_pt, lambda_pt, 0.0)
    var = nonneg_float(noise_variance, "noise_variance")
    seed_t = seeds_checked(seeds)
    limits.check_elements(len(seed_t), n, d, name="the designs (seeds × n × d)")
    gd_kw = _gd_settings(lr, rapidity, tol, max_steps, strict)
    keep = flag(keep_data, "keep_data")
    teacher_kw: dict[str, Any] = {"omega": omega, "rho_pt": rho_pt, "rho_ft": rho_ft, "a_pt": a_pt,
                  "pt_amplitude": pt_amplitude}
    sample_teachers(d, rng=0, **teacher_kw)
    draws = _draw_all(seed_t, n, d, teacher_kw, var)
    init = pretraining_init(d, c, lam)
    start = DiagonalNetwork(
        *(np.broadcast_to(a_, (len(seed_t), d))
          for a_ in (init.w_plus, init.w_minus, init.v_plus, init.v_minus))
    )
    params = {"alpha": a, "d": d, "omega": float(omega), "lambda_pt": lam, "c_pt": c,
              "rho_pt": float(rho_pt), "rho_ft": float(rho_ft), "a_pt": float(a_pt),
              "pt_amplitude": pt_amplitude, "noise_variance": var, "lr": gd_kw["lr"],
              "rapidity": gd_kw["rapidity"], "tol": gd_kw["tol"]}
    return _run("scratch", start, a, n, d, seed_t, draws, params, gd_kw, keep)
