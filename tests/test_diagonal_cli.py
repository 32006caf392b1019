"""``finetune-bounds diagonal``: the α curve (through the runner, ``--output`` = its frame), the
regime of settings, the implicit-bias solution on data files, and every bad input → exit 2 with
one line on stderr and no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import finetune_bounds
from finetune_bounds import diagonal
from finetune_bounds.cli import main
from finetune_bounds.sweep.store import write_output


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["diagonal", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _table(out: str, first: str) -> list[list[str]]:
    """The body rows of the table whose header line starts with ``first``."""
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.split()[:1] == [first])
    body = []
    for line in lines[head + 2:]:
        if not line.strip():
            break
        body.append(line.split())
    return body


@pytest.fixture
def data(tmp_path: Path) -> dict[str, Path]:
    """A small fine-tuning problem on disk: X (n = 15, d = 40), y = Xβ_FT, β_PT."""
    rng = np.random.default_rng(0)
    n, d = 15, 40
    x = rng.standard_normal((n, d)) / np.sqrt(d)
    beta_pt = np.zeros(d)
    beta_pt[:6] = 2.0
    beta_ft = beta_pt.copy()
    beta_ft[3:9] = 1.5
    paths = {"x": tmp_path / "X.npy", "y": tmp_path / "y.csv", "b": tmp_path / "b.npy"}
    np.save(paths["x"], x)
    np.savetxt(paths["y"], x @ beta_ft, delimiter=",")
    np.save(paths["b"], beta_pt)
    return paths


# ---------------------------------------------------------------------------------------------
# mode 1: the α curve
# ---------------------------------------------------------------------------------------------
def test_curve_prints_the_regime_and_the_theory_error_per_alpha(capsys, tmp_path):
    out_path = tmp_path / "cli.csv"
    code, out, err = _run(capsys, "--alpha", "0.05", "0.1", "0.3", "--omega", "0.5",
                          "--lambda-pt", "-0.99", "--gamma-ft", "0", "--c-pt", "1e-3",
                          "--output", str(out_path))
    assert code == 0, err
    assert err.splitlines() == ["computing 1 cell of diagonal, 3 values of alpha, 0 seeds …"]
    # one λ_PT is a parameter (several are the inner axis, below)
    params = {"omega": 0.5, "lambda_pt": -0.99, "gamma_ft": 0.0, "c_pt": 1e-3}
    frame = finetune_bounds.run("diagonal", params=params, axes={"alpha": [0.05, 0.1, 0.3]}).frame
    assert out_path.read_bytes() == write_output(frame, tmp_path / "ref.csv").read_bytes()
    m = diagonal.regime_measures(1e-3, -0.99, 0.0)
    assert f"at λ_PT = -0.99: ℓ = {m.ell:.3f}, PD = {m.pd:.3f}, IV (rich, PT-dependent)" in out
    rows = _table(out, "alpha")
    assert [r[0] for r in rows] == ["0.05", "0.1", "0.3"]
    assert len(rows[0]) == 2  # theory only: no empirical column
    for (a, err_text) in rows:
        ref = diagonal.generalization_error(float(a), omega=0.5, lambda_pt=-0.99, gamma_ft=0.0,
                                            c_pt=1e-3)
        assert float(err_text) == pytest.approx(ref.error, rel=1e-3)


def test_curve_output_is_the_runner_frame(capsys, tmp_path):
    """Empirical seeds, two λ_PT (the table gains a λ_PT column) and --output = the frame of
    ``finetune_bounds.run("diagonal", …)`` with the same parameters, byte for byte."""
    out_path = tmp_path / "cli.json"
    code, out, err = _run(capsys, "--alpha", "0.3", "0.6", "--lambda-pt", "-0.9", "0",
                          "--rho-pt", "0.2", "--noise-variance", "0.01", "--empirical-seeds",
                          "2", "--d", "40", "--empirical", "both", "--output", str(out_path))
    assert code == 0, err
    rows = _table(out, "lambda_pt")
    assert [(r[0], r[1]) for r in rows] == [("-0.9", "0.3"), ("-0.9", "0.6"), ("0", "0.3"),
                                            ("0", "0.6")]
    assert "±" in out and "GD error" in out and "min-q error" in out and "GD conv." in out
    assert out.count("regime (|β_PT| = |β_FT| = 1)") == 2
    params = {"rho_pt": 0.2, "noise_variance": 0.01, "d": 40, "empirical": "both"}
    result = finetune_bounds.run("diagonal", params=params,
                                 axes={"alpha": [0.3, 0.6], "lambda_pt": [-0.9, 0.0]}, seeds=2)
    ref = write_output(result.frame, tmp_path / "ref.json")
    assert out_path.read_bytes() == ref.read_bytes()
    assert set(result.frame["method"]) == {"replica", "gd", "exact"}


def test_curve_scratch_baseline(capsys):
    code, out, err = _run(capsys, "--alpha", "0.3", "--start", "scratch")
    assert code == 0, err
    assert "from scratch c = c_PT" in out and "start scratch" in out
    frame = finetune_bounds.run("diagonal", params={"start": "scratch"},
                                axes={"alpha": [0.3]}).frame
    assert _table(out, "alpha")[0][1] == f"{float(frame['value'].iloc[0]):.4g}"


# ---------------------------------------------------------------------------------------------
# mode 2: regimes
# ---------------------------------------------------------------------------------------------
def test_regime_of_several_settings(capsys):
    code, out, err = _run(capsys, "regime", "--c-pt", "1e-3", "--lambda-pt", "-0.99", "0",
                          "--gamma-ft", "0", "10")
    assert code == 0, err
    rows = _table(out, "c_PT")
    assert [(r[1], r[2], r[7]) for r in rows] == [
        ("-0.99", "0", "IV"), ("-0.99", "10", "III"), ("0", "0", "II"), ("0", "10", "III")
    ]
    for r in rows:
        m = diagonal.regime_measures(1e-3, float(r[1]), float(r[2]))
        assert (float(r[4]), float(r[5])) == (round(float(m.ell), 3), round(float(m.pd), 3))
    code, out, _ = _run(capsys, "regime", "--lambda-pt", "-0.999999", "--gamma-ft", "1e-6")
    assert code == 0 and _table(out, "c_PT")[0][7] == "I"


# ---------------------------------------------------------------------------------------------
# mode 3: the implicit-bias solution
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".npy", ".csv", ".json"])
def test_solve_is_the_min_q_interpolant(capsys, data, tmp_path, suffix):
    out_path = tmp_path / f"beta{suffix}"
    code, out, err = _run(capsys, "solve", "--x", str(data["x"]), "--y", str(data["y"]),
                          "--beta-pt", str(data["b"]), "--c-pt", "1e-3", "--lambda-pt", "-0.9",
                          "--gamma-ft", "0.1", "--output", str(out_path))
    assert code == 0, err
    x, y, b = np.load(data["x"]), np.loadtxt(data["y"], delimiter=","), np.load(data["b"])
    c_ft = diagonal.c_finetune(b, 1e-3, -0.9, 0.1)
    ref = diagonal.min_q_interpolant(x, y, c_ft, method="dual")
    assert "minimum-Σq interpolant (dual Newton): converged" in out
    assert f"{ref.info.iterations} iteration(s)" in out and "residual ‖Xβ − y‖/‖y‖" in out
    assert f"‖β‖₂ = {np.linalg.norm(ref.beta):.4g}" in out
    assert "ℓ(β_i/c_FT,i): median" in out and "→ regime" in out
    assert f"wrote {out_path}" in out
    if suffix == ".npy":
        beta = np.load(out_path)
    elif suffix == ".csv":
        beta = np.loadtxt(out_path)
    else:
        doc = json.loads(out_path.read_text())
        beta = np.array(doc["beta"])
        assert doc["status"] == "converged" and doc["iterations"] == ref.info.iterations
        np.testing.assert_allclose(doc["c_ft"], c_ft, rtol=1e-15)
    np.testing.assert_allclose(beta, ref.beta, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(x @ beta, y, atol=1e-8)


# ---------------------------------------------------------------------------------------------
# bad input: one line, exit 2
# ---------------------------------------------------------------------------------------------
def _bad_files(tmp_path: Path, data: dict[str, Path]) -> dict[str, str]:
    x = np.load(data["x"])
    nan_y = np.loadtxt(data["y"], delimiter=",")
    nan_y[2] = np.nan
    np.savetxt(tmp_path / "nan.csv", nan_y, delimiter=",")
    np.save(tmp_path / "short_y.npy", np.ones(x.shape[0] - 1))
    np.save(tmp_path / "short_b.npy", np.ones(x.shape[1] - 1))
    return {"x": str(data["x"]), "y": str(data["y"]), "b": str(data["b"]),
            "nan": str(tmp_path / "nan.csv"), "short_y": str(tmp_path / "short_y.npy"),
            "short_b": str(tmp_path / "short_b.npy"), "missing": str(tmp_path / "nope.npy"),
            "tmp": str(tmp_path)}


_SOLVE = ["solve", "--x", "{x}", "--y", "{y}", "--beta-pt", "{b}"]
BAD_CASES: dict[str, tuple[list[str], str]] = {
    "lambda 2": (["--lambda-pt", "2"], "--lambda-pt must be in [-1, 1], got 2"),
    "regime lambda 2": (["regime", "--lambda-pt", "0", "2"], "--lambda-pt must be in [-1, 1]"),
    "solve lambda 2": ([*_SOLVE, "--lambda-pt", "2"], "--lambda-pt must be in [-1, 1]"),
    "alpha 0": (["--alpha", "0.1", "0"], "--alpha must be > 0"),
    "alpha text": (["--alpha", "x"], "--alpha must be a number"),
    "lambda -1 without gamma": (["--lambda-pt", "-1"], "c_FT = 0"),
    "regime lambda -1": (["regime", "--lambda-pt", "-1"], "c_FT = 0"),
    "infeasible task": (["--omega", "0.9", "--rho-pt", "0.01"], "infeasible task"),
    "bad output suffix": (["--output", "{tmp}/x.txt"], "--output must end in .csv"),
    "output folder": (["--output", "{tmp}/no/x.csv"], "does not exist"),
    "mode after option": (["--alpha", "0.1", "regime"], "put the mode first"),
    "option of another mode": (["--omega", "0.5", "regime"], "--omega does not go with"),
    "negative seeds": (["--empirical-seeds", "-1"], "--empirical-seeds must be ≥ 0"),
    "missing file": (["solve", "--x", "{missing}", "--y", "{y}", "--beta-pt", "{b}"],
                     "--x: file not found"),
    "missing input": (["solve", "--x", "{x}", "--y", "{y}"], "missing input: --beta-pt"),
    "X and y mismatch": (["solve", "--x", "{x}", "--y", "{short_y}", "--beta-pt", "{b}"],
                         "--y must be a vector of length n = 15"),
    "X and beta_pt mismatch": (["solve", "--x", "{x}", "--y", "{y}", "--beta-pt", "{short_b}"],
                               "--beta-pt must be a vector of length d = 40"),
    "NaN in a file": (["solve", "--x", "{x}", "--y", "{nan}", "--beta-pt", "{b}"],
                      "contains NaN or inf"),
    "solve output suffix": ([*_SOLVE, "--output", "{tmp}/b.txt"], "must end in .npy, .csv"),
    "solve c_FT 0": ([*_SOLVE, "--lambda-pt", "-1"], "c_FT = 0"),
    "not converged": ([*_SOLVE, "--max-iter", "1"], "did not converge"),
    "solve two lambdas": ([*_SOLVE, "--lambda-pt", "0", "1"], "unrecognized arguments"),
    "unknown start": (["--start", "x"], "invalid choice"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_input_exits_2_with_one_line(capsys, tmp_path, data, case):
    argv, match = BAD_CASES[case]
    argv = [a.format(**_bad_files(tmp_path, data)) for a in argv]
    code: int | str | None
    try:
        code = main(["diagonal", *argv])
    except SystemExit as exc:  # argparse-level errors exit through the parser
        code = exc.code
    _out, err = capsys.readouterr()
    assert code == 2, (case, err)
    lines = err.strip().splitlines()
    lines = [ln for ln in lines if not ln.startswith("computing ")]
    assert len(lines) == 1, err
    assert "Traceback" not in err and lines[0].startswith("finetune-bounds"), lines[0]
    assert "error:" in lines[0] and match in lines[0], lines[0]


@pytest.mark.parametrize("mode", [[], ["regime"], ["solve"]])
def test_help(capsys, mode):
    with pytest.raises(SystemExit) as exc:
        main(["diagonal", *mode, "--help"])
    out, _ = capsys.readouterr()
    assert exc.value.code == 0
    assert out.startswith(f"usage: finetune-bounds diagonal{' ' + mode[0] if mode else ''}")
    assert "example" in out
    if not mode:
        assert "regime" in out and "solve" in out and "--empirical-seeds" in out


def test_listed_in_the_top_level_help(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out, _ = capsys.readouterr()
    assert "diagonal" in out and "regimes I–IV" in out
