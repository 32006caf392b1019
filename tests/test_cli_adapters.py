"""The family subcommands are thin adapters over the one runner.

``finetune-bounds linear``, ``deep-linear`` and ``relu`` turn options and files into family
parameters and call :func:`finetune_bounds.sweep.run`: their ``--output`` records are, bit for
bit, the frame of the runner (and of a TOML config through ``run_sweep``) with the same
parameters. Files go through the families (``covariance_file`` …, with ``files_sha256`` in the
cell's identity), give the numbers of the equivalent built-in parameters, and fail at load with
one line. The deep-linear family works in Σ's eigenbasis, which is exact because the closed form,
the risk and layered GD from balanced weights are rotation-equivariant.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import finetune_bounds.sweep as sweep
from finetune_bounds.cli import main
from finetune_bounds.errors import ConfigError
from finetune_bounds.sweep.store import write_output


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return out, err


def _same_records(cli_file: Path, frame, tmp_path: Path) -> None:
    ref = write_output(frame, tmp_path / f"ref{cli_file.suffix}")
    assert cli_file.read_bytes() == ref.read_bytes()


# ---------------------------------------------------------------------------------------------
# the CLI's numbers are the runner's (and a config's)
# ---------------------------------------------------------------------------------------------
def test_linear_cli_output_is_the_runner_frame_and_the_config_frame(capsys, tmp_path):
    from finetune_bounds.linear._family import EXAMPLES

    out = tmp_path / "cli.json"
    _cli(capsys, "linear", "--example", "spiked", "--n", "10", "40", "--empirical-seeds", "2",
         "--gd", "--bound-constant", "benign=2", "--output", str(out))
    # the CLI's default theory route is "auto" (the family's default stays "deterministic")
    params = {**EXAMPLES["spiked"], "gd": True, "bound_benign": 2.0, "theory_method": "auto"}
    result = sweep.run("linear", params=params, axes={"n": [10, 40]}, seeds=2)
    _same_records(out, result.frame, tmp_path)

    toml = tmp_path / "run_linear.toml"
    toml.write_text(
        'name = "run_linear"\nfamily = "linear"\nseeds = 2\n\n[params]\n'
        'spectrum = "spiked"\nd = 200\nalignment = "random"\ngd = true\nbound_benign = 2.0\n'
        'theory_method = "auto"\n\n'
        "[axes]\nn = [10, 40]\n",
        encoding="utf-8",
    )
    _same_records(out, sweep.run_sweep(sweep.load_config(toml)), tmp_path)


def test_linear_cli_files_output_is_the_runner_frame(capsys, tmp_path):
    d = 8
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    np.save(tmp_path / "cov.npy", (q * np.linspace(2, 0.2, d)) @ q.T)
    np.save(tmp_path / "s.npy", rng.standard_normal(d))
    np.save(tmp_path / "t.npy", rng.standard_normal(d))
    out = tmp_path / "cli.csv"
    files = {"covariance_file": str(tmp_path / "cov.npy"), "source_file": str(tmp_path / "s.npy"),
             "target_file": str(tmp_path / "t.npy")}
    _cli(capsys, "linear", "--covariance", files["covariance_file"], "--source",
         files["source_file"], "--target", files["target_file"], "--n", "3", "6",
         "--empirical-seeds", "3", "--noise-variance", "0.1", "--method", "monte_carlo",
         "--draws", "20", "--output", str(out))
    params = {"spectrum": "files", **files, "noise_variance": 0.1, "gd": False,
              "theory_method": "monte_carlo", "mc_draws": 20}
    result = sweep.run("linear", params=params, axes={"n": [3, 6]}, seeds=3)
    _same_records(out, result.frame, tmp_path)
    assert set(result.frame["d"]) == {d}  # d follows the files


def test_deep_linear_cli_output_is_the_runner_frame(capsys, tmp_path):
    from finetune_bounds.deep_linear._family import EXAMPLES

    out = tmp_path / "cli.json"
    _cli(capsys, "deep-linear", "--example", "reference", "--n", "5", "10", "--depth", "1", "2",
         "3", "--method", "gd", "--draws", "6", "--seeds", "2", "--seed", "4",
         "--output", str(out))
    params = {**EXAMPLES["reference"], "theory_draws": 6, "theory_seed": 4, "methods": "gd"}
    result = sweep.run("deep_linear", params=params, grid={"n": [5, 10]},
                       axes={"depth": [1, 2, 3]}, seeds=2)
    _same_records(out, result.frame, tmp_path)
    assert set(result.frame["theory_seed"]) == {4}  # --seed is theory_seed


def test_relu_cli_output_is_the_runner_frame(capsys, tmp_path):
    from finetune_bounds._cli_common import concat_frames
    from finetune_bounds.relu._family import EXAMPLES

    out = tmp_path / "cli.json"
    _cli(capsys, "relu", "--example", "synthetic", "--d", "6", "--n", "4", "9", "--train",
         "--width", "100", "--seeds", "2", "--draws", "2", "--n-test", "50", "--seed", "3",
         "--eps", "0.4", "--n-max", "30", "--output", str(out))
    params = {**EXAMPLES["synthetic"], "d": 6, "width": 100, "theory_draws": 2, "n_test": 50,
              "task_seed": 3, "theory_seed": 3}
    curve = sweep.run("relu", params=params, axes={"n": [4, 9]}, seeds=2)
    sc = sweep.run("relu", params={**params, "mode": "sample_complexity", "n_max": 30},
                   axes={"eps": [0.4]})
    _same_records(out, concat_frames([curve.frame, sc.frame]), tmp_path)


# ---------------------------------------------------------------------------------------------
# examples are parameters
# ---------------------------------------------------------------------------------------------
def test_examples_are_the_built_in_tasks():
    from finetune_bounds.deep_linear._family import EXAMPLES as DEEP
    from finetune_bounds.deep_linear._family import FAMILY as DEEP_FAMILY
    from finetune_bounds.deep_linear._family import task_from_params as deep_task
    from finetune_bounds.families import get_family
    from finetune_bounds.linear._family import EXAMPLES as LINEAR
    from finetune_bounds.linear._family import build_task
    from finetune_bounds.linear.simulate import example_task
    from finetune_bounds.relu._family import EXAMPLES as RELU
    from finetune_bounds.relu._family import task_from_params as relu_task
    from finetune_bounds.relu._tasks import synthetic_task

    def same(a, b):
        for attr in ("source", "target"):
            np.testing.assert_array_equal(getattr(a, attr), getattr(b, attr))
        np.testing.assert_array_equal(a.covariance.eigenvalues, b.covariance.eigenvalues)

    for name, params in LINEAR.items():
        same(build_task(get_family("linear").resolve(params)), example_task(name))
        if name != "digits":  # diagonal Σ in decreasing order: the eigenbasis is the basis
            same(deep_task(DEEP_FAMILY.resolve(DEEP[name])), example_task(name))
    ref = deep_task(DEEP_FAMILY.resolve(DEEP["reference"]))  # spec §3.4, seed 0
    g = np.random.default_rng(0)
    src = g.standard_normal(100) / 10
    np.testing.assert_array_equal(ref.source, src)
    np.testing.assert_array_equal(ref.target, 2.0 * src + 0.3 * (g.standard_normal(100) / 10))
    syn = relu_task(get_family("relu").resolve(RELU["synthetic"]))
    np.testing.assert_array_equal(syn.target, synthetic_task(20, delta_norm=0.5, rng=0).target)


# ---------------------------------------------------------------------------------------------
# files through the families
# ---------------------------------------------------------------------------------------------
def _theory_values(frame):
    rows = frame[frame["source"] != "empirical"].sort_values(
        [c for c in ("quantity", "source", "method", "n", "depth") if c in frame.columns]
    )
    return rows["value"].to_numpy()


def test_linear_files_give_the_numbers_of_the_built_in_spectrum(tmp_path):
    from finetune_bounds.linear.simulate import example_task

    task = example_task("power_law")  # spectrum = "power_law", d = 200, Δ on the head
    np.save(tmp_path / "lam.npy", task.covariance.eigenvalues)
    np.save(tmp_path / "s.npy", task.source)
    np.save(tmp_path / "t.npy", task.target)
    built_in = sweep.run("linear", params={"spectrum": "power_law"}, axes={"n": [5, 50, 150]})
    params = {"spectrum": "files", "spectrum_file": str(tmp_path / "lam.npy"),
              "source_file": str(tmp_path / "s.npy"), "target_file": str(tmp_path / "t.npy")}
    files = sweep.run("linear", params=params, axes={"n": [5, 50, 150]})
    assert len(built_in.frame) == len(files.frame) > 0
    np.testing.assert_array_equal(_theory_values(built_in.frame), _theory_values(files.frame))


def test_deep_linear_files_give_the_numbers_of_fixed_teachers(tmp_path):
    from finetune_bounds.deep_linear._family import FAMILY, task_from_params

    fixed = {"d": 30, "spectrum": "power_law", "decay": 1.0, "teachers": "fixed",
             "alpha": 1.5, "epsilon": 0.4, "theory_draws": 50, "n": 8}
    task = task_from_params(FAMILY.resolve(fixed))
    np.save(tmp_path / "lam.npy", task.covariance.eigenvalues)
    np.save(tmp_path / "s.npy", task.source)
    np.save(tmp_path / "t.npy", task.target)
    files = {**fixed, "teachers": "files", "spectrum_file": str(tmp_path / "lam.npy"),
             "source_file": str(tmp_path / "s.npy"), "target_file": str(tmp_path / "t.npy")}
    axes = {"depth": [1, 2, 5, math.inf]}
    a, b = sweep.run("deep_linear", params=fixed, axes=axes), sweep.run(
        "deep_linear", params=files, axes=axes)
    assert len(a.frame) == len(b.frame) > 0
    np.testing.assert_array_equal(_theory_values(a.frame), _theory_values(b.frame))


def _rotated_problem(tmp_path: Path, d: int = 12):
    rng = np.random.default_rng(7)
    lam = np.linspace(3.0, 0.2, d)  # distinct: the eigenbasis is unique up to signs
    v, _ = np.linalg.qr(rng.standard_normal((d, d)))
    sigma = (v * lam) @ v.T
    src = rng.standard_normal(d) / math.sqrt(d)
    tgt = 1.5 * src + 0.5 * rng.standard_normal(d) / math.sqrt(d)
    np.save(tmp_path / "sigma.npy", 0.5 * (sigma + sigma.T))
    np.save(tmp_path / "src.npy", src)
    np.save(tmp_path / "tgt.npy", tgt)
    return lam, v, src, tgt


def test_deep_linear_rotated_covariance_gives_the_risk_of_its_eigenbasis(tmp_path):
    """Σ = VΛVᵀ with θ_S, θ_T, against Λ with Vᵀθ_S, Vᵀθ_T: the same designs (theory_seed) in
    both bases, so the Monte Carlo risks agree to rounding, not only within their error."""
    from finetune_bounds.problems import Covariance

    lam, _, src, tgt = _rotated_problem(tmp_path)
    cov = Covariance.from_matrix(np.load(tmp_path / "sigma.npy"))
    np.save(tmp_path / "lam.npy", cov.eigenvalues)  # eigh's own V (its signs, its rounding)
    np.save(tmp_path / "src_rot.npy", cov.to_eigenbasis(src))
    np.save(tmp_path / "tgt_rot.npy", cov.to_eigenbasis(tgt))
    base = {"teachers": "files", "n": 5, "theory_draws": 40, "frozen_layers": 0}
    rotated = sweep.run("deep_linear", params={
        **base, "covariance_file": str(tmp_path / "sigma.npy"),
        "source_file": str(tmp_path / "src.npy"), "target_file": str(tmp_path / "tgt.npy")},
        axes={"depth": [1, 3, math.inf]})
    diagonal = sweep.run("deep_linear", params={
        **base, "spectrum_file": str(tmp_path / "lam.npy"),
        "source_file": str(tmp_path / "src_rot.npy"),
        "target_file": str(tmp_path / "tgt_rot.npy")}, axes={"depth": [1, 3, math.inf]})
    np.testing.assert_allclose(_theory_values(rotated.frame), _theory_values(diagonal.frame),
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(cov.eigenvalues, lam, rtol=1e-12)


def test_closed_form_risk_and_layered_gd_are_rotation_equivariant(tmp_path):
    """On rotated designs X' = XVᵀ with θ' = Vθ the closed form and GD from balanced weights
    give w' = Vw and the same risk ‖w − θ_T‖²_Σ: working in the eigenbasis loses nothing."""
    from finetune_bounds.deep_linear import simulate as sim
    from finetune_bounds.deep_linear.theory import _batch_predictors

    lam, v, src, tgt = _rotated_problem(tmp_path)
    rng = np.random.default_rng(3)
    s_e, t_e = v.T @ src, v.T @ tgt  # the eigenbasis coordinates
    x_e = rng.standard_normal((4, 6, lam.size)) * np.sqrt(lam)  # x ~ N(0, Λ)
    x = x_e @ v.T  # the same designs in the original basis: x ~ N(0, VΛVᵀ)
    y = x_e @ t_e
    np.testing.assert_allclose(y, x @ tgt, atol=1e-12)
    depths = [1.0, 2.0, 4.0, math.inf]
    w_e = _batch_predictors(np.tile(s_e, (4, 1)), x_e, y, depths, frozen_layers=0)
    w = _batch_predictors(np.tile(src, (4, 1)), x, y, depths, frozen_layers=0)
    np.testing.assert_allclose(w_e @ v.T, w, atol=1e-10)
    sigma = (v * lam) @ v.T

    def risk_e(wv):
        return np.sum(lam * (wv - t_e) ** 2, axis=-1)

    def risk(wv):
        return np.einsum("...i,ij,...j->...", wv - tgt, sigma, wv - tgt)

    np.testing.assert_allclose(risk_e(w_e), risk(w), rtol=1e-9)
    for depth in (2, 3):
        runs = [sim.train(sim.balanced_weights(np.tile(s, (4, 1)), depth, 4), xx, y,
                          max_steps=50_000, tol=1e-11) for s, xx in ((s_e, x_e), (src, x))]
        np.testing.assert_allclose(runs[0].predictor @ v.T, runs[1].predictor, atol=1e-7)
        np.testing.assert_allclose(risk_e(runs[0].predictor), risk(runs[1].predictor),
                                   rtol=1e-6)


def test_a_changed_file_makes_a_new_cell_and_a_stale_digest_is_an_error(tmp_path):
    d = 5
    np.save(tmp_path / "lam.npy", np.linspace(1, 2, d))
    np.save(tmp_path / "s.npy", np.ones(d))
    np.save(tmp_path / "t.npy", np.zeros(d) + 0.5)
    params = {"spectrum": "files", "spectrum_file": str(tmp_path / "lam.npy"),
              "source_file": str(tmp_path / "s.npy"), "target_file": str(tmp_path / "t.npy")}
    cell = sweep.run_config("linear", params=params).cell_specs()[0]
    digest = cell.params["files_sha256"]
    assert len(digest) == 64 and cell.params["d"] == d
    assert sweep.run_config("linear", params={**params, "files_sha256": digest}).cell_specs()[
        0].key == cell.key  # the recorded digest of unchanged files is accepted
    np.save(tmp_path / "t.npy", np.zeros(d) + 0.6)  # same path, new content
    new = sweep.run_config("linear", params=params).cell_specs()[0]
    assert new.key != cell.key and new.params["files_sha256"] != digest
    with pytest.raises(ConfigError, match="does not match the files") as exc:
        sweep.run_config("linear", params={**params, "files_sha256": digest})
    assert "\n" not in str(exc.value)
    # a file that changes between loading the config and running the cell fails that cell
    cfg = sweep.run_config("linear", params={**params, "gd": False}, axes={"n": [2]})
    np.save(tmp_path / "t.npy", np.zeros(d) + 0.7)
    result = sweep.execute_sweep(cfg)
    assert len(result.failures) == 1 and "changed since the cell was made" in str(
        result.failures[0])


def test_cells_without_files_keep_their_content_hash():
    """The file parameters are dropped from cells that do not read files, so adding them did
    not change the hash (the store key and the random streams) of any existing cell."""
    from finetune_bounds.families import get_family
    from finetune_bounds.sweep.grid import cell_key

    new = {"covariance_file", "spectrum_file", "eigenvectors_file", "source_file",
           "target_file", "files_sha256", "linear_example"}
    for name in ("linear", "deep_linear", "relu"):
        fam = get_family(name)
        cell = sweep.run_config(name).cell_specs()[0]
        assert not new & set(cell.params)
        old = {k: v for k, v in fam.defaults.items() if k not in new}
        resolved_old = fam.derive(dict(old)) if fam.derive is not None else old
        assert cell.key == cell_key(name, fam.schema_version, resolved_old)


@pytest.mark.parametrize(
    "family, params, needle",
    [
        ("linear", {"spectrum": "files", "covariance_file": "{missing}", "source_file": "{v}",
                    "target_file": "{v}"}, "covariance_file: file not found"),
        ("linear", {"spectrum": "files", "covariance_file": "{m}", "spectrum_file": "{v}",
                    "source_file": "{v}", "target_file": "{v}"}, "only one of"),
        ("linear", {"spectrum": "files", "covariance_file": "{m}"}, "source_file and target_file"),
        ("linear", {"spectrum": "files", "covariance_file": "{m}", "source_file": "{short}",
                    "target_file": "{v}"}, "source_file must be a vector of length d = 4"),
        ("linear", {"spectrum": "files", "covariance_file": "{nonsym}", "source_file": "{v}",
                    "target_file": "{v}"}, "not symmetric"),
        ("linear", {"spectrum": "files", "eigenvectors_file": "{m}", "source_file": "{v}",
                    "target_file": "{v}"}, "eigenvectors_file needs spectrum_file"),
        ("linear", {"source_file": "{v}"}, "source_file set but spectrum = 'power_law'"),
        ("linear", {"spectrum": "files", "covariance_file": "{m}", "source_file": "{v}",
                    "target_file": "{v}", "files_sha256": "0" * 64}, "does not match"),
        ("deep_linear", {"teachers": "files", "spectrum_file": "{garbage}", "source_file": "{v}",
                         "target_file": "{v}"}, "spectrum_file: cannot read"),
        ("deep_linear", {"teachers": "linear_example"}, "needs linear_example"),
        ("deep_linear", {"linear_example": "digits"}, "needs teachers = 'linear_example'"),
        ("relu", {"data": "files", "source_file": "{v}"}, "needs target_file"),
        ("relu", {"data": "files", "source_file": "{v}", "target_file": "{short}"},
         "target must have length 4"),
        ("relu", {"target_file": "{v}"}, "target_file set but data = 'synthetic'"),
    ],
)
def test_bad_files_fail_at_load_with_one_line(family, params, needle, tmp_path):
    arrays = {"v": np.ones(4), "short": np.ones(3), "m": np.eye(4),
              "nonsym": np.triu(np.ones((4, 4)))}
    paths = {k: tmp_path / f"{k}.npy" for k in arrays}
    for k, a in arrays.items():
        np.save(paths[k], a)
    paths["garbage"] = tmp_path / "garbage.csv"
    paths["garbage"].write_text("1, x\n", encoding="utf-8")
    paths["missing"] = tmp_path / "nope.npy"
    filled = {k: v.format(**{n: str(p) for n, p in paths.items()}) if isinstance(v, str) else v
              for k, v in params.items()}
    with pytest.raises(ConfigError) as exc:
        sweep.run_config(family, params=filled)
    assert needle in str(exc.value) and "\n" not in str(exc.value)


# ---------------------------------------------------------------------------------------------
# the adapters' own behaviour
# ---------------------------------------------------------------------------------------------
def test_failed_cells_are_the_runners_sweep_error(tmp_path, capsys):
    np.save(tmp_path / "s.npy", np.ones(5))
    np.save(tmp_path / "t.npy", np.zeros(5))  # θ_T = 0: P_Xθ_T = 0 fails in the cell
    np.save(tmp_path / "lam.npy", np.ones(5))
    rc = main(["deep-linear", "--spectrum", str(tmp_path / "lam.npy"), "--source",
               str(tmp_path / "s.npy"), "--target", str(tmp_path / "t.npy"), "--n", "2", "--depth",
               "2", "--draws", "3"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err[0].startswith("computing 1 cell of deep_linear")
    assert len(err) == 2 and "cells of 'run_deep_linear' failed" in err[1] and "P_Xθ_T" in err[1]


def test_deep_linear_examples_from_the_linear_family(capsys):
    out, err = _cli(capsys, "deep-linear", "--example", "digits", "--n", "20", "--depth", "2",
                    "--draws", "4")
    assert "d = 64, rank Σ = 61" in out and "E[R_L] closed form" in out
    assert err.strip() == "computing 1 cell of deep_linear, 1 value of depth, 0 seeds …"


def test_linear_task_seed_is_the_family_parameter(capsys, tmp_path):
    out = tmp_path / "o.json"
    _cli(capsys, "linear", "--example", "power_law", "--task-seed", "5", "--n", "10",
         "--empirical-seeds", "0", "--output", str(out))
    import json

    assert {r["task_seed"] for r in json.loads(out.read_text())} == {5}


def test_executor_passthrough_gives_the_same_records(capsys, tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    argv = ["relu", "--example", "synthetic", "--d", "5", "--n", "4", "8", "--draws", "1",
            "--n-test", "30", "--width", "50", "--train", "--seeds", "2"]
    _cli(capsys, *argv, "--output", str(a))
    _cli(capsys, *argv, "--executor", "processes", "--workers", "2", "--output", str(b))
    assert a.read_bytes() == b.read_bytes()
