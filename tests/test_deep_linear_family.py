"""The deep_linear family, its configs, the §3.4 reference table and the CLI."""

from __future__ import annotations

import glob
import json
import math
from pathlib import Path

import numpy as np
import pytest

from finetune_bounds.cli import main
from finetune_bounds.deep_linear._family import FAMILY
from finetune_bounds.deep_linear._family import simulate as family_simulate
from finetune_bounds.errors import ConfigError
from finetune_bounds.families import get_family
from finetune_bounds.records import to_frame

CONFIGS = sorted(glob.glob(str(Path(__file__).parents[1] / "configs" / "deep_linear_*.toml")))

#: spec §3.4 reference table (mean over 200 draws): (α, ε) → R_L for L = 1, 2, 3, 5, 7, ∞
SPEC_TABLE = {
    (0.5, 0.0): [0.222, 0.191, 0.165, 0.127, 0.100, 0.0],
    (1.0, 0.3): [0.0832, 0.0833, 0.0835, 0.0840, 0.0845, 0.0949],
    (2.0, 0.3): [0.959, 0.780, 0.666, 0.521, 0.431, 0.092],
}
DEPTHS = [1, 2, 3, 5, 7, math.inf]


def _theory_table(alpha: float, eps: float, draws: int) -> tuple[np.ndarray, np.ndarray]:
    p = FAMILY.resolve({"d": 100, "n": 10, "depth": DEPTHS, "alpha": alpha,
                        "epsilon": eps, "theory_draws": draws, "bounds": ""}, axes=("depth",))
    rows = [r for r in FAMILY.theory(p, np.random.default_rng(0))
            if r["method"] == "closed_form" and r["quantity"] == "risk"]
    mean = np.array([next(r["value"] for r in rows if r["depth"] == L) for L in DEPTHS])
    se = np.array([next(r["stderr"] for r in rows if r["depth"] == L) for L in DEPTHS])
    return mean, se


def _check_against_spec(draws: int) -> None:
    for (alpha, eps), spec in SPEC_TABLE.items():
        mean, se = _theory_table(alpha, eps, draws)
        # the spec's numbers are themselves means of 200 draws: their standard error is
        # sd/√200 = se·√(draws/200); compare within 4 combined standard errors
        spec_se = se * math.sqrt(draws / 200)
        tol = 4 * np.hypot(se, spec_se) + 1e-12
        assert np.all(np.abs(mean - np.array(spec)) <= tol), (alpha, eps, mean, spec, tol)
        # L = 1 has an exact expectation: (1 − n/d) E‖θ_T − θ_S‖² = 0.9((1 − α)² + ε²)
        exact = 0.9 * ((1 - alpha) ** 2 + eps**2)
        assert abs(mean[0] - exact) <= 4 * se[0] + 1e-12
        # depth moves the risk monotonically from L = 1 towards L = ∞
        assert np.all(np.diff(mean) <= 4 * se[1:]) or np.all(np.diff(mean) >= -4 * se[1:])


def test_reference_table_within_monte_carlo_error():
    _check_against_spec(draws=3000)


@pytest.mark.slow
def test_reference_table_high_precision():
    _check_against_spec(draws=100_000)


def test_family_is_registered_and_validates_at_the_door():
    assert get_family("deep_linear") is FAMILY
    assert get_family("deep-linear") is FAMILY
    for bad in ("1 2", "x", 0, -1, 2.5, True):
        with pytest.raises(ConfigError, match="depth"):
            FAMILY.resolve({"depth": bad})
    with pytest.raises(ConfigError, match="depth = 0"):
        FAMILY.resolve({"depth": [1, 0]}, axes=("depth",))
    with pytest.raises(ConfigError, match="declare it in \\[axes\\]"):
        FAMILY.resolve({"depth": [1, 2]})
    with pytest.raises(ConfigError, match="methods"):
        FAMILY.resolve({"methods": "closed_form sgd"})
    with pytest.raises(ConfigError):
        FAMILY.resolve({"not_a_param": 1})


def test_config_rejects_bad_depth():
    from finetune_bounds.sweep import SweepConfig

    with pytest.raises(ConfigError):
        SweepConfig.from_dict({"name": "x", "family": "deep_linear", "grid": {"depth": [1, 0]}})


def test_theory_and_simulate_rows():
    p = FAMILY.resolve({"d": 20, "n": 4, "depth": [1, 3, math.inf], "theory_draws": 200,
                        "infinite_reference": True, "methods": "closed_form cvxpy ode gd"},
                       axes=("depth",))
    th = FAMILY.theory(p, np.random.default_rng(0))
    assert all(r["source"] in ("theory", "bound") and "seed" not in r for r in th)
    assert all(math.isfinite(r["value"]) for r in th)
    depths = {r["depth"] for r in th if r["quantity"] == "risk"}
    assert depths == {1.0, 3.0, math.inf}
    rngs = [np.random.default_rng(i) for i in range(3)]
    em = family_simulate(p, rngs)
    assert {r["seed"] for r in em} == {0, 1, 2}
    frame = to_frame(em)
    methods = set(frame[frame.quantity == "risk"]["method"])
    assert methods == {"closed_form", "cvxpy", "ode", "gd"}
    dist = frame.groupby("quantity")["value"].max()
    assert dist["cvxpy_vs_closed_form"] < 1e-5
    assert dist["ode_vs_closed_form"] < 1e-7
    assert dist["gd_vs_closed_form"] < 1e-2
    assert frame[frame.quantity == "converged"]["value"].min() == 1.0
    # same rngs → same rows (seeded), and each seed's numbers do not depend on the others
    again = family_simulate(p, [np.random.default_rng(i) for i in range(3)])
    assert [r["value"] for r in again] == [r["value"] for r in em]
    one = family_simulate(p, [np.random.default_rng(1)])
    pick = [r["value"] for r in em if r["seed"] == 1 and r["method"] != "gd"]
    assert np.allclose([r["value"] for r in one if r["method"] != "gd"], pick, rtol=1e-12)


def test_frozen_family_rows_respect_the_floor():
    p = FAMILY.resolve({"d": 10, "n": 30, "depth": 3, "frozen_layers": 1, "epsilon": 0.5,
                        "theory_draws": 300, "methods": "closed_form gd"})
    th = to_frame(FAMILY.theory(p, np.random.default_rng(0)))
    floor = th[(th.quantity == "risk") & (th.method == "frozen_floor")]["value"].item()
    risk = th[(th.quantity == "risk") & (th.method == "closed_form")]["value"].item()
    assert 0 < floor <= risk
    em = to_frame(family_simulate(p, [np.random.default_rng(i) for i in range(2)]))
    assert em[em.quantity == "gd_vs_closed_form"]["value"].max() < 1e-6


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: Path(p).stem)
def test_configs_run_quick(path):
    from finetune_bounds.sweep import load_config, run_sweep

    cfg = load_config(path)
    assert cfg.family == "deep_linear"
    frame = run_sweep(cfg.quick())
    assert len(frame) and frame["value"].notna().all()
    for fig in cfg.figures:
        for key in ("x", "facet", "hue"):
            if key in fig:
                assert fig[key] in frame.columns, (key, fig[key])
        assert set(fig["quantities"]) <= set(frame["quantity"])
    for tab in cfg.tables:
        for col in [*tab["index"], *tab["columns"]]:
            assert col in frame.columns
        assert set(tab["quantities"]) & set(frame["quantity"])


def test_config_set_covers_the_issue():
    names = {Path(p).stem for p in CONFIGS}
    assert {"deep_linear_depth", "deep_linear_reference_table", "deep_linear_frozen",
            "deep_linear_rescale_source", "deep_linear_rescale_target"} <= names


# ------------------------------------------------------------------------------ CLI
def test_cli_example_table_and_output(tmp_path, capsys):
    out = tmp_path / "t.json"
    rc = main(["deep-linear", "--example", "reference", "--n", "10", "--depth", "1", "3", "inf",
               "--draws", "40", "--eps", "0.1", "--output", str(out)])
    text = capsys.readouterr().out
    assert rc == 0 and "E[R_L] closed form" in text and "n*(ε = 0.1)" in text
    rows = [r for r in json.loads(out.read_text()) if r["quantity"] == "coefficient"]
    assert [r["depth"] for r in rows] == [1.0, 3.0, "inf"]  # tidy records, inf as "inf"
    assert rows[2]["mean"] > rows[1]["mean"] > rows[0]["mean"] == 1.0  # the long summary form
    assert {r["theory_draws"] for r in rows} == {40} and {r["n"] for r in rows} == {10}


def test_cli_files_routes_and_frozen(tmp_path, capsys):
    rng = np.random.default_rng(0)
    d = 12
    np.save(tmp_path / "lam.npy", np.linspace(2, 0.5, d))
    src = rng.standard_normal(d)
    np.savetxt(tmp_path / "src.csv", src, delimiter=",")
    np.save(tmp_path / "tgt.npy", 1.5 * src + 0.3 * rng.standard_normal(d))
    base = ["deep-linear", "--spectrum", str(tmp_path / "lam.npy"), "--source",
            str(tmp_path / "src.csv"), "--target", str(tmp_path / "tgt.npy"), "--n", "4",
            "--draws", "5"]
    assert main([*base, "--depth", "2", "--method", "gd"]) == 0
    assert "E[R_L] gd" in capsys.readouterr().out
    assert main([*base, "--depth", "2", "inf", "--method", "cvxpy"]) == 0
    assert "E[R_L] cvxpy" in capsys.readouterr().out
    assert main([*base, "--depth", "3", "--frozen-layers", "1"]) == 0
    assert "floor" in capsys.readouterr().out


@pytest.mark.parametrize(
    "extra,needle",
    [
        (["--example", "reference", "--depth", "0"], "depth"),
        (["--example", "reference", "--depth", "two"], "depth"),
        (["--example", "reference", "--method", "sgd"], "--method"),
        (["--example", "reference", "--frozen-layers", "1", "--method", "cvxpy", "--n", "5",
          "--draws", "3"], "frozen"),
        (["--example", "reference", "--depth", "inf", "--method", "gd", "--n", "5",
          "--draws", "3"], "finite"),
        (["--example", "nope"], "--example"),
        (["--covariance", "missing.npy", "--source", "a.npy", "--target", "b.npy"],
         "not found"),
        ([], "missing input"),
        (["--example", "reference", "--output", "x.txt"], ".csv, .json or .parquet"),
        (["--example", "reference", "--seeds", "-1"], "--seeds"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(extra, needle, capsys):
    rc = main(["deep-linear", *extra])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and needle in err


def test_cli_degenerate_target(tmp_path, capsys):
    np.save(tmp_path / "s.npy", np.ones(5))
    np.save(tmp_path / "t.npy", np.zeros(5))
    np.save(tmp_path / "lam.npy", np.ones(5))
    rc = main(["deep-linear", "--spectrum", str(tmp_path / "lam.npy"), "--source",
               str(tmp_path / "s.npy"), "--target", str(tmp_path / "t.npy"), "--n", "2",
               "--depth", "2"])
    assert rc == 2 and "P_Xθ_T" in capsys.readouterr().err
