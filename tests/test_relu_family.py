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
from finetune_bounds.relu import digits_task, theory_curve, theory_sample_complexity
from finetune_bounds.relu._family import DEFAULTS, FAMILY

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
    one = {(r["quantity"], r["source"], r["method"]): r["value"]
           for r in theory_curve(task, [12], draws=2, n_test=50)}
    many = {(r["quantity"], r["source"], r["method"]): r["value"]
            for r in theory_curve(task, [3, 12, 30], draws=2, n_test=50) if r["n"] == 12}
    assert one.keys() == many.keys()
    for k, v in one.items():
        assert v == pytest.approx(many[k], rel=1e-9, abs=1e-12), k


def test_sample_complexity_fine_tuning_needs_fewer_samples() -> None:
    from finetune_bounds.relu import synthetic_task

    task = synthetic_task(10, source_norm=1.0, delta_norm=0.2, rng=0)
    rows = theory_sample_complexity(task, [0.6], n_max=300, draws=1, n_test=100)
    val = {(r["quantity"], r["method"], r["start"]): r["value"] for r in rows}
    assert val[("sample_complexity", "data_dependent", "pretrained")] < val[
        ("sample_complexity", "data_dependent", "scratch")]
    assert val[("sample_complexity", "rate", "pretrained")] == math.ceil(8 * 0.04 / 0.36)


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
            FAMILY.resolve({k: v for k, v in cell.items() if k in DEFAULTS})


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
    assert "ntk_limit" in text and "±" in text and "sample complexity" in text
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
