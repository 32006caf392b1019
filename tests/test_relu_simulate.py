"""ReLU network training (spec linear-teachers §4) against the kernel theory."""

from __future__ import annotations

import math

import numpy as np
import pytest

from finetune_bounds._numerics import SolverStatus
from finetune_bounds.errors import ConvergenceError, InvalidInputError, SolverError
from finetune_bounds.relu import (
    MEASURES,
    ReluNetwork,
    antisymmetric_init,
    closed_form_pretrain,
    empirical_ntk,
    gd_pretrain,
    ntk_gram,
    simulate_cell,
    simulate_measures,
    synthetic_task,
    train,
)


def unit_rows(n: int, d: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def rngs(k: int, base: int = 0) -> list[np.random.Generator]:
    return [np.random.default_rng([base, i]) for i in range(k)]


def test_antisymmetric_init_is_zero_function() -> None:
    net = antisymmetric_init(100, 7, rngs(3))
    assert net.weights.shape == (3, 100, 7)
    assert np.array_equal(net.weights[:, :50], net.weights[:, 50:])
    assert np.array_equal(net.readout, np.r_[np.ones(50), -np.ones(50)])
    assert np.max(np.abs(net(unit_rows(20, 7, 1)))) < 1e-14  # exactly 0 up to summation order
    # seed i depends on rngs[i] only
    alone = antisymmetric_init(100, 7, rngs(3)[2:])
    assert np.array_equal(alone.weights[0], net.weights[2])


def test_closed_form_pretraining_error_is_sqrt_2_over_m() -> None:
    """f_S(x) = θ_Sᵀx·(4/m)·#{active pairs}: mean squared relative error 2/m (spec §4)."""
    d, m, seeds = 20, 1000, 16
    theta = synthetic_task(d, rng=3).source
    x = unit_rows(2000, d, 5)
    net = closed_form_pretrain(antisymmetric_init(m, d, rngs(seeds)), theta)
    f = net(x)
    t = x @ theta
    per_seed = np.sum((f - t) ** 2, axis=1) / np.sum(t**2) * (m / 2)  # → 1 in expectation
    se = per_seed.std(ddof=1) / math.sqrt(seeds)
    # boundary neurons (|wᵀx| < 2|θᵀx|/√m) add a relative O(m^{-1/2}) ≈ 3 % correction
    assert abs(per_seed.mean() - 1.0) <= 4 * se + 0.05, (per_seed.mean(), se)


def test_gradient_against_finite_differences() -> None:
    d, m, n = 4, 10, 6
    x = unit_rows(n, d, 0)
    y = np.random.default_rng(1).standard_normal(n)
    net = antisymmetric_init(m, d, rngs(1))
    net = ReluNetwork(net.weights + 0.3 * np.random.default_rng(2).standard_normal((1, m, d)),
                      net.readout)

    def loss(w: np.ndarray) -> float:
        return 0.5 * float(np.sum((ReluNetwork(w, net.readout)(x)[0] - y) ** 2))

    eta = 1e-3
    res = train(net, x, y, lr=eta, tol=0.0, max_steps=1)
    grad = (net.weights - res.network.weights)[0] / eta
    h = 1e-6
    for r, c in [(0, 0), (3, 2), (7, 1), (9, 3)]:
        w_p, w_m = net.weights.copy(), net.weights.copy()
        w_p[0, r, c] += h
        w_m[0, r, c] -= h
        fd = (loss(w_p) - loss(w_m)) / (2 * h)
        assert grad[r, c] == pytest.approx(fd, rel=1e-5, abs=1e-8)


def test_empirical_ntk_equals_jacobian_gram_and_approaches_h() -> None:
    d, n = 5, 6
    x = unit_rows(n, d, 3)
    small = antisymmetric_init(8, d, rngs(1))
    # J_i = ∂f(x_i)/∂W = (1/√m) a_r 1{w_rᵀx_i > 0} x_i, flattened
    w = small.weights[0]
    jac = np.stack(
        [((small.readout * (w @ xi > 0))[:, None] * xi[None, :]).ravel() / math.sqrt(8)
         for xi in x]
    )
    assert np.allclose(empirical_ntk(small, x)[0], jac @ jac.T, atol=1e-14)
    # large width: pairs share w, so m/2 independent neurons; stderr |xᵀz|√(p(1−p)/(m/2));
    # 21 entries, z = 4.5 is a Bonferroni bound at family-wise level < 1e-3
    m = 100_000
    k = empirical_ntk(antisymmetric_init(m, d, rngs(1, 9)), x)[0]
    cos = np.clip(x @ x.T, -1, 1)
    p = (np.pi - np.arccos(cos)) / (2 * np.pi)
    se = np.abs(cos) * np.sqrt(p * (1 - p) / (m / 2))
    assert np.all(np.abs(k - ntk_gram(x)) <= 4.5 * se + 1e-12)


def test_training_converges_and_stops_per_slice() -> None:
    x = np.stack([unit_rows(15, 6, s) for s in range(2)])
    y = np.stack([xi @ np.ones(6) / 3 for xi in x])
    net = antisymmetric_init(400, 6, rngs(2))
    lam = np.array([np.linalg.eigvalsh(ntk_gram(xi))[-1] for xi in x])
    res = train(net, x, y, lr=1 / lam, tol=1e-4, max_steps=3000)
    assert res.converged.all()
    assert np.all(res.residual_norm <= 1e-4 * res.initial_residual_norm)
    # history is non-increasing up to rounding (step 1/λ_max leaves a factor-2 margin)
    assert np.all(np.diff(res.history, axis=0) <= 1e-12)
    assert res.status is SolverStatus.CONVERGED and res.info.converged
    assert res.info.iterations == int(res.steps.max()) and res.info.tolerance == 1e-4
    assert res.info.residual <= 1e-4 and res.info.extra == {"converged": 2, "slices": 2}
    capped = train(net, x, y, lr=1 / lam, tol=1e-12, max_steps=3)
    assert not capped.converged.any() and np.all(capped.steps == 3)
    assert capped.status is SolverStatus.MAX_ITERATIONS and not capped.info.converged
    assert capped.info.residual == pytest.approx(
        float(np.max(capped.residual_norm / capped.initial_residual_norm)))
    with pytest.raises(ConvergenceError, match="max_iterations"):
        train(net, x, y, lr=1 / lam, tol=1e-12, max_steps=3, strict=True)


def _reference_train(
    w0: np.ndarray, a: np.ndarray, x: np.ndarray, y: np.ndarray, eta: np.ndarray, tol: float,
    max_steps: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The textbook loop ``train`` replaced (issue 15): temporaries every step, every slice."""
    w = w0.copy()
    scale = a / math.sqrt(w.shape[1])
    active = np.ones(w.shape[0], dtype=bool)
    steps = np.zeros(w.shape[0], dtype=int)
    hist = []
    r0 = norms = np.zeros(w.shape[0])
    for it in range(max_steps + 1):
        pre = np.matmul(x, w.transpose(0, 2, 1))
        err = np.maximum(pre, 0.0) @ scale - y
        now = np.linalg.norm(err, axis=1)
        norms = np.where(active, now, norms)
        if it == 0:
            r0 = now.copy()
        hist.append(norms.copy())
        active &= now > tol * r0
        if not active.any() or it == max_steps:
            break
        coef = (pre > 0) * err[:, :, None]
        grad = np.matmul(coef.transpose(0, 2, 1), x) * scale[None, :, None]
        w -= (eta * active)[:, None, None] * grad
        steps += active
    return w, steps, norms, np.asarray(hist)


@pytest.mark.parametrize("shared_x", [False, True])
def test_training_loop_matches_the_textbook_loop(shared_x: bool) -> None:
    # three slices with different step sizes: they converge at different steps (≈ 80 and
    # 400–560), so the compaction of the live slices is exercised; 400+ steps accumulate drift
    b, n, d, m = 3, 12, 5, 40
    x = unit_rows(n, d, 7) if shared_x else np.stack([unit_rows(n, d, s) for s in range(b)])
    xb = np.broadcast_to(x, (b, n, d)) if shared_x else x
    y = np.stack([xb[i] @ np.linspace(-1, 1, d) for i in range(b)])
    net = closed_form_pretrain(antisymmetric_init(m, d, rngs(b, 3)), np.ones(d) / 2)
    lam = np.array([np.linalg.eigvalsh(ntk_gram(xi))[-1] for xi in xb])
    eta = np.array([1.0, 0.6, 0.3]) / lam
    res = train(net, x, y, lr=eta, tol=1e-3, max_steps=2000)
    w, steps, norms, hist = _reference_train(net.weights, net.readout, xb, y, eta, 1e-3, 2000)
    assert res.converged.all() and len(set(res.steps.tolist())) == 3 and res.steps.max() > 400
    np.testing.assert_array_equal(res.steps, steps)
    scale = np.max(np.abs(w))
    assert np.max(np.abs(res.network.weights - w)) <= 1e-12 * scale
    # residuals: f(X) − y cancels to 1e-7 of ‖y‖, so compare on the scale of the first one
    np.testing.assert_allclose(res.residual_norm, norms, rtol=1e-9, atol=1e-12 * hist.max())
    np.testing.assert_allclose(res.history, hist, rtol=1e-9, atol=1e-12 * hist.max())
    # a fixed budget (tol = 0): every slice live for all steps
    res = train(net, x, y, lr=eta, tol=0.0, max_steps=300)
    w, steps, _, hist = _reference_train(net.weights, net.readout, xb, y, eta, 0.0, 300)
    np.testing.assert_array_equal(res.steps, steps)
    assert np.max(np.abs(res.network.weights - w)) <= 1e-12 * np.max(np.abs(w))
    np.testing.assert_allclose(res.history, hist, rtol=1e-9, atol=1e-12 * hist.max())


def test_training_bad_input() -> None:
    net = antisymmetric_init(10, 3, rngs(1))
    x = unit_rows(4, 3, 0)
    with pytest.raises(InvalidInputError, match="even"):
        antisymmetric_init(11, 3, rngs(1))
    with pytest.raises(InvalidInputError, match="shape"):
        train(net, x, np.ones(5), lr=0.1)
    with pytest.raises(InvalidInputError, match="lr"):
        train(net, x, np.ones(4), lr=-1.0)
    with pytest.raises(InvalidInputError, match="NaN"):
        train(net, x, np.array([1.0, np.nan, 0, 0]), lr=0.1)
    with pytest.raises(InvalidInputError, match="inputs"):
        net(unit_rows(4, 5, 0))
    with pytest.raises(SolverError, match="diverged"):
        train(net, x, np.ones(4), lr=500.0, max_steps=200)


def test_gd_pretraining_implements_the_source_teacher() -> None:
    task = synthetic_task(8, rng=1)
    g = rngs(2)
    x_src = np.stack([task.sample(400, gi) for gi in g])
    net = gd_pretrain(antisymmetric_init(2000, 8, g), x_src, x_src @ task.source, steps=100)
    xt = unit_rows(500, 8, 9)
    f = net.network(xt)
    t = xt @ task.source
    rel = np.linalg.norm(f - t, axis=1) / np.linalg.norm(t)
    assert np.all(rel < 0.1), rel
    assert net.status is SolverStatus.MAX_ITERATIONS  # a fixed budget (tol = 0), not a solve


def test_network_approaches_kernel_prediction_like_inverse_sqrt_width() -> None:
    """Gap between the trained network and the kernel prediction after the same number of steps
    shrinks monotonically over widths 250 → 1000 → 4000 and ≈ c·m^{-1/2}: gap·√m agrees across
    widths within a factor 2 (measured ≈ 1.6 ± 0.2 at every width, 4 seeds)."""
    task = synthetic_task(10, delta_norm=0.5, rng=1)
    means, scaled = [], []
    for m in (250, 1000, 4000):
        cell = simulate_cell(task, 20, m, rngs(4, 7), n_test=300)
        assert cell.scratch is not None
        gap = np.concatenate([cell.pretrained.kernel_gap, cell.scratch.kernel_gap])
        means.append(gap.mean())
        scaled.append(gap.mean() * math.sqrt(m))
        # the empirical NTK at the starting weights is closer still
        emp = np.concatenate([cell.pretrained.kernel_gap_empirical_ntk,
                              cell.scratch.kernel_gap_empirical_ntk])
        assert emp.mean() < gap.mean()
        np.testing.assert_allclose(cell.pretrained.kernel_gap_scaled,
                                   cell.pretrained.kernel_gap * math.sqrt(m), rtol=1e-15)
    assert means[0] > means[1] > means[2]
    assert max(scaled) / min(scaled) < 2.0, scaled


def test_bound_above_measured_risk_and_network_near_kernel_limit() -> None:
    task = synthetic_task(12, delta_norm=0.5, rng=2)
    for n in (5, 30, 90):
        cell = simulate_cell(task, n, 1000, rngs(3, n), n_test=400)
        assert (cell.n, cell.width, cell.seeds) == (n, 1000, 3)
        for _, meas in cell.starts():
            assert np.all(meas.bound_ratio >= 1.0), meas.bound_ratio.min()
            assert np.all(meas.complexity_term_ratio <= meas.bound_ratio)
            np.testing.assert_allclose(meas.bound_ratio, meas.bound / meas.mae, rtol=1e-15)
            assert meas.converged.all() and meas.converged.dtype == bool
            assert np.all(meas.iterations >= 1)
            # m = 1000: relative gap of the learned correction ≈ 1.6/√m ≈ 5 %, risks closer still
            assert np.allclose(meas.mae, meas.ntk_limit_mae, rtol=0.15)


def test_fine_tuning_beats_scratch_when_tasks_are_close() -> None:
    task = synthetic_task(10, source_norm=1.0, delta_norm=0.2, rng=4)
    cell = simulate_cell(task, 20, 1000, rngs(3), n_test=300)
    assert cell.scratch is not None and cell.scratch.pretrain_error is None
    assert cell.pretrained.pretrain_error is not None
    assert np.all(cell.pretrained.pretrain_error < 0.2)  # ≈ √(2/m) ≈ 0.045
    assert cell.pretrained.mae.mean() < 0.5 * cell.scratch.mae.mean()
    alone = simulate_cell(task, 20, 1000, rngs(3), n_test=300, scratch=False)
    assert alone.scratch is None and [s for s, _ in alone.starts()] == ["pretrained"]
    np.testing.assert_array_equal(alone.pretrained.mae, cell.pretrained.mae)


def test_seed_results_do_not_depend_on_batch() -> None:
    task = synthetic_task(6, rng=0)
    both = simulate_cell(task, 10, 200, rngs(2), n_test=50)
    alone = simulate_cell(task, 10, 200, rngs(2)[1:], n_test=50)
    for (_, a), (_, b) in zip(both.starts(), alone.starts(), strict=True):
        for name in ("mae", "mse", "ntk_limit_mae", "kernel_gap", "kernel_gap_empirical_ntk",
                     "bound", "bound_ratio", "iterations"):
            assert np.allclose(getattr(a, name)[1:], getattr(b, name), rtol=1e-9, atol=1e-12)


def test_simulate_cell_without_generators_is_empty() -> None:
    cell = simulate_cell(synthetic_task(6, rng=0), 10, 200, [])
    assert cell.seeds == 0 and cell.scratch is not None and cell.scratch.seeds == 0
    assert cell.pretrained.pretrain_error is not None and cell.scratch.pretrain_error is None


def test_measures_result() -> None:
    res = simulate_measures(10, 15, 300, rngs(1), instances=6, n_test=100)
    assert (res.n, res.width, res.seeds) == (15, 300, 1)
    assert res.complexity.shape == res.mae.shape == (1, 6)
    assert res.spearman.shape == res.pearson.shape == res.defined.shape == (1, 5, 2)
    assert res.defined.all()
    assert np.all(np.abs(res.spearman) <= 1) and np.all(np.abs(res.pearson) <= 1)
    assert res.bound_ratio_min[0] >= 1.0
    assert res.bound_ratio_min[0] == pytest.approx(np.min(res.bound[0] / res.mae[0]))
    np.testing.assert_array_equal(res.measure("delta_norm"), res.delta_norm)
    with pytest.raises(InvalidInputError):
        res.measure("nope")
    with pytest.raises(InvalidInputError):
        simulate_measures(10, 15, 300, rngs(1), instances=2)
    fixed = simulate_measures(10, 15, 100, rngs(1), instances=4, n_test=50,
                              delta_range=(0.5, 0.5))
    assert MEASURES == ("complexity", "projected", "delta_norm", "zero_shot", "bound")
    d_norm = MEASURES.index("delta_norm")
    assert not fixed.defined[0, d_norm].any()  # constant: no correlation (no row)
    assert np.isnan(fixed.spearman[0, d_norm]).all()


def test_non_finite_inputs_are_rejected_not_propagated() -> None:
    """A NaN/inf input is bad input: a typed error, never a silent NaN output or a
    'diverged' SolverError (regression: the forward pass and the NTK returned NaN)."""
    net = antisymmetric_init(10, 3, rngs(1))
    x = unit_rows(4, 3, 0)
    x[1, 1] = np.nan
    with pytest.raises(InvalidInputError, match="non-finite"):
        net(x)
    with pytest.raises(InvalidInputError, match="non-finite"):
        empirical_ntk(net, x)
    with pytest.raises(InvalidInputError, match="non-finite"):
        empirical_ntk(net, unit_rows(4, 3, 0), np.where(np.isnan(x), np.inf, x))
    with pytest.raises(InvalidInputError, match="non-finite"):
        train(net, x, np.zeros(4), lr=0.1)
