"""Benchmark of the linear toy model of transfer (spec infinite-width-transfer.md §4): the time
of a 40 × 40 phase diagram (``phase_diagram``) over (α_s, ν₂) and over (α_s, ŝ), for the lazy
and the rich scratch baselines, and the fraction of cells with positive / negative transfer.

Over (α_s, ν₂) the source is solved once and the rich baseline once per ν₂; over (α_s, ŝ) both
are solved once per ŝ. Times are medians of ``--reps`` runs.

Usage: ``python benchmarks/bench_toy_phase.py [--size 40] [--reps 5]``. BLAS runs one thread
(threadpoolctl).
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from finetune_bounds.infinite_width._toy import phase_diagram


def _median_time(fn: Callable[[], Any], reps: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=40, help="grid points per axis")
    ap.add_argument("--reps", type=int, default=5, help="repetitions (median time)")
    args = ap.parse_args()
    n = args.size
    alpha = np.linspace(0.0, 1.0, n)
    print(f"python {platform.python_version()}, numpy {np.__version__}, grid {n} × {n}")
    cases: list[tuple[str, np.ndarray, dict[str, Any]]] = [
        ("nu2", np.geomspace(0.1, 10.0, n), {"nu1": 2.0, "s_hat": 10.0}),
        ("s_hat", np.geomspace(1e-2, 1e3, n), {"nu1": 2.0, "nu2": 1.0}),
        ("nu2", np.geomspace(0.1, 10.0, n), {"nu1": 2.0, "source": "S-A", "lam_hat": 0.5}),
    ]
    with threadpool_limits(limits=1):
        for second, grid, kw in cases:
            src = kw.get("source", "S-B")
            for base in ("lazy", "rich"):
                sec, pd = _median_time(
                    lambda second=second, grid=grid, kw=kw, base=base: phase_diagram(
                        alpha, grid, second=second, baseline=base, ridge_target=0.1, **kw
                    ),
                    args.reps,
                )
                pos = float(np.mean(pd.sign > 0))
                neg = float(np.mean(pd.sign < 0))
                print(
                    f"{src} (alpha_s, {second:5s}) baseline={base:4s}: {sec:8.4f} s  "
                    f"positive {pos:5.1%}  negative {neg:5.1%}  status {pd.info.status}"
                )


if __name__ == "__main__":
    main()
