"""Closed forms, deterministic equivalents and bounds for fine-tuning linear regression.

Spec: ``linear-teachers.md`` §2 (regime: gradient descent/flow on the target squared loss started
at θ_S, run to convergence; Gaussian designs x ~ N(0, Σ) for the expectations).

Every route works in the eigenbasis of Σ (rotation invariance), so Σ is eigendecomposed once, in
:class:`~finetune_bounds.Covariance`, and each n then costs O(d) for the deterministic equivalent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._numerics import (
    Solved,
    SolverInfo,
    SolverStatus,
    check_converged,
    power_law_spectrum,
    rank_mask,
    stderr,
)
from .._validation import (
    FloatArray,
    as_float_array,
    as_generator,
    as_vector,
    check_choice,
    nonneg_float,
    optional_mapping,
    positive_int,
)
from ..errors import InvalidInputError, NotReachableError
from ..problems import Covariance, LinearTask, check_linear_task
from ..threads import small_blas
from ._accuracy import EXACT, Accuracy, de_relative_error, sampling_accuracy

__all__ = [
    "BoundResult",
    "KappaSolution",
    "RiskResult",
    "SampleComplexity",
    "SampleRisk",
    "benign_bound",
    "bounds",
    "expected_risk",
    "finetuned_predictor",
    "head_tail_bound",
    "measure_correlation_study",
    "naive_bound",
    "random_task",
    "risk_curve",
    "row_space_projector",
    "sample_complexity",
    "sample_risk",
    "solve_kappa",
]

Method = Literal["auto", "deterministic", "isotropic", "monte_carlo", "weights"]
METHODS: tuple[str, ...] = ("auto", "deterministic", "isotropic", "monte_carlo", "weights")
#: the relative accuracy ``method="auto"`` asks for when ``rel_tol`` is not given
AUTO_REL_TOL = 0.01


# ---------------------------------------------------------------------------------------------
# §2.1–2.2: one sample set
# ---------------------------------------------------------------------------------------------
def row_space_projector(x: ArrayLike, *, rtol: float | None = None) -> FloatArray:
    """P_X = X⁺X, the orthogonal projector on the row space of X, from an SVD with a rank
    tolerance (spec §6; never through (XXᵀ)⁻¹). An empty design (shape (0, d)) gives 0."""
    xa = as_float_array(x, "X", ndim=2, allow_empty=True)
    if xa.shape[1] == 0:
        raise InvalidInputError(f"X must have at least one column, got shape {xa.shape}")
    if rtol is not None:
        rtol = nonneg_float(rtol, "rtol")
    _, s, vt = np.linalg.svd(xa, full_matrices=False)
    keep = rank_mask(s, xa.shape, rtol)
    v = vt[keep]
    return np.asarray(v.T @ v)


def finetuned_predictor(
    x: ArrayLike, y: ArrayLike, source: ArrayLike, *, rtol: float | None = None
) -> FloatArray:
    """The limit of gradient descent on ½‖Xw − y‖² started at θ_S (spec §2.1).

    θ̂ = θ_S + X⁺(y − Xθ_S): the interpolant (or least-squares solution when n > d) closest to
    θ_S. Noiseless labels give θ̂ = P_Xθ_T + P_⊥θ_S. GD with any stable step (η < 2/λ_max(XᵀX)
    for the sum loss) from θ_S never leaves θ_S + rowspace(X), and the only stationary point
    there is this one.

    Parameters
    ----------
    x : array_like, shape (n, d)
        Design, one sample per row (n = 0 allowed: θ̂ = θ_S).
    y : array_like, shape (n,)
    source : array_like, shape (d,)
    rtol : float, optional
        Relative singular-value cut-off for the pseudo-inverse (default: numpy's
        ``max(n, d)·eps``).

    Returns
    -------
    ndarray, shape (d,)

    Raises
    ------
    InvalidInputError
        Shapes that do not match, non-finite entries.
    """
    xa = as_float_array(x, "X", ndim=2, allow_empty=True)
    n, d = xa.shape
    th = as_vector(source, "source", d)
    if n == 0:
        if np.size(y) != 0:
            raise InvalidInputError(f"y must have length 0 for an empty design, got {np.size(y)}")
        return th
    ya = as_vector(y, "y", n)
    if rtol is not None:
        rtol = nonneg_float(rtol, "rtol")
    u, s, vt = np.linalg.svd(xa, full_matrices=False)
    keep = rank_mask(s, xa.shape, rtol)
    resid = ya - xa @ th
    coef = (u[:, keep].T @ resid) / s[keep]
    return np.asarray(th + vt[keep].T @ coef)


@dataclass(frozen=True)
class SampleRisk:
    """Exact risk of the fine-tuned predictor for one design X (spec §2.2).

    Attributes
    ----------
    risk : float
        bias + variance (expectation over label noise only).
    bias : float
        The sample-level similarity measure ‖Σ^{1/2}P_⊥Δ‖².
    variance : float
        σ² tr(X⁺ᵀΣX⁺).
    zero_shot : float
        ΔᵀΣΔ, the risk of using θ_S unchanged.
    from_scratch : float
        Risk of the same procedure started at 0 (bias ‖Σ^{1/2}P_⊥θ_T‖² plus the same variance).
    naive_bound : float
        λ_max(Σ)‖Δ‖², an upper bound on the bias.
    rank : int
        rank of X.
    """

    risk: float
    bias: float
    variance: float
    zero_shot: float
    from_scratch: float
    naive_bound: float
    rank: int


def _bias_variance_batch(
    lam: FloatArray, vecs: FloatArray, xe: FloatArray, rtol: float | None = None
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Batched §2.2 in the eigenbasis.

    ``xe`` has shape (B, n, d) (designs in Σ's eigenbasis), ``vecs`` shape (m, d) (vectors whose
    ‖Σ^{1/2}P_⊥v‖² are wanted). Returns (biases (B, m), tr(X⁺ᵀΣX⁺) (B,), ranks (B,)).
    """
    _, s, vt = np.linalg.svd(xe, full_matrices=False)
    keep = rank_mask(s, xe.shape, rtol)  # (B, k)
    vt = vt * keep[..., None]
    proj = np.einsum("bkd,md->bkm", vt, vecs)  # V_r v
    perp = vecs[None, :, :] - np.einsum("bkd,bkm->bmd", vt, proj)  # P_⊥ v, (B, m, d)
    bias = np.einsum("bmd,d->bm", perp * perp, lam)
    with np.errstate(divide="ignore"):
        inv_s2 = np.where(keep, 1.0 / np.where(keep, s, 1.0) ** 2, 0.0)
    quad = np.einsum("bkd,d->bk", vt * vt, lam)  # v_kᵀΣv_k
    trace = np.sum(inv_s2 * quad, axis=-1)
    return bias, trace, np.sum(keep, axis=-1)


def sample_risk(task: LinearTask, x: ArrayLike, *, rtol: float | None = None) -> SampleRisk:
    """Exact risk of fine-tuning on the design ``x`` (rows are samples), spec §2.2.

    Regime: gradient descent/flow to convergence from θ_S (:func:`finetuned_predictor`);
    expectation over the label noise only, the design is fixed. Computed in Σ's eigenbasis
    from one SVD of X (rank tolerance ``rtol`` relative to the largest singular value).

    Parameters
    ----------
    task : LinearTask
    x : array_like, shape (n, d)
        The design, one sample per row (n = 0 allowed: the zero-shot risk).
    rtol : float, optional
        Relative singular-value cut-off (default ``max(n, d)·eps``).

    Returns
    -------
    SampleRisk

    Raises
    ------
    InvalidInputError
        X is not a finite (n, d) matrix.
    """
    _check_task(task)
    xa = as_float_array(x, "X", ndim=2, allow_empty=True)
    if xa.shape[1] != task.dim:
        raise InvalidInputError(f"X must have {task.dim} columns, got shape {xa.shape}")
    if rtol is not None:
        rtol = nonneg_float(rtol, "rtol")
    cov = task.covariance
    lam = cov.eigenvalues
    xe = cov.to_eigenbasis(xa)[None]
    vecs = np.stack([task.delta_eig, task.target_eig])
    bias, tr, rank = _bias_variance_batch(lam, vecs, xe, rtol)
    variance = task.noise_variance * float(tr[0]) if task.noise_variance > 0 else 0.0
    b, b_scratch = float(bias[0, 0]), float(bias[0, 1])
    return SampleRisk(
        risk=b + variance,
        bias=b,
        variance=variance,
        zero_shot=float(np.sum(lam * task.delta_eig**2)),
        from_scratch=b_scratch + variance,
        naive_bound=cov.operator_norm * float(task.delta @ task.delta),
        rank=int(rank[0]),
    )


# ---------------------------------------------------------------------------------------------
# §2.3: expected risk
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class KappaSolution(Solved):
    """Root κ of Σ_i λ_i/(λ_i + κ) = n with γ = (1/n) Σ_i λ_i²/(λ_i + κ)² (spec §2.3).

    Arrays have the shape of the ``n`` passed in.

    Attributes
    ----------
    kappa, gamma : ndarray
    iterations : int
        Safeguarded Newton steps in log κ (the most any n needed).
    residual : ndarray
        Relative residual |Σλ/(λ+κ) − n| / n.
    info : SolverInfo
        The solve as a whole: ``status`` is ``converged`` when every n met the stopping rule,
        otherwise the worst of ``not_finite`` > ``bracket_lost`` > ``max_iterations``;
        ``residual`` = the largest relative residual, ``tolerance`` = ``xtol``, ``extra`` =
        ``f_tolerance`` (4·eps), ``bracket_width`` (largest final relative width of the log-κ
        bracket) and ``failed`` (how many n did not converge).
    converged_mask : ndarray of bool
        Per n: whether that root met the stopping rule.
    """

    kappa: FloatArray
    gamma: FloatArray
    iterations: int
    residual: FloatArray
    info: SolverInfo
    converged_mask: NDArray[np.bool_]




#: severity order of the per-n statuses of :func:`solve_kappa` (the aggregate is the worst)
_KAPPA_ORDER = (
    SolverStatus.CONVERGED,
    SolverStatus.MAX_ITERATIONS,
    SolverStatus.BRACKET_LOST,
    SolverStatus.NOT_FINITE,
)


def _kappa_one(
    lam: FloatArray, n: float, lo: float, hi: float, xtol: float, max_iter: int
) -> tuple[float, int, float, int]:
    """:func:`solve_kappa`'s safeguarded Newton for one n, on scalars (the vectorised loop's
    ~30 numpy calls per step on length-1 arrays cost ≈ 10× the arithmetic): the same bracket,
    steps, stopping rule and outcome codes. Returns (log κ, code, bracket width, steps)."""
    eps = float(np.finfo(np.float64).eps)
    r = lam.shape[0]

    def f_of(t: float) -> tuple[float, FloatArray]:
        frac = lam / (lam + np.exp(t))
        return float(frac.sum()) - n, frac

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        slack = 8 * eps * (r + n)
        lost = f_of(lo)[0] < -slack or f_of(hi)[0] > slack
        a, b, t = lo, hi, hi
        k = 0
        while True:
            f, frac = f_of(t)
            if f > 0:
                a = t
            else:
                b = t
            done = abs(f) <= 4 * eps * n or b - a <= xtol * max(1.0, abs(b))
            bad = not (math.isfinite(t) and math.isfinite(f))
            if done or bad or lost or k >= max_iter:
                break
            df = -float(np.sum(frac * (1.0 - frac)))
            newton = t - f / df if df != 0 else math.nan
            t = newton if (math.isfinite(newton) and a < newton < b) else 0.5 * (a + b)
            k += 1
        width = (b - a) / max(1.0, abs(b))
    code = 3 if bad else 2 if lost else 0 if done else 1
    return t, code, width, k


def solve_kappa(
    eigenvalues: ArrayLike,
    n: ArrayLike,
    *,
    xtol: float = 1e-14,
    max_iter: int = 400,
    strict: bool = False,
) -> KappaSolution:
    """Solve the deterministic-equivalent equation for κ > 0, vectorised over ``n``.

    Safeguarded Newton in t = log κ inside the bracket [log(λ_min⁺ (r − n)/n), log(tr Σ / n)],
    which always contains the unique root for 0 < n < r (r = number of positive eigenvalues):
    every evaluation shrinks the bracket, a Newton step that leaves it is replaced by bisection,
    so κ stays positive by construction. Typically 4–8 iterations to machine precision.

    Stopping rule, per n: |Σλ/(λ+κ) − n| ≤ 4·eps·n, or a log-κ bracket narrower than
    xtol·max(1, |log κ|). The outcome is reported, never assumed (:attr:`KappaSolution.info`):

    - ``converged``: every n met the rule;
    - ``max_iterations``: some n did not within ``max_iter`` Newton steps;
    - ``bracket_lost``: the function has no sign change in the starting bracket beyond
      rounding (f(lo) ≥ 0 ≥ f(hi) fails by more than 8·eps·(r + n)) — impossible in exact
      arithmetic, so it flags a numerical failure;
    - ``not_finite``: an iterate or residual became inf/NaN (e.g. tr Σ overflows).

    Parameters
    ----------
    eigenvalues : array_like
        Eigenvalues of Σ (≥ 0; zeros are ignored).
    n : float or array_like
        Sample sizes, each in (0, r).
    xtol : float
        Relative bracket width in log κ at which to stop (finite, > 0).
    max_iter : int
        Newton/bisection step budget (≥ 1).
    strict : bool
        Raise :class:`~finetune_bounds.errors.ConvergenceError` unless every n converged.

    Returns
    -------
    KappaSolution

    Raises
    ------
    InvalidInputError
        If some n is not in (0, r), ``xtol`` is not a finite number > 0 or ``max_iter`` < 1.
    ConvergenceError
        Only with ``strict=True``.
    """
    lam = as_vector(eigenvalues, "eigenvalues")
    xtol = nonneg_float(xtol, "xtol", positive=True)
    max_iter = positive_int(max_iter, "max_iter", limit="steps")
    if np.any(lam < 0):
        raise InvalidInputError(
            f"eigenvalues must be ≥ 0 (a covariance spectrum), got minimum {float(lam.min()):.4g}"
        )
    lam = lam[lam > 0]
    r = lam.shape[0]
    ns = np.atleast_1d(as_float_array(n, "n", allow_empty=False))
    if np.any(ns <= 0) or np.any(ns >= r):
        raise InvalidInputError(
            f"the κ equation has a positive root only for 0 < n < rank(Σ) = {r}; got n = {ns}"
        )
    eps = np.finfo(np.float64).eps
    with np.errstate(over="ignore", divide="ignore"):
        lo = np.log(lam.min() * (r - ns) / ns)
        hi = np.log(lam.sum() / ns)
    it = 0
    out_t = np.empty_like(ns)
    code = np.zeros(ns.shape, dtype=np.int64)  # index into _KAPPA_ORDER, per n
    width = np.zeros_like(ns)
    chunk = max(1, 2_000_000 // max(r, 1))

    def f_of(t: FloatArray, nn: FloatArray) -> tuple[FloatArray, FloatArray]:
        with np.errstate(over="ignore", invalid="ignore"):
            frac = lam / (lam + np.exp(t)[:, None])
            return frac.sum(axis=1) - nn, frac

    if ns.shape[0] == 1:  # one n (a single expected_risk): the same iteration on scalars
        out_t[0], code[0], width[0], it = _kappa_one(lam, float(ns[0]), float(lo[0]),
                                                     float(hi[0]), xtol, max_iter)
    for start in range(0, ns.shape[0] if ns.shape[0] > 1 else 0, chunk):
        sl = slice(start, start + chunk)
        a, b, nn = lo[sl].copy(), hi[sl].copy(), ns[sl]
        # the bracket must hold a sign change: f(lo) ≥ 0 ≥ f(hi) up to rounding
        slack = 8 * eps * (r + nn)
        f_lo, _ = f_of(a, nn)
        f_hi, _ = f_of(b, nn)
        lost = (f_lo < -slack) | (f_hi > slack)
        t = b.copy()  # f(hi) ≤ 0: Σλ/(λ + trΣ/n) ≤ n
        k = 0
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            while True:
                f, frac = f_of(t, nn)
                # the bracket shrinks with every evaluation: f > 0 means the root is to the right
                a = np.where(f > 0, t, a)
                b = np.where(f > 0, b, t)
                done = (np.abs(f) <= 4 * eps * nn) | (b - a <= xtol * np.maximum(1.0, np.abs(b)))
                bad = ~(np.isfinite(t) & np.isfinite(f))
                stop = done | bad | lost
                if np.all(stop) or k >= max_iter:
                    break
                df = -np.sum(frac * (1.0 - frac), axis=1)  # d f / d log κ < 0
                newton = t - f / df
                ok = np.isfinite(newton) & (newton > a) & (newton < b)
                t = np.where(stop, t, np.where(ok, newton, 0.5 * (a + b)))  # safeguarded Newton
                k += 1
            width[sl] = (b - a) / np.maximum(1.0, np.abs(b))
        code[sl] = np.select([bad, lost, done], [3, 2, 0], default=1)
        out_t[sl] = t
        it = max(it, k)
    kappa = np.exp(out_t)
    residual = np.empty_like(ns)
    gamma = np.empty_like(ns)
    with np.errstate(over="ignore", invalid="ignore"):
        for start in range(0, ns.shape[0], chunk):  # (chunk × r) at a time: O(r) memory at d = 1e6
            sl = slice(start, start + chunk)
            frac = lam / (lam + kappa[sl, None])
            residual[sl] = np.abs(frac.sum(axis=1) - ns[sl]) / ns[sl]
            gamma[sl] = np.sum(frac * frac, axis=1) / ns[sl]
    worst = int(code.max(initial=0))
    info = SolverInfo(
        _KAPPA_ORDER[worst],
        iterations=it,
        residual=float(np.max(np.where(np.isfinite(residual), residual, np.inf), initial=0.0)),
        tolerance=xtol,
        extra={
            "f_tolerance": 4 * float(eps),
            "bracket_width": float(np.max(np.where(np.isfinite(width), width, np.inf),
                                          initial=0.0)),
            "failed": int(np.count_nonzero(code)),
        },
    )
    check_converged(info, "the κ equation of the deterministic equivalent", strict=strict)
    shape = np.shape(n)
    return KappaSolution(
        kappa.reshape(shape),
        gamma.reshape(shape),
        it,
        residual.reshape(shape),
        info,
        (code == 0).reshape(shape),
    )


@dataclass(frozen=True)
class RiskResult:
    """Expected excess risk of fine-tuning with n target samples.

    Attributes
    ----------
    risk, bias, variance : float
        E[R] = E[B] + E[V]; ``inf`` where the variance diverges (n near d with noise).
    stderr : float or None
        Standard error of ``risk`` (Monte Carlo routes only; None for the closed forms).
    method : str
        The route that produced the numbers: "deterministic", "isotropic", "monte_carlo" or
        "weights" (``method="auto"`` picks one; ``diagnostics["requested"]`` is then "auto").
    n : int
        Number of target samples.
    diagnostics : mapping
        The regime used (``"n<r"``, ``"n>=r"``, ``"n=0"``) and ``status`` (a
        :class:`~finetune_bounds._numerics.SolverStatus`) with ``converged``: for the
        deterministic equivalent at 0 < n < r the κ solve's (:func:`solve_kappa`), with κ, γ,
        iterations and residual; ``exact`` for the closed forms (n = 0, n ≥ r, isotropic).
        Monte Carlo: draws and per-part standard errors, and — only with ``rel_tol``, the one
        case with a stopping rule — ``status`` ``converged`` or ``max_iterations`` (draw budget
        spent before stderr ≤ rel_tol·risk).
    accuracy : Accuracy
        How accurate ``risk`` is and how that is known: ``exact`` (closed forms),
        ``standard_error`` (Monte Carlo: one s.e. over |risk|) or ``calibrated`` (the DE: the
        measured error rule of :mod:`finetune_bounds.linear._accuracy`).
    """

    risk: float
    bias: float
    variance: float
    stderr: float | None
    method: str
    n: int
    diagnostics: Mapping[str, Any] = field(default_factory=dict)
    accuracy: Accuracy = EXACT

    @property
    def status(self) -> SolverStatus | None:
        """``diagnostics["status"]`` (None for a fixed-size Monte Carlo estimate)."""
        st = self.diagnostics.get("status")
        return None if st is None else SolverStatus(st)


def _zero_shot_result(task: LinearTask, method: str) -> RiskResult:
    """n = 0 for a sampling route: the zero-shot risk ΔᵀΣΔ, exact, no draws."""
    z = float(task.covariance.quadratic_form(task.delta))
    return RiskResult(z, z, 0.0, 0.0, method, 0, {
        "draws": 0, "regime": "n=0", "status": SolverStatus.EXACT, "converged": True,
    }, EXACT)


def _weights_route(
    task: LinearTask, n: int, rng: Any, rel_tol: float | None, max_draws: int, strict: bool
) -> RiskResult:
    """``expected_risk(..., method="weights")``: one n through :func:`risk_weights`."""
    from ._weights import risk_weights

    if n == 0:
        return _zero_shot_result(task, "weights")
    tol = 0.01 if rel_tol is None else nonneg_float(rel_tol, "rel_tol", positive=True)
    draws = positive_int(max_draws, "max_draws", limit="draws")
    w = risk_weights(task.covariance, [n], rel_tol=tol, probe=task, max_draws=draws,
                     rng=_generator(rng), strict=strict)
    out = w.expected_risk(task)
    r = task.covariance.rank
    risk, se = float(out.risk[0]), float(out.stderr[0])
    acc = EXACT if n >= r else sampling_accuracy(
        risk, se, f"per-coordinate weights over {w.draws} Gaussian designs"
        + (" (heavy-tailed variance estimate near the peak)" if w.heavy_tail[0] else "")
    )
    return RiskResult(
        risk, float(out.bias[0]), float(out.variance[0]), se, "weights", n,
        {"draws": w.draws, "regime": "n<r" if n < r else "n>=r", "rank": r,
         "status": w.info.status, "converged": w.info.converged,
         "heavy_tail": bool(w.heavy_tail[0])},
        acc,
    )


def _gaussian_variance_full_rank(sigma2: float, r: int, n: int) -> float:
    """E[V] = σ² r/(n − r − 1) for Gaussian X whose covariance has rank r ≤ n (spec §2.3).

    Derivation: X = Z_r Λ_r^{1/2} V_rᵀ with Z_r an n×r standard Gaussian matrix, so
    tr(X⁺ᵀΣX⁺) = tr((Z_rᵀZ_r)⁻¹), an inverse-Wishart trace with mean r/(n − r − 1); infinite
    for n ∈ {r, r + 1}. Σ = 0 (r = 0) gives 0: every predictor has zero risk.
    """
    if sigma2 == 0.0 or r == 0:
        return 0.0
    return sigma2 * r / (n - r - 1) if n > r + 1 else math.inf


def _deterministic_arrays(
    task: LinearTask, ns: FloatArray
) -> tuple[dict[str, NDArray[Any]], SolverInfo | None]:
    """Deterministic equivalent on an array of n (vectorised); see :func:`expected_risk`.

    Returns the arrays (``converged`` per n: the κ solve's, True for the closed-form regimes)
    and the κ solve's :class:`SolverInfo` (None when no n needed it)."""
    lam = task.covariance.eigenvalues
    r = task.covariance.rank
    sigma2 = task.noise_variance
    d2 = task.delta_eig**2
    bias = np.zeros_like(ns)
    var = np.zeros_like(ns)
    kappa = np.full_like(ns, np.nan)
    gamma = np.full_like(ns, np.nan)
    resid = np.full_like(ns, np.nan)
    zero = ns == 0
    bias[zero] = float(np.sum(lam * d2))
    mid = (ns > 0) & (ns < r)
    iters = 0
    converged = np.ones(ns.shape, dtype=bool)
    info: SolverInfo | None = None
    if np.any(mid):
        sol = solve_kappa(lam, ns[mid])
        info = sol.info
        converged[mid] = sol.converged_mask
        k = sol.kappa
        pos = lam > 0
        lp, dp = lam[pos], d2[pos]
        ld = lp * dp
        b_mid = np.empty_like(k)
        step = max(1, 2_000_000 // max(lp.size, 1))  # (step × r) at a time: O(r) memory
        for s0 in range(0, k.size, step):
            kk = k[s0:s0 + step, None]
            b_mid[s0:s0 + step] = np.sum((kk / (lp + kk)) ** 2 * ld, axis=1)
        bias[mid] = b_mid / (1.0 - sol.gamma)
        var[mid] = sigma2 * sol.gamma / (1.0 - sol.gamma)
        kappa[mid], gamma[mid], resid[mid] = k, sol.gamma, sol.residual
        iters = sol.iterations
    big = ns >= r
    if np.any(big):
        var[big] = [_gaussian_variance_full_rank(sigma2, r, int(m)) for m in ns[big]]
    rel_error = np.zeros_like(ns)
    if np.any(mid):
        pos = lam > 0
        rel_error[mid] = de_relative_error(
            lam[pos], d2[pos], sigma2, ns[mid], kappa[mid], gamma[mid], bias[mid], var[mid]
        )
    rel_error[mid & ~np.isfinite(bias + var)] = math.inf  # (n ≥ r: an exact inf stays exact)
    return {
        "bias": bias, "variance": var, "kappa": kappa, "gamma": gamma, "residual": resid,
        "iterations": np.full_like(ns, iters), "converged": converged, "rel_error": rel_error,
    }, info


def _isotropic_arrays(task: LinearTask, ns: FloatArray) -> dict[str, NDArray[Any]]:
    """Exact finite-n formulas for Σ ∝ I (closed forms: ``converged`` is True throughout)."""
    cov = task.covariance
    if not cov.is_isotropic:
        raise InvalidInputError(
            "method='isotropic' needs Σ ∝ I; this covariance has eigenvalues in "
            f"[{cov.eigenvalues[-1]:.4g}, {cov.eigenvalues[0]:.4g}] — use 'deterministic'"
        )
    d = cov.dim
    s2 = float(cov.eigenvalues[0])
    sigma2 = task.noise_variance
    dn2 = float(task.delta @ task.delta)
    bias = np.where(ns < d, s2 * (1.0 - ns / d) * dn2, 0.0)
    exact = np.ones(ns.shape, dtype=bool)
    if s2 == 0.0:
        return {"bias": np.zeros_like(ns), "variance": np.zeros_like(ns), "converged": exact,
                "rel_error": np.zeros_like(ns)}
    var = np.zeros_like(ns)
    if sigma2 > 0:
        for i, m in enumerate(ns):
            if m == 0:
                var[i] = 0.0
            elif m < d:  # E tr (ZZᵀ)⁻¹ = n/(d − n − 1) for a Wishart W_n(d, I)
                var[i] = sigma2 * m / (d - m - 1) if d > m + 1 else math.inf
            else:
                var[i] = _gaussian_variance_full_rank(sigma2, d, int(m))
    return {"bias": bias, "variance": var, "converged": exact, "rel_error": np.zeros_like(ns)}


@small_blas
def _monte_carlo(
    task: LinearTask,
    n: int,
    rng: np.random.Generator,
    n_draws: int,
    rel_tol: float | None,
    max_draws: int,
    batch_bytes: int = 64 * 2**20,
    strict: bool = False,
) -> RiskResult:
    """Average the exact §2.2 risk over Gaussian designs drawn in Σ's eigenbasis (the risk is
    rotation invariant, so x = z·√λ suffices), batched; standard errors from the sample std."""
    cov = task.covariance
    lam = cov.eigenvalues
    sq = np.sqrt(lam)
    d = cov.dim
    cap = max(1, batch_bytes // (8 * max(n, 1) * d * 3))  # draws per batch (memory)
    biases: list[FloatArray] = []
    traces: list[FloatArray] = []
    total = 0
    target = n_draws if rel_tol is None else max_draws
    vecs = task.delta_eig[None, :]
    # with a stopping rule: a pilot of n_draws, then rounds sized by the draws the current
    # spread says are still needed (×1.1, at most ×4 the draws so far), checked after each
    # round — the run stops near the requested standard error instead of overshooting it
    step = n_draws
    while total < target:
        b = min(cap, step, target - total)
        xe = rng.standard_normal((b, n, d)) * sq
        bias, tr, _ = _bias_variance_batch(lam, vecs, xe)
        biases.append(bias[:, 0])
        traces.append(tr)
        total += b
        step -= b
        if step > 0:
            continue
        if rel_tol is None:
            step = target - total
            continue
        risk_now = np.concatenate(biases) + task.noise_variance * np.concatenate(traces)
        if _mc_done(risk_now, rel_tol):
            break
        mean = abs(float(np.mean(risk_now)))
        need = (stderr(risk_now) / (rel_tol * mean)) ** 2 * total if mean > 0 else 4.0 * total
        step = int(min(max(1.1 * need - total, 8.0), 4.0 * total))
    bias_a = np.concatenate(biases)
    var_a = task.noise_variance * np.concatenate(traces) if task.noise_variance > 0 else 0 * bias_a
    risk_a = bias_a + var_a
    diag: dict[str, Any] = {
        "draws": int(bias_a.size),
        "bias_stderr": stderr(bias_a),
        "variance_stderr": stderr(var_a),
    }
    if rel_tol is not None:  # the only Monte Carlo with a stopping rule
        mean = abs(float(np.mean(risk_a)))
        info = SolverInfo(
            SolverStatus.CONVERGED if _mc_done(risk_a, rel_tol) else SolverStatus.MAX_ITERATIONS,
            iterations=int(bias_a.size),
            residual=stderr(risk_a) / mean if mean > 0 else 0.0,
            tolerance=rel_tol,
            extra={"max_draws": max_draws},
        )
        diag.update(status=info.status, converged=info.converged)
        check_converged(info, f"Monte Carlo expected risk at n = {n}", strict=strict)
    mean_risk, se = float(np.mean(risk_a)), stderr(risk_a)
    return RiskResult(
        risk=mean_risk,
        bias=float(np.mean(bias_a)),
        variance=float(np.mean(var_a)),
        stderr=se,
        method="monte_carlo",
        n=n,
        diagnostics=diag,
        accuracy=sampling_accuracy(mean_risk, se, f"Monte Carlo over {bias_a.size} designs"),
    )


#: pilot draws of ``expected_risk(method="monte_carlo", rel_tol=...)``
_MC_PILOT = 16


def _mc_done(risk: FloatArray, rel_tol: float) -> bool:
    """Monte Carlo stopping rule: stderr ≤ rel_tol·|mean|, or every draw is exactly 0."""
    return bool(stderr(risk) <= rel_tol * abs(float(np.mean(risk))) or not risk.any())


_check_task = check_linear_task
_generator = as_generator


def expected_risk(
    task: LinearTask,
    n: int,
    method: Method = "auto",
    *,
    rng: np.random.Generator | int | None = None,
    n_draws: int | None = None,
    rel_tol: float | None = None,
    max_draws: int = 100_000,
    strict: bool = False,
) -> RiskResult:
    """Expected excess risk E_X[R(θ̂)] of fine-tuning on n Gaussian samples (spec §2.3).

    Parameters
    ----------
    task : LinearTask
    n : int
        Number of target samples (n = 0 returns the zero-shot risk ΔᵀΣΔ).
    method : {"auto", "deterministic", "isotropic", "monte_carlo", "weights"}
        ``"auto"`` (default): an answer within ``rel_tol`` (default 1 %) or one that says it is
        not — the exact isotropic formulas when Σ ∝ I; otherwise the deterministic equivalent
        when its calibrated error (``accuracy``) is ≤ ``rel_tol``, else ``"weights"`` run to
        ``rel_tol``. ``method`` of the result names the route taken, ``accuracy`` its accuracy
        and ``diagnostics["auto_reason"]`` why. ``"deterministic"``: the deterministic
        equivalent for 0 < n < r = rank Σ (asymptotically exact as n, d → ∞ with n/d fixed)
        and the exact Gaussian result for n ≥ r (bias 0, variance σ² r/(n − r − 1), inf for
        n ∈ {r, r + 1}). It is typically low, by up to tens of per cent for a Δ on directions
        the n samples have just learned (``accuracy`` states the calibrated bound,
        :mod:`finetune_bounds.linear._accuracy`); the variance is low by a relative
        ≈ 1/(r − n) (the isotropic exact value is σ² n/(r − n − 1), the DE's σ² n/(r − n)).
        With Σ ∝ I the DE bias is exact. ``"isotropic"``: exact finite-n formulas, Σ ∝ I
        only: E[B] = s²(1 − n/d)‖Δ‖², E[V] = σ² n/(d − n − 1) for n < d.
        ``"monte_carlo"``: average of the exact §2.2 risk over sampled Gaussian designs, with
        a standard error (``stderr``; the bias and variance standard errors are in
        ``diagnostics``). ``"weights"``: the exact-in-expectation
        Monte Carlo of :func:`~finetune_bounds.linear.risk_weights` (per-coordinate weights,
        far fewer draws than ``"monte_carlo"`` for the same standard error), to ``rel_tol``
        (default 1 %) with ``stderr``; reuse a :class:`~finetune_bounds.linear.RiskWeights`
        directly to evaluate many tasks on one Σ.
    rng : Generator or int, optional
        Randomness for Monte Carlo (seed 0 when omitted, so results are reproducible).
    n_draws : int, optional
        Monte Carlo draws (default 200). With ``rel_tol`` it is the pilot (default 16): after
        it, draws come in rounds sized by the standard error still missing, and the run stops
        at the first check that meets ``rel_tol`` (no fixed minimum beyond the pilot).
    rel_tol : float, optional
        ``"auto"``: the accuracy asked for (default 1 %). ``"weights"``: its stopping
        tolerance (default 1 %). ``"monte_carlo"``: keep drawing (up to ``max_draws``) until
        stderr ≤ rel_tol · risk; ``diagnostics`` then says whether it ``converged``.
    max_draws : int
        Monte Carlo budget when ``rel_tol`` is set.
    strict : bool
        Raise :class:`~finetune_bounds.errors.ConvergenceError` when the κ solve (deterministic)
        or the ``rel_tol`` Monte Carlo did not converge; otherwise the result says so in
        ``diagnostics["status"]`` / ``diagnostics["converged"]``.

    Returns
    -------
    RiskResult

    Raises
    ------
    InvalidInputError
        n < 0 or not an integer, unknown method, ``"isotropic"`` with a non-isotropic Σ, bad
        Monte Carlo settings.
    ConvergenceError
        Only with ``strict=True``.

    Examples
    --------
    >>> import numpy as np, finetune_bounds as fb
    >>> task = fb.LinearTask(fb.Covariance.isotropic(50), np.zeros(50), np.ones(50))
    >>> round(expected_risk(task, 10).bias, 10)  # s²(1 − n/d)‖Δ‖² = 0.8 · 50
    40.0
    >>> expected_risk(task, 10).accuracy.kind  # auto took the exact isotropic route
    'exact'
    """
    _check_task(task)
    n = positive_int(n, "n", allow_zero=True)
    check_choice(method, "method", METHODS)
    if method == "auto":
        return _auto_route(task, n, rng, rel_tol, max_draws, strict)
    if method == "weights":
        return _weights_route(task, n, rng, rel_tol, max_draws, strict)
    if method == "monte_carlo":
        if n_draws is None:
            n_draws = 200 if rel_tol is None else _MC_PILOT
        n_draws = positive_int(n_draws, "n_draws", limit="draws")
        if n_draws < 2:
            raise InvalidInputError("n_draws must be ≥ 2 to estimate a standard error")
        max_draws = positive_int(max_draws, "max_draws", limit="draws")
        if rel_tol is not None:
            rel_tol = nonneg_float(rel_tol, "rel_tol", positive=True)
        gen = _generator(rng)
        if n == 0:
            return _zero_shot_result(task, "monte_carlo")
        return _monte_carlo(task, n, gen, n_draws, rel_tol, max(max_draws, n_draws),
                            strict=strict)
    return _closed_form_result(task, n, method, strict)


def _closed_form_result(task: LinearTask, n: int, method: str, strict: bool) -> RiskResult:
    """``expected_risk`` by the DE or the isotropic formulas at one n, with its accuracy."""
    ns = np.array([float(n)])
    info: SolverInfo | None = None
    if method == "deterministic":
        arrays, info = _deterministic_arrays(task, ns)
    else:
        arrays = _isotropic_arrays(task, ns)
    bias = float(arrays["bias"][0])
    var = float(arrays["variance"][0])
    r = task.covariance.rank
    regime = "n=0" if n == 0 else ("n<r" if n < r else "n>=r")
    diag: dict[str, Any] = {"regime": regime, "rank": r}
    if info is not None:  # the deterministic equivalent at 0 < n < r: a κ solve
        check_converged(info, f"the κ equation at n = {n}", strict=strict)
        diag.update(
            kappa=float(arrays["kappa"][0]),
            gamma=float(arrays["gamma"][0]),
            iterations=int(arrays["iterations"][0]),
            residual=float(arrays["residual"][0]),
            status=info.status,
            converged=info.converged,
        )
    else:
        diag.update(status=SolverStatus.EXACT, converged=True)
    rel = float(arrays["rel_error"][0])
    acc = EXACT if (rel == 0.0 and (info is None or method == "isotropic")) else Accuracy(
        "calibrated", rel, "deterministic equivalent: calibrated error rule (linear._accuracy)"
    )
    return RiskResult(bias + var, bias, var, None, method, n, diag, acc)


def _auto_route(
    task: LinearTask, n: int, rng: Any, rel_tol: float | None, max_draws: int, strict: bool
) -> RiskResult:
    """``method="auto"``: exact where a closed form is exact, the DE where its calibrated error
    is ≤ ``rel_tol``, the per-coordinate-weights Monte Carlo to ``rel_tol`` elsewhere."""
    tol = AUTO_REL_TOL if rel_tol is None else nonneg_float(rel_tol, "rel_tol", positive=True)
    if task.covariance.is_isotropic:
        res = _closed_form_result(task, n, "isotropic", strict)
        why = "Σ ∝ I: exact isotropic formulas"
    else:
        res = _closed_form_result(task, n, "deterministic", strict)
        why = f"DE error ≤ {tol:g}" if res.accuracy.within(tol) else ""
        if not why:
            de_err = res.accuracy.rel_error
            res = _weights_route(task, n, rng, tol, max_draws, strict)
            why = f"DE error estimate {de_err:.3g} > {tol:g}: per-coordinate weights"
    diag = {**res.diagnostics, "requested": "auto", "auto_reason": why, "rel_tol": tol}
    return RiskResult(res.risk, res.bias, res.variance, res.stderr, res.method, n, diag,
                      res.accuracy)


def risk_curve(
    task: LinearTask,
    ns: Sequence[int] | ArrayLike,
    method: Literal["auto", "deterministic", "isotropic", "weights"] = "auto",
    *,
    rel_tol: float | None = None,
    rng: np.random.Generator | int | None = None,
    max_draws: int = 20_000,
    strict: bool = False,
) -> dict[str, NDArray[Any]]:
    """Expected risk on a grid of n (spec §2.3), each point with its route and accuracy.

    Parameters
    ----------
    task : LinearTask
    ns : sequence of int
        Sample sizes (≥ 0).
    method : {"auto", "deterministic", "isotropic", "weights"}
        As in :func:`expected_risk`. ``"deterministic"``/``"isotropic"``: one vectorised pass,
        O(d) per n. ``"weights"``: one :func:`~finetune_bounds.linear.risk_weights` run with
        nested designs serves every n. ``"auto"`` (default): the DE (or the exact isotropic
        formulas) everywhere, then one ``"weights"`` run for the n whose calibrated DE error
        exceeds ``rel_tol``.
    rel_tol : float, optional
        Accuracy asked for by ``"auto"`` and the tolerance of ``"weights"`` (default 1 %).
    rng, max_draws, strict :
        Randomness, design budget and strictness of the Monte Carlo part.

    Returns
    -------
    dict of arrays
        ``n, risk, bias, variance``, ``converged`` (bool per n), ``method`` (the route per n),
        ``rel_error`` (the stated relative accuracy per n: 0 exact, the calibrated bound for the
        DE, one s.e. over |risk| for Monte Carlo) and ``stderr`` (NaN where not sampled); the DE
        also gives ``kappa, gamma, residual, iterations`` (NaN where not used).
    """
    _check_task(task)
    check_choice(method, "method", ("auto", "deterministic", "isotropic", "weights"))
    arr = np.asarray(ns)
    if arr.ndim != 1 or arr.size == 0:
        raise InvalidInputError(
            f"ns must be a non-empty 1-D sequence of sample sizes, got shape {arr.shape}"
        )
    ns_i = np.array([positive_int(v, "n", allow_zero=True) for v in arr.tolist()], dtype=np.float64)
    tol = AUTO_REL_TOL if rel_tol is None else nonneg_float(rel_tol, "rel_tol", positive=True)
    route = method
    if method == "auto":
        route = "isotropic" if task.covariance.is_isotropic else "deterministic"
    if route == "isotropic":
        out = _isotropic_arrays(task, ns_i)
    else:
        out, _ = _deterministic_arrays(task, ns_i)
        if route == "weights":
            out["rel_error"] = np.full_like(ns_i, math.inf)
    out["n"] = ns_i.astype(int)
    out["risk"] = out["bias"] + out["variance"]
    out["stderr"] = np.full_like(ns_i, np.nan)
    out["method"] = np.full(ns_i.shape, route if route != "weights" else "deterministic",
                            dtype=object)
    if route in ("deterministic", "weights"):
        r = task.covariance.rank
        # exact: n = 0, n ≥ r; an infinite DE risk (n = r − 1 with noise) is infinite in truth too
        exact = (ns_i == 0) | (ns_i >= r) | ~np.isfinite(out["risk"])
        todo = ~exact & ((out["rel_error"] > tol) if method == "auto" else (route == "weights"))
        if np.any(todo):
            _weights_into(out, task, ns_i, todo, tol, rng, max_draws, strict)
    return out


def _weights_into(
    out: dict[str, NDArray[Any]], task: LinearTask, ns: FloatArray, todo: NDArray[np.bool_],
    tol: float, rng: Any, max_draws: int, strict: bool,
) -> None:
    """Replace the points ``todo`` of a curve by one nested :func:`risk_weights` run."""
    from ._weights import risk_weights

    grid = np.unique(ns[todo]).astype(int)
    draws = positive_int(max_draws, "max_draws", limit="draws")
    w = risk_weights(task.covariance, grid, rel_tol=tol, probe=task, max_draws=draws,
                     rng=_generator(rng), min_draws=min(128, draws), strict=strict)
    est = w.expected_risk(task)
    idx = np.searchsorted(grid, ns[todo].astype(int))
    for key, src in (("bias", est.bias), ("variance", est.variance), ("risk", est.risk),
                     ("stderr", est.stderr)):
        out[key] = np.asarray(out[key], dtype=np.float64).copy()
        out[key][todo] = src[idx]
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(est.stderr == 0, 0.0, est.stderr / np.abs(est.risk))
    out["rel_error"] = np.asarray(out["rel_error"], dtype=np.float64).copy()
    out["rel_error"][todo] = np.where(np.isfinite(rel), rel, math.inf)[idx]
    out["method"][todo] = "weights"
    out["converged"] = np.asarray(out["converged"]).copy()
    out["converged"][todo] = w.info.converged
    for key in ("kappa", "gamma", "residual"):
        if key in out:
            out[key] = np.asarray(out[key], dtype=np.float64).copy()
            out[key][todo] = np.nan


# ---------------------------------------------------------------------------------------------
# §2.4: sample complexity and bounds
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SampleComplexity:
    """Smallest n with E[R_n] ≤ ε (spec §2.4).

    ``n`` is None and ``reachable`` False when no n reaches ε (``reason`` says why).
    ``converged`` is False when some κ solve of the scanned curve did not converge (the answer
    is then not trustworthy; see :func:`solve_kappa`). ``method`` names the route that decided
    ``n`` ("deterministic", "isotropic", or "weights" when ``method="auto"`` had to sample the
    n where the DE's calibrated error band straddles ε); ``rel_error`` is the stated relative
    accuracy of ``risk_at_n`` (see :class:`~finetune_bounds.linear._accuracy.Accuracy`), and
    ``checked`` lists the n the Monte Carlo route evaluated.
    """

    n: int | None
    eps: float
    reachable: bool
    risk_at_n: float | None
    method: str
    reason: str = ""
    converged: bool = True
    rel_error: float = 0.0
    checked: tuple[int, ...] = ()


def sample_complexity(
    task: LinearTask,
    eps: float,
    *,
    method: Literal["auto", "deterministic", "isotropic"] = "auto",
    n_max: int | None = None,
    strict: bool = False,
    rel_tol: float | None = None,
    rng: np.random.Generator | int | None = None,
) -> SampleComplexity:
    """n*(ε): the first n whose expected risk is ≤ ε (spec §2.4).

    The expected risk is *not* monotone in n in general, so this is a scan, not a bisection:
    with Δ in low-variance directions the noiseless bias first grows with n (fine-tuning worse
    than zero-shot, spec §2.2) before it falls to 0 at n = rank Σ = r; with label noise the
    ridgeless risk also peaks near n = r. The curve is evaluated for every n ≤ r + 1 in one
    vectorised pass, and for n ≥ r + 2 (bias 0, E[V] = σ² r/(n − r − 1), decreasing) n* is
    found in closed form. Cost: O(r·d) after the eigendecomposition.

    Parameters
    ----------
    task : LinearTask
    eps : float
        Target risk level ε ≥ 0 (ties count as reached, relative slack 1e-12).
    method : {"auto", "deterministic", "isotropic"}
        Which expected-risk formula (see :func:`expected_risk`). ``"auto"`` (default): the exact
        isotropic formulas when Σ ∝ I; otherwise the DE with its calibrated error band
        risk·(1 ± e(n)); where the band straddles ε before the first n the band certifies, those
        n are evaluated by the per-coordinate-weights Monte Carlo (to ``rel_tol``): up to 8 of
        them at once, then bisection between the last miss and the first hit. A narrow dip
        below ε between sampled points can be missed (the risk is not monotone in general).
    n_max : int, optional
        Largest n considered (default: unlimited).
    strict : bool
        Raise :class:`NotReachableError` instead of returning ``reachable=False``.
    rel_tol : float, optional
        Accuracy asked for by ``"auto"`` (default 1 %).
    rng : Generator or int, optional
        Randomness of the Monte Carlo part of ``"auto"`` (seed 0 when omitted).

    Returns
    -------
    SampleComplexity

    Raises
    ------
    NotReachableError
        With ``strict=True``, when no n ≤ n_max reaches ε (e.g. ε = 0 with noise).
    """
    _check_task(task)
    check_choice(method, "method", ("auto", "deterministic", "isotropic"))
    eps = nonneg_float(eps, "eps")
    tol = AUTO_REL_TOL if rel_tol is None else nonneg_float(rel_tol, "rel_tol", positive=True)
    r = task.covariance.rank
    limit = math.inf if n_max is None else positive_int(n_max, "n_max", allow_zero=True)
    sigma2 = task.noise_variance
    level = eps * (1 + 1e-12)
    head = np.arange(0, int(min(r + 2, limit + 1)), dtype=np.float64)
    route: str = method
    if method == "auto":
        route = "isotropic" if task.covariance.is_isotropic else "deterministic"
    curve = risk_curve(task, head, "isotropic" if route == "isotropic" else "deterministic")
    hit = np.flatnonzero(curve["risk"] <= level)
    found: int | None = int(head[hit[0]]) if hit.size else None
    risk: float | None = float(curve["risk"][hit[0]]) if hit.size else None
    rel = float(curve["rel_error"][hit[0]]) if hit.size else 0.0
    checked: tuple[int, ...] = ()
    if method == "auto" and route == "deterministic":
        mc = _auto_scan(task, head, curve, level, tol, rng)
        if mc is not None:
            found, risk, rel, checked = mc
            route = "weights" if found is None or found in checked else route
    if found is None and sigma2 > 0 and eps > 0 and r > 0:
        # n ≥ r + 2: σ² r/(n − r − 1) ≤ level ⇔ n − r − 1 ≥ σ² r/level, solved in exact
        # rational arithmetic (a float loop cannot step through n ~ 1e20).
        m = math.ceil(Fraction(sigma2) * r / Fraction(level))
        n_star = r + 1 + max(m, 1)
        if n_star <= limit:  # (exact rationals: n* may exceed the float range for tiny ε)
            found, risk, rel = n_star, float(Fraction(sigma2) * r / (n_star - r - 1)), 0.0
    converged = bool(np.all(curve["converged"]))
    if found is not None:
        return SampleComplexity(found, eps, True, risk, route, converged=converged,
                                rel_error=rel, checked=checked)
    if math.isfinite(limit):
        reason = f"expected risk never reaches ε = {eps:g} for n ≤ {int(limit)}"
    else:
        reason = f"expected risk never reaches ε = {eps:g} for any n (noise floor)"
    if strict:
        raise NotReachableError(reason)
    return SampleComplexity(None, eps, False, None, route, reason, converged=converged,
                            checked=checked)


#: n evaluated per round by the Monte Carlo part of ``sample_complexity(method="auto")``
_SCAN_POINTS = 8


def _auto_scan(
    task: LinearTask, head: FloatArray, curve: Mapping[str, NDArray[Any]], level: float,
    tol: float, rng: Any,
) -> tuple[int | None, float | None, float, tuple[int, ...]] | None:
    """The Monte Carlo part of ``sample_complexity(method="auto")`` (None: the DE decided).

    With the DE's band risk·(1 ± e), n ≤ the first certain hit (band entirely ≤ ε) whose band
    straddles ε are ambiguous; they are evaluated by :func:`risk_weights` (≤ 8 at once, then
    between the last miss and the first hit) and the first n whose estimate is ≤ ε wins. Returns
    (n, risk, relative accuracy, the n evaluated), n None when nothing on the head hits."""
    from ._weights import risk_weights

    risk, e = curve["risk"], curve["rel_error"]
    with np.errstate(invalid="ignore"):
        certain = risk * (1.0 + e) <= level
        possible = risk * np.maximum(1.0 - e, 0.0) <= level
    first = int(np.flatnonzero(certain)[0]) if certain.any() else head.size
    amb = np.flatnonzero(possible[:first] & ~certain[:first])
    if amb.size == 0:
        return None
    gen = _generator(rng)
    checked: list[int] = []
    cand = head[amb].astype(int)
    while True:
        pick = cand if cand.size <= _SCAN_POINTS else np.unique(
            cand[np.round(np.linspace(0, cand.size - 1, _SCAN_POINTS)).astype(int)])
        w = risk_weights(task.covariance, pick, rel_tol=tol, probe=task, rng=gen)
        est = w.expected_risk(task)
        checked.extend(int(v) for v in pick)
        hits = np.flatnonzero(est.risk <= level)
        if hits.size == 0:  # none of the sampled n: the first certain hit of the DE (if any)
            if first < head.size:
                return int(head[first]), float(risk[first]), float(e[first]), tuple(checked)
            return None, None, 0.0, tuple(checked)
        j = int(hits[0])
        prev = int(pick[j - 1]) if j > 0 else -1
        between = cand[(cand > prev) & (cand < int(pick[j]))]
        if between.size == 0:
            rel = float(est.stderr[j] / est.risk[j]) if est.risk[j] > 0 else 0.0
            return int(pick[j]), float(est.risk[j]), rel, tuple(sorted(set(checked)))
        cand = np.r_[between, pick[j]]


@dataclass(frozen=True)
class BoundResult:
    """A bound value with its name, constant and (for the head/tail bound) the optimal k."""

    name: str
    value: float
    constant: float
    argmin_k: int | None = None


def naive_bound(task: LinearTask, *, constant: float = 1.0) -> BoundResult:
    """C · λ_max(Σ)‖Δ‖² (C = 1 is a true bound on the bias for every design)."""
    _check_task(task)
    c = nonneg_float(constant, "constant")
    value = c * task.covariance.operator_norm * float(task.delta @ task.delta)
    return BoundResult("naive", value, c)


def benign_bound(task: LinearTask, n: int, *, constant: float = 1.0) -> BoundResult:
    """Benign-overfitting style C · ‖Δ‖²‖Σ‖ · max(√(r₀/n), r₀/n), r₀ = tr Σ/‖Σ‖ (spec §2.4).

    A rate, not a guaranteed inequality: C is a free constant (default 1).
    """
    _check_task(task)
    n = positive_int(n, "n")
    c = nonneg_float(constant, "constant")
    r0 = task.covariance.effective_rank
    val = float(task.delta @ task.delta) * task.covariance.operator_norm
    return BoundResult("benign", c * val * max(math.sqrt(r0 / n), r0 / n), c)


def _block_mean(values: FloatArray, lam: FloatArray, atol: float) -> FloatArray:
    """Average ``values`` over runs of (numerically) equal consecutive eigenvalues."""
    if lam.size < 2:
        return values
    starts = np.flatnonzero(np.r_[True, np.abs(np.diff(lam)) > atol])
    sums = np.add.reduceat(values, starts)
    sizes = np.diff(np.r_[starts, lam.size])
    return np.asarray(np.repeat(sums / sizes, sizes))


def head_tail_bound(
    task: LinearTask, n: int, *, constant: float = 1.0, k_max: int | None = None
) -> BoundResult:
    """Covariance-aware head/tail measure (spec §2.4), C times

        min_{0 ≤ k ≤ k_max} [ Σ_{i>k} λ_i Δ_i² + (Σ_{i≤k} Δ_i²/λ_i) · (Σ_{i>k} λ_i / n)² ],

    eigenvalues in decreasing order, Δ_i = v_iᵀΔ. The head (k directions) is learnt from the n
    samples and pays its Σ⁻¹-weighted energy times the squared effective regularisation
    Σ_{i>k}λ_i/n created by the tail; the tail is not learnt and pays its Σ-weighted energy.
    Small when Δ lives in low-variance directions of the *target* covariance even if ‖Δ‖ is
    large. k = 0 gives the zero-shot risk ΔᵀΣΔ.

    Repeated eigenvalues: a split k inside an eigenspace of Σ would depend on the arbitrary
    basis chosen in it (the measure would not be rotation invariant). Inside each block of
    equal eigenvalues (relative tolerance ``10·tol``) Δ_i² is therefore replaced by the block
    mean — the average of the formula over all bases of the eigenspace. Nothing changes for a
    simple spectrum.

    Parameters
    ----------
    n : int
        Number of target samples (≥ 1).
    constant : float
        The free constant C (default 1). Regime: a rate in the style of benign-overfitting bias
        bounds, not an inequality with a known constant.
    k_max : int, optional
        Largest head size. Default ``min(n − 1, rank Σ)``: a head must be learnable from n
        samples (k < n). Allowing k ≥ n is meaningless: k = d (or k = rank Σ) makes both terms
        vanish, so the minimum would be 0 for every task and every n.

    Returns
    -------
    BoundResult
        ``value`` and the minimising ``argmin_k``.
    """
    _check_task(task)
    n = positive_int(n, "n")
    c = nonneg_float(constant, "constant")
    cov = task.covariance
    lam = cov.eigenvalues
    d2 = _block_mean(task.delta_eig**2, lam, 10 * cov.tol * cov.operator_norm)
    r = cov.rank
    kmax = min(n - 1, r) if k_max is None else min(positive_int(k_max, "k_max", allow_zero=True), r)
    tail_energy = np.concatenate([np.cumsum((lam * d2)[::-1])[::-1], [0.0]])  # Σ_{i>k}, k=0..d
    tail_trace = np.concatenate([np.cumsum(lam[::-1])[::-1], [0.0]])
    head_w = np.concatenate([[0.0], np.cumsum(d2[:kmax] / lam[:kmax])])  # k = 0..kmax
    vals = tail_energy[: kmax + 1] + head_w * (tail_trace[: kmax + 1] / n) ** 2
    k = int(np.argmin(vals))
    return BoundResult("head_tail", c * float(vals[k]), c, k)


def bounds(
    task: LinearTask,
    n: int,
    *,
    constants: Mapping[str, float] | None = None,
) -> dict[str, BoundResult]:
    """All §2.4 bound families at n, keyed ``naive``, ``benign``, ``head_tail``."""
    _check_task(task)
    cs = {"naive": 1.0, "benign": 1.0, "head_tail": 1.0,
          **optional_mapping(constants, "constants")}
    unknown = set(cs) - {"naive", "benign", "head_tail"}
    if unknown:
        raise InvalidInputError(f"unknown bound constant(s): {sorted(unknown)}")
    return {
        "naive": naive_bound(task, constant=cs["naive"]),
        "benign": benign_bound(task, n, constant=cs["benign"]),
        "head_tail": head_tail_bound(task, n, constant=cs["head_tail"]),
    }


# ---------------------------------------------------------------------------------------------
# §2.4 [paper]: which measure tracks the risk?
# ---------------------------------------------------------------------------------------------
def _random_spectrum(kind: str, d: int, rng: np.random.Generator) -> FloatArray:
    """Eigenvalues of :func:`random_task`, mean 1 (tr Σ = d)."""
    if kind == "power_law":
        return power_law_spectrum(d, rng.uniform(0.5, 2.0))  # exponent ~ U(0.5, 2)
    if kind == "spiked":
        k = max(1, d // 20)
        lam = np.ones(d)
        lam[:k] = rng.uniform(10.0, 100.0, size=k)
    elif kind == "flat":
        lam = np.ones(d)
    else:
        raise InvalidInputError(f"spectrum must be 'power_law', 'spiked' or 'flat', got {kind!r}")
    return np.asarray(lam / lam.mean())


def random_task(
    d: int,
    rng: np.random.Generator,
    *,
    spectrum: str = "power_law",
    noise_variance: float = 0.0,
) -> LinearTask:
    """A random instance: spectrum of the given kind, θ_S ~ N(0, I/d) and Δ whose energy sits on
    a random part of the spectrum (Δ_i ~ N(0, i^b), b ~ U(−2, 2), ‖Δ‖ ~ logU(0.3, 3))."""
    d = positive_int(d, "d", limit="d")
    if not isinstance(rng, np.random.Generator):
        raise InvalidInputError(f"rng must be a numpy Generator, got {rng!r}")
    noise_variance = nonneg_float(noise_variance, "noise_variance")
    lam = _random_spectrum(spectrum, d, rng)
    src = rng.standard_normal(d) / math.sqrt(d)
    i = np.arange(1, d + 1, dtype=np.float64)
    delta = rng.standard_normal(d) * i ** (rng.uniform(-2.0, 2.0) / 2)
    delta *= math.exp(rng.uniform(math.log(0.3), math.log(3.0))) / np.linalg.norm(delta)
    return LinearTask(Covariance.from_spectrum(lam), src, src + delta, noise_variance)


def measure_correlation_study(
    *,
    n_instances: int = 200,
    d: int = 100,
    n: int = 20,
    spectrum: str = "power_law",
    rng: np.random.Generator | int | None = None,
    return_instances: bool = False,
) -> Any:
    """Rank similarity measures by how well they track the exact fine-tuning risk ([paper] §2.4).

    For ``n_instances`` random tasks (:func:`random_task`) and one Gaussian design each, the exact
    risk (§2.2) is compared with each measure: ``euclidean`` ‖Δ‖², ``naive`` λ_max‖Δ‖²,
    ``zero_shot`` ΔᵀΣΔ, ``benign``, ``head_tail`` and the ``deterministic`` equivalent.

    Returns
    -------
    pandas.DataFrame
        One row per measure: ``measure, pearson, spearman, n_instances, d, n, spectrum``
        (sorted by Spearman, best first). With ``return_instances=True`` also the per-instance
        table (one row per instance and measure, columns ``instance, measure, value, risk``).
    """
    import pandas as pd
    from scipy import stats

    n_instances = positive_int(n_instances, "n_instances", limit="draws")
    if n_instances < 3:
        raise InvalidInputError("n_instances must be ≥ 3 to compute a correlation")
    d = positive_int(d, "d", limit="d")
    n = positive_int(n, "n")
    gen = _generator(rng)
    rows = []
    for k in range(n_instances):
        task = random_task(d, gen, spectrum=spectrum)
        x = task.covariance.sample(n, gen)
        risk = sample_risk(task, x).risk
        b = bounds(task, n)
        measures = {
            "euclidean": float(task.delta @ task.delta),
            "naive": b["naive"].value,
            "zero_shot": float(task.covariance.quadratic_form(task.delta)),
            "benign": b["benign"].value,
            "head_tail": b["head_tail"].value,
            "deterministic": expected_risk(task, n).risk,
        }
        rows += [
            {"instance": k, "measure": m, "value": v, "risk": risk} for m, v in measures.items()
        ]
    inst = pd.DataFrame(rows)
    summary = []
    for m, g in inst.groupby("measure", sort=False):
        summary.append(
            {
                "measure": m,
                "pearson": float(stats.pearsonr(g["value"], g["risk"])[0]),
                "spearman": float(stats.spearmanr(g["value"], g["risk"])[0]),
                "n_instances": n_instances,
                "d": d,
                "n": n,
                "spectrum": spectrum,
            }
        )
    table = pd.DataFrame(summary).sort_values("spearman", ascending=False, ignore_index=True)
    return (table, inst) if return_instances else table
