"""Diagonal linear networks: pretrained state, fine-tuning re-init, batched GD, teachers, data.

Spec ``diagonal-networks.md`` §1 (model, teachers), §2 (invariants, post-pretraining state,
"λ_PT does not matter from scratch"), §6 (GD conserves the invariants only up to O(step)).
Tolerances are stated with each assertion; every draw is seeded.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from finetune_bounds.diagonal._penalty import c_finetune
from finetune_bounds.diagonal.simulate import (
    DiagonalNetwork,
    empirical_error,
    finetune_init,
    gradient_descent,
    pretrained_state,
    pretraining_init,
    sample_design,
    sample_labels,
    sample_teachers,
    simulate_finetuning,
    simulate_scratch,
)
from finetune_bounds.errors import ConvergenceError, InvalidInputError

EPS = np.finfo(np.float64).eps

# λ_PT: the edges ±1 and 0 are special cases of the closed form, so draw them often
lambdas = st.one_of(
    st.sampled_from([-1.0, -0.99, 0.0, 0.99, 1.0]),
    st.floats(-1.0, 1.0, allow_nan=False),
)
log_c = st.floats(-6.0, 1.0)
# β in units of c: from far below c (lazy) to far above (rich), both signs, and exact zeros
beta_over_c = st.lists(
    st.one_of(st.just(0.0), st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)),
    min_size=1,
    max_size=6,
)


# ---------------------------------------------------------------------------------------------
# pretrained_state (spec §2)
# ---------------------------------------------------------------------------------------------
@given(bc=beta_over_c, lc=log_c, lam_pt=lambdas)
def test_pretrained_state_reproduces_beta_invariants_and_identity(
    bc: list[float], lc: float, lam_pt: float
) -> None:
    c = 10.0**lc
    beta = np.asarray(bc) * c
    net = pretrained_state(beta, c, lam_pt)
    lam = lam_pt * c
    # the state's entries are O(√(c + |β|)), so rounding errors are O(eps·(c + |β|)); measured
    # worst case 3.5 eps over 3000 random draws, asserted at 16 eps
    scale = c + np.abs(beta)
    tol = 16 * EPS * scale
    assert np.all(np.isfinite(net.w_plus + net.w_minus + net.v_plus + net.v_minus))
    assert np.all(np.abs(net.beta - beta) <= tol)
    assert np.all(np.abs(net.lambda_plus - lam) <= tol)
    assert np.all(np.abs(net.lambda_minus - lam) <= tol)
    assert np.all(np.abs(net.c - c) <= tol)
    # (w⁺ + w⁻)² = (c + λ)(1 + √(1 + (β/c)²)), the c_FT map of §2
    rhs = (c + lam) * (1.0 + np.hypot(1.0, beta / c))
    assert np.all(np.abs((net.w_plus + net.w_minus) ** 2 - rhs) <= 16 * EPS * (scale + rhs))
    # on the flow Σ = 2√(c² + β²) (mirror-flow metric, λ⁺ = λ⁻)
    assert np.all(np.abs(net.scale - 2 * np.hypot(c, beta)) <= 16 * EPS * scale)


def _spec_state(beta: np.ndarray, c: float, lam: float) -> tuple[np.ndarray, ...]:
    """Spec §2's hyperbolic formulas, written out literally (w⁺, w⁻, v⁺, v⁻)."""
    if lam == 0.0:
        s = 0.5 * (beta + np.sqrt(beta**2 + c**2))
        return np.sqrt(s), c / (2 * np.sqrt(s)), np.sqrt(s), c / (2 * np.sqrt(s))
    b = np.arcsinh(beta / c)
    a = np.arccosh(c / abs(lam))
    tp, tm = (a + b) / 2, (a - b) / 2
    r = math.sqrt(abs(lam))
    if lam > 0:
        return r * np.cosh(tp), r * np.cosh(tm), r * np.sinh(tp), r * np.sinh(tm)
    return r * np.sinh(tp), r * np.sinh(tm), r * np.cosh(tp), r * np.cosh(tm)


@pytest.mark.parametrize("lam_pt", [-0.99, -0.5, -1e-3, 0.0, 1e-3, 0.5, 0.99])
@pytest.mark.parametrize("c", [1e-3, 1.0])
def test_pretrained_state_matches_the_spec_formulas(lam_pt: float, c: float) -> None:
    # moderate β/c (where the literal formulas are accurate); λ = 0's s-formula loses accuracy
    # for β ≪ −c, so only β ≥ 0 there. Relative tolerance 1e-9 (the literal arccosh/arcsinh
    # route loses a few digits near A ± B = 0).
    beta = np.array([0.0, 0.3, 2.0, 25.0]) * c
    if lam_pt != 0.0:
        beta = np.concatenate([beta, -beta[1:]])
    net = pretrained_state(beta, c, lam_pt)
    ref = _spec_state(beta, c, lam_pt * c)
    for got, want in zip((net.w_plus, net.w_minus, net.v_plus, net.v_minus), ref, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12 * math.sqrt(c))


def test_pretrained_state_of_zero_is_the_pretraining_init() -> None:
    for lam_pt in (-1.0, -0.3, 0.0, 0.7, 1.0):
        a = pretrained_state(np.zeros(4), 2e-3, lam_pt)
        b = pretraining_init(4, 2e-3, lam_pt)
        for x, y in ((a.w_plus, b.w_plus), (a.w_minus, b.w_minus), (a.v_plus, b.v_plus),
                     (a.v_minus, b.v_minus)):
            np.testing.assert_allclose(x, y, rtol=1e-14, atol=1e-18)
        assert np.all(b.beta == 0.0)


def test_pretrained_state_edges_lambda_pm1() -> None:
    beta = np.array([-3.0, -1e-9, 0.0, 1e-9, 3.0])
    lo = pretrained_state(beta, 1e-3, -1.0)  # smaller first layer: w⁺ + w⁻ = 0 exactly
    assert np.all(lo.w_plus + lo.w_minus == 0.0)
    hi = pretrained_state(beta, 1e-3, 1.0)  # smaller readout: v⁺ + v⁻ = 0 exactly
    assert np.all(hi.v_plus + hi.v_minus == 0.0)
    for net in (lo, hi):
        np.testing.assert_allclose(net.beta, beta, rtol=1e-13, atol=1e-20)


def test_pretrained_state_batched_shape() -> None:
    beta = np.arange(6.0).reshape(2, 3) - 2.5
    net = pretrained_state(beta, 0.1, -0.2)
    assert net.shape == (2, 3) and net.batched and net.dim == 3
    np.testing.assert_allclose(net[1].beta, beta[1], rtol=1e-14)


# ---------------------------------------------------------------------------------------------
# finetune_init (spec §1)
# ---------------------------------------------------------------------------------------------
@given(bc=beta_over_c, lc=log_c, lam_pt=lambdas, gamma=st.floats(0.0, 10.0))
def test_finetune_init_has_zero_beta_and_c_finetune(
    bc: list[float], lc: float, lam_pt: float, gamma: float
) -> None:
    c = 10.0**lc
    beta = np.asarray(bc) * c
    ft = finetune_init(pretrained_state(beta, c, lam_pt), gamma)
    assert np.all(ft.beta == 0.0)
    want = c_finetune(beta, c, lam_pt, gamma)
    # c_FT = (w⁺ + w⁻)² + γ²/2, rounding O(eps·(c + |β| + γ²))
    np.testing.assert_array_less(
        np.abs(ft.c - want), 32 * EPS * (c + np.abs(beta) + gamma**2) + 1e-300
    )
    # both pathways share λ_FT = (w⁺ + w⁻)² − γ²/2: the mirror flow of §2 applies
    assert np.array_equal(ft.lambda_plus, ft.lambda_minus)


# ---------------------------------------------------------------------------------------------
# Gradient descent
# ---------------------------------------------------------------------------------------------
FT_SMALL: dict[str, Any] = {"d": 60, "omega": 0.5, "lambda_pt": -0.5, "gamma_ft": 0.0, "c_pt": 1e-2,
            "rho_pt": 0.2, "rho_ft": 0.1}


def test_gd_interpolates_the_training_data() -> None:
    res = simulate_finetuning(0.5, seeds=[0, 1], keep_data=True, **FT_SMALL)
    assert res.X is not None and res.y is not None
    assert res.gd.all_converged and res.status.ok
    # the stopping rule: L ≤ 1e-12 L(0), i.e. ‖Xβ − y‖ ≤ 1e-6 ‖y‖ (β(0) = 0 so r(0) = −y)
    assert np.all(res.gd.loss <= 1e-12 * res.gd.initial_loss)
    resid = np.einsum("snd,sd->sn", res.X, res.beta_hat) - res.y
    assert np.all(np.linalg.norm(resid, axis=1) <= 1e-6 * np.linalg.norm(res.y, axis=1))
    # and the network really changed (the target is not reproduced by β = 0)
    assert np.all(res.steps > 100)
    np.testing.assert_allclose(res.errors, empirical_error(res.beta_hat, res.beta_star))


def test_gd_invariant_drift_shrinks_with_the_step() -> None:
    drifts = {}
    for lr in (1.0, 0.5, 0.25):
        res = simulate_finetuning(0.5, seeds=[3], lr=lr, **FT_SMALL)
        assert res.gd.all_converged
        drifts[lr] = (float(res.gd.drift_c[0]), float(res.gd.drift_lambda[0]))
    for big, small in ((1.0, 0.5), (0.5, 0.25)):
        # O(step): each halving divides the drift by ≈ 2 (asserted ≥ 1.6)
        assert drifts[big][0] >= 1.6 * drifts[small][0] > 0.0
        assert drifts[big][1] >= 1.6 * drifts[small][1] > 0.0
    assert drifts[1.0][0] < 0.1  # a few per cent at the default step
    # GD multiplies λ^± and c by the same factor per step, so relative to c the λ drift is
    # |λ_FT|/c_FT times the c drift (≤ it)
    assert drifts[0.25][1] <= drifts[0.25][0] * (1 + 1e-9)


def test_lambda_does_not_matter_from_scratch() -> None:
    # Spec §2's test. GD's (β, Σ) recursion β' = β − ηgΣ + η²g²β, Σ' = Σ(1 + η²g²) − 4ηgβ does not
    # involve λ, the balanced init has Σ = 2c_PT for every λ_PT, and the step depends on (Σ, g)
    # only: so GD itself — not just its gradient-flow limit — gives the same β for every λ_PT,
    # up to rounding (asserted: 1e-12 relative, at two step sizes).
    for lr in (1.0, 0.5):
        runs = {lam: simulate_scratch(0.5, d=40, lambda_pt=lam, c_pt=0.05, rho_ft=0.2,
                                      seeds=[0], lr=lr)
                for lam in (-0.5, 0.0, 0.5)}
        ref = runs[0.0].beta_hat
        for lam, res in runs.items():
            assert res.gd.all_converged
            assert np.max(np.abs(res.beta_hat - ref)) <= 1e-12 * np.max(np.abs(ref)), lam
            assert np.array_equal(res.steps, runs[0.0].steps)
            np.testing.assert_allclose(res.c, 0.05, rtol=1e-14)


def test_batched_seeds_equal_separate_runs() -> None:
    kw: dict[str, Any] = {**FT_SMALL, "d": 40}
    batch = simulate_finetuning(0.4, seeds=[4, 5, 6], **kw)
    for i, s in enumerate((4, 5, 6)):
        one = simulate_finetuning(0.4, seeds=[s], **kw)
        # the same draws and the same per-seed GD (same step, same stopping time): equal to
        # rounding (asserted 1e-12 relative)
        np.testing.assert_allclose(one.beta_star[0], batch.beta_star[i], rtol=0, atol=0)
        np.testing.assert_allclose(one.beta_hat[0], batch.beta_hat[i], rtol=1e-12, atol=1e-15)
        assert one.steps[0] == batch.steps[i]
    assert batch.seeds == (4, 5, 6) and batch.errors.shape == (3,)
    # mean and standard error over seeds
    assert batch.mean_error == pytest.approx(float(np.mean(batch.errors)), rel=1e-14)
    assert batch.stderr_error == pytest.approx(
        float(np.std(batch.errors, ddof=1) / math.sqrt(3)), rel=1e-12
    )


def test_gradient_descent_unbatched_and_shared_design() -> None:
    rng = np.random.default_rng(7)
    x = sample_design(12, 30, rng)
    y = sample_labels(x, np.eye(30)[0] * 2.0)
    net = pretraining_init(30, 0.05, 0.3)
    one = gradient_descent(net, x, y)
    assert one.beta.shape == (30,) and bool(one.converged) and one.network.shape == (30,)
    # a batched network on one shared design: each member equals the unbatched run
    stacked = DiagonalNetwork(*(np.stack([a, a]) for a in
                                (net.w_plus, net.w_minus, net.v_plus, net.v_minus)))
    two = gradient_descent(stacked, x, y)
    assert two.beta.shape == (2, 30)
    np.testing.assert_allclose(two.beta[1], one.beta, rtol=1e-12, atol=1e-15)


def test_gradient_descent_budget_strict_and_critical_points() -> None:
    rng = np.random.default_rng(1)
    x = sample_design(10, 20, rng)
    y = sample_labels(x, rng.standard_normal(20))
    net = pretraining_init(20, 1e-3, 0.0)
    res = gradient_descent(net, x, y, max_steps=5)
    assert not res.all_converged and res.status.value == "max_iterations"
    assert int(res.steps) + int(res.backtracks) == 5
    with pytest.raises(ConvergenceError):
        gradient_descent(net, x, y, max_steps=5, strict=True)
    # λ_PT = −1 and γ_FT = 0: c_FT = 0, every parameter gradient vanishes — reported, not run
    stuck = gradient_descent(finetune_init(pretrained_state(np.ones(20), 1e-3, -1.0), 0.0), x, y)
    assert stuck.info.extra["critical_start"] == 1 and int(stuck.steps) == 0
    assert not stuck.all_converged
    # already interpolating: zero steps, converged
    done = gradient_descent(net, x, np.zeros(10))
    assert bool(done.converged) and int(done.steps) == 0


# ---------------------------------------------------------------------------------------------
# Teachers and data (spec §1)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("omega", [0.0, 0.3, 1.0])
def test_teacher_groups_have_exact_counts(omega: float) -> None:
    d, rp, rf = 1000, 0.1, 0.2
    with pytest.raises(InvalidInputError):  # ω·ρ_FT > ρ_PT
        sample_teachers(d, omega=1.0, rho_pt=rp, rho_ft=rf, rng=0)
    rf = 0.1
    t = sample_teachers(d, omega=omega, rho_pt=rp, rho_ft=rf, a_pt=2.0, rng=3)
    k_ov = round(omega * 100)
    assert t.counts == {"overlap": k_ov, "new": 100 - k_ov, "pt_only": 100 - k_ov,
                        "none": d - 200 + k_ov}
    s_pt, s_ft = t.beta_pt != 0, t.beta_ft != 0
    assert np.count_nonzero(s_pt & s_ft) == k_ov
    assert np.count_nonzero(s_ft) == 100 and np.count_nonzero(s_pt) == 100
    np.testing.assert_array_equal(s_pt & s_ft, t.groups == 1)
    # constant PT amplitude a_PT with random signs (the theory's convention)
    np.testing.assert_allclose(np.abs(t.beta_pt[s_pt]), 2.0, rtol=1e-15)
    assert 0 < np.count_nonzero(t.beta_pt > 0) < 100
    # FT nonzeros N(0, 1/ρ_FT): (1/d)‖β*_FT‖² ≈ 1; 100 draws, sd of the mean ≈ √(2/100) → 5 sd
    assert abs(np.sum(t.beta_ft**2) / d - 1.0) < 5 * math.sqrt(2 / 100)
    g = sample_teachers(d, omega=omega, rho_pt=rp, rho_ft=rf, pt_amplitude="gaussian", rng=3)
    assert len(np.unique(np.abs(g.beta_pt[g.beta_pt != 0]))) == 100


def test_teacher_feasibility_and_design_scale() -> None:
    with pytest.raises(InvalidInputError):  # ρ_PT + (1 − ω)ρ_FT > 1
        sample_teachers(100, omega=0.0, rho_pt=0.6, rho_ft=0.5, rng=0)
    t = sample_teachers(100, omega=0.0, rho_pt=0.5, rho_ft=0.5, rng=0)  # exactly feasible
    assert t.counts["none"] == 0
    x = sample_design(400, 50, 0)
    # E[X_ij²] = 1/d: 20000 entries, relative sd √(2/20000) = 1 % → 5 sd
    assert abs(np.mean(x**2) * 50 - 1.0) < 0.05
    y = sample_labels(x, np.ones(50), noise_variance=0.25, rng=1)
    assert abs(np.var(y - x @ np.ones(50)) - 0.25) < 5 * 0.25 * math.sqrt(2 / 400)


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------
def _untyped(value: Any) -> Any:
    """Pass a wrongly typed argument on purpose (hidden from mypy)."""
    return value


@pytest.mark.parametrize(
    "call",
    [
        lambda: pretraining_init(0, 1e-3, 0.0),
        lambda: pretraining_init(5, 0.0, 0.0),
        lambda: pretraining_init(5, 1e-3, 1.5),
        lambda: pretraining_init(5, float("nan"), 0.0),
        lambda: pretrained_state([0.0, float("nan")], 1e-3, 0.0),
        lambda: pretrained_state([1.0], 1e-3, -1.01),
        lambda: pretrained_state([1e300], 1e-300, 0.0),
        lambda: finetune_init(pretraining_init(3, 1.0, 0.0), -1.0),
        lambda: finetune_init(_untyped(np.zeros(3)), 1.0),
        lambda: DiagonalNetwork(np.zeros(3), np.zeros(3), np.zeros(3), np.zeros(4)),
        lambda: gradient_descent(pretraining_init(3, 1.0, 0.0), np.ones((2, 4)), np.ones(2)),
        lambda: gradient_descent(pretraining_init(3, 1.0, 0.0), np.ones((2, 3)), np.ones(2),
                                 lr=0.0),
        lambda: sample_teachers(10, omega=1.5, rho_pt=0.1, rho_ft=0.1),
        lambda: sample_teachers(10, omega=0.5, rho_pt=0.1, rho_ft=0.1, pt_amplitude=_untyped("x")),
        lambda: sample_teachers(10, omega=0.5, rho_pt=0.01, rho_ft=0.01),  # rounds to none
        lambda: simulate_finetuning(0.0, d=20, omega=0.5, lambda_pt=0.0, gamma_ft=0.0),
        lambda: simulate_finetuning(float("nan"), d=20, omega=0.5, lambda_pt=0.0, gamma_ft=0.0),
        lambda: simulate_finetuning(0.5, d=0, omega=0.5, lambda_pt=0.0, gamma_ft=0.0),
        lambda: simulate_finetuning(0.5, d=20, omega=0.5, lambda_pt=-1.0, gamma_ft=0.0),
        lambda: simulate_finetuning(0.5, d=20, omega=0.5, lambda_pt=2.0, gamma_ft=0.0),
        lambda: simulate_finetuning(0.5, d=20, omega=0.5, lambda_pt=0.0, gamma_ft=0.0,
                                    c_pt=-1.0),
        lambda: simulate_finetuning(0.5, d=20, omega=0.5, lambda_pt=0.0, gamma_ft=0.0,
                                    seeds=[]),
        lambda: simulate_finetuning(0.5, d=20, omega=0.5, lambda_pt=0.0, gamma_ft=0.0,
                                    lr=_untyped("fast")),
        lambda: simulate_scratch(0.01, d=20, lambda_pt=0.0),  # n rounds to 0
        lambda: simulate_scratch(0.5, d=20, lambda_pt=0.0, noise_variance=-1.0),
    ],
)
def test_bad_input_raises_invalid_input_error(call: object) -> None:
    with pytest.raises(InvalidInputError):
        call()  # type: ignore[operator]


# ---------------------------------------------------------------------------------------------
# the GD loop against the loop it replaced (issue 15: fewer numpy calls per step)
# ---------------------------------------------------------------------------------------------
def _old_rowdot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.array([np.dot(a[k], b[k]) for k in range(a.shape[0])], dtype=np.float64)


class _OldRun:
    """The per-seed, four-array GD loop of ``diagonal/simulate.py`` before issue 15, verbatim
    up to names (the reference: the new loop must take the same steps)."""

    def __init__(self, xs: list[np.ndarray], ys: np.ndarray, wp: np.ndarray, wm: np.ndarray,
                 vp: np.ndarray, vm: np.ndarray, xn2: np.ndarray, lr: float,
                 inv_rho: float) -> None:
        self.xs, self.ys = list(xs), ys
        self.inv_n = 1.0 / ys.shape[1]
        self.lr, self.inv_rho = lr, inv_rho
        self.wp, self.wm, self.vp, self.vm = wp.copy(), wm.copy(), vp.copy(), vm.copy()
        self.xn2 = xn2
        beta = wp * vp - wm * vm
        self.r = np.empty_like(ys)
        for k, x in enumerate(self.xs):
            np.matmul(x, beta[k], out=self.r[k])
        self.r -= ys
        self.loss = 0.5 * self.inv_n * _old_rowdot(self.r, self.r)
        self.g = np.empty_like(wp)
        self._gradient()
        self.m = np.ones(len(xs))
        self.u = np.where(np.any(self.r != 0, axis=1, keepdims=True), self.r, 1.0)
        self.u /= np.sqrt(_old_rowdot(self.u, self.u))[:, None]
        self.mu = np.zeros(len(xs))
        self.sig_e = np.empty_like(wp)

    def _gradient(self) -> None:
        for k, x in enumerate(self.xs):
            np.matmul(self.r[k], x, out=self.g[k])
        self.g *= self.inv_n

    def _power(self, sig: np.ndarray, iterations: int) -> None:
        z = np.empty_like(sig)
        un = np.empty_like(self.u)
        for _ in range(iterations):
            for k, x in enumerate(self.xs):
                np.matmul(self.u[k], x, out=z[k])
            z *= sig
            for k, x in enumerate(self.xs):
                np.matmul(x, z[k], out=un[k])
            mu = np.sqrt(_old_rowdot(un, un))
            ok = mu > 0
            self.u[ok] = un[ok] / mu[ok, None]
            self.mu = mu
        np.copyto(self.sig_e, sig)

    def _keep(self, keep: np.ndarray) -> None:
        self.xs = [x for x, k in zip(self.xs, keep, strict=True) if k]
        for name in ("ys", "wp", "wm", "vp", "vm", "xn2", "r", "loss", "g", "m", "u", "mu",
                     "sig_e"):
            setattr(self, name, getattr(self, name)[keep])

    def iterate(self, active: np.ndarray, thr_all: np.ndarray, max_steps: int,
                out: Any) -> None:
        self._keep(np.isin(np.arange(len(self.xs)), active))
        thr = thr_all[active]
        n_ok = np.zeros(active.size, dtype=np.int64)
        n_bad = np.zeros(active.size, dtype=np.int64)
        it = 0
        while True:
            wp, wm, vp, vm, r = self.wp, self.wm, self.vp, self.vm, self.r
            nwp, nwm, nvp, nvm = (np.empty_like(wp) for _ in range(4))
            nr = np.empty_like(r)
            sig, t1, t2 = (np.empty_like(wp) for _ in range(3))
            while True:
                np.square(wp, out=sig)
                sig += np.square(vp, out=t2)
                sig += np.square(wm, out=t2)
                sig += np.square(vm, out=t2)
                if it % 10 == 0:
                    self._power(sig, 30 if it == 0 else 1)
                growth = np.divide(sig, self.sig_e, out=t1, where=self.sig_e > 0)
                growth[self.sig_e <= 0] = 1.0
                k_gn = np.minimum(1.1 * self.mu * self.inv_n * growth.max(axis=1),
                                  self.xn2 * sig.max(axis=1))
                curv = k_gn + np.abs(self.g).max(axis=1) * self.inv_rho
                eta = self.lr * self.m / np.where(curv > 0, curv, 1.0)
                eg = np.multiply(self.g, eta[:, None], out=t1)
                np.multiply(eg, vp, out=nwp)
                np.subtract(wp, nwp, out=nwp)
                np.multiply(eg, wp, out=nvp)
                np.subtract(vp, nvp, out=nvp)
                np.multiply(eg, vm, out=nwm)
                nwm += wm
                np.multiply(eg, wm, out=nvm)
                nvm += vm
                nb = np.multiply(nwp, nvp, out=t1)
                nb -= np.multiply(nwm, nvm, out=t2)
                for k, x in enumerate(self.xs):
                    np.matmul(x, nb[k], out=nr[k])
                nr -= self.ys
                nloss = 0.5 * self.inv_n * _old_rowdot(nr, nr)
                ok = nloss <= self.loss
                it += 1
                if not np.all(ok):
                    bad = ~ok
                    for new, old in ((nwp, wp), (nwm, wm), (nvp, vp), (nvm, vm), (nr, r)):
                        new[bad] = old[bad]
                    nloss[bad] = self.loss[bad]
                    n_bad += bad
                    self.m = np.where(ok, np.minimum(1.0, self.m * 1.05), 0.5 * self.m)
                elif np.any(self.m < 1.0):
                    self.m = np.minimum(1.0, self.m * 1.05)
                n_ok += ok
                wp, nwp, wm, nwm, vp, nvp, vm, nvm = nwp, wp, nwm, wm, nvp, vp, nvm, vm
                r, nr = nr, r
                self.wp, self.wm, self.vp, self.vm, self.r = wp, wm, vp, vm, r
                self.loss = nloss
                done = self.loss <= thr
                if it >= max_steps:
                    done[:] = True
                self._gradient()
                if np.any(done):
                    break
            idx = active[done]
            for o, a in zip(out.w, (wp, wm, vp, vm), strict=True):
                o[idx] = a[done]
            out.loss[idx] = self.loss[done]
            out.steps[idx] = n_ok[done]
            out.backtracks[idx] = n_bad[done]
            out.attempts[idx] = it
            keep = ~done
            if not np.any(keep):
                return
            active, thr, n_ok, n_bad = active[keep], thr[keep], n_ok[keep], n_bad[keep]
            self._keep(keep)


@pytest.mark.parametrize(("shared", "lr", "tol", "max_steps"), [
    (False, 1.0, 1e-6, 400),   # per-seed designs, seeds stop at different steps
    (True, 6.0, 1e-8, 300),    # one shared design, lr = 6: rejected steps and recovery
    (False, 1.0, 1e-30, 250),  # the step budget ends the run
])
def test_gd_loop_equals_the_loop_it_replaced(
    shared: bool, lr: float, tol: float, max_steps: int
) -> None:
    from finetune_bounds.diagonal import simulate as dsim

    rng = np.random.default_rng(11)
    s_, n, d = 4, 12, 40
    x3 = rng.standard_normal((1 if shared else s_, n, d)) / math.sqrt(d)
    x3 = np.broadcast_to(x3[0], (s_, n, d)) if shared else x3
    beta = np.where(rng.random((s_, d)) < 0.2, rng.standard_normal((s_, d)), 0.0)
    ys = np.einsum("snd,sd->sn", x3, beta)
    start = finetune_init(pretrained_state(rng.standard_normal((s_, d)), 1e-2, -0.5), 0.0)
    params = [np.array(getattr(start, k)) for k in ("w_plus", "w_minus", "v_plus", "v_minus")]
    xs = [x3[k] for k in range(s_)]
    xn2 = np.array([np.linalg.norm(x, 2) ** 2 for x in xs]) / n
    runs = {
        "old": _OldRun(xs, ys.copy(), *params, xn2, lr, 100.0),
        "new": dsim._Run(x3, shared, ys.copy(), *params, xn2, lr, 100.0),
    }
    outs = {}
    for name, run in runs.items():
        thr = tol * run.loss
        out = dsim._Outcome(s_, *params, run.loss)
        with np.errstate(all="ignore"):
            run.iterate(np.arange(s_), thr, max_steps, out)
        outs[name] = out
    old, new = outs["old"], outs["new"]
    # the same arithmetic in the same order: equal to rounding (asserted 1e-12 relative; the
    # rewrite measured bit-identical)
    for a, b in zip(old.w, new.w, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-15 * np.max(np.abs(a)))
    np.testing.assert_allclose(new.loss, old.loss, rtol=1e-12, atol=0)
    assert np.array_equal(new.steps, old.steps)
    assert np.array_equal(new.backtracks, old.backtracks)
    assert np.array_equal(new.attempts, old.attempts)
    if lr == 6.0:
        assert np.any(old.backtracks > 0)  # the rejection branch was exercised
    if tol == 1e-6:
        assert len(set(old.attempts.tolist())) > 1  # seeds left the batch at different steps
