"""Particle DMFT and linear closed forms (spec infinite-width-transfer.md §1–§2)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from finetune_bounds._numerics import SolverStatus
from finetune_bounds.errors import ConvergenceError, InvalidInputError
from finetune_bounds.infinite_width._dmft import (
    linear_closed_form_sa,
    linear_closed_form_sb,
    particle_dmft,
)

D, P, LAM = 15, 30, 0.1


def _task(seed: int = 1, p: int = P) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((p, D))
    y = x @ rng.standard_normal(D) / np.sqrt(D)
    return x, y, rng.standard_normal((5, D))


def test_identities_a_and_b_linear() -> None:
    x, y, xe = _task()
    r = particle_dmft(
        x,
        y,
        xe,
        gamma=1.0,
        ridge_readout=LAM,
        ridge_hidden=LAM,
        activation="linear",
        neurons=400,
        tol=1e-10,
        rng=0,
    )
    assert r.converged and r.status is SolverStatus.CONVERGED
    phi = r.block("phi")
    sol = np.linalg.solve(phi + LAM * np.eye(P), y)
    np.testing.assert_allclose(phi @ sol, r.f_train, atol=1e-8)  # (A), train
    np.testing.assert_allclose(r.block("phi", "eval") @ sol, r.f_eval, atol=1e-8)  # (A), eval
    k = r.block("ntk")
    np.testing.assert_allclose(
        k @ np.linalg.solve(k + 2 * LAM * np.eye(P), y), r.f_train, atol=1e-8
    )  # (B): δ = λ, zero anchors, 1-homogeneous φ
    np.testing.assert_allclose(r.delta, y - r.f_train)


def test_identity_a_relu_loose() -> None:
    # ReLU neurons chatter on kinks at training inputs, so the flow stalls (spec §2): (A) is
    # checked at the stated loose tolerance 2e-2 after a bounded run.
    x, y, _ = _task()
    r = particle_dmft(
        x,
        y,
        gamma=1.0,
        ridge_readout=LAM,
        ridge_hidden=LAM,
        activation="relu",
        neurons=300,
        tol=1e-6,
        max_time=60,
        max_steps=3000,
        rng=0,
    )
    phi = r.block("phi")
    fa = phi @ np.linalg.solve(phi + LAM * np.eye(P), y)
    assert np.max(np.abs(fa - r.f_train)) < 2e-2


def test_lazy_limit_kernels() -> None:
    # γ → 0 without decay (linear φ): final Φ ≈ K_x and G ≈ 1 within Monte Carlo error.
    x, y, _ = _task(p=10)
    m = 4000
    r = particle_dmft(
        x,
        y,
        gamma=1e-3,
        ridge_readout=0.0,
        ridge_hidden=0.0,
        activation="linear",
        neurons=m,
        tol=1e-8,
        max_time=500,
        rng=3,
    )
    assert r.converged
    kx = r.kx
    q = np.diag(kx)
    se_phi = np.sqrt((np.outer(q, q) + kx**2) / m)  # var of h(x)h(x') for Gaussian h
    assert np.all(np.abs(r.phi - kx) < 6 * se_phi + 1e-2)
    assert np.all(np.abs(r.g - 1.0) < 6 * np.sqrt(2.0 / m) + 1e-2)
    np.testing.assert_allclose(r.ntk, r.phi + r.g * kx)


def test_closed_form_sa_matches_particles() -> None:
    x, y, xe = _task()
    cf = linear_closed_form_sa(x, y, xe, gamma=1.0, ridge_readout=LAM, ridge_hidden=LAM)
    assert cf.converged and 0 < cf.kappa < np.inf
    # defining equation κ‖β̂‖ = √(λδ)/γ
    assert abs(cf.kappa * np.linalg.norm(cf.beta) - LAM) < 1e-12
    r = particle_dmft(
        x,
        y,
        xe,
        gamma=1.0,
        ridge_readout=LAM,
        ridge_hidden=LAM,
        activation="linear",
        neurons=400,
        tol=1e-10,
        rng=1,
    )
    np.testing.assert_allclose(r.f_train, cf.f_train, atol=1e-8)
    np.testing.assert_allclose(r.f_eval, cf.f_eval, atol=1e-8)
    phi_cf = x @ cf.feature_cov @ x.T / D  # rank one
    assert np.max(np.abs(r.block("phi") - phi_cf)) < 1e-8 * np.max(np.abs(phi_cf))


def test_closed_form_sa_below_threshold() -> None:
    x, y, _ = _task()
    cf = linear_closed_form_sa(x, y, gamma=1e-6, ridge_readout=1.0, ridge_hidden=1.0)
    assert cf.kappa == np.inf and np.all(cf.beta == 0.0)


def test_closed_form_sb_matches_particles() -> None:
    x, y, _ = _task()
    cf = linear_closed_form_sb(x, y, gamma=1.0, ridge_readout=LAM, ridge_hidden=LAM)
    s = 1.0 / LAM**2
    assert 0 < cf.kappa <= LAM
    assert abs(np.sqrt(cf.kappa / LAM) - 1 + s * cf.kappa**2 * cf.beta @ cf.beta) < 1e-12
    m = 1000
    r = particle_dmft(
        x,
        y,
        gamma=1.0,
        ridge_readout=LAM,
        ridge_hidden=LAM,
        activation="linear",
        neurons=m,
        anchor="init",
        tol=1e-8,
        rng=2,
    )
    assert r.converged
    # O(M^{-1/2}) agreement (spec §2: the M₀ = I closed form is off by O(N^{-1/2}))
    assert np.max(np.abs(r.f_train - cf.f_train)) < 3.0 / np.sqrt(m) * np.std(y)
    phi_cf = x @ cf.feature_cov @ x.T / D
    assert np.max(np.abs(r.block("phi") - phi_cf)) < 5.0 / np.sqrt(m) * np.max(np.abs(phi_cf))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"gamma": 0.0},
        {"gamma": -1.0},
        {"ridge_readout": -0.1},
        {"activation": "tanh"},
        {"anchor": "source"},
        {"neurons": 1},
        {"tol": 0.0},
    ],
)
def test_bad_input(kwargs: dict[str, object]) -> None:
    x, y, _ = _task()
    base: dict[str, object] = {
        "gamma": 1.0,
        "ridge_readout": LAM,
        "ridge_hidden": LAM,
        "neurons": 10,
    }
    base.update(kwargs)
    with pytest.raises(InvalidInputError):
        particle_dmft(x, y, **base)  # type: ignore[arg-type]


def test_bad_shapes() -> None:
    x, y, _ = _task()
    with pytest.raises(InvalidInputError):
        particle_dmft(x, y[:-1], gamma=1.0, ridge_readout=LAM, ridge_hidden=LAM)
    with pytest.raises(InvalidInputError):
        particle_dmft(x, y, np.ones((2, D + 1)), gamma=1.0, ridge_readout=LAM, ridge_hidden=LAM)
    x[0, 0] = np.nan
    with pytest.raises(InvalidInputError):
        particle_dmft(x, y, gamma=1.0, ridge_readout=LAM, ridge_hidden=LAM)


def test_not_converged_status_and_strict() -> None:
    x, y, _ = _task()
    kw = {
        "gamma": 1.0,
        "ridge_readout": LAM,
        "ridge_hidden": LAM,
        "activation": "linear",
        "neurons": 50,
        "max_time": 1e-3,
    }
    r = particle_dmft(x, y, **kw)  # type: ignore[arg-type]
    assert not r.converged and r.status is SolverStatus.MAX_ITERATIONS
    assert r.time <= 1e-3 + 1e-15
    with pytest.raises(ConvergenceError):
        particle_dmft(x, y, strict=True, **kw)  # type: ignore[arg-type]


def _old_flow_reference(u, z, ax, kxx, y, gam, lam, dlt, u_anc, act, n_steps):
    """The pre-rewrite particle loop (issue 15), reduced: fixed step count, no stall rule."""
    from finetune_bounds.infinite_width._dmft import _KINK_SLACK, _REFRESH, _act, _flush

    m = z.shape[0]
    inv = 1.0 / (gam * m)
    kx_max = float(np.linalg.eigvalsh(kxx)[-1])

    def evaluate(u, z):
        phi, dphi = _act(u @ ax.T, act)
        delta = y - (z @ phi) * inv
        du_u = u - u_anc
        energy = (0.5 * gam * gam * float(delta @ delta) + 0.5 * lam * float(z @ z) / m
                  + 0.5 * dlt * float(np.einsum("ij,ij->", du_u, du_u)) / m)
        gd = z[:, None] * dphi
        return (delta, energy, gam * ((gd * delta) @ ax) - dlt * du_u,
                gam * (phi @ delta) - lam * z, phi, gd)

    def est(phi, gd, delta):
        kmat = (phi.T @ phi + (gd.T @ gd) * kxx) / m
        return 1.0 / (float(np.linalg.eigvalsh(kmat)[-1])
                      + gam * float(np.linalg.norm(delta)) * math.sqrt(kx_max))

    delta, energy, du, dz, phi, gd = evaluate(u, z)
    dt_est, shrink, steps, rejected = est(phi, gd, delta), 1.0, 0, 0
    slack = _KINK_SLACK if act == "relu" else 1e-10
    step_mark = 0
    while steps + rejected < n_steps:
        if steps % _REFRESH == 0 and steps and steps != step_mark:
            dt_est, step_mark = est(phi, gd, delta), steps
        dt = shrink * dt_est
        e_d, e_l = math.exp(-dlt * dt), math.exp(-lam * dt)
        c_d = -math.expm1(-dlt * dt) / dlt if dlt > 0 else dt
        c_l = -math.expm1(-lam * dt) / lam if lam > 0 else dt
        du_u = u - u_anc
        u_new = u_anc + e_d * du_u + c_d * (du + dlt * du_u)
        z_new = e_l * z + c_l * (dz + lam * z)
        if act == "relu":
            _flush(u_new)
            _flush(z_new)
        new = evaluate(u_new, z_new)
        if new[1] > energy + slack * abs(energy) + 1e-300:
            rejected += 1
            shrink *= 0.5
            continue
        u, z = u_new, z_new
        delta, energy, du, dz, phi, gd = new
        shrink = min(1.0, 1.1 * shrink)
        steps += 1
    return u, z, steps, rejected


@pytest.mark.parametrize("act", ["linear", "relu"])
def test_flow_matches_pre_rewrite_loop(act):
    """The buffered flow (issue 15) makes the same steps and rejections as the old loop and
    ends at the same particles up to rounding (a few hundred steps)."""
    from finetune_bounds.infinite_width._dmft import _flow, _span

    gen = np.random.default_rng(3)
    x = gen.standard_normal((10, 6))
    y = x[:, 0] + 0.3 * np.sin(x[:, 1])
    kx, a = _span(x)
    u = gen.standard_normal((300, a.shape[1]))
    z = gen.standard_normal(300)
    gam, lam, dlt, n = 1.3, 1.0, 1.0, 450
    u_ref, z_ref, steps, rej = _old_flow_reference(u, z, a, kx, y, gam, lam, dlt, u, act, n)
    fl = _flow(u, z, a, kx, y, gamma=gam, lam=lam, dlt=dlt, u_anc=u, z_anc=np.zeros(300),
               activation=act, tol=1e-14, max_time=1e9, max_steps=n, stall_tol=0.0)
    assert (fl.steps, fl.rejected) == (steps, rej)
    assert np.max(np.abs(fl.u - u_ref)) <= 1e-12 * np.max(np.abs(u_ref))
    assert np.max(np.abs(fl.z - z_ref)) <= 1e-12 * np.max(np.abs(z_ref))


# --- the matrix-vector loop for linear φ (issue 15) against the general loop ------------------


def _linear_flow_problem(m: int = 200):
    from finetune_bounds.infinite_width._dmft import _span

    gen = np.random.default_rng(3)
    x = gen.standard_normal((10, 6))
    y = x[:, 0] + 0.3 * np.sin(x[:, 1])
    kx, a = _span(x)
    u = gen.standard_normal((m, a.shape[1]))
    z = gen.standard_normal(m)
    u_anc = u + 0.3 * gen.standard_normal(u.shape)
    return u, z, a, kx, y, u_anc


@pytest.mark.parametrize(
    ("scale", "tol", "cap", "stall", "status"),
    [
        (2.5, 1e-6, 1500, 0.0, "converged"),  # rejections, then convergence
        (3.0, 1e-12, 600, 0.0, "max_iterations"),
        (2.5, 1e-12, 1500, 1e-3, "stalled"),
        (1e13, 1e-8, 200, 0.0, "solver_failed"),  # 40 rejections in a row
    ],
)
def test_linear_flow_matches_general_loop_with_rejections(monkeypatch, scale, tol, cap, stall,
                                                          status):
    """With the step estimate scaled up (test hook ``_STEP_SCALE``) so that trial steps raise the
    energy, the linear-φ loop rejects exactly the steps the general loop rejects (forced by
    ``_LINEAR_FAST = False``): same steps, rejections, status and time; same particles to 1e-12."""
    from finetune_bounds.infinite_width import _dmft

    u, z, a, kx, y, u_anc = _linear_flow_problem()
    monkeypatch.setattr(_dmft, "_STEP_SCALE", scale)
    out = {}
    for fast in (True, False):
        monkeypatch.setattr(_dmft, "_LINEAR_FAST", fast)
        out[fast] = _dmft._flow(u, z, a, kx, y, gamma=1.3, lam=1.0, dlt=1.0, u_anc=u_anc,
                                z_anc=np.zeros(len(z)), activation="linear", tol=tol,
                                max_time=1e9, max_steps=cap, stall_tol=stall)
    fa, fg = out[True], out[False]
    assert fa.rejected > 0
    assert (fa.steps, fa.rejected, fa.status) == (fg.steps, fg.rejected, fg.status)
    assert fa.status.value == status
    assert fa.time == pytest.approx(fg.time, rel=1e-12)
    assert np.max(np.abs(fa.u - fg.u)) <= 1e-12 * np.max(np.abs(fg.u))
    assert np.max(np.abs(fa.z - fg.z)) <= 1e-12 * np.max(np.abs(fg.z))
    # both residuals exact: they differ only by the rounding of the iterates, amplified by the
    # cancellation in du/dt = −δ d + z ⊗ g near convergence (≈ ε‖d‖/‖du‖ ≤ 1e-14/tol)
    assert fa.residual == pytest.approx(fg.residual, rel=1e-6)
    assert fa.energy == pytest.approx(fg.energy, rel=1e-12)


def _exact_flow_residual(u, z, u_anc, a, y, gam, lam, dlt, z_anc):
    """The relative gradient norm of the flow (linear φ), formed directly."""
    m = len(z)
    delta = y - (z @ u) @ a.T / (gam * m)
    g = gam * (delta @ a)
    du = -dlt * (u - u_anc) + np.outer(z, g)
    dz = u @ g - lam * (z - z_anc)  # γ φᵀΔ with φ = u A_Xᵀ
    g2 = float(np.sum(du * du) + dz @ dz)
    scale = math.sqrt((float(np.sum(u * u)) + float(z @ z)) / m)
    return math.sqrt(g2 / m) / max(scale, 1.0), dz


def test_linear_flow_residual_bound_never_exceeds_exact():
    """The lower bound the linear loop uses to skip the exact gradient norm is ≤ the exact
    relative residual: random states, states near convergence (du/dt ≈ 0, where the expanded
    ‖du‖² cancels catastrophically) and ‖d‖² perturbed as a carried recursion would be."""
    from finetune_bounds.infinite_width._dmft import _residual_lower_bound

    gen = np.random.default_rng(11)
    used = 0
    for it in range(600):
        m, r = int(gen.integers(1, 300)), int(gen.integers(1, 12))
        dlt = float(gen.choice([0.0, 1e-3, 0.3, 1.0, 50.0]))
        z = gen.standard_normal(m) * 10.0 ** gen.uniform(-3, 2)
        g = gen.standard_normal(r) * 10.0 ** gen.uniform(-4, 2)
        ua = gen.standard_normal((m, r)) * 10.0 ** gen.uniform(-3, 2)
        if dlt > 0 and it % 2:  # near the fixed point δ d = z ⊗ g: du/dt tiny
            d = np.outer(z, g) / dlt * (1.0 + 10.0 ** gen.uniform(-16, -6)
                                       * gen.standard_normal((m, r)))
        else:
            d = gen.standard_normal((m, r)) * 10.0 ** gen.uniform(-6, 2)
        dz = gen.standard_normal(m) * 10.0 ** gen.uniform(-16, 0)
        d2 = float(np.sum(d * d)) * (1.0 + 1e-13 * gen.uniform(-1, 1))  # a carried ‖d‖²
        lo, terms = _residual_lower_bound(z, g, dz, z @ d, d2, dlt=dlt,
                                          ua_norm=float(np.linalg.norm(ua)), r=r)
        u = ua + d
        du = -dlt * d + np.outer(z, g)
        g2 = float(np.sum(du * du) + dz @ dz)
        exact = math.sqrt(g2 / m) / max(math.sqrt((float(np.sum(u * u)) + z @ z) / m), 1.0)
        assert math.isfinite(lo) and math.isfinite(terms)
        assert lo <= exact, (it, lo, exact)
        used += lo >= 0.5 * exact
    assert used > 200  # the bound is not vacuous


def test_linear_flow_carried_quantities_and_final_residual(monkeypatch):
    """Along real trajectories (test hook ``_AUDIT``; refreshes disabled, so ‖d‖² is carried by
    its recursion over all steps): every lower bound used is ≤ the exact residual, the carried
    ‖d‖² equals the exact ‖u − u_anc‖² to 1e-13 relative after hundreds of steps, and the
    reported final residual is the exact one at the returned state."""
    from finetune_bounds.infinite_width import _dmft

    u, z, a, kx, y, u_anc = _linear_flow_problem(150)
    monkeypatch.setattr(_dmft, "_REFRESH", 10**9)
    for scale, tol in ((1.0, 1e-9), (2.0, 1e-7)):  # the second with rejections
        audit: list = []
        monkeypatch.setattr(_dmft, "_AUDIT", audit)
        monkeypatch.setattr(_dmft, "_STEP_SCALE", scale)
        fl = _dmft._flow(u, z, a, kx, y, gamma=1.3, lam=1.0, dlt=1.0, u_anc=u_anc,
                         z_anc=np.zeros(len(z)), activation="linear", tol=tol, max_time=1e9,
                         max_steps=2000, stall_tol=0.0)
        rows = np.array(audit, dtype=float)
        assert len(rows) == fl.steps >= 300
        res_used, exact_flag, res_exact, d2_carried, d2_exact = rows.T
        bound = exact_flag == 0.0
        assert bound.sum() > 0.9 * len(rows)
        assert np.all(res_used[bound] <= res_exact[bound])
        assert np.all(res_used[bound] >= tol)
        assert np.all(res_used[~bound] == res_exact[~bound])
        assert np.max(np.abs(d2_carried - d2_exact) / d2_exact) <= 1e-13
        assert fl.status == SolverStatus.CONVERGED
        res, _ = _exact_flow_residual(fl.u, fl.z, u_anc, a, y, 1.3, 1.0, 1.0, 0.0)
        assert fl.residual == pytest.approx(res, rel=1e-6)
        assert fl.residual < tol <= res_used[-2]
