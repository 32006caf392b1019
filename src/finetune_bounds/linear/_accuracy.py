"""How accurate an expected risk is: the :class:`Accuracy` of every route, and the calibrated
error rule of the deterministic equivalent (issue 9, item 2).

Spec ``linear-teachers.md`` §2.3. Regime: Gaussian designs, ridgeless fine-tuning, 0 < n < r.

**The DE error rule.** The expected bias is Σ_i w_i(n) Δ̃_i² (see
:mod:`finetune_bounds.linear._weights`); the DE replaces w_i by
w_i^DE = λ_i κ²/(λ_i + κ)²/(1 − γ) and the variance factor by γ/(1 − γ). Its error on a task is
therefore a weighted average of per-coordinate relative errors e_i = w_i^DE/w_i − 1. We bound
them by

    |e_i(n)| ≤ A s_i²/m + B/m + C/(r − n),    s_i = λ_i/(λ_i + κ),   m = n(1 − γ),

and the variance factor's by B/m + C/(r − n) (its isotropic exact value is n/(r − n − 1) against
the DE's n/(r − n)). The three terms have a reason: a direction the n samples have learned
(s_i → 1) behaves like an inverse Wishart moment with about n − γn "free" samples (a relative
correction of order 1/(n − γn)); every weight carries the fluctuation of 1/(1 − γ̂) (B/m); and
close to the interpolation peak the finite rank matters (C/(r − n)). m and γ come from the same
κ solve as the DE itself, so the rule costs nothing.

**Calibration.** A, B, C are the smallest non-negative constants (a linear programme) for which
the bound holds, on every measurable coordinate, above |e_i| − 2 s.e.(e_i), where w_i came from
:func:`~finetune_bounds.linear.risk_weights` (0.3 % relative tolerance, up to 4 000 designs) on
nine spectra at d = 300 (spiked 6×12 over 0.05, spiked 15×50 over 1, power laws of exponent 0.5,
1, 1.5, 2, exponentials of scale 10 and 30, flat) and n ∈ {3, 5, 10, 20, 30, 60, 120, 200, 240,
280} — 25 700 coordinate-n pairs (left out: weights below 1e-10 λ_max, which are round-off, and
coordinates whose own Monte Carlo relative error exceeded 20 %). The fit gave A = 2.40,
B = 0.335, C = 1.17; the constants below round them up. The binding cases: a tail direction of
the exponential spectrum of scale 30 at n = 120 (−3.4 ± 0.8 %), a head direction of the power
law 1 at n = 120 (−8.7 ± 1.9 %) and a tail direction of the exponential of scale 10 at n = 60
(−5.9 ± 0.9 %); the largest errors overall are head directions at small n (power law 2, n = 5:
−44 %; spiked, n = 10: −23 %). At d = 300 the rule therefore certifies 1 % only rarely (its
terms at n = 120 already add to ≈ 1.3 % for a tail direction): there ``method="auto"`` takes the
Monte Carlo route, which is cheap at that size; the terms shrink as n and r − n grow. The rule was
then checked on spectra, dimensions and tasks it was not fitted on (tests/test_linear_accuracy.py
and ``benchmarks/de_accuracy.py``). The DE is asymptotically exact, and so is the rule: every term
vanishes as n, r − n → ∞ with s_i fixed.

It is a measured envelope, not a theorem: outside the calibrated range (d far from 300, spectra
unlike these) it is an estimate. Σ ∝ I is the one case the DE bias is exact; ``method="auto"``
uses the exact isotropic formulas there instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .._validation import FloatArray

__all__ = ["DE_RULE", "Accuracy", "de_relative_error"]

#: the calibrated constants (A, B, C) of the DE error rule (rounded up from 2.40, 0.335, 1.17)
DE_RULE: tuple[float, float, float] = (2.5, 0.35, 1.2)

AccuracyKind = Literal["exact", "standard_error", "calibrated"]


@dataclass(frozen=True)
class Accuracy:
    """How accurate an expected risk is and how that is known.

    Attributes
    ----------
    kind : {"exact", "standard_error", "calibrated"}
        ``exact``: a closed form (n = 0, n ≥ r, Σ ∝ I), ``rel_error`` = 0. ``standard_error``:
        a Monte Carlo route, ``rel_error`` = one standard error over |risk|. ``calibrated``: the
        deterministic equivalent, ``rel_error`` = the calibrated bound of
        :mod:`finetune_bounds.linear._accuracy` (the DE is typically *low* by up to this much).
    rel_error : float
        Relative error (inf where the risk itself is infinite or the estimate is unusable).
    basis : str
        One line saying where the number comes from.
    """

    kind: AccuracyKind
    rel_error: float
    basis: str

    def within(self, rel_tol: float) -> bool:
        """True when the stated relative error is ≤ ``rel_tol``."""
        return bool(self.rel_error <= rel_tol)


EXACT = Accuracy("exact", 0.0, "closed form")


def sampling_accuracy(risk: float, se: float, what: str) -> Accuracy:
    """Accuracy of a Monte Carlo estimate: one standard error relative to |risk|."""
    if se == 0.0:
        rel = 0.0
    elif risk == 0.0 or not math.isfinite(se) or not math.isfinite(risk):
        rel = math.inf
    else:
        rel = se / abs(risk)
    return Accuracy("standard_error", rel, f"{what}: one standard error")


def de_relative_error(
    lam: FloatArray,
    delta2: FloatArray,
    sigma2: float,
    ns: FloatArray,
    kappa: FloatArray,
    gamma: FloatArray,
    bias: FloatArray,
    variance: FloatArray,
) -> FloatArray:
    """The calibrated relative error of the DE risk at each n (0 < n < r), for one task.

    ``lam``, ``delta2``: positive eigenvalues and the task's Δ̃_i² on them; ``kappa``, ``gamma``,
    ``bias``, ``variance``: the DE's arrays at ``ns``. Returns
    (Σ_i ē_i w_i^DE Δ̃_i² + ē_v σ² v^DE)/(bias + variance), ē the per-coordinate bounds, so a
    task's bound is the DE-weighted average of its coordinates' bounds (0/0 → 0).
    """
    a, b, c = DE_RULE
    r = lam.size
    out = np.zeros_like(ns)
    step = max(1, 2_000_000 // max(r, 1))
    ld = lam * delta2
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        m = ns * (1.0 - gamma)
        common = b / m + c / (r - ns)
        for s0 in range(0, ns.size, step):
            sl = slice(s0, s0 + step)
            kk = kappa[sl, None]
            s = lam / (lam + kk)
            w_de = (kk / (lam + kk)) ** 2 * ld / (1.0 - gamma[sl, None])
            out[sl] = np.sum(w_de * (a * s * s), axis=1) / m[sl]
        total = bias + variance
        num = out + common * total
        rel = np.where(total > 0, num / total, 0.0)
    return np.asarray(np.where(np.isfinite(rel), rel, math.inf))
