"""A tiny family for the sweep tests: cheap theory, seeded simulate, optional sleep/failure.

Registered by the tests as ``toy`` (``families._REGISTRY["toy"] = "_toy_family:FAMILY"``).
Environment knobs (so a slow or failing run has the same cells as a fast one):
``FB_TOY_SLEEP`` seconds slept per cell in ``simulate``; ``FB_TOY_FAIL_N`` a value of ``n``
whose cells raise; ``FB_TOY_CRASH_N`` a value of ``n`` whose cells kill their process.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from finetune_bounds.families import Family
from finetune_bounds.records import record

DEFAULTS: dict[str, Any] = {"d": 4, "n": 10, "scale": 1.0, "kind": "gauss"}


def derive(params: dict[str, Any]) -> dict[str, Any]:
    return {**params, "aspect": params["n"] / params["d"]}


def theory(params: Mapping[str, Any]) -> list[dict[str, Any]]:
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


def _bad_theory(params: Mapping[str, Any]) -> list[dict[str, Any]]:
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
    path = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv("PYTHONPATH", TESTS_DIR + (os.pathsep + path if path else ""))
    monkeypatch.delenv("FB_TOY_SLEEP", raising=False)
    monkeypatch.delenv("FB_TOY_FAIL_N", raising=False)
    monkeypatch.delenv("FB_TOY_CRASH_N", raising=False)
