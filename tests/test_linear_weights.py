"""The weights route for E[R] (issue 9, step 1): E[(I − P_Z)Λ(I − P_Z)] is diagonal, so
E[bias] = Σ_i w_i(n) Δ̃_i². Checked against an independent full-matrix computation, the exact
isotropic values, plain Monte Carlo, and for its variance reduction; tolerances from standard
errors (4 s.e.), fixed seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest

import finetune_bounds as fb
from finetune_bounds.errors import ConvergenceError, InvalidInputError
from finetune_bounds.linear import RiskWeights, risk_weights
from finetune_bounds.linear._weights import _draw_terms


def _task(cov: fb.Covariance, seed: int, noise: float = 0.0) -> fb.LinearTask:
    rng = np.random.default_rng(seed)
    d = cov.dim
    src = rng.standard_normal(d) / math.sqrt(d)
    return fb.LinearTask(cov, src, src + rng.standard_normal(d) / math.sqrt(d), noise)


def _full_m(z: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """(I − P_Z)Λ(I − P_Z) from the pseudo-inverse (an independent route)."""
    p = np.linalg.pinv(z) @ z
    q = np.eye(lam.size) - p
    return q @ np.diag(lam) @ q


def test_expected_m_is_diagonal_and_the_draw_formula_is_its_diagonal() -> None:
    lam = np.array([3.0, 2.0, 1.0, 0.5, 0.2, 0.1])
    rng = np.random.default_rng(0)
    g = rng.standard_normal((4000, 3, lam.size))
    ms = np.stack([_full_m(gi * np.sqrt(lam), lam) for gi in g])
    diag, trace = _draw_terms(lam, [3], g)
    np.testing.assert_allclose(diag[:, 0], np.diagonal(ms, axis1=1, axis2=2), atol=1e-12)
    zp = [np.linalg.pinv(gi * np.sqrt(lam)) for gi in g]
    np.testing.assert_allclose(
        trace[:, 0], [np.trace(np.diag(lam) @ p @ p.T) for p in zp], rtol=1e-9
    )
    mean, se = ms.mean(axis=0), ms.std(axis=0, ddof=1) / math.sqrt(len(ms))
    off = ~np.eye(lam.size, dtype=bool)
    assert np.all(np.abs(mean[off]) <= 4 * se[off])  # zero within its standard error
    assert np.all(np.diagonal(mean) > 10 * np.diagonal(se))  # ... while the diagonal is not


def test_nested_draw_terms_equal_the_pseudo_inverse_at_every_n() -> None:
    """The nested-QR terms (one QR for every prefix, R⁻¹ by trtri, in place) against the
    pseudo-inverse of each prefix design (an independent route), for every n below the rank."""
    lam = 1.0 / np.arange(1, 13) ** 1.2
    rng = np.random.default_rng(3)
    g = rng.standard_normal((5, 11, lam.size))
    ns = list(range(1, 12))
    diag, trace = _draw_terms(lam, ns, g)
    for b in range(g.shape[0]):
        for j, n in enumerate(ns):
            z = g[b, :n] * np.sqrt(lam)
            np.testing.assert_allclose(diag[b, j], np.diagonal(_full_m(z, lam)), atol=1e-12)
            zp = np.linalg.pinv(z)
            np.testing.assert_allclose(trace[b, j], np.trace(np.diag(lam) @ zp @ zp.T),
                                       rtol=1e-9)


def test_isotropic_weights_are_exact() -> None:
    d, sigma2 = 40, 0.2
    cov = fb.Covariance.isotropic(d)
    w = risk_weights(cov, [5, 20, 30, 40, 45, 60], rel_tol=0.005, rng=1)
    assert w.converged
    task = _task(cov, 3, sigma2)
    r = w.expected_risk(task)
    dd = float(task.delta @ task.delta)
    for j, n in enumerate(w.ns):
        exact_b = (1 - n / d) * dd if n < d else 0.0
        exact_v = sigma2 * (n / (d - n - 1) if n < d - 1 else d / (n - d - 1) if n > d + 1
                            else math.inf)
        assert abs(r.bias[j] - exact_b) <= 4 * r.stderr[j] + 1e-15, (n, r.bias[j], exact_b)
        if n < d - 3:  # variance estimate with finite variance
            se_v = sigma2 * float(np.std(w.block_variance[:, j], ddof=1)) / math.sqrt(
                w.block_variance.shape[0])
            assert abs(r.variance[j] - exact_v) <= 4 * se_v, (n, r.variance[j], exact_v)
        elif n > d + 1:
            assert r.variance[j] == pytest.approx(exact_v, rel=1e-14) and r.stderr[j] == 0
    assert list(w.heavy_tail) == [False, False, False, False, False, False]


def test_agrees_with_plain_monte_carlo_on_a_power_law() -> None:
    d = 60
    cov = fb.Covariance.from_spectrum(np.arange(1, d + 1, dtype=float) ** -1.5)
    task = _task(cov, 7, noise=0.01)
    w = risk_weights(cov, [8, 25], probe=task, rng=2)
    r = w.expected_risk(task)
    for j, n in enumerate(w.ns):
        mc = fb.linear.expected_risk(task, int(n), method="monte_carlo", n_draws=1500, rng=9)
        assert abs(r.risk[j] - mc.risk) <= 4 * math.hypot(r.stderr[j], mc.stderr), n


def test_fewer_draws_than_the_quadratic_form() -> None:
    """Per draw, Σ diag(M)_i Δ̃_i² varies ≥ 5× less than Δ̃ᵀMΔ̃ (measured 35× at d = 300)."""
    d, n = 100, 20
    lam = np.arange(1, d + 1, dtype=float) ** -1.5
    task = _task(fb.Covariance.from_spectrum(lam), 4)
    de = np.asarray(task.delta_eig)
    g = np.random.default_rng(5).standard_normal((300, n, d))
    diag, _ = _draw_terms(lam, [n], g)
    per_diag = diag[:, 0] @ de**2
    per_quad = [de @ _full_m(gi * np.sqrt(lam), lam) @ de for gi in g]
    assert np.var(per_quad) >= 5 * np.var(per_diag)


def test_stopping_rule_status_and_sample_complexity() -> None:
    d = 50
    cov = fb.Covariance.from_spectrum(np.exp(-np.arange(d) / 10.0))
    task = _task(cov, 1)
    w = risk_weights(cov, [5, 10, 20, 40], probe=[task], rel_tol=0.02, rng=0)
    r = w.expected_risk(task)
    assert w.status == fb.SolverStatus.CONVERGED and w.draws >= 128
    assert np.all(r.stderr <= 0.02 * r.risk * 1.0000001)
    assert isinstance(w, RiskWeights) and w.rank == d
    first = w.sample_complexity(task, float(r.risk[2]) * 1.0001)
    assert first == 20 or (first is not None and first < 20)
    assert w.sample_complexity(task, 1e-30) is None
    kw = {"rel_tol": 1e-6, "min_draws": 32, "max_draws": 64, "block": 16, "rng": 0}
    short = risk_weights(cov, [5], **kw)
    assert short.status == fb.SolverStatus.MAX_ITERATIONS and not short.converged
    with pytest.raises(ConvergenceError):
        risk_weights(cov, [5], strict=True, **kw)
    past = risk_weights(cov, [60, 80])
    assert past.status == fb.SolverStatus.EXACT and past.draws == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"ns": []}, "at least one"),
        ({"ns": [0]}, "n"),
        ({"ns": [5], "rel_tol": 0}, "rel_tol"),
        ({"ns": [5], "max_draws": 10}, "max_draws"),
    ],
)
def test_bad_input(kwargs: dict, match: str) -> None:
    cov = fb.Covariance.isotropic(10)
    with pytest.raises(InvalidInputError, match=match):
        risk_weights(cov, **kwargs)


def test_task_on_another_covariance_is_rejected() -> None:
    w = risk_weights(fb.Covariance.isotropic(10), [3], rel_tol=0.05)
    other = _task(fb.Covariance.from_spectrum(np.linspace(2, 1, 10)), 0)
    with pytest.raises(InvalidInputError, match="covariance"):
        w.expected_risk(other)


def test_expected_risk_weights_method() -> None:
    d = 80
    lam = np.r_[np.full(4, 12.0), np.full(d - 4, 0.05)]  # spiked: where the DE is worst
    cov = fb.Covariance.from_spectrum(lam)
    task = _task(cov, 2, noise=0.01)
    w = fb.linear.expected_risk(task, 10, "weights", rng=0)
    mc = fb.linear.expected_risk(task, 10, "monte_carlo", n_draws=3000, rng=1)
    assert w.method == "weights" and w.status == fb.SolverStatus.CONVERGED
    assert w.stderr is not None and w.stderr <= 0.01 * w.risk * 1.0000001
    assert abs(w.risk - mc.risk) <= 4 * math.hypot(w.stderr, mc.stderr)
    assert w.diagnostics["draws"] < 3000  # fewer draws for a 3× smaller standard error
    zero = fb.linear.expected_risk(task, 0, "weights")
    assert zero.risk == pytest.approx(float(cov.quadratic_form(task.delta)))
    past = fb.linear.expected_risk(task, d + 5, "weights")
    assert past.bias == 0 and past.variance == pytest.approx(0.01 * d / 4) and past.stderr == 0
    assert fb.linear.expected_risk(task, d - 2, "weights", rel_tol=0.05).diagnostics["heavy_tail"]


def test_linear_family_weights_theory_carries_stderr() -> None:
    frame = fb.run("linear", params={"d": 40, "theory_method": "weights", "gd": False},
                   axes={"n": [5, 20]}).frame
    risk = frame[(frame.quantity == "risk") & (frame.method == "weights")
                 & (frame.start == "pretrained")]
    assert len(risk) == 2 and (risk["stderr"] > 0).all()


def test_cli_linear_method_weights(capsys: pytest.CaptureFixture[str]) -> None:
    from finetune_bounds.cli import main

    code = main(["linear", "--example", "spiked", "--method", "weights", "--n", "10", "40",
                 "--empirical-seeds", "0"])
    out = capsys.readouterr().out
    assert code == 0 and "per-coordinate weights" in out and "±" in out
