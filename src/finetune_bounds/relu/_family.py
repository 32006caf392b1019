"""The ``relu`` family as the sweep sees it (spec §4–5).

One cell = one task (synthetic teachers or digits label functions), one n (or an inner axis of
n: ``[axes] n = [...]``, one kernel learning curve on nested designs) and one width, in one of
three modes:

- ``mode = "curve"`` (default): theory rows from :func:`~.theory.theory_curve` (kernel-limit
  risks, data-dependent and worst-case bounds, complexities; averaged over ``theory_draws``
  designs drawn from ``theory_seed``) plus ``pretrain_error`` = √(2/m) (closed-form
  pretraining only); empirical rows from
  :func:`~.simulate.simulate_cell` (trained network from the source and from scratch, its kernel
  limit on the same data, the network–kernel gap). Sweeping ``width`` gives the width study.
- ``mode = "sample_complexity"``: theory only, :func:`~.theory.theory_sample_complexity` at
  ``eps`` (or an inner axis of ε values) with nested designs up to ``n_max``.
- ``mode = "measures"``: empirical only, :func:`~.simulate.simulate_measures` (correlation of
  rᵀH⁻¹r, ‖P_XΔ‖², ‖Δ‖², zero-shot risk and the bound with the measured fine-tuning risk over
  ``instances`` random tasks per seed; rows carry a ``measure`` field).

The task: ``data = "synthetic"`` (random teacher directions from ``task_seed``), ``"digits"``
(label functions) or ``"files"`` (θ_S, θ_T and optionally Σ from .npy/.csv files:
``source_file``, ``target_file``, ``covariance_file``; ``files_sha256`` is filled in from their
contents). ``EXAMPLES`` holds the ``--example`` tasks of the CLI as parameters.

The mathematics returns typed results (:class:`~.theory.TheoryCurve`,
:class:`~.theory.SampleComplexityTable`, :class:`~.simulate.CellMeasurements`,
:class:`~.simulate.MeasuresResult`); this module is the one place where the family's records are
built from them (:func:`curve_records`, :func:`sample_complexity_records`, :func:`cell_records`,
:func:`measures_records`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._limited import Limited
from .._task_files import Digest, FileName, cached_task
from .._task_files import resolve_files as _resolve_files
from ..errors import ConfigError
from ..families import Constraint, Family, Interval, Options, axis_values
from ..records import record
from ._tasks import LABEL_FUNCTIONS, ReluTask, digits_task, synthetic_task
from .simulate import (
    MEASURES,
    RISKS,
    CellMeasurements,
    MeasuresResult,
    simulate_cell,
    simulate_measures,
)
from .theory import (
    DEFAULT_CONSTANT,
    DEFAULT_DELTA,
    SAMPLE_COMPLEXITY_METHODS,
    STARTS,
    SampleComplexityTable,
    TheoryCurve,
    theory_curve,
    theory_sample_complexity,
)

__all__ = [
    "DEFAULTS",
    "EXAMPLES",
    "FAMILY",
    "cell_records",
    "curve_records",
    "measures_records",
    "sample_complexity_records",
    "task_from_params",
]

#: every parameter of the family, with its default
DEFAULTS: dict[str, Any] = {
    "mode": "curve",  # curve | sample_complexity | measures
    "data": "synthetic",  # synthetic | digits | files
    "d": 20,  # input dimension (synthetic; digits: 64)
    "n": 20,  # target samples
    "width": 2000,  # m, number of hidden neurons (even: antisymmetric pairs)
    "inputs": "sphere",  # synthetic inputs: sphere | power_law (z/‖z‖, z ~ N(0, diag(i^-alpha)))
    "alpha": 1.0,  # power-law exponent
    "source_norm": 1.0,  # ‖θ_S‖
    "delta_norm": 0.5,  # ‖Δ‖ = ‖θ_T − θ_S‖
    "task_seed": 0,  # draws the teacher directions
    "source_task": "value",  # digits label function of the source task
    "target_task": "large",  # digits label function of the target task
    "labels": "teacher",  # digits: teacher (y = θ_Tᵀx) | direct (the label function)
    # data = "files": θ_S, θ_T (and optionally Σ: inputs z/‖z‖, z ~ N(0, Σ); else uniform on the
    # sphere) from .npy/.csv files; d follows them. Unused ones are dropped from a cell.
    "source_file": "",
    "target_file": "",
    "covariance_file": "",
    "files_sha256": "",  # filled in from the files' contents (a value that disagrees: error)
    "pretrain": "closed_form",  # closed_form (W₀ + 2aθ_Sᵀ/√m) | gd
    "pretrain_samples": 0,  # gd pretraining samples (0 → 100·d)
    "pretrain_steps": 100,
    "n_test": 1000,
    "tol": 1e-3,  # relative training residual at which GD stops
    "max_steps": 4000,
    "lr_scale": 1.0,  # step = lr_scale / λ_max(H)
    "delta": DEFAULT_DELTA,  # confidence δ of the bound
    "constant": DEFAULT_CONSTANT,  # C of the bound's confidence term
    "ridge": 0.0,  # explicit Gram regularisation (0 = none; singular Gram raises)
    "theory_draws": 10,  # designs averaged in theory rows
    "theory_seed": 0,
    "eps": 0.1,  # sample_complexity mode: target mae
    "n_max": 2000,  # sample_complexity mode: largest n searched
    "instances": 24,  # measures mode: random tasks per seed
    "delta_spread": 10.0,  # measures mode: ‖Δ‖ log-uniform in [delta_norm/delta_spread, delta_norm]
}

MODES = ("curve", "sample_complexity", "measures")

#: the file parameters of ``data = "files"``, in digest order
FILE_PARAMS: tuple[str, ...] = ("source_file", "target_file", "covariance_file")

#: ``finetune-bounds relu --example NAME`` as family parameters
EXAMPLES: dict[str, dict[str, Any]] = {
    # θ_S (‖θ_S‖ = 1) and θ_T = θ_S + Δ (‖Δ‖ = 0.5) in random directions, d = 20, x uniform on
    # the sphere
    "synthetic": {"data": "synthetic", "d": 20, "inputs": "sphere", "source_norm": 1.0,
                  "delta_norm": 0.5, "task_seed": 0},
    # scikit-learn digits (d = 64): source "digit value / 9", target "digit ≥ 5", labels from the
    # least-squares teacher
    "digits": {"data": "digits", "source_task": "value", "target_task": "large",
               "labels": "teacher"},
}


_POS = Interval("float", 0, None, closed="neither")
_NONNEG = Interval("float", 0, None)
_COUNT = Interval("int", 1, None)

#: every parameter's admissible values, checked when a config loads (see families.Interval)
_CONSTRAINTS: dict[str, Constraint] = {
    "mode": Options(*MODES),
    "data": Options("synthetic", "digits", "files"),
    "d": Limited(_COUNT, "d", "d"),
    "n": Limited(_COUNT, "n", "n"),
    "width": Limited(Interval("int", 2, None), "width", "width"),
    "inputs": Options("sphere", "power_law"),
    "alpha": _NONNEG,
    "source_norm": _NONNEG,
    "delta_norm": _NONNEG,
    "task_seed": Interval("int", 0, None),
    "source_task": Options(*LABEL_FUNCTIONS),
    "target_task": Options(*LABEL_FUNCTIONS),
    "labels": Options("teacher", "direct"),
    **{k: FileName() for k in FILE_PARAMS},
    "files_sha256": Digest(),
    "pretrain": Options("closed_form", "gd"),
    "pretrain_samples": Limited(Interval("int", 0, None), "n", "pretrain_samples"),
    "pretrain_steps": Limited(_COUNT, "steps", "pretrain_steps"),
    "n_test": Limited(_COUNT, "n", "n_test"),
    "tol": _POS,
    "max_steps": Limited(_COUNT, "steps", "max_steps"),
    "lr_scale": _POS,
    "delta": Interval("float", 0, 1, closed="neither"),
    "constant": _NONNEG,
    "ridge": _NONNEG,
    "theory_draws": Limited(_COUNT, "draws", "theory_draws"),
    "theory_seed": Interval("int", 0, None),
    "eps": _POS,
    "n_max": Limited(_COUNT, "n", "n_max"),
    "instances": Limited(Interval("int", 3, None), "draws", "instances"),
    "delta_spread": Interval("float", 1, None),
}


def _derive(params: dict[str, Any]) -> dict[str, Any]:
    """Cross-parameter checks and derived values (at config load, never in a worker)."""
    out = dict(params)
    if out["data"] == "digits":
        out["d"] = 64
    if out["width"] % 2:
        raise ConfigError(f"relu: width must be even (antisymmetric pairs), got {out['width']}")
    if out["mode"] == "measures" and out["data"] != "synthetic":
        raise ConfigError("relu: mode 'measures' uses random synthetic instances (data=synthetic)")
    out, task = _resolve_files(out, family="relu", switch="data", keys=FILE_PARAMS,
                               load=_load_files)
    if task is not None:
        out["d"] = task.dim  # d follows the files
    return out


def _load_files(files: Mapping[str, str]) -> ReluTask:
    """The task of ``data = "files"`` (messages name the parameters)."""
    from .._io import load_array
    from ..errors import InvalidInputError

    missing = [k for k in ("source_file", "target_file") if not files.get(k)]
    if missing:
        raise InvalidInputError(f"data = 'files' needs {' and '.join(missing)} (θ_S and θ_T)")
    cov = files.get("covariance_file") or ""
    return ReluTask.from_teachers(
        load_array(files["source_file"], "source_file"),
        load_array(files["target_file"], "target_file"),
        covariance=load_array(cov, "covariance_file") if cov else None,
        name="teachers",
    )


def task_from_params(params: Mapping[str, Any]) -> ReluTask:
    """The task of a resolved cell (synthetic teachers or digits label functions)."""
    if params["data"] == "digits":
        return digits_task(params["source_task"], params["target_task"], labels=params["labels"])
    if params["data"] == "files":
        task: ReluTask = cached_task(params, FILE_PARAMS, _load_files)
        return task
    return synthetic_task(
        int(params["d"]),
        source_norm=params["source_norm"],
        delta_norm=params["delta_norm"],
        inputs=params["inputs"],
        alpha=params["alpha"],
        rng=int(params["task_seed"]),
    )


# ---------------------------------------------------------------------------------------------
# records: the one place where the relu family's rows are built from the typed results
# ---------------------------------------------------------------------------------------------
def curve_records(curve: TheoryCurve) -> list[dict[str, Any]]:
    """Rows of a :class:`~.theory.TheoryCurve` (no seed), one per n of every array.

    ``lambda_min`` (theory, ``exact``), ``mae`` (theory, ``zero_shot``), then per ``start``
    (``pretrained``, ``scratch``): ``mae``/``mse`` (theory, ``ntk_limit``), ``complexity``
    (theory, ``data_dependent``), ``mae`` (bound, ``data_dependent``) and, for linear labels,
    ``complexity`` and ``mae`` (bound, ``worst_case`` and ``worst_case_norm``) and
    ``complexity_ratio`` (theory, ``data_dependent``, no ``start``). Every row carries ``n``.
    """
    series: list[tuple[str, str, str, str | None, Any]] = [
        ("lambda_min", "theory", "exact", None, curve.lambda_min),
        ("mae", "theory", "zero_shot", None, curve.zero_shot),
    ]
    for st in STARTS:
        c = curve.start(st)
        series += [
            ("mae", "theory", "ntk_limit", st, c.mae),
            ("mse", "theory", "ntk_limit", st, c.mse),
            ("complexity", "theory", "data_dependent", st, c.complexity),
            ("mae", "bound", "data_dependent", st, c.bound),
        ]
        if curve.linear_labels:
            series += [
                ("complexity", "bound", "worst_case", st, c.worst_case_complexity),
                ("complexity", "bound", "worst_case_norm", st, c.worst_case_norm_complexity),
                ("mae", "bound", "worst_case", st, c.worst_case_bound),
                ("mae", "bound", "worst_case_norm", st, c.worst_case_norm_bound),
            ]
            if st == "pretrained":
                series.append(("complexity_ratio", "theory", "data_dependent", None,
                                curve.complexity_ratio))
    rows = []
    for q, src, method, start, vals in series:
        extra = {} if start is None else {"start": start}
        for k, v in zip(curve.n, vals, strict=True):
            rows.append(record(q, float(v), src, method=method, n=int(k), **extra))
    return rows


def sample_complexity_records(table: SampleComplexityTable) -> list[dict[str, Any]]:
    """Rows of a :class:`~.theory.SampleComplexityTable` (no seed): quantity
    ``sample_complexity`` with fields ``method``, ``start``, ``eps`` and ``n_max``; source
    ``theory`` for method ``ntk_limit``, else ``bound``."""
    rows = []
    for st in STARTS:
        t = table.start(st)
        for j, e in enumerate(table.eps):
            for method in SAMPLE_COMPLEXITY_METHODS:
                vals = getattr(t, method)
                if vals is None:  # worst_case: linear labels only
                    continue
                src = "theory" if method == "ntk_limit" else "bound"
                rows.append(record("sample_complexity", float(vals[j]), src, method=method,
                                   start=st, eps=float(e), n_max=table.n_max))
    return rows


#: (quantity, method or None, StartMeasurements field) of every per-seed row, in row order
_CELL_SERIES: tuple[tuple[str, str | None, str], ...] = (
    ("mae", "network", "mae"),
    ("mse", "network", "mse"),
    ("mae", "ntk_limit", "ntk_limit_mae"),
    ("mse", "ntk_limit", "ntk_limit_mse"),
    ("kernel_gap", "analytic", "kernel_gap"),
    ("kernel_gap", "empirical_ntk", "kernel_gap_empirical_ntk"),
    ("kernel_gap_scaled", "analytic", "kernel_gap_scaled"),
    ("bound_ratio", None, "bound_ratio"),
    ("complexity_term_ratio", None, "complexity_term_ratio"),
    ("iterations", "gd", "iterations"),
    ("converged", "gd", "converged"),
    ("pretrain_error", None, "pretrain_error"),
)


def cell_records(cell: CellMeasurements) -> list[dict[str, Any]]:
    """Rows of a :class:`~.simulate.CellMeasurements` (source ``empirical``): per ``start`` and
    seed i, every quantity of :data:`_CELL_SERIES` with fields ``n``, ``width``, ``seed = i``,
    ``start`` (``pretrain_error`` only for ``pretrained``; ``converged`` as 0/1)."""
    rows = []
    for st, meas in cell.starts():
        for i in range(meas.seeds):
            f = {"n": cell.n, "width": cell.width, "seed": i, "start": st}
            for q, method, name in _CELL_SERIES:
                vals = getattr(meas, name)
                if vals is None:  # pretrain_error: pretrained only
                    continue
                m = {} if method is None else {"method": method}
                rows.append(record(q, float(vals[i]), "empirical", **m, **f))
    return rows


def measures_records(result: MeasuresResult) -> list[dict[str, Any]]:
    """Rows of a :class:`~.simulate.MeasuresResult` (source ``empirical``, fields ``seed``,
    ``n``, ``width``): ``spearman`` and ``pearson`` with fields ``measure`` and ``against`` where
    defined, then ``bound_ratio_min`` and ``bound_ratio_median``."""
    rows = []
    for i in range(result.seeds):
        f = {"seed": i, "n": result.n, "width": result.width}
        for a, name in enumerate(MEASURES):
            for b, against in enumerate(RISKS):
                if not result.defined[i, a, b]:
                    continue  # a correlation with a constant is undefined: no row, not NaN
                for q in ("spearman", "pearson"):
                    rows.append(record(q, float(getattr(result, q)[i, a, b]), "empirical",
                                       measure=name, against=against, **f))
        rows.append(record("bound_ratio_min", float(result.bound_ratio_min[i]), "empirical", **f))
        rows.append(record("bound_ratio_median", float(result.bound_ratio_median[i]),
                           "empirical", **f))
    return rows


# ---------------------------------------------------------------------------------------------
# the family's faces
# ---------------------------------------------------------------------------------------------
def _theory(params: Mapping[str, Any], rng: np.random.Generator) -> list[dict[str, Any]]:
    mode = params["mode"]
    if mode == "measures":
        return []
    task = task_from_params(params)
    common: dict[str, Any] = {
        "draws": int(params["theory_draws"]),
        "seed": int(params["theory_seed"]),
        "n_test": int(params["n_test"]),
        "delta": float(params["delta"]),
        "constant": float(params["constant"]),
        "ridge": float(params["ridge"]),
    }
    if mode == "sample_complexity":
        eps = [float(e) for e in axis_values(params, "eps")]
        table = theory_sample_complexity(task, eps, n_max=int(params["n_max"]), **common)
        return sample_complexity_records(table)
    ns, width = [int(n) for n in axis_values(params, "n")], int(params["width"])
    rows = curve_records(theory_curve(task, ns, **common))  # one curve on nested designs
    if params["pretrain"] == "closed_form":  # √(2/m) is the closed form's error, not GD's
        rows += [
            record("pretrain_error", math.sqrt(2.0 / width), "theory", method="binomial", n=n)
            for n in ns
        ]
    return rows


def _simulate(
    params: Mapping[str, Any], rngs: Sequence[np.random.Generator]
) -> list[dict[str, Any]]:
    mode = params["mode"]
    if mode == "sample_complexity" or not rngs:
        return []
    common: dict[str, Any] = {
        "n_test": int(params["n_test"]),
        "tol": float(params["tol"]),
        "max_steps": int(params["max_steps"]),
        "delta": float(params["delta"]),
        "constant": float(params["constant"]),
    }
    ns, width = [int(n) for n in axis_values(params, "n")], int(params["width"])
    if mode == "measures":
        if len(ns) > 1:
            raise ConfigError("relu: mode 'measures' takes one n per cell (use [grid] for n)")
        return measures_records(simulate_measures(
            int(params["d"]), ns[0], width, rngs, instances=int(params["instances"]),
            source_norm=float(params["source_norm"]),
            delta_range=(float(params["delta_norm"]) / float(params["delta_spread"]),
                         float(params["delta_norm"])),
            **common,
        ))
    task = task_from_params(params)
    rows: list[dict[str, Any]] = []
    for n in ns:  # each seed's generator serves the whole axis, one n after the other
        rows += cell_records(simulate_cell(
            task,
            n,
            width,
            rngs,
            pretrain=params["pretrain"],
            pretrain_samples=int(params["pretrain_samples"]) or None,
            pretrain_steps=int(params["pretrain_steps"]),
            lr_scale=float(params["lr_scale"]),
            ridge=float(params["ridge"]),
            **common,
        ))
    return rows


FAMILY = Family(
    name="relu",
    defaults=DEFAULTS,
    theory=_theory,
    simulate=_simulate,
    derive=_derive,
    constraints=_CONSTRAINTS,
    axes=("n", "eps"),
    description=(
        "Two-layer ReLU network (first layer trained, antisymmetric init) fine-tuned from a "
        "linear source teacher: NTK theory, bounds and numpy training (spec §4–5)."
    ),
)
