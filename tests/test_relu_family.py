"""The ``relu`` family, its configs and its CLI (spec linear-teachers §4–5)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from finetune_bounds.cli import main
from finetune_bounds.errors import ConfigError, InvalidInputError
from finetune_bounds.families import get_family
from finetune_bounds.relu import (
    MEASURES,
    digits_task,
    simulate_cell,
    simulate_measures,
    theory_curve,
    theory_sample_complexity,
)
from finetune_bounds.relu._family import DEFAULTS, FAMILY, curve_records, task_from_params

CONFIGS = sorted((Path(__file__).parent.parent / "configs").glob("relu_*.toml"))
SMALL = {"d": 8, "n": 10, "width": 200, "n_test": 100, "theory_draws": 2, "n_max": 80}


def _check_rows(rows: list[dict], seeded: bool) -> None:
    for r in rows:
        assert r["source"] in ("theory", "bound", "empirical")
        assert isinstance(r["value"], float) and not math.isnan(r["value"])
        assert ("seed" in r) == seeded
        assert "experiment" not in r and "family" not in r


def test_registered() -> None:
    assert get_family("relu") is FAMILY
    assert FAMILY.name == "relu"


@pytest.mark.parametrize("mode", ["curve", "sample_complexity", "measures"])
def test_modes_produce_valid_records(mode: str) -> None:
    params = FAMILY.resolve({**SMALL, "mode": mode, "instances": 4})
    theory = FAMILY.theory(params, np.random.default_rng(0))
    sim = FAMILY.simulate(params, [np.random.default_rng(i) for i in range(2)])  # type: ignore[misc]
    _check_rows(theory, seeded=False)
    _check_rows(sim, seeded=True)
    if mode == "curve":
        q = {(r["quantity"], r["source"], r.get("method")) for r in theory}
        assert ("mae", "bound", "data_dependent") in q and ("mae", "theory", "ntk_limit") in q
        assert {r["seed"] for r in sim} == {0, 1}
    if mode == "sample_complexity":
        assert sim == [] and all("eps" in r for r in theory)
    if mode == "measures":
        assert theory == [] and any("measure" in r for r in sim)


def test_digits_cell_and_derive() -> None:
    params = FAMILY.resolve({"data": "digits", "n": 10, "width": 100, "n_test": 50,
                             "theory_draws": 1})
    assert params["d"] == 64
    rng = np.random.default_rng(0)
    rows = FAMILY.theory(params, rng) + FAMILY.simulate(params, [rng])  # type: ignore[misc]
    _check_rows([r for r in rows if "seed" not in r], seeded=False)
    direct = FAMILY.resolve({"data": "digits", "labels": "direct", "n": 10, "theory_draws": 1,
                             "n_test": 50})
    rows_direct = FAMILY.theory(direct, np.random.default_rng(0))
    q = {(r["quantity"], r.get("method")) for r in rows_direct}
    assert ("mae", "worst_case") not in q  # the worst-case chain needs linear labels


@pytest.mark.parametrize(
    "cell",
    [{"mode": "nope"}, {"width": 101}, {"data": "mnist"}, {"labels": "x"},
     {"mode": "measures", "data": "digits"}, {"unknown_key": 1}, {"source_task": "odd"},
     {"delta_spread": 0.5}],
)
def test_bad_cells(cell: dict) -> None:
    with pytest.raises(ConfigError):
        FAMILY.resolve(cell)


def test_theory_value_at_n_does_not_depend_on_other_ns() -> None:
    from finetune_bounds.relu import synthetic_task

    task = synthetic_task(6, rng=0)
    one = _by_key(curve_records(theory_curve(task, [12], draws=2, n_test=50)))
    many = _by_key([r for r in curve_records(theory_curve(task, [3, 12, 30], draws=2, n_test=50))
                    if r["n"] == 12])
    assert one.keys() == many.keys()
    for k, v in one.items():
        assert v == pytest.approx(many[k], rel=1e-9, abs=1e-12), k


def test_sample_complexity_fine_tuning_needs_fewer_samples() -> None:
    from finetune_bounds.relu import synthetic_task

    task = synthetic_task(10, source_norm=1.0, delta_norm=0.2, rng=0)
    table = theory_sample_complexity(task, [0.6], n_max=300, draws=1, n_test=100)
    assert table.pretrained.data_dependent[0] < table.scratch.data_dependent[0]
    assert table.pretrained.rate[0] == math.ceil(8 * 0.04 / 0.36)


# ---------------------------------------------------------------------------------------------
# records: the family's rows are exactly the typed results, field by field
# ---------------------------------------------------------------------------------------------
def _by_key(rows: list[dict]) -> dict[tuple, float]:
    """{(every field but value, sorted): value}; fails on two rows with the same fields."""
    out = {tuple(sorted((k, v) for k, v in r.items() if k != "value")): r["value"] for r in rows}
    assert len(out) == len(rows), "two rows with the same fields"
    return out


def _expect(rows: list[dict], q: str, src: str, vals: np.ndarray, **fields: object) -> None:
    """Append one expected row per entry of ``vals``; ``fields`` may hold per-entry lists."""
    for i, v in enumerate(vals):
        f = {k: (x[i] if isinstance(x, list) else x) for k, x in fields.items()}
        rows.append({"quantity": q, "source": src, "value": float(v), **f})


def _assert_same_rows(got: list[dict], expected: list[dict]) -> None:
    g, e = _by_key(got), _by_key(expected)
    assert g.keys() == e.keys(), (sorted(set(g) - set(e))[:3], sorted(set(e) - set(g))[:3])
    for k, v in e.items():
        assert g[k] == v, k  # bit for bit
        assert type(g[k]) is float


def test_curve_rows_are_the_theory_curve() -> None:
    params = FAMILY.resolve({**SMALL, "n": [4, 9]}, axes=("n",))
    rows = FAMILY.theory(params, np.random.default_rng(0))
    curve = theory_curve(task_from_params(params), [4, 9], draws=2, seed=0, n_test=100)
    ns = [4, 9]
    exp: list[dict] = []
    _expect(exp, "lambda_min", "theory", curve.lambda_min, method="exact", n=ns)
    _expect(exp, "mae", "theory", curve.zero_shot, method="zero_shot", n=ns)
    assert curve.complexity_ratio is not None
    _expect(exp, "complexity_ratio", "theory", curve.complexity_ratio, method="data_dependent",
            n=ns)
    for st in ("pretrained", "scratch"):
        c = curve.start(st)
        for q, src, method, vals in (
            ("mae", "theory", "ntk_limit", c.mae), ("mse", "theory", "ntk_limit", c.mse),
            ("complexity", "theory", "data_dependent", c.complexity),
            ("mae", "bound", "data_dependent", c.bound),
            ("complexity", "bound", "worst_case", c.worst_case_complexity),
            ("complexity", "bound", "worst_case_norm", c.worst_case_norm_complexity),
            ("mae", "bound", "worst_case", c.worst_case_bound),
            ("mae", "bound", "worst_case_norm", c.worst_case_norm_bound),
        ):
            assert vals is not None
            _expect(exp, q, src, vals, method=method, n=ns, start=st)
    _expect(exp, "pretrain_error", "theory", [math.sqrt(2 / 200)] * 2, method="binomial", n=ns)
    _assert_same_rows(rows, exp)
    assert len(rows) == 2 * (3 + 2 * 8 + 1)


def test_sample_complexity_rows_are_the_table() -> None:
    params = FAMILY.resolve({**SMALL, "mode": "sample_complexity", "eps": [0.4, 0.7]},
                            axes=("eps",))
    rows = FAMILY.theory(params, np.random.default_rng(0))
    table = theory_sample_complexity(task_from_params(params), [0.4, 0.7], n_max=80, draws=2,
                                     seed=0, n_test=100)
    exp: list[dict] = []
    for st in ("pretrained", "scratch"):
        t = table.start(st)
        assert t.worst_case is not None
        for method, vals in (("data_dependent", t.data_dependent), ("worst_case", t.worst_case),
                             ("rate", t.rate)):
            _expect(exp, "sample_complexity", "bound", vals, method=method, start=st,
                    eps=[0.4, 0.7], n_max=80)
        _expect(exp, "sample_complexity", "theory", t.ntk_limit, method="ntk_limit", start=st,
                eps=[0.4, 0.7], n_max=80)
    _assert_same_rows(rows, exp)


def test_simulate_rows_are_the_cell_measurements() -> None:
    params = FAMILY.resolve({**SMALL, "width": 40, "n_test": 50})
    rows = FAMILY.simulate(params, [np.random.default_rng(i) for i in range(2)])
    cell = simulate_cell(task_from_params(params), 10, 40,
                         [np.random.default_rng(i) for i in range(2)], n_test=50)
    exp: list[dict] = []
    seeds = [0, 1]
    for st, m in cell.starts():
        f = {"n": 10, "width": 40, "seed": seeds, "start": st}
        for q, method, vals in (
            ("mae", "network", m.mae), ("mse", "network", m.mse),
            ("mae", "ntk_limit", m.ntk_limit_mae), ("mse", "ntk_limit", m.ntk_limit_mse),
            ("kernel_gap", "analytic", m.kernel_gap),
            ("kernel_gap", "empirical_ntk", m.kernel_gap_empirical_ntk),
            ("kernel_gap_scaled", "analytic", m.kernel_gap_scaled),
            ("iterations", "gd", m.iterations), ("converged", "gd", m.converged),
        ):
            _expect(exp, q, "empirical", vals, method=method, **f)
        _expect(exp, "bound_ratio", "empirical", m.bound_ratio, **f)
        _expect(exp, "complexity_term_ratio", "empirical", m.complexity_term_ratio, **f)
        if st == "pretrained":
            assert m.pretrain_error is not None
            _expect(exp, "pretrain_error", "empirical", m.pretrain_error, **f)
    _assert_same_rows(rows, exp)
    assert len(rows) == 2 * (12 + 11)


def test_measures_rows_are_the_measures_result() -> None:
    params = FAMILY.resolve({**SMALL, "mode": "measures", "instances": 4, "width": 40,
                             "n_test": 50, "delta_spread": 1.0})
    rows = FAMILY.simulate(params, [np.random.default_rng(i) for i in range(2)])
    res = simulate_measures(8, 10, 40, [np.random.default_rng(i) for i in range(2)],
                            instances=4, n_test=50, delta_range=(0.5, 0.5))
    exp: list[dict] = []
    for i in range(2):
        f = {"seed": i, "n": 10, "width": 40}
        for a, name in enumerate(MEASURES):
            for b, against in enumerate(("mae", "mse")):
                if name in ("delta_norm", "projected"):  # ‖Δ‖ fixed and n > d: P_XΔ = Δ
                    assert not res.defined[i, a, b]  # constant measure: no correlation row
                    continue
                assert res.defined[i, a, b]
                for q in ("spearman", "pearson"):
                    _expect(exp, q, "empirical", [getattr(res, q)[i, a, b]], measure=name,
                            against=against, **f)
        _expect(exp, "bound_ratio_min", "empirical", [res.bound_ratio_min[i]], **f)
        _expect(exp, "bound_ratio_median", "empirical", [res.bound_ratio_median[i]], **f)
    _assert_same_rows(rows, exp)
    assert len(rows) == 2 * (3 * 2 * 2 + 2)


def test_digits_task() -> None:
    task = digits_task("value", "large")
    assert task.dim == 64 and task.linear_labels
    assert np.allclose(np.linalg.norm(task.pool, axis=1), 1.0)  # type: ignore[arg-type]
    assert len(np.unique(task.pool.round(12), axis=0)) == task.pool_size  # type: ignore[union-attr]
    s = task.split(20, 100, np.random.default_rng(0))
    assert s.x.shape == (20, 64) and s.x_test.shape == (100, 64)
    assert not (set(map(tuple, s.x.round(12))) & set(map(tuple, s.x_test.round(12))))
    with pytest.raises(InvalidInputError):
        digits_task("value", "nope")
    with pytest.raises(InvalidInputError):
        task.split(5000, 10, np.random.default_rng(0))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_configs_load_and_resolve(path: Path) -> None:
    from finetune_bounds.sweep import load_config

    cfg = load_config(path)
    assert cfg.family == "relu" and cfg.name == path.stem
    for c in (cfg, cfg.quick()):
        for cell in c.cells():
            FAMILY.resolve({k: v for k, v in cell.items() if k in DEFAULTS}, axes=tuple(c.axes))


@pytest.mark.slow
def test_quick_configs_run_fast() -> None:
    import time

    from finetune_bounds.sweep import load_config, run_sweep

    t0 = time.perf_counter()
    for path in CONFIGS:
        df = run_sweep(load_config(path).quick())
        assert len(df) > 0 and not df["value"].isna().any()
    assert time.perf_counter() - t0 < 60


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------
def test_cli_example_with_training(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "relu.json"
    code = main(["relu", "--example", "synthetic", "--d", "8", "--n", "5", "15", "--train",
                 "--width", "200", "--seeds", "2", "--draws", "2", "--n-test", "100",
                 "--eps", "0.5", "--n-max", "60", "--output", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "NTK limit" in text and "±" in text and "sample complexity" in text
    assert "ntk_limit" not in text and "n* fine-tuned" in text  # labels, not internal ids
    rows = json.loads(out.read_text())
    assert {r["source"] for r in rows} == {"theory", "bound", "empirical"}


def test_cli_teacher_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, tgt, cov = tmp_path / "s.npy", tmp_path / "t.csv", tmp_path / "c.npy"
    np.save(src, np.ones(5) / 5)
    np.savetxt(tgt, np.arange(5) / 10, delimiter=",")
    np.save(cov, np.diag(np.arange(1.0, 6.0)))
    code = main(["relu", "--source", str(src), "--target", str(tgt), "--covariance", str(cov),
                 "--n", "6", "--draws", "1", "--n-test", "50", "--output",
                 str(tmp_path / "o.csv")])
    assert code == 0
    assert (tmp_path / "o.csv").read_text().startswith("family,experiment,quantity")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--source", "S", "--target", "T"], "file not found"),
        (["--source", "S"], "needs --target"),
        (["--source", "S", "--target", "T5"], "must have length 4"),
        (["--example", "synthetic", "--n", "0"], "--n must be"),
        (["--example", "synthetic", "--delta", "2"], "delta"),
        (["--example", "synthetic", "--output", "x.txt"], "output must end"),
        (["--example", "synthetic", "--target", "T"], "go with --source"),
        (["--source", "S", "--target", "NAN"], "NaN"),
    ],
)
def test_cli_bad_input_one_line_exit_2(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {"S": np.ones(4), "T5": np.ones(5), "T": np.ones(4), "NAN": np.array([1, np.nan])}
    real = []
    for a in argv:
        if a in files and (a != "S" or "file not found" not in message):
            p = tmp_path / f"{a}.npy"
            np.save(p, files[a])
            real.append(str(p))
        else:
            real.append(a)
    if "output" in message:
        real = [*real[:-1], str(tmp_path / "x.txt")]
    code = main(["relu", "--draws", "1", "--n-test", "20", "--n", "4", *real]
                if "--n" not in argv else ["relu", "--draws", "1", "--n-test", "20", *real])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and message in err, err


def test_pretrain_error_theory_row_only_for_closed_form_pretraining() -> None:
    """√(2/m) is the binomial error of the closed-form W₀ + 2aθ_Sᵀ/√m only; GD pretraining has a
    different error (≈ half of it at d = 8, m = 200), so no 'theory' row may claim it there."""
    def rows(pre: str) -> list[dict]:
        p = FAMILY.resolve({**SMALL, "theory_draws": 1, "pretrain": pre})
        rows = FAMILY.theory(p, np.random.default_rng(0))
        return [r for r in rows if r["quantity"] == "pretrain_error"]

    closed = rows("closed_form")
    assert len(closed) == 1 and closed[0]["value"] == pytest.approx(math.sqrt(2 / 200))
    assert rows("gd") == []
