"""Diagonal networks: the exact min-Q interpolant and the ℓ-order / PD regime measures.

Spec ``diagonal-networks.md`` §2 (implicit bias, dual solver, ℓ and PD) and §4 (regimes). Every
draw is seeded; tolerances are stated next to each assertion with where they come from.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.optimize import linprog

from finetune_bounds._numerics import SolverStatus
from finetune_bounds.diagonal._bias import (
    ELL_LAZY,
    PD_DEPENDENT,
    MinQSolution,
    classify_regime,
    ell_order,
    min_q_interpolant,
    pd_sensitivity,
    pretraining_dependence,
    regime_measures,
)
from finetune_bounds.diagonal._penalty import c_finetune, q
from finetune_bounds.errors import ConvergenceError, InvalidInputError

#: the spec's four regime settings (§4), c_PT = 1e-3: (regime, λ_PT, γ_FT)
SETTINGS = [("II", 0.0, 0.0), ("IV", -0.99, 0.0), ("I", -0.999999, 1e-6), ("III", 0.0, 10.0)]


def _problem(
    seed: int, d: int, n: int, *, density: float = 0.3
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)) / np.sqrt(d)
    beta = rng.standard_normal(d) * (rng.random(d) < density)
    return x, x @ beta, beta


def _rowspace_defect(x: np.ndarray, g: np.ndarray) -> float:
    """‖g − P_row(X) g‖/‖g‖ by least squares (independent of the solver's reduction)."""
    coef = np.linalg.lstsq(x.T, g, rcond=None)[0]
    return float(np.linalg.norm(g - x.T @ coef) / np.linalg.norm(g))


# ---------------------------------------------------------------------------------------------
# min-Q interpolant
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(4))
def test_dual_matches_cvxpy(seed: int) -> None:
    x, y, _ = _problem(seed, 60, 25)
    c = 10.0 ** np.random.default_rng(100 + seed).uniform(-3, 1, 60)
    dual = min_q_interpolant(x, y, c, method="dual")
    cvx = min_q_interpolant(x, y, c, method="cvxpy")
    assert isinstance(dual, MinQSolution) and dual.method == "dual" and cvx.method == "cvxpy"
    assert dual.converged and cvx.converged
    assert cvx.info.extra["solver"] == "CLARABEL"
    # both interpolate to the default tolerance
    for sol in (dual, cvx):
        assert sol.info.residual <= 1e-10
        assert np.linalg.norm(x @ sol.beta - y) <= 1e-10 * np.linalg.norm(y)
    # Clarabel at gap/feasibility tolerances 1e-12 agrees to ~1e-9 (measured ≤ 7e-10 on these
    # draws); 1e-7 leaves a 100x margin and is far below any modelling difference
    assert np.linalg.norm(dual.beta - cvx.beta) <= 1e-7 * np.linalg.norm(dual.beta)
    assert abs(dual.objective - cvx.objective) <= 1e-8 * dual.objective
    assert dual.objective == pytest.approx(float(np.sum(q(dual.beta, c))), rel=1e-14)


@pytest.mark.parametrize("c_scale", [1e-9, 1e-6, 1e-3, 1.0, 1e3])
def test_dual_kkt(c_scale: float) -> None:
    # stationarity q'(β_i; c_i) = ½arcsinh(β_i/c_i) = (Xᵀμ)_i: ½arcsinh(β/c) ∈ rowspace X
    x, y, _ = _problem(7, 120, 50, density=0.2)
    c = c_scale * 10.0 ** np.random.default_rng(8).uniform(-1, 1, 120)
    sol = min_q_interpolant(x, y, c)
    assert sol.status is SolverStatus.CONVERGED and sol.info.residual <= 1e-10
    g = 0.5 * np.arcsinh(sol.beta / c)
    # round-off level: the dual builds β = c·sinh(2Xᵀν) exactly; measured defect ~2e-15
    assert _rowspace_defect(x, g) <= 1e-12
    # and it beats other interpolants (the minimum-norm one, a perturbed one)
    other = np.linalg.pinv(x) @ y
    null = np.random.default_rng(9).standard_normal(120)
    null -= np.linalg.pinv(x) @ (x @ null)
    for b in (other, sol.beta + 1e-3 * null):
        assert float(np.sum(q(b, c))) > sol.objective


def test_large_c_gives_min_norm_interpolant() -> None:
    # q ≈ z²/(4c) + O(z⁴/c³): relative deviation from X⁺y is O((β/c)²) ~ 1e-12 at c = 1e6
    x, y, _ = _problem(3, 80, 30, density=1.0)
    sol = min_q_interpolant(x, y, 1e6)
    ref = np.linalg.pinv(x) @ y
    assert np.linalg.norm(sol.beta - ref) <= 1e-9 * np.linalg.norm(ref)


def test_small_c_approaches_basis_pursuit() -> None:
    rng = np.random.default_rng(3)
    d, n, k = 100, 50, 5
    x = rng.standard_normal((n, d)) / np.sqrt(d)
    beta = np.zeros(d)
    beta[rng.choice(d, k, replace=False)] = rng.choice([-1.0, 1.0], k) * (1 + rng.random(k))
    y = x @ beta
    lp = linprog(np.ones(2 * d), A_eq=np.hstack([x, -x]), b_eq=y, bounds=(0, None),
                 method="highs")
    assert lp.status == 0
    bp = lp.x[:d] - lp.x[d:]
    assert np.linalg.norm(bp - beta) <= 1e-8  # the problem is recoverable: BP finds β*
    errors = [
        float(np.linalg.norm(min_q_interpolant(x, y, c).beta - bp) / np.linalg.norm(bp))
        for c in (1e-2, 1e-4, 1e-6)
    ]
    # measured 9e-2, 5e-3, 2.4e-4: the gap shrinks with c and is below 1e-3 at c = 1e-6
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] <= 1e-3


@pytest.mark.parametrize(("regime", "lam", "gamma"), SETTINGS)
def test_dual_on_spec_settings(regime: str, lam: float, gamma: float) -> None:
    # c_FT from a 10 %-sparse perfect pretraining (|β_PT| = 1/√0.1): c from 2e-9 to 50
    d, n = 400, 120
    beta_pt = np.zeros(d)
    beta_pt[: d // 10] = 1 / math.sqrt(0.1)
    c = c_finetune(beta_pt, 1e-3, lam, gamma)
    x, y, _ = _problem(11, d, n, density=0.1)
    sol = min_q_interpolant(x, y, c)
    assert sol.converged and sol.info.residual <= 1e-10
    assert _rowspace_defect(x, 0.5 * np.arcsinh(sol.beta / c)) <= 1e-12  # as in test_dual_kkt


def test_scalar_and_vector_c_agree() -> None:
    x, y, _ = _problem(5, 40, 15)
    a = min_q_interpolant(x, y, 0.01)
    b = min_q_interpolant(x, y, np.full(40, 0.01))
    np.testing.assert_array_equal(a.beta, b.beta)
    assert not a.beta.flags.writeable


def test_rank_deficient_and_overdetermined_designs() -> None:
    x, y, _ = _problem(6, 50, 20)
    dup = np.vstack([x, x[:5]])  # duplicated rows: rank 20 with n = 25
    sol = min_q_interpolant(dup, np.concatenate([y, y[:5]]), 0.1)
    assert sol.info.extra["reduction"] == "svd" and sol.info.extra["rank"] == 20
    ref = min_q_interpolant(x, y, 0.1)
    assert np.linalg.norm(sol.beta - ref.beta) <= 1e-9 * np.linalg.norm(ref.beta)
    # n > d, consistent labels: the interpolant is unique and equals β*
    x2, y2, beta2 = _problem(4, 20, 35, density=1.0)
    sol2 = min_q_interpolant(x2, y2, 1e-3)
    assert np.linalg.norm(sol2.beta - beta2) <= 1e-9 * np.linalg.norm(beta2)


@pytest.mark.parametrize("method", ["dual", "cvxpy"])
def test_zero_labels_give_zero(method: str) -> None:
    x, _, _ = _problem(0, 30, 10)
    sol = min_q_interpolant(x, np.zeros(10), 0.5, method=method)
    assert sol.status is SolverStatus.EXACT and sol.objective == 0.0
    np.testing.assert_array_equal(sol.beta, np.zeros(30))


def test_strictness() -> None:
    x, y, _ = _problem(2, 60, 25)
    with pytest.raises(ConvergenceError):
        min_q_interpolant(x, y, 1e-6, max_iter=1)
    sol = min_q_interpolant(x, y, 1e-6, max_iter=1, strict=False)
    assert sol.status is SolverStatus.MAX_ITERATIONS and not sol.converged
    assert sol.info.iterations == 1 and sol.info.residual > 1e-10


def test_bad_inputs_raise() -> None:
    x, y, _ = _problem(1, 30, 10)
    bad_x = x.copy()
    bad_x[0, 0] = np.nan
    bad_y = y.copy()
    bad_y[3] = np.inf
    cases = [
        (bad_x, y, 1.0, {}),
        (x, bad_y, 1.0, {}),
        (x, y[:-1], 1.0, {}),  # shape mismatch
        (x[0], y[:1], 1.0, {}),  # 1-D design
        (x, y, np.ones(29), {}),  # c of the wrong length
        (x, y, 0.0, {}),
        (x, y, -np.ones(30), {}),
        (x, y, np.nan, {}),
        (x, y, 1.0, {"method": "lbfgs"}),
        (x, y, 1.0, {"tol": 0.0}),
        (x, y, 1.0, {"max_iter": 0}),
        (np.zeros((0, 30)), np.zeros(0), 1.0, {}),
    ]
    for xa, ya, ca, kw in cases:
        with pytest.raises(InvalidInputError):
            min_q_interpolant(xa, ya, ca, **kw)
    # inconsistent labels (n > d): no interpolant exists
    x2, _, _ = _problem(2, 10, 20)
    with pytest.raises(InvalidInputError, match="range"):
        min_q_interpolant(x2, np.random.default_rng(0).standard_normal(20), 1.0)


# ---------------------------------------------------------------------------------------------
# ℓ-order, sensitivity, pretraining dependence
# ---------------------------------------------------------------------------------------------
_beta = st.floats(-1e8, 1e8, allow_nan=False)
_pos = st.floats(1e-9, 1e6)
_lam = st.floats(-0.999999, 1.0)
_gamma = st.floats(0.0, 100.0)


@given(_beta, _pos)
def test_ell_in_range(beta_ft: float, c_ft: float) -> None:
    ell = ell_order(beta_ft, c_ft)
    assert isinstance(ell, float) and 1.0 <= ell <= 2.0


@given(_beta, st.floats(1e-8, 1e4), _lam, _gamma, _beta)
def test_pd_and_sum_in_range(
    beta_pt: float, c_pt: float, lam: float, gamma: float, beta_ft: float
) -> None:
    s = pd_sensitivity(beta_pt, c_pt, lam, gamma)
    pd = pretraining_dependence(beta_pt, c_pt, lam, gamma, beta_ft=beta_ft)
    m = regime_measures(c_pt, lam, gamma, beta_pt=beta_pt, beta_ft=beta_ft)
    assert 0.0 <= s <= 1.0
    assert -1.0 <= pd <= 0.0
    assert m.pd == pd and m.sensitivity == s
    assert 1.0 - 1e-12 <= m.ell + m.pd <= 2.0 + 1e-12
    assert m.regime in {"I", "II", "III", "IV"}


def test_ell_series_and_limits() -> None:
    u = np.array([1e-6, 1e-4, 1e-3, 5e-3, 2e-2])
    series = 2.0 - u**2 / 6.0 + 31.0 * u**4 / 360.0  # next term ≈ −u⁶/18 ≤ 4e-12
    np.testing.assert_allclose(ell_order(u, 1.0), series, rtol=0, atol=1e-11)
    assert ell_order(0.0, 1.0) == 2.0 and ell_order(0.0, 1e-9) == 2.0
    # even in u, and depends on β_FT/c_FT only
    assert ell_order(-3.0, 2.0) == ell_order(3.0, 2.0) == ell_order(1.5, 1.0)
    # moderate u: the defining formula u·arcsinh(u)/h(u) (no cancellation there)
    um = np.geomspace(0.1, 1e3, 25)
    h = 1.0 - np.sqrt(1.0 + um**2) + um * np.arcsinh(um)
    np.testing.assert_allclose(ell_order(um, 1.0), um * np.arcsinh(um) / h, rtol=1e-12)
    # large u: ℓ = L/(L − 1) + O(1/u), L = ln 2u
    big = 1e12
    lg = math.log(2 * big)
    assert ell_order(big, 1.0) == pytest.approx(lg / (lg - 1.0), rel=1e-10)
    # u overflowing to inf gives the ℓ1 limit, without warnings
    assert ell_order(1e300, 1e-300) == 1.0


@pytest.mark.parametrize(
    ("beta_pt", "c_pt", "lam", "gamma"),
    [(1.0, 1e-3, 0.0, 0.0), (0.3, 1.0, -0.5, 0.5), (3.0, 0.1, 0.9, 2.0), (-2.0, 1e-2, -0.99, 0.0),
     (1e-4, 1e-3, 0.2, 1e-3)],
)
def test_sensitivity_is_log_derivative_of_c_finetune(
    beta_pt: float, c_pt: float, lam: float, gamma: float
) -> None:
    h = 1e-5  # central difference: truncation O(h²) ~ 1e-10, round-off ~ eps/h ~ 1e-11
    up = c_finetune(abs(beta_pt) * math.exp(h), c_pt, lam, gamma)
    down = c_finetune(abs(beta_pt) * math.exp(-h), c_pt, lam, gamma)
    fd = float((np.log(up) - np.log(down)) / (2 * h))
    assert pd_sensitivity(beta_pt, c_pt, lam, gamma) == pytest.approx(fd, abs=1e-8)
    # the broadcast c_FT of regime_measures is c_finetune's
    m = regime_measures(c_pt, lam, gamma, beta_pt=beta_pt)
    assert m.c_ft == pytest.approx(float(c_finetune(beta_pt, c_pt, lam, gamma)), rel=1e-14)


def test_sensitivity_limits_and_saddle() -> None:
    # γ = 0: s = 1 − 1/√(1 + (β/c)²) whatever λ
    for lam in (-1.0, -0.5, 0.0, 1.0):
        assert pd_sensitivity(1.0, 1.0, lam, 0.0) == pytest.approx(1 - 1 / math.sqrt(2), rel=1e-14)
    assert pd_sensitivity(0.0, 1.0, 0.0, 0.0) == 0.0
    assert pd_sensitivity(1e-3, 1.0, 0.0, 1e4) < 1e-12  # the re-initialisation dominates
    # PD = 0 at the lazy, PT-independent end; PD → −1 at the lazy, PT-dependent end
    assert pretraining_dependence(1.0, 1e-3, 0.0, 1e4, beta_ft=1.0) > -1e-6
    assert pretraining_dependence(1e3, 1e-6, 0.0, 0.0, beta_ft=1e-3) < -0.999
    with pytest.raises(InvalidInputError, match="saddle"):
        pretraining_dependence(1.0, 1e-3, -1.0, 0.0, beta_ft=1.0)
    with pytest.raises(InvalidInputError, match="saddle"):
        regime_measures(1e-3, np.array([-1.0, 0.0]), 0.0)
    for args in ((1.0, 0.0, 0.0, 0.0), (1.0, 1.0, 1.5, 0.0), (1.0, 1.0, 0.0, -1.0),
                 (np.nan, 1.0, 0.0, 0.0)):
        with pytest.raises(InvalidInputError):
            pd_sensitivity(*args)
    with pytest.raises(InvalidInputError):
        regime_measures(np.ones(3), np.zeros(4), 0.0)
    with pytest.raises(InvalidInputError):
        ell_order(1.0, 0.0)


# ---------------------------------------------------------------------------------------------
# regimes
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("regime", "lam", "gamma"), SETTINGS)
@pytest.mark.parametrize("beta_pt", [1.0, 1 / math.sqrt(0.1)])
def test_spec_settings_are_classified(
    regime: str, lam: float, gamma: float, beta_pt: float
) -> None:
    # default representative magnitudes |β_PT| = |β_FT| = 1 (E[β*²] = 1), and the nonzero size
    # 1/√ρ_PT of the spec's 10 %-sparse pretraining teacher
    m = regime_measures(1e-3, lam, gamma, beta_pt=beta_pt)
    assert m.regime == regime
    assert classify_regime(m.ell, m.pd) == regime


@pytest.mark.parametrize(("regime", "lam", "gamma"), SETTINGS)
def test_spec_settings_robust_to_magnitudes(regime: str, lam: float, gamma: float) -> None:
    # the band documented in regime_measures: |β_PT| ∈ [0.3, √10], |β_FT|/|β_PT| ∈ [0.066, 6.4]
    beta_pt = np.geomspace(0.3, math.sqrt(10), 20)[:, None]
    ratio = np.geomspace(0.066, 6.4, 30)[None, :]
    m = regime_measures(1e-3, lam, gamma, beta_pt=beta_pt, beta_ft=ratio * beta_pt)
    assert np.all(m.regime == regime)


def test_spec_settings_values() -> None:
    # the values quoted in regime_measures' docstring
    expected = {"II": (1.887, -0.886), "IV": (1.230, -0.230), "I": (1.074, -0.074),
                "III": (2.000, -0.020)}
    for regime, lam, gamma in SETTINGS:
        m = regime_measures(1e-3, lam, gamma)
        assert (m.ell, m.pd) == pytest.approx(expected[regime], abs=1e-3)


def test_classify_regime_thresholds() -> None:
    assert classify_regime(1.0, 0.0) == "I"
    assert classify_regime(2.0, -1.0) == "II"
    assert classify_regime(2.0, 0.0) == "III"
    assert classify_regime(1.3, -0.3) == "IV"
    assert classify_regime(ELL_LAZY, PD_DEPENDENT) == "II"  # thresholds are inclusive
    assert classify_regime(np.nextafter(ELL_LAZY, 0), PD_DEPENDENT) == "IV"
    assert classify_regime(np.nextafter(ELL_LAZY, 0), np.nextafter(PD_DEPENDENT, 0)) == "I"
    labels = classify_regime([[1.0, 2.0], [2.0, 1.3]], [[0.0, -1.0], [0.0, -0.3]])
    assert isinstance(labels, np.ndarray) and labels.shape == (2, 2)
    assert labels.tolist() == [["I", "II"], ["III", "IV"]]
    for ell, pd in ((0.9, 0.0), (2.1, -1.0), (1.5, 0.2), (1.5, -1.2), (np.nan, 0.0)):
        with pytest.raises(InvalidInputError):
            classify_regime(ell, pd)


def test_regime_map_is_vectorised() -> None:
    lam = np.linspace(-0.999999, 1.0, 50)
    c_pt = np.geomspace(1e-6, 10.0, 50)
    lam_grid, c_grid = np.meshgrid(lam, c_pt, indexing="ij")
    regime_measures(c_grid, lam_grid, 0.0)  # warm-up (imports, first-call overheads)
    t0 = time.perf_counter()
    m = regime_measures(c_grid, lam_grid, 0.0)
    elapsed = time.perf_counter() - t0
    # measured ~1 ms; 0.25 s would mean a Python loop over the 2500 cells (~50 µs each)
    assert elapsed < 0.25
    for arr in (m.ell, m.pd, m.sensitivity, m.c_ft, m.regime):
        assert isinstance(arr, np.ndarray) and arr.shape == (50, 50)
        assert not arr.flags.writeable
    assert set(np.unique(m.regime)) <= {"I", "II", "III", "IV"}
    # elementwise agreement with scalar calls
    for i, j in ((0, 0), (10, 45), (49, 3), (25, 25)):
        one = regime_measures(c_pt[j], lam[i], 0.0)
        assert (one.ell, one.pd, one.regime) == (m.ell[i, j], m.pd[i, j], m.regime[i, j])
    # small c_PT: λ_PT → −1 is rich (I), λ_PT ≥ 0 lazy and PT-dependent (II); large c_PT: lazy
    assert m.regime[0, 0] == "I" and m.regime[49, 0] == "II"
    assert m.ell[-1, -1] > 1.99
