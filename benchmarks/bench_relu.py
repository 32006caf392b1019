"""Benchmark: the kernel theory of a learning curve versus training the networks (spec §4).

One run prints, for the same task, sample sizes and number of designs/seeds:

- the time of the theory curve (kernel limit, data-dependent and worst-case bounds, complexities:
  :func:`finetune_bounds.relu.theory_curve`),
- the time of training the network from the source and from scratch at width m
  (:func:`finetune_bounds.relu.simulate_cell`),
- their ratio, and the agreement of the two curves (network MAE / kernel-limit MAE);
- a second ratio: the nested-design learning curve (one Cholesky for every n,
  :func:`finetune_bounds.relu.kernel_learning_curve`) against one kernel solve per n.

Run: ``OMP_NUM_THREADS=1 python benchmarks/bench_relu.py [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from finetune_bounds.relu import (
    kernel_learning_curve,
    kernel_predict,
    simulate_cell,
    synthetic_task,
    theory_curve,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a few seconds)")
    args = parser.parse_args()
    if args.quick:
        d, ns, width, seeds, n_test = 10, [5, 10, 20, 40], 500, 2, 300
    else:
        d, ns, width, seeds, n_test = 20, [5, 10, 20, 40, 80, 160], 2000, 5, 1000
    task = synthetic_task(d, delta_norm=0.5, rng=0)

    t0 = time.perf_counter()
    theory = theory_curve(task, ns, draws=seeds, n_test=n_test)
    t_theory = time.perf_counter() - t0
    kernel = {int(n): float(v) for n, v in zip(theory.n, theory.pretrained.mae, strict=True)}

    t0 = time.perf_counter()
    net: dict[int, float] = {}
    for n in ns:
        gens = [np.random.default_rng(s) for s in np.random.SeedSequence([1, n]).spawn(seeds)]
        sim = simulate_cell(task, n, width, gens, n_test=n_test)
        net[n] = float(np.mean(sim.pretrained.mae))
    t_train = time.perf_counter() - t0

    print(f"ReLU NTK, d = {d}, n = {ns}, {seeds} designs/seeds, width m = {width}, "
          f"{n_test} test points")
    print(f"  theory curve (kernel limit + bounds): {t_theory:8.3f} s")
    print(f"  training (source + scratch):          {t_train:8.3f} s")
    print(f"  ratio training / theory:              {t_train / t_theory:8.1f}x")
    print("  n      network MAE   kernel-limit MAE   ratio")
    for n in ns:
        print(f"  {n:<6d} {net[n]:11.4g}   {kernel[n]:16.4g}   {net[n] / kernel[n]:5.2f}")

    # nested learning curve vs one solve per n
    big = 1600 if not args.quick else 400
    rng = np.random.default_rng(0)
    s = task.nested_split(big, n_test, rng)
    grid = np.unique(np.geomspace(5, big, 40).astype(int))
    t0 = time.perf_counter()
    curve = kernel_learning_curve(s.x, s.y - s.source, s.x_test, s.y_test,
                                  offset_test=s.source_test, ns=grid)
    t_nested = time.perf_counter() - t0
    t0 = time.perf_counter()
    per_n = []
    for n in grid:
        p = kernel_predict(s.x[:n], (s.y - s.source)[:n], s.x_test,
                           offset_test=s.source_test).prediction
        per_n.append(np.mean(np.minimum(np.abs(p - s.y_test), 1.0)))
    t_each = time.perf_counter() - t0
    err = float(np.max(np.abs(np.array(per_n) - curve.mae)))
    print(f"kernel learning curve at {grid.size} sizes up to n = {big}:")
    print(f"  nested (one Cholesky): {t_nested:8.3f} s   one eigh per n: {t_each:8.3f} s   "
          f"ratio {t_each / t_nested:6.1f}x   max |ΔMAE| = {err:.2e}")


if __name__ == "__main__":
    main()
