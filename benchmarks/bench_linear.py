"""Benchmark of the linear family (spec linear-teachers §2.3): in one run, print

(a) the time of the deterministic equivalent (DE) against Monte Carlo (MC) at matched accuracy —
    MC draws Gaussian designs until its standard error is ≤ 1 % of the risk
    (``expected_risk(..., "monte_carlo", rel_tol=0.01)``) — for d = 200, 400, 1000, 2000, 4000
    (capped by ``--max-d``), with the relative difference DE vs MC;
(b) the closed-form limit θ_S + X⁺(y − Xθ_S) against iterative gradient descent (20 seeds).

At large d a full MC run can take minutes: a pilot of a few draws gives the time per draw and
the coefficient of variation of the per-draw risk, hence the draws needed for 1 % (CV/0.01)²;
when the predicted time exceeds ``--budget`` seconds the MC time is extrapolated from the pilot
(and the output says so: "extrapolated"), and the DE-vs-MC difference uses the pilot's larger
standard error. Times are medians: of repeated DE calls, and of 3 independent MC runs (the
number of draws MC needs is itself random) when they fit in the budget. The DE time excludes
the eigendecomposition of Σ (shared by every route and done once per task; the spectra here are
diagonal); its cost for a dense Σ is printed apart.

The DE is not exact at finite d: "DE−MC" is its error (plus MC noise), ≈ 1–2 % here.

Usage: ``python benchmarks/bench_linear.py [--max-d 4000] [--budget 60] [--rel-tol 0.01]``.
Set OMP_NUM_THREADS=1 for single-core numbers.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from finetune_bounds.linear import (
    closed_form_batch,
    expected_risk,
    gradient_descent,
    risk_curve,
    spectrum_task,
)

DIMS = (200, 400, 1000, 2000, 4000)


def _median_time(fn: Callable[[], Any], *, min_time: float = 0.2, max_reps: int = 1000) -> float:
    """Median per-call wall time over repeated calls (at least ``min_time`` s and 3 calls)."""
    times: list[float] = []
    while (sum(times) < min_time or len(times) < 3) and len(times) < max_reps:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def bench_de_vs_mc(
    spectrum: str, d: int, rel_tol: float, budget: float, repeats: int = 3
) -> dict[str, Any]:
    n = d // 4
    task = spectrum_task(d, spectrum, spike_height=50.0, delta_profile="random", seed=1)
    de = expected_risk(task, n)
    t_de = _median_time(lambda: expected_risk(task, n))
    grid = np.unique(np.linspace(1, d - 1, 100).round().astype(int))
    t_curve = _median_time(lambda: risk_curve(task, grid)) / grid.size  # per n on a curve
    # pilot: a few draws for the time per draw and the coefficient of variation of the risk
    pilot_draws = 20 if d <= 1000 else 6
    t0 = time.perf_counter()
    pilot = expected_risk(task, n, "monte_carlo", n_draws=pilot_draws, rng=7)
    t_draw = (time.perf_counter() - t0) / pilot_draws
    cv = (pilot.stderr or 0.0) * math.sqrt(pilot_draws) / pilot.risk
    need = max(2, math.ceil((cv / rel_tol) ** 2))
    predicted = need * t_draw
    if predicted <= budget:
        # the draws needed are themselves random: median over `repeats` independent MC runs
        runs = []
        for rep in range(repeats if predicted * repeats <= budget else 1):
            t0 = time.perf_counter()
            mc = expected_risk(task, n, "monte_carlo", rel_tol=rel_tol, n_draws=10,
                               rng=11 + rep, max_draws=10 * need + 1000)
            runs.append((time.perf_counter() - t0, mc))
        runs.sort(key=lambda r: r[0])
        t_mc, mc = runs[len(runs) // 2]
        draws = int(mc.diagnostics["draws"])
        mc_risk, mc_se, extrapolated = mc.risk, float(mc.stderr or 0.0), False
    else:
        t_mc, draws = predicted, need
        mc_risk, mc_se, extrapolated = pilot.risk, float(pilot.stderr or 0.0), True
    return {
        "spectrum": spectrum, "d": d, "n": n, "t_de": t_de, "t_mc": t_mc, "draws": draws,
        "ratio": t_mc / t_de, "t_curve": t_curve, "ratio_curve": t_mc / t_curve,
        "de": de.risk, "mc": mc_risk, "mc_se": mc_se,
        "rel_diff": (de.risk - mc_risk) / mc_risk, "extrapolated": extrapolated, "cv": cv,
    }


def bench_eigh(d: int) -> float:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((d, d))
    s = a @ a.T / d
    return _median_time(lambda: np.linalg.eigh(s), min_time=0.0, max_reps=2)


def bench_gd(d: int, n: int, seeds: int, tol: float, max_iter: int) -> dict[str, Any]:
    task = spectrum_task(d, "power_law", delta_profile="random", noise_variance=0.01, seed=2)
    rng = np.random.default_rng(3)
    x = task.covariance.sample(n, rng, batch=(seeds,))
    y = x @ task.target + 0.1 * rng.standard_normal((seeds, n))
    t_cf = _median_time(lambda: closed_form_batch(x, y, task.source))
    t0 = time.perf_counter()
    res = gradient_descent(x, y, task.source, tol=tol, max_iter=max_iter)
    t_gd = time.perf_counter() - t0
    dist = np.linalg.norm(res.weights - closed_form_batch(x, y, task.source), axis=1)
    return {
        "d": d, "n": n, "t_cf": t_cf, "t_gd": t_gd, "ratio": t_gd / t_cf,
        "iters": int(np.median(res.iterations)), "conv": float(np.mean(res.converged)),
        "dist": float(np.max(dist)),
        "cond": float(np.median(res.lambda_max / res.lambda_min)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-d", type=int, default=4000, help="largest d in part (a)")
    ap.add_argument("--budget", type=float, default=60.0,
                    help="seconds allowed per full Monte Carlo run before extrapolating")
    ap.add_argument("--rel-tol", type=float, default=0.01, help="MC target: stderr/risk")
    ap.add_argument("--spectra", default="power_law,spiked", help="comma-separated spectra")
    ap.add_argument("--gd-max-iter", type=int, default=100_000)
    args = ap.parse_args()

    print(f"finetune-bounds linear benchmark — {platform.processor() or platform.machine()}, "
          f"numpy {np.__version__}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    print(f"\n(a) deterministic equivalent vs Monte Carlo at {args.rel_tol:.0%} relative standard "
          "error; n = d/4, Δ a random direction, ‖Δ‖ = 1, noiseless")
    print("DE time: one expected_risk call; DE/n: per n of a 100-point risk_curve (vectorised);"
          " MC time: expected_risk(..., 'monte_carlo', rel_tol) from 10 draws on")
    head = (f"{'spectrum':>9} {'d':>5} {'n':>5} {'DE time':>10} {'DE/n':>9} {'MC time':>10} "
            f"{'draws':>6} {'MC/DE':>8} {'MC/(DE/n)':>9} {'DE risk':>9} {'MC risk ± s.e.':>20} "
            f"{'DE−MC':>8}  note")
    print(head)
    print("-" * len(head))
    results = []
    for spectrum in [s.strip() for s in args.spectra.split(",") if s.strip()]:
        for d in [d for d in DIMS if d <= args.max_d]:
            r = bench_de_vs_mc(spectrum, d, args.rel_tol, args.budget)
            results.append(r)
            note = (f"extrapolated from a pilot (CV {r['cv']:.3f}; DE−MC uses the pilot's s.e.)"
                    if r["extrapolated"] else "measured")
            print(f"{spectrum:>9} {d:>5} {r['n']:>5} {r['t_de'] * 1e3:>8.3f}ms "
                  f"{r['t_curve'] * 1e3:>7.3f}ms {r['t_mc']:>9.2f}s {r['draws']:>6} "
                  f"{r['ratio']:>8.0f} {r['ratio_curve']:>9.0f} {r['de']:>9.4g} "
                  f"{r['mc']:>10.4g} ± {r['mc_se']:<8.2g} {r['rel_diff']:>+8.2%}  {note}",
                  flush=True)
    dense = [d for d in DIMS if d <= min(args.max_d, 2000)]
    eig = ", ".join(f"d = {d}: {bench_eigh(d):.3g}s" for d in dense)
    print(f"eigendecomposition of a dense Σ (once per task, not per n; shared by DE and MC "
          f"sampling): {eig}")
    at1000 = [r for r in results if r["d"] == 1000]
    for r in at1000:
        verdict = "meets" if r["ratio"] >= 1000 else "MISSES"
        print(f"goal DE ≥ 1000× faster than MC at 1 % for d = 1000 ({r['spectrum']}): "
              f"{r['ratio']:.0f}× for one n — {verdict} the goal; {r['ratio_curve']:.0f}× per n "
              "on a 100-point curve" + (" (MC time extrapolated)" if r["extrapolated"] else ""))

    print("\n(b) closed-form limit vs iterative gradient descent (20 seeds batched, power law, "
          f"relative gradient tolerance 1e-10, at most {args.gd_max_iter} steps)")
    head = (f"{'d':>5} {'n':>5} {'closed form':>12} {'GD':>10} {'GD/CF':>8} {'iters':>7} "
            f"{'conv.':>6} {'cond.':>9} {'max ‖w_GD − w_CF‖':>18}")
    print(head)
    print("-" * len(head))
    for d, n in ((200, 20), (200, 50), (200, 100), (200, 150), (200, 400), (400, 100)):
        r = bench_gd(d, n, 20, 1e-10, args.gd_max_iter)
        print(f"{d:>5} {n:>5} {r['t_cf'] * 1e3:>10.2f}ms {r['t_gd']:>9.2f}s {r['ratio']:>8.0f} "
              f"{r['iters']:>7} {r['conv']:>6.0%} {r['cond']:>9.3g} {r['dist']:>18.3g}",
              flush=True)


if __name__ == "__main__":
    main()
