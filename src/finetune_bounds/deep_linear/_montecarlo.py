"""§3.3: the risk on one design and its expectation over Gaussian designs (private).

Both use the batched kernel :func:`._batch._batch_risks`; their ``info`` aggregates the c_L root
solves behind the numbers (``exact`` for L ∈ {1, ∞} and frozen layers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .._numerics import SolverInfo, check_converged, stderr
from .._validation import FloatArray, as_float_array, as_vector, boolean, nonneg_float, positive_int
from ..errors import InvalidInputError
from ..limits import check_elements
from ..problems import LinearTask
from ..threads import small_blas
from ._batch import _batch_risks
from ._common import (
    _check_frozen,
    _check_task,
    _depth_label,
    _generator,
    _require_finite,
    check_depth,
)
from ._status import _combine, _Solved

__all__ = ["ExpectedRisk", "SampleRisk", "expected_risk", "sample_risk"]


@dataclass(frozen=True)
class SampleRisk(_Solved):
    """Risk of the depth-L fine-tuned network on one design (spec §3.3).

    Attributes
    ----------
    risk : float
        (w − θ_T)ᵀΣ(w − θ_T) for the predictor the network reaches.
    measure : float
        R_L = ‖Σ^{1/2}P_⊥(c_Lθ_S − θ_T)‖² (noiseless c_L; equals ``risk`` without label noise).
    coefficient : float
        c_L (γ with frozen layers).
    linear_risk, infinite_depth_risk : float
        R_1 (linear fine-tuning, §2.2) and R_∞ on the same design (R_L ≤ max of the two for
        full fine-tuning); R_∞ is None when undefined (P_Xθ_S = 0).
    zero_shot : float
        ΔᵀΣΔ.
    depth : float
    frozen_layers : int
    info : SolverInfo
        The c_L root solves behind ``risk``, ``measure`` and the references.
    """

    risk: float
    measure: float
    coefficient: float
    linear_risk: float
    infinite_depth_risk: float | None
    zero_shot: float
    depth: float
    frozen_layers: int = 0
    info: SolverInfo = field(kw_only=True)


def sample_risk(
    task: LinearTask,
    x: ArrayLike,
    depth: Any,
    *,
    frozen_layers: int = 0,
    noise: ArrayLike | None = None,
    rtol: float | None = None,
    strict: bool = False,
) -> SampleRisk:
    """Risk of fine-tuning a depth-L network on the design ``x`` (spec §3.3, §3.5).

    Parameters
    ----------
    task : LinearTask
    x : array_like, shape (n, d)
        Design (rows are samples, in the original coordinates).
    depth : int or inf
    frozen_layers : int
        Number of frozen early layers k (0: all layers trained).
    noise : array_like, shape (n,), optional
        Label noise added to Xθ_T (default none; ``task.noise_variance`` is not sampled here).
    rtol : float, optional
        Rank cut-off for the row space.
    strict : bool
        Raise :class:`ConvergenceError` when a c_L root solve did not converge (otherwise the
        result's ``status``/``info`` say so).

    Raises
    ------
    InvalidInputError
        Bad inputs or degenerate designs (see :func:`solve_predictor`).
    ConvergenceError
        ``strict=True`` and a root solve did not converge.
    """
    _check_task(task)
    L = check_depth(depth)
    k = _check_frozen(frozen_layers)
    xa = as_float_array(x, "X", ndim=2)
    if xa.shape[1] != task.dim:
        raise InvalidInputError(f"X must have {task.dim} columns, got shape {xa.shape}")
    cov = task.covariance
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        xe = cov.to_eigenbasis(xa)[None]
        y = None
        if noise is not None:
            y = (xe[0] @ task.target_eig + as_vector(noise, "noise", xa.shape[0]))[None]
    if not np.all(np.isfinite(xe)) or (y is not None and not np.all(np.isfinite(y))):
        raise InvalidInputError("X (or X θ_T + noise) overflows float64; rescale the inputs")
    if rtol is not None:
        rtol = nonneg_float(rtol, "rtol")
    strict = boolean(strict, "strict")
    lam = cov.eigenvalues
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        return _sample_risk(task, xe, L, k, y, rtol, lam, strict)


def _sample_risk(
    task: LinearTask, xe: FloatArray, L: float, k: int, y: FloatArray | None,
    rtol: float | None, lam: FloatArray, strict: bool,
) -> SampleRisk:
    src, tgt = task.source_eig[None], task.target_eig[None]
    main = _batch_risks(lam, src, tgt, xe, [L], y=y, frozen_layers=k, rtol=rtol)
    ref = _batch_risks(lam, src, tgt, xe, [1.0], y=y, rtol=rtol)
    infos = [main["info"], ref["info"]]
    try:
        inf_out = _batch_risks(lam, src, tgt, xe, [math.inf], y=y, rtol=rtol)
        inf_risk: float | None = float(inf_out["risk"][0, 0])
        infos.append(inf_out["info"])
    except InvalidInputError:  # P_Xθ_S = 0 or P_Xθ_T = 0: R_∞ undefined
        inf_risk = None
    info = _combine(infos)
    check_converged(info, f"c_L root solver (depth {_depth_label(L)})", strict=strict)
    _require_finite(f"the depth-{_depth_label(L)} risk on this design", main["risk"],
                    main["measure"], main["c"], ref["risk"], main["zero_shot"])
    if inf_risk is not None and not math.isfinite(inf_risk):
        inf_risk = None
    return SampleRisk(
        risk=float(main["risk"][0, 0]),
        measure=float(main["measure"][0, 0]),
        coefficient=float(main["c"][0, 0]),
        linear_risk=float(ref["risk"][0, 0]),
        infinite_depth_risk=inf_risk,
        zero_shot=float(main["zero_shot"][0]),
        depth=L,
        frozen_layers=k,
        info=info,
    )


@dataclass(frozen=True)
class ExpectedRisk(_Solved):
    """Monte Carlo expectation over Gaussian designs x ~ N(0, Σ) (spec §3.3).

    Attributes
    ----------
    risk, risk_stderr : float
        Mean and standard error (std/√draws) of the predictor's risk.
    measure, measure_stderr : float
        The same for R_L (noiseless c_L).
    coefficient : float
        Mean c_L (γ for frozen layers).
    n, depth, draws, frozen_layers
    info : SolverInfo
        Aggregate of the per-draw c_L root solves (``info.extra["counts"]`` counts draws by
        status; ``converged`` is True only when every draw's solve converged).
    """

    risk: float
    risk_stderr: float
    measure: float
    measure_stderr: float
    coefficient: float
    n: int
    depth: float
    draws: int
    frozen_layers: int = 0
    info: SolverInfo = field(kw_only=True)


def _draw_designs(
    task: LinearTask, n: int, b: int, rng: np.random.Generator,
    noise_rng: np.random.Generator | None = None,
) -> tuple[FloatArray, FloatArray | None]:
    """Designs in Σ's eigenbasis (x = z√λ) and, with label noise, noisy labels.

    The noise comes from its own stream ``noise_rng`` so that neither stream depends on how the
    draws are chunked (the result must not depend on ``batch``)."""
    lam = task.covariance.eigenvalues
    xe = rng.standard_normal((b, n, lam.shape[0])) * np.sqrt(lam)
    y = None
    if task.noise_variance > 0:
        src = rng if noise_rng is None else noise_rng
        y = xe @ task.target_eig + math.sqrt(task.noise_variance) * src.standard_normal((b, n))
    return xe, y


@small_blas
def expected_risk(
    task: LinearTask,
    n: int,
    depth: Any,
    *,
    draws: int = 200,
    rng: np.random.Generator | int | None = None,
    frozen_layers: int = 0,
    batch: int = 256,
    strict: bool = False,
) -> ExpectedRisk:
    """E_X[R_L] over n Gaussian target samples, by Monte Carlo of the closed form (§3.3).

    Each draw: X with rows ~ N(0, Σ) (sampled in Σ's eigenbasis; the risk is rotation
    invariant), labels Xθ_T (+ noise if ``task.noise_variance`` > 0), the closed-form predictor,
    its exact risk. Batched (``batch`` designs per SVD call); standard errors from the sample
    standard deviation. ``strict=True`` raises :class:`ConvergenceError` when the c_L root
    solve of some draw did not converge (otherwise ``status``/``info`` say so).

    Raises
    ------
    InvalidInputError
        n < 1, draws < 2, depth < 1, or a degenerate draw (θ_T = 0, θ_S = 0).
    ConvergenceError
        ``strict=True`` and some draw's root solve did not converge.

    Notes
    -----
    Runs with the library's ``small`` BLAS thread setting (one thread by default; batched
    small linear algebra is slower with more, see :mod:`finetune_bounds.threads`).
    """
    _check_task(task)
    n = positive_int(n, "n", limit="n")
    L = check_depth(depth)
    k = _check_frozen(frozen_layers)
    draws = positive_int(draws, "draws", limit="draws")
    if draws < 2:
        raise InvalidInputError("draws must be ≥ 2 to estimate a standard error")
    batch = positive_int(batch, "batch")
    strict = boolean(strict, "strict")
    check_elements(min(batch, draws), n, task.dim, name="batch × n × d (one batch of designs)")
    check_elements(draws, n, task.dim, name="draws × n × d (Gaussian design entries)")
    gen = _generator(rng)
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        return _expected_risk(task, n, L, k, draws, batch, gen, strict)


def _expected_risk(
    task: LinearTask, n: int, L: float, k: int, draws: int, batch: int,
    gen: np.random.Generator, strict: bool,
) -> ExpectedRisk:
    # label noise from a child stream (created only with noise: noiseless draws are unchanged)
    noise_gen = gen.spawn(1)[0] if task.noise_variance > 0 else None
    risks, measures, cs, infos = [], [], [], []
    done = 0
    while done < draws:
        b = min(batch, draws - done)
        xe, y = _draw_designs(task, n, b, gen, noise_gen)
        src = np.broadcast_to(task.source_eig, (b, task.dim))
        tgt = np.broadcast_to(task.target_eig, (b, task.dim))
        out = _batch_risks(task.covariance.eigenvalues, src, tgt, xe, [L], y=y, frozen_layers=k)
        risks.append(out["risk"][:, 0])
        measures.append(out["measure"][:, 0])
        cs.append(out["c"][:, 0])
        infos.append(out["info"])
        done += b
    info = _combine(infos)
    check_converged(info, f"c_L root solver (depth {_depth_label(L)}, Monte Carlo)",
                    strict=strict)
    r, m, c = np.concatenate(risks), np.concatenate(measures), np.concatenate(cs)
    _require_finite(f"the depth-{_depth_label(L)} Monte Carlo risk", r, m, c)
    r_mean, r_err, m_mean, m_err, c_mean = (
        float(r.mean()), float(stderr(r)), float(m.mean()), float(stderr(m)), float(c.mean())
    )
    _require_finite(f"the depth-{_depth_label(L)} Monte Carlo mean risk",
                    [r_mean, r_err, m_mean, m_err, c_mean])
    return ExpectedRisk(
        r_mean, r_err, m_mean, m_err, c_mean, n, L, draws, k, info=info,
    )
