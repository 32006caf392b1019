"""Hard edges of the command line (issue 13): every subcommand, one bad value per option.

The promise: for bad input each subcommand prints exactly one non-empty line on stderr (no
traceback, no warning lines before it) and exits with status 2; for good input it exits 0 and
its tables hold finite numbers (a table of ``inf``/``nan`` for finite inputs is a bug). Sizes
far beyond the resource limits (10**12) fail at once with a resource-limit error.

Each case runs :func:`finetune_bounds.cli.main` in-process (argparse usage errors raise
``SystemExit(2)``, everything else returns the status); a few cases also run in a real
``python -m finetune_bounds`` process. The default file runs one representative bad value per
option kind; ``-m slow`` runs every bad value on every option.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from finetune_bounds.cli import main

#: per-case wall-clock limit (s): a huge size must fail at once, not run
CASE_SECONDS = 8

# ---------------------------------------------------------------------------------------------
# input files (written once per session; argv refers to them as {d}/NAME)
# ---------------------------------------------------------------------------------------------


def _write_files(d: Path) -> None:
    rng = np.random.default_rng(0)
    np.save(d / "spec.npy", np.array([1.0, 0.5, 0.25, 0.125]))
    np.save(d / "cov.npy", np.diag([1.0, 0.5, 0.25, 0.125]))
    np.save(d / "src.npy", np.array([1.0, 0.0, 0.5, 0.2]))
    np.save(d / "tgt.npy", np.array([0.8, 0.1, 0.5, 0.1]))
    np.save(d / "big.npy", np.full(4, 1e200))  # finite, but its squares overflow
    np.save(d / "wrong.npy", np.ones((2, 3)))
    np.save(d / "short.npy", np.ones(3))
    np.save(d / "nan.npy", np.array([1.0, np.nan, 0.5, 0.2]))
    (d / "empty.npy").write_bytes(b"")
    (d / "text.csv").write_text("a,b\nx,y\n")
    (d / "bad.toml").write_bytes(b"\xff\xfe[bad]\n\x80\x81 = 1\n")
    (d / "bad.npy").write_bytes(b"\xff\xfe not numpy \x80")
    (d / "empty.toml").write_text("")
    (d / "adir").mkdir()
    (d / "afile").write_text("x")
    np.save(d / "X.npy", rng.standard_normal((3, 6)))
    np.save(d / "y.npy", rng.standard_normal(3))
    np.save(d / "b.npy", rng.standard_normal(6))
    np.save(d / "Xbig.npy", np.full((3, 6), 1e200))
    np.save(d / "ybig.npy", np.full(3, 1e200))
    np.save(d / "bbig.npy", np.full(6, 1e200))
    np.save(d / "eig.npy", np.array([1.0, 0.5, 0.1]))
    np.save(d / "v2.npy", np.array([0.5, 0.3, 0.2]))
    np.save(d / "eigbig.npy", np.array([1e200, 1e200, 1.0]))
    np.save(d / "v2big.npy", np.array([1e200, 1e200, 1.0]))
    np.save(d / "neg.npy", np.array([1.0, -0.5, 0.1]))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cli_edges")
    _write_files(d)
    return d


# ---------------------------------------------------------------------------------------------
# baselines: a small valid call per subcommand (each well under a second)
# ---------------------------------------------------------------------------------------------
_FILES = ["--spectrum", "{d}/spec.npy", "--source", "{d}/src.npy", "--target", "{d}/tgt.npy"]

BASE: dict[str, list[str]] = {
    "samples": ["samples", *_FILES, "--eps", "0.1", "--no-progress"],
    "linear": ["linear", *_FILES, "--n", "2", "3", "--empirical-seeds", "2"],
    "deep-linear": ["deep-linear", *_FILES, "--n", "2", "--depth", "2", "--draws", "4"],
    "deep-linear-gd": ["deep-linear", *_FILES, "--n", "2", "--depth", "2", "--draws", "2",
                       "--method", "gd", "--seeds", "1", "--width", "4"],
    "relu": ["relu", "--example", "synthetic", "--d", "4", "--n", "5", "--width", "8",
             "--draws", "1", "--n-test", "20"],
    "relu-files": ["relu", "--source", "{d}/src.npy", "--target", "{d}/tgt.npy", "--n", "5",
                   "--width", "8", "--draws", "1", "--n-test", "20"],
    "relu-train": ["relu", "--example", "synthetic", "--d", "4", "--n", "5", "--width", "8",
                   "--draws", "1", "--n-test", "20", "--train", "--seeds", "1"],
    "diagonal": ["diagonal", "--alpha", "0.5"],
    "diagonal-emp": ["diagonal", "--alpha", "0.5", "--empirical-seeds", "1", "--d", "20"],
    "diagonal-regime": ["diagonal", "regime", "--c-pt", "1e-3"],
    "diagonal-solve": ["diagonal", "solve", "--x", "{d}/X.npy", "--y", "{d}/y.npy",
                       "--beta-pt", "{d}/b.npy"],
    "transfer-curve": ["transfer", "curve", "--eigenvalues", "{d}/eig.npy", "--target-power",
                       "{d}/v2.npy", "--n", "1", "10"],
    "transfer-toy": ["transfer", "toy", "--alpha-s", "0.5", "--nu2", "1"],
    "transfer-run": ["transfer", "run", "--example", "linear", "--dim", "4", "--p-source", "8",
                     "--p-target", "4", "--n-test", "10", "--width", "20", "--seeds", "1",
                     "--protocols", "ft", "--max-time", "5"],
    "run": ["run", "linear", "--set", "d=4", "--set", "n=3", "--set", "gd=false"],
    "sweep": ["sweep", "{d}/afile.toml", "--out", "{d}/out", "--no-progress"],
    "report": ["report", "--config", "{d}/afile.toml", "--out", "{d}/rep", "--no-progress"],
}

#: baselines that must succeed (sweep/report are only exercised with bad inputs: a real run
#: takes seconds)
GOOD = [k for k in BASE if k not in ("sweep", "report")]

# value kinds: the bad values tried on an option of that kind (the first ones are the default
# file's representatives, all of them run with -m slow)
INT = ["x", "-1", "1000000000000", "nan", "inf", "0", "1e400", "", "1.5"]
FLOAT = ["nan", "-1", "1e400", "x", "inf", "0", "", "1e200", "-inf"]
VEC = ["{d}/missing.npy", "{d}/empty.npy", "{d}/wrong.npy", "{d}/big.npy", "{d}/text.csv",
       "{d}/bad.toml", "{d}/adir", "{d}/short.npy", "{d}/nan.npy", "{d}/bad.npy"]
OUT = ["{d}/nodir/out.csv", "{d}/out.txt", "{d}/adir", ""]
CONFIG = ["{d}/missing.toml", "{d}/bad.toml", "{d}/adir", "{d}/empty.toml", "{d}/spec.npy", ""]
KINDS = {"int": INT, "float": FLOAT, "vec": VEC, "out": OUT, "config": CONFIG}
#: how many values of each kind the default file runs
QUICK = {"int": 3, "float": 3, "vec": 4, "out": 2, "config": 4}

#: (baseline, option, kind)
OPTIONS: list[tuple[str, str, str]] = [
    *[("samples", o, k) for o, k in [
        ("--noise-variance", "float"), ("--eps", "float"), ("--trained", "int"),
        ("--n-max", "int"), ("--width", "int"), ("--draws", "int"), ("--seed", "int"),
        ("--spectrum", "vec"), ("--source", "vec"), ("--target", "vec"), ("--output", "out"),
    ]],
    *[("linear", o, k) for o, k in [
        ("--noise-variance", "float"), ("--n", "int"), ("--eps", "float"), ("--draws", "int"),
        ("--task-seed", "int"), ("--empirical-seeds", "int"), ("--workers", "int"),
        ("--spectrum", "vec"), ("--source", "vec"), ("--target", "vec"), ("--output", "out"),
    ]],
    *[("deep-linear", o, k) for o, k in [
        ("--noise-variance", "float"), ("--depth", "int"), ("--frozen-layers", "int"),
        ("--n", "int"), ("--draws", "int"), ("--seed", "int"), ("--eps", "float"),
        ("--workers", "int"), ("--spectrum", "vec"), ("--source", "vec"), ("--target", "vec"),
        ("--output", "out"),
    ]],
    *[("deep-linear-gd", o, k) for o, k in [("--seeds", "int"), ("--width", "int")]],
    *[("relu", o, k) for o, k in [
        ("--n", "int"), ("--width", "int"), ("--seed", "int"), ("--draws", "int"),
        ("--n-test", "int"), ("--delta", "float"), ("--constant", "float"), ("--ridge", "float"),
        ("--eps", "float"), ("--n-max", "int"), ("--d", "int"), ("--delta-norm", "float"),
        ("--workers", "int"), ("--output", "out"),
    ]],
    *[("relu-files", o, k) for o, k in [
        ("--source", "vec"), ("--target", "vec"), ("--covariance", "vec"),
    ]],
    *[("relu-train", o, k) for o, k in [("--seeds", "int")]],
    *[("diagonal", o, k) for o, k in [
        ("--alpha", "float"), ("--c-pt", "float"), ("--lambda-pt", "float"),
        ("--gamma-ft", "float"), ("--omega", "float"), ("--rho-pt", "float"),
        ("--rho-ft", "float"), ("--a-pt", "float"), ("--noise-variance", "float"),
        ("--workers", "int"), ("--output", "out"),
    ]],
    *[("diagonal-emp", o, k) for o, k in [
        ("--empirical-seeds", "int"), ("--d", "int"), ("--gd-lr", "float"),
        ("--gd-tol", "float"), ("--gd-max-steps", "int"),
    ]],
    *[("diagonal-regime", o, k) for o, k in [
        ("--c-pt", "float"), ("--lambda-pt", "float"), ("--gamma-ft", "float"),
        ("--beta-pt", "float"), ("--beta-ft", "float"),
    ]],
    *[("diagonal-solve", o, k) for o, k in [
        ("--x", "vec"), ("--y", "vec"), ("--beta-pt", "vec"), ("--c-pt", "float"),
        ("--lambda-pt", "float"), ("--gamma-ft", "float"), ("--tol", "float"),
        ("--max-iter", "int"), ("--output", "out"),
    ]],
    *[("transfer-curve", o, k) for o, k in [
        ("--eigenvalues", "vec"), ("--target-power", "vec"), ("--n", "int"),
        ("--ridge", "float"), ("--noise-variance", "float"), ("--output", "out"),
    ]],
    *[("transfer-toy", o, k) for o, k in [
        ("--alpha-s", "float"), ("--nu2", "float"), ("--nu1", "float"), ("--s-hat", "float"),
        ("--lam-hat", "float"), ("--ridge-source", "float"), ("--ridge-target", "float"),
        ("--noise-source", "float"), ("--noise-target", "float"), ("--output", "out"),
    ]],
    *[("transfer-run", o, k) for o, k in [
        ("--dim", "int"), ("--p-source", "int"), ("--p-target", "int"), ("--n-test", "int"),
        ("--alpha-s", "float"), ("--width", "int"), ("--seeds", "int"),
        ("--gamma-source", "float"), ("--gamma-target", "float"), ("--ridge-source", "float"),
        ("--ridge-hidden", "float"), ("--ridge-target", "float"), ("--stiffness", "float"),
        ("--tol", "float"), ("--max-time", "float"), ("--rng", "int"), ("--output", "out"),
    ]],
    *[("run", o, k) for o, k in [
        ("--seeds", "int"), ("--workers", "int"), ("--output", "out"),
    ]],
    ("sweep", "CONFIG", "config"),
    ("sweep", "--workers", "int"),
    ("report", "--config", "config"),
    ("report", "--workers", "int"),
]

#: ``run`` parameters, set as --set KEY=VALUE (TOML values)
RUN_SETS: list[tuple[str, str, str]] = [
    ("linear", "d", "int"), ("linear", "n", "int"), ("linear", "noise_variance", "float"),
    ("linear", "exponent", "float"), ("linear", "source_norm", "float"),
    ("linear", "task_seed", "int"),
]
#: TOML spellings of the bad values (text that is not TOML is read as text)
RUN_INT = ["-1", "1000000000000", "nan", "x", "inf", "0", "1e400", '""', "1.5"]
RUN_FLOAT = ["nan", "-1.0", "1e400", "x", "inf", "0", '""', "1e200", "-inf"]

#: bad values that are legitimately valid for an option: (baseline, option, value)
VALID = {
    *[(b, o, "0") for b, o in [
        ("samples", "--noise-variance"), ("samples", "--trained"), ("samples", "--seed"),
        ("linear", "--noise-variance"), ("linear", "--task-seed"),
        ("linear", "--empirical-seeds"), ("deep-linear", "--noise-variance"),
        ("deep-linear", "--frozen-layers"), ("deep-linear", "--seed"),
        ("deep-linear-gd", "--seeds"), ("relu", "--seed"), ("relu", "--ridge"),
        ("relu", "--constant"), ("relu", "--delta-norm"), ("diagonal", "--lambda-pt"),
        ("diagonal", "--gamma-ft"), ("diagonal", "--omega"), ("diagonal", "--noise-variance"),
        ("diagonal-emp", "--empirical-seeds"), ("diagonal-regime", "--lambda-pt"),
        ("diagonal-regime", "--gamma-ft"), ("diagonal-solve", "--lambda-pt"),
        ("diagonal-solve", "--gamma-ft"), ("transfer-curve", "--n"),
        ("transfer-curve", "--ridge"), ("transfer-curve", "--noise-variance"),
        ("transfer-toy", "--alpha-s"), ("transfer-toy", "--nu2"), ("transfer-toy", "--nu1"),
        ("transfer-toy", "--s-hat"), ("transfer-toy", "--noise-source"),
        ("transfer-toy", "--noise-target"), ("transfer-run", "--alpha-s"),
        ("transfer-run", "--ridge-hidden"), ("transfer-run", "--stiffness"),
        ("transfer-run", "--rng"), ("run", "--seeds"),
    ]],
    *[(b, o, "-1") for b, o in [
        ("diagonal", "--lambda-pt"), ("diagonal-regime", "--lambda-pt"),
        ("diagonal-solve", "--lambda-pt"), ("transfer-toy", "--alpha-s"),
        ("transfer-run", "--alpha-s"),
    ]],
    # 10**12 where it is no size: seeds, unused options, analytic formulas
    *[(b, o, "1000000000000") for b, o in [
        ("samples", "--seed"), ("samples", "--n-max"), ("linear", "--task-seed"),
        ("linear", "--draws"),  # unused by the deterministic equivalent
        ("linear", "--workers"), ("deep-linear", "--depth"), ("deep-linear", "--seed"),
        ("deep-linear", "--workers"), ("relu", "--width"),  # the theory rows: the NTK limit
        ("relu", "--seed"), ("relu", "--workers"),
        ("relu", "--n-max"),  # unused without --eps
        ("diagonal", "--workers"),
        ("diagonal-solve", "--max-iter"), ("transfer-curve", "--n"), ("transfer-run", "--rng"),
        ("run", "--workers"), ("run", "--set n"), ("run", "--set task_seed"),
    ]],
    # 1e200 where it is finite and harmless (or refused in one line)
    *[(b, o, "1e200") for b, o in [
        ("diagonal", "--alpha"), ("diagonal", "--c-pt"), ("diagonal", "--noise-variance"),
        ("diagonal-regime", "--c-pt"), ("diagonal-regime", "--beta-pt"),
        ("diagonal-regime", "--beta-ft"), ("diagonal-solve", "--c-pt"),
        ("diagonal-solve", "--tol"), ("transfer-curve", "--noise-variance"),
        ("transfer-toy", "--s-hat"), ("transfer-toy", "--noise-source"),
        ("transfer-toy", "--noise-target"), ("transfer-run", "--gamma-source"),
        ("transfer-run", "--gamma-target"), ("transfer-run", "--ridge-hidden"),
        ("transfer-run", "--ridge-target"), ("transfer-run", "--stiffness"),
        ("transfer-run", "--tol"), ("transfer-run", "--max-time"),
        ("run", "--set noise_variance"), ("run", "--set exponent"),
    ]],
    *[(b, o, "0") for b, o in [
        ("linear", "--eps"), ("deep-linear", "--eps"),  # n*(0): not reached
        ("relu", "--n-max"),  # unused without --eps
        ("diagonal-regime", "--beta-pt"), ("diagonal-regime", "--beta-ft"),
        ("run", "--set noise_variance"), ("run", "--set exponent"),
        ("run", "--set source_norm"), ("run", "--set task_seed"),
    ]],
    # a vector of 3 where 3 entries are expected
    ("diagonal-solve", "--y", "{d}/short.npy"),
    ("transfer-curve", "--eigenvalues", "{d}/short.npy"),
    ("transfer-curve", "--target-power", "{d}/short.npy"),
    ("transfer-curve", "--n", "1.5"),  # the analytic curve takes real n
    ("deep-linear", "--depth", "inf"),  # the infinite-depth limit (rows print depth inf)
    ("samples", "--eps", "1e200"), ("linear", "--eps", "1e200"),
    ("deep-linear", "--eps", "1e200"),
    ("relu", "--constant", "1e200"),  # a documented, finite but huge bound
    ("relu", "--ridge", "1e200"), ("diagonal", "--a-pt", "1e200"),
}

#: failures whose fix belongs in a family package: (baseline, option, value) → reason
#: (the family's cell runs and fails after the "computing …" note: two stderr lines, and a
#: MemoryError or hours of work instead of a ResourceLimitError before anything runs)
_BIG = "1000000000000"
FAMILY_XFAIL: dict[tuple[str, str, str], str] = {
}


#: known failures that take the whole per-case time limit: only in the exhaustive variant
SLOW_ONLY: set[tuple[str, str, str]] = set()


def _replace(base: list[str], option: str, values: list[str]) -> list[str]:
    """``base`` with ``option`` (and its values) removed and ``option values`` appended; the
    positional ``CONFIG`` of sweep replaces the first positional after the command."""
    if option == "CONFIG":
        return [base[0], values[0], *base[2:]]
    out: list[str] = []
    skip = False
    for w in base:
        if w == option:
            skip = True
            continue
        if skip and not w.startswith("--"):
            continue
        skip = False
        out.append(w)
    return [*out, option, *values]


def _cases(slow: bool) -> Iterator[object]:
    for base, option, kind in OPTIONS:
        values = KINDS[kind] if slow else KINDS[kind][: QUICK[kind]]
        for value in values:
            case = (base, option, value)
            if case in SLOW_ONLY and not slow:
                continue
            marks = [pytest.mark.xfail(strict=True, reason=FAMILY_XFAIL[case])] \
                if case in FAMILY_XFAIL else []
            yield pytest.param(base, _replace(BASE[base], option, [value]), case in VALID,
                               id=f"{base}{option}={value.replace('{d}/', '')}", marks=marks)
    for family, key, kind in RUN_SETS:
        values = RUN_INT if kind == "int" else RUN_FLOAT
        for value in values if slow else values[:3]:
            k = ("run", f"--set {key}", value)
            marks = [pytest.mark.xfail(strict=True, reason=FAMILY_XFAIL[k])] \
                if k in FAMILY_XFAIL else []
            sets = {"d": "4", "n": "3", "gd": "false", key: value}
            argv = ["run", family, *(w for k2, v in sets.items() for w in ("--set", f"{k2}={v}"))]
            yield pytest.param("run", argv, (k in VALID), id=f"run-set-{key}={value}",
                               marks=marks)


# ---------------------------------------------------------------------------------------------
# the check
# ---------------------------------------------------------------------------------------------
_NONFINITE = re.compile(r"(?<![\w.])-?(nan|inf)(?![\w])", re.IGNORECASE)


class _Timeout(Exception):
    pass


def _call(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[object, str, str]:
    def alarm(*_: object) -> None:
        raise _Timeout(f"{' '.join(argv)} ran longer than {CASE_SECONDS} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(CASE_SECONDS)
    try:
        try:
            code: object = main(argv)
        except SystemExit as exc:  # argparse usage errors
            code = exc.code
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    out, err = capsys.readouterr()
    return code, out, err


def _fill(argv: list[str], d: Path) -> list[str]:
    return [w.replace("{d}", str(d)) for w in argv]


def _check_good(argv: list[str], code: object, out: str, err: str, allowed: str = "") -> None:
    assert code == 0, f"{argv}: exit {code}\n{err}"
    assert "Traceback" not in err, err
    assert not re.search(r"\w+Warning\b", err), f"{argv}: a Python warning on stderr:\n{err}"
    text = out.replace(allowed, "") if allowed else out
    # the depth axis and "inf" values given on the command line may print as inf
    bad = [m.group(0) for m in _NONFINITE.finditer(text)]
    assert not bad, f"{argv}: non-finite numbers in the output:\n{out}"


def _check(argv: list[str], valid: bool, code: object, out: str, err: str) -> None:
    if code == 0 and valid:
        _check_good(argv, code, out, err, allowed=" inf " if "inf" in argv else "")
        return
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2, f"{argv}: exit {code}\nstdout: {out[-2000:]}\nstderr: {err[-2000:]}"
    assert len(lines) == 1, f"{argv}: {len(lines)} stderr lines:\n{err[-3000:]}"
    assert "Traceback" not in err and "Warning" not in err, err
    assert "error" in lines[0], lines[0]


@pytest.mark.parametrize("name", GOOD)
def test_baseline_runs_and_prints_finite_numbers(
    name: str, files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = _fill(BASE[name], files)
    code, out, err = _call(argv, capsys)
    _check_good(argv, code, out, err)


@pytest.mark.parametrize(("base", "argv", "valid"), list(_cases(slow=False)))
def test_bad_value_is_one_line_and_exit_2(
    base: str, argv: list[str], valid: bool, files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = _fill(argv, files)
    code, out, err = _call(argv, capsys)
    _check(argv, valid, code, out, err)


@pytest.mark.slow
@pytest.mark.parametrize(("base", "argv", "valid"), list(_cases(slow=True)))
def test_bad_value_is_one_line_and_exit_2_exhaustive(
    base: str, argv: list[str], valid: bool, files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = _fill(argv, files)
    code, out, err = _call(argv, capsys)
    _check(argv, valid, code, out, err)


# ---------------------------------------------------------------------------------------------
# a real process gives what the in-process call gives
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv",
    [
        ["linear", "--spectrum", "{d}/spec.npy", "--source", "{d}/big.npy", "--target",
         "{d}/tgt.npy", "--n", "2"],
        ["transfer", "curve", "--eigenvalues", "{d}/empty.npy", "--target-power",
         "{d}/v2.npy"],
        ["diagonal", "--alpha", "nan"],
    ],
    ids=["linear-big-source", "transfer-curve-empty", "diagonal-nan"],
)
def test_real_process_matches_in_process(
    argv: list[str], files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = _fill(argv, files)
    code, out, err = _call(argv, capsys)
    env = {**os.environ, "PYTHONWARNINGS": "default"}  # show warnings a user would see
    proc = subprocess.run([sys.executable, "-m", "finetune_bounds", *argv],
                          capture_output=True, text=True, timeout=120, env=env, check=False)
    assert proc.returncode == code == 2, proc.stderr
    assert proc.stderr == err, (proc.stderr, err)
    assert proc.stdout == out
    _check(argv, False, proc.returncode, proc.stdout, proc.stderr)
