"""Linear toy model of transfer in the proportional limit (spec infinite-width-transfer.md §4)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finetune_bounds._numerics import stderr
from finetune_bounds.errors import InvalidInputError
from finetune_bounds.infinite_width._dmft import linear_closed_form_sa, linear_closed_form_sb
from finetune_bounds.infinite_width._learning_curve import learning_curve
from finetune_bounds.infinite_width._toy import (
    _ft_sb,
    mp_stieltjes,
    phase_diagram,
    ridge_limits,
    source_limit,
    toy_transfer,
)


def _teachers(rng: np.random.Generator, d: int, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """β₁, β₂ with |β|² = D and β₁·β₂/D = α exactly."""
    g = rng.standard_normal((d, 2))
    q, _ = np.linalg.qr(g)
    b1 = math.sqrt(d) * q[:, 0]
    b2 = math.sqrt(d) * (alpha * q[:, 0] + math.sqrt(1 - alpha * alpha) * q[:, 1])
    return b1, b2


def _krr_error(
    rng: np.random.Generator, cov: np.ndarray, beta2: np.ndarray, nu2: float, lam2: float,
    s2: float = 0.0,
) -> float:
    """Direct kernel ridge regression with Φ = xᵀMx'/D; exact error ‖β_eff − β₂‖²/D."""
    d = beta2.shape[0]
    p = round(nu2 * d)
    x = rng.standard_normal((p, d))
    y = x @ beta2 / math.sqrt(d) + math.sqrt(s2) * rng.standard_normal(p)
    xm = x @ cov
    k = xm @ x.T / d
    a = np.linalg.solve(k + lam2 * np.eye(p), y)
    beff = xm.T @ a / math.sqrt(d)
    return float(np.sum((beff - beta2) ** 2) / d)


# ---------------------------------------------------------------------------------------------
# Marchenko–Pastur and ridge limits
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("nu", [0.5, 1.5])
def test_mp_moments_vs_sampled_eigenvalues(nu: float) -> None:
    d = 2000
    rng = np.random.default_rng(3)
    x = rng.standard_normal((round(nu * d), d))
    if nu < 1:  # nonzero eigenvalues from the smaller Gram matrix, plus the atom at 0
        ev = np.r_[np.linalg.eigvalsh(x @ x.T / d), np.zeros(d - x.shape[0])]
    else:
        ev = np.linalg.eigvalsh(x.T @ x / d)
    kap = np.array([0.05, 0.3, 1.0, 4.0])
    m1, m2 = mp_stieltjes(nu, kap)
    e1 = np.mean(1.0 / (ev[:, None] + kap), axis=0)
    e2 = np.mean(1.0 / (ev[:, None] + kap) ** 2, axis=0)
    # linear spectral statistics: O(1/D) fluctuation and bias (≈ 1e-3 here)
    np.testing.assert_allclose(m1, e1, rtol=1e-2)
    np.testing.assert_allclose(m2, e2, rtol=2e-2)


def test_mp_limits_and_derivative() -> None:
    nu, k = 0.7, np.array([1e-8, 0.5, 1e6])
    m1, m2 = mp_stieltjes(nu, k)
    assert m1[0] * k[0] == pytest.approx(1 - nu, rel=1e-4)  # atom 1 − ν at 0
    assert m1[2] * k[2] == pytest.approx(1.0, rel=1e-5)
    h = 1e-6
    num = -(mp_stieltjes(nu, 0.5 + h)[0] - mp_stieltjes(nu, 0.5 - h)[0]) / (2 * h)
    assert m2[1] == pytest.approx(num, rel=1e-7)
    assert mp_stieltjes(3.0, 1e-12)[0] == pytest.approx(1 / (3.0 - 1), rel=1e-9)


def test_ridge_limits_vs_sampled_ridge() -> None:
    d, nu, s2 = 1000, 1.5, 0.3
    kap = np.array([0.1, 1.0])
    rng = np.random.default_rng(7)
    qs, os_, es = [], [], []
    for _ in range(3):
        beta = rng.standard_normal(d)
        beta *= math.sqrt(d) / np.linalg.norm(beta)
        x = rng.standard_normal((round(nu * d), d))
        y = x @ beta / math.sqrt(d) + math.sqrt(s2) * rng.standard_normal(x.shape[0])
        e, v = np.linalg.eigh(x.T @ x / d)
        c = v.T @ (x.T @ y) / math.sqrt(d)
        bh = v @ (c[:, None] / (e[:, None] + kap))  # (D, len(kap))
        qs.append(np.sum(bh**2, axis=0) / d)
        os_.append(beta @ bh / d)
        es.append(np.sum((bh - beta[:, None]) ** 2, axis=0) / d)
    r = ridge_limits(nu, kap, s2)
    for th, samp in ((r.q, qs), (r.overlap, os_), (r.error, es)):
        samp = np.array(samp)
        tol = 4 * stderr(samp, axis=0) + 3.0 / d
        assert np.all(np.abs(samp.mean(axis=0) - th) <= tol), (th, samp.mean(axis=0), tol)
    assert np.all(np.asarray(r.cosine) == np.asarray(r.overlap) / np.sqrt(r.q))


def test_ridge_limits_broadcast_and_identity() -> None:
    r = ridge_limits(np.array([[0.5], [2.0]]), np.array([0.1, 1.0, 3.0]))
    assert np.shape(r.error) == (2, 3)
    assert isinstance(ridge_limits(1.0, 1.0).error, float)
    # noise-free error = ∫κ²/(s+κ)² = κ² m₂ (no cancellation check)
    _, m2 = mp_stieltjes(2.0, 0.4)
    assert ridge_limits(2.0, 0.4).error == pytest.approx(0.16 * m2, rel=1e-12)


# ---------------------------------------------------------------------------------------------
# source stage
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("source", ["S-B", "S-A"])
def test_source_limit_vs_closed_form(source: str) -> None:
    d, nu1, s2, lam, dlt = 600, 1.5, 0.2, 0.7, 1.3
    ctrl = 3.0 if source == "S-B" else 0.6
    # S-B: ŝ = γ²D/(λδ);  S-A: λ̂ = √(λδ)/(γ√D)
    gamma = math.sqrt(ctrl * lam * dlt / d) if source == "S-B" else math.sqrt(lam * dlt / d) / ctrl
    fn = linear_closed_form_sb if source == "S-B" else linear_closed_form_sa
    rng = np.random.default_rng(11)
    ks, rhos = [], []
    for _ in range(4):
        b1, _ = _teachers(rng, d, 0.0)
        x = rng.standard_normal((round(nu1 * d), d))
        y = x @ b1 / math.sqrt(d) + math.sqrt(s2) * rng.standard_normal(x.shape[0])
        cf = fn(x, y, gamma=gamma, ridge_readout=lam, ridge_hidden=dlt)
        ks.append(cf.kappa)
        rhos.append(cf.beta @ b1 / (np.linalg.norm(cf.beta) * math.sqrt(d)))
    kw = {"s_hat": ctrl} if source == "S-B" else {"lam_hat": ctrl}
    th = source_limit(nu1, source=source, ridge_readout=lam, noise_variance=s2, **kw)
    assert th.converged
    for val, samp in ((th.kappa, ks), (th.rho, rhos)):
        tol = 4 * stderr(samp) + 5.0 / d
        assert abs(np.mean(samp) - val) <= tol * max(1.0, abs(val)), (val, samp)
    assert th.spike == pytest.approx(lam / th.kappa)


def test_source_limit_edge_cases() -> None:
    lazy = source_limit(2.0, s_hat=0.0, ridge_readout=0.5)
    assert lazy.kappa == 0.5 and lazy.spike == 1.0
    thr = math.sqrt(2.0 * 3.0)
    dead = source_limit(2.0, source="S-A", lam_hat=thr * 1.01)
    assert math.isinf(dead.kappa) and dead.spike == 0.0 and dead.rho == 0.0
    alive = source_limit(2.0, source="S-A", lam_hat=thr * 0.99)
    assert math.isfinite(alive.kappa) and alive.spike > 0
    assert source_limit(2.0, s_hat=1e3).spike > source_limit(2.0, s_hat=1.0).spike


# ---------------------------------------------------------------------------------------------
# target stage
# ---------------------------------------------------------------------------------------------
def test_sb_formula_matches_learning_curve() -> None:
    c1, m, lam2, s2, d = 2.5, 0.6, 0.2, 0.3, 2000
    nus = np.array([0.3, 1.0, 3.0])
    eta = np.r_[c1 / d, np.full(d - 1, 1.0 / d)]
    v2 = np.r_[m * m, np.full(d - 1, (1 - m * m) / (d - 1))]
    lc = learning_curve(eta, v2, nus * d, ridge=lam2, noise_variance=s2)
    e = _ft_sb(np.array(m * m), nus, c1, lam2, s2)[0]
    np.testing.assert_allclose(e, lc.error, rtol=1e-3)  # dropped terms are O(1/D)


def test_sa_formula_matches_learning_curve() -> None:
    c1, m, lam2, s2, d = 2.5, 0.6, 0.2, 0.3, 4000
    nus = np.array([0.3, 1.0, 3.0])
    lc = learning_curve([c1 / d, 0.0], [m * m, 1 - m * m], nus * d, ridge=lam2,
                        noise_variance=s2)
    th = 1 - m * m + m * m * lam2**2 / (nus * c1 + lam2) ** 2
    np.testing.assert_allclose(th, lc.error, rtol=1e-3)  # noise term O(1/D) → 0


def test_lazy_scratch_is_ridge_regression() -> None:
    nus = np.array([0.3, 1.0, 3.0])
    t = toy_transfer(0.5, 2.0, nus, s_hat=1.0, ridge_target=0.3, noise_target=0.2)
    np.testing.assert_allclose(t.e_scratch_lazy, ridge_limits(nus, 0.3, 0.2).error, rtol=1e-12)


def test_spec_table_theory_values() -> None:
    # spec §4: (c₁, m, λ₂, σ) = (1.8, 0.54, 0.1, 0). Our theory: 0.6928/0.4503/0.1288/0.00989.
    # The spec quotes 0.693/0.449/0.128/0.0097: only the first agrees to 3 digits (see report);
    # the large-D learning curve agrees with ours to 1e-5, so the spec's last three are off.
    e = _ft_sb(np.array(0.54**2), np.array([0.25, 0.5, 1.0, 2.0]), 1.8, 0.1, 0.0)[0]
    np.testing.assert_allclose(e, [0.6928, 0.4503, 0.1288, 0.009886], rtol=2e-4)
    assert round(float(e[0]), 3) == 0.693


def _krr_error_avg(
    rng: np.random.Generator, c1: float, m: float, nu2: float, lam2: float, d: int
) -> float:
    """Direct KRR with M = I + (c₁ − 1)e₁e₁ᵀ: β_eff = Aβ₂ is linear in β₂, so the error
    ‖(A − I)β₂‖²/D is averaged exactly over β₂ = √D(m e₁ + √(1 − m²) u), u uniform on the
    sphere ⊥ e₁ (only the design X₂ is sampled)."""
    p = round(nu2 * d)
    x = rng.standard_normal((p, d))
    xm = x.copy()
    xm[:, 0] *= c1
    a = xm.T @ np.linalg.solve(xm @ x.T / d + lam2 * np.eye(p), x) / d - np.eye(d)
    col = float(np.sum(a[:, 0] ** 2))
    return m * m * col + (1 - m * m) * (float(np.sum(a * a)) - col) / (d - 1)


def test_spec_table_direct_krr() -> None:
    c1, m, lam2, d = 1.8, 0.54, 0.1, 500
    nus = (0.25, 0.5, 1.0, 2.0)
    th = _ft_sb(np.array(m * m), np.array(nus), c1, lam2, 0.0)[0]
    eta = np.r_[c1 / d, np.full(d - 1, 1.0 / d)]
    v2 = np.r_[m * m, np.full(d - 1, (1 - m * m) / (d - 1))]
    finite = learning_curve(eta, v2, np.array(nus) * d, ridge=lam2).error
    rng = np.random.default_rng(1)
    for j, nu2 in enumerate(nus):
        errs = [_krr_error_avg(rng, c1, m, nu2, lam2, d) for _ in range(6)]
        # measured +0.1 … +1.4 % with s.e. 0.6–0.8 %. Tolerance: 3 s.e. + the O(1/D) bias,
        # bounded by 2 × |finite-D learning curve − limit| + 2/D relative (the learning curve
        # is itself O(1/D) off at finite D)
        tol = 3 * stderr(errs) + 2 * abs(finite[j] - th[j]) + 2.0 / d * th[j]
        assert abs(np.mean(errs) - th[j]) <= tol, (nu2, np.mean(errs), th[j], tol)


def test_end_to_end_sb_source() -> None:
    d, nu1, nu2, alpha, s_hat, lam1, dlt, lam2 = 400, 2.0, 1.0, 0.8, 4.0, 1.0, 1.0, 0.1
    gamma = math.sqrt(s_hat * lam1 * dlt / d)
    th = toy_transfer(alpha, nu1, nu2, s_hat=s_hat, ridge_source=lam1, ridge_target=lam2)
    rng = np.random.default_rng(5)
    errs = []
    for _ in range(3):
        b1, b2 = _teachers(rng, d, alpha)
        x1 = rng.standard_normal((round(nu1 * d), d))
        cf = linear_closed_form_sb(x1, x1 @ b1 / math.sqrt(d), gamma=gamma, ridge_readout=lam1,
                                   ridge_hidden=dlt)
        errs.append(_krr_error(rng, cf.feature_cov, b2, nu2, lam2))
    assert th.gain_lazy > 0.05  # a real effect, not a tie
    assert np.mean(errs) == pytest.approx(th.e_ft, rel=0.06)


# ---------------------------------------------------------------------------------------------
# limits and shapes
# ---------------------------------------------------------------------------------------------
def test_limits() -> None:
    nus = np.linspace(0.1, 4.0, 30)
    t0 = toy_transfer(0.0, 2.0, nus, s_hat=5.0, noise_target=0.1)
    # α_s = 0: the spike carries no target power; FT equals lazy scratch in the limit
    np.testing.assert_allclose(t0.e_ft, t0.e_scratch_lazy, rtol=1e-12)
    assert np.all(t0.e_ft >= t0.e_scratch_lazy - 1e-12)
    t1 = toy_transfer(1.0, 4.0, nus, s_hat=100.0)
    assert np.all(t1.gain_lazy > 0)
    assert np.all(np.diff(t1.e_ft) < 0)  # decreasing in ν₂ (S-B)
    ta = toy_transfer(0.1, 2.0, nus, source="S-A", lam_hat=0.5)
    assert np.all(ta.gain_lazy < 0)
    # rich scratch is only beaten where it is itself dead (ν₂ below the S-A threshold)
    assert np.all(ta.gain_rich[nus >= 0.5] < 0)


def test_broadcast_and_phase_diagram_shapes() -> None:
    t = toy_transfer(np.linspace(0, 1, 5)[:, None], 2.0, np.array([0.5, 1.0, 2.0]), s_hat=2.0)
    assert np.shape(t.e_ft) == (5, 3) and np.shape(t.e_scratch_rich) == (5, 3)
    a = np.linspace(0, 1, 6)
    for second, grid, kw in (
        ("nu2", [0.5, 1.0, 2.0], {"nu1": 2.0, "s_hat": 3.0}),
        ("s_hat", [0.1, 1.0, 10.0], {"nu1": 2.0, "nu2": 1.0}),
        ("nu1", [0.5, 1.0, 2.0], {"nu2": 1.0, "s_hat": 3.0}),
    ):
        for base in ("lazy", "rich"):
            pd = phase_diagram(a, grid, second=second, baseline=base, **kw)
            assert pd.gain.shape == (6, 3) and pd.sign.shape == (6, 3)
            cell = toy_transfer(a[4], **{**kw, second: grid[1]})
            g = cell.gain_lazy if base == "lazy" else cell.gain_rich
            assert pd.gain[4, 1] == pytest.approx(g, rel=1e-12, abs=1e-15)
    assert np.all(phase_diagram(a, [0.5, 2.0], nu1=2.0, s_hat=3.0).sign[0] == 0)  # α_s = 0


@pytest.mark.parametrize(
    "call",
    [
        lambda: ridge_limits(-1.0, 1.0),
        lambda: ridge_limits(1.0, 0.0),
        lambda: toy_transfer(1.2, 1.0, 1.0, s_hat=1.0),
        lambda: toy_transfer(0.5, -1.0, 1.0, s_hat=1.0),
        lambda: toy_transfer(0.5, 1.0, [1.0, -0.5], s_hat=1.0),
        lambda: toy_transfer(0.5, 1.0, 1.0, s_hat=1.0, ridge_target=0.0),
        lambda: toy_transfer(0.5, 1.0, 1.0, s_hat=1.0, ridge_source=-1.0),
        lambda: toy_transfer(0.5, 1.0, 1.0, source="S-C", s_hat=1.0),
        lambda: toy_transfer(0.5, 1.0, 1.0),  # S-B without ŝ
        lambda: source_limit(1.0, source="S-A", lam_hat=0.0),
        lambda: phase_diagram([0.5], [1.0], second="s_hat", source="S-A", nu1=1.0, nu2=1.0,
                              lam_hat=1.0),
        lambda: phase_diagram([0.5], [1.0], second="bogus", nu1=1.0, s_hat=1.0),
    ],
)
def test_bad_input(call: object) -> None:
    with pytest.raises(InvalidInputError):
        call()  # type: ignore[operator]


@settings(max_examples=40)
@given(
    alpha=st.floats(-1.0, 1.0),
    nu1=st.floats(0.0, 10.0),
    nu2=st.floats(0.0, 10.0),
    ctrl=st.floats(1e-3, 1e3),
    lam1=st.floats(1e-3, 10.0),
    lam2=st.floats(1e-3, 10.0),
    s1=st.floats(0.0, 2.0),
    s2=st.floats(0.0, 2.0),
    source=st.sampled_from(["S-B", "S-A"]),
)
def test_properties(
    alpha: float, nu1: float, nu2: float, ctrl: float, lam1: float, lam2: float, s1: float,
    s2: float, source: str,
) -> None:
    kw = {"s_hat": ctrl} if source == "S-B" else {"lam_hat": ctrl}
    t = toy_transfer(alpha, nu1, nu2, source=source, ridge_source=lam1, ridge_target=lam2,
                     noise_source=s1, noise_target=s2, **kw)
    assert t.converged
    for v in (t.e_ft, t.e_scratch_lazy, t.e_scratch_rich, t.gain_lazy, t.gain_rich):
        assert math.isfinite(v)
    noise = s2 * t.gamma_target / (1 - t.gamma_target)
    assert -1e-12 <= t.e_ft <= 1 + noise + 1e-12
    assert t.m**2 <= 1 + 1e-12
    if source == "S-B":
        assert t.c1 >= 1.0 and t.gain_lazy >= -1e-12  # spike c₁ ≥ 1 never hurts vs lazy
