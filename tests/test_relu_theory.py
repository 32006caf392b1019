"""ReLU NTK theory (spec linear-teachers §4): every formula against an independent route."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import norm as normal

from finetune_bounds.errors import InvalidInputError, NotReachableError
from finetune_bounds.relu import (
    bound_sample_complexity,
    clipped_abs_loss,
    complexity,
    generalization_bound,
    gram_system,
    kernel_learning_curve,
    kernel_predict,
    normalize_inputs,
    ntk_gram,
    rate_sample_complexity,
    worst_case_complexity,
)


def unit_rows(n: int, d: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


# ---------------------------------------------------------------------------------------------
# Gram matrix
# ---------------------------------------------------------------------------------------------
def _monte_carlo_ntk(x: np.ndarray, m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """K̂_ij = x_iᵀx_j · (1/m) Σ_r 1{w_rᵀx_i > 0}1{w_rᵀx_j > 0}, w_r ~ N(0, I) i.i.d."""
    w = np.random.default_rng(seed).standard_normal((m, x.shape[1]))
    s = (x @ w.T > 0).astype(np.float64)
    p_hat = s @ s.T / m
    return (x @ x.T) * p_hat, p_hat


def _mc_inputs() -> np.ndarray:
    x = unit_rows(8, 5, 3)
    # special pairs: nearly parallel, antipodal, orthogonal
    near = x[0] + 1e-3 * unit_rows(1, 5, 4)[0]
    ortho = x[1] - (x[1] @ x[2]) * x[2]
    extra = np.stack([near / np.linalg.norm(near), -x[1], ortho / np.linalg.norm(ortho)])
    return np.concatenate([x, extra])


def test_gram_matches_monte_carlo_within_standard_error() -> None:
    x = _mc_inputs()
    m = 200_000
    h = ntk_gram(x)
    k_hat, _ = _monte_carlo_ntk(x, m, seed=11)
    # per entry: x_iᵀx_j times a Bernoulli mean with p = (π − θ)/(2π) (the exact value under
    # test), so stderr = |x_iᵀx_j|·√(p(1 − p)/m). n(n+1)/2 = 66 entries; Bonferroni at
    # family-wise level 1e-3 gives z = Φ⁻¹(1 − 1e-3/(2·66)) ≈ 4.3.
    cos = np.clip(x @ x.T, -1, 1)
    p = (np.pi - np.arccos(cos)) / (2 * np.pi)
    se = np.abs(cos) * np.sqrt(p * (1 - p) / m)
    n_entries = x.shape[0] * (x.shape[0] + 1) // 2
    z = normal.ppf(1 - 1e-3 / (2 * n_entries))
    err = np.abs(k_hat - h)
    assert np.all(err <= z * se + 1e-12), float(np.max(err / (se + 1e-300)))
    # and the test has power: the wrong normalisation θ/(2π) ↔ (π − θ)/π is rejected
    wrong = cos * (np.pi - np.arccos(cos)) / np.pi
    assert np.any(np.abs(k_hat - wrong) > z * se + 1e-12)
    wrong_sign = cos * (np.arccos(cos)) / (2 * np.pi)
    assert np.any(np.abs(k_hat - wrong_sign) > z * se + 1e-12)


def test_gram_special_values_and_arcsin_form() -> None:
    e = np.eye(3)
    h = ntk_gram(np.concatenate([e, -e[:1]]))
    assert h[0, 0] == pytest.approx(0.5)  # x = z: 1·π/(2π)
    assert h[0, 1] == 0.0  # orthogonal
    assert h[0, 3] == pytest.approx(0.0, abs=1e-15)  # antipodal: −1·(π − π)/(2π)
    x = unit_rows(30, 7, 1)
    g = np.clip(x @ x.T, -1, 1)
    assert np.allclose(ntk_gram(x), g * (0.25 + np.arcsin(g) / (2 * np.pi)), atol=1e-14)
    assert np.allclose(ntk_gram(x, x[:4]), ntk_gram(x)[:, :4])


@given(
    n=st.integers(1, 25),
    d=st.integers(1, 12),
    seed=st.integers(0, 2**31),
)
def test_gram_dominates_linear_part(n: int, d: int, seed: int) -> None:
    """H ⪰ XXᵀ/4 (Schur product theorem on the arcsin part), for any n, d, rank."""
    x = unit_rows(n, d, seed)
    diff = ntk_gram(x) - x @ x.T / 4
    assert np.linalg.eigvalsh(diff)[0] >= -1e-12
    assert np.linalg.eigvalsh(ntk_gram(x))[0] >= -1e-12


def test_cosine_clipping_rounding_outside_unit_interval() -> None:
    x = np.array([[1.0, 0.0], [1.0 + 1e-9, 0.0]])  # within the unit tolerance, cos > 1
    h = ntk_gram(x)
    assert np.all(np.isfinite(h))
    assert h[0, 1] == pytest.approx(0.5, rel=1e-8)


def test_arccos_kernel_in_place_equals_the_expression_bit_for_bit() -> None:
    from finetune_bounds.relu import theory

    rng = np.random.default_rng(0)
    for shape in [(30, 40), (0, 3), (7,), (300, 250)]:  # the last spans several blocks
        cos = rng.uniform(-1.1, 1.1, shape)  # some outside [−1, 1]
        c = np.clip(cos, -1.0, 1.0)
        ref = c * (np.pi - np.arccos(c)) / (2.0 * np.pi)  # the expression it replaced
        kept = cos.copy()
        out = theory._arccos_kernel(cos)
        np.testing.assert_array_equal(out, ref)
        assert out.dtype == np.float64 and out.shape == shape
        np.testing.assert_array_equal(cos, kept)  # the input is untouched
    np.testing.assert_array_equal(theory._arccos_kernel(cos.T), ref.T)  # non-contiguous
    c32 = np.clip(cos.astype(np.float32), -1.0, 1.0)
    out32 = theory._arccos_kernel(cos.astype(np.float32))
    assert out32.dtype == np.float32
    np.testing.assert_array_equal(out32, c32 * (np.pi - np.arccos(c32)) / (2.0 * np.pi))
    assert theory._KERNEL_BLOCK < cos.size


# ---------------------------------------------------------------------------------------------
# complexity, worst case, bound
# ---------------------------------------------------------------------------------------------
def test_complexity_against_direct_solve() -> None:
    x = unit_rows(40, 10, 2)
    r = np.random.default_rng(3).standard_normal(40)
    c = complexity(x, r)
    assert c.value == pytest.approx(float(r @ np.linalg.solve(ntk_gram(x), r)), rel=1e-10)
    assert c.lambda_min == pytest.approx(np.linalg.eigvalsh(ntk_gram(x))[0], rel=1e-10)
    assert c.ridge == 0.0 and c.n == 40


@given(
    n=st.integers(1, 40),
    d=st.integers(2, 30),
    seed=st.integers(0, 2**31),
)
def test_worst_case_chain(n: int, d: int, seed: int) -> None:
    """rᵀH⁻¹r ≤ 4‖P_XΔ‖² ≤ 4‖Δ‖² for r = XΔ, any n and rank of X (spec §4)."""
    x = unit_rows(n, d, seed)
    delta = np.random.default_rng(seed + 1).standard_normal(d)
    try:
        wc = worst_case_complexity(x, delta)
    except InvalidInputError:  # two random rows numerically parallel: not the claim under test
        return
    assert wc.holds
    assert wc.data_dependent <= wc.projected * (1 + 1e-9)
    assert wc.projected <= wc.euclidean * (1 + 1e-9)
    assert 0 <= wc.ratio <= 4 * (1 + 1e-9)


def test_worst_case_ratio_regimes() -> None:
    """Typical ratio ≈ 2 for n ≪ d, → 4 as n/rank X grows (spec §4)."""
    delta = np.random.default_rng(0).standard_normal(400)
    small = worst_case_complexity(unit_rows(5, 400, 1), delta)
    # n ≪ d: H ≈ (XXᵀ + I)/4 with XXᵀ ≈ I, so rᵀH⁻¹r ≈ 2‖P_XΔ‖² up to O(√(n/d))
    assert 1.8 <= small.ratio <= 2.2
    delta5 = np.random.default_rng(0).standard_normal(5)
    big = worst_case_complexity(unit_rows(400, 5, 1), delta5)
    assert 3.8 <= big.ratio <= 4.0
    assert big.rank == 5


def test_projector_is_rank_aware() -> None:
    """Rank-deficient X (n > rank): 4‖P_XΔ‖² uses the row space, not (XXᵀ)⁻¹."""
    base = unit_rows(3, 6, 0)
    mix = np.random.default_rng(1).standard_normal((10, 3))
    x = normalize_inputs(mix @ base)  # rows in a 3-dimensional subspace
    delta = np.random.default_rng(2).standard_normal(6)
    wc = worst_case_complexity(x, delta)
    q, _ = np.linalg.qr(base.T)
    assert wc.rank == 3
    assert wc.projected == pytest.approx(4 * float(np.sum((q.T @ delta) ** 2)), rel=1e-9)
    assert wc.holds


def test_bound_formula() -> None:
    x = unit_rows(30, 8, 4)
    r = np.random.default_rng(5).standard_normal(30) * 0.1
    b = generalization_bound(x, r, delta=0.1, constant=2.0)
    h = ntk_gram(x)
    c = float(r @ np.linalg.solve(h, r))
    lam0 = float(np.linalg.eigvalsh(h)[0])
    expected = math.sqrt(2 * c / 30) + 2.0 * math.sqrt(math.log(30 / (lam0 * 0.1)) / 30)
    assert b.value == pytest.approx(expected, rel=1e-10)
    assert b.complexity_term + b.confidence_term == pytest.approx(b.value)
    assert b.vacuous == (b.value >= 1)
    assert generalization_bound(x, r, constant=0).value == pytest.approx(math.sqrt(2 * c / 30))


# ---------------------------------------------------------------------------------------------
# kernel prediction and learning curves
# ---------------------------------------------------------------------------------------------
def test_kernel_prediction_interpolates_and_matches_solve() -> None:
    x = unit_rows(25, 6, 6)
    xt = unit_rows(50, 6, 7)
    y = np.random.default_rng(8).standard_normal(25)
    off = np.random.default_rng(9).standard_normal(25)
    off_t = np.random.default_rng(10).standard_normal(50)
    pred = kernel_predict(x, y - off, xt, offset_test=off_t)
    direct = off_t + ntk_gram(xt, x) @ np.linalg.solve(ntk_gram(x), y - off)
    assert np.allclose(pred.prediction, direct, atol=1e-10)
    at_train = kernel_predict(x, y - off, x, offset_test=off)
    assert np.allclose(at_train.prediction, y, atol=1e-8)  # interpolation


def test_finite_step_prediction_matches_iterated_kernel_gd() -> None:
    """α_{k+1} = α_k + η(r − Hα_k) (kernel-regime GD on the sum loss) vs the closed form."""
    x = unit_rows(20, 5, 1)
    r = np.random.default_rng(2).standard_normal(20)
    h = ntk_gram(x)
    eta = 1.0 / np.linalg.eigvalsh(h)[-1]
    alpha = np.zeros(20)
    for _ in range(37):
        alpha = alpha + eta * (r - h @ alpha)
    pred = kernel_predict(x, r, x, steps=37, lr=eta)
    assert np.allclose(pred.coefficients, alpha, atol=1e-10)
    assert np.allclose(pred.train_residual, r - h @ alpha, atol=1e-10)
    eta_big = 1.9 / np.linalg.eigvalsh(h)[-1]  # 1 ≤ ηλ < 2 branch
    alpha = np.zeros(20)
    for _ in range(5):
        alpha = alpha + eta_big * (r - h @ alpha)
    assert np.allclose(kernel_predict(x, r, x, steps=5, lr=eta_big).coefficients, alpha)


def test_nested_learning_curve_matches_prefix_solves() -> None:
    x = unit_rows(60, 8, 3)
    xt = unit_rows(40, 8, 4)
    theta = np.random.default_rng(5).standard_normal(8) / 3
    y, yt = x @ theta, xt @ theta
    curve = kernel_learning_curve(x, y, xt, yt, ns=np.array([1, 7, 30, 60]))
    for k, n in enumerate(curve.n):
        p = kernel_predict(x[:n], y[:n], xt).prediction
        assert curve.mae[k] == pytest.approx(np.mean(clipped_abs_loss(p, yt)), rel=1e-8)
        assert curve.mse[k] == pytest.approx(np.mean((p - yt) ** 2), rel=1e-8)
        assert curve.complexity[k] == pytest.approx(complexity(x[:n], y[:n]).value, rel=1e-8)
    assert curve.first_below(np.inf) == 1
    assert curve.first_below(-1.0) is None


def test_bound_sample_complexity_brute_force() -> None:
    x = unit_rows(120, 6, 9)
    r = x @ (np.random.default_rng(1).standard_normal(6) * 0.1)
    eps = 0.9
    bounds = [generalization_bound(x[:n], r[:n]).value for n in range(1, 121)]
    first = next(n for n, b in zip(range(1, 121), bounds, strict=True) if b <= eps)
    res = bound_sample_complexity(x, r, eps)
    assert res.reachable and res.n == first
    assert res.bound_at_n == pytest.approx(bounds[first - 1])
    wc = bound_sample_complexity(x, r, eps, worst_case_norm2=0.5)
    assert wc.route == "worst_case" and (wc.n is None or wc.n >= first)
    none = bound_sample_complexity(x, r, 0.01)
    assert not none.reachable and none.n is None and "never" in none.reason
    with pytest.raises(NotReachableError):
        bound_sample_complexity(x, r, 0.01, strict=True)


def test_rate_sample_complexity() -> None:
    assert rate_sample_complexity(0.25, 0.5) == 8
    assert rate_sample_complexity(1.0, 0.1) == 800
    assert rate_sample_complexity(0.0, 0.1) == 1


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------
def test_non_unit_inputs_need_the_flag() -> None:
    x = unit_rows(5, 3, 0) * 2.0
    with pytest.raises(InvalidInputError, match="unit-norm"):
        ntk_gram(x)
    assert np.allclose(ntk_gram(x, normalize=True), ntk_gram(x / 2.0))
    with pytest.raises(InvalidInputError, match="zero row"):
        ntk_gram(np.zeros((2, 3)), normalize=True)


def test_nan_and_shape_errors() -> None:
    x = unit_rows(5, 3, 0)
    bad = x.copy()
    bad[1, 1] = np.nan
    with pytest.raises(InvalidInputError, match="non-finite"):
        ntk_gram(bad)
    with pytest.raises(InvalidInputError, match="one entry per input"):
        complexity(x, np.ones(4))
    with pytest.raises(InvalidInputError, match="non-finite"):
        complexity(x, [1, 2, np.nan, 4, 5])
    with pytest.raises(InvalidInputError, match="same dimension"):
        ntk_gram(x, unit_rows(2, 4, 0))
    with pytest.raises(InvalidInputError, match="columns"):
        kernel_predict(x, np.ones(5), unit_rows(2, 4, 0))
    with pytest.raises(InvalidInputError, match="delta"):
        generalization_bound(x, np.ones(5), delta=1.5)
    with pytest.raises(InvalidInputError, match="step size"):
        kernel_predict(x, np.ones(5), x, steps=3)
    with pytest.raises(InvalidInputError, match="whole number"):
        kernel_predict(x, np.ones(5), x, steps=2.5, lr=0.1)
    with pytest.raises(InvalidInputError, match="diverges"):
        kernel_predict(x, np.ones(5), x, steps=3, lr=10.0)


def test_singular_gram_raises_or_is_regularised_explicitly() -> None:
    x = unit_rows(5, 3, 0)
    dup = np.concatenate([x, x[:1]])  # a repeated input: H singular
    with pytest.raises(InvalidInputError, match="singular"):
        gram_system(dup)
    with pytest.raises(InvalidInputError, match="singular"):
        complexity(dup, np.ones(6))
    with pytest.raises(InvalidInputError, match="singular"):
        kernel_learning_curve(dup, np.ones(6), x, np.ones(5))
    sys_ = gram_system(dup, ridge=1e-3)
    assert sys_.ridge == 1e-3 and sys_.lambda_min == pytest.approx(0.0, abs=1e-12)
    c = complexity(sys_, np.ones(6))
    assert c.ridge == 1e-3 and math.isfinite(c.value)
    assert generalization_bound(sys_, np.ones(6)).ridge == 1e-3


def test_seeds_are_validated_and_default_is_reproducible() -> None:
    """Regression: rng=None drew an unseeded task; negative/fractional seeds escaped as numpy
    ValueError/TypeError instead of InvalidInputError."""
    from finetune_bounds.relu import synthetic_task
    from finetune_bounds.relu.theory import theory_curve

    np.testing.assert_array_equal(synthetic_task(5, rng=None).target,
                                  synthetic_task(5, rng=None).target)
    with pytest.raises(InvalidInputError, match="seed"):
        synthetic_task(5, rng=-1)
    task = synthetic_task(5)
    for bad in (-1, 2.5):
        with pytest.raises(InvalidInputError, match="seed"):
            theory_curve(task, [3], draws=2, seed=bad, n_test=10)  # type: ignore[arg-type]


@pytest.mark.parametrize("ridge", [float("nan"), float("inf"), -0.1])
def test_task_drivers_validate_ridge(ridge: float) -> None:
    """Regression: NaN/inf ridges escaped as numpy/math ValueError from the task drivers."""
    from finetune_bounds.relu import synthetic_task
    from finetune_bounds.relu.theory import theory_curve, theory_sample_complexity

    task = synthetic_task(5)
    with pytest.raises(InvalidInputError, match="ridge"):
        theory_curve(task, [3, 6], draws=2, n_test=10, ridge=ridge)
    with pytest.raises(InvalidInputError, match="ridge"):
        theory_sample_complexity(task, [0.5], n_max=20, draws=1, n_test=10, ridge=ridge)


# ---------------------------------------------------------------------------------------------
# task-level results: TheoryCurve and SampleComplexityTable against the per-design functions
# ---------------------------------------------------------------------------------------------
def _draw(seed: int, i: int = 0) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed).spawn(i + 1)[i])


def test_theory_curve_one_draw_matches_the_design_functions() -> None:
    from finetune_bounds.relu import StartCurve, TheoryCurve, synthetic_task, theory_curve

    task = synthetic_task(6, delta_norm=0.4, rng=3)
    ns = [4, 9, 15]
    curve = theory_curve(task, ns, draws=1, seed=5, n_test=40)
    assert isinstance(curve, TheoryCurve) and isinstance(curve.pretrained, StartCurve)
    assert curve.draws == 1 and curve.linear_labels and list(curve.n) == ns
    s = task.nested_split(15, 40, _draw(5))
    for name, resid, off, vec in (
        ("pretrained", s.y - s.source, s.source_test, task.delta),
        ("scratch", s.y, np.zeros_like(s.y_test), task.target),
    ):
        c = curve.start(name)
        assert c.worst_case_complexity is not None and c.worst_case_norm_bound is not None
        for j, n in enumerate(ns):
            b = generalization_bound(s.x[:n], resid[:n])
            wc = worst_case_complexity(s.x[:n], vec)
            pred = kernel_predict(s.x[:n], resid[:n], s.x_test, offset_test=off)
            assert c.complexity[j] == pytest.approx(b.complexity, rel=1e-9)
            assert c.bound[j] == pytest.approx(b.value, rel=1e-9)
            assert c.mae[j] == pytest.approx(clipped_abs_loss(pred.prediction, s.y_test).mean(),
                                             rel=1e-9)
            assert c.worst_case_complexity[j] == pytest.approx(wc.projected, rel=1e-9)
            assert c.worst_case_norm_bound[j] == pytest.approx(
                math.sqrt(2 * wc.euclidean / n) + b.confidence_term, rel=1e-9)
            if name == "pretrained":
                assert curve.complexity_ratio is not None
                assert curve.complexity_ratio[j] == pytest.approx(wc.ratio, rel=1e-9)
                assert curve.lambda_min[j] == pytest.approx(b.lambda_min, rel=1e-9, abs=1e-12)
    zero_shot = clipped_abs_loss(s.source_test, s.y_test).mean()
    np.testing.assert_allclose(curve.zero_shot, zero_shot, rtol=1e-12)


def test_theory_curve_is_the_mean_over_draws_and_empty_without_n() -> None:
    from finetune_bounds.relu import synthetic_task, theory_curve

    task = synthetic_task(5, rng=1)
    both = theory_curve(task, [6, 10], draws=2, seed=2, n_test=30)
    assert both.draws == 2
    # draw i is child i of SeedSequence(seed), whatever the number of draws
    first = theory_curve(task, [6, 10], draws=1, seed=2, n_test=30)
    s = task.nested_split(10, 30, _draw(2, 1))
    second = kernel_learning_curve(s.x, s.y - s.source, s.x_test, s.y_test,
                                   offset_test=s.source_test, ns=np.array([6, 10]))
    np.testing.assert_allclose(both.pretrained.mae, (first.pretrained.mae + second.mae) / 2,
                               rtol=1e-12)
    empty = theory_curve(task, [], draws=2)
    assert empty.n.size == 0 and empty.draws == 0 and empty.pretrained.mae.size == 0


def test_theory_curve_without_linear_labels_has_no_worst_case() -> None:
    from finetune_bounds.relu import digits_task, theory_curve

    curve = theory_curve(digits_task("value", "parity", labels="direct"), [5], draws=1,
                         n_test=20)
    assert not curve.linear_labels and curve.complexity_ratio is None
    for c in (curve.pretrained, curve.scratch):
        assert c.worst_case_complexity is None and c.worst_case_bound is None
        assert c.mae.shape == c.bound.shape == (1,)


def test_theory_sample_complexity_matches_the_design_functions() -> None:
    from finetune_bounds.relu import SampleComplexityTable, synthetic_task
    from finetune_bounds.relu.theory import theory_sample_complexity

    task = synthetic_task(6, delta_norm=0.3, rng=0)
    eps = [0.5, 0.8]
    table = theory_sample_complexity(task, eps, n_max=80, draws=1, seed=4, n_test=40)
    assert isinstance(table, SampleComplexityTable) and table.linear_labels
    assert list(table.eps) == eps and table.n_max == 80 and table.draws == 1
    s = task.nested_split(80, 40, _draw(4))
    for name, resid, vec in (("pretrained", s.y - s.source, task.delta),
                             ("scratch", s.y, task.target)):
        t = table.start(name)
        assert t.worst_case is not None
        for j, e in enumerate(eps):
            dd = bound_sample_complexity(s.x, resid, e)
            assert t.data_dependent[j] == (dd.n if dd.reachable else math.inf)
            wc = bound_sample_complexity(s.x, resid, e, worst_case_norm2=float(vec @ vec))
            assert t.worst_case[j] == (wc.n if wc.reachable else math.inf)
            assert t.rate[j] == rate_sample_complexity(float(vec @ vec), e)
    empty = theory_sample_complexity(task, [])
    assert empty.eps.size == 0 and empty.pretrained.rate.size == 0
