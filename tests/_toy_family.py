"""A tiny family for the sweep tests: cheap theory, seeded simulate, optional sleep/failure.

Registered by the tests as ``toy`` (``families._REGISTRY["toy"] = "_toy_family:FAMILY"``).
Environment knobs (so a slow or failing run has the same cells as a fast one):
``FB_TOY_SLEEP`` seconds slept per cell in ``simulate``; ``FB_TOY_LOG`` a file that gets one
line per computed cell; ``FB_TOY_FAIL_N`` a value of ``n``
whose cells raise; ``FB_TOY_CRASH_N`` a value of ``n`` whose cells kill their process.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from finetune_bounds.families import Family, Interval, axis_values
from finetune_bounds.records import record

DEFAULTS: dict[str, Any] = {"d": 4, "n": 10, "scale": 1.0, "kind": "gauss"}


def derive(params: dict[str, Any]) -> dict[str, Any]:
    return {**params, "aspect": params["n"] / params["d"]}


def theory(params: Mapping[str, Any], rng: np.random.Generator) -> list[dict[str, Any]]:
    # E[mean of n squared N(0, s^2)] = s^2
    s2 = float(params["scale"]) ** 2
    return [
        record("mean_square", s2, "theory", method="closed_form"),
        record("mean_square", 2.0 * s2, "bound", method="crude"),
    ]


def simulate(
    params: Mapping[str, Any], rngs: Sequence[np.random.Generator]
) -> list[dict[str, Any]]:
    time.sleep(float(os.environ.get("FB_TOY_SLEEP", "0")))
    log = os.environ.get("FB_TOY_LOG")
    if log:  # one line per computed cell: "n pid"
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"{params['n']} {os.getpid()}\n")
    if os.environ.get("FB_TOY_CRASH_N") == str(params["n"]):
        os._exit(3)  # a worker that dies without a Python exception
    fail_n = os.environ.get("FB_TOY_FAIL_N")
    if fail_n is not None and int(fail_n) == params["n"]:
        raise ValueError(f"toy failure at n={params['n']}")
    n, s = int(params["n"]), float(params["scale"])
    x = np.stack([rng.standard_normal(n) for rng in rngs]) * s  # (seeds, n)
    rows = []
    for i in range(len(rngs)):
        rows.append(
            record("mean_square", float(np.mean(x[i] ** 2)), "empirical", seed=i, method="mc")
        )
        rows.append(record("first_draw", float(x[i, 0]), "empirical", seed=i, step=0))
    return rows


FAMILY = Family(
    name="toy",
    defaults=DEFAULTS,
    theory=theory,
    simulate=simulate,
    derive=derive,
    description="toy family for the sweep tests",
)


def _bad_theory(params: Mapping[str, Any], rng: np.random.Generator) -> list[dict[str, Any]]:
    return [{"quantity": "risk", "source": "theory", "value": float("nan")}]


#: a family whose theory returns a NaN (the sweep must record the cell as failed)
BAD = Family(name="toy_bad", defaults=DEFAULTS, theory=_bad_theory)


def worker_env(_: Any) -> tuple[dict[str, str | None], list[int]]:
    """(BLAS env vars the worker was *started* with, threadpoolctl thread counts).

    On Linux the start environment is read from /proc/self/environ, which later ``setenv``
    calls (e.g. in an initializer) do not change."""
    keys = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    try:
        with open("/proc/self/environ", "rb") as fh:
            items = [kv.split(b"=", 1) for kv in fh.read().split(b"\0") if b"=" in kv]
        start = {k.decode(): v.decode() for k, v in items}
    except OSError:  # pragma: no cover - not Linux
        start = dict(os.environ)
    try:
        from threadpoolctl import threadpool_info

        counts = [int(d["num_threads"]) for d in threadpool_info()]
    except ImportError:  # pragma: no cover
        counts = []
    return {k: start.get(k) for k in keys}, counts


TESTS_DIR = os.path.dirname(os.path.abspath(__file__))


def register(monkeypatch: Any) -> None:
    """Register ``toy``/``toy_bad`` for this test; workers (spawn, dask) find the module
    through PYTHONPATH."""
    from finetune_bounds import families

    monkeypatch.setitem(families._REGISTRY, "toy", "_toy_family:FAMILY")
    monkeypatch.setitem(families._REGISTRY, "toy_bad", "_toy_family:BAD")
    monkeypatch.setitem(families._REGISTRY, "toy_curve", "_toy_family:CURVE")
    monkeypatch.setitem(families._REGISTRY, "toy_shared", "_toy_family:SHARED")
    monkeypatch.delenv("FB_TOY_COUNT", raising=False)
    path = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv("PYTHONPATH", TESTS_DIR + (os.pathsep + path if path else ""))
    monkeypatch.delenv("FB_TOY_SLEEP", raising=False)
    monkeypatch.delenv("FB_TOY_LOG", raising=False)
    monkeypatch.delenv("FB_TOY_FAIL_N", raising=False)
    monkeypatch.delenv("FB_TOY_CRASH_N", raising=False)


# ---------------------------------------------------------------------- a family with an axis
def curve_theory(params: Mapping[str, Any], rng: np.random.Generator) -> list[dict[str, Any]]:
    """A randomised theory: the Monte Carlo mean of x² (x ~ N(0, s²)) with its stderr, per n of
    the axis, plus a 2-D 'map' quantity (gain = s - 1, and a regime code) for figure tests."""
    s = float(params["scale"])
    draws = s * rng.standard_normal(int(params["draws"]))
    sq = draws**2
    rows = []
    for n in axis_values(params, "n"):
        rows.append(record("mean_square", float(sq.mean()), "theory", method="monte_carlo", n=n,
                           stderr=float(sq.std(ddof=1) / np.sqrt(sq.size))))
        rows.append(record("gain", (s - 1.0) * (1.0 + 0.01 * n), "theory", n=n))
        rows.append(record("regime", float(int(s > 1) + 2 * int(n > 10)), "theory", n=n))
    return rows


def curve_simulate(
    params: Mapping[str, Any], rngs: Sequence[np.random.Generator]
) -> list[dict[str, Any]]:
    ns = [int(n) for n in axis_values(params, "n")]
    s = float(params["scale"])
    rows = []
    for i, rng in enumerate(rngs):
        x = rng.standard_normal(max(ns)) * s  # nested: the first n draws serve every n
        for n in ns:
            rows.append(record("mean_square", float(np.mean(x[:n] ** 2)), "empirical", seed=i,
                               n=n, method="mc"))
    return rows


CURVE = Family(
    name="toy_curve",
    defaults={"n": 10, "scale": 1.0, "draws": 400},
    theory=curve_theory,
    simulate=curve_simulate,
    constraints={
        "n": Interval("int", 1, None),
        "scale": Interval("float", 0, None, closed="neither"),
        "draws": Interval("int", 2, None),
    },
    axes=("n",),
    description="toy family with an inner axis n and a randomised theory",
)


# ---------------------------------------------------------------------- a shared source step
def _source_run(scale: float) -> dict[str, Any]:
    from finetune_bounds.sweep.cache import step_rng

    path = os.environ.get("FB_TOY_COUNT")
    if path:  # count the computations (one line per run of the expensive step)
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(f"{scale}\n")
    rng = step_rng("toy_source", {"scale": scale})
    return {"weights": scale * rng.standard_normal(5)}


def shared_theory(params: Mapping[str, Any], rng: np.random.Generator) -> list[dict[str, Any]]:
    from finetune_bounds.sweep.cache import shared_step

    s = float(params["scale"])
    source = shared_step("toy_source", {"scale": s}, lambda: _source_run(s))
    w = source["weights"]
    return [record("transfer", float(np.sum(w**2)) / int(params["n"]), "theory")]


SHARED = Family(
    name="toy_shared",
    defaults={"n": 1, "scale": 1.0},
    theory=shared_theory,
    description="toy family whose cells share one expensive source step per scale",
)


def write(tmp_path: Any, text: str, name: str = "exp.toml") -> Any:
    """Write a config's TOML text into ``tmp_path`` (a pathlib.Path) and return its path."""
    p = tmp_path / name
    p.write_text(text)
    return p

