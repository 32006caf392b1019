"""Every expected risk states its route and accuracy; ``method="auto"`` meets its tolerance
(issue 9, items 2, 3 and 6). The DE error rule is calibrated in ``linear/_accuracy.py``; here
it is checked on spectra, dimensions and tasks it was not fitted on, against the unbiased
per-coordinate-weights Monte Carlo and the plain Monte Carlo."""

from __future__ import annotations

import numpy as np
import pytest

import finetune_bounds as fb
from finetune_bounds.linear import expected_risk, risk_curve, risk_weights, sample_complexity
from finetune_bounds.linear._accuracy import DE_RULE, Accuracy


def _task(lam: np.ndarray, where: str, noise: float = 0.0, seed: int = 3) -> fb.LinearTask:
    d = lam.size
    v = np.zeros(d)
    if where == "head":
        v[:5] = 1.0
    elif where == "tail":
        v[-10:] = 1.0
    else:
        v = np.random.default_rng(seed).standard_normal(d)
    return fb.LinearTask(fb.Covariance.from_spectrum(lam), np.zeros(d), v / np.linalg.norm(v),
                         noise)


def _spectra(d: int) -> dict[str, np.ndarray]:
    return {
        "spiked": np.r_[np.full(4, 20.0), np.full(d - 4, 0.1)],
        "power_law_1.2": np.arange(1, d + 1) ** -1.2,
        "power_law_2.5": np.arange(1, d + 1) ** -2.5,
        "exponential": np.exp(-np.arange(d) / 8.0),
    }


def test_every_route_states_its_accuracy() -> None:
    task = _task(np.arange(1, 41) ** -1.0, "random", noise=0.05)
    de = expected_risk(task, 10, "deterministic")
    assert de.accuracy.kind == "calibrated" and 0 < de.accuracy.rel_error < 1
    mc = expected_risk(task, 10, "monte_carlo", n_draws=50, rng=1)
    assert mc.accuracy.kind == "standard_error"
    assert mc.accuracy.rel_error == pytest.approx(mc.stderr / mc.risk)
    w = expected_risk(task, 10, "weights", rng=1)
    assert w.accuracy.kind == "standard_error" and w.accuracy.within(0.01)
    for n in (0, 40, 50):  # n = 0 and n ≥ rank Σ: closed forms
        for method in ("deterministic", "weights", "auto"):
            assert expected_risk(task, n, method).accuracy == Accuracy("exact", 0.0, "closed form")
    iso = fb.LinearTask(fb.Covariance.isotropic(30), np.zeros(30), np.ones(30))
    res = expected_risk(iso, 10)  # auto: Σ ∝ I takes the exact formulas
    assert res.method == "isotropic" and res.accuracy.kind == "exact"
    assert res.diagnostics["requested"] == "auto"


def test_de_rule_terms_vanish_as_n_and_rank_grow() -> None:
    # the rule's bound falls like 1/n on a fixed-shape spectrum (the DE is asymptotically exact)
    errs = []
    for d in (200, 2000, 20000):
        task = _task(np.linspace(1.0, 2.0, d), "random")
        errs.append(expected_risk(task, d // 4, "deterministic").accuracy.rel_error)
    assert errs[0] > 5 * errs[1] > 25 * errs[2] > 0
    assert DE_RULE == (2.5, 0.35, 1.2)  # the calibrated constants the docs quote


def test_auto_takes_the_de_where_its_rule_certifies_the_tolerance() -> None:
    task = _task(np.linspace(1.0, 2.0, 3000), "random", noise=0.01)
    res = expected_risk(task, 800)
    assert res.method == "deterministic" and res.accuracy.within(0.01)
    assert "DE error" in res.diagnostics["auto_reason"]
    # a looser tolerance lets the DE answer where 1 % would not
    small = _task(np.arange(1, 61) ** -1.5, "head")
    assert expected_risk(small, 10).method == "weights"
    assert expected_risk(small, 10, rel_tol=2.0).method == "deterministic"


@pytest.mark.parametrize("name", ["spiked", "power_law_1.2", "power_law_2.5", "exponential"])
def test_auto_within_its_tolerance_against_plain_monte_carlo(name: str) -> None:
    """d = 60 (not a calibration size): auto vs 4000 plain Monte Carlo designs, every n of a
    grid, Δ on the head (where the DE is worst) with label noise."""
    lam = _spectra(60)[name]
    task = _task(lam, "head", noise=0.02)
    for n in (5, 15, 40):
        auto = expected_risk(task, n, rng=7)
        ref = expected_risk(task, n, "monte_carlo", n_draws=4000, rng=11)
        se = np.hypot(ref.stderr, auto.stderr or 0.0)
        # within 2 % or three combined standard errors (the stated accuracy is ≤ 1 %)
        assert abs(auto.risk - ref.risk) <= max(0.02 * ref.risk, 3 * se), (n, auto, ref)
        assert auto.accuracy.within(0.01) or auto.method == "weights"


def test_risk_curve_auto_mixes_routes_and_reports_them() -> None:
    task = _task(np.arange(1, 81) ** -1.5, "head", noise=0.01)
    ns = [0, 5, 20, 60, 79, 80, 100]
    curve = risk_curve(task, ns, rng=0)
    assert set(curve["method"]) <= {"deterministic", "weights"}
    assert curve["method"][0] == "deterministic" and curve["rel_error"][0] == 0  # n = 0
    assert curve["rel_error"][-1] == 0 and np.isnan(curve["stderr"][-1])  # n ≥ rank: exact
    mc = curve["method"] == "weights"
    finite = np.isfinite(curve["risk"])
    assert mc.any() and np.all(curve["rel_error"][mc & finite] <= 0.01)
    de = risk_curve(task, ns, "deterministic")
    assert np.all(de["method"] == "deterministic")
    # where auto kept the DE, the numbers are the DE's, bit for bit
    keep = ~mc
    np.testing.assert_array_equal(curve["risk"][keep], de["risk"][keep])
    # n = r − 1 with noise: the exact variance is infinite (the DE's is not), said as such
    assert curve["method"][ns.index(79)] == "weights"
    assert np.isinf(curve["risk"][ns.index(79)]) and np.isinf(curve["rel_error"][ns.index(79)])


def test_sample_complexity_auto_checks_the_ambiguous_window() -> None:
    lam = np.r_[np.full(4, 20.0), np.full(116, 0.1)]
    task = _task(lam, "head")
    eps = 0.05
    de = sample_complexity(task, eps, method="deterministic")
    auto = sample_complexity(task, eps, rng=0)
    assert auto.reachable and auto.checked  # the DE band straddled ε: Monte Carlo decided
    assert auto.n >= de.n  # the DE is low here, so the true n* is not smaller
    # the answer is the first n whose unbiased estimate is ≤ ε: the n before it is above ε
    w = risk_weights(task.covariance, [auto.n - 1, auto.n], rel_tol=0.003, probe=task, rng=5)
    est = w.expected_risk(task)
    assert est.risk[0] > eps * (1 - 3 * est.stderr[0] / est.risk[0])
    assert est.risk[1] <= eps * (1 + 3 * est.stderr[1] / est.risk[1])


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("name", ["spiked", "power_law_1.2", "power_law_2.5", "exponential"])
def test_issue9_done_grid_d300(name: str) -> None:
    """The issue's acceptance grid: d = 300, n ∈ {10, 30, 120, 240}, Δ on the head, the tail or
    random, with and without noise: the default answer is within 2 % of a long unbiased Monte
    Carlo (one risk_weights run to 0.5 % for the six tasks) or within three combined standard
    errors, and the DE's stated bound covers its actual error (with 3 s.e. of slack)."""
    lam = _spectra(300)[name]
    ns = [10, 30, 120, 240]
    tasks = [_task(lam, where, noise) for where in ("head", "tail", "random")
             for noise in (0.0, 0.01)]
    ref_w = risk_weights(tasks[0].covariance, ns, rel_tol=0.005, probe=tasks, rng=123,
                         max_draws=20_000)
    for task in tasks:
        ref = ref_w.expected_risk(task)
        de = risk_curve(task, ns, "deterministic")
        for j, n in enumerate(ns):
            auto = expected_risk(task, n, rng=9)
            if ref.risk[j] == 0.0:  # Δ in the numerically null directions (exponential tail)
                assert auto.risk <= 1e-12 * task.covariance.quadratic_form(task.delta) + 1e-300
                continue
            se = np.hypot(ref.stderr[j], auto.stderr or 0.0)
            ok = abs(auto.risk - ref.risk[j]) <= max(0.02 * ref.risk[j], 3 * se)
            assert ok, (n, task.noise_variance, auto, ref.risk[j], ref.stderr[j])
            err = abs(de["risk"][j] / ref.risk[j] - 1)
            assert err <= de["rel_error"][j] + 3 * ref.stderr[j] / ref.risk[j], (n, err)
