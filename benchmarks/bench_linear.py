"""Benchmark of the linear family (spec linear-teachers §2.3): in one run, print

(a) the time of the deterministic equivalent (DE) against Monte Carlo (MC) at matched accuracy —
    MC draws Gaussian designs until its standard error is ≤ 1 % of the risk
    (``expected_risk(..., "monte_carlo", rel_tol=0.01)``) — for d = 200, 400, 1000, 2000, 4000
    (capped by ``--max-d``), with the relative difference DE vs MC;
(b) the closed-form limit θ_S + X⁺(y − Xθ_S) against iterative gradient descent (20 seeds);
(c) the per-coordinate-weights Monte Carlo (``risk_weights``, issue 9) against the plain Monte
    Carlo: draws and time to a 1 % standard error for one task (d = 300, n = 30, power law 1.5),
    for 100 tasks on the same Σ, and a 50-point curve at d = 1000; then a 100-point DE curve at
    d = 10⁶ from a spectrum against one numpy pass over the spectrum per point.

Draws "to 1 %" are (CV/0.01)², CV the per-draw coefficient of variation measured over 400
draws of each route (a fixed-size run, so neither stopping rule's minimum inflates the count);
times are the draws times the measured time per draw, and for (c)'s weights route also the time
of an actual run to 1 % (with its 128-draw minimum).

At large d a full MC run can take minutes: a pilot of a few draws gives the time per draw and
the coefficient of variation of the per-draw risk, hence the draws needed for 1 % (CV/0.01)²;
when the predicted time exceeds ``--budget`` seconds the MC time is extrapolated from the pilot
(and the output says so: "extrapolated"), and the DE-vs-MC difference uses the pilot's larger
standard error. Times are medians: of repeated DE calls, and of 3 independent MC runs (the
number of draws MC needs is itself random) when they fit in the budget. The DE time excludes
the eigendecomposition of Σ (shared by every route and done once per task; the spectra here are
diagonal); its cost for a dense Σ is printed apart.

The DE is not exact at finite d: "DE−MC" is its error (plus MC noise), ≈ 1–2 % here.

Usage: ``python benchmarks/bench_linear.py [--max-d 4000] [--budget 60] [--rel-tol 0.01]
[--parts abc]``. BLAS runs one thread (threadpoolctl; small batched SVDs and QRs are many times
slower with an OpenBLAS pool on 2 cores, see issue 15).
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
from threadpoolctl import threadpool_limits

import finetune_bounds as fb
from finetune_bounds.linear import (
    closed_form_batch,
    expected_risk,
    gradient_descent,
    risk_curve,
    risk_weights,
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


def _per_draw(task: fb.LinearTask, ns: list[int], draws: int = 400) -> dict[str, Any]:
    """Per-draw CV and time of both routes at each n (fixed-size runs of ``draws``)."""
    out: dict[str, Any] = {"plain_cv": [], "plain_t": []}
    for n in ns:
        t0 = time.perf_counter()
        r = expected_risk(task, n, "monte_carlo", n_draws=draws, rng=1)
        out["plain_t"].append((time.perf_counter() - t0) / draws)
        out["plain_cv"].append(r.stderr * math.sqrt(draws) / r.risk)
    t0 = time.perf_counter()
    w = risk_weights(task.covariance, ns, rel_tol=1e-12, min_draws=draws, max_draws=draws,
                     probe=task, rng=1)
    out["weights_t"] = (time.perf_counter() - t0) / draws  # one nested draw serves every n
    est = w.expected_risk(task)
    out["weights_cv"] = list(est.stderr * math.sqrt(draws) / est.risk)
    return out


def bench_weights(tol: float) -> None:
    d, n = 300, 30
    task = spectrum_task(d, "power_law", seed=0, exponent=1.5)
    pd_ = _per_draw(task, [n])
    need_p = (pd_["plain_cv"][0] / tol) ** 2
    need_w = (pd_["weights_cv"][0] / tol) ** 2
    t_p, t_w = need_p * pd_["plain_t"][0], need_w * pd_["weights_t"]
    t0 = time.perf_counter()
    run = expected_risk(task, n, "weights", rel_tol=tol, rng=2)
    t_run = time.perf_counter() - t0
    print(f"one task (d = {d}, n = {n}, power law 1.5, Δ random): plain {need_p:.0f} draws "
          f"({t_p:.3f} s), weights {need_w:.0f} draws ({t_w:.3f} s): {need_p / need_w:.1f}× fewer "
          f"draws, {t_p / t_w:.1f}× less time (goal ≥ 5× fewer draws: "
          f"{'meets' if need_p / need_w >= 5 else 'MISSES'}); an actual weights run to "
          f"{tol:.0%}: {run.diagnostics['draws']} draws, {t_run:.3f} s")
    # 100 tasks on one Σ: plain MC per task, weights once (probe = all tasks) + O(d) per task
    rng = np.random.default_rng(4)
    tasks = [fb.LinearTask(task.covariance, task.source, task.source + v / np.linalg.norm(v))
             for v in rng.standard_normal((100, d))]
    needs = [(_per_draw(t, [n], 200)["plain_cv"][0] / tol) ** 2 for t in tasks[:5]]
    t_plain100 = 100 * float(np.mean(needs)) * pd_["plain_t"][0]
    t0 = time.perf_counter()
    w = risk_weights(task.covariance, [n], rel_tol=tol, probe=tasks, rng=3)
    worst = max(float(w.expected_risk(t).stderr[0] / w.expected_risk(t).risk[0]) for t in tasks)
    t_w100 = time.perf_counter() - t0
    print(f"100 tasks on the same Σ: plain MC ≈ {t_plain100:.2f} s (100 × mean draws of 5 tasks "
          f"× time per draw), weights {t_w100:.3f} s measured ({w.draws} draws, worst s.e. "
          f"{worst:.2%}): {t_plain100 / t_w100:.0f}× (goal ≥ 100×: "
          f"{'meets' if t_plain100 / t_w100 >= 100 else 'MISSES'})")
    # a 50-point curve at d = 1000
    d = 1000
    task = spectrum_task(d, "power_law", seed=0, exponent=1.5)
    ns = sorted({int(v) for v in np.linspace(10, 950, 50)})
    pilot = ns[:: max(1, len(ns) // 5)]
    pd_ = _per_draw(task, pilot, 100)
    t_plain = float(np.mean([(cv / tol) ** 2 * t for cv, t in
                             zip(pd_["plain_cv"], pd_["plain_t"], strict=True)])) * len(ns)
    t0 = time.perf_counter()
    wc = risk_weights(task.covariance, ns, rel_tol=tol, probe=task, rng=5)
    t_curve = time.perf_counter() - t0
    est = wc.expected_risk(task)
    print(f"50-point curve, d = {d} (n = {ns[0]}…{ns[-1]}): 50 plain MC runs ≈ {t_plain:.1f} s "
          f"(pilot at {len(pilot)} n), weights one nested run {t_curve:.1f} s ({wc.draws} draws, "
          f"worst s.e. {float(np.max(est.stderr / est.risk)):.2%}): {t_plain / t_curve:.1f}×")


def bench_de_large(points: int = 100, d: int = 10**6) -> None:
    lam = np.arange(1, d + 1, dtype=np.float64) ** -1.5
    task = fb.LinearTask(fb.Covariance.from_spectrum(lam), np.zeros(d), np.ones(d) / math.sqrt(d))
    ns = np.unique(np.geomspace(1, d / 2, points).astype(int))
    t0 = time.perf_counter()
    risk_curve(task, ns, "deterministic")
    t_curve = time.perf_counter() - t0
    t_pass = _median_time(lambda: np.sum(lam / (lam + 1.0)))
    per = t_curve / ns.size
    print(f"DE curve at d = 10⁶ from a spectrum: {ns.size} points in {t_curve:.2f} s, "
          f"{per * 1e3:.1f} ms per point = {per / t_pass:.0f}× one numpy pass over the spectrum "
          f"({t_pass * 1e3:.2f} ms) (goal ≤ 50×: {'meets' if per / t_pass <= 50 else 'MISSES'})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-d", type=int, default=4000, help="largest d in part (a)")
    ap.add_argument("--budget", type=float, default=60.0,
                    help="seconds allowed per full Monte Carlo run before extrapolating")
    ap.add_argument("--rel-tol", type=float, default=0.01, help="MC target: stderr/risk")
    ap.add_argument("--spectra", default="power_law,spiked", help="comma-separated spectra")
    ap.add_argument("--gd-max-iter", type=int, default=100_000)
    ap.add_argument("--parts", default="abc", help="which parts to run (a, b, c)")
    args = ap.parse_args()
    with threadpool_limits(limits=1):
        _main(args)


def _main(args: argparse.Namespace) -> None:
    print(f"finetune-bounds linear benchmark — {platform.processor() or platform.machine()}, "
          f"numpy {np.__version__}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    if "c" in args.parts:
        print("\n(c) per-coordinate weights vs plain Monte Carlo, to a "
              f"{args.rel_tol:.0%} standard error")
        bench_weights(args.rel_tol)
        bench_de_large()
    if "a" not in args.parts:
        return
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

    if "b" not in args.parts:
        return
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
