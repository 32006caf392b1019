"""BLAS threads per operation: one thread against every core, on the operations the library runs.

The decision recorded in :mod:`finetune_bounds.threads` (one BLAS thread for the library's small
batched linear algebra and for every worker process) rests on these numbers; run it on your
machine before changing ``FINETUNE_BOUNDS_THREADS``:

    python benchmarks/bench_threads.py [--full | --smoke] [--record]

Each case times the same operation with 1 thread and with all cores (threadpoolctl limits inside
the run, interleaved rounds); the ratio is (1 thread) / (all cores): above 1 means more threads
help, below 1 that they hurt.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import Bench, run
from finetune_bounds import threads


def _with(count: int, fn: Callable[[], Any]) -> Callable[[], Any]:
    def call() -> Any:
        with threads.blas_threads(count):
            return fn()

    return call


def _cases(bench: Bench) -> list[tuple[str, Callable[[], Any]]]:
    rng = np.random.default_rng(0)
    s = 0.25 if bench.args.smoke else 2.0 if bench.args.full else 1.0
    b, n, d = max(2, int(20 * s)), max(10, int(100 * s)), max(40, int(400 * s))
    batch = rng.standard_normal((b, n, d))
    m = max(50, int(1000 * s))
    wide = rng.standard_normal((m // 4, m))
    sym = rng.standard_normal((m, m))
    sym = sym @ sym.T / m
    big = rng.standard_normal((m, m))
    small = rng.standard_normal((64, 64))
    stack = rng.standard_normal((200, 64, 64))
    return [
        (f"batched thin SVD ({b} × {n} × {d})",
         lambda: np.linalg.svd(batch, full_matrices=False)),
        (f"thin SVD ({m // 4} × {m})", lambda: np.linalg.svd(wide, full_matrices=False)),
        (f"thin QR ({m} × {m // 4})", lambda: np.linalg.qr(wide.T)),
        (f"eigh ({m} × {m})", lambda: np.linalg.eigh(sym)),
        (f"Cholesky ({m} × {m})", lambda: np.linalg.cholesky(sym + np.eye(m))),
        (f"matrix product ({m}² @ {m}²)", lambda: big @ big),
        ("batched matrix product (200 × 64² @ 64²)", lambda: stack @ small),
    ]


def main(bench: Bench) -> None:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = max(1, int(cores or 1))
    print(f"1 thread vs {cores} (all cores); ratio = time(1 thread) / time({cores} threads)")
    for case, fn in _cases(bench):
        bench.compare(case, {f"{cores} threads": _with(cores, fn), "1 thread": _with(1, fn)},
                      baseline=f"{cores} threads")


if __name__ == "__main__":
    raise SystemExit(run(main, "bench_threads", __doc__.splitlines()[0]))
