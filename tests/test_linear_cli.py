"""``finetune-bounds linear``: success tables, file inputs checked against the library, and every
bad input → exit 2 with one line on stderr and no traceback. (That its numbers are those of
``finetune_bounds.sweep.run`` is in ``test_cli_adapters.py``.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from finetune_bounds import Covariance, LinearTask
from finetune_bounds.cli import main
from finetune_bounds.linear import bounds, expected_risk, sample_complexity


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["linear", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """A small task on disk: Σ (d = 12, power law, rotated), its spectrum and eigenvectors,
    teachers as .npy and .csv."""
    rng = np.random.default_rng(0)
    d = 12
    lam = 1.0 / np.arange(1, d + 1)
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    sigma = (q * lam) @ q.T
    sigma = 0.5 * (sigma + sigma.T)
    src = rng.standard_normal(d)
    tgt = src + rng.standard_normal(d) / 3
    paths = {
        "cov": tmp_path / "cov.npy", "cov_csv": tmp_path / "cov.csv",
        "spec": tmp_path / "spec.csv", "vecs": tmp_path / "vecs.npy",
        "src": tmp_path / "src.npy", "tgt": tmp_path / "tgt.csv",
    }
    np.save(paths["cov"], sigma)
    np.savetxt(paths["cov_csv"], sigma, delimiter=",")
    np.savetxt(paths["spec"], lam, delimiter=",")
    np.save(paths["vecs"], q)
    np.save(paths["src"], src)
    np.savetxt(paths["tgt"], tgt, delimiter=",")
    return paths


def test_example_prints_theory_bounds_and_empirical_side_by_side(capsys):
    code, out, err = _run(capsys, "--example", "power_law", "--n", "10", "50", "250",
                          "--empirical-seeds", "4", "--eps", "0.2")
    assert code == 0
    assert err.splitlines() == ["computing 1 cell of linear, 3 values of n, 4 seeds …"]
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:1] == ["theory"]
                  and "bound" in line)
    assert {"theory", "bound", "empirical"} <= set(lines[header].split())
    assert "head/tail" in lines[header + 1] and "zero-shot" in lines[header + 1]
    assert "rate" in lines[header].split()  # benign and head/tail are rates, not bounds
    rows = [line.split()[0] for line in lines[header + 3: header + 6]]
    assert rows == ["10", "50", "250"]
    assert "±" in lines[header + 3]  # empirical mean ± standard error
    assert "n*(ε = 0.2) theory (weights, auto):" in out and "empirical" in out


def test_default_grid_and_gd(capsys):
    code, out, _ = _run(capsys, "--example", "spiked", "--gd", "--empirical-seeds", "2",
                        "--n", "20", "100")
    assert code == 0 and "GD risk" in out and "GD conv." in out


def test_digits_example(capsys):
    code, out, _ = _run(capsys, "--example", "digits", "--empirical-seeds", "0")
    assert code == 0 and "d = 64" in out and "rank Σ = 61" in out
    assert "empirical" not in out.splitlines()[3]  # theory only


@pytest.mark.parametrize("route", ["cov", "cov_csv", "spec"])
def test_file_inputs_match_library(capsys, files, tmp_path, route):
    out_path = tmp_path / "out.json"
    args = ["--source", str(files["src"]), "--target", str(files["tgt"]), "--noise-variance",
            "0.05", "--n", "3", "8", "30", "--empirical-seeds", "0", "--output", str(out_path),
            "--bound-constant", "benign=2.5", "--method", "deterministic"]
    if route == "spec":
        args += ["--spectrum", str(files["spec"]), "--eigenvectors", str(files["vecs"])]
    else:
        args += ["--covariance", str(files[route])]
    code, _out, err = _run(capsys, *args)
    assert code == 0, err
    rows = json.loads(out_path.read_text())
    df = pd.DataFrame(rows)
    sigma = np.load(files["cov"])
    task = LinearTask(Covariance.from_matrix(sigma), np.load(files["src"]),
                      np.loadtxt(files["tgt"], delimiter=","), 0.05)
    for n in (3, 8, 30):
        ref = expected_risk(task, n, "deterministic")
        got = df[(df.quantity == "risk") & (df.source == "theory") & (df.n == n)
                 & (df.start == "pretrained")]["mean"]
        assert float(got.item()) == pytest.approx(ref.risk, rel=1e-9)
        b = bounds(task, n, constants={"benign": 2.5})
        got_b = df[(df.source == "bound") & (df.method == "benign") & (df.n == n)]["mean"]
        assert float(got_b.iloc[0]) == pytest.approx(b["benign"].value, rel=1e-12)


def test_isotropic_and_monte_carlo_methods(capsys, tmp_path):
    d = 10
    np.save(tmp_path / "cov.npy", 2.0 * np.eye(d))
    np.save(tmp_path / "s.npy", np.zeros(d))
    np.save(tmp_path / "t.npy", np.ones(d))
    base = ["--covariance", str(tmp_path / "cov.npy"), "--source", str(tmp_path / "s.npy"),
            "--target", str(tmp_path / "t.npy"), "--n", "4", "--empirical-seeds", "0"]
    out_csv = tmp_path / "iso.csv"
    code, out, _ = _run(capsys, *base, "--method", "isotropic", "--output", str(out_csv),
                        "--eps", "5")
    assert code == 0
    df = pd.read_csv(out_csv)
    iso = df[(df.quantity == "risk") & (df.source == "theory") & (df.start == "pretrained")]
    iso = iso["mean"].item()
    assert iso == pytest.approx(2.0 * (1 - 4 / d) * d)  # s²(1 − n/d)‖Δ‖², spec §2.3
    iso_task = LinearTask(Covariance.from_matrix(2.0 * np.eye(d)), np.zeros(d), np.ones(d))
    n_star = sample_complexity(iso_task, 5.0, method="isotropic").n
    assert f"n*(ε = 5) theory (isotropic): {n_star}" in out
    code, out, _ = _run(capsys, *base, "--method", "monte_carlo", "--draws", "50")
    assert code == 0 and "Monte Carlo over 50" in out and "±" in out


def test_writes_csv(capsys, tmp_path):
    path = tmp_path / "t.csv"
    code, out, _ = _run(capsys, "--example", "spiked", "--n", "10", "--empirical-seeds", "3",
                        "--output", str(path))
    assert code == 0 and f"wrote {path}" in out
    df = pd.read_csv(path)  # the tidy records, as `finetune-bounds run --output` writes them
    assert {"family", "experiment", "quantity", "source", "mean", "stderr", "count", "method",
            "n", "spectrum", "d"} <= set(df.columns)  # the long summary form of every --output
    assert set(df.source) == {"theory", "bound", "empirical"}
    assert set(df[df.source == "empirical"]["count"]) == {3}


def _bad_files(tmp_path: Path) -> dict[str, Path]:
    d = 4
    files = {
        "nonsym": np.array([[1.0, 0.5, 0, 0], [0.0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]),
        "indef": np.diag([1.0, -0.5, 1.0, 1.0]),
        "nonsquare": np.ones((4, 3)),
        "good": np.eye(d),
        "vec": np.ones(d),
        "short": np.ones(d - 1),
        "nan": np.array([1.0, np.nan, 0.0, 0.0]),
        "negspec": np.array([1.0, 0.5, -0.3, 0.1]),
        "badvecs": np.ones((d, d)),
    }
    out = {}
    for k, v in files.items():
        out[k] = tmp_path / f"{k}.npy"
        np.save(out[k], v)
    out["garbage"] = tmp_path / "garbage.csv"
    out["garbage"].write_text("1, 2, x\n3, 4, 5\n")
    out["empty"] = tmp_path / "empty.csv"
    out["empty"].write_text("")
    out["txtnan"] = tmp_path / "nan.csv"
    out["txtnan"].write_text("1,nan,0,0\n")
    out["weird"] = tmp_path / "cov.xlsx"
    out["weird"].write_text("nope")
    out["missing"] = tmp_path / "does_not_exist.npy"
    out["complex"] = tmp_path / "complex.npy"
    np.save(out["complex"], np.ones(d) + 1j)
    return out


BAD_CASES = {
    "missing input": ([], "missing input"),
    "covariance without teachers": (["--covariance", "{good}"], "--source and --target"),
    "non-symmetric": (["--covariance", "{nonsym}", "--source", "{vec}", "--target", "{vec}"],
                      "not symmetric"),
    "indefinite": (["--covariance", "{indef}", "--source", "{vec}", "--target", "{vec}"],
                   "positive semi-definite"),
    "non-square": (["--covariance", "{nonsquare}", "--source", "{vec}", "--target", "{vec}"],
                   "square"),
    "wrong teacher length": (["--covariance", "{good}", "--source", "{short}", "--target",
                              "{vec}"], "length"),
    "NaN teacher": (["--covariance", "{good}", "--source", "{nan}", "--target", "{vec}"],
                    "NaN"),
    "NaN in csv": (["--covariance", "{good}", "--source", "{txtnan}", "--target", "{vec}"],
                   "NaN"),
    "negative spectrum": (["--spectrum", "{negspec}", "--source", "{vec}", "--target", "{vec}"],
                          "positive semi-definite"),
    "non-orthonormal eigenvectors": (["--spectrum", "{vec}", "--eigenvectors", "{badvecs}",
                                      "--source", "{vec}", "--target", "{vec}"], "orthonormal"),
    "eigenvectors alone": (["--eigenvectors", "{good}", "--example", "power_law"],
                           "--eigenvectors needs --spectrum"),
    "unreadable": (["--covariance", "{garbage}", "--source", "{vec}", "--target", "{vec}"],
                   "cannot read"),
    "empty file": (["--covariance", "{empty}", "--source", "{vec}", "--target", "{vec}"],
                   "is empty"),
    "unknown extension": (["--covariance", "{weird}", "--source", "{vec}", "--target", "{vec}"],
                          "unsupported file type"),
    "missing file": (["--covariance", "{missing}", "--source", "{vec}", "--target", "{vec}"],
                     "file not found"),
    "two inputs": (["--example", "power_law", "--covariance", "{good}"], "only one of"),
    "example with teachers": (["--example", "power_law", "--source", "{vec}"], "cannot be"),
    "unknown example": (["--example", "mnist"], "--example must be one of"),
    "n = 0": (["--example", "power_law", "--n", "10", "0"], "n must be ≥ 1"),
    "n < 0": (["--example", "power_law", "--n", "-3"], "n must be ≥ 1"),
    "n not integer": (["--example", "power_law", "--n", "ten"], "integer"),
    "noise negative": (["--example", "power_law", "--noise-variance", "-1"], "≥ 0"),
    "noise NaN": (["--example", "power_law", "--noise-variance", "nan"], "finite"),
    "noise inf": (["--example", "power_law", "--noise-variance", "inf"], "finite"),
    "eps negative": (["--example", "power_law", "--eps", "-0.1"], "≥ 0"),
    "unknown method": (["--example", "power_law", "--method", "exact"], "--method must be"),
    "isotropic on anisotropic": (["--example", "power_law", "--method", "isotropic"],
                                 "isotropic"),
    "draws 1": (["--example", "power_law", "--draws", "1"], "--draws must be"),
    "seeds negative": (["--example", "power_law", "--empirical-seeds", "-2"], "≥ 0"),
    "bad bound constant name": (["--example", "power_law", "--bound-constant", "tight=2"],
                                "NAME=VALUE"),
    "bad bound constant value": (["--example", "power_law", "--bound-constant", "naive=big"],
                                 "number"),
    "bad output": (["--example", "power_law", "--output", "{tmp}/x.txt"],
                   ".csv, .json or .parquet"),
    "seed removed": (["--example", "power_law", "--seed", "3"], "--seed was removed"),
    "output folder missing": (["--example", "power_law", "--empirical-seeds", "0", "--output",
                               "{tmp}/nope/x.csv"], "does not exist"),
    "option without value": (["--example"], "expected one argument"),
    # numpy would silently drop the imaginary part when casting to float64
    "complex teacher": (["--covariance", "{good}", "--source", "{complex}", "--target", "{vec}"],
                        "complex numbers"),
}


@pytest.mark.filterwarnings("ignore:loadtxt")  # numpy warns on the empty file (see _io.py)
@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_input_exits_2_with_one_line(capsys, tmp_path, case):
    files = _bad_files(tmp_path)
    argv, match = BAD_CASES[case]
    subst = {k: str(v) for k, v in files.items()} | {"tmp": str(tmp_path)}
    argv = [a.format(**subst) for a in argv]
    code: int | str | None
    try:
        code = main(["linear", *argv])
    except SystemExit as exc:  # argparse-level errors exit through the parser
        code = exc.code
    out, err = capsys.readouterr()
    assert code == 2, (case, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and lines[0].startswith("finetune-bounds linear: error:")
    assert match in lines[0], lines[0]


def test_installed_script_runs_the_demo():
    exe = Path(sys.executable).with_name("finetune-bounds")
    if not exe.exists():
        pytest.skip("finetune-bounds console script not installed next to this Python")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [str(exe), "linear", "--example", "power_law", "--n", "20", "100",
         "--empirical-seeds", "3"],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "empirical" in proc.stdout and "bound" in proc.stdout
    bad = subprocess.run([str(exe), "linear", "--n", "5"], capture_output=True, text=True,
                         timeout=120, env=env, check=False)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_csv_with_a_header_row_reads_like_without(capsys, tmp_path):
    """A header row (as pandas and spreadsheets write) is skipped, not an error."""
    d = 4
    rng = np.random.default_rng(3)
    np.save(tmp_path / "cov.npy", np.diag([1.0, 0.5, 0.25, 0.125]))
    src, tgt = rng.standard_normal(d), rng.standard_normal(d)
    np.savetxt(tmp_path / "t.csv", tgt, delimiter=",")
    (tmp_path / "t_header.csv").write_text("theta_T\n" + "\n".join(repr(float(v)) for v in tgt))
    np.save(tmp_path / "s.npy", src)
    tables = []
    for name in ("t.csv", "t_header.csv"):
        out_path = tmp_path / f"{name}.json"
        code, _out, err = _run(
            capsys, "--covariance", str(tmp_path / "cov.npy"), "--source",
            str(tmp_path / "s.npy"), "--target", str(tmp_path / name), "--n", "2",
            "--empirical-seeds", "0", "--output", str(out_path), "--method", "deterministic",
        )  # (auto's Monte Carlo stream derives from the cell, whose file names differ)
        assert code == 0, err
        rows = json.loads(out_path.read_text())
        for r in rows:  # the files differ (name, header bytes), the numbers do not
            assert r.pop("target_file").endswith(name) and len(r.pop("files_sha256")) == 64
        tables.append(rows)
    assert tables[0] == tables[1]


def test_missing_output_folder_is_reported_before_computing(capsys, tmp_path, monkeypatch):
    import finetune_bounds.sweep

    def boom(*a, **k):
        raise AssertionError("computed although --output cannot be written")

    monkeypatch.setattr(finetune_bounds.sweep, "run", boom)
    code, _out, err = _run(capsys, "--example", "power_law", "--output",
                           str(tmp_path / "nope" / "x.csv"))
    assert code == 2 and "folder does not exist" in err
