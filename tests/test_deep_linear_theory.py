"""Deep linear fine-tuning theory (spec linear-teachers §3): every route against another.

Routes: closed form (c_L root), cvxpy implicit-bias program, gradient-flow ODE; Monte Carlo
expectations by two independent samplers; frozen layers against brute-force least squares.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import finetune_bounds as fb
from finetune_bounds import SolverStatus
from finetune_bounds import deep_linear as dl
from finetune_bounds.deep_linear._route_ode import _ode_rhs_jac
from finetune_bounds.errors import (
    ConvergenceError,
    InvalidInputError,
    NotReachableError,
    SolverError,
)


def _problem(seed: int, d: int = 30, n: int = 6, alpha: float = 0.7, eps: float = 0.5):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    src = rng.standard_normal(d) / math.sqrt(d)
    tgt = alpha * src + eps * rng.standard_normal(d) / math.sqrt(d)
    return x, x @ tgt, src, tgt


def _proj(x):
    return np.linalg.pinv(x) @ x


def _rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


# ------------------------------------------------------------------------------ c_L
def test_coefficient_solves_the_root_equation_and_lies_between_1_and_c_inf():
    rng = np.random.default_rng(0)
    s2 = rng.uniform(0.5, 2, 50)
    a2 = s2 * rng.uniform(0.01, 0.99, 50)
    b2 = rng.uniform(0.01, 5, 50)
    c_inf = dl.depth_coefficient(s2, a2, b2, math.inf).value
    np.testing.assert_allclose(c_inf, np.sqrt(b2 / (s2 - a2)), rtol=1e-14)
    prev = np.ones(50)
    for L in (2, 3, 5, 10, 100, 10_000, 10**8):
        sol = dl.depth_coefficient(s2, a2, b2, L)
        assert sol.status is SolverStatus.CONVERGED and sol.converged
        assert sol.info.extra["counts"] == {"converged": 50}
        c = sol.value
        p = 2 * L / (L - 1)
        # the root equation itself, independently of the log-space solver
        np.testing.assert_allclose(c**p * s2, b2 + c**2 * a2, rtol=1e-12)
        assert np.all(sol.residual < 1e-12)
        lo, hi = np.minimum(1, c_inf), np.maximum(1, c_inf)
        assert np.all((c >= lo * (1 - 1e-12)) & (c <= hi * (1 + 1e-12)))
        # monotone in L: |log c_L| grows towards |log c_∞|
        assert np.all(np.abs(np.log(c)) >= np.abs(np.log(prev)) - 1e-12)
        prev = c


def test_coefficient_converges_to_c_inf_at_the_derived_rate():
    # [derived] t_L = t_∞ − (2/(L−1)) t_∞ / φ'(t_∞), φ'(t_∞) = 2Q/S:
    # c_L = c_∞ (1 − (S/Q) log(c_∞)/(L − 1) + O(L⁻²))
    s2, a2, b2 = 1.3, 0.9, 0.7
    q2 = s2 - a2
    c_inf = math.sqrt(b2 / q2)
    for L in (100, 1000, 10_000):
        c = float(dl.depth_coefficient(s2, a2, b2, L).value)
        first_order = c_inf * (1 - (s2 / q2) * math.log(c_inf) / (L - 1))
        assert abs(c - first_order) < 20.0 / L**2 * c_inf  # the O(L⁻²) remainder
        assert abs(c - c_inf) > 0.1 * abs(first_order - c_inf)  # the 1/L term is real


def test_coefficient_special_cases():
    assert float(dl.depth_coefficient(1.0, 0.3, 0.2, 1).value) == 1.0
    # A = 0 (P_⊥θ_S = 0): c^{2L/(L−1)} S = B² exactly
    c = float(dl.depth_coefficient(2.0, 0.0, 0.5, 3).value)
    assert c == pytest.approx((0.5 / 2.0) ** (2 / 6), rel=1e-14)
    # Q = 0 (θ_S ⟂ row space): finite c for finite L, error at L = ∞
    c = float(dl.depth_coefficient(1.0, 1.0, 0.5, 4).value)
    assert c**(8 / 3) == pytest.approx(0.5 + c**2, rel=1e-12)
    with pytest.raises(InvalidInputError, match="diverges"):
        dl.depth_coefficient(1.0, 1.0, 0.5, math.inf)


# ------------------------------------------------------------------------------ three routes
@pytest.mark.parametrize("depth", [1, 2, 3, 5, 7, math.inf])
@pytest.mark.parametrize("seed", [0, 1])
def test_closed_form_matches_cvxpy(depth, seed):
    x, y, src, _ = _problem(seed, alpha=[0.7, 1.8][seed])
    cf = dl.solve_predictor(x, y, src, depth)
    cv = dl.solve_predictor(x, y, src, depth, "cvxpy")
    assert cv.converged and cv.diagnostics["status"].startswith("optimal")
    assert cv.status is SolverStatus.CONVERGED and cv.info.extra["cvxpy_status"].startswith("opt")
    assert cf.status is (SolverStatus.EXACT if depth in (1, math.inf) else SolverStatus.CONVERGED)
    assert _rel(cv.predictor, cf.predictor) < 1e-5  # required agreement (issue 4)
    assert cv.coefficient == pytest.approx(cf.coefficient, rel=1e-5)


def test_cvxpy_least_squares_regime_and_scaled_design():
    # n > d (P_⊥ = 0): every route gives the least-squares solution; a badly scaled design too
    rng = np.random.default_rng(3)
    x = rng.standard_normal((12, 5)) * np.array([10.0, 1.0, 1.0, 0.1, 0.1])
    src, tgt = rng.standard_normal(5), rng.standard_normal(5)
    y = x @ tgt + 0.1 * rng.standard_normal(12)
    ls = np.linalg.lstsq(x, y, rcond=None)[0]
    for depth in (1, 3, math.inf):
        for method in ("closed_form", "cvxpy"):
            assert _rel(dl.predictor(x, y, src, depth, method), ls) < 1e-6


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
def test_closed_form_matches_gradient_flow_ode(depth):
    x, y, src, _ = _problem(4, alpha=1.6)
    cf = dl.solve_predictor(x, y, src, depth)
    ode = dl.solve_predictor(x, y, src, depth, "ode")
    assert ode.converged and ode.residual <= 1e-10
    assert ode.status is SolverStatus.CONVERGED
    assert ode.info.residual == ode.residual <= ode.info.tolerance == 1e-10
    assert ode.info.iterations == ode.diagnostics["nfev"] > 0
    # integration tolerance rtol 1e-11; the limit is reached to the event tolerance 1e-10
    assert _rel(ode.predictor, cf.predictor) < 1e-8
    assert ode.diagnostics["parallel_defect"] < 1e-9  # P_⊥w ∥ P_⊥θ_S along the flow


def test_ode_jacobian_matches_finite_differences():
    x, y, _, _ = _problem(5, d=7, n=3)
    h, b = x.T @ x / 3, x.T @ y / 3
    rng = np.random.default_rng(0)
    for depth in (2.0, 3.0, 6.0):
        rhs, jac = _ode_rhs_jac(h, b, depth)
        w = rng.standard_normal(7)
        num = np.empty((7, 7))
        step = 1e-6
        for i in range(7):
            e = np.zeros(7)
            e[i] = step
            num[:, i] = (rhs(0, w + e) - rhs(0, w - e)) / (2 * step)
        np.testing.assert_allclose(jac(0, w), num, rtol=1e-6, atol=1e-8)


def test_closed_form_reproduces_the_spec_measurement():
    # spec §3.2: d = 30, n = 6, L = 3 — the deep limit differs from linear fine-tuning by O(0.1)
    x, y, src, _ = _problem(6, alpha=2.0, eps=0.5)
    w3 = dl.predictor(x, y, src, 3)
    w1 = dl.predictor(x, y, src, 1)
    assert np.linalg.norm(w3 - w1) > 0.05


# ------------------------------------------------------------------------------ properties
@st.composite
def problems(draw, max_dim: int = 7):
    d = draw(st.integers(2, max_dim))
    n = draw(st.integers(1, d - 1))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)) * draw(st.floats(0.1, 10.0))
    src = rng.standard_normal(d) * draw(st.floats(0.1, 10.0))
    tgt = rng.standard_normal(d)
    return x, src, tgt


@given(problems())
def test_depth_one_is_linear_finetuning(prob):
    x, src, tgt = prob
    y = x @ tgt
    np.testing.assert_allclose(
        dl.predictor(x, y, src, 1), fb.linear.finetuned_predictor(x, y, src), atol=1e-10,
        rtol=1e-10,
    )


@given(problems(), st.floats(0.05, 20.0))
def test_aligned_target_has_zero_risk_at_infinite_depth(prob, alpha):
    x, src, _ = prob
    tgt = alpha * src
    task = fb.LinearTask(fb.Covariance.isotropic(src.size), src, tgt)
    r = dl.sample_risk(task, x, math.inf)
    assert r.risk <= 1e-18 * (1 + tgt @ tgt) * 1e6
    assert r.coefficient == pytest.approx(alpha, rel=1e-10)
    # a sign flip is never corrected: c_∞ = |α| > 0
    flipped = dl.solve_predictor(x, x @ (-tgt), src, math.inf)
    assert flipped.coefficient == pytest.approx(alpha, rel=1e-10)


@given(problems(), st.floats(0.01, 100.0))
def test_infinite_depth_risk_invariant_to_source_scale(prob, scale):
    x, src, tgt = prob
    cov = fb.Covariance.from_spectrum(np.linspace(2.0, 0.5, src.size))
    r1 = dl.sample_risk(fb.LinearTask(cov, src, tgt), x, math.inf).risk
    r2 = dl.sample_risk(fb.LinearTask(cov, scale * src, tgt), x, math.inf).risk
    assert r2 == pytest.approx(r1, rel=1e-9, abs=1e-12)


@given(problems(), st.sampled_from([2, 3, 7, 50]))
def test_depth_risk_between_linear_and_infinite(prob, depth):
    # R(c) is a convex quadratic and c_L lies between c_1 = 1 and c_∞ ⇒ R_L ≤ max(R_1, R_∞)
    x, src, tgt = prob
    task = fb.LinearTask(fb.Covariance.isotropic(src.size), src, tgt)
    r = dl.sample_risk(task, x, depth)
    assert r.infinite_depth_risk is not None
    assert r.risk <= max(r.linear_risk, r.infinite_depth_risk) * (1 + 1e-9) + 1e-12
    assert r.measure == pytest.approx(r.risk, rel=1e-9, abs=1e-12)  # noiseless


# ------------------------------------------------------------------------------ Monte Carlo
def test_expected_risk_isotropic_depth_one_exact():
    # §2.3: Σ = I, L = 1: E[R] = (1 − n/d)‖Δ‖² exactly
    rng = np.random.default_rng(0)
    d, n = 40, 8
    src = rng.standard_normal(d) / math.sqrt(d)
    tgt = 1.5 * src + 0.5 * rng.standard_normal(d) / math.sqrt(d)
    task = fb.LinearTask(fb.Covariance.isotropic(d), src, tgt)
    r = dl.expected_risk(task, n, 1, draws=2000, rng=1)
    exact = (1 - n / d) * float(task.delta @ task.delta)
    assert abs(r.risk - exact) < 4 * r.risk_stderr  # 4 standard errors


@pytest.mark.parametrize("depth,frozen", [(3, 0), (math.inf, 0), (3, 1)])
def test_nested_design_curve_matches_direct_monte_carlo(depth, frozen):
    # two independent samplers: prefix-QR on nested designs vs one SVD per design
    lam = np.linspace(3.0, 0.2, 25)
    rng = np.random.default_rng(2)
    src = rng.standard_normal(25) / 5
    tgt = 1.7 * src + 0.4 * rng.standard_normal(25) / 5
    task = fb.LinearTask(fb.Covariance.from_spectrum(lam), src, tgt)
    curve = dl.risk_curve(task, [3, 8, 20], depth, draws=1500, rng=3, frozen_layers=frozen)
    for i, n in enumerate([3, 8, 20]):
        direct = dl.expected_risk(task, n, depth, draws=1500, rng=4, frozen_layers=frozen)
        se = math.hypot(direct.risk_stderr, float(curve["stderr"][i]))
        assert abs(direct.risk - float(curve["risk"][i])) < 4 * se, (n, direct, curve)


def test_sample_complexity_scan_and_not_reachable():
    rng = np.random.default_rng(5)
    d = 20
    src = rng.standard_normal(d) / math.sqrt(d)
    tgt = src + 0.5 * rng.standard_normal(d) / math.sqrt(d)
    task = fb.LinearTask(fb.Covariance.isotropic(d), src, tgt)
    sc = dl.sample_complexity(task, 0.05, 3, draws=300, rng=0)
    assert sc.reachable and sc.n is not None and 1 <= sc.n <= d
    curve = dl.risk_curve(task, np.arange(1, sc.n + 1), 3, draws=300, rng=0)
    assert curve["risk"][-1] <= 0.05 and np.all(curve["risk"][:-1] > 0.05)
    # ε = 0 is reached exactly at n = rank Σ (noiseless: P_⊥Σ^{1/2} = 0)
    assert dl.sample_complexity(task, 0.0, 2, draws=50, rng=0).n == d
    # frozen layers: the floor is above ε for every n
    floor = dl.frozen_risk_floor(task, 3, 1)
    frozen = dl.sample_complexity(task, floor / 2, 3, frozen_layers=1, draws=50, rng=0)
    assert not frozen.reachable and "floor" in frozen.reason
    with pytest.raises(NotReachableError):
        dl.sample_complexity(task, floor / 2, 3, frozen_layers=1, draws=50, rng=0, strict=True)
    short = dl.sample_complexity(task, 1e-6, 3, n_max=3, draws=50, rng=0)
    assert not short.reachable and "n ≤ 3" in short.reason


def test_noisy_labels_risk_exceeds_measure():
    rng = np.random.default_rng(7)
    d = 30
    src = rng.standard_normal(d) / math.sqrt(d)
    task = fb.LinearTask(fb.Covariance.isotropic(d), src, 2 * src, noise_variance=0.05)
    r = dl.expected_risk(task, 10, math.inf, draws=400, rng=0)
    assert r.measure < 1e-25  # aligned: the noiseless measure vanishes at L = ∞
    assert r.risk > 10 * r.risk_stderr  # the noise does not
    with pytest.raises(InvalidInputError, match="noiseless"):
        dl.risk_curve(task, [5], 2)


# ------------------------------------------------------------------------------ frozen layers
def test_frozen_predictor_is_the_least_squares_multiple_of_source():
    x, y, src, _ = _problem(8, alpha=1.3, eps=0.6)
    res = dl.frozen_predictor(x, y, src, 4, 1)
    grid = np.linspace(-3, 3, 60001)
    losses = np.sum((np.outer(grid, x @ src) - y) ** 2, axis=1)
    assert res.gamma_least_squares == pytest.approx(grid[np.argmin(losses)], abs=1e-4)
    np.testing.assert_allclose(res.predictor, res.gamma * src)
    assert not res.stalled_at_saddle
    # negative γ*: a trainable part of depth ≥ 2 stalls at the saddle γ = 0; depth 1 does not
    neg = dl.frozen_predictor(x, -y, src, 4, 1)
    assert neg.stalled_at_saddle and neg.gamma == 0.0
    assert dl.frozen_predictor(x, -y, src, 4, 3).gamma == pytest.approx(-res.gamma_least_squares)
    assert dl.frozen_predictor(x, y, src, 2, 5).gamma == 1.0  # all frozen


def test_frozen_floor_is_the_large_n_limit_and_a_lower_bound():
    rng = np.random.default_rng(9)
    lam = np.linspace(2, 0.5, 10)
    src = rng.standard_normal(10)
    tgt = src + 0.5 * rng.standard_normal(10)
    task = fb.LinearTask(fb.Covariance.from_spectrum(lam), src, tgt)
    floor = dl.frozen_risk_floor(task, 3, 1)
    big = dl.expected_risk(task, 20000, 3, frozen_layers=1, draws=4, rng=0)
    assert big.risk == pytest.approx(floor, rel=2e-3)
    small = dl.expected_risk(task, 3, 3, frozen_layers=1, draws=200, rng=0)
    assert small.risk >= floor
    assert dl.frozen_risk_floor(fb.LinearTask(task.covariance, src, 2 * src), 3, 1) < 1e-20


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "abc", float("nan"), -math.inf, None])
def test_bad_depth(bad):
    x, y, src, _ = _problem(0)
    with pytest.raises(InvalidInputError):
        dl.predictor(x, y, src, bad)


def test_depth_accepts_inf_spellings():
    assert dl.check_depth("inf") == math.inf
    assert dl.check_depth("∞") == math.inf
    assert dl.check_depth(3.0) == 3.0
    assert dl.check_depth(np.int64(4)) == 4.0


def test_degenerate_inputs():
    x, _, src, _ = _problem(0)
    zero = np.zeros(x.shape[0])
    with pytest.raises(InvalidInputError, match="P_Xθ_T"):
        dl.predictor(x, zero, src, 3)
    with pytest.raises(InvalidInputError, match="non-zero"):
        dl.predictor(x, x @ src, np.zeros_like(src), 2)
    # depth 1 is plain linear fine-tuning: no degeneracy
    np.testing.assert_allclose(dl.predictor(x, zero, src, 1), src - _proj(x) @ src, atol=1e-12)
    # θ_S ⟂ row space: c_∞ diverges
    perp = src - _proj(x) @ src
    with pytest.raises(InvalidInputError, match="P_Xθ_S"):
        dl.predictor(x, x @ src, perp, math.inf)
    with pytest.raises(InvalidInputError, match="finite depth"):
        dl.predictor(x, x @ src, src, math.inf, "ode")
    with pytest.raises(InvalidInputError):
        dl.predictor(x, x @ src, src, 2, "newton")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="length"):
        dl.predictor(x, x @ src, src[:-1], 2)
    with pytest.raises(InvalidInputError, match="non-finite"):
        dl.predictor(x, np.full(x.shape[0], np.nan), src, 2)


def test_cvxpy_failure_is_a_solver_error():
    x, y, src, _ = _problem(0)
    with pytest.raises(SolverError):
        dl.solve_predictor(x, y, src, 3, "cvxpy", solver="NOT_A_SOLVER")


def test_saddle_flag_for_opposed_teachers():
    x, _, src, _ = _problem(0)
    res = dl.solve_predictor(x, x @ (-src), src, 3)
    assert res.diagnostics["saddle_risk"] is True
    assert dl.solve_predictor(x, x @ src, src, 3).diagnostics["saddle_risk"] is False


def test_coefficient_incompatible_shapes_is_a_typed_error():
    # regression: numpy's broadcast ValueError used to escape instead of InvalidInputError
    with pytest.raises(InvalidInputError, match="broadcast"):
        dl.depth_coefficient([1.0, 2.0], [0.5, 0.5, 0.5], 1.0, 2)


def test_expected_risk_does_not_depend_on_the_batch_size_with_label_noise():
    # regression: noise was drawn per chunk, interleaved with the designs, so the value (not
    # only its speed) changed with the ``batch`` knob when noise_variance > 0
    rng = np.random.default_rng(0)
    src = rng.standard_normal(20) / math.sqrt(20)
    for nv in (0.0, 0.1):
        task = fb.LinearTask(fb.Covariance.isotropic(20), src, 1.5 * src + 0.1, noise_variance=nv)
        a = dl.expected_risk(task, 5, 3, draws=20, rng=1, batch=256)
        b = dl.expected_risk(task, 5, 3, draws=20, rng=1, batch=7)
        assert a.risk == pytest.approx(b.risk, rel=1e-12)
        assert a.measure == pytest.approx(b.measure, rel=1e-12)


# ------------------------------------------------------------------------------ solver status
def test_root_solver_reports_max_iterations_and_strict_raises():
    # a case that needs several Newton steps (4 with the default budget)
    s2, a2, b2 = 1.3, 0.9, 0.7
    full = dl.depth_coefficient(s2, a2, b2, 3)
    assert full.status is SolverStatus.CONVERGED and full.converged and full.iterations > 1
    assert full.info.residual <= full.info.tolerance
    cut = dl.depth_coefficient(s2, a2, b2, 3, max_iter=1)
    assert cut.status is SolverStatus.MAX_ITERATIONS and not cut.converged
    assert cut.iterations == cut.info.iterations == 1
    assert cut.info.residual > cut.info.tolerance
    assert cut.statuses.tolist() == "max_iterations" and not bool(cut.converged_mask)
    assert float(cut.residual) > 1e-8  # the flagged value really is unconverged
    with pytest.raises(ConvergenceError, match="max_iterations"):
        dl.depth_coefficient(s2, a2, b2, 3, max_iter=1, strict=True)


def test_root_solver_batched_statuses_and_counts():
    # element 0 has P_⊥θ_S = 0 (closed-form root), the others need Newton steps
    s2 = np.array([1.0, 1.3, 2.0, 0.7])
    a2 = np.array([0.0, 0.9, 0.5, 0.3])
    b2 = np.array([0.4, 0.7, 3.0, 0.01])
    cut = dl.depth_coefficient(s2, a2, b2, 4, max_iter=1)
    assert cut.statuses.tolist() == ["exact"] + ["max_iterations"] * 3
    assert cut.converged_mask.tolist() == [True, False, False, False]
    assert cut.status is SolverStatus.MAX_ITERATIONS
    assert cut.info.extra["counts"] == {"exact": 1, "max_iterations": 3}
    ok = dl.depth_coefficient(s2, a2, b2, 4)
    assert ok.statuses.tolist() == ["exact"] + ["converged"] * 3 and ok.converged
    for depth in (1, math.inf):
        ex = dl.depth_coefficient(s2, a2, b2, depth)
        assert ex.status is SolverStatus.EXACT and ex.iterations == 0
        assert ex.info.extra["counts"] == {"exact": 4}


def test_root_solver_extreme_depth_has_no_false_alarm():
    # L → ∞: c_L sits within rounding of the bracket end c_∞; that is a root, not a lost bracket
    rng = np.random.default_rng(0)
    s2 = rng.uniform(0.01, 100, 5000)
    a2 = s2 * rng.uniform(0, 1, 5000) ** rng.choice([1, 4, 20], 5000)
    b2 = 10 ** rng.uniform(-8, 8, 5000)
    for L in (10**12, 10**15, 10**17):
        sol = dl.depth_coefficient(s2, a2, b2, L)
        assert sol.converged, sol.info.extra["counts"]
        assert np.all(sol.residual < 1e-13)


def test_root_solver_reports_a_lost_bracket():
    # an inconsistent ‖P_Xθ_S‖² (0.9 ≠ S − A = 0.5) puts the bracket end c_∞ below the root
    from finetune_bounds.deep_linear._coefficient import _c_root

    root = _c_root(np.array([1.0]), np.array([0.5]), np.array([2.0]), 11.0, q2=np.array([0.9]))
    assert root.info.status is SolverStatus.BRACKET_LOST and not root.info.converged
    assert root.statuses.tolist() == ["bracket_lost"] and float(root.residual[0]) > 0.1
    consistent = _c_root(np.array([1.0]), np.array([0.5]), np.array([2.0]), 11.0)
    assert consistent.info.status is SolverStatus.CONVERGED


def test_closed_form_reports_the_root_status_not_a_hard_coded_success():
    x, y, src, _ = _problem(4, alpha=1.6)
    ok = dl.solve_predictor(x, y, src, 3)
    assert ok.status is SolverStatus.CONVERGED and ok.converged
    assert ok.info.iterations == ok.diagnostics["iterations"] > 1
    cut = dl.solve_predictor(x, y, src, 3, root_max_iter=1)
    assert cut.status is SolverStatus.MAX_ITERATIONS and not cut.converged
    assert cut.info.iterations == 1
    assert cut.coefficient != pytest.approx(ok.coefficient, rel=1e-10)  # really unconverged
    with pytest.raises(ConvergenceError, match="c_L root"):
        dl.solve_predictor(x, y, src, 3, root_max_iter=1, strict=True)
    with pytest.raises(ConvergenceError):
        dl.predictor(x, y, src, 3, root_max_iter=1)  # predictor() is strict by default
    assert dl.solve_predictor(x, y, src, 1).status is SolverStatus.EXACT
    assert dl.solve_predictor(x, y, src, math.inf).status is SolverStatus.EXACT


def test_ode_status_when_the_horizon_runs_out():
    x, y, src, _ = _problem(4, alpha=1.6)
    short = dl.solve_predictor(x, y, src, 3, "ode", t_max=1e-3)
    assert short.status is SolverStatus.MAX_ITERATIONS and not short.converged
    assert short.info.residual > short.info.tolerance
    with pytest.raises(ConvergenceError, match="gradient-flow ODE"):
        dl.solve_predictor(x, y, src, 3, "ode", t_max=1e-3, strict=True)
    # θ_S already interpolates: nothing to integrate
    still = dl.solve_predictor(x, x @ src, src, 3, "ode")
    assert still.status is SolverStatus.EXACT and still.info.iterations == 0


def test_cvxpy_status_and_failure():
    x, y, src, _ = _problem(1)
    cv = dl.solve_predictor(x, y, src, 3, "cvxpy")
    assert cv.status is SolverStatus.CONVERGED
    assert cv.info.residual == cv.diagnostics["kkt_residual"]
    assert [a["outcome"] for a in cv.info.extra["attempts"]][-1] == "converged"
    with pytest.raises(SolverError, match="solver_failed"):
        dl.solve_predictor(x, y, src, 3, "cvxpy", solver="NOT_A_SOLVER")


def test_frozen_and_monte_carlo_results_carry_a_status():
    x, y, src, tgt = _problem(8, alpha=1.3, eps=0.6)
    assert dl.frozen_predictor(x, y, src, 4, 1).status is SolverStatus.EXACT
    task = fb.LinearTask(fb.Covariance.isotropic(src.size), src, tgt)
    r = dl.sample_risk(task, x, 3)
    assert r.converged and r.status is SolverStatus.CONVERGED
    assert dl.sample_risk(task, x, 3, frozen_layers=1).status is SolverStatus.EXACT
    e = dl.expected_risk(task, 5, 3, draws=40, rng=0, batch=16)
    assert e.status is SolverStatus.CONVERGED and e.info.extra["counts"] == {"converged": 40}
    assert dl.expected_risk(task, 5, 1, draws=10, rng=0).status is SolverStatus.EXACT
    curve = dl.risk_curve(task, [2, 5], 3, draws=10, rng=0)
    assert curve["info"].status is SolverStatus.CONVERGED
    sc = dl.sample_complexity(task, 0.5, 3, draws=10, rng=0)
    assert sc.converged and sc.info == dl.risk_curve(task, np.arange(1, sc.n_max + 1), 3,
                                                     draws=10, rng=0)["info"]


@pytest.fixture
def one_step_root(monkeypatch):
    """Every batched c_L solve gets a budget of one Newton step (forces max_iterations)."""
    from finetune_bounds.deep_linear import _batch, _coefficient, _curves

    def cut(*args, **kwargs):
        kwargs["max_iter"] = 1
        return _coefficient._c_root(*args, **kwargs)

    monkeypatch.setattr(_batch, "_c_root", cut)
    monkeypatch.setattr(_curves, "_c_root", cut)


def test_monte_carlo_paths_flag_and_raise_an_unconverged_root(one_step_root):
    x, _, src, tgt = _problem(8, alpha=1.3, eps=0.6)
    task = fb.LinearTask(fb.Covariance.isotropic(src.size), src, tgt)
    r = dl.sample_risk(task, x, 3)
    assert r.status is SolverStatus.MAX_ITERATIONS and not r.converged
    with pytest.raises(ConvergenceError):
        dl.sample_risk(task, x, 3, strict=True)
    e = dl.expected_risk(task, 5, 3, draws=20, rng=0, batch=8)
    assert e.status is SolverStatus.MAX_ITERATIONS and e.info.extra["counts"] == {
        "max_iterations": 20}
    with pytest.raises(ConvergenceError, match="Monte Carlo"):
        dl.expected_risk(task, 5, 3, draws=20, rng=0, strict=True)
    curve = dl.risk_curve(task, [2, 5], 3, draws=10, rng=0)
    assert curve["info"].status is SolverStatus.MAX_ITERATIONS
    with pytest.raises(ConvergenceError, match="risk curve"):
        dl.risk_curve(task, [2, 5], 3, draws=10, rng=0, strict=True)
    sc = dl.sample_complexity(task, 0.5, 3, draws=10, rng=0)
    assert sc.status is SolverStatus.MAX_ITERATIONS and not sc.converged
    with pytest.raises(ConvergenceError):
        dl.sample_complexity(task, 0.5, 3, draws=10, rng=0, strict=True)
    # depth 1 and frozen layers solve no root: unaffected
    assert dl.expected_risk(task, 5, 1, draws=10, rng=0).converged
    assert dl.expected_risk(task, 5, 3, draws=10, rng=0, frozen_layers=1).converged


def test_batched_kernel_statuses(one_step_root):
    from finetune_bounds.deep_linear.theory import _batch_predictors, _batch_risks

    rng = np.random.default_rng(0)
    lam = np.ones(12)
    src = rng.standard_normal((5, 12))
    tgt = src + 0.5 * rng.standard_normal((5, 12))
    xe = rng.standard_normal((5, 4, 12))
    y = np.einsum("bnd,bd->bn", xe, tgt)
    out = _batch_risks(lam, src, tgt, xe, [1.0, 3.0, math.inf])
    assert out["status"].shape == (5, 3)
    assert out["status"][:, 0].tolist() == ["exact"] * 5
    assert out["status"][:, 1].tolist() == ["max_iterations"] * 5
    assert out["status"][:, 2].tolist() == ["exact"] * 5
    assert out["info"].extra["counts"] == {"exact": 10, "max_iterations": 5}
    with pytest.raises(ConvergenceError):
        _batch_risks(lam, src, tgt, xe, [3.0], strict=True)
    with pytest.raises(ConvergenceError):  # returns bare vectors, so strict by default
        _batch_predictors(src, xe, y, [3.0])
    w = _batch_predictors(src, xe, y, [3.0], strict=False)
    assert w.shape == (5, 1, 12)
    assert _batch_risks(lam, src, tgt, xe, [1.0])["info"].status is SolverStatus.EXACT


def test_batched_kernel_converges_normally():
    from finetune_bounds.deep_linear.theory import _batch_risks

    rng = np.random.default_rng(1)
    src = rng.standard_normal((6, 10))
    tgt = 0.5 * src + rng.standard_normal((6, 10))
    xe = rng.standard_normal((6, 3, 10))
    noisy = np.einsum("bnd,bd->bn", xe, tgt) + 0.1 * rng.standard_normal((6, 3))
    for y in (None, noisy):
        out = _batch_risks(np.ones(10), src, tgt, xe, [2.0, 7.0], y=y)
        assert out["info"].status is SolverStatus.CONVERGED
        assert set(out["status"].ravel().tolist()) == {"converged"}


# ------------------------------------------------------------------------------ module layout
def test_public_api_and_compatibility_reexports():
    assert sorted(dl.__all__) == sorted([
        "METHODS", "DepthCoefficient", "ExpectedRisk", "FrozenResult", "PredictorResult",
        "SampleComplexity", "SampleRisk", "check_depth", "depth_coefficient", "expected_risk",
        "frozen_predictor", "frozen_risk_floor", "predictor", "risk_curve", "sample_complexity",
        "sample_risk", "solve_predictor",
    ])
    from finetune_bounds.deep_linear import theory
    from finetune_bounds.deep_linear._batch import _batch_predictors, _batch_risks
    from finetune_bounds.deep_linear._frozen import _frozen_gamma

    assert theory.__all__ == dl.__all__
    assert theory._batch_risks is _batch_risks and theory._batch_predictors is _batch_predictors
    assert theory._frozen_gamma is _frozen_gamma
    assert theory.check_depth is dl.check_depth and theory.solve_predictor is dl.solve_predictor
    # _stderr keeps its old default axis 0 over the shared convention
    a = np.arange(12.0).reshape(4, 3) ** 2
    np.testing.assert_array_equal(theory._stderr(a), np.std(a, axis=0, ddof=1) / 2.0)
    assert float(theory._stderr(np.array([1.0, 3.0]))) == pytest.approx(1.0)
    assert np.all(np.isinf(theory._stderr(a[:1])))


# -- the scalar c_L root of the closed form (issue 15: the closed form at its floor) -----------
def test_scalar_root_matches_vectorised_solver() -> None:
    """``_c_root_one`` (the closed form's one-element root, in Python floats) runs the same
    safeguarded Newton iteration as the vectorised ``_c_root``: same status, c to rounding
    (≤ 1e-12 relative: ``math`` and numpy's exp/log may differ in the last bit, and the root's
    condition number grows like L), the same fallback results for L ∈ {1, ∞} and degenerate or
    extreme inputs (those go through ``_c_root`` itself)."""
    from finetune_bounds.deep_linear._coefficient import _c_root, _c_root_one

    rng = np.random.default_rng(0)
    for i in range(300):
        s2 = 10.0 ** rng.uniform(-300, 300) if i % 10 == 0 else 10.0 ** rng.uniform(-5, 5)
        frac = float(rng.choice([0.0, 1.0, rng.uniform(), 1e-17]))
        a2 = s2 * frac
        q2 = max(s2 - a2, 0.0) if i % 3 else s2 * (1 - frac) * rng.uniform(0.9, 1.1)
        b2 = 10.0 ** rng.uniform(-300, 300) if i % 10 == 1 else s2 * 10.0 ** rng.uniform(-6, 6)
        depth = float(rng.choice([1, 2, 3, 4, 7, 50, 1000, math.inf]))
        max_iter = int(rng.choice([1, 3, 200]))
        with np.errstate(all="ignore"):
            ref = _c_root(np.array([s2]), np.array([a2]), np.array([b2]), depth,
                          q2=np.array([q2]), max_iter=max_iter)
        one = _c_root_one(s2, a2, b2, q2, depth, max_iter)
        assert one.statuses.tolist() == ref.statuses.tolist()
        assert one.info.status == ref.info.status
        assert abs(one.iterations - ref.iterations) <= 2
        c, c_ref = float(one.c[0]), float(ref.c[0])
        if math.isfinite(c_ref):
            assert abs(c - c_ref) <= 1e-12 * c_ref, (s2, a2, b2, q2, depth)
        else:
            assert not math.isfinite(c)
        assert sorted(one.info.extra) == sorted(ref.info.extra)


def test_closed_form_predictor_matches_batched_kernel() -> None:
    """The one-design closed form (scalar root, no-copy full-rank path) and the batched kernel
    give the same predictor to rounding, full-rank and rank-deficient designs alike."""
    from finetune_bounds.deep_linear._batch import _batch_predictors

    for seed, (n, d) in enumerate([(6, 30), (40, 12), (10, 10)]):
        x, y, src, _ = _problem(seed, d=d, n=n)
        if seed == 2:
            x[-1] = x[0]  # rank-deficient (a repeated row)
            y[-1] = y[0]
        for depth in (1, 2, 3, 10, math.inf):
            w = dl.predictor(x, y, src, depth)
            wb = _batch_predictors(src[None], x[None], y[None], [float(depth)])[0, 0]
            assert np.max(np.abs(w - wb)) <= 1e-12 * np.max(np.abs(wb))


def test_closed_form_fast_paths_equal_the_validating_paths() -> None:
    """The closed form's fast paths (float64 arrays copied without the shared validators, the
    root as Python floats) give the same numbers as the general paths: lists (through
    ``as_float_array``; bit for bit), a Fortran-ordered X (to rounding), the array-returning
    ``_c_root_one`` (L ∈ {3, ∞}: the scalar iteration and the vectorised fallback)."""
    from finetune_bounds.deep_linear._coefficient import _c_root_one, _c_root_scalar

    rng = np.random.default_rng(5)
    x = rng.standard_normal((6, 40))
    src = rng.standard_normal(40)
    y = x @ (src + 0.3 * rng.standard_normal(40))
    for depth in (1, 3, math.inf):
        ref = dl.solve_predictor(x.tolist(), y.tolist(), src.tolist(), depth)
        res = dl.solve_predictor(x, y, src, depth)
        assert np.array_equal(res.predictor, ref.predictor)
        assert res.coefficient == ref.coefficient and res.residual == ref.residual
        assert dict(res.diagnostics) == dict(ref.diagnostics)
        assert not res.predictor.flags.writeable
        # memory order is kept, as the validator keeps it (X·w then rounds differently)
        fort = dl.solve_predictor(np.asfortranarray(x), y, src, depth)
        np.testing.assert_allclose(fort.predictor, ref.predictor, rtol=1e-12, atol=1e-14)
    for args in ((2.0, 0.5, 3.0, 1.5, 3.0), (2.0, 0.5, 3.0, 1.5, math.inf)):
        one, arr = _c_root_scalar(*args), _c_root_one(*args)
        assert (one.c, one.c_inf, one.residual) == (float(arr.c[0]), float(arr.c_inf[0]),
                                                    float(arr.residual[0]))
        assert one.iterations == arr.iterations and one.info == arr.info
    # the limit check of root_max_iter still applies on every call (remembered per setting)
    with pytest.raises(InvalidInputError, match="root_max_iter"):
        dl.solve_predictor(x, y, src, 3, root_max_iter=0)
    with pytest.raises(InvalidInputError, match="root_max_iter"):
        dl.solve_predictor(x, y, src, 3, root_max_iter=[3])


# --- the closed form's direct LAPACK SVD (issue 15) ------------------------------------------
@pytest.mark.parametrize("shape, rank, order", [
    ((10, 100), 10, "C"), ((7, 30), 3, "F"), ((40, 9), 9, "C"), ((12, 12), 5, "F"),
    ((1, 6), 1, "C"), ((6, 1), 1, "C"),
])
def test_thin_svd_matches_numpy(shape: tuple[int, int], rank: int, order: str) -> None:
    from finetune_bounds.deep_linear._design import _thin_svd

    rng = np.random.default_rng(sum(shape) + rank)
    n, d = shape
    x = np.array(rng.standard_normal((n, rank)) @ rng.standard_normal((rank, d)), order=order)
    u, s, vt = _thin_svd(x)
    u0, s0, vt0 = np.linalg.svd(x, full_matrices=False)
    assert u.shape == u0.shape and vt.shape == vt0.shape
    assert u.flags.c_contiguous and vt.flags.c_contiguous
    np.testing.assert_allclose(s, s0, rtol=0, atol=1e-13 * s0[0])
    np.testing.assert_allclose((u * s) @ vt, x, rtol=0, atol=1e-13 * s0[0])
    np.testing.assert_allclose(u.T @ u, np.eye(u.shape[1]), atol=1e-13)
    np.testing.assert_allclose(vt @ vt.T, np.eye(vt.shape[0]), atol=1e-13)
    if n >= d:  # numpy's own call (same driver, workspace and layout): bit for bit
        assert np.array_equal(s, s0) and np.array_equal(abs(u), abs(u0))


def test_thin_svd_failure_is_a_solver_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from finetune_bounds.deep_linear import _design

    def failed(a: np.ndarray, **_: object) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        m, k = a.shape
        return np.zeros((m, k)), np.full(k, np.nan), np.zeros((k, k)), 3

    monkeypatch.setattr(_design, "_dgesdd", failed)
    x = np.eye(2, 4)
    with pytest.raises(SolverError, match="the SVD of X failed: SVD did not converge"):
        dl.solve_predictor(x, x @ np.ones(4), np.ones(4), 3)
