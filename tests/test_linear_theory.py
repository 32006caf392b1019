"""Linear fine-tuning theory (spec linear-teachers §2) against independent routes.

Every agreement test states its tolerance. Monte Carlo tolerances are k·stderr with k = 4
(per-test false-alarm probability < 1e-4 under a normal approximation), or the issue's
3 % + 3·stderr for the deterministic equivalent, which is only asymptotically exact.
All draws are seeded. This file is the one home of the deterministic-equivalent-versus-Monte-Carlo
agreement (quick cases by default, the full grids under ``-m slow``).
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import pytest
from scipy import optimize

import finetune_bounds as fb
from finetune_bounds._numerics import SolverStatus
from finetune_bounds.linear import (
    benign_bound,
    bounds,
    expected_risk,
    finetuned_predictor,
    head_tail_bound,
    measure_correlation_study,
    naive_bound,
    random_task,
    risk_curve,
    row_space_projector,
    sample_complexity,
    sample_risk,
    solve_kappa,
)

K_SIGMA = 4.0  # Monte Carlo tolerance in standard errors


def _rotation(d: int, seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def _rotated_task(
    lam: np.ndarray, delta_eig: np.ndarray, noise: float = 0.0, seed: int = 0
) -> fb.LinearTask:
    """A task with Σ = Q diag(λ) Qᵀ given as a dense matrix (exercises the eigen route) and
    Δ = Q Δ_eig; θ_S is random."""
    d = lam.size
    q = _rotation(d, seed)
    sigma = (q * lam) @ q.T
    src = np.random.default_rng(seed + 1).standard_normal(d)
    return fb.LinearTask(0.5 * (sigma + sigma.T), src, src + q @ delta_eig, noise)


def _power_law(d: int, a: float = 1.0, b: float = 1.0, noise: float = 0.0) -> fb.LinearTask:
    """λ_i = i^-a, Δ_i² = i^-b (alternating signs), θ_S = 0."""
    i = np.arange(1, d + 1, dtype=float)
    delta = i ** (-b / 2) * np.where(i % 2 == 1, 1.0, -1.0)
    return fb.LinearTask(fb.Covariance.from_spectrum(i**-a), np.zeros(d), delta, noise)


def _spiked(d: int, noise: float = 0.0) -> fb.LinearTask:
    """10 spikes at 50 on a flat bulk at 1; Δ = 1 on the spikes, 0.5 on the bulk."""
    lam = np.ones(d)
    lam[:10] = 50.0
    delta = np.full(d, 0.5)
    delta[:10] = 1.0
    return fb.LinearTask(fb.Covariance.from_spectrum(lam), np.zeros(d), delta, noise)


# ---------------------------------------------------------------------------------------------
# §2.1 fine-tuned predictor = limit of gradient descent = min-distance interpolant
# ---------------------------------------------------------------------------------------------
def _gradient_descent(x: np.ndarray, y: np.ndarray, w0: np.ndarray) -> np.ndarray:
    """Plain full-batch GD on ½‖Xw − y‖² from w0, step 1/σ_max², to a tiny gradient."""
    step = 1.0 / np.linalg.norm(x, 2) ** 2
    w = w0.copy()
    for _ in range(200_000):
        g = x.T @ (x @ w - y)
        if np.linalg.norm(g) <= 1e-13 * max(1.0, np.linalg.norm(x.T @ y)):
            return w
        w -= step * g
    raise AssertionError("gradient descent did not converge")


@pytest.mark.parametrize(("n", "d"), [(8, 20), (20, 20), (30, 12)])
def test_predictor_is_gradient_descent_limit(n: int, d: int) -> None:
    rng = np.random.default_rng(n * 100 + d)
    x = rng.standard_normal((n, d))
    src, tgt = rng.standard_normal(d), rng.standard_normal(d)
    y = x @ tgt + 0.3 * rng.standard_normal(n)  # noisy: no interpolant when n > d
    w_gd = _gradient_descent(x, y, src)
    w = finetuned_predictor(x, y, src)
    # GD stops at ‖grad‖ ≤ 1e-13·scale; the remaining error is ≤ that / σ_min² (well-conditioned)
    np.testing.assert_allclose(w, w_gd, atol=1e-8 * np.linalg.norm(w))


def test_predictor_rank_deficient_design_matches_gradient_descent() -> None:
    rng = np.random.default_rng(1)
    base = rng.standard_normal((4, 10))
    x = np.vstack([base, base[:2] * 2.0, base[1] - base[3]])  # 7 rows, rank 4
    src, tgt = rng.standard_normal(10), rng.standard_normal(10)
    y = x @ tgt  # consistent labels
    np.testing.assert_allclose(
        finetuned_predictor(x, y, src), _gradient_descent(x, y, src), atol=1e-9
    )
    # GD never leaves θ_S + rowspace(X): the P_⊥ part of θ_S is kept exactly
    p = row_space_projector(x)
    np.testing.assert_allclose(p, np.linalg.pinv(x) @ x, atol=1e-12)
    w = finetuned_predictor(x, y, src)
    np.testing.assert_allclose((np.eye(10) - p) @ w, (np.eye(10) - p) @ src, atol=1e-12)


def test_predictor_matches_cvxpy_min_distance_interpolant() -> None:
    cp = pytest.importorskip("cvxpy")
    rng = np.random.default_rng(7)
    n, d = 6, 15
    x = rng.standard_normal((n, d))
    src, tgt = rng.standard_normal(d), rng.standard_normal(d)
    y = x @ tgt + 0.1 * rng.standard_normal(n)
    w = cp.Variable(d)
    prob = cp.Problem(cp.Minimize(cp.sum_squares(w - src)), [x @ w == y])
    prob.solve(solver=cp.CLARABEL)
    assert prob.status == cp.OPTIMAL
    # Clarabel's default feasibility/gap tolerances are 1e-8 relative
    np.testing.assert_allclose(finetuned_predictor(x, y, src), w.value, atol=1e-6)


def test_noiseless_predictor_is_projection_mix() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 9))
    src, tgt = rng.standard_normal(9), rng.standard_normal(9)
    p = np.linalg.pinv(x) @ x
    np.testing.assert_allclose(
        finetuned_predictor(x, x @ tgt, src), p @ tgt + (np.eye(9) - p) @ src, atol=1e-12
    )
    assert np.array_equal(finetuned_predictor(np.zeros((0, 9)), [], src), src)


# ---------------------------------------------------------------------------------------------
# §2.2 exact risk for one design
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("n", "d", "rank"), [(5, 12, 12), (12, 12, 12), (20, 8, 8), (4, 12, 6)])
def test_sample_risk_matches_brute_force(n: int, d: int, rank: int) -> None:
    rng = np.random.default_rng(n + d + rank)
    lam = np.sort(rng.uniform(0.2, 3.0, d))[::-1]
    lam[rank:] = 0.0
    task = _rotated_task(lam, rng.standard_normal(d), noise=0.7, seed=n)
    sigma = task.covariance.matrix
    x = rng.standard_normal((n, d))  # a generic design, not from Σ: rowspace ≠ range Σ
    res = sample_risk(task, x)

    xp = np.linalg.pinv(x)
    perp = np.eye(d) - xp @ x
    bias = task.delta @ perp @ sigma @ perp @ task.delta
    var = task.noise_variance * np.trace(xp.T @ sigma @ xp)
    np.testing.assert_allclose(res.bias, bias, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(res.variance, var, rtol=1e-9)
    assert res.rank == min(n, d)
    assert res.zero_shot == pytest.approx(task.delta @ sigma @ task.delta, rel=1e-12)
    assert res.naive_bound == pytest.approx(lam.max() * task.delta @ task.delta, rel=1e-12)
    scratch = task.target @ perp @ sigma @ perp @ task.target + var
    assert res.from_scratch == pytest.approx(scratch, rel=1e-9)

    # variance as an average over sampled label noise, through the fine-tuned predictor
    draws = 4000
    xi = math.sqrt(task.noise_variance) * rng.standard_normal((draws, n))
    w = task.source + (x @ (task.target - task.source) + xi) @ xp.T  # pinv route, batched
    for k in range(3):  # the library's predictor gives the same θ̂
        np.testing.assert_allclose(
            finetuned_predictor(x, x @ task.target + xi[k], task.source), w[k], atol=1e-9
        )
    e = w - task.target
    risks = np.einsum("bi,ij,bj->b", e, sigma, e)
    se = risks.std(ddof=1) / math.sqrt(draws)
    assert abs(risks.mean() - res.risk) <= K_SIGMA * se


def test_sample_risk_empty_design_is_zero_shot() -> None:
    task = _power_law(10)
    res = sample_risk(task, np.zeros((0, 10)))
    assert res.bias == pytest.approx(res.zero_shot, rel=1e-12)
    assert res.variance == 0.0 and res.rank == 0


def test_finetuning_worse_than_zero_shot_diag_example() -> None:
    """Σ = diag(1, ε), Δ = e₂ (spec §2.2): for x = (a, √ε b),
    B = ε a²(a² + b²)/(a² + εb²)², and E[B] at n = 1 is √ε/2 (polar coordinates and
    ∫₀^{2π} cos²φ/(cos²φ + ε sin²φ)² dφ = π/√ε), far above the zero-shot risk ε."""
    eps = 0.01
    task = fb.LinearTask(fb.Covariance.from_spectrum([1.0, eps]), [0.3, -1.0], [0.3, 0.0])
    rng = np.random.default_rng(11)
    ab = rng.standard_normal((50, 2))
    for a, b in ab:
        res = sample_risk(task, [[a, math.sqrt(eps) * b]])
        exact = eps * a * a * (a * a + b * b) / (a * a + eps * b * b) ** 2
        assert res.bias == pytest.approx(exact, rel=1e-9)
        assert res.zero_shot == pytest.approx(eps)
    mc = expected_risk(task, 1, "monte_carlo", n_draws=20_000, rng=5)
    assert abs(mc.bias - math.sqrt(eps) / 2) <= K_SIGMA * mc.stderr
    assert mc.bias - K_SIGMA * mc.stderr > 4 * eps  # 5× worse than not fine-tuning at all
    # the deterministic equivalent happens to be exact here: κ = √ε, bias = √ε/2
    de = expected_risk(task, 1, "deterministic")
    assert de.bias == pytest.approx(math.sqrt(eps) / 2, rel=1e-10)
    assert de.diagnostics["kappa"] == pytest.approx(math.sqrt(eps), rel=1e-10)


def test_noiseless_bias_is_not_monotone_in_n() -> None:
    """Δ on the low-variance tail: E[B] first rises with n (DE and Monte Carlo agree), so no
    search may assume a monotone curve."""
    task = _power_law(50, a=2.0, b=-2.0)  # Δ_i² = i²: energy on the tail of λ_i = i⁻²
    zero = expected_risk(task, 0, "deterministic").risk
    de = expected_risk(task, 4, "deterministic")
    mc = expected_risk(task, 4, "monte_carlo", n_draws=1000, rng=1)
    assert de.bias > 1.5 * zero  # measured: DE 81.1 vs zero-shot 50
    assert mc.bias - K_SIGMA * mc.stderr > 1.5 * zero
    assert abs(mc.bias - de.bias) <= 0.03 * de.bias + 3 * mc.stderr


# ---------------------------------------------------------------------------------------------
# §2.3 singular Σ
# ---------------------------------------------------------------------------------------------
def test_singular_covariance_kernel_part_irrelevant() -> None:
    d, r = 12, 5
    rng = np.random.default_rng(2)
    lam = np.r_[np.linspace(3.0, 0.5, r), np.zeros(d - r)]
    d_range = np.r_[rng.standard_normal(r), np.zeros(d - r)]
    d_ker = np.r_[np.zeros(r), rng.standard_normal(d - r)]
    full = _rotated_task(lam, d_range + d_ker, noise=0.2, seed=4)
    only = _rotated_task(lam, d_range, noise=0.2, seed=4)
    assert full.covariance.rank == r
    for n in (1, 3, r, r + 4):
        x = full.covariance.sample(n, np.random.default_rng(n))  # rows in range Σ
        a, b = sample_risk(full, x), sample_risk(only, x)
        assert a.bias == pytest.approx(b.bias, rel=1e-9, abs=1e-12 * a.zero_shot)
        if n >= r:  # the row space is range Σ: the bias vanishes
            assert a.bias <= 1e-12 * a.zero_shot
            assert a.rank == r
        for m in ("deterministic",):
            assert expected_risk(full, n, m).risk == pytest.approx(expected_risk(only, n, m).risk)
    # n ≥ r: E[V] = σ² r/(n − r − 1) (not d): Monte Carlo
    mc = expected_risk(full, r + 8, "monte_carlo", n_draws=4000, rng=3)
    de = expected_risk(full, r + 8, "deterministic")
    assert de.variance == pytest.approx(0.2 * r / (8 - 1))
    assert mc.bias <= 1e-12
    assert abs(mc.variance - de.variance) <= K_SIGMA * mc.diagnostics["variance_stderr"]
    assert np.isinf(expected_risk(full, r, "deterministic").variance)
    assert np.isinf(expected_risk(full, r + 1, "deterministic").variance)


def test_zero_covariance() -> None:
    task = fb.LinearTask(fb.Covariance.isotropic(3, 0.0), np.zeros(3), np.ones(3), 1.0)
    for n in (0, 1, 2, 10):
        for m in ("deterministic", "isotropic"):
            assert expected_risk(task, n, m).risk == 0.0
    assert sample_complexity(task, 0.0, method="deterministic").n == 0


# ---------------------------------------------------------------------------------------------
# §2.3 isotropic: exact finite-n formulas against Monte Carlo (tolerance: stderr only)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("n", "d"), [(10, 30), (20, 30), (30, 10), (45, 10)])
def test_isotropic_exact_matches_monte_carlo(n: int, d: int) -> None:
    s2, sigma2 = 1.7, 0.6
    rng = np.random.default_rng(n * d)
    task = _rotated_task(np.full(d, s2), rng.standard_normal(d), noise=sigma2, seed=n)
    ex = expected_risk(task, n, "isotropic")
    dn2 = float(task.delta @ task.delta)
    if n < d:  # E[B] = s²(1 − n/d)‖Δ‖², E[V] = σ² n/(d − n − 1)
        assert ex.bias == pytest.approx(s2 * (1 - n / d) * dn2)
        assert ex.variance == pytest.approx(sigma2 * n / (d - n - 1))
    else:  # B = 0, E[V] = σ² d/(n − d − 1)
        assert ex.bias == 0.0
        assert ex.variance == pytest.approx(sigma2 * d / (n - d - 1))
    mc = expected_risk(task, n, "monte_carlo", n_draws=6000, rng=n + 1)
    dg = mc.diagnostics
    assert abs(mc.bias - ex.bias) <= K_SIGMA * dg["bias_stderr"] + 1e-12
    assert abs(mc.variance - ex.variance) <= K_SIGMA * dg["variance_stderr"]


def test_isotropic_method_requires_isotropic_covariance() -> None:
    with pytest.raises(fb.InvalidInputError, match="isotropic"):
        expected_risk(_power_law(10), 3, "isotropic")


def test_deterministic_equivalent_on_isotropic_covariance() -> None:
    """Σ = s²I: κ = s²(d − n)/n and γ = n/d in closed form, so the DE bias equals the exact
    s²(1 − n/d)‖Δ‖²; the DE variance σ² n/(d − n) misses the exact σ² n/(d − n − 1) by the
    finite-size factor (d − n − 1)/(d − n)."""
    d, s2, sigma2 = 40, 2.5, 0.3
    task = _rotated_task(np.full(d, s2), np.linspace(-1, 2, d), noise=sigma2, seed=9)
    dn2 = float(task.delta @ task.delta)
    for n in (1, 7, 20, 38):
        de = expected_risk(task, n, "deterministic")
        assert de.bias == pytest.approx(s2 * (1 - n / d) * dn2, rel=1e-10)
        assert de.variance == pytest.approx(sigma2 * n / (d - n), rel=1e-10)
        assert de.diagnostics["kappa"] == pytest.approx(s2 * (d - n) / n, rel=1e-10)
        assert de.diagnostics["gamma"] == pytest.approx(n / d, rel=1e-10)
        assert expected_risk(task, n, "isotropic").bias == pytest.approx(de.bias, rel=1e-10)


def test_deterministic_bias_with_flat_delta_is_n_kappa() -> None:
    """Δ_i² = c for all i: the DE bias reduces to c·n·κ (use n(1 − γ) = κΣλ/(λ + κ)²), which is
    decreasing in n; the exact E[B] = c·E tr(ΣP_⊥) is decreasing too (P_⊥ shrinks)."""
    d = 60
    i = np.arange(1, d + 1.0)
    task = fb.LinearTask(fb.Covariance.from_spectrum(i**-1.5), np.zeros(d), np.full(d, 0.7))
    ns = np.arange(1, d)
    curve = risk_curve(task, ns, "deterministic")
    np.testing.assert_allclose(curve["bias"], 0.49 * ns * curve["kappa"], rtol=1e-9)
    assert np.all(np.diff(curve["bias"]) < 0)


# ---------------------------------------------------------------------------------------------
# §2.3 general Σ: deterministic equivalent against Monte Carlo (issue: 3 % + 3·stderr, d ≥ 400)
# ---------------------------------------------------------------------------------------------
DE_CASES = [("power_law", 0.0), ("power_law", 0.1), ("spiked", 0.0), ("spiked", 0.1)]


def _de_vs_mc(kind: str, noise: float, n: int, draws: int) -> tuple[float, float, float]:
    task = _power_law(400, noise=noise) if kind == "power_law" else _spiked(400, noise)
    return _check_de_vs_mc(task, n, draws, (kind, noise))


def _check_de_vs_mc(
    task: fb.LinearTask, n: int, draws: int, label: object
) -> tuple[float, float, float]:
    """|MC − DE| ≤ 3 % of DE (its stated finite-size error) + 3 Monte Carlo standard errors."""
    de = expected_risk(task, n, "deterministic")
    assert de.status is SolverStatus.CONVERGED
    mc = expected_risk(task, n, "monte_carlo", n_draws=draws, rng=1000 + n)
    assert mc.stderr is not None
    assert abs(mc.risk - de.risk) <= 0.03 * de.risk + 3 * mc.stderr, (label, n, de, mc)
    return de.risk, mc.risk, mc.stderr


@pytest.mark.parametrize(("kind", "noise"), DE_CASES)
def test_deterministic_equivalent_matches_monte_carlo_d400(kind: str, noise: float) -> None:
    # the quick tier (< 1 s a case); larger n, more draws: the slow grid below
    for n in (40, 100):
        _de_vs_mc(kind, noise, n, draws=100)


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "noise"), DE_CASES)
def test_deterministic_equivalent_matches_monte_carlo_d400_grid(kind: str, noise: float) -> None:
    # Measured limits of the DE (finite n, finite d − n), see docs/theory_linear.md: the bias
    # is 2–6 % low at n = 10 and ≤ 1.5 % from n = 40 on; the variance is low by ≈ 1/(d − n).
    for n in (40, 100, 200, 300, 360):
        _de_vs_mc(kind, noise, n, draws=300)


@pytest.mark.slow
@pytest.mark.parametrize("spectrum", ["power_law", "spiked"])
@pytest.mark.parametrize("profile", ["head", "tail", "random"])
def test_deterministic_equivalent_matches_monte_carlo_delta_placement(
    spectrum: str, profile: str
) -> None:
    """Δ on the top, the bottom or all of the spectrum (spec §2.4's cases), d = 400 with label
    noise; spiked: d/20 spikes 50× the bulk. Measured worst case: spiked with Δ on the spikes
    at n = 40 (2 × the 20 spikes), DE about 3.4 % low — inside 3 % + 3 s.e. at 300 draws."""
    from finetune_bounds.linear import spectrum_task

    task = spectrum_task(400, spectrum, spike_height=50.0, delta_profile=profile,
                         noise_variance=0.1, seed=1)
    for n in (40, 100, 200, 300):
        _check_de_vs_mc(task, n, 300, (spectrum, profile))


def test_deterministic_equivalent_singular_spectrum_matches_monte_carlo() -> None:
    d, r = 400, 250
    i = np.arange(1, d + 1.0)
    lam = np.where(i <= r, i**-1.0, 0.0)
    task = fb.LinearTask(fb.Covariance.from_spectrum(lam), np.zeros(d), i**-0.25, 0.05)
    for n in (60, 150):
        de = expected_risk(task, n, "deterministic")
        mc = expected_risk(task, n, "monte_carlo", n_draws=100, rng=n)
        assert abs(mc.risk - de.risk) <= 0.03 * de.risk + 3 * mc.stderr


def test_risk_curve_equals_pointwise_expected_risk() -> None:
    task = _power_law(30, noise=0.2)
    ns = [0, 1, 5, 29, 30, 31, 32, 50]
    curve = risk_curve(task, ns, "deterministic")
    for k, n in enumerate(ns):
        r = expected_risk(task, n, "deterministic")
        assert curve["n"][k] == n
        for key in ("risk", "bias", "variance"):
            assert curve[key][k] == pytest.approx(getattr(r, key), rel=1e-12)


# ---------------------------------------------------------------------------------------------
# κ equation
# ---------------------------------------------------------------------------------------------
def test_solve_kappa_against_brentq() -> None:
    lam = np.r_[np.arange(1, 41.0) ** -1.3, np.zeros(5)]  # zeros are ignored (rank 40)
    ns = np.array([0.5, 1, 3, 10, 25, 39, 39.9])
    sol = solve_kappa(lam, ns)
    pos = lam[lam > 0]
    for n, k in zip(ns, sol.kappa, strict=True):
        ref = optimize.brentq(lambda t, n=n: np.sum(pos / (pos + math.exp(t))) - n, -60, 60,
                              xtol=1e-14)
        assert k == pytest.approx(math.exp(ref), rel=1e-10)
    assert np.all(sol.residual < 1e-12)
    np.testing.assert_allclose(sol.gamma, np.sum((pos / (pos + sol.kappa[:, None])) ** 2, 1) / ns)
    assert float(solve_kappa(lam, 10).kappa) == pytest.approx(sol.kappa[3], rel=1e-13)
    for bad in (0, -1, 40, 41):
        with pytest.raises(fb.InvalidInputError, match="rank"):
            solve_kappa(lam, bad)


def test_solve_kappa_reports_convergence() -> None:
    lam = np.arange(1, 101.0) ** -1.0
    ns = np.array([10.0, 50.0])
    sol = solve_kappa(lam, ns)
    assert sol.status is SolverStatus.CONVERGED and sol.converged and sol.info.converged
    assert sol.converged_mask.tolist() == [True, True]
    assert sol.info.iterations == sol.iterations >= 1
    assert sol.info.residual == pytest.approx(float(np.max(sol.residual)))
    assert sol.info.residual < 1e-12
    assert sol.info.tolerance == 1e-14 and sol.info.extra["failed"] == 0
    assert solve_kappa(lam, 10.0).converged_mask.shape == ()  # shaped like n


def test_solve_kappa_max_iterations_and_strict() -> None:
    lam = np.arange(1, 101.0) ** -1.0
    one = solve_kappa(lam, [10.0, 50.0], max_iter=1)  # one Newton step cannot reach 1e-14
    assert one.status is SolverStatus.MAX_ITERATIONS and not one.converged
    assert one.iterations == 1 and one.converged_mask.tolist() == [False, False]
    assert one.info.extra["failed"] == 2 and one.info.residual > 1e-6
    with pytest.raises(fb.ConvergenceError, match="max_iterations"):
        solve_kappa(lam, [10.0, 50.0], max_iter=1, strict=True)
    assert solve_kappa(lam, 10.0, strict=True).converged  # strict and converged: no error


def test_solve_kappa_not_finite() -> None:
    # tr Σ overflows: the upper end of the bracket is inf, so is every iterate
    sol = solve_kappa([1e308, 1e308, 1e308], 1.0)
    assert sol.status is SolverStatus.NOT_FINITE and not sol.converged
    with pytest.raises(fb.ConvergenceError, match="not_finite"):
        solve_kappa([1e308, 1e308, 1e308], 1.0, strict=True)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"max_iter": 0}, "max_iter"), ({"max_iter": -3}, "max_iter"), ({"max_iter": 2.5}, "max_iter"),
     ({"xtol": 0.0}, "xtol"), ({"xtol": -1e-3}, "xtol"), ({"xtol": math.inf}, "xtol"),
     ({"xtol": math.nan}, "xtol")],
)
def test_solve_kappa_rejects_bad_settings(kwargs: dict, match: str) -> None:
    with pytest.raises(fb.InvalidInputError, match=match):
        solve_kappa([1.0, 0.5, 0.25], 1.0, **kwargs)


def test_expected_risk_carries_the_solver_status(monkeypatch: pytest.MonkeyPatch) -> None:
    from finetune_bounds.linear import theory

    task = _power_law(30, noise=0.1)
    de = expected_risk(task, 10, "deterministic")
    assert de.status is SolverStatus.CONVERGED and de.diagnostics["converged"] is True
    assert de.diagnostics["status"] == "converged"  # a str enum: serialises as its value
    for r in (expected_risk(task, m, "deterministic") for m in (0, 30, 40)):
        assert r.status is SolverStatus.EXACT  # closed forms (n = 0, n ≥ rank Σ)
    iso = fb.LinearTask(fb.Covariance.isotropic(20), np.zeros(20), np.ones(20))
    assert expected_risk(iso, 5, "isotropic").status is SolverStatus.EXACT
    curve = risk_curve(task, [0, 5, 10, 40], "deterministic")
    assert curve["converged"].dtype == bool and curve["converged"].all()
    assert sample_complexity(task, 0.05, method="deterministic").converged
    # a κ solve that runs out of steps is reported, and raises with strict=True
    monkeypatch.setattr(theory, "solve_kappa", partial(theory.solve_kappa, max_iter=1))
    bad = expected_risk(task, 10, "deterministic")
    assert bad.status is SolverStatus.MAX_ITERATIONS and bad.diagnostics["converged"] is False
    assert not risk_curve(task, [5, 10, 40], "deterministic")["converged"][:2].any()
    assert not sample_complexity(task, 0.05, method="deterministic").converged
    with pytest.raises(fb.ConvergenceError, match="κ equation at n = 10"):
        expected_risk(task, 10, "deterministic", strict=True)


def test_monte_carlo_status_only_with_a_stopping_rule() -> None:
    task = _power_law(30, noise=0.1)
    fixed = expected_risk(task, 10, "monte_carlo", rng=3, n_draws=20)
    assert fixed.status is None and "converged" not in fixed.diagnostics  # nothing to converge
    ok = expected_risk(task, 10, "monte_carlo", rng=3, n_draws=20, rel_tol=0.05)
    assert ok.status is SolverStatus.CONVERGED and ok.diagnostics["converged"] is True
    short = expected_risk(task, 10, "monte_carlo", rng=3, n_draws=5, rel_tol=1e-6, max_draws=10)
    assert short.status is SolverStatus.MAX_ITERATIONS and short.diagnostics["draws"] == 10
    with pytest.raises(fb.ConvergenceError, match="Monte Carlo"):
        expected_risk(task, 10, "monte_carlo", rng=3, n_draws=5, rel_tol=1e-6, max_draws=10,
                      strict=True)
    assert expected_risk(task, 0, "monte_carlo").status is SolverStatus.EXACT


# ---------------------------------------------------------------------------------------------
# §2.4 sample complexity against a brute-force scan
# ---------------------------------------------------------------------------------------------
def _first_n(task: fb.LinearTask, eps: float, n_max: int) -> int | None:
    for n in range(n_max + 1):
        if expected_risk(task, n, "deterministic").risk <= eps:
            return n
    return None


def test_sample_complexity_noiseless_nonmonotone_matches_scan() -> None:
    task = _power_law(30, a=1.0, b=-1.0)  # rises first: first-hit logic matters
    curve = risk_curve(task, np.arange(31), "deterministic")
    zero = curve["risk"][0]
    assert curve["risk"].max() > zero
    for eps in (zero * 1.01, zero * 0.999, zero * 0.5, zero * 0.01, 1e-9, 0.0):
        sc = sample_complexity(task, eps, method="deterministic")
        assert sc.reachable and sc.n == _first_n(task, eps, 30), eps
        assert sc.risk_at_n is not None and sc.risk_at_n <= eps * (1 + 1e-12)
    # exact 0 only at n = rank Σ
    assert sample_complexity(task, 0.0, method="deterministic").n == 30


def test_sample_complexity_noisy_matches_scan() -> None:
    task = _power_law(20, noise=0.05)
    r = 20
    zero = expected_risk(task, 0, "deterministic").risk
    for eps in (0.9 * zero, 0.3 * zero, 0.2, 0.05, 0.01, 0.003):
        sc = sample_complexity(task, eps, method="deterministic")
        ref = _first_n(task, eps, r + 400)
        assert sc.n == ref, (eps, sc, ref)
        if sc.n is not None and sc.n >= r + 2:  # closed-form branch: σ² r/(n − r − 1) ≤ ε
            assert 0.05 * r / (sc.n - r - 1) <= eps < 0.05 * r / (sc.n - r - 2)


def test_sample_complexity_not_reachable() -> None:
    task = _power_law(20, noise=0.05)
    # needs n = 20 + 1 + ⌈333.3⌉
    sc = sample_complexity(task, 0.003, n_max=100, method="deterministic")
    assert not sc.reachable and sc.n is None and "n ≤ 100" in sc.reason
    with pytest.raises(fb.NotReachableError, match="never reaches"):
        sample_complexity(task, 0.003, n_max=100, strict=True, method="deterministic")
    with pytest.raises(fb.NotReachableError):
        sample_complexity(task, 0.0, strict=True)  # noise floor: ε = 0 impossible
    assert sample_complexity(_power_law(20), 1e-6, n_max=5).reachable is False


def test_sample_complexity_isotropic_method() -> None:
    d, s2 = 25, 1.0
    task = fb.LinearTask(fb.Covariance.isotropic(d, s2), np.zeros(d), np.ones(d) / 5)
    # noiseless isotropic: E[B] = (1 − n/d)‖Δ‖² ≤ ε  ⇔  n ≥ d(1 − ε/‖Δ‖²)
    for eps in (0.5, 0.2, 0.01):
        sc = sample_complexity(task, eps, method="isotropic")
        assert sc.n == math.ceil(d * (1 - eps / 1.0) - 1e-12)


# ---------------------------------------------------------------------------------------------
# §2.4 bounds
# ---------------------------------------------------------------------------------------------
def _head_tail_loop(lam: np.ndarray, d2: np.ndarray, n: int, k_max: int) -> tuple[float, int]:
    """The §2.4 formula by explicit loops; Δ_i² averaged over exactly repeated eigenvalues."""
    d2 = d2.copy()
    for value in set(lam.tolist()):
        block = lam == value
        d2[block] = d2[block].mean()
    best, arg = math.inf, -1
    for k in range(k_max + 1):
        tail = sum(lam[i] * d2[i] for i in range(k, lam.size))
        head = sum(d2[i] / lam[i] for i in range(k))
        eff = sum(lam[i] for i in range(k, lam.size)) / n
        v = tail + head * eff**2
        if v < best:
            best, arg = v, k
    return best, arg


@pytest.mark.parametrize("seed", range(4))
def test_head_tail_bound_matches_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    d = 25
    task = random_task(d, rng, spectrum=["power_law", "spiked"][seed % 2])
    lam, d2 = task.covariance.eigenvalues, task.delta_eig**2
    for n in (1, 3, 10, 24, 25, 40):
        res = head_tail_bound(task, n)
        val, k = _head_tail_loop(lam, d2, n, min(n - 1, d))
        assert res.value == pytest.approx(val, rel=1e-10) and res.argmin_k == k
        for k_max in (0, 5):
            v2, k2 = _head_tail_loop(lam, d2, n, min(k_max, d))
            r2 = head_tail_bound(task, n, k_max=k_max, constant=3.0)
            assert r2.value == pytest.approx(3 * v2, rel=1e-10) and r2.argmin_k == k2
        # k = 0 is the zero-shot risk; the minimum can only be below it
        assert res.value <= lam @ d2 * (1 + 1e-12)
    assert head_tail_bound(task, 1).value == pytest.approx(lam @ d2)  # only k = 0 at n = 1
    assert head_tail_bound(task, d + 1).value == 0.0  # n > rank: bias 0 is attainable


def test_head_tail_rotation_invariant_with_repeated_eigenvalues() -> None:
    """Regression (found by Hypothesis): with λ = (0.1, 0.1, …) a split inside the repeated
    eigenspace depended on the arbitrary basis eigh returns there."""
    lam = np.array([0.1, 0.1, 0.01, 0.001])
    a = fb.LinearTask(fb.Covariance.from_spectrum(lam), np.zeros(4), [0.0, 1.0, 0.0, 0.0])
    b = fb.LinearTask(fb.Covariance.from_spectrum(lam), np.zeros(4), [1.0, 0.0, 0.0, 0.0])
    q = _rotation(4, 0)
    c = fb.LinearTask((q * lam) @ q.T, np.zeros(4), q @ a.target)
    for n in (1, 2, 3, 5):
        va = head_tail_bound(a, n).value
        assert head_tail_bound(b, n).value == pytest.approx(va, rel=1e-12)
        assert head_tail_bound(c, n).value == pytest.approx(va, rel=1e-9)


def test_head_tail_tracks_the_risk_better_than_naive() -> None:
    """Not identically zero, and within a small factor of the DE bias on power-law tasks."""
    rng = np.random.default_rng(0)
    ratios = []
    for _ in range(30):
        task = random_task(60, rng)
        de = expected_risk(task, 15, "deterministic")
        ratios.append(head_tail_bound(task, 15).value / de.bias)
    assert 0.1 < min(ratios) and max(ratios) < 5.0


def test_naive_bound_dominates_sample_bias_for_every_design() -> None:
    rng = np.random.default_rng(5)
    for trial in range(60):
        d = int(rng.integers(2, 12))
        task = random_task(d, rng, spectrum="spiked")
        n = int(rng.integers(0, d + 3))
        x = rng.standard_normal((n, d)) * rng.uniform(0, 3, d)
        if trial % 3 == 0 and n > 1:
            x[1] = x[0]  # rank-deficient
        assert sample_risk(task, x).bias <= naive_bound(task).value * (1 + 1e-12) + 1e-15


def test_benign_and_bounds() -> None:
    task = _power_law(50, a=1.0, b=0.0)
    lam = task.covariance.eigenvalues
    r0 = lam.sum() / lam[0]
    dn2 = float(task.delta @ task.delta)
    for n in (2, 5, 40):
        want = dn2 * lam[0] * max(math.sqrt(r0 / n), r0 / n)
        assert benign_bound(task, n).value == pytest.approx(want)
    allb = bounds(task, 10, constants={"benign": 2.0})
    assert set(allb) == {"naive", "benign", "head_tail"}
    assert allb["benign"].value == pytest.approx(2 * benign_bound(task, 10).value)
    assert allb["naive"].value == pytest.approx(lam[0] * dn2)
    with pytest.raises(fb.InvalidInputError, match="unknown bound"):
        bounds(task, 10, constants={"nope": 1.0})


def test_measure_correlation_study_covariance_aware_measures_win() -> None:
    table = measure_correlation_study(n_instances=60, d=40, n=8, rng=1)
    assert set(table["measure"]) == {
        "euclidean", "naive", "zero_shot", "benign", "head_tail", "deterministic"
    }
    assert np.all(np.isfinite(table[["pearson", "spearman"]].to_numpy()))
    rho = dict(zip(table["measure"], table["spearman"], strict=True))
    assert rho["head_tail"] > max(rho["naive"], rho["euclidean"], rho["benign"])
    assert rho["deterministic"] > rho["naive"]


# ---------------------------------------------------------------------------------------------
# Monte Carlo mechanics
# ---------------------------------------------------------------------------------------------
def test_monte_carlo_reproducible_and_rel_tol() -> None:
    task = _power_law(30, noise=0.1)
    a = expected_risk(task, 10, "monte_carlo", rng=3, n_draws=50)
    b = expected_risk(task, 10, "monte_carlo", rng=np.random.default_rng(3), n_draws=50)
    assert a.risk == b.risk and a.diagnostics["draws"] == 50
    c = expected_risk(task, 10, "monte_carlo", rng=3, n_draws=20, rel_tol=0.02)
    assert c.diagnostics["converged"] and c.stderr is not None
    assert c.stderr <= 0.02 * c.risk
    z = expected_risk(task, 0, "monte_carlo")
    assert z.risk == pytest.approx(expected_risk(task, 0, "deterministic").risk) and z.stderr == 0.0


# ---------------------------------------------------------------------------------------------
# validation at the door
# ---------------------------------------------------------------------------------------------
def test_theory_rejects_bad_input() -> None:
    task = _power_law(6, noise=0.1)
    bad_calls = [
        (lambda: expected_risk(task, -1, "deterministic"), "n must be"),
        (lambda: expected_risk(task, 2.5, "deterministic"), "integer"),
        (lambda: expected_risk(task, True, "deterministic"), "integer"),
        (lambda: expected_risk(task, 2, "exact"), "method must be one of"),
        (lambda: expected_risk(task, 2, ["deterministic"]), "method must be one of"),
        (lambda: expected_risk(task, 2, "monte_carlo", n_draws=1), "n_draws"),
        (lambda: expected_risk(task, 2, "monte_carlo", rng="seed"), "rng"),
        (lambda: expected_risk(task, 2, "monte_carlo", rel_tol=-1.0), "rel_tol"),
        (lambda: expected_risk("task", 2), "LinearTask"),
        (lambda: risk_curve(task, [], "deterministic"), "non-empty"),
        (lambda: risk_curve(task, [1, 2], "monte_carlo"), "method"),
        (lambda: risk_curve(task, [1, -2]), "n must be"),
        (lambda: sample_risk(task, np.ones((3, 5))), "6 columns"),
        (lambda: sample_risk(task, np.full((3, 6), np.nan)), "non-finite"),
        (lambda: sample_risk(task, np.ones(6)), "2-dimensional"),
        (lambda: finetuned_predictor(np.ones((3, 6)), np.ones(4), np.zeros(6)), "length 3"),
        (lambda: finetuned_predictor(np.ones((3, 6)), np.ones(3), np.zeros(5)), "length 6"),
        (lambda: sample_complexity(task, -0.1, method="deterministic"), "eps"),
        (lambda: sample_complexity(task, 0.1, method="monte_carlo"), "method"),
        (lambda: sample_complexity(task, 0.1, n_max=-3, method="deterministic"), "n_max"),
        (lambda: head_tail_bound(task, 0), "n must be"),
        (lambda: head_tail_bound(task, 3, k_max=-1), "k_max"),
        (lambda: naive_bound(task, constant=-1.0), "constant"),
        (lambda: benign_bound(task, 3, constant=float("nan")), "constant"),
        (lambda: solve_kappa([1.0, 2.0], 0.0), "rank"),
        (lambda: row_space_projector(np.zeros((2, 0))), "column"),
    ]
    for call, match in bad_calls:
        with pytest.raises(fb.InvalidInputError, match=match):
            call()


def test_theory_does_not_mutate_inputs() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 6))
    y = rng.standard_normal(4)
    src = rng.standard_normal(6)
    copies = [a.copy() for a in (x, y, src)]
    task = fb.LinearTask(np.eye(6), src, src + 1.0, 0.1)
    finetuned_predictor(x, y, src)
    sample_risk(task, x)
    for a, c in zip((x, y, src), copies, strict=True):
        assert np.array_equal(a, c)
    src[0] = 99.0  # the task kept its own copy
    assert task.source[0] == copies[2][0]


def test_monte_carlo_stops_near_the_requested_standard_error() -> None:
    """Issue 15, item 3: with ``rel_tol`` the Monte Carlo starts from a small pilot and stops at
    the first round that meets the tolerance — not after a fixed 200-draw minimum — and stays
    accurate against an independent route (the exact isotropic risk)."""
    d = 40
    task = fb.LinearTask(fb.Covariance.isotropic(d), np.zeros(d), np.ones(d) / np.sqrt(d), 0.2)
    exact = expected_risk(task, 10, "isotropic").risk
    for tol, seed in ((0.05, 1), (0.02, 2), (0.01, 3)):
        mc = expected_risk(task, 10, "monte_carlo", rel_tol=tol, rng=seed)
        draws = mc.diagnostics["draws"]
        assert mc.diagnostics["converged"] and mc.stderr <= tol * mc.risk
        # the draws the spread asks for: N ≈ (sd / (tol · mean))²; at most ~1.5× that (+ pilot)
        need = (mc.stderr * math.sqrt(draws) / (tol * mc.risk)) ** 2
        assert draws <= 1.5 * need + 16, (tol, draws, need)
        assert abs(mc.risk - exact) < 4 * mc.stderr, (tol, mc.risk, exact)
    # a loose tolerance needs only the pilot's order of draws (the old rule drew ≥ 200)
    assert expected_risk(task, 10, "monte_carlo", rel_tol=0.2, rng=4).diagnostics["draws"] < 50


def test_solve_kappa_for_one_n_is_the_vectorised_iteration() -> None:
    """The scalar path (one n) and the vectorised loop (several n) take the same steps."""
    from finetune_bounds.linear import solve_kappa

    rng = np.random.default_rng(15)
    for _ in range(60):
        d = int(rng.integers(2, 300))
        lam = np.sort(rng.lognormal(0.0, rng.uniform(0.1, 6.0), d))[::-1]
        if rng.random() < 0.3:
            lam[rng.integers(1, d):] = 0.0
        r = int(np.count_nonzero(lam))
        if r < 2:
            continue
        n = float(rng.uniform(0.01, r - 0.01))
        one = solve_kappa(lam, n)
        two = solve_kappa(lam, [n, n])
        assert one.info.status == two.info.status
        assert one.iterations == two.iterations
        np.testing.assert_allclose(one.kappa, two.kappa[0], rtol=4e-16, atol=0)
        np.testing.assert_allclose(one.gamma, two.gamma[0], rtol=4e-16, atol=0)
