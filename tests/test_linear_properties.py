"""Hypothesis properties of the linear fine-tuning theory (spec linear-teachers §2).

Invariants that must hold for every task and design: rotation invariance, exact zeros, signs,
scaling laws, n = 0, and the closed forms the deterministic equivalent reduces to. Examples are
small (d ≤ 6) so the whole file runs in seconds under the `ci` profile.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import finetune_bounds as fb
from finetune_bounds.linear import (
    bounds,
    expected_risk,
    finetuned_predictor,
    head_tail_bound,
    naive_bound,
    risk_curve,
    row_space_projector,
    sample_complexity,
    sample_risk,
)
from finetune_bounds.testing import (
    covariances,
    designs,
    linear_tasks,
    orthogonal_matrices,
    tasks_with_designs,
)

MAX_DIM = 6
REL = 1e-8  # float64 round-off through one SVD/eigh of a ≤ 8×6 matrix with cond ≤ 100


def _close(a: float, b: float, scale: float) -> bool:
    return abs(a - b) <= REL * max(abs(a), abs(b), scale) + 1e-300


def _scale(task: fb.LinearTask) -> float:
    """Natural size of risks for this task: λ_max(‖θ_S‖² + ‖θ_T‖² + 1)(1 + σ²)."""
    lam = task.covariance.operator_norm
    norms = float(task.source @ task.source + task.target @ task.target) + 1.0
    return lam * norms * (1.0 + task.noise_variance)


def _rotate(task: fb.LinearTask, q: np.ndarray) -> fb.LinearTask:
    sigma = q @ task.covariance.matrix @ q.T
    return fb.LinearTask(
        0.5 * (sigma + sigma.T), q @ task.source, q @ task.target, task.noise_variance
    )


def _tasks_designs_rotations() -> st.SearchStrategy:
    return tasks_with_designs(max_dim=MAX_DIM, noise=True).flatmap(
        lambda p: st.tuples(st.just(p[0]), st.just(p[1]), orthogonal_matrices(p[0].dim))
    )


# ---------------------------------------------------------------------------------------------
# rotation invariance: (Σ, θ_S, θ_T, X) → (QΣQᵀ, Qθ_S, Qθ_T, XQᵀ)
# ---------------------------------------------------------------------------------------------
@given(_tasks_designs_rotations())
def test_rotation_invariance(args: tuple[fb.LinearTask, np.ndarray, np.ndarray]) -> None:
    task, x, q = args
    rot = _rotate(task, q)
    s = _scale(task)
    a, b = sample_risk(task, x), sample_risk(rot, x @ q.T)
    for f in ("risk", "bias", "variance", "zero_shot", "from_scratch", "naive_bound"):
        assert _close(getattr(a, f), getattr(b, f), s * max(1.0, a.variance)), f
    assert a.rank == b.rank
    n = x.shape[0]
    ea, eb = expected_risk(task, n, "deterministic"), expected_risk(rot, n, "deterministic")
    for f in ("bias", "variance"):
        va, vb = getattr(ea, f), getattr(eb, f)
        assert (np.isinf(va) and np.isinf(vb)) or _close(va, vb, s), f
    ba, bb = bounds(task, max(n, 1)), bounds(rot, max(n, 1))
    for k in ba:
        assert _close(ba[k].value, bb[k].value, s), k
    # the fine-tuned predictor rotates with the problem
    y = x @ task.target
    np.testing.assert_allclose(
        q @ finetuned_predictor(x, y, task.source),
        finetuned_predictor(x @ q.T, y, rot.source),
        atol=1e-7 * (1 + np.abs(task.source).max() + np.abs(task.target).max()),
    )


# ---------------------------------------------------------------------------------------------
# exact zeros
# ---------------------------------------------------------------------------------------------
@given(st.data())
def test_n_at_least_rank_gives_zero_bias(data: st.DataObject) -> None:
    d = data.draw(st.integers(1, MAX_DIM), label="d")
    r = data.draw(st.integers(0, d), label="rank")
    task = data.draw(linear_tasks(covariance=covariances(dim=d, rank=r)), label="task")
    n = data.draw(st.integers(r, d + 2), label="n")
    x = data.draw(designs(dim=d, n=n, covariance=task.covariance), label="X")
    res = sample_risk(task, x)
    assert res.bias <= 1e-10 * _scale(task)
    assert res.rank == r
    assert expected_risk(task, n, "deterministic").bias == 0.0


@given(
    linear_tasks(max_dim=MAX_DIM, noise=True),
    st.data(),
)
def test_equal_teachers_give_zero_bias(task: fb.LinearTask, data: st.DataObject) -> None:
    same = fb.LinearTask(task.covariance, task.source, task.source, task.noise_variance)
    x = data.draw(designs(dim=task.dim, generic=False))  # any design, degenerate ones too
    res = sample_risk(same, x)
    assert res.bias == 0.0 and res.zero_shot == 0.0
    n = x.shape[0]
    assert expected_risk(same, n, "deterministic").bias == 0.0
    assert all(b.value == 0.0 for b in bounds(same, max(n, 1)).values())


# ---------------------------------------------------------------------------------------------
# signs and the naive bound
# ---------------------------------------------------------------------------------------------
@given(linear_tasks(max_dim=MAX_DIM, noise=True), st.data())
def test_risks_nonnegative_and_bounded_by_naive(task: fb.LinearTask, data: st.DataObject) -> None:
    x = data.draw(designs(dim=task.dim, max_n=MAX_DIM + 2, generic=data.draw(st.booleans())))
    res = sample_risk(task, x)
    for v in (res.risk, res.bias, res.variance, res.zero_shot, res.from_scratch):
        assert v >= 0.0 and not np.isnan(v)
    naive = naive_bound(task).value
    assert res.bias <= naive * (1 + 1e-12) + 1e-300
    assert res.zero_shot <= naive * (1 + 1e-12) + 1e-300
    n = x.shape[0]
    e = expected_risk(task, n, "deterministic")
    assert e.bias >= 0.0 and e.variance >= 0.0
    ht = head_tail_bound(task, max(n, 1))
    assert 0.0 <= ht.value <= res.zero_shot * (1 + 1e-8) + 1e-300  # see test_n_zero_is_zero_shot
    # a larger head can only lower the minimum
    assert head_tail_bound(task, n + 1, k_max=task.dim).value <= head_tail_bound(
        task, n + 1, k_max=0
    ).value * (1 + 1e-12) + 1e-300


@given(tasks_with_designs(max_dim=MAX_DIM, noise=True))
def test_predictor_interpolates_and_keeps_orthogonal_part(
    pair: tuple[fb.LinearTask, np.ndarray],
) -> None:
    task, x = pair
    n, d = x.shape
    assume(n >= 1)
    y = x @ task.target
    w = finetuned_predictor(x, y, task.source)
    p = row_space_projector(x)
    scale = 1 + np.abs(task.source).max() + np.abs(task.target).max()
    perp = np.eye(d) - p
    np.testing.assert_allclose(perp @ w, perp @ task.source, atol=1e-8 * scale)
    np.testing.assert_allclose(x @ w, y, atol=1e-7 * scale * (1 + np.abs(x).max()))


# ---------------------------------------------------------------------------------------------
# scaling laws
# ---------------------------------------------------------------------------------------------
@given(
    tasks_with_designs(max_dim=MAX_DIM, noise=True),
    st.floats(0.1, 10.0),
    st.floats(-3.0, 3.0).filter(lambda a: abs(a) > 0.05),
    st.floats(0.1, 10.0),
)
def test_scaling_laws(
    pair: tuple[fb.LinearTask, np.ndarray], c: float, a: float, t: float
) -> None:
    """Σ → cΣ (X → √c X): bias × c, variance unchanged. Δ → aΔ: bias × a². σ² → tσ²:
    variance × t. Checked on one design (§2.2) and on the deterministic equivalent (§2.3)."""
    task, x = pair
    n = x.shape[0]
    s = _scale(task)
    cov = task.covariance
    scaled_cov = fb.Covariance.from_spectrum(c * cov.eigenvalues, cov.eigenvectors)
    t_c = fb.LinearTask(scaled_cov, task.source, task.target, task.noise_variance)
    t_a = fb.LinearTask(cov, task.source, task.source + a * task.delta, task.noise_variance)
    t_t = fb.LinearTask(cov, task.source, task.target, t * task.noise_variance)
    base = sample_risk(task, x)
    rc, ra, rt = sample_risk(t_c, np.sqrt(c) * x), sample_risk(t_a, x), sample_risk(t_t, x)
    big = s * max(1.0, base.variance)
    assert _close(rc.bias, c * base.bias, c * big) and _close(rc.variance, base.variance, big)
    assert _close(ra.bias, a * a * base.bias, a * a * big)
    assert _close(ra.variance, base.variance, big)
    assert _close(rt.variance, t * base.variance, t * big) and _close(rt.bias, base.bias, big)
    e, ec, ea, et = (expected_risk(k, n, "deterministic") for k in (task, t_c, t_a, t_t))
    assert _close(ec.bias, c * e.bias, c * s) and _close(ea.bias, a * a * e.bias, a * a * s)
    for v1, v2 in ((ec.variance, e.variance), (et.variance, t * e.variance)):
        assert (np.isinf(v1) and np.isinf(v2)) or _close(v1, v2, t * s)


# ---------------------------------------------------------------------------------------------
# n = 0, closed-form reductions, monotonicity where it holds
# ---------------------------------------------------------------------------------------------
@given(linear_tasks(max_dim=MAX_DIM, noise=True))
def test_n_zero_is_zero_shot(task: fb.LinearTask) -> None:
    zero = float(task.covariance.quadratic_form(task.delta))
    for method in ("deterministic", "monte_carlo"):
        r = expected_risk(task, 0, method)
        assert r.risk == pytest.approx(zero, rel=1e-12, abs=1e-300) and r.variance == 0.0
    assert sample_risk(task, np.zeros((0, task.dim))).risk == pytest.approx(zero, rel=1e-12)
    # k = 0 only; equal up to the grouping of nearly repeated eigenvalues (10·tol = 1e-9 rel.)
    assert head_tail_bound(task, 1).value == pytest.approx(zero, rel=1e-8)
    assert sample_complexity(task, zero, method="deterministic").n == 0


@given(covariances(max_dim=MAX_DIM, isotropic=True), st.data())
def test_isotropic_de_bias_is_exact(cov: fb.Covariance, data: st.DataObject) -> None:
    """Σ = s²I: the DE bias equals s²(1 − n/d)‖Δ‖² exactly (κ = s²(d − n)/n, γ = n/d); the DE
    variance is σ² n/(d − n), the exact one σ² n/(d − n − 1)."""
    task = data.draw(linear_tasks(covariance=cov, noise=True))
    d = task.dim
    n = data.draw(st.integers(0, d + 3))
    de, ex = expected_risk(task, n, "deterministic"), expected_risk(task, n, "isotropic")
    s = _scale(task)
    assert _close(de.bias, ex.bias, s)
    if 0 < n < d and task.noise_variance > 0:
        assert _close(de.variance, task.noise_variance * n / (d - n), s)
        assert de.variance <= ex.variance


@given(covariances(max_dim=MAX_DIM), st.floats(0.1, 3.0))
def test_de_bias_monotone_for_flat_delta(cov: fb.Covariance, c: float) -> None:
    """Δ_i² = c² on every eigen-direction: DE bias = c²·n·κ(n), strictly decreasing in n.
    (For general Δ the bias is NOT monotone; see test_linear_theory.)"""
    delta = cov.eigenvectors @ np.full(cov.dim, c)
    task = fb.LinearTask(cov, np.zeros(cov.dim), delta)
    r = cov.rank
    curve = risk_curve(task, np.arange(0, r + 1), "deterministic")
    assert np.all(np.diff(curve["bias"]) < 0) or r == 0
    if r > 1:
        mid = slice(1, r)
        np.testing.assert_allclose(
            curve["bias"][mid], c * c * curve["n"][mid] * curve["kappa"][mid], rtol=1e-9
        )


@given(linear_tasks(max_dim=MAX_DIM, noise=True), st.floats(0.0, 1.5))
def test_sample_complexity_is_first_hit(task: fb.LinearTask, frac: float) -> None:
    zero = float(task.covariance.quadratic_form(task.delta))
    eps = frac * zero + 1e-3 * frac
    sc = sample_complexity(task, eps, n_max=3 * MAX_DIM + 10, method="deterministic")
    top = sc.n if sc.n is not None else 3 * MAX_DIM + 10
    curve = risk_curve(task, np.arange(0, top + 1), "deterministic")
    level = eps * (1 + 1e-12)
    assert np.all(curve["risk"][:top] > level)
    if sc.reachable:
        assert curve["risk"][top] <= level
        assert sc.risk_at_n == pytest.approx(curve["risk"][top], rel=1e-12)
    else:
        assert curve["risk"][top] > level
