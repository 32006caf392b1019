"""The ``linear`` and ``linear_measures`` sweep families (spec ``linear-teachers.md`` §2, §5).

``FAMILY`` (name ``"linear"``): one cell = one task (spectrum, placement of Δ, noise, fixed by
``task_seed`` independently of the empirical seeds) and one sample size n — or a whole curve of
sample sizes when ``n`` is an inner axis (``[axes] n = [...]``): the designs are then nested (the
first n rows of one draw of max(n) rows per seed), so a curve shares its draws.

- ``theory(params, rng)``: deterministic-equivalent risk, bias and variance (§2.3), zero-shot and
  from-scratch references (§2.2), and the three bound families of §2.4 as ``quantity="risk"``,
  ``source="bound"``, ``method`` = ``naive`` / ``benign`` / ``head_tail``. With
  ``theory_method = "monte_carlo"`` the draws come from the cell's theory stream ``rng`` and the
  rows carry their ``stderr``.
- ``simulate(params, rngs)``: per seed, a design and label noise drawn from that seed's generator
  only; the exact population risk of the closed-form limit (``method="closed_form"``, plus its
  bias, conditional variance and the from-scratch risk) and, with ``gd = true``, of iterative
  gradient descent (``method="gd"``, with ``gd_vs_closed_form``, ``iterations`` and
  ``converged`` — a 0/1 quantity, so its mean over seeds is the fraction of runs that reached
  the tolerance; non-converged runs are kept, not dropped).

``spectrum = "files"`` reads Σ (``covariance_file``, or ``spectrum_file`` with an optional
``eigenvectors_file``), θ_S and θ_T (``source_file``, ``target_file``) from .npy/.csv files; ``d``
follows them and ``files_sha256`` (filled in from their contents) is part of the cell. ``EXAMPLES``
holds the ``--example`` tasks of the CLI as parameters.

``MEASURES`` (name ``"linear_measures"``): the [paper] correlation study of §2.4 — per seed, a
fresh set of random instances, and the Pearson/Spearman correlation of each similarity measure
with the exact risk (``quantity="pearson"``/``"spearman"``, field ``measure``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._limited import Limited
from .._task_files import FILE_PARAMS, Digest, FileName, cached_task, load_linear_files
from .._task_files import resolve_files as _resolve_files
from .._validation import FloatArray, positive_int
from ..errors import ConfigError, InvalidInputError
from ..families import Boolean, Constraint, Family, Interval, Options, axis_values
from ..problems import LinearTask
from ..records import record
from ._tasks import SPECTRA, spectrum_task
from .simulate import _draw, simulate_batch
from .theory import bounds, expected_risk, measure_correlation_study

__all__ = ["EXAMPLES", "FAMILY", "MEASURES", "build_task", "empirical_records", "theory_records"]

_DEFAULTS: dict[str, Any] = {
    # the task (fixed per cell by task_seed)
    "d": 200,  # dimension (ignored for spectrum = "digits", which has d = 64)
    "n": 50,  # target sample size
    "spectrum": "power_law",  # "power_law" | "spiked" | "flat" | "digits"
    "exponent": 1.0,  # power law λ_i ∝ i^-exponent
    "spike_count": 0,  # spiked: number of spikes (0 → max(1, d // 20))
    "spike_height": 20.0,  # spiked: spike / bulk eigenvalue ratio
    "alignment": "head",  # where Δ lives: "head" | "tail" | "random" (synthetic spectra)
    "delta_fraction": 0.1,  # head/tail: fraction of eigen-directions carrying Δ
    "delta_norm": 1.0,  # ‖Δ‖ (synthetic spectra)
    "source_norm": 1.0,  # ‖θ_S‖ (synthetic spectra)
    "noise_variance": 0.0,  # label-noise σ² (0 in the paper)
    "task_seed": 0,  # seed of θ_S and Δ (independent of the empirical seeds)
    "source_label": "ge5",  # digits: source label function (finetune_bounds.data)
    "target_label": "even",  # digits: target label function
    "design": "gaussian",  # "gaussian" x ~ N(0, Σ) | "real" (digits rows, no replacement)
    # spectrum = "files": Σ, θ_S and θ_T from .npy/.csv files (d follows the files); unused
    # file parameters are dropped from a cell, so other cells keep their content hash
    "covariance_file": "",  # Σ as a d×d matrix (exactly one of covariance_file, spectrum_file)
    "spectrum_file": "",  # the eigenvalues of Σ ...
    "eigenvectors_file": "",  # ... and optionally its eigenvectors as columns
    "source_file": "",  # θ_S
    "target_file": "",  # θ_T
    "files_sha256": "",  # filled in from the files' contents (a value that disagrees: error)
    # training
    "gd": True,  # also run iterative gradient descent (else only the closed-form limit)
    "gd_tol": 1e-8,  # relative gradient-norm tolerance
    "gd_max_iter": 20_000,  # GD budget; runs that hit it are flagged converged = False
    # theory
    # or "auto" (the DE where its calibrated error is ≤ 1 %, else "weights"), "isotropic"
    # (Σ ∝ I), "monte_carlo", "weights"
    "theory_method": "deterministic",
    "mc_draws": 200,  # Monte Carlo draws when theory_method = "monte_carlo"
    # bound constants (spec §2.4; naive with 1 is a true bound on the bias, the others are rates)
    "bound_naive": 1.0,
    "bound_benign": 1.0,
    "bound_head_tail": 1.0,
}


#: ``finetune-bounds linear --example NAME`` as family parameters (the tasks of
#: :func:`finetune_bounds.linear.simulate.example_task`, bit for bit)
EXAMPLES: dict[str, dict[str, Any]] = {
    # d = 200, λ_i ∝ 1/i (tr Σ = d), Δ (‖Δ‖ = 1) on the top 10 % eigen-directions, ‖θ_S‖ = 1
    "power_law": {"spectrum": "power_law", "d": 200, "exponent": 1.0, "alignment": "head",
                  "delta_fraction": 0.1, "delta_norm": 1.0, "source_norm": 1.0, "task_seed": 0},
    # d = 200, 10 spikes 20× the bulk, Δ in a random direction
    "spiked": {"spectrum": "spiked", "d": 200, "spike_count": 0, "spike_height": 20.0,
               "alignment": "random", "delta_norm": 1.0, "source_norm": 1.0, "task_seed": 0},
    # scikit-learn digits (d = 64, rank 61): θ_S fitted to "digit ≥ 5", θ_T to "digit is even"
    "digits": {"spectrum": "digits", "source_label": "ge5", "target_label": "even"},
}


def build_task(params: Mapping[str, Any]) -> LinearTask:
    """The cell's task from its parameters (deterministic: depends on ``task_seed`` only, or on
    the files' contents for ``spectrum = "files"``)."""
    spectrum = params["spectrum"]
    if spectrum == "files":
        t = cached_task(params, FILE_PARAMS, load_linear_files)
        return LinearTask(t.covariance, t.source, t.target, params["noise_variance"])
    if spectrum == "digits":
        from ..data import digits_task

        return digits_task(
            params["source_label"], params["target_label"], params["noise_variance"]
        )
    if spectrum not in SPECTRA:
        raise InvalidInputError(
            f"spectrum must be one of {(*SPECTRA, 'digits')}, got {spectrum!r}"
        )
    if params["design"] != "gaussian":
        raise InvalidInputError("design = 'real' needs spectrum = 'digits'")
    spikes = positive_int(params["spike_count"], "spike_count", allow_zero=True)
    return spectrum_task(
        params["d"],
        spectrum,
        exponent=params["exponent"],
        spike_count=spikes or None,
        spike_height=params["spike_height"],
        delta_profile=params["alignment"],
        delta_fraction=params["delta_fraction"],
        delta_norm=params["delta_norm"],
        source_norm=params["source_norm"],
        noise_variance=params["noise_variance"],
        seed=params["task_seed"],
    )


class _LabelName(Constraint):
    """A digits label-function name (the registry of :mod:`finetune_bounds.data`)."""

    def accepts(self, value: Any) -> bool:
        from ..data import LABEL_FUNCTIONS

        return isinstance(value, str) and value in LABEL_FUNCTIONS

    def describe(self) -> str:
        from ..data import LABEL_FUNCTIONS

        return "a digits label function: " + ", ".join(sorted(LABEL_FUNCTIONS))


_NONNEG = Interval("float", 0, None)
_POS = Interval("float", 0, None, closed="neither")

#: every parameter's admissible values, checked when a config loads (see families.Interval)
_CONSTRAINTS: dict[str, Constraint] = {
    "d": Limited(Interval("int", 1, None), "d", "d"),
    "n": Limited(Interval("int", 1, None), "n", "n"),
    "spectrum": Options(*SPECTRA, "digits", "files"),
    "exponent": _NONNEG,
    "spike_count": Interval("int", 0, None),
    "spike_height": _POS,
    "alignment": Options("head", "tail", "random"),
    "delta_fraction": Interval("float", 0, 1, closed="right"),
    "delta_norm": _NONNEG,
    "source_norm": _NONNEG,
    "noise_variance": _NONNEG,
    "task_seed": Interval("int", 0, None),
    "source_label": _LabelName(),
    "target_label": _LabelName(),
    "design": Options("gaussian", "real"),
    **{k: FileName() for k in FILE_PARAMS},
    "files_sha256": Digest(),
    "gd": Boolean(),
    "gd_tol": _POS,
    "gd_max_iter": Limited(Interval("int", 1, None), "steps", "gd_max_iter"),
    "theory_method": Options("auto", "deterministic", "isotropic", "monte_carlo", "weights"),
    "mc_draws": Limited(Interval("int", 2, None), "draws", "mc_draws"),
    "bound_naive": _NONNEG,
    "bound_benign": _NONNEG,
    "bound_head_tail": _NONNEG,
}


def _validate(params: dict[str, Any]) -> dict[str, Any]:
    """Cross-parameter checks the constraints cannot express (the family's ``derive`` hook)."""
    if params["design"] == "real" and params["spectrum"] != "digits":
        raise ConfigError("linear: design = 'real' needs spectrum = 'digits'")
    if params["spectrum"] == "spiked" and params["spike_count"] > params["d"]:
        raise ConfigError(
            f"linear: spike_count = {params['spike_count']} exceeds d = {params['d']}"
        )
    out, task = _resolve_files(
        params, family="linear", switch="spectrum", keys=FILE_PARAMS, load=load_linear_files
    )
    if task is not None:
        out["d"] = task.dim  # d follows the files
    return out


def _constants(params: Mapping[str, Any]) -> dict[str, float]:
    return {k: float(params[f"bound_{k}"]) for k in ("naive", "benign", "head_tail")}


def _dim_field(params: Mapping[str, Any], task: LinearTask) -> dict[str, Any]:
    # digits ignores the cell's d: record the true dimension (a record field overrides the column)
    return {"d": task.dim} if params["spectrum"] == "digits" else {}


# ---------------------------------------------------------------------------------------------
# records: the one place where the linear family's rows are built (also used by simulate_curve)
# ---------------------------------------------------------------------------------------------
def theory_records(
    task: LinearTask,
    n: int,
    *,
    method: str = "deterministic",
    bound_constants: Mapping[str, float] | None = None,
    rng: np.random.Generator | int | None = None,
    n_draws: int = 200,
    extra_isotropic: bool = False,
) -> list[dict[str, Any]]:
    """Theory and bound rows at one n (no seed): risk (``start = "pretrained"``) with its bias and
    variance, the risk from scratch (``start = "scratch"``), zero-shot, and the three §2.4 bound
    families (quantity ``risk``, source ``bound``, method = bound name)."""
    rows: list[dict[str, Any]] = []
    methods = [method] + (["isotropic"] if extra_isotropic and method != "isotropic" else [])
    for m in methods:
        kw: dict[str, Any] = (
            {"rng": rng, "n_draws": n_draws} if m == "monte_carlo"
            else {"rng": rng} if m in ("weights", "auto") else {}
        )
        r = expected_risk(task, n, m, **kw)  # type: ignore[arg-type]
        extra: dict[str, Any] = {}
        if r.stderr is not None:
            extra["stderr"] = float(r.stderr)
        if m == "auto":  # the route taken and its stated relative accuracy, per n
            extra.update(route=r.method, rel_error=float(r.accuracy.rel_error))
        rows.append(record("risk", r.risk, "theory", n=n, method=m, start="pretrained", **extra))
        for q in ("bias", "variance"):
            rows.append(record(q, getattr(r, q), "theory", n=n, method=m, **extra))
        fs = expected_risk(task.from_scratch(), n, m, **kw)  # type: ignore[arg-type]
        se: dict[str, Any] = {} if fs.stderr is None else {"stderr": float(fs.stderr)}
        if m == "auto":
            se.update(route=fs.method, rel_error=float(fs.accuracy.rel_error))
        rows.append(record("risk", fs.risk, "theory", n=n, method=m, start="scratch", **se))
    rows.append(
        record("zero_shot", float(task.covariance.quadratic_form(task.delta)), "theory", n=n,
               method="closed_form")
    )
    if n >= 1:
        for name, b in bounds(task, n, constants=bound_constants).items():
            extra = {} if b.argmin_k is None else {"argmin_k": b.argmin_k}
            rows.append(record("risk", b.value, "bound", n=n, method=name, constant=b.constant,
                               start="pretrained", **extra))
    return rows


def empirical_records(
    n: int, arrays: Mapping[str, FloatArray], gd: bool, *, converged_field: bool = True
) -> list[dict[str, Any]]:
    """Empirical rows of one batch. GD convergence is a ``converged`` field on the GD rows
    (``converged_field=True``, for :func:`simulate_curve`) or a 0/1 quantity ``converged``
    (for the sweep, where a field varying across seeds would split a curve in two)."""
    rows: list[dict[str, Any]] = []
    s_ = len(arrays["risk"])
    for i in range(s_):
        base = {"n": n, "seed": i}
        rows.append(record("risk", arrays["risk"][i], "empirical", method="closed_form",
                           start="pretrained", **base))
        for q in ("bias", "variance"):
            rows.append(record(q, arrays[q][i], "empirical", method="closed_form", **base))
        rows.append(record("risk", arrays["from_scratch"][i], "empirical", method="closed_form",
                           start="scratch", **base))
        if gd:
            c = bool(arrays["converged"][i])
            flag = {"converged": c} if converged_field else {}
            rows.append(record("risk", arrays["risk_gd"][i], "empirical", method="gd",
                               start="pretrained", **flag, **base))
            for q in ("gd_vs_closed_form", "iterations"):
                rows.append(record(q, arrays[q][i], "empirical", method="gd", **flag, **base))
            if not converged_field:
                rows.append(record("converged", float(c), "empirical", method="gd", **base))
    return rows


def _theory(params: Mapping[str, Any], rng: np.random.Generator) -> list[dict[str, Any]]:
    task = build_task(params)
    extra = _dim_field(params, task)
    rows: list[dict[str, Any]] = []
    for n in axis_values(params, "n"):
        rows += theory_records(
            task,
            int(n),
            method=params["theory_method"],
            bound_constants=_constants(params),
            rng=rng,
            n_draws=params["mc_draws"],
            extra_isotropic=params["spectrum"] == "flat",
        )
    return [{**r, **extra} for r in rows]


def _simulate(
    params: Mapping[str, Any], rngs: Sequence[np.random.Generator]
) -> list[dict[str, Any]]:
    task = build_task(params)
    ns = [int(n) for n in axis_values(params, "n")]
    sampler = None
    if params["design"] == "real":
        from ..data import digits_design

        sampler = digits_design
    # nested designs: seed i draws max(n) rows once; each n of the curve uses the first n rows
    x_all, xi_all = _draw(task, max(ns), len(rngs), list(rngs), sampler)
    gd = bool(params["gd"])
    extra = _dim_field(params, task)
    rows: list[dict[str, Any]] = []
    for n in ns:
        arrays = simulate_batch(
            task, x_all[:, :n], xi_all[:, :n], gd=gd, tol=float(params["gd_tol"]),
            max_iter=int(params["gd_max_iter"]),
        )
        rows += empirical_records(n, arrays, gd, converged_field=False)
    return [{**r, **extra} for r in rows]


FAMILY = Family(
    name="linear",
    defaults=_DEFAULTS,
    theory=_theory,
    simulate=_simulate,
    derive=_validate,
    constraints=_CONSTRAINTS,
    axes=("n",),
    description=(
        "Fine-tuning linear regression from a linear source teacher (linear-teachers §2, §5): "
        "deterministic-equivalent risk and bounds against gradient descent on sampled data."
    ),
)


# ---------------------------------------------------------------------------------------------
# linear_measures: which similarity measure tracks the risk? ([paper] §2.4)
# ---------------------------------------------------------------------------------------------
_MEASURE_DEFAULTS: dict[str, Any] = {
    "n_instances": 100,  # random (Σ, θ_S, θ_T, X) instances per seed
    "d": 100,
    "n": 20,
    "spectrum": "power_law",  # "power_law" | "spiked" | "flat" (theory.random_task)
}


def _measures_theory(params: Mapping[str, Any], rng: np.random.Generator) -> list[dict[str, Any]]:
    return []  # the study is empirical (random instances); see _measures_simulate


def _measures_simulate(
    params: Mapping[str, Any], rngs: Sequence[np.random.Generator]
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for i, g in enumerate(rngs):
        table = measure_correlation_study(
            n_instances=params["n_instances"], d=params["d"], n=params["n"],
            spectrum=params["spectrum"], rng=g,
        )
        for _, r in table.iterrows():
            for q in ("pearson", "spearman"):
                rows.append(record(q, float(r[q]), "empirical", measure=str(r["measure"]),
                                   n=int(params["n"]), seed=i))
    return rows


MEASURES = Family(
    name="linear_measures",
    defaults=_MEASURE_DEFAULTS,
    theory=_measures_theory,
    simulate=_measures_simulate,
    constraints={
        "n_instances": Interval("int", 3, None),
        "d": Interval("int", 1, None),
        "n": Interval("int", 1, None),
        "spectrum": Options("power_law", "spiked", "flat"),
    },
    description=(
        "Correlation of similarity measures (‖Δ‖², λ_max‖Δ‖², ΔᵀΣΔ, benign, head/tail, "
        "deterministic equivalent) with the exact fine-tuning risk over random instances "
        "(linear-teachers §2.4)."
    ),
)
