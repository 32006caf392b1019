"""Layered linear networks trained by GD against the deep-linear theory (spec §3.1–3.5, §6).

Tolerances: GD converges to a point O(η) away from the gradient-flow limit (discrete steps break
balancedness at O(η²) per step); the tests check that the distance shrinks ∝ η.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from finetune_bounds import SolverStatus
from finetune_bounds import deep_linear as dl
from finetune_bounds.deep_linear import simulate as sim
from finetune_bounds.errors import ConvergenceError, InvalidInputError


def _batch(seed: int, b: int = 3, d: int = 30, n: int = 6, alpha: float = 1.6):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((b, n, d))
    src = rng.standard_normal((b, d)) / math.sqrt(d)
    tgt = alpha * src + 0.5 * rng.standard_normal((b, d)) / math.sqrt(d)
    return x, np.einsum("bnd,bd->bn", x, tgt), src, tgt


def _closed(x, y, src, depth):
    return np.stack([dl.predictor(x[i], y[i], src[i], depth) for i in range(len(x))])


def _rel(a, b):
    return np.linalg.norm(a - b, axis=-1) / np.linalg.norm(b, axis=-1)


def test_balanced_weights_are_balanced_and_implement_source():
    rng = np.random.default_rng(0)
    src = rng.standard_normal((4, 12))
    for depth in (1, 2, 3, 6):
        ws = sim.balanced_weights(src, depth, 5, rng=rng)
        assert len(ws) == depth and ws[0].shape == (4, 5 if depth > 1 else 1, 12)
        np.testing.assert_allclose(sim.end_to_end(ws), src, rtol=1e-13, atol=1e-13)
        assert np.all(sim.balancedness(ws) < 1e-13)


@pytest.mark.parametrize("depth", [2, 3, 5])
def test_gd_approaches_closed_form_as_the_step_shrinks(depth):
    x, y, src, _ = _batch(1)
    w_cf = _closed(x, y, src, depth)
    m = np.linalg.norm(w_cf, axis=1)
    dists, bals = [], []
    for lr_scale in (0.4, 0.2):
        res = sim.train(sim.balanced_weights(src, depth), x, y, lr_scale=lr_scale, target_norm=m,
                        max_steps=100_000, tol=1e-11)
        assert res.converged.all()
        dists.append(_rel(res.predictor, w_cf))
        bals.append(res.balancedness)
    # first-order discretisation error: halving η halves the distance (ratio 0.5 ± 0.1)
    ratio = dists[1] / dists[0]
    assert np.all((ratio > 0.4) & (ratio < 0.6)), ratio
    assert np.all(dists[1] < 6e-3)
    # and the distance to linear fine-tuning (L = 1) is much larger: the test can fail
    w_lin = _closed(x, y, src, 1)
    assert np.all(_rel(w_lin, w_cf) > 5 * dists[0])
    # balancedness is broken at O(η) overall (O(η²) per step over O(1/η) steps)
    assert np.all(bals[1] < bals[0]) and np.all(bals[0] > 0)


def test_gd_depth_one_is_exact_linear_finetuning():
    x, y, src, _ = _batch(2)
    res = sim.train(sim.balanced_weights(src, 1), x, y, tol=1e-12, max_steps=50_000)
    assert np.all(_rel(res.predictor, _closed(x, y, src, 1)) < 1e-9)


@given(st.integers(0, 2**31 - 1), st.integers(2, 4), st.floats(0.05, 1.5))
def test_first_layer_outside_row_space_never_changes(seed, depth, lr_scale):
    # §3.2: ∇W_1 = (W_L⋯W_2)ᵀgᵀ with g ∈ rowspace X ⇒ W_1P_⊥ is invariant for any step size
    rng = np.random.default_rng(seed)
    d, n = 6, 3
    x = rng.standard_normal((1, n, d))
    src = rng.standard_normal((1, d))
    y = x[:, :, :] @ rng.standard_normal(d)
    w0 = sim.balanced_weights(src, depth, 3, rng=rng)
    res = sim.train(w0, x, y, lr_scale=lr_scale, max_steps=60, tol=1e-300)
    p_perp = np.eye(d) - np.linalg.pinv(x[0]) @ x[0]
    moved = np.abs((res.weights[0][0] - w0[0][0]) @ p_perp).max()
    assert moved < 1e-12 * (1 + np.abs(res.weights[0]).max())


def test_frozen_layers_converge_to_least_squares_multiple():
    x, y, src, _ = _batch(3)
    for depth, k in ((3, 1), (3, 2), (4, 1)):
        res = sim.train(sim.balanced_weights(src, depth), x, y, frozen_layers=k, tol=1e-11,
                        max_steps=100_000)
        assert res.converged.all()
        ref = np.stack([dl.frozen_predictor(x[i], y[i], src[i], depth, k).predictor
                        for i in range(3)])
        # one trainable scalar direction: no O(η) drift in the P_⊥ part, only the tolerance
        assert np.all(_rel(res.predictor, ref) < 1e-8)
        # the first k layers did not move
        w0 = sim.balanced_weights(src, depth)
        for j in range(k):
            np.testing.assert_array_equal(res.weights[j], w0[j])


def test_frozen_layers_fail_when_target_not_parallel_but_full_finetuning_succeeds():
    # §3.5 demonstration: with n ≥ d full fine-tuning reaches θ_T exactly; with W_1 frozen the
    # risk stays at ‖θ_T − γ*θ_S‖² > 0 (here ≥ the population floor) for every n
    rng = np.random.default_rng(4)
    d, n, depth = 8, 40, 3
    x = rng.standard_normal((2, n, d))
    src = rng.standard_normal((2, d))
    not_par = src + rng.standard_normal((2, d))
    par = 1.5 * src
    for tgt, should_fail in ((not_par, True), (par, False)):
        y = np.einsum("bnd,bd->bn", x, tgt)
        full = sim.train(sim.balanced_weights(src, depth), x, y, tol=1e-11, max_steps=100_000)
        frozen = sim.train(sim.balanced_weights(src, depth), x, y, frozen_layers=1, tol=1e-11,
                           max_steps=100_000)
        r_full = np.sum((full.predictor - tgt) ** 2, axis=1)
        r_frozen = np.sum((frozen.predictor - tgt) ** 2, axis=1)
        floor = np.sum(tgt**2, axis=1) - np.sum(src * tgt, axis=1) ** 2 / np.sum(src**2, axis=1)
        assert np.all(r_full < 1e-12 * np.sum(tgt**2, axis=1))
        if should_fail:
            assert np.all(r_frozen >= floor * (1 - 1e-9)) and np.all(floor > 0.1)
        else:
            assert np.all(r_frozen < 1e-12 * np.sum(tgt**2, axis=1))


def test_saddle_stall_time_grows_like_delta_to_minus_depth_minus_two():
    # ⟨P_Xθ_T, P_Xθ_S⟩ < 0 with a small P_⊥θ_S = δ: the flow passes within ~δ^L‖θ_S‖ of the
    # saddle w = 0 and needs time ~ δ^{−(L−2)} [derived: ∫ da / a^{2−2/L} from a ≈ δ^L]; with
    # δ = 0 it converges to the saddle itself, not to the closed form's global minimum.
    d, n, depth = 4, 2, 3
    x = math.sqrt(n) * np.eye(n, d)
    tgt = np.array([-1.0, 0.0, 0.0, 0.0])
    times = []
    for delta in (1e-1, 1e-2):
        src = np.array([1.0, 0.0, delta, 0.0])
        ode = dl.solve_predictor(x, x @ tgt, src, depth, "ode")
        cf = dl.solve_predictor(x, x @ tgt, src, depth)
        assert cf.diagnostics["saddle_risk"]
        assert ode.converged and _rel(ode.predictor, cf.predictor) < 1e-7
        times.append(ode.diagnostics["t_final"])
    assert 5 < times[1] / times[0] < 20  # δ^{−(L−2)} = δ⁻¹: a factor 10
    src = np.array([1.0, 0.0, 0.0, 0.0])
    stuck = dl.solve_predictor(x, x @ tgt, src, depth, "ode", t_max=1e5)
    assert not stuck.converged and np.linalg.norm(stuck.predictor) < 1e-6
    assert stuck.status is SolverStatus.MAX_ITERATIONS  # the time horizon ran out
    with pytest.raises(ConvergenceError, match="saddle"):
        dl.solve_predictor(x, x @ tgt, src, depth, "ode", t_max=1e3, strict=True)
    # the layered network stalls too (exact rank-one line: nothing breaks the symmetry)
    gd = sim.train(sim.balanced_weights(src, depth), x, x @ tgt, max_steps=3000)
    assert not gd.converged[0] and np.linalg.norm(gd.predictor) < 1e-2
    assert gd.status is SolverStatus.MAX_ITERATIONS and gd.statuses.tolist() == ["max_iterations"]


def test_pretrained_weights_are_nearly_balanced_and_finetune_close_to_theory():
    x, y, src, _ = _batch(5, b=2, d=12, n=4)
    pre = sim.pretrain(src, 3, 6, rng=np.random.default_rng(0), init_scale=0.1)
    assert pre.converged.all() and np.all(pre.error < 1e-6)
    assert pre.status is SolverStatus.CONVERGED and pre.info.iterations == int(pre.steps.max())
    s2 = np.linalg.norm(src, axis=1) ** (2 / 3)
    assert np.all(pre.balancedness < 0.05 * s2)  # ~ init_scale² s², conserved by the flow
    w_cf = _closed(x, y, src, 3)
    res = sim.train(pre.weights, x, y, target_norm=np.linalg.norm(w_cf, axis=1),
                    max_steps=100_000, tol=1e-11)
    assert res.converged.all()
    assert np.all(_rel(res.predictor, w_cf) < 0.03)
    assert np.all(_rel(_closed(x, y, src, 1), w_cf) > 0.03)


def test_bad_inputs():
    x, y, src, _ = _batch(6)
    ws = sim.balanced_weights(src, 3)
    with pytest.raises(InvalidInputError, match="frozen_layers"):
        sim.train(ws, x, y, frozen_layers=3)
    with pytest.raises(InvalidInputError, match="shape"):
        sim.train(ws, x[:, :, :-1], y)
    with pytest.raises(InvalidInputError, match="finite depth"):
        sim.balanced_weights(src, math.inf)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        sim.balanced_weights(src, 0)
    with pytest.raises(InvalidInputError, match="non-zero"):
        sim.balanced_weights(np.zeros((1, 5)), 2)
    with pytest.raises(ConvergenceError, match="diverged"):
        sim.train(ws, x, y, lr=1e3, max_steps=200)
    with pytest.raises(ConvergenceError, match="did not converge"):
        sim.train(ws, x, y, max_steps=3, strict=True)


def test_gd_status_per_member_and_aggregate():
    x, y, src, _ = _batch(7)
    ws = sim.balanced_weights(src, 3)
    ok = sim.train(ws, x, y, tol=1e-9, max_steps=100_000)
    assert ok.converged.all() and ok.status is SolverStatus.CONVERGED and ok.info.converged
    assert ok.statuses.tolist() == ["converged"] * 3
    assert ok.info.iterations == int(ok.steps.max()) and ok.info.tolerance == 1e-9
    assert ok.info.residual == float(ok.residual.max()) <= 1e-9
    # a budget too small for any member: flagged with strict=False, raised with strict=True
    cut = sim.train(ws, x, y, max_steps=3)
    assert not cut.converged.any() and cut.status is SolverStatus.MAX_ITERATIONS
    assert cut.statuses.tolist() == ["max_iterations"] * 3
    assert cut.info.extra["counts"] == {"max_iterations": 3}
    assert cut.info.residual > cut.info.tolerance
    with pytest.raises(ConvergenceError, match="max_iterations"):
        sim.train(ws, x, y, max_steps=3, strict=True)
    # mixed: the budget of the fastest member only (the members need different step counts)
    fastest = int(ok.steps.min())
    assert fastest < int(ok.steps.max())
    mixed = sim.train(ws, x, y, tol=1e-9, max_steps=fastest)
    counts = mixed.info.extra["counts"]
    assert mixed.status is SolverStatus.MAX_ITERATIONS
    assert counts["converged"] == int(mixed.converged.sum()) >= 1
    assert counts["max_iterations"] == int((~mixed.converged).sum()) >= 1
    assert mixed.statuses[mixed.converged].tolist() == ["converged"] * counts["converged"]


def test_pretrain_strict():
    src = np.random.default_rng(8).standard_normal((1, 6))
    pre = sim.pretrain(src, 2, 4, rng=np.random.default_rng(0), max_steps=2)
    assert pre.status is SolverStatus.MAX_ITERATIONS and not pre.converged.any()
    with pytest.raises(ConvergenceError):
        sim.pretrain(src, 2, 4, rng=np.random.default_rng(0), max_steps=2, strict=True)


def _plain_gd(ws, x, y, eta, k, tol, max_steps, ref):
    """The plain form of ``train``'s loop (fixed step): fresh arrays every step, no buffers.
    ``train`` reuses buffers and updates in place; its iterates must be the same bits."""
    ws = [np.array(w) for w in ws]
    L, bsz, n = len(ws), x.shape[0], x.shape[1]
    steps = np.full(bsz, max_steps)
    active = np.ones(bsz, dtype=bool)
    xt = np.ascontiguousarray(np.swapaxes(x, 1, 2))
    for t in range(max_steps + 1):
        qs = [None] * (L + 1)
        qs[L] = np.ones((bsz, 1))
        for j in range(L, 0, -1):
            qs[j - 1] = (qs[j][:, None, :] @ ws[j - 1])[:, 0, :]
        w = qs[0]
        g = (xt @ ((x @ w[:, :, None])[:, :, 0] - y)[:, :, None])[:, :, 0] / n
        if k == 0:
            stat = np.linalg.norm(g, axis=1) / ref
        else:
            wn = np.linalg.norm(w, axis=1)
            stat = np.abs(np.sum(g * w, axis=1)) / np.where(wn > 0, wn, 1.0) / ref
        newly = active & (stat <= tol)
        steps[newly] = t
        active &= ~newly
        if not np.any(active) or t == max_steps:
            break
        rs = [g]
        for j in range(1, L):
            rs.append((ws[j - 1] @ rs[-1][:, :, None])[:, :, 0])
        step = (eta * active)[:, None, None]
        for j in range(k + 1, L + 1):
            ws[j - 1] = ws[j - 1] - step * (qs[j][:, :, None] * rs[j - 1][:, None, :])
    return ws, steps


@pytest.mark.parametrize("depth,frozen", [(3, 0), (2, 1), (4, 0), (1, 0)])
def test_train_iterates_are_the_plain_loop_bit_for_bit(depth, frozen):
    """The in-place GD loop (issue 15: per-step overhead removed) computes the same iterates as
    the plain form, bit for bit, with members stopping at different steps."""
    x, y, src, _ = _batch(7, b=3, d=20, n=5)
    ws0 = sim.balanced_weights(src, depth, width=4, rng=np.random.default_rng(1))
    res = sim.train(ws0, x, y, frozen_layers=frozen, tol=1e-7, max_steps=400)
    ref = np.linalg.norm(np.einsum("bnd,bn->bd", x, y), axis=1) / x.shape[1]
    ws, steps = _plain_gd(ws0, x, y, res.lr, frozen, 1e-7, 400, ref)
    assert len(set(res.steps.tolist())) > 1 or depth == 1 or frozen  # members stop apart
    assert res.steps.tolist() == steps.tolist()
    for a, b in zip(res.weights, ws, strict=True):
        assert np.array_equal(a, b)
