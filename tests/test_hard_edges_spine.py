"""Hard edges of the spine (issue 13): the records, the family registry, ``sample_complexity``,
the sweep config/grid/executors, the report renderers, the testing strategies and the digits
data.

Every public callable is called once with a working baseline and then with one bad value at a
time (:data:`BAD_VALUES`): it must raise a :class:`FinetuneBoundsError` or return a result
without NaN — never a raw ``TypeError``/``ValueError``/``KeyError`` … from a user mistake.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import finetune_bounds as fb
import finetune_bounds.data as fdata
import finetune_bounds.report as freport
import finetune_bounds.sweep as fsweep
import finetune_bounds.testing as ftesting
from _fuzz import BAD_VALUES, fuzz_params
from _toy_family import FAMILY as TOY
from _toy_family import register
from finetune_bounds import families
from finetune_bounds.cli import main
from finetune_bounds.errors import ConfigError, FinetuneBoundsError, InvalidInputError

D = 5
LAM = 1.0 / np.arange(1, D + 1)

#: names of the modules' ``__all__`` owned elsewhere (the families, the runner, the store)
EXCLUDED = {"linear", "deep_linear", "diagonal", "infinite_width", "relu", "limits", "run",
            "run_sweep", "execute_sweep", "Store"}
#: results built by the library (not validators of user input), an abstract base class, and
#: the dask executor (every call starts or reaches a cluster; see test_dask_executor_edges)
NOT_FUZZED = {"CellFailure", "SweepRun", "RouteAnswer", "SampleComplexityAnswer", "SolverInfo",
              "DrawnFigure", "ExperimentReport", "FigureResult", "ReportResult", "Table",
              "TableCell", "TableOutput", "Executor", "DaskExecutor"}

CONFIG = """\
name = "toy_edges"
family = "toy"
seeds = 2
[params]
d = 4
[grid]
n = [5, 10]
"""


def _task() -> fb.LinearTask:
    return fb.LinearTask(fb.Covariance.from_spectrum(LAM), np.zeros(D), np.full(D, 0.3), 0.0)


def _records() -> list[dict[str, Any]]:
    return [fb.record("risk", 1.0 / n, "theory", n=n, method="closed_form") for n in (1, 2, 4)] + [
        fb.record("risk", 1.2 / n + 0.01 * s, "empirical", n=n, seed=s, method="gd")
        for n in (1, 2, 4) for s in (0, 1)
    ]


def _frame() -> Any:
    return fb.to_frame(_records())


def _find(strategy: Any) -> Any:
    """One example of ``strategy``: one generate-phase run (no shrinking, unlike ``find``)."""
    out: list[Any] = []

    @settings(max_examples=1, phases=[Phase.generate], database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def draw_one(value: Any) -> None:
        out.append(value)

    draw_one()
    return out[0]


def _strategy(name: str) -> Any:
    fn = getattr(ftesting, name)
    return lambda **kw: _find(fn(**kw))


def _report(tmp: Path) -> Any:
    cfg = tmp / "toy_edges.toml"
    cfg.write_text(CONFIG, encoding="utf-8")
    return cfg


def _baselines(tmp: Path) -> dict[str, Callable[[], tuple[Any, dict[str, Any]]]]:
    """A factory per public callable: its (callable, working keyword arguments), built lazily
    (a fuzz case builds only the baseline it needs)."""
    cfg_path = _report(tmp)
    table_spec = {"title": "risk", "quantities": ["risk"], "index": ["n"],
                  "columns": ["source", "method"]}
    fig_spec = {"x": "n", "quantities": ["risk"]}
    heat = {"kind": "heatmap", "x": "n", "y": "method", "quantity": "risk", "source": "empirical"}
    return {
        # -- finetune_bounds ------------------------------------------------------------------
        "Boolean": lambda: (fb.Boolean, {}),
        "Covariance": lambda: (fb.Covariance,
                       {"eigenvalues": LAM, "eigenvectors": np.eye(D), "tol": 1e-10}),
        "Family": lambda: (fb.Family,
                   {"name": "toy2", "defaults": {"n": 1}, "theory": TOY.theory,
                    "simulate": TOY.simulate, "derive": None, "constraints": {},
                    "axes": (), "description": "", "schema_version": 1, "meta": {}}),
        "Interval": lambda: (fb.Interval,
                     {"kind": "int", "low": 0, "high": 10, "closed": "both", "allow_inf": False}),
        "LinearTask": lambda: (fb.LinearTask,
                       {"covariance": _task().covariance, "source": np.zeros(D),
                        "target": np.ones(D), "noise_variance": 0.0}),
        "Options": lambda: (lambda a, b: fb.Options(a, b), {"a": "x", "b": "y"}),
        "Words": lambda: (fb.Words, {"values": ("a", "b"), "allow_empty": False}),
        "available_families": lambda: (fb.available_families, {}),
        "axis_values": lambda: (fb.axis_values, {"params": {"n": (1, 2)}, "name": "n"}),
        "get_family": lambda: (fb.get_family, {"name": "toy"}),
        "record": lambda: (fb.record,
                   {"quantity": "risk", "value": 1.0, "source": "theory", "stderr": 0.1}),
        "register_family": lambda: (fb.register_family,
                            {"family": "_toy_family:FAMILY", "name": "toy"}),
        "sample_complexity": lambda: (fb.sample_complexity,
                              {"problem": _task(), "eps": 0.05, "model": "linear",
                               "routes": ("theory", "bound", "rate"), "trained": 0,
                               "n_max": 50, "rng": 0, "draws": 3, "width": 4, "gd": False,
                               "grid_points": 4, "progress": None}),
        "summarize": lambda: (fb.summarize, {"frame": _frame(), "by": ["quantity", "source", "n"]}),
        "to_frame": lambda: (fb.to_frame, {"records": _records()}),
        # -- finetune_bounds.sweep ------------------------------------------------------------
        "Cell": lambda: (fsweep.Cell,
                 {"family": "toy", "params": {"n": 1}, "extra": {}, "schema_version": 1,
                  "key": ""}),
        "ProcessExecutor": lambda: (fsweep.ProcessExecutor,
                            {"workers": 1, "start_method": "spawn"}),
        "SerialExecutor": lambda: (fsweep.SerialExecutor, {}),
        "SweepConfig": lambda: (fsweep.SweepConfig,
                        {"name": "toy_edges", "family": "toy", "title": "", "description": "",
                         "seeds": 1, "params": {"d": 4}, "grid": {"n": (5, 10)}, "axes": {},
                         "derived": {}, "figures": (), "tables": (), "path": None,
                         "quick_overrides": {}, "is_quick": False}),
        "cell_key": lambda: (fsweep.cell_key,
                     {"family": "toy", "schema_version": 1, "params": {"n": 1}}),
        "cell_rngs": lambda: (fsweep.cell_rngs, {"key": "abc", "seeds": 2}),
        "example_configs": lambda: (fsweep.example_configs, {}),
        "load_config": lambda: (fsweep.load_config, {"path": cfg_path}),
        "make_executor": lambda: (fsweep.make_executor,
                          {"kind": "serial", "workers": None, "scheduler": None}),
        "run_config": lambda: (fsweep.run_config,
                       {"family": "toy", "params": {"d": 4}, "grid": {"n": [5]}, "axes": None,
                        "derived": None, "seeds": 1, "name": "toy_run", "title": ""}),
        "write_frame": lambda: (fsweep.write_frame, {"frame": _frame(), "path": tmp / "w.csv"}),
        "write_output": lambda: (fsweep.write_output, {"frame": _frame(), "path": tmp / "o.csv"}),
        "write_records": lambda: (fsweep.write_records, {"frame": _frame(), "path": tmp / "r.csv"}),
        # -- finetune_bounds.report -----------------------------------------------------------
        "FigureSpec": lambda: (freport.FigureSpec,
                       {"x": "n", "quantities": ("risk",), "facet": None, "hue": None,
                        "logx": False, "logy": False, "title": "", "xlabel": "", "ylabel": "",
                        "sharey": True, "name": "", "where": (), "errorbars": "se"}),
        "HeatmapSpec": lambda: (freport.HeatmapSpec,
                        {"x": "n", "y": "method", "quantity": "risk", "source": "empirical",
                         "method": None, "facet": None, "cmap": None, "center": None,
                         "contours": (), "logx": False, "logy": False, "title": "",
                         "xlabel": "", "ylabel": "", "colorbar_label": "", "name": "",
                         "categories": None, "where": ()}),
        "TableSpec": lambda: (freport.TableSpec,
                      {"title": "t", "quantities": ("risk",), "index": ("n",),
                       "columns": ("source", "method"), "name": "", "digits": 4, "where": ()}),
        "build_report": lambda: (freport.build_report,
                         {"configs": [cfg_path], "out_dir": tmp / "rep", "quick": False,
                          "store": None, "executor": "serial", "workers": None,
                          "progress": False, "formats": ("svg",), "dpi": 40, "title": None}),
        "build_table": lambda: (freport.build_table, {"frame": _frame(), "spec": table_spec,
                                              "where": "table"}),
        "draw_figure": lambda: (freport.draw_figure, {"frame": _frame(), "spec": fig_spec,
                                              "where": "figure"}),
        "figure_spec_from_dict": lambda: (freport.figure_spec_from_dict,
                                  {"entry": heat, "where": "figure"}),
        "latex_escape": lambda: (freport.latex_escape, {"text": "a_b"}),
        "plot_figure": lambda: (freport.plot_figure,
                        {"frame": _frame(), "spec": fig_spec, "stem": tmp / "fig",
                         "formats": ("svg",), "dpi": 40, "where": "figure"}),
        "render_experiment": lambda: (freport.render_experiment,
                              {"config": fsweep.load_config(cfg_path), "frame": _frame(),
                               "folder": tmp / "exp", "formats": ("svg",), "dpi": 40}),
        "render_html": lambda: (freport.render_html,
                        {"experiments": [], "out_dir": tmp / "html", "title": "t",
                         "info": None}),
        "write_table_files": lambda: (freport.write_table_files,
                              {"table": freport.build_table(_frame(), table_spec),
                               "stem": tmp / "tab", "label": ""}),
        # -- finetune_bounds.testing ----------------------------------------------------------
        "covariances": lambda: (_strategy("covariances"),
                        {"dim": None, "min_dim": 1, "max_dim": 3, "condition_number": 10.0,
                         "rank": None, "isotropic": False, "rotated": True}),
        "designs": lambda: (_strategy("designs"),
                    {"dim": 3, "n": None, "min_n": 0, "max_n": 4, "covariance": None,
                     "generic": True}),
        "linear_tasks": lambda: (_strategy("linear_tasks"),
                         {"dim": None, "min_dim": 1, "max_dim": 3, "covariance": None,
                          "noise": False, "bound": 2.0}),
        "orthogonal_matrices": lambda: (_strategy("orthogonal_matrices"), {"dim": 3}),
        "spectra": lambda: (_strategy("spectra"),
                    {"dim": None, "min_dim": 1, "max_dim": 3, "condition_number": 10.0,
                     "rank": None, "isotropic": False, "scale": (0.1, 10.0)}),
        "tasks_with_designs": lambda: (_strategy("tasks_with_designs"),
                               {"dim": None, "min_dim": 1, "max_dim": 3, "n": None, "min_n": 0,
                                "max_n": None, "noise": False, "covariance": None}),
        # -- finetune_bounds.data -------------------------------------------------------------
        "canonical_label": lambda: (fdata.canonical_label, {"name": "ge5"}),
        "digits_design": lambda: (fdata.digits_design,
                          {"n": 3, "rng": np.random.default_rng(0), "batch": (2,)}),
        "digits_features": lambda: (fdata.digits_features, {}),
        "digits_labels": lambda: (fdata.digits_labels, {}),
        "digits_pool": lambda: (fdata.digits_pool, {}),
        "digits_task": lambda: (fdata.digits_task,
                        {"source": "ge5", "target": "even", "noise_variance": 0.0,
                         "rcond": 1e-10}),
        "digits_teacher": lambda: (fdata.digits_teacher, {"label": "even", "rcond": 1e-10}),
        "label_values": lambda: (fdata.label_values, {"label": "even", "digits": np.arange(10)}),
    }


def _public_callables() -> list[str]:
    out = []
    for mod in (fb, fsweep, freport, ftesting, fdata):
        for name in mod.__all__:
            if name in EXCLUDED or name.startswith("_"):
                continue
            obj = getattr(mod, name)
            if not callable(obj):
                continue
            if isinstance(obj, type) and issubclass(obj, BaseException | enum.Enum):
                continue  # the errors themselves; SolverStatus (an enum)
            out.append(name)
    return sorted(out)


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    register(monkeypatch)
    monkeypatch.setattr(families, "_REGISTRY", dict(families._REGISTRY))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_fuzz_covers_every_public_callable(toy: Path) -> None:
    assert sorted(set(_baselines(toy)) | NOT_FUZZED) == _public_callables()


def test_baselines_work(toy: Path) -> None:
    for name, make in _baselines(toy).items():
        func, kws = make()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            func(**kws)
        assert name


_KEYS = ("value", "mean", "stderr", "eigenvalues", "source", "target", "n", "error")


def _no_nan(obj: Any, where: str, depth: int = 0) -> None:
    if depth > 3 or obj is None or isinstance(obj, str | bool | int | Path):
        return
    if isinstance(obj, float | np.floating):
        assert not math.isnan(obj), where
    elif isinstance(obj, np.ndarray):
        if obj.dtype.kind == "f":
            assert not np.any(np.isnan(obj)), where
    elif hasattr(obj, "columns") and hasattr(obj, "select_dtypes"):
        for col in ("value", "mean", "stderr"):
            if col in obj.columns:
                assert not obj[col].isna().any(), f"{where}[{col}]"
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _no_nan(v, f"{where}[{k!r}]", depth + 1)
    elif isinstance(obj, list | tuple):
        for v in obj[:50]:
            _no_nan(v, where, depth + 1)
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for k in _KEYS:
            if hasattr(obj, k):
                _no_nan(getattr(obj, k), f"{where}.{k}", depth + 1)
        if hasattr(obj, "answers"):
            _no_nan(obj.answers, f"{where}.answers", depth + 1)
    elif hasattr(obj, "eigenvalues"):
        _no_nan(obj.eigenvalues, f"{where}.eigenvalues", depth + 1)


def _cases() -> list[tuple[str, str, int]]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        base = _baselines_names(Path(tmp))
    return [(fn, kw, i) for fn, kws in sorted(base.items()) for kw in kws
            for i in range(len(BAD_VALUES))]


def _baselines_names(tmp: Path) -> dict[str, list[str]]:
    """The parameter names of every baseline (without building the baselines)."""
    names = {
        "Boolean": [], "available_families": [], "example_configs": [], "SerialExecutor": [],
        "digits_features": [], "digits_labels": [], "digits_pool": [],
    }
    sig_of = {
        "Covariance": fb.Covariance, "Family": fb.Family, "Interval": fb.Interval,
        "LinearTask": fb.LinearTask, "Words": fb.Words, "axis_values": fb.axis_values,
        "get_family": fb.get_family, "register_family": fb.register_family,
        "sample_complexity": fb.sample_complexity, "summarize": fb.summarize,
        "to_frame": fb.to_frame, "Cell": fsweep.Cell, "ProcessExecutor": fsweep.ProcessExecutor,
        "SweepConfig": fsweep.SweepConfig, "cell_key": fsweep.cell_key,
        "cell_rngs": fsweep.cell_rngs, "load_config": fsweep.load_config,
        "make_executor": fsweep.make_executor, "run_config": fsweep.run_config,
        "write_frame": fsweep.write_frame, "write_output": fsweep.write_output,
        "write_records": fsweep.write_records, "FigureSpec": freport.FigureSpec,
        "HeatmapSpec": freport.HeatmapSpec, "TableSpec": freport.TableSpec,
        "build_report": freport.build_report, "build_table": freport.build_table,
        "draw_figure": freport.draw_figure,
        "figure_spec_from_dict": freport.figure_spec_from_dict,
        "latex_escape": freport.latex_escape, "plot_figure": freport.plot_figure,
        "render_experiment": freport.render_experiment, "render_html": freport.render_html,
        "write_table_files": freport.write_table_files,
        "canonical_label": fdata.canonical_label, "digits_design": fdata.digits_design,
        "digits_task": fdata.digits_task, "digits_teacher": fdata.digits_teacher,
        "label_values": fdata.label_values,
    }
    for name in ("covariances", "designs", "linear_tasks", "orthogonal_matrices", "spectra",
                 "tasks_with_designs"):
        sig_of[name] = getattr(ftesting, name)
    for name, fn in sig_of.items():
        names[name] = [p.name for p in inspect.signature(fn).parameters.values()
                       if p.kind is not p.VAR_KEYWORD]
    names["Options"] = ["a", "b"]
    names["record"] = ["quantity", "value", "source", "stderr"]
    return names


def test_case_names_match_the_baselines(toy: Path) -> None:
    base = _baselines(toy)
    names = _baselines_names(toy)
    assert sorted(base) == sorted(names)
    for fn, make in base.items():
        _, kws = make()
        assert sorted(kws) == sorted(names[fn]), fn


#: callables that draw a figure or build a report even when a bad value slips through (≈ 0.2 s
#: a call): by default only None and "x" (the values most likely to reach the drawing); the
#: other bad values run with ``-m slow``
SLOW_FNS = {"build_report", "draw_figure", "plot_figure", "render_experiment"}
_CASES = _cases()


def _params() -> list[Any]:
    """The report functions as above; every other callable with the shared default share of
    bad values per parameter (``_fuzz.fuzz_params``; the rest with ``-m slow``)."""
    shared = {(p.values[0], p.values[1], p.values[2]): p
              for p in fuzz_params(_CASES, len(BAD_VALUES))}
    out = []
    for fn, kw, i in _CASES:
        if fn in SLOW_FNS:
            marks = [pytest.mark.slow] if i > 1 else []
            out.append(pytest.param(fn, kw, i, marks=marks, id=f"{fn}-{kw}-{i}"))
        else:
            out.append(shared[(fn, kw, i)])
    return out


@pytest.mark.parametrize(("fn", "kw", "i"), _params())
def test_fuzz_one_bad_value(fn: str, kw: str, i: int, toy: Path) -> None:
    func, kws = _baselines(toy)[fn]()
    args = {**kws, kw: BAD_VALUES[i]}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = func(**args)
    except FinetuneBoundsError:
        return
    _no_nan(out, f"{fn}({kw}={BAD_VALUES[i]!r})")


# -- named cases from the issue ------------------------------------------------------------------
@pytest.mark.parametrize("bad", [None, 3, ["linear"], ""])
def test_get_family_rejects_non_names(bad: Any) -> None:
    with pytest.raises(ConfigError, match="family"):
        fb.get_family(bad)


def test_axis_values_names_a_missing_parameter() -> None:
    with pytest.raises(InvalidInputError, match="'m'"):
        fb.axis_values({"n": 1}, "m")


@pytest.mark.parametrize(
    ("kw", "bad"),
    [("n_max", 10**12), ("draws", 10**12), ("width", 10**12), ("trained", 10**12),
     ("draws", 0), ("width", 2.5), ("grid_points", 10**9), ("routes", "theory"),
     ("routes", ["nope"]), ("model", ["linear", "linear"]), ("eps", [0.1, math.nan]),
     ("eps", "0.1"), ("progress", "x")],
)
def test_sample_complexity_secondary_values(kw: str, bad: Any) -> None:
    kws: dict[str, Any] = {"eps": 0.05, "model": "linear", "routes": ("theory",), "n_max": 50}
    with pytest.raises(InvalidInputError, match=kw):
        fb.sample_complexity(_task(), **{**kws, kw: bad})


def test_dask_executor_edges() -> None:
    pytest.importorskip("distributed")
    for kw in ({"address": 3}, {"address": "x"}, {"timeout": math.nan, "address": "tcp://a:1"},
               {"workers": 0}, {"workers": "x"}):
        with pytest.raises(FinetuneBoundsError):
            fsweep.DaskExecutor(**kw)  # type: ignore[arg-type]


# -- odd floats through the record helpers --------------------------------------------------------
_ODD = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10),
                 st.sampled_from([0.0, -0.0, 5e-324, 1.7976931348623157e308, -math.inf]))


@settings(max_examples=30, deadline=None)
@given(values=st.lists(_ODD, min_size=1, max_size=6), stderr=_ODD)
def test_records_with_odd_floats(values: list[float], stderr: float) -> None:
    rows = []
    for i, v in enumerate(values):
        try:
            rows.append(fb.record("risk", v, "empirical", n=i % 2, seed=i, stderr=stderr))
        except InvalidInputError:
            assert math.isnan(v) or math.isnan(stderr) or stderr < 0
            continue
    if not rows:
        return
    frame = fb.to_frame(rows)
    assert not frame["value"].isna().any()
    out = fb.summarize(frame)
    assert not out["mean"].isna().any()
    assert not out["stderr"].isna().any()
    assert (out["stderr"] >= 0).all()
    assert fb.axis_values({"n": tuple(values)}, "n") == list(values)


# -- `finetune-bounds sweep` checks the figure and table text before any cell runs -------------
@pytest.mark.parametrize(
    "section",
    ['[[figure]]\nx = "n"\ntitle = "$\\\\frac{$"\n',
     '[[figure]]\nx = "n"\nylabel = "risk $x^$"\n',
     '[[figure]]\nkind = "heatmap"\nx = "n"\ny = "d"\nquantity = "mean_square"\n'
     'colorbar_label = "$\\\\sqrt{$"\n',
     '[[table]]\ntitle = "$\\\\frac{$"\n'],
    ids=["figure-title", "figure-ylabel", "heatmap-colorbar", "table-title"],
)
def test_sweep_refuses_bad_math_text(toy: Path, section: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    cfg = toy / "bad_math.toml"
    cfg.write_text(CONFIG + section, encoding="utf-8")
    with pytest.raises(ConfigError, match="math text"):
        fsweep.load_config(cfg)
    code = main(["sweep", str(cfg), "--out", str(toy / "out"), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and "math text" in err[0], err
    assert not (toy / "out" / "results.sqlite").exists()  # refused before the store (and any cell)


def test_config_without_math_does_not_import_matplotlib(toy: Path) -> None:
    import subprocess
    import sys

    cfg = toy / "plain.toml"
    cfg.write_text(CONFIG + '[[figure]]\nx = "n"\ntitle = "risk, 5 $ a"\n', encoding="utf-8")
    code = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
        "from finetune_bounds import families; "
        "families._REGISTRY['toy'] = '_toy_family:FAMILY'; "
        f"from finetune_bounds.sweep import load_config; load_config({str(cfg)!r}); "
        "print('matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
