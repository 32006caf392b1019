"""Finite-width GD of the mean-field two-layer network, batched over seeds (spec
infinite-width-transfer.md §1, §3), checked against finite differences, the fixed-point identities
(A)/(B) of §2 and the linear closed form (S-B)."""

from __future__ import annotations

import numpy as np
import pytest

from finetune_bounds.errors import InvalidInputError
from finetune_bounds.infinite_width._dmft import linear_closed_form_sb
from finetune_bounds.infinite_width.simulate import (
    Network,
    init_network,
    readout_ridge,
    train,
    width_sweep,
)


def _task(
    d: int, p: int, seed: int = 0, n_eval: int = 10
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((p, d))
    y = x @ rng.standard_normal(d) / np.sqrt(d)
    return x, y, rng.standard_normal((n_eval, d))


def _loss(w: np.ndarray, z: np.ndarray, x: np.ndarray, y: np.ndarray, gamma: float, act: str):
    h = w @ x.T / np.sqrt(x.shape[1])
    phi = h if act == "linear" else np.maximum(h, 0.0)
    f = z @ phi / (gamma * w.shape[0])
    return 0.5 * float(np.sum((f - y) ** 2))


def _phi_kernel(net: Network, x: np.ndarray) -> np.ndarray:
    feats = net.features(x)  # (S, P, N)
    return np.asarray(np.matmul(feats, feats.transpose(0, 2, 1)) / net.width)


@pytest.mark.parametrize("act", ["linear", "relu"])
def test_one_step_matches_finite_difference_gradient(act: str) -> None:
    d, n, p, gam, lam, dlt, eta = 3, 4, 5, 0.7, 0.3, 0.2, 1e-4
    x, y, _ = _task(d, p, seed=2)
    net = init_network(n, d, seeds=[5], gamma=gam, activation=act)
    rng = np.random.default_rng(9)
    w_anc = rng.standard_normal((1, n, d))
    z_anc = rng.standard_normal((1, n))
    res = train(
        net,
        x,
        y,
        ridge_readout=lam,
        ridge_hidden=dlt,
        anchor_hidden=w_anc,
        anchor_readout=z_anc,
        lr=eta,
        max_steps=1,
        tol=1e-300,
    )
    assert res.steps.tolist() == [1] and res.time[0] == eta
    w0, z0 = np.array(net.W[0]), np.array(net.z[0])
    eps = 1e-6
    gw = np.zeros_like(w0)
    for idx in np.ndindex(*w0.shape):
        wp, wm = w0.copy(), w0.copy()
        wp[idx] += eps
        wm[idx] -= eps
        gw[idx] = (_loss(wp, z0, x, y, gam, act) - _loss(wm, z0, x, y, gam, act)) / (2 * eps)
    gz = np.zeros_like(z0)
    for i in range(n):
        zp, zm = z0.copy(), z0.copy()
        zp[i] += eps
        zm[i] -= eps
        gz[i] = (_loss(w0, zp, x, y, gam, act) - _loss(w0, zm, x, y, gam, act)) / (2 * eps)
    want_w = -(gam**2 * n * gw + dlt * (w0 - w_anc[0]))
    want_z = -(gam**2 * n * gz + lam * (z0 - z_anc[0]))
    got_w = (res.network.W[0] - w0) / eta
    got_z = (res.network.z[0] - z0) / eta
    want = np.concatenate([want_w.ravel(), want_z])
    got = np.concatenate([got_w.ravel(), got_z])
    assert np.linalg.norm(got - want) <= 1e-6 * np.linalg.norm(want)


def test_fixed_lr_time_is_steps_times_lr() -> None:
    x, y, _ = _task(4, 6)
    net = init_network(8, 4, seeds=2, gamma=1.0)
    res = train(net, x, y, ridge_readout=0.1, ridge_hidden=0.1, lr=0.01, max_steps=7)
    assert res.steps.tolist() == [7, 7]
    np.testing.assert_allclose(res.time, 0.07, rtol=1e-14)
    assert not res.converged.any()


def test_seeds_reproducible_and_batched_equals_single() -> None:
    x, y, _ = _task(4, 6)
    a = init_network(10, 4, seeds=[3, 4], gamma=0.8)
    b = init_network(10, 4, seeds=[3, 4], gamma=0.8)
    assert np.array_equal(a.W, b.W) and np.array_equal(a.z, b.z)
    assert not np.allclose(a.W[0], a.W[1])
    count = init_network(10, 4, seeds=2, gamma=1.0)  # a count S means seeds 0, …, S − 1
    assert np.array_equal(count.W[1], init_network(10, 4, seeds=[1], gamma=1.0).W[0])
    kw = dict(ridge_readout=0.1, ridge_hidden=0.05, tol=1e-9, max_time=20.0)
    both = train(a, x, y, **kw)  # type: ignore[arg-type]
    again = train(b, x, y, **kw)  # type: ignore[arg-type]
    assert np.array_equal(both.network.W, again.network.W)
    for k, s in enumerate([3, 4]):
        one = train(init_network(10, 4, seeds=[s], gamma=0.8), x, y, **kw)  # type: ignore[arg-type]
        assert one.steps[0] == both.steps[k] and one.time[0] == both.time[k]
        np.testing.assert_allclose(one.network.W[0], both.network.W[k], rtol=0, atol=1e-12)
        np.testing.assert_allclose(one.network.z[0], both.network.z[k], rtol=0, atol=1e-12)
    assert not np.allclose(both.network.predict(x)[0], both.network.predict(x)[1])


def test_identities_a_and_b_linear_anchor_zero() -> None:
    d, p, lam = 5, 8, 0.1
    x, y, _ = _task(d, p, seed=1)
    net = init_network(40, d, seeds=2, gamma=1.0, activation="linear")
    res = train(net, x, y, ridge_readout=lam, ridge_hidden=lam, tol=1e-13)
    assert res.converged.all()
    trained = res.network
    f = trained.predict(x)
    phi = _phi_kernel(trained, x)
    eye = np.eye(p)
    fa = np.matmul(phi, np.linalg.solve(phi + lam * eye, np.broadcast_to(y, (2, p))[..., None]))
    np.testing.assert_allclose(fa[..., 0], f, rtol=0, atol=1e-8)  # (A)
    # linear φ: g = z, so G = zzᵀ/N on every input pair and K = Φ + G ⊙ K_x
    kx = x @ x.T / d
    g = np.einsum("sn,sn->s", trained.z, trained.z)[:, None, None] / trained.width
    k = phi + g * kx
    fb = np.matmul(k, np.linalg.solve(k + 2 * lam * eye, np.broadcast_to(y, (2, p))[..., None]))
    np.testing.assert_allclose(fb[..., 0], f, rtol=0, atol=1e-8)  # (B)


def test_sb_gap_small_at_width_4000() -> None:
    d, p, gam, lam = 10, 20, 0.3, 0.3
    x, y, xe = _task(d, p)
    ref = linear_closed_form_sb(x, y, xe, gamma=gam, ridge_readout=lam, ridge_hidden=lam).f_eval
    net = init_network(4000, d, seeds=4, gamma=gam, activation="linear")
    res = train(net, x, y, ridge_readout=lam, ridge_hidden=lam, anchor_hidden=net.W, tol=1e-6)
    assert res.converged.all()
    gaps = np.sqrt(np.mean((res.network.predict(xe) - ref) ** 2, axis=1))
    se = gaps.std(ddof=1) / np.sqrt(gaps.size)
    # O(N^{-1/2}) bulk error of the M₀ = I closed form: measured mean gap 1.05e-2 (s.e. 7.6e-4,
    # 8 seeds: 2.5e-2, 1.4e-2, 1.0e-2, 3.9e-3 at N = 400, 1600, 4000, 16000) against an output
    # RMS of 0.84; the tolerance 0.02 is the measured mean plus > 10 s.e.
    assert gaps.mean() + 4 * se < 0.02
    assert gaps.max() < 0.03


def test_width_sweep_gap_shrinks_like_inverse_sqrt_width() -> None:
    d, p, gam, lam = 10, 20, 0.3, 0.3
    x, y, xe = _task(d, p)
    ref = linear_closed_form_sb(x, y, xe, gamma=gam, ridge_readout=lam, ridge_hidden=lam).f_eval
    ws = width_sweep(
        x,
        y,
        xe,
        widths=[100, 400, 1600],
        seeds=4,
        reference=ref,
        gamma=gam,
        ridge_readout=lam,
        ridge_hidden=lam,
        activation="linear",
        anchor="init",
        tol=1e-7,
    )
    assert ws.converged.all()
    assert np.all(np.diff(ws.gap_mean) < 0)
    assert ws.gaps.shape == (3, 4) and np.all(ws.gap_stderr > 0)
    assert -0.8 <= ws.slope <= -0.3  # measured −0.57


def test_relu_training_reduces_loss_and_lands_on_max_time() -> None:
    x, y, _ = _task(4, 10, seed=3)
    net = init_network(30, 4, seeds=3, gamma=1.0)
    before = 0.5 * np.sum((net.predict(x) - y) ** 2, axis=1)
    res = train(net, x, y, ridge_readout=0.01, ridge_hidden=0.01, max_time=3.7, tol=1e-14)
    assert np.all(res.time == 3.7) and not res.converged.any()
    assert np.all(res.loss < 0.5 * before)
    np.testing.assert_allclose(res.loss, 0.5 * np.sum((res.network.predict(x) - y) ** 2, axis=1))
    assert np.all(res.steps > 0) and np.all(res.residual > 0)


def test_converged_seeds_stop_updating() -> None:
    x, y, _ = _task(3, 5)
    net = init_network(10, 3, seeds=2, gamma=1.0, activation="linear")
    y2 = np.stack([np.zeros(5), y])  # per-seed targets
    res = train(net, x, y2, ridge_readout=1.0, ridge_hidden=1.0, tol=1e-6)
    assert res.converged.all() and np.all(res.residual < 1e-6)
    assert res.steps[0] != res.steps[1]
    alone = train(
        Network(net.W[:1], net.z[:1], gamma=1.0, activation="linear"),
        x,
        y2[:1],
        ridge_readout=1.0,
        ridge_hidden=1.0,
        tol=1e-6,
    )
    assert alone.steps[0] == res.steps[0] and alone.time[0] == res.time[0]


def test_readout_ridge_equals_converged_readout_only_training() -> None:
    d, p, ridge = 4, 9, 0.2
    x, y, xe = _task(d, p, seed=4, n_eval=6)
    for act in ("relu", "linear"):
        net = init_network(25, d, seeds=3, gamma=0.6, activation=act)
        res = train(net, x, y, ridge_readout=ridge, ridge_hidden=0.0, freeze_hidden=True, tol=1e-12)
        assert res.converged.all()
        assert np.array_equal(res.network.W, net.W)
        fr = readout_ridge(net, x, y, xe, ridge=ridge)
        np.testing.assert_allclose(fr, res.network.predict(xe), rtol=0, atol=1e-7)


def test_bad_input_raises() -> None:
    x, y, xe = _task(3, 5)
    net = init_network(4, 3, seeds=1, gamma=1.0)
    kw = dict(ridge_readout=0.1, ridge_hidden=0.1)
    xn = x.copy()
    xn[0, 0] = np.nan
    with pytest.raises(InvalidInputError):
        train(net, xn, y, **kw)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        train(net, x, y, gamma=0.0, **kw)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        init_network(4, 3, seeds=1, gamma=0.0)
    with pytest.raises(InvalidInputError):
        train(net, x, y, ridge_readout=-0.1, ridge_hidden=0.1)
    with pytest.raises(InvalidInputError):
        train(net, x, y[:4], **kw)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        train(net, x[:, :2], y, **kw)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        train(net, x, y, anchor_hidden=np.zeros((1, 4, 2)), **kw)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        init_network(4, 3, seeds=1, gamma=1.0, activation="tanhh")
    with pytest.raises(InvalidInputError):
        Network(np.zeros((1, 4, 3)), np.zeros((1, 5)), gamma=1.0)
    with pytest.raises(InvalidInputError):
        readout_ridge(net, x, y, xe, ridge=0.0)
    with pytest.raises(InvalidInputError):
        width_sweep(
            x,
            y,
            xe,
            widths=[4],
            seeds=1,
            reference=np.zeros(3),
            gamma=1.0,
            ridge_readout=0.1,
            ridge_hidden=0.1,
        )
    with pytest.raises(InvalidInputError):
        width_sweep(
            x,
            y,
            xe,
            widths=[4],
            seeds=1,
            reference=np.zeros(len(xe)),
            gamma=1.0,
            ridge_readout=0.1,
            ridge_hidden=0.1,
            anchor="source",
        )


def test_train_matches_pre_rewrite_loop():
    """The buffered ``train`` (issue 15) takes the same steps as the old loop (reduced: linear
    φ, exponential Euler, no rejections, fixed step count) and ends at the same weights."""
    import math as _m

    from finetune_bounds.infinite_width.simulate import init_network as _init
    from finetune_bounds.infinite_width.simulate import train as _train

    gen = np.random.default_rng(5)
    x = gen.standard_normal((10, 6))
    y = x[:, 0] + 0.3 * np.sin(x[:, 1])
    net = _init(50, 6, seeds=3, gamma=1.2, activation="linear")
    gam, lam, dlt, n_steps = 1.2, 1.0, 1.0, 300
    res = _train(net, x, y, ridge_readout=lam, ridge_hidden=dlt, anchor_hidden=net.W,
                 tol=1e-14, max_steps=n_steps)
    xs = x / _m.sqrt(6)
    kx = xs @ xs.T
    kx_max = float(np.linalg.eigvalsh(kx)[-1])
    w, z, w_anc, inv = np.array(net.W), np.array(net.z), net.W, 1.0 / (gam * 50)

    def evaluate(w, z):
        h = np.einsum("snd,pd->snp", w, xs)
        delta = y - np.einsum("sn,snp->sp", z, h) * inv
        dz = gam * np.einsum("snp,sp->sn", h, delta) - lam * z
        dw = gam * z[:, :, None] * (delta @ xs)[:, None, :] - dlt * (w - w_anc)
        return delta, dw, dz, h

    delta, dw, dz, h = evaluate(w, z)
    kmat = np.einsum("snp,snq->spq", h, h) + np.einsum("sn,sn->s", z, z)[:, None, None] * kx
    curv = np.linalg.eigvalsh(kmat / 50)[:, -1] + gam * np.linalg.norm(delta, axis=1) * _m.sqrt(
        kx_max)
    dt = 1.0 / curv
    for _ in range(n_steps):  # 300 < 200·2: one refresh, at step 200
        e_d, c_d = np.exp(-dlt * dt), -np.expm1(-dlt * dt) / dlt
        e_l, c_l = np.exp(-lam * dt), -np.expm1(-lam * dt) / lam
        w = w_anc + e_d[:, None, None] * (w - w_anc) + c_d[:, None, None] * (
            dw + dlt * (w - w_anc))
        z = e_l[:, None] * z + c_l[:, None] * (dz + lam * z)
        delta, dw, dz, h = evaluate(w, z)
        if _ == 199:
            kmat = np.einsum("snp,snq->spq", h, h) + np.einsum("sn,sn->s", z, z)[:, None,
                                                                                None] * kx
            dt = 1.0 / (np.linalg.eigvalsh(kmat / 50)[:, -1]
                        + gam * np.linalg.norm(delta, axis=1) * _m.sqrt(kx_max))
    assert np.all(res.steps == n_steps) and np.all(res.rejected == 0)
    assert np.max(np.abs(res.network.W - w)) <= 1e-12 * np.max(np.abs(w))
    assert np.max(np.abs(res.network.z - z)) <= 1e-12 * np.max(np.abs(z))


# --- the matrix-vector loop for linear φ (issue 15) against the general loop ------------------


def _linear_train_problem(width: int = 30, seeds: int = 5):
    gen = np.random.default_rng(5)
    x = gen.standard_normal((10, 6))
    y = x[:, 0] + 0.3 * np.sin(x[:, 1])
    net = init_network(width, 6, seeds=list(range(1, seeds + 1)), gamma=1.2,
                       activation="linear")
    return x, y, net


def _train_residuals(res, x, y, w_anc, lam, dlt):
    """Relative gradient norms of the returned networks (linear φ), formed directly."""
    w, z, gam = res.network.W, res.network.z, res.network.gamma
    n = w.shape[1]
    xs = x / np.sqrt(x.shape[1])
    h = np.einsum("snd,pd->snp", w, xs)
    delta = y - np.einsum("sn,snp->sp", z, h) / (gam * n)
    dz = gam * np.einsum("snp,sp->sn", h, delta) - lam * z
    dw = gam * z[:, :, None] * (delta @ xs)[:, None, :] - dlt * (w - w_anc)
    g2 = np.einsum("snd,snd->s", dw, dw) + np.einsum("sn,sn->s", dz, dz)
    p2 = np.einsum("snd,snd->s", w, w) + np.einsum("sn,sn->s", z, z)
    return np.sqrt(g2 / n) / np.maximum(np.sqrt(p2 / n), 1.0)


@pytest.mark.parametrize(
    ("scale", "tol", "cap", "stall", "outcome"),
    [
        (3.0, 1e-6, 1500, None, "converged"),  # rejections, then convergence
        (5.0, 1e-12, 500, None, "capped"),
        (4.0, 1e-12, 1500, 1e-3, "stalled"),
        (1e13, 1e-8, 100, None, "failed"),  # 40 rejections in a row
    ],
)
def test_train_linear_loop_matches_general_with_rejections(monkeypatch, scale, tol, cap, stall,
                                                           outcome):
    """With the step estimate scaled up (test hook ``_STEP_SCALE``) so that trial steps raise the
    energy, the linear-φ loop of ``train`` rejects exactly what the general loop rejects (forced
    by ``_LINEAR_FAST = False``), seed by seed — different seeds reject in different iterations,
    so some iterations accept some seeds and reject others — with the same steps, flags and
    times, and the same weights to 1e-12."""
    from finetune_bounds.infinite_width import simulate

    x, y, net = _linear_train_problem(20, 4)
    w_anc = 0.5 * net.W
    monkeypatch.setattr(simulate, "_STEP_SCALE", scale)
    out = {}
    for fast in (True, False):
        monkeypatch.setattr(simulate, "_LINEAR_FAST", fast)
        out[fast] = train(net, x, y, ridge_readout=1.0, ridge_hidden=1.0, anchor_hidden=w_anc,
                          tol=tol, max_steps=cap, stall_tol=stall)
    ra, rg = out[True], out[False]
    assert np.all(ra.rejected > 0)
    assert np.array_equal(ra.steps, rg.steps) and np.array_equal(ra.rejected, rg.rejected)
    assert np.array_equal(ra.converged, rg.converged)
    assert np.array_equal(ra.stalled, rg.stalled)
    assert np.array_equal(np.isinf(ra.residual), np.isinf(rg.residual))  # failed seeds
    np.testing.assert_allclose(ra.time, rg.time, rtol=1e-12)
    w_a, w_g = ra.network.W, rg.network.W
    assert np.max(np.abs(w_a - w_g)) <= 1e-12 * np.max(np.abs(w_g))
    assert np.max(np.abs(ra.network.z - rg.network.z)) <= 1e-12 * np.max(np.abs(rg.network.z))
    fin = np.isfinite(rg.residual)
    # both exact: they differ by the iterates' rounding amplified by the cancellation in
    # dW/dt = −δ D + z ⊗ g near convergence (≈ ε‖D‖/‖dW‖ ≤ 1e-14/tol)
    np.testing.assert_allclose(ra.residual[fin], rg.residual[fin], rtol=1e-6)
    flags = {"converged": ra.converged, "stalled": ra.stalled, "failed": np.isinf(ra.residual),
             "capped": ra.steps + ra.rejected == cap}
    assert np.all(flags[outcome])
    if outcome != "failed":  # mixed iterations: not all seeds reject in the same iterations
        assert len(set(ra.rejected.tolist())) > 1 and np.all(ra.steps > 0)


def test_train_residual_bound_never_exceeds_exact():
    """The lower bounds the linear loop uses to skip the exact gradient norm are ≤ the exact
    relative residuals: random states, states near convergence (dW/dt ≈ 0, where the expanded
    ‖dW‖² cancels catastrophically) and ‖D‖² perturbed as a carried recursion would be."""
    from finetune_bounds.infinite_width.simulate import _residual_lower_bounds

    gen = np.random.default_rng(12)
    used = 0
    for it in range(300):
        s_n, n, dim = int(gen.integers(1, 4)), int(gen.integers(1, 60)), int(gen.integers(1, 12))
        gam = float(10.0 ** gen.uniform(-1, 1))
        dlt = float(gen.choice([0.0, 1e-3, 0.3, 1.0, 50.0]))
        z = gen.standard_normal((s_n, n)) * 10.0 ** gen.uniform(-3, 2)
        g_rows = gen.standard_normal((s_n, dim)) * 10.0 ** gen.uniform(-4, 2)
        wa = gen.standard_normal((s_n, n, dim)) * 10.0 ** gen.uniform(-3, 2)
        rank_one = gam * z[:, :, None] * g_rows[:, None, :]
        if dlt > 0 and it % 2:  # near the fixed point δ D = γ z ⊗ g_rows: dW/dt tiny
            d = rank_one / dlt * (1.0 + 10.0 ** gen.uniform(-16, -6)
                                  * gen.standard_normal(rank_one.shape))
        else:
            d = gen.standard_normal((s_n, n, dim)) * 10.0 ** gen.uniform(-6, 2)
        dz = gen.standard_normal((s_n, n)) * 10.0 ** gen.uniform(-16, 0)
        d2 = np.einsum("snd,snd->s", d, d) * (1.0 + 1e-13 * gen.uniform(-1, 1, s_n))
        zd = np.einsum("sn,snd->sd", z, d)
        lo, terms = _residual_lower_bounds(
            z, g_rows, dz, zd, d2, gam=gam, dlt=dlt,
            wa_norm=np.sqrt(np.einsum("snd,snd->s", wa, wa)), dim=dim)
        w = wa + d
        dw = rank_one - dlt * d
        g2 = np.einsum("snd,snd->s", dw, dw) + np.einsum("sn,sn->s", dz, dz)
        p2 = np.einsum("snd,snd->s", w, w) + np.einsum("sn,sn->s", z, z)
        exact = np.sqrt(g2 / n) / np.maximum(np.sqrt(p2 / n), 1.0)
        assert np.all(np.isfinite(lo)) and np.all(np.isfinite(terms))
        assert np.all(lo <= exact), (it, lo, exact)
        used += int(np.sum(lo >= 0.5 * exact))
    assert used > 150  # the bound is not vacuous


def test_train_linear_carried_quantities_and_final_residuals(monkeypatch):
    """Along real runs (test hook ``_AUDIT``; refreshes disabled, so ‖D‖² is carried by its
    recursion over all iterations): every lower bound used is ≤ the exact residual, the carried
    ‖D‖² equals the exact ‖W − W_anc‖² to 1e-13 relative after hundreds of steps, and the
    reported final residuals are the exact ones at the returned weights."""
    from finetune_bounds.infinite_width import simulate

    x, y, net = _linear_train_problem(20, 3)
    w_anc = 0.5 * net.W
    monkeypatch.setattr(simulate, "_REFRESH", 10**9)
    for scale, tol in ((1.0, 1e-7), (3.0, 1e-6)):  # the second with rejections
        audit: list = []
        monkeypatch.setattr(simulate, "_AUDIT", audit)
        monkeypatch.setattr(simulate, "_STEP_SCALE", scale)
        res = train(net, x, y, ridge_readout=1.0, ridge_hidden=1.0, anchor_hidden=w_anc,
                    tol=tol, max_steps=3000)
        assert np.all(res.converged) and np.all(res.steps >= 300)
        used = np.concatenate([row[1] for row in audit])
        exact_flag = np.concatenate([row[2] for row in audit])
        exact = np.concatenate([row[3] for row in audit])
        d2_carried = np.concatenate([row[4] for row in audit])
        d2_exact = np.concatenate([row[5] for row in audit])
        assert len(used) == int(res.steps.sum())
        assert np.sum(~exact_flag) > 0.9 * len(used)
        assert np.all(used[~exact_flag] <= exact[~exact_flag])
        assert np.all(used[~exact_flag] >= tol)
        assert np.all(used[exact_flag] == exact[exact_flag])
        assert np.max(np.abs(d2_carried - d2_exact) / d2_exact) <= 1e-13
        direct = _train_residuals(res, x, y, w_anc, 1.0, 1.0)
        np.testing.assert_allclose(res.residual, direct, rtol=1e-6)
        assert np.all(res.residual < tol)
