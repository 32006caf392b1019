"""``finetune_bounds.sample_complexity`` and ``finetune-bounds samples``: the one call and the one
command that answer n*(ε) per model and route, checked against closed special cases and against
trained models."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import finetune_bounds as fb
from finetune_bounds.cli import main as cli_main
from finetune_bounds.testing import linear_tasks


def _task(d: int = 40, noise: float = 0.0, seed: int = 0) -> fb.LinearTask:
    rng = np.random.default_rng(seed)
    cov = fb.Covariance.from_spectrum(1.0 / np.arange(1, d + 1) ** 0.8)
    src = rng.standard_normal(d) / math.sqrt(d)
    return fb.LinearTask(cov, source=src, target=src + 0.4 * rng.standard_normal(d) / math.sqrt(d),
                         noise_variance=noise)


def test_isotropic_theory_is_the_closed_form_and_trained_models_agree() -> None:
    """Σ = I, n ≤ d: E[B] = (1 − n/d)‖Δ‖² (spec §2.3), so n* = ⌈d(1 − ε/‖Δ‖²)⌉ exactly. The
    trained route (closed-form GD limits, 200 seeds) reads n* off the mean: the per-seed bias
    ‖Δ‖²·Beta((d − n)/2, n/2) has sd ≤ 0.15‖Δ‖² at d = 50, so the mean's s.e. is ≤ 0.011‖Δ‖²
    against a slope of ‖Δ‖²/d = 0.02‖Δ‖² per sample: ±0.55 in n; we allow ±3 (5 s.e.)."""
    d = 50
    rng = np.random.default_rng(1)
    delta = rng.standard_normal(d)
    delta *= 1.0 / np.linalg.norm(delta)  # ‖Δ‖² = 1
    src = rng.standard_normal(d)
    task = fb.LinearTask(fb.Covariance.from_spectrum(np.ones(d)), source=src, target=src + delta)
    eps = [0.7, 0.3]
    ans = fb.sample_complexity(task, eps, routes=("theory",), trained=200, rng=3)
    for e in eps:
        exact = math.ceil(d * (1 - e) - 1e-9)
        assert ans.get("linear", "theory", eps=e).n == exact
        trained = ans.get("linear", "trained", eps=e)
        assert trained.n is not None and abs(trained.n - exact) <= 3
        assert trained.seeds == 200 and trained.curve  # the curve it was read from
        # from scratch: the same formula with θ_T in place of Δ
        scratch = ans.get("linear", "theory", start="scratch", eps=e)
        t2 = float(task.target @ task.target)
        assert scratch.n == min(math.ceil(d * (1 - e / t2) - 1e-9), d)
        assert ans.saving("linear", eps=e) == pytest.approx(scratch.n / exact)


def test_linear_routes_are_the_family_functions() -> None:
    task = _task(noise=0.01)
    ans = fb.sample_complexity(task, [0.05, 0.02], model="linear")
    for e in (0.05, 0.02):
        direct = fb.linear.sample_complexity(task, e, rng=0)
        got = ans.get("linear", "theory", eps=e)
        assert (got.n, got.method) == (direct.n, direct.method)
        scratch = fb.LinearTask(task.covariance, source=np.zeros(task.dim), target=task.target,
                                noise_variance=0.01)
        assert ans.get(start="scratch", eps=e).n == fb.linear.sample_complexity(scratch, e).n
        # the guaranteed route never promises fewer samples than the exact theory needs
        bound = ans.get("linear", "bound", eps=e)
        assert bound.n is None or got.n is None or bound.n >= got.n
        # rates: the first n where the rate is ≤ ε (and n − 1 is not)
        for method, fn in (("benign", fb.linear.benign_bound),
                           ("head_tail", fb.linear.head_tail_bound)):
            r = ans.get("linear", "rate", eps=e, method=method)
            assert r.n is not None and fn(task, r.n).value <= e
            assert r.n == 1 or fn(task, r.n - 1).value > e


def test_noisy_bound_is_the_exact_variance_tail() -> None:
    d, s2 = 20, 0.5
    task = fb.LinearTask(fb.Covariance.from_spectrum(np.linspace(1, 2, d)), source=np.ones(d),
                         target=np.ones(d), noise_variance=s2)
    a = fb.sample_complexity(task, 0.1, routes=("bound",)).get(route="bound")
    # E[V] = σ² d/(n − d − 1) ≤ 0.1  ⇔  n ≥ d + 1 + σ² d / 0.1 = 121
    assert a.n == 121 and a.error == pytest.approx(s2 * d / (121 - d - 1))


def test_deep_linear_depth_one_matches_linear_theory() -> None:
    """L = 1 Monte Carlo (200 designs) against the linear DE/MC answer: the curves cross ε at
    n within 10 % of each other (the DE is within ~2 % in risk, the MC s.e. ~1 %)."""
    task = _task(d=60)
    ans = fb.sample_complexity(task, [0.02], model=["linear", "deep-linear:1"],
                               routes=("theory",))
    lin = ans.get("linear", eps=0.02).n
    deep = ans.get("deep-linear:1", eps=0.02).n
    assert lin is not None and deep is not None
    assert abs(lin - deep) <= max(2, 0.1 * lin)


def test_deep_linear_noise_and_zero_source_are_explained_not_raised() -> None:
    noisy = fb.sample_complexity(_task(noise=0.1), 0.05, model="deep-linear:2")
    a = noisy.get("deep_linear:2", "theory")
    assert not a.available and "noiseless" in a.reason
    zero = fb.LinearTask(fb.Covariance.from_spectrum(np.ones(5)), source=np.zeros(5),
                         target=np.ones(5))
    z = fb.sample_complexity(zero, 0.05, model="deep-linear:3")
    assert not z.get("deep_linear:3").available and any("saddle" in n for n in z.notes)


def test_relu_rate_is_the_closed_form() -> None:
    task = _task(d=10)
    ans = fb.sample_complexity(task, [0.5, 0.2], model="relu", routes=("rate",))
    for e in (0.5, 0.2):
        for start, v in (("pretrained", task.delta), ("scratch", task.target)):
            assert ans.get("relu", "rate", start=start, eps=e).n == max(
                1, math.ceil(8 * float(v @ v) / e**2 - 1e-12))


def test_relu_theory_is_an_integer_median_over_designs() -> None:
    from finetune_bounds._samples import _design_seed

    task = _task(d=10)
    ans = fb.sample_complexity(task, [0.05], model="relu", routes=("theory",), n_max=200,
                               draws=3)
    a = ans.get("relu", "theory")
    per = [fb.relu.theory_sample_complexity(
        fb.relu.ReluTask.from_teachers(task.source, task.target,
                                       covariance=task.covariance.matrix),
        [0.05], n_max=200, draws=1, seed=_design_seed(0, i)).pretrained.ntk_limit[0]
        for i in range(3)]
    assert a.n == (math.ceil(float(np.median(per))) if np.all(np.isfinite(per)) else None)
    assert isinstance(a.n, int | type(None))


@settings(max_examples=15)
@given(task=linear_tasks(min_dim=2, max_dim=8), e1=st.floats(1e-3, 1.0),
       e2=st.floats(1e-3, 1.0))
def test_smaller_eps_never_needs_fewer_samples(task: fb.LinearTask, e1: float, e2: float) -> None:
    lo, hi = sorted((e1, e2))
    ans = fb.sample_complexity(task, [lo, hi], routes=("bound", "rate"))
    for route, method in (("bound", "naive"), ("rate", "benign"), ("rate", "head_tail")):
        a, b = (ans.get(route=route, eps=e, method=method) for e in (lo, hi))
        if a.n is not None:
            assert b.n is not None and b.n <= a.n


@settings(max_examples=10)
@given(task=linear_tasks(min_dim=2, max_dim=8))
def test_source_equal_target_needs_no_samples(task: fb.LinearTask) -> None:
    same = fb.LinearTask(task.covariance, source=task.target, target=task.target)
    a = fb.sample_complexity(same, 1e-6, routes=("theory",)).get()
    assert a.n == 0


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"model": "deep-linear"}, "needs a depth"),
        ({"model": "deep-linear:0"}, "depth"),
        ({"model": "deep-linear:2.5"}, "integer"),
        ({"model": "cnn"}, "unknown model"),
        ({"model": "linear:3"}, "only deep-linear"),
        ({"model": []}, "at least one"),
        ({"routes": ("theory", "oracle")}, "unknown"),
        ({"trained": -1}, "trained"),
        ({"n_max": 0}, "n_max"),
    ],
)
def test_bad_arguments_raise_typed_errors(kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(fb.InvalidInputError, match=needle):
        fb.sample_complexity(_task(d=5), 0.1, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("eps", [0.0, -1.0, math.nan, math.inf, [], "a"])
def test_bad_eps(eps: object) -> None:
    with pytest.raises(fb.InvalidInputError):
        fb.sample_complexity(_task(d=5), eps)  # type: ignore[arg-type]


def test_problem_must_be_a_task() -> None:
    with pytest.raises(fb.InvalidInputError, match="LinearTask"):
        fb.sample_complexity(np.eye(3), 0.1)  # type: ignore[arg-type]


def test_frame_is_the_long_tidy_schema() -> None:
    ans = fb.sample_complexity(_task(d=10), [0.1, 0.05], model=["linear", "deep-linear:2"])
    f = ans.frame()
    for col in ("model", "quantity", "source", "method", "start", "eps", "mean", "stderr",
                "count"):
        assert col in f.columns
    assert set(f["quantity"]) == {"sample_complexity", "saving"}
    assert set(f["source"]) <= set(fb.SOURCES)
    assert "n/a" not in ans.table() or "deep_linear:2 bound" in ans.table()


def _files(folder: Path, d: int = 12) -> list[str]:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((d, d))
    np.save(folder / "S.npy", a @ a.T / d + 0.1 * np.eye(d))
    s = rng.standard_normal(d) / math.sqrt(d)
    np.save(folder / "s.npy", s)
    np.savetxt(folder / "t.csv", s + 0.3 * rng.standard_normal(d) / math.sqrt(d),
               delimiter=",")
    return ["--covariance", str(folder / "S.npy"), "--source", str(folder / "s.npy"),
            "--target", str(folder / "t.csv")]


def test_cli_prints_the_table_and_writes_json_with_null(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "answer.json"
    argv = ["samples", *_files(tmp_path), "--eps", "0.1", "0.05", "--model", "linear",
            "deep-linear:2", "--trained", "2", "--no-progress", "--output", str(out)]
    assert cli_main(argv) == 0
    text = capsys.readouterr().out
    for needle in ("theory", "bound (naive, guaranteed)", "rate (benign, C = 1)",
                   "trained (closed form)", "trained (GD)", "saving", "deep_linear:2"):
        assert needle in text
    raw = out.read_text()
    assert "NaN" not in raw and '"nan"' not in raw
    rows = json.loads(raw)
    assert {"mean", "stderr", "count", "eps", "model", "source"} <= set(rows[0])


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--model", "deep-linear"], "needs a depth"),
        (["--eps", "0"], "--eps"),
        (["--trained", "x"], "--trained"),
        (["--routes", "theory,oracle"], "oracle"),
    ],
)
def test_cli_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], needle: str
) -> None:
    argv = ["samples", *_files(tmp_path), "--eps", "0.1", "--no-progress", *extra]
    assert cli_main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0] and "Traceback" not in err[0]


# ---------------------------------------------------------------------- the sweep family
def test_family_rows_are_the_one_call() -> None:
    """The ``sample_complexity`` family's deterministic routes (bound, rates) equal a direct
    call on the same task; the trained rows come from ``simulate`` (seed 0, one per ε and
    start); routes that do not apply emit no row."""
    from finetune_bounds.linear._family import build_task

    params = {"d": 16, "n_max": 40, "spectrum": "power_law"}
    run = fb.run("sample_complexity", params=params, grid={"model": ["linear", "deep_linear:2"]},
                 axes={"eps": [0.2, 0.1]}, seeds=2)
    assert not run.failures
    f = run.frame
    assert set(f["quantity"]) == {"sample_complexity"}
    task = build_task({**fb.get_family("sample_complexity").resolve(params), "design": "gaussian"})
    ans = fb.sample_complexity(task, [0.2, 0.1], routes=("bound", "rate"), n_max=40)
    lin = f[(f["model"] == "linear") & (f["source"] == "bound")]
    for _, row in lin.iterrows():
        a = ans.get("linear", "bound" if row["method"] == "naive" else "rate",
                    start=row["start"], eps=row["eps"], method=row["method"])
        assert row["value"] == (math.inf if a.n is None else a.n)
    deep = f[f["model"] == "deep_linear:2"]
    assert set(deep["source"]) == {"theory", "empirical"}  # no bound or rate at depth 2
    emp = f[f["source"] == "empirical"]
    assert set(emp["seed"]) == {0} and len(emp) == 2 * 2 * 2  # models × ε × starts
    th = f[(f["source"] == "theory") & (f["model"] == "linear")]
    assert set(th["method"]) == {"auto"}


def test_family_config_and_report_answer_first() -> None:
    from finetune_bounds.report.answer import answer_order, experiment_answer
    from finetune_bounds.sweep import example_configs, load_config

    path = next(p for p in example_configs() if p.name == "sample_complexity.toml")
    full, quick = load_config(path), load_config(path).quick()
    assert len(full.cell_specs()) == 6 and len(quick.cell_specs()) == 6  # both tasks (figures)
    frame = fb.run("sample_complexity", params={"d": 20, "n_max": 40},
                   axes={"eps": [0.3, 0.1]}).frame.assign(experiment="sc",
                                                          family="sample_complexity")
    ans = experiment_answer(frame, family="sample_complexity")
    assert ans.tabulated and ans.eps == (0.1, 0.3)
    theory = next(r for r in ans.rows if r.source == "theory" and r.start == "pretrained")
    assert theory.saving  # against the scratch row of the same route
    other = experiment_answer(frame.iloc[:0], experiment="x", family="linear")
    assert answer_order([other, ans])[0] is ans


def test_family_rejects_bad_models_at_load() -> None:
    with pytest.raises(fb.ConfigError, match="model"):
        fb.run("sample_complexity", params={"model": "deep_linear"})
