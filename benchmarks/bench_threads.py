"""BLAS threads per operation: one thread against every core, on the operations the library runs.

The decision recorded in :mod:`finetune_bounds.threads` (one BLAS thread for the library's small
batched linear algebra and for every worker process) rests on these numbers; run it on your
machine before changing ``FINETUNE_BOUNDS_THREADS``:

    python benchmarks/bench_threads.py [--full | --smoke] [--record]

Each case times the same operation with 1 thread and with all cores (threadpoolctl limits inside
the run, interleaved rounds); the ratio is (1 thread) / (all cores): above 1 means more threads
help, below 1 that they hurt. Every case runs twice: on a quiet machine, and with one other
process spinning on a core — the situation of a sweep's or the test suite's parallel workers
(``--quiet-only`` skips the second pass). Default run: about 20 s.
"""

from __future__ import annotations

import argparse
import multiprocessing
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


def _spin() -> None:  # pragma: no cover - runs in a child process
    while True:
        pass


def main(bench: Bench) -> None:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = max(1, int(cores or 1))
    print(f"1 thread vs {cores} (all cores); ratio = time(1 thread) / time({cores} threads)")
    cases = _cases(bench)
    for case, fn in cases:
        bench.compare(case, {f"{cores} threads": _with(cores, fn), "1 thread": _with(1, fn)},
                      baseline=f"{cores} threads")
    if bench.args.quiet_only:
        return
    busy = multiprocessing.get_context("spawn").Process(target=_spin, daemon=True)
    busy.start()
    try:
        print("\nagain, with one other process spinning on a core:")
        for case, fn in cases:
            bench.compare(f"{case}, one core busy",
                          {f"{cores} threads": _with(cores, fn), "1 thread": _with(1, fn)},
                          baseline=f"{cores} threads")
    finally:
        busy.terminate()
        busy.join()


def _flags(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--quiet-only", action="store_true",
                    help="skip the second pass (with one other process spinning on a core)")


if __name__ == "__main__":
    raise SystemExit(run(main, "bench_threads", __doc__.splitlines()[0], extra=_flags))
