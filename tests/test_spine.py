"""The spine's second version: declarative constraints, inner axes, randomised theory, the one
runner (Python and ``finetune-bounds run``) and the family registry."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from _toy_family import register
from finetune_bounds import families
from finetune_bounds.cli import main as cli_main
from finetune_bounds.errors import ConfigError
from finetune_bounds.families import (
    Boolean,
    Family,
    Interval,
    Options,
    Words,
    get_family,
    register_family,
    unregister_family,
)
from finetune_bounds.records import record, summarize
from finetune_bounds.sweep import SweepConfig, execute_sweep, load_config, run, run_sweep
from finetune_bounds.sweep.grid import cell_rngs, theory_rng


@pytest.fixture(autouse=True)
def _toy(monkeypatch: pytest.MonkeyPatch) -> None:
    register(monkeypatch)


# ---------------------------------------------------------------------- constraints
def test_interval_bounds_kinds_and_descriptions() -> None:
    pos_int = Interval("int", 1, None)
    assert pos_int.accepts(1) and pos_int.accepts(np.int64(7))
    for bad in (0, 1.5, True, "3", None, math.nan, math.inf):
        assert not pos_int.accepts(bad), bad
    unit = Interval("float", 0, 1, closed="right")
    assert unit.accepts(1) and unit.accepts(0.5) and not unit.accepts(0.0)
    assert unit.describe() == "a number in (0, 1]"
    depth = Interval("int", 1, None) | Options(math.inf)
    assert depth.accepts(3) and depth.accepts(math.inf) and not depth.accepts(2.5)
    assert "inf" in depth.describe()
    assert Interval("float", 1, None, allow_inf=True).accepts(math.inf)
    assert not Interval("float").accepts(math.inf)
    with pytest.raises(ValueError):
        Interval("complex")


def test_options_boolean_words() -> None:
    opts = Options("a", "b")
    assert opts.accepts("a") and not opts.accepts("c") and not opts.accepts(1)
    assert not Options(1).accepts(True)  # bool is not the int 1 here
    assert Boolean().accepts(False) and not Boolean().accepts(0)
    words = Words(("gd", "cvxpy"))
    assert words.accepts("gd cvxpy") and words.accepts("gd,cvxpy")
    assert not words.accepts("gd gd") and not words.accepts("sgd") and not words.accepts("")
    assert Words(("gd",), allow_empty=True).accepts("")


def test_family_rejects_constraints_on_unknown_parameters() -> None:
    with pytest.raises(ConfigError, match="unknown parameter"):
        Family("x", {"a": 1}, theory=lambda p, r: [], constraints={"b": Boolean()})
    with pytest.raises(ConfigError, match="unknown parameter"):
        Family("x", {"a": 1}, theory=lambda p, r: [], axes=("b",))


#: one bad value per family, and a word its one-line message must contain
BAD_VALUES = [
    ("linear", "d = 0", "d = 0: expected an integer in [1, inf)"),
    ("linear", 'spectrum = "powerlaw"', "spectrum = 'powerlaw': expected one of"),
    ("linear", "gd = 1", "gd = 1: expected true or false"),
    ("linear", 'design = "real"', "design = 'real' needs spectrum = 'digits'"),
    ("linear_measures", "n_instances = 2", "n_instances = 2: expected an integer in [3, inf)"),
    ("deep_linear", "depth = 0", "depth = 0: expected an integer in [1, inf) or one of inf"),
    ("deep_linear", 'methods = "gd sgd"', "methods = 'gd sgd': expected distinct words"),
    ("deep_linear", "frozen_layers = 3", "frozen_layers = 3 needs every finite depth > 3"),
    ("relu", "lr_scale = -1", "lr_scale = -1: expected a number in (0, inf)"),
    ("relu", "n = 0", "n = 0: expected an integer in [1, inf)"),
    ("relu", "width = 3", "width must be even"),
]


@pytest.mark.parametrize(("family", "line", "message"), BAD_VALUES)
def test_bad_parameter_fails_at_load_with_one_line(
    tmp_path: Path, family: str, line: str, message: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(f'name = "bad"\nfamily = "{family}"\n[params]\n{line}\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    text = str(info.value)
    assert "\n" not in text and str(path) in text and message in text


def test_bad_grid_value_fails_at_load_and_on_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('name = "bad"\nfamily = "linear"\n[grid]\nn = [10, -5]\n', encoding="utf-8")
    assert cli_main(["sweep", str(path), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "n = -5: expected an integer in [1, inf)" in err
    assert not (tmp_path / "results.sqlite").exists()  # it failed before opening the store


# ---------------------------------------------------------------------- inner axes
def _curve(**extra: object) -> SweepConfig:
    data: dict[str, object] = {
        "name": "curve", "family": "toy_curve", "seeds": 3,
        "axes": {"n": [2, 5, 20]}, "grid": {"scale": [0.5, 2.0]},
    }
    data.update(extra)
    return SweepConfig.from_dict(data)


def test_axis_is_one_cell_with_rows_per_value() -> None:
    cfg = _curve()
    assert len(cfg.cell_specs()) == 2  # one cell per scale, not per (scale, n)
    assert cfg.cells()[0]["n"] == [2, 5, 20]
    frame = run_sweep(cfg)
    emp = frame[frame["source"] == "empirical"]
    assert sorted(emp["n"].unique()) == [2, 5, 20]
    assert len(emp) == 2 * 3 * 3
    # nested draws: at n = 2 the mean of the first two squares, at n = 20 of twenty, same stream
    rngs = cell_rngs(cfg.cell_specs()[0].key, 3)
    x = rngs[1].standard_normal(20) * 0.5
    got = emp[(emp["scale"] == 0.5) & (emp["seed"] == 1)].set_index("n")["value"]
    assert got[2] == pytest.approx(np.mean(x[:2] ** 2), rel=1e-15)
    assert got[20] == pytest.approx(np.mean(x**2), rel=1e-15)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"family": "toy", "axes": {"n": [1, 2]}}, "does not take ['n'] as an inner axis"),
        ({"params": {"n": [1, 2]}, "axes": {}}, "[axes] for one curve per cell"),
        ({"axes": {"n": [1, 2]}, "grid": {"n": [3]}}, "appear in both [grid] and [axes]"),
        ({"axes": {"n": [1, 2]}, "derived": {"draws": "n * 10"}}, "reads the inner axis"),
        ({"axes": {"n": [1, 0]}}, "n = 0: expected an integer in [1, inf)"),
        ({"axes": {"n": [1, 1]}}, "repeated value"),
    ],
)
def test_axis_errors(data: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"name": "c", "family": "toy_curve"}
    with pytest.raises(ConfigError) as info:
        SweepConfig.from_dict({**base, **data})
    assert message in str(info.value)


def test_quick_moves_a_key_between_grid_and_axes() -> None:
    cfg = SweepConfig.from_dict({
        "name": "c", "family": "toy_curve", "grid": {"n": [1, 2, 3]},
        "quick": {"axes": {"n": [1, 2]}},
    })
    q = cfg.quick()
    assert dict(q.axes) == {"n": (1, 2)} and "n" not in q.grid and len(q.cell_specs()) == 1


def test_rows_without_their_axis_value_fail_the_cell() -> None:
    def theory(params: dict, rng: np.random.Generator) -> list[dict]:
        return [record("risk", 1.0, "theory")]  # forgets n

    fam = Family("toy_forgetful", {"n": 1}, theory=theory, axes=("n",))
    register_family(fam)
    try:
        res = run("toy_forgetful", axes={"n": [1, 2]})
        assert len(res.failures) == 1
        assert "must label every row with its n value" in res.failures[0].error
    finally:
        unregister_family("toy_forgetful")


# ---------------------------------------------------------------------- randomised theory
def test_theory_stream_is_per_cell_and_independent_of_seeds() -> None:
    cfg = _curve(seeds=0)
    key = cfg.cell_specs()[0].key
    a, b = theory_rng(key).standard_normal(4), theory_rng(key).standard_normal(4)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, cell_rngs(key, 1)[0].standard_normal(4))
    f1, f2 = run_sweep(cfg), run_sweep(_curve(seeds=5))
    th = lambda f: f[f["source"] == "theory"].reset_index(drop=True)  # noqa: E731
    pdt.assert_frame_equal(th(f1), th(f2))  # theory rows do not depend on the seed count


def test_theory_stderr_is_stored_and_summarized() -> None:
    frame = run_sweep(_curve(seeds=0))
    ms = frame[frame["quantity"] == "mean_square"]
    assert ms["stderr"].notna().all() and (ms["stderr"] > 0).all()
    gain = frame[frame["quantity"] == "gain"]
    assert gain["stderr"].isna().all()  # exact rows carry none
    out = summarize(ms, by=["scale", "n", "source"])
    pdt.assert_series_equal(
        out["stderr"].reset_index(drop=True),
        ms.sort_values(["scale", "n"])["stderr"].reset_index(drop=True),
        check_names=False,
    )
    # and the theory agrees with the simulation within the combined standard error
    both = run_sweep(_curve(seeds=40))
    s = summarize(both[both["quantity"] == "mean_square"], by=["scale", "n", "source"])
    for (_scale, _n), g in s.groupby(["scale", "n"]):
        t, e = g[g["source"] == "theory"].iloc[0], g[g["source"] == "empirical"].iloc[0]
        assert abs(t["mean"] - e["mean"]) <= 5 * math.hypot(t["stderr"], e["stderr"])


def test_record_rejects_bad_stderr() -> None:
    for bad in (-1.0, math.nan, "x", True):
        with pytest.raises(Exception, match="stderr"):
            record("risk", 1.0, "theory", stderr=bad)
    assert record("risk", 1.0, "theory", stderr=math.inf)["stderr"] == math.inf


# ---------------------------------------------------------------------- the one runner
def test_run_equals_the_sweep_of_the_same_config() -> None:
    cfg = _curve()
    via_config = run_sweep(cfg)
    via_run = run("toy_curve", grid={"scale": [0.5, 2.0]}, axes={"n": [2, 5, 20]}, seeds=3,
                  name="curve").frame
    pdt.assert_frame_equal(via_config, via_run)


def test_cli_run_gives_the_report_numbers_for_a_real_family(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    toml = tmp_path / "lin.toml"
    toml.write_text(
        'name = "lin"\nfamily = "linear"\nseeds = 2\n[params]\nd = 40\ngd = false\n'
        "[grid]\nexponent = [0.5, 1.5]\n[axes]\nn = [5, 30]\n",
        encoding="utf-8",
    )
    report_frame = run_sweep(load_config(toml))
    out = tmp_path / "run.json"
    code = cli_main([
        "run", "linear", "--set", "d=40", "--set", "gd=false", "--grid", "exponent=0.5,1.5",
        "--axis", "n=5,30", "--seeds", "2", "--output", str(out),
    ])
    printed = capsys.readouterr().out
    assert code == 0 and "risk" in printed and "± " in printed
    rows = pd.DataFrame(json.loads(out.read_text(encoding="utf-8")))
    from finetune_bounds.records import summarize

    keys = ["exponent", "n", "quantity", "source", "method", "start"]
    ref = summarize(report_frame)  # --output is the long summary (keys, mean, stderr, count)
    a = ref.sort_values(keys)["mean"].to_numpy()
    b = rows.sort_values(keys)["mean"].astype(float).to_numpy()
    assert np.array_equal(a, b)  # the same bits, not just close
    assert rows["count"].max() == 2


def test_cli_run_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    for argv, text in (
        (["run", "linear", "--set", "d"], "expected KEY=VALUE"),
        (["run", "linear", "--set", "d=0"], "d = 0: expected an integer"),
        (["run", "nosuch"], "unknown family"),
        (["run", "linear", "--seeds", "-2"], "--seeds"),
        (["run", "linear", "--set", "n=3", "--grid", "n=4,5"], "more than once"),
        (["run", "linear", "--output", "x.xlsx"], "--output must end in"),
    ):
        assert cli_main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and text in err, (argv, err)


def test_cli_run_params_lists_constraints(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["run", "deep_linear", "--params"]) == 0
    out = capsys.readouterr().out
    assert "depth" in out and "[axis]" in out and "an integer in [1, inf)" in out


# ---------------------------------------------------------------------- registry
def test_register_family_object_and_reference() -> None:
    from _toy_family import CURVE

    assert register_family("_toy_family:CURVE", name="toy_curve_ref") == "toy_curve_ref"
    try:
        assert get_family("toy-curve-ref") is CURVE
        with pytest.raises(ConfigError, match="already registered"):
            register_family(Family("toy_curve_ref", {}, theory=lambda p, r: []))
    finally:
        unregister_family("toy_curve_ref")
    with pytest.raises(ConfigError, match="module:attribute"):
        register_family("no_colon")
    with pytest.raises(ConfigError, match="a family name is a string"):
        get_family(None)  # type: ignore[arg-type]
    assert "linear" in families.available_families()


def test_serial_and_processes_give_identical_bits() -> None:
    cfg = SweepConfig.from_dict({
        "name": "lin", "family": "linear", "seeds": 2,
        "params": {"d": 60, "gd": False}, "axes": {"n": [10, 40]},
    })
    serial = execute_sweep(cfg, executor="serial").frame
    procs = execute_sweep(cfg, executor="processes", workers=1).frame
    pdt.assert_frame_equal(serial, procs)


# ---------------------------------------------------------------------- shared steps
def test_shared_step_runs_once_per_key_across_cells_and_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from finetune_bounds.sweep import cache as cache_mod

    count = tmp_path / "count.txt"
    monkeypatch.setenv("FB_TOY_COUNT", str(count))
    monkeypatch.setattr(cache_mod, "_CACHES", {})
    cfg = SweepConfig.from_dict({
        "name": "shared", "family": "toy_shared",
        "grid": {"scale": [1.0, 2.0], "n": [1, 2, 4]},
    })
    store = tmp_path / "out"
    store.mkdir()
    first = run_sweep(cfg, store=store, executor="processes", workers=2)
    runs = count.read_text().split()
    assert 2 <= len(runs) <= 4 and set(runs) == {"1.0", "2.0"}  # ≤ one per worker and scale
    assert list((store / "results.cache").rglob("*.npz"))
    # a new run (fresh memory, new experiment name so every cell recomputes) reads the disk
    monkeypatch.setattr(cache_mod, "_CACHES", {})
    again = run_sweep(cfg.__class__.from_dict({**cfg_dict(cfg), "name": "shared2"}), store=store)
    assert count.read_text().split() == runs  # no new computation
    a = first.sort_values(["scale", "n"])["value"].to_numpy()
    b = again.sort_values(["scale", "n"])["value"].to_numpy()
    assert np.array_equal(a, b)
    # the step's randomness depends on its key only (not on the cell): recompute it directly
    from finetune_bounds.sweep.cache import step_rng

    w = 2.0 * step_rng("toy_source", {"scale": 2.0}).standard_normal(5)
    v = first.set_index(["scale", "n"])["value"]
    for n in (1, 2, 4):
        assert v[(2.0, n)] == pytest.approx(float(np.sum(w**2)) / n, rel=1e-14)


def cfg_dict(cfg: SweepConfig) -> dict[str, object]:
    return {"name": cfg.name, "family": cfg.family,
            "grid": {k: list(v) for k, v in cfg.grid.items()}}


def test_shared_step_in_memory_and_bad_results(monkeypatch: pytest.MonkeyPatch) -> None:
    from finetune_bounds.errors import InvalidInputError
    from finetune_bounds.sweep.cache import StepCache, shared_step, step_key, using_cache

    calls: list[int] = []
    cache = StepCache(None)
    with using_cache(cache):
        a = shared_step("s", {"k": 1}, lambda: calls.append(1) or {"x": np.arange(3.0)})
        b = shared_step("s", {"k": 1}, lambda: calls.append(1) or {"x": np.zeros(3)})
    assert calls == [1] and np.array_equal(a["x"], b["x"]) and (cache.hits, cache.misses) == (1, 1)
    assert not a["x"].flags.writeable
    assert step_key("s", {"k": 1}) != step_key("s", {"k": 1}, version=2)
    with using_cache(StepCache(None)), pytest.raises(InvalidInputError, match="mapping"):
        shared_step("t", {}, lambda: [1, 2])  # type: ignore[arg-type, return-value]


# ---------------------------------------------------------------------- maps in the report
MAPS = """\
name = "toy_maps"
family = "toy_curve"
title = "Maps"
seeds = 0

[grid]
scale = [0.5, 0.8, 1.2, 2.0]

[axes]
n = [2, 8, 20, 50]

[quick.grid]
scale = [0.5, 1.5, 2.0]

[[figure]]
kind = "heatmap"
x = "scale"
y = "n"
logy = true
quantity = "gain"
center = 0.0
contours = [0.0]
title = "Transfer gain"

[[figure]]
kind = "heatmap"
x = "scale"
y = "n"
quantity = "regime"
categories = ["I: small, few", "II: large, few", "III: small, many", "IV: large, many"]
title = "Regimes"

[[figure]]
x = "n"
quantities = ["mean_square"]
title = "Randomised theory with its band"
"""


def test_quick_report_draws_a_contoured_heatmap_and_a_regime_map(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from finetune_bounds.report import build_report

    cfg = tmp_path / "toy_maps.toml"
    cfg.write_text(MAPS, encoding="utf-8")
    result = build_report([cfg], tmp_path / "out", quick=True)
    (exp,) = result.experiments
    gain, regimes, band = exp.figures
    assert all(p.is_file() and p.stat().st_size > 1000 for f in exp.figures for p in f.paths)
    assert "contour" in gain.alt.lower() and gain.points == 3 * 4
    assert set(regimes.lines) == {
        "I: small, few", "II: large, few", "III: small, many", "IV: large, many"
    }
    assert "band" in band.alt.lower()
    html = result.html.read_text(encoding="utf-8")
    assert "Transfer gain" in html and "Regimes" in html


def test_cli_run_quantities_selects_the_printed_table(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["run", "linear", "--set", "d=30", "--set", "gd=false", "--axis", "n=5,10"]
    assert cli_main([*argv, "--quantities", "zero_shot"]) == 0
    out = capsys.readouterr().out
    assert "closed form" in out and "deterministic" not in out  # zero_shot rows only
    assert cli_main([*argv, "--quantities", "nosuch"]) == 2
    assert "no quantity ['nosuch']" in capsys.readouterr().err


# ---------------------------------------------------------------------- properties
_finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@given(lo=_finite, width=st.floats(0, 1e6), x=_finite,
       closed=st.sampled_from(["both", "left", "right", "neither"]))
def test_interval_accepts_exactly_its_points(
    lo: float, width: float, x: float, closed: str
) -> None:
    hi = lo + width
    rule = Interval("float", lo, hi, closed=closed)
    left = x >= lo if closed in ("both", "left") else x > lo
    right = x <= hi if closed in ("both", "right") else x < hi
    assert rule.accepts(x) == (left and right)
    assert rule.accepts(int(x)) == rule.accepts(float(int(x)))  # an int is a number too


@given(values=st.lists(st.integers(-5, 40), min_size=1, max_size=6, unique=True))
def test_an_axis_is_accepted_iff_every_value_is(values: list[int]) -> None:
    data = {"name": "c", "family": "toy_curve", "axes": {"n": values}}
    if all(v >= 1 for v in values):
        cfg = SweepConfig.from_dict(data)
        assert len(cfg.cell_specs()) == 1 and cfg.cells()[0]["n"] == values
    else:
        bad = next(v for v in values if v < 1)
        with pytest.raises(ConfigError, match=f"n = {bad}: expected an integer in"):
            SweepConfig.from_dict(data)


@given(seeds=st.integers(1, 5), extra=st.integers(1, 3))
def test_seed_streams_do_not_depend_on_the_seed_count(seeds: int, extra: int) -> None:
    key = _curve().cell_specs()[0].key
    few = [g.standard_normal(3) for g in cell_rngs(key, seeds)]
    more = [g.standard_normal(3) for g in cell_rngs(key, seeds + extra)]
    assert all(np.array_equal(a, b) for a, b in zip(few, more, strict=False))
