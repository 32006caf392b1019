"""The ``infinite_width`` family as the sweep sees it (spec ``infinite-width-transfer.md`` §3–§5).

One cell = one task pair (kind, D, ν₁ = P₁/D, α_s, noise; the data drawn from ``data_seed``, so
every route of the cell sees the same data) and one :class:`~._transfer.TransferSetting`, with
the inner axis ``nu2`` (ν₂ = P₂/D: a target learning curve in one cell; the target sets are
nested prefixes of one draw of max(ν₂)·D samples and the source stage is run once per seed).
Records, every one tagged with ``protocol`` and ``readout`` (``fresh`` for FT and the scratch
readouts, ``reset``/``kept`` for JR):

- theory, method ``toy`` (``toy_theory``; linear task and linear φ only, else skipped): the
  proportional-limit toy model (:func:`~._toy.toy_transfer`) with S-B (anchor ``init``) or S-A
  (anchor ``zero``) source, ŝ = γ₁²D/(λ₁δ) or λ̂ = √(λ₁δ)/(γ₁√D) and the rich-scratch control from
  γ₂, λ₂: ``error`` of ``ft``, ``scratch_lazy``, ``scratch_rich`` and ``gain_lazy``,
  ``gain_rich`` of ``ft``.
- theory, method ``learning_curve`` (``kernel_theory``): kernel learning curves (§4) on the test
  pool as input density — ``scratch_lazy`` with the lazy NNGP kernel Φ₀ (closed form), ``ft`` with
  the particle solver's source-adapted kernel Φ₁ (needs ``particles``) — each with ridge λ₂.
- theory, method ``particle_dmft`` (``particles``): the protocols on M = ``neurons`` particles,
  ``dmft_seeds`` populations.
- empirical, method ``gd``, per seed: the protocols on finite-width networks (N = ``width``)
  trained by gradient descent.
- ``mode = "width_gap"`` instead: finite-width GD on the source task alone (the source stage's
  recipe) at width ``width`` against the infinite-width reference on the test inputs (the S-B
  closed form for linear φ with anchor ``init``; else particles with ``neurons``): ``gap`` = RMS
  over test inputs of f_N − f_∞, per seed (spec §2: it shrinks like N^{-1/2}).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError, InvalidInputError
from ..families import Boolean, Family, Interval, Options, Words, axis_values, seed_ints
from ..records import record
from ._tasks import TransferTask, make_task
from ._transfer import PROTOCOLS, TransferSetting, transfer_curve

__all__ = ["DEFAULTS", "FAMILY"]

DEFAULTS: dict[str, Any] = {
    "mode": "transfer",  # or "width_gap"
    "task": "linear",  # linear | hermite | digits
    "dim": 20,  # D (digits: 64, fixed)
    "nu1": 2.0,  # P₁ = round(ν₁ D)
    "nu2": 1.0,  # P₂ = round(ν₂ D) (inner axis)
    "alpha_s": 0.8,
    "degree": 2,  # Hermite degree
    "source_classes": "0 1",
    "target_classes": "7 9",
    "n_test": 400,
    "noise_source": 0.0,
    "noise_target": 0.0,
    "data_seed": 0,
    "gamma_source": 1.0,
    "gamma_target": 1.0,
    "ridge_source": 0.1,
    "ridge_hidden": 0.1,
    "ridge_target": 0.1,
    "stiffness": 1.0,
    "anchor": "init",
    "readout": "reset",
    "time_jr_i": 10.0,
    "activation": "linear",
    "protocols": "scratch_lazy scratch_rich ft jr_e jr_i",
    "toy_theory": True,
    "kernel_theory": True,
    "particles": True,
    "neurons": 2000,
    "dmft_seeds": 1,
    "width": 1000,
    "tol": 1e-6,
    "max_time": 500.0,
}

_CONSTRAINTS = {
    "mode": Options("transfer", "width_gap"),
    "task": Options("linear", "hermite", "digits"),
    "dim": Interval("int", 1, 5000),
    "nu1": Interval("float", 0.0, None, closed="neither"),
    "nu2": Interval("float", 0.0, None, closed="neither"),
    "alpha_s": Interval("float", -1.0, 1.0),
    "degree": Interval("int", 1, 10),
    "n_test": Interval("int", 1, 20_000),
    "noise_source": Interval("float", 0.0, None),
    "noise_target": Interval("float", 0.0, None),
    "data_seed": Interval("int", 0, None),
    "gamma_source": Interval("float", 0.0, None, closed="neither"),
    "gamma_target": Interval("float", 0.0, None, closed="neither"),
    "ridge_source": Interval("float", 0.0, None, closed="neither"),
    "ridge_hidden": Interval("float", 0.0, None),
    "ridge_target": Interval("float", 0.0, None, closed="neither"),
    "stiffness": Interval("float", 0.0, None),
    "anchor": Options("init", "zero"),
    "readout": Options("reset", "kept"),
    "time_jr_i": Interval("float", 0.0, None, closed="neither"),
    "activation": Options("relu", "linear"),
    "protocols": Words(PROTOCOLS),
    "toy_theory": Boolean(),
    "kernel_theory": Boolean(),
    "particles": Boolean(),
    "neurons": Interval("int", 2, 200_000),
    "dmft_seeds": Interval("int", 1, 1000),
    "width": Interval("int", 1, 200_000),
    "tol": Interval("float", 0.0, 1.0, closed="neither"),
    "max_time": Interval("float", 0.0, None, closed="neither"),
}


def _classes(text: Any, name: str) -> tuple[int, int]:
    try:
        parts = tuple(int(v) for v in str(text).replace(",", " ").split())
    except ValueError:
        raise ConfigError(f"infinite_width: {name} must be two digits, got {text!r}") from None
    if len(parts) != 2 or parts[0] == parts[1] or not all(0 <= c <= 9 for c in parts):
        raise ConfigError(f"infinite_width: {name} must be two different digits, got {text!r}")
    return parts[0], parts[1]


def _derive(params: dict[str, Any]) -> dict[str, Any]:
    src = _classes(params["source_classes"], "source_classes")
    tgt = _classes(params["target_classes"], "target_classes")
    if not _protocols(params):
        raise ConfigError("infinite_width: protocols must name at least one protocol")
    if params["task"] == "digits":  # the data set is finite: say so at load, not in a cell
        from ..data import digits_pool

        digits = digits_pool()[1]
        p2 = max(_size(float(v), 64) for v in axis_values(params, "nu2"))
        for what, cls, need in (("nu1 * 64", src, _size(float(params["nu1"]), 64)),
                                ("max(nu2) * 64 + n_test", tgt, p2 + int(params["n_test"]))):
            have = int(np.isin(digits, cls).sum())
            if need > have:
                raise ConfigError(
                    f"infinite_width: {what} = {need} images of digits {cls}, only {have} exist"
                )
    return params


def _dim(params: Mapping[str, Any]) -> int:
    return 64 if params["task"] == "digits" else int(params["dim"])


def _size(nu: float, dim: int) -> int:
    return max(1, round(nu * dim))


def _task(params: Mapping[str, Any], p_target: int) -> TransferTask:
    dim = _dim(params)
    kw: dict[str, Any] = {
        "p_source": _size(float(params["nu1"]), dim), "p_target": p_target,
        "n_test": int(params["n_test"]), "rng": int(params["data_seed"]),
    }
    if params["task"] == "digits":
        kw["source_classes"] = _classes(params["source_classes"], "source_classes")
        kw["target_classes"] = _classes(params["target_classes"], "target_classes")
    else:
        kw.update(dim=dim, alpha_s=float(params["alpha_s"]),
                  noise_source=float(params["noise_source"]),
                  noise_target=float(params["noise_target"]))
        if params["task"] == "hermite":
            kw["degree"] = int(params["degree"])
    try:
        return make_task(params["task"], **kw)
    except InvalidInputError as exc:
        raise ConfigError(f"infinite_width: {exc}") from None


def _setting(params: Mapping[str, Any]) -> TransferSetting:
    return TransferSetting(
        **{k: params[k] for k in (
            "gamma_source", "gamma_target", "ridge_source", "ridge_hidden", "ridge_target",
            "stiffness", "anchor", "readout", "time_jr_i", "activation")}
    )


def _curve_inputs(params: Mapping[str, Any]) -> tuple[list[float], list[int], TransferTask]:
    dim = _dim(params)
    nus = [float(v) for v in axis_values(params, "nu2")]
    sizes = [_size(v, dim) for v in nus]
    return nus, sizes, _task(params, max(sizes))


def _protocols(params: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(str(params["protocols"]).replace(",", " ").split())


def _tag(prot: str, params: Mapping[str, Any]) -> str:
    return str(params["readout"]) if prot in ("jr_e", "jr_i") else "fresh"


def _toy_rows(params: Mapping[str, Any], nus: list[float]) -> list[dict[str, Any]]:
    from ._toy import toy_transfer

    if params["task"] != "linear" or params["activation"] != "linear":
        return []
    dim = _dim(params)
    g1, g2 = float(params["gamma_source"]), float(params["gamma_target"])
    l1, l2 = float(params["ridge_source"]), float(params["ridge_target"])
    dl = float(params["ridge_hidden"])
    if dl <= 0.0:
        return []
    src = "S-B" if params["anchor"] == "init" else "S-A"
    ctrl: dict[str, Any] = (
        {"s_hat": g1 * g1 * dim / (l1 * dl), "s_hat_target": g2 * g2 * dim / (l2 * dl)}
        if src == "S-B" else
        {"lam_hat": math.sqrt(l1 * dl) / (g1 * math.sqrt(dim)),
         "lam_hat_target": math.sqrt(l2 * dl) / (g2 * math.sqrt(dim))}
    )
    prots = _protocols(params)
    rows: list[dict[str, Any]] = []
    for nu in nus:
        t = toy_transfer(float(params["alpha_s"]), float(params["nu1"]), nu, source=src,
                         ridge_source=l1, ridge_target=l2,
                         noise_source=float(params["noise_source"]),
                         noise_target=float(params["noise_target"]), **ctrl)
        base = {"method": "toy", "nu2": nu, "readout": "fresh", "source_kernel": src}
        for prot, val in (("ft", t.e_ft), ("scratch_lazy", t.e_scratch_lazy),
                          ("scratch_rich", t.e_scratch_rich)):
            if prot in prots:
                rows.append(record("error", float(val), "theory", protocol=prot, **base))
        if "ft" in prots:
            rows.append(record("gain_lazy", float(t.gain_lazy), "theory", protocol="ft", **base))
            rows.append(record("gain_rich", float(t.gain_rich), "theory", protocol="ft", **base))
    return rows


def _kernel_curve_rows(
    params: Mapping[str, Any], task: TransferTask, nus: list[float], sizes: list[int],
    source_kernel: Any,
) -> list[dict[str, Any]]:
    from ._kernels import lazy_kernels
    from ._learning_curve import empirical_spectrum, learning_curve

    prots = _protocols(params)
    kernels: list[tuple[str, Any]] = []
    if "scratch_lazy" in prots:
        kernels.append(("scratch_lazy",
                        lazy_kernels(task.x_test, activation=str(params["activation"])).phi))
    if "ft" in prots and source_kernel is not None:
        kernels.append(("ft", source_kernel))
    rows: list[dict[str, Any]] = []
    for prot, gram in kernels:
        spec = empirical_spectrum(gram, task.y_test)
        lc = learning_curve(spec.eigenvalues, spec.target_power, np.asarray(sizes, float),
                            ridge=float(params["ridge_target"]),
                            noise_variance=float(params["noise_target"]))
        for nu, err in zip(nus, lc.error, strict=True):
            rows.append(record("error", float(err), "theory", method="learning_curve",
                               protocol=prot, nu2=nu, readout="fresh"))
    return rows


def _theory(params: Mapping[str, Any], rng: np.random.Generator) -> list[dict[str, Any]]:
    if params["mode"] == "width_gap":
        return []
    nus, sizes, task = _curve_inputs(params)
    rows: list[dict[str, Any]] = []
    if params["toy_theory"]:
        rows += _toy_rows(params, nus)
    source_kernel = None
    if params["particles"]:
        seeds = [int(v) for v in rng.integers(0, 2**63 - 1, size=int(params["dmft_seeds"]))]
        curve = transfer_curve(task, _setting(params), sizes, solver="particle",
                               protocols=_protocols(params), width=int(params["neurons"]),
                               seeds=seeds, tol=float(params["tol"]),
                               max_time=float(params["max_time"]))
        for nu, res in zip(nus, curve.results, strict=True):
            rows += _result_rows(res, nu, params)
            source_kernel = res.source_kernel
    if params["kernel_theory"]:
        rows += _kernel_curve_rows(params, task, nus, sizes, source_kernel)
    return rows


def _result_rows(res: Any, nu: float, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows of one TransferResult: per seed for finite-width networks (empirical); for the
    particle solver (theory) the mean over its populations, with ``stderr`` when there are
    several."""
    network = res.solver == "network"
    src = "empirical" if network else "theory"
    method = "gd" if network else "particle_dmft"
    rows: list[dict[str, Any]] = []

    def emit(quantity: str, values: Any, **base: Any) -> None:
        vals = np.asarray(values, dtype=np.float64)
        if network:
            for s, v in enumerate(vals):
                rows.append(record(quantity, float(v), src, seed=s, **base))
        else:
            extra = {"stderr": float(np.std(vals, ddof=1) / math.sqrt(vals.size))} \
                if vals.size > 1 else {}
            rows.append(record(quantity, float(np.mean(vals)), src, **base, **extra))

    for prot in res.protocols:
        base = {"method": method, "protocol": prot, "readout": _tag(prot, params), "nu2": nu,
                "width": res.width}
        emit("error", res.errors[prot], **base)
        if prot not in ("scratch_lazy", "scratch_rich"):
            for b in ("lazy", "rich"):
                if f"scratch_{b}" in res.errors:
                    emit(f"gain_{b}", res.gain(prot, b), **base)
        stage = "source" if prot == "ft" else prot
        d = res.diagnostics.get(stage)
        if d is not None:
            emit("stalled", d["stalled"], stage=stage, **base)
    return rows


def _simulate(
    params: Mapping[str, Any], rngs: Sequence[np.random.Generator]
) -> list[dict[str, Any]]:
    if not rngs:
        return []
    seeds = seed_ints(rngs)
    if params["mode"] == "width_gap":
        return _width_gap(params, seeds)
    nus, sizes, task = _curve_inputs(params)
    curve = transfer_curve(task, _setting(params), sizes, solver="network",
                           protocols=_protocols(params), width=int(params["width"]),
                           seeds=seeds, tol=float(params["tol"]),
                           max_time=float(params["max_time"]))
    rows: list[dict[str, Any]] = []
    for nu, res in zip(nus, curve.results, strict=True):
        rows += _result_rows(res, nu, params)
    return rows


def _width_gap(params: Mapping[str, Any], seeds: list[int]) -> list[dict[str, Any]]:
    from ._dmft import linear_closed_form_sb, particle_dmft
    from .simulate import init_network, train

    task = _task(params, 1)
    st = _setting(params)
    x, y, xt = task.x_source, task.y_source, task.x_test
    if st.activation == "linear" and st.anchor == "init" and st.ridge_hidden > 0:
        ref = linear_closed_form_sb(x, y, xt, gamma=st.gamma_source, ridge_readout=st.ridge_source,
                                    ridge_hidden=st.ridge_hidden).f_eval
        how = "closed_form_sb"
    else:
        ref = particle_dmft(x, y, xt, gamma=st.gamma_source, ridge_readout=st.ridge_source,
                            ridge_hidden=st.ridge_hidden, activation=st.activation,
                            neurons=int(params["neurons"]), anchor=st.anchor,
                            tol=float(params["tol"]), max_time=float(params["max_time"]),
                            rng=int(params["data_seed"])).f_eval
        how = "particle_dmft"
    net = init_network(int(params["width"]), task.dim, seeds=seeds, gamma=st.gamma_source,
                       activation=st.activation)
    tr = train(net, x, y, ridge_readout=st.ridge_source, ridge_hidden=st.ridge_hidden,
               anchor_hidden=net.W if st.anchor == "init" else None, tol=float(params["tol"]),
               max_time=float(params["max_time"]))
    gaps = np.sqrt(np.mean((tr.network.predict(xt) - ref) ** 2, axis=1))
    return [record("gap", float(g), "empirical", method="gd", reference=how, seed=s)
            for s, g in enumerate(gaps)]


FAMILY = Family(
    name="infinite_width",
    defaults=DEFAULTS,
    theory=_theory,
    simulate=_simulate,
    derive=_derive,
    constraints=_CONSTRAINTS,
    axes=("nu2",),
    description=(
        "Two-layer mean-field network pretrained (rich, γ₁) on a source task and transferred "
        "to a target: scratch (lazy, rich), FT, JR-E, JR-I; toy-model and kernel learning-curve "
        "theory, particle DMFT and finite-width GD (infinite-width-transfer spec)."
    ),
)
