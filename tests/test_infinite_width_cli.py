"""``finetune-bounds transfer``: the kernel learning curve from files, the linear toy model (table
and sign map), the protocols on a task pair (numbers = the library's, ``--output`` = the tidy
records), and every bad input → exit 2 with one line on stderr and no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from finetune_bounds import infinite_width as iw
from finetune_bounds.cli import main
from finetune_bounds.records import to_frame
from finetune_bounds.sweep.store import write_output

#: the tiny `run` of every test here (about a second per solver)
_TINY = ("--dim", "6", "--p-source", "12", "--p-target", "8", "--n-test", "20", "--width",
         "100", "--seeds", "1", "--activation", "linear", "--tol", "1e-5")


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["transfer", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _table(out: str, first: str) -> list[list[str]]:
    """The body rows of the table whose header line starts with ``first`` (split on runs of
    two or more spaces, so that "0.1 ± 0.01" stays one cell)."""
    import re

    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith(first))
    body = []
    for line in lines[head + 2:]:
        if not line.strip() or line.startswith("("):
            break
        body.append(re.split(r"\s{2,}", line.strip()))
    return body


def _g(v: float) -> str:
    return f"{v:.4g}"


def _one_line_error(code: int, out: str, err: str, *needles: str) -> None:
    assert code == 2, out
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("finetune-bounds transfer: error: ") and "Traceback" not in err
    for n in needles:
        assert n in err, err


@pytest.fixture
def spectrum(tmp_path: Path) -> dict[str, Path]:
    k = np.arange(1, 101, dtype=float)
    paths = {"eig": tmp_path / "eig.npy", "v2": tmp_path / "v2.csv",
             "short": tmp_path / "short.npy", "neg": tmp_path / "neg.npy"}
    np.save(paths["eig"], k**-1.5)
    np.savetxt(paths["v2"], k**-2.0, delimiter=",", header="v2", comments="")
    np.save(paths["short"], k[:50] ** -2.0)
    np.save(paths["neg"], np.r_[-0.1, k[1:] ** -1.5])
    return paths


# ---------------------------------------------------------------------------------------------
# help and dispatch
# ---------------------------------------------------------------------------------------------
def test_help_lists_the_modes(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["transfer", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "curve" in out and "toy" in out and "run" in out and "examples:" in out
    for mode in ("curve", "toy", "run"):
        with pytest.raises(SystemExit):
            main(["transfer", mode, "--help"])
        assert "usage: finetune-bounds transfer " + mode in capsys.readouterr().out


def test_no_mode_is_one_line(capsys):
    code, out, err = _run(capsys)
    _one_line_error(code, out, err, "choose a mode")


def test_usage_error_is_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["transfer", "toy", "--source", "S-C"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


# ---------------------------------------------------------------------------------------------
# mode curve
# ---------------------------------------------------------------------------------------------
def test_curve_matches_learning_curve(capsys, spectrum, tmp_path):
    out_path = tmp_path / "curve.json"
    code, out, err = _run(capsys, "curve", "--eigenvalues", str(spectrum["eig"]),
                          "--target-power", str(spectrum["v2"]), "--n", "0", "10", "100",
                          "1000", "--ridge", "1e-3", "--noise-variance", "0.01",
                          "--output", str(out_path))
    assert code == 0, err
    k = np.arange(1, 101, dtype=float)
    lc = iw.learning_curve(k**-1.5, k**-2.0, [0, 10, 100, 1000], ridge=1e-3,
                           noise_variance=0.01)
    rows = _table(out, "   n")
    assert [r[0] for r in rows] == ["0", "10", "100", "1000"]
    for i, r in enumerate(rows):
        assert r[1:4] == [_g(lc.error[i]), _g(lc.kappa[i]), _g(lc.gamma[i])]
        assert float(r[4]) == pytest.approx(1 - lc.gamma[i], rel=1e-3, abs=1e-12)
    assert "E_g" in out and "κ" in out and "1 − γ̃" in out
    recs = json.loads(out_path.read_text())
    errors = [r["mean"] for r in recs if r["quantity"] == "error"]
    np.testing.assert_allclose(errors, lc.error, rtol=1e-12)
    assert recs[0]["family"] is None  # NA → null


def test_curve_one_minus_gamma_at_the_interpolation_peak(capsys, spectrum):
    code, out, err = _run(capsys, "curve", "--eigenvalues", str(spectrum["eig"]),
                          "--target-power", str(spectrum["v2"]), "--n", "100", "200")
    assert code == 0, err
    rows = _table(out, "  n")
    assert rows[0][0] == "100" and rows[0][4] == "0"  # 1 − γ̃ = (n − r)/n, no round-off
    assert rows[1][4] == "0.5"


@pytest.mark.parametrize(
    ("which", "extra", "needle"),
    [
        ("short", [], "--target-power has 50 values but --eigenvalues has 100"),
        ("neg", [], "--eigenvalues must be ≥ 0"),
        ("missing", [], "--eigenvalues: file not found"),
        ("v2", ["--ridge", "-1"], "--ridge must be ≥ 0"),
        ("v2", ["--n", "-3"], "--n must be ≥ 0"),
    ],
)
def test_curve_bad_inputs(capsys, spectrum, tmp_path, which, extra, needle):
    eig, v2 = spectrum["eig"], spectrum["v2"]
    if which == "short":
        v2 = spectrum["short"]
    elif which == "neg":
        eig = spectrum["neg"]
    elif which == "missing":
        eig = tmp_path / "nope.npy"
    code, out, err = _run(capsys, "curve", "--eigenvalues", str(eig), "--target-power",
                          str(v2), *extra)
    _one_line_error(code, out, err, needle)


# ---------------------------------------------------------------------------------------------
# mode toy
# ---------------------------------------------------------------------------------------------
def test_toy_table_matches_toy_transfer(capsys, tmp_path):
    out_path = tmp_path / "toy.csv"
    code, out, err = _run(capsys, "toy", "--alpha-s", "0", "0.5", "1", "--nu2", "0.25", "1",
                          "--nu1", "2", "--s-hat", "10", "--output", str(out_path))
    assert code == 0, err
    for header in ("α_s", "ν₂", "E_FT", "E_scratch (lazy)", "E_scratch (rich)", "gain vs lazy",
                   "transfer"):
        assert header in out
    rows = _table(out, "α_s")
    assert len(rows) == 6
    for r in rows:
        a, nu = float(r[0]), float(r[1])
        t = iw.toy_transfer(a, 2.0, nu, s_hat=10.0)
        assert r[2:6] == [_g(t.e_ft), _g(t.e_scratch_lazy), _g(t.e_scratch_rich),
                          _g(t.gain_lazy)]
        assert r[6] == ("0" if a == 0 else "+")  # S-B: E_FT ≤ E_lazy, equal at α_s = 0
    assert f"c₁ = {_g(iw.toy_transfer(1.0, 2.0, 1.0, s_hat=10.0).c1)}" in out
    import pandas as pd

    frame = pd.read_csv(out_path)
    assert set(frame["quantity"]) == {"error_ft", "error_scratch_lazy", "error_scratch_rich",
                                      "gain_lazy", "gain_rich"}
    assert len(frame) == 30 and set(frame["source_network"]) == {"S-B"}


def test_toy_rich_baseline_and_sa_source(capsys):
    code, out, err = _run(capsys, "toy", "--alpha-s", "0.2", "--nu2", "1", "--source", "S-A",
                          "--lam-hat", "0.5", "--baseline", "rich")
    assert code == 0, err
    t = iw.toy_transfer(0.2, 2.0, 1.0, source="S-A", lam_hat=0.5)
    (row,) = _table(out, "α_s")
    assert "gain vs rich" in out and row[5] == _g(t.gain_rich)
    assert row[6] == ("+" if t.gain_rich > 0 else "−")


def test_toy_phase_map_matches_phase_diagram(capsys):
    alphas, nus = ["0", "0.25", "0.5", "0.75", "1"], ["0.25", "1", "4"]
    code, out, err = _run(capsys, "toy", "--alpha-s", *alphas, "--nu2", *nus, "--source", "S-A",
                          "--lam-hat", "0.5", "--baseline", "rich", "--phase")
    assert code == 0, err
    pdg = iw.phase_diagram([float(a) for a in alphas], [float(v) for v in nus], second="nu2",
                           baseline="rich", source="S-A", nu1=2.0, lam_hat=0.5)
    rows = _table(out, "α_s \\ ν₂")
    chars = {1: "+", -1: "−", 0: "0"}
    assert [r[0] for r in rows] == alphas
    assert [r[1:] for r in rows] == [[chars[int(s)] for s in row] for row in pdg.sign]
    assert "E_scratch (lazy)" not in out  # the map instead of the table


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--alpha-s", "2"], "--alpha-s must be in [-1, 1], got 2"),
        (["--nu2", "-1"], "--nu2 must be in [0, 1e+100]"),
        (["--source", "S-A", "--s-hat", "3"], "--s-hat does not apply to the S-A source"),
        (["--lam-hat", "0.5"], "--lam-hat does not apply to the S-B source"),
        (["--ridge-target", "0"], "--ridge-target must be > 0"),
        (["--output", "toy.txt"], "--output must end in .csv, .json or .parquet"),
    ],
)
def test_toy_bad_inputs(capsys, argv, needle):
    code, out, err = _run(capsys, "toy", *argv)
    _one_line_error(code, out, err, needle)


# ---------------------------------------------------------------------------------------------
# mode run
# ---------------------------------------------------------------------------------------------
def _tiny_task() -> tuple[iw.TransferTask, iw.TransferSetting]:
    task = iw.linear_pair(6, 12, 8, 20, alpha_s=0.8, rng=0)
    return task, iw.TransferSetting(activation="linear")


def test_run_particle_matches_transfer_dmft(capsys, tmp_path):
    out_path = tmp_path / "run.json"
    code, out, err = _run(capsys, "run", "--example", "linear", *_TINY,
                          "--output", str(out_path))
    assert code == 0, err
    assert err.splitlines() == ["running 5 protocols × 1 seed on the particle solver (M = 100)…"]
    task, setting = _tiny_task()
    ref = iw.transfer_dmft(task, setting, neurons=100, seeds=1, tol=1e-5, max_time=500)
    rows = _table(out, "protocol")
    assert [r[0] for r in rows] == list(iw.PROTOCOLS)
    assert {r[2] for r in rows} == {"particle"}
    for r in rows:
        prot = r[0]
        assert r[1] == ("reset" if prot.startswith("jr") else "fresh")
        assert r[3] == _g(ref.errors[prot][0])
        if prot.startswith("scratch"):
            assert r[4:] == ["–", "–"]
        else:
            assert r[4:] == [_g(ref.gain(prot, "lazy")[0]), _g(ref.gain(prot, "rich")[0])]
    assert ("stages (particle): source 1/1 converged; scratch_rich 1/1 converged; jr_e 1/1 "
            "converged; jr_i ran to T₂ = 10 (1 run)") in out
    # --output: the tidy records of TransferResult.records(), NaN/NA as null
    text = out_path.read_text()
    assert "NaN" not in text
    recs = json.loads(text)
    expected = ref.records(solver="particle", example="linear")
    assert all(r["family"] is None and r["experiment"] is None for r in recs)
    assert {"mean", "stderr", "count"} <= set(recs[0]) and "value" not in recs[0]
    assert sum(r["count"] for r in recs) == len(expected)  # the long summary of the records
    ref_path = write_output(to_frame(expected), tmp_path / "ref.json")
    assert out_path.read_bytes() == ref_path.read_bytes()


def test_run_both_solvers_two_seeds(capsys):
    argv = list(_TINY)
    argv[argv.index("--seeds") + 1] = "2"
    code, out, err = _run(capsys, "run", "--example", "linear", *argv, "--solver", "both",
                          "--protocols", "scratch_lazy", "ft")
    assert code == 0, err
    assert "on the particle solver (M = 100) and finite-width networks (N = 100)" in err
    rows = _table(out, "protocol")
    assert [(r[0], r[2]) for r in rows] == [("scratch_lazy", "particle"), ("ft", "particle"),
                                            ("scratch_lazy", "network"), ("ft", "network")]
    task, setting = _tiny_task()
    net = iw.transfer_network(task, setting, protocols=("scratch_lazy", "ft"), width=100,
                              seeds=2, tol=1e-5, max_time=500)
    e = np.asarray(net.errors["ft"])
    assert rows[3][3] == f"{e.mean():.4g} ± {e.std(ddof=1) / np.sqrt(2):.2g}"
    assert rows[3][5] == "–"  # no scratch_rich: no gain vs rich
    assert "(no gain against scratch_rich: add it to --protocols)" in out
    assert "stages (network): source 2/2 converged" in out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--example", "linear", "--protocols", "ft", "bogus"], "unknown protocol 'bogus'"),
        (["--example", "linear", "--alpha-s", "2"], "--alpha-s must be in [-1, 1], got 2"),
        (["--example", "linear", "--seeds", "0"], "--seeds must be ≥ 1, got 0"),
        (["--example", "linear", "--degree", "3"], "--degree does not apply to --example linear"),
        (["--example", "digits", "--dim", "5"], "--dim does not apply to --example digits"),
        (["--example", "hermite", "--degree", "11"], "--degree must be ≤ 10"),
        (["--example", "linear", "--width", "1"], "--width must be ≥ 2"),
        (["--example", "linear", "--ridge-target", "0"], "--ridge-target must be > 0"),
        (["--seeds", "1"], "missing input: --example"),
    ],
)
def test_run_bad_inputs(capsys, argv, needle):
    code, out, err = _run(capsys, "run", *argv)
    _one_line_error(code, out, err, needle)
    assert "running" not in err  # rejected before anything runs
