"""Benchmark of the infinite-width transfer family (spec infinite-width-transfer.md): in one run,

(a) one fine-tuning (FT) learning curve — linear φ, S-B source (hidden anchored at init, readout
    decaying to 0), one source data set, the target size ν₂ = P₂/D over 6 points — by three
    routes: (1) the toy-model theory ``toy_transfer`` (the proportional limit D → ∞ of spec §4,
    no finite-width or finite-D error); (2) particle DMFT, ``transfer_curve(solver="particle")``
    (one source stage, the FT readout per target size) with M particles (error O(M^{-1/2}) plus
    the O(1/D)-and-sampling deviation of one finite-D data set); (3) finite-width networks
    trained by gradient descent, ``transfer_curve(solver="network")`` with several init seeds
    batched (error O(N^{-1/2}) plus the same finite-D deviation). Per route: the time of the
    whole curve and its ratio to the theory, the curve values side by side, and the max relative
    disagreement with the theory (a WARNING above 30 %, never a failure). The floor is one numpy
    matmul of the particle size (M × D) @ (D × P₁) — one Euler step of the source flow needs at
    least two such products — next to the number of Euler/GD steps each run took
    (``TransferResult.diagnostics``).
(b) the kernel learning curve ``learning_curve`` for a power-law spectrum (10⁴ modes,
    η_ρ = ρ^{-1.5}, v_ρ² = ρ^{-2}, ridge 1e-3, 100 values of n) against direct kernel ridge
    regression at a few n (Gaussian features ψ_ρ(x) ~ N(0, 1), kernel Σ η_ρ ψ_ρψ_ρ', exact test
    error Σ (w_ρ − v_ρ)²; one Gram build + one numpy solve per n): time per point and ratio, after
    checking the two agree (mean over ``--krr-draws`` draws, WARNING above 30 %).
(c) the toy-model phase diagrams (``phase_diagram``), 40 × 40: S-B over (α_s, ν₂) and (α_s, ŝ),
    S-A over (α_s, ν₂) and (α_s, λ̂) (ŝ is S-B's control, λ̂ is S-A's), each against the lazy
    and the rich scratch baseline; median of 5 repeats with min–max, PASS/FAIL against the
    5 s goal, after checking a few cells against single ``toy_transfer`` calls.

Ratios compare routes measured in the same run. BLAS runs one thread (threadpoolctl), so the
two cores of the target machine are not used by BLAS; the 5 s goal of (c) is met on one.

Usage: ``python benchmarks/bench_infinite_width.py [--parts abc] [--full] [--reps 5]``;
default D = 20, M = 4000 particles, 4 networks of width N = 1000; ``--full`` is D = 40,
M = 16000, N = 4000 (several minutes).

Measured 2026-11-29, 2 cores (shared machine; times vary by ~20–50 % with load), numpy 2.4.6,
one BLAS thread (two OpenBLAS pools are loaded, numpy's and scipy's); default run, whole run 56 s::

    (a) ν₂    P₂  theory (D→∞)  DMFT (M=4000)  GD nets (4 × N=1000)
        0.25   5   0.64330       0.81723        0.79599 ± 0.01762
        0.50  10   0.46355       0.46292        0.46932 ± 0.01993
        1.00  20   0.23411       0.16077        0.16869 ± 0.00766
        2.00  40   0.08154       0.08341        0.08379 ± 0.00118
        3.00  60   0.04585       0.03510        0.03498 ± 0.00028
        4.00  80   0.03161       0.01892        0.01888 ± 0.00013
        theory 8.5 ms; DMFT 34.9 s (4117×, ~1620 source Euler steps per point); GD 17.9 s
        (2110×, 1680 steps); DMFT vs theory 40 % and GD vs theory 40 % (WARNING: one data set at
        D = 20, a finite-D/sampling deviation shared by both), GD vs DMFT 4.9 %; floor matmul
        (4000 × 20) @ (20 × 40) 0.26 ms, DMFT 3.6 ms per Euler step ≈ 14 matmuls
    (b) learning_curve 128 ms for 100 n (1.3 ms per point); KRR 6.1 / 26.7 / 150 ms at
        n = 25 / 100 / 400 (5× / 21× / 117× a theory point); max disagreement 16 % (at n = 25)
    (c) every 40 × 40 diagram 12–51 ms median (slowest single run 115 ms): PASS (goal < 5 s)

DMFT and GD agree with each other (≤ 5 %) while both miss the D → ∞ theory by up to 40 % at
D = 20: the gap is the finite-D fluctuation of the one data set, not the solvers. ``--full`` was
not timed.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from finetune_bounds import infinite_width as iw

#: loose agreement bound between routes (finite D, M, N all cost O(1/D), O(M^{-1/2}), …)
LOOSE = 0.30
#: the FT curve of part (a): ν₁, ν₂ grid, α_s, γ₁, λ₁, δ, λ₂, target label noise σ₂²
NU1 = 2.0
NU2 = (0.25, 0.5, 1.0, 2.0, 3.0, 4.0)
ALPHA_S = 0.5
GAMMA, LAM1, DELTA, LAM2, NOISE2 = 1.0, 1.0, 1.0, 0.1, 0.1
#: the phase-diagram goal of part (c), seconds
GOAL_PD = 5.0
#: target test inputs of part (a); the particle solver eigendecomposes the union of all inputs
#: (P₁ + P₂ + n_test)², so this also sets its set-up cost
N_TEST = 1000


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _median_time(fn: Callable[[], Any], *, min_time: float = 0.2, max_reps: int = 1000) -> float:
    """Median per-call wall time over repeated calls (at least ``min_time`` s and 3 calls)."""
    times: list[float] = []
    while (sum(times) < min_time or len(times) < 3) and len(times) < max_reps:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _rel_max(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.abs(b)))


def _agree(name: str, rel: float) -> str:
    if rel <= LOOSE:
        return f"{name}: max relative disagreement {rel:.1%} (≤ {LOOSE:.0%}: ok)"
    return f"WARNING {name}: max relative disagreement {rel:.1%} > {LOOSE:.0%}"


# ---------------------------------------------------------------------------------------------
# (a) one FT learning curve, three routes
# ---------------------------------------------------------------------------------------------
def bench_curve(dim: int, particles: int, width: int, seeds: int) -> None:
    nu2 = np.asarray(NU2)
    p1 = round(NU1 * dim)
    p2s = [round(v * dim) for v in nu2]
    s_hat = GAMMA**2 * dim / (LAM1 * DELTA)  # ŝ = γ²D/(λδ), the O(1) control of S-B
    print(f"\n(a) FT learning curve, linear φ, S-B source: D = {dim}, ν₁ = {NU1} (P₁ = {p1}), "
          f"α_s = {ALPHA_S}, γ₁ = {GAMMA}, λ₁ = {LAM1}, δ = {DELTA} (ŝ = {s_hat:g}), "
          f"λ₂ = {LAM2}, σ₂² = {NOISE2}; ν₂ = {list(NU2)}")
    setting = iw.TransferSetting(gamma_source=GAMMA, ridge_source=LAM1, ridge_hidden=DELTA,
                                 ridge_target=LAM2, activation="linear", anchor="init")
    # one data set: the largest target set; smaller target sets are its prefixes (same source,
    # same test inputs)
    big = iw.linear_pair(dim, p1, max(p2s), N_TEST, alpha_s=ALPHA_S, noise_target=NOISE2, rng=0)

    def theory() -> np.ndarray:
        t = iw.toy_transfer(ALPHA_S, NU1, nu2, s_hat=s_hat, ridge_source=LAM1,
                            ridge_target=LAM2, noise_target=NOISE2)
        return np.asarray(t.e_ft)

    e_th = theory()
    t_th = _median_time(theory)

    def curve(solver: str, **kw: Any) -> tuple[np.ndarray, list[Any]]:
        # one source stage per seed; the target sets are the nested prefixes of `big`
        res = list(iw.transfer_curve(big, setting, p2s, solver=solver, protocols=("ft",),
                                     **kw).results)
        return np.array([float(np.mean(r.errors["ft"])) for r in res]), res

    (e_dm, r_dm), t_dm = _timed(lambda: curve("particle", width=particles))
    (e_nw, r_nw), t_nw = _timed(lambda: curve("network", width=width, seeds=seeds))
    e_nw_sd = np.array([float(np.std(r.errors["ft"])) for r in r_nw])

    print("    ν₂     P₂   theory (D→∞)   DMFT (M)   GD nets (N, mean ± sd over seeds)")
    for v, p, a, b, c, s in zip(nu2, p2s, e_th, e_dm, e_nw, e_nw_sd, strict=True):
        print(f"    {v:4.2f} {p:5d}   {a:12.5f}   {b:8.5f}   {c:8.5f} ± {s:.5f}")
    steps_dm = [int(r.diagnostics["source"]["steps"][0]) for r in r_dm]
    steps_nw = [int(np.max(r.diagnostics["source"]["steps"])) for r in r_nw]
    conv = all(bool(np.all(r.diagnostics["source"]["converged"] == 1.0)) for r in r_dm + r_nw)
    print(f"    route 1 theory        {t_th * 1e3:10.3f} ms  (whole curve, 1×)")
    print(f"    route 2 DMFT M={particles:<6d} {t_dm * 1e3:10.1f} ms  ratio to theory "
          f"{t_dm / t_th:8.0f}×  source Euler steps {steps_dm[0]}")
    print(f"    route 3 GD {seeds}×N={width:<5d} {t_nw * 1e3:10.1f} ms  ratio to theory "
          f"{t_nw / t_th:8.0f}×  source GD steps (max over seeds) {steps_nw[0]}")
    print(f"    DMFT/GD time ratio {t_dm / t_nw:.2f}×; every source stage converged: {conv}")
    print("    " + _agree("DMFT vs theory", _rel_max(e_dm, e_th)))
    print("    " + _agree("GD nets vs theory", _rel_max(e_nw, e_th)))
    print("    " + _agree("GD nets vs DMFT", _rel_max(e_nw, e_dm)))

    gen = np.random.default_rng(1)
    u = gen.standard_normal((particles, dim))
    x = gen.standard_normal((dim, p1))
    t_mm = _median_time(lambda: u @ x)
    per_step = t_dm / steps_dm[0]  # one source stage serves every target size
    print(f"    floor: one ({particles} × {dim}) @ ({dim} × {p1}) matmul {t_mm * 1e3:.3f} ms; "
          f"DMFT {per_step * 1e3:.3f} ms per source Euler step = {per_step / t_mm:.1f} matmuls "
          f"(all stages' time charged to the source steps)")


# ---------------------------------------------------------------------------------------------
# (b) learning-curve theory vs direct kernel ridge regression
# ---------------------------------------------------------------------------------------------
def bench_learning_curve(modes: int, ns_direct: list[int], draws: int) -> None:
    rho = np.arange(1, modes + 1, dtype=np.float64)
    eta, v2 = rho**-1.5, rho**-2.0
    ridge = 1e-3
    ns = np.unique(np.geomspace(1, 4000, 100).round())
    ns = np.concatenate([ns, np.arange(4001, 4001 + 100 - ns.size)])  # exactly 100 values
    print(f"\n(b) learning curve, power law η = ρ^-1.5, v² = ρ^-2, {modes} modes, ridge {ridge:g}, "
          f"{ns.size} values of n in [{ns[0]:.0f}, {ns[-1]:.0f}]")
    lc = iw.learning_curve(eta, v2, ns, ridge=ridge)
    t_lc = _median_time(lambda: iw.learning_curve(eta, v2, ns, ridge=ridge))
    print(f"    learning_curve: {t_lc * 1e3:.2f} ms for {ns.size} n = "
          f"{t_lc / ns.size * 1e6:.1f} µs per point; converged {bool(np.all(lc.converged))}")
    v = np.sqrt(v2)

    def krr(n: int, gen: np.random.Generator) -> float:
        psi = gen.standard_normal((n, modes))
        y = psi @ v
        k = (psi * eta) @ psi.T
        alpha = np.linalg.solve(k + ridge * np.eye(n), y)
        w = eta * (psi.T @ alpha)
        return float(np.sum((w - v) ** 2))

    theory = np.asarray(iw.learning_curve(eta, v2, ns_direct, ridge=ridge).error)
    print("       n   theory       KRR (mean of draws)   KRR time per point   ratio KRR/theory")
    rels = []
    for n, th in zip(ns_direct, theory, strict=True):
        gen = np.random.default_rng(n)
        times, errs = [], []
        for _ in range(draws):
            e, t = _timed(lambda n=n, gen=gen: krr(n, gen))
            errs.append(e)
            times.append(t)
        t_pt = float(np.median(times))
        rels.append(abs(np.mean(errs) - th) / th)
        print(f"    {n:5d}   {th:.5f}   {np.mean(errs):.5f} ± {np.std(errs):.5f}     "
              f"{t_pt * 1e3:10.2f} ms   {t_pt / (t_lc / ns.size):12.0f}×")
    print("    " + _agree("KRR vs theory", max(rels)))


# ---------------------------------------------------------------------------------------------
# (c) phase diagrams
# ---------------------------------------------------------------------------------------------
def bench_phase(size: int, reps: int) -> None:
    alpha = np.linspace(0.0, 1.0, size)
    nu2 = np.geomspace(0.1, 10.0, size)
    cases: list[tuple[str, np.ndarray, dict[str, Any]]] = [
        ("nu2", nu2, {"nu1": 2.0, "s_hat": 10.0}),
        ("s_hat", np.geomspace(1e-2, 1e3, size), {"nu1": 2.0, "nu2": 1.0}),
        ("nu2", nu2, {"nu1": 2.0, "source": "S-A", "lam_hat": 0.5}),
        ("lam_hat", np.geomspace(1e-2, 10.0, size), {"nu1": 2.0, "nu2": 1.0, "source": "S-A"}),
    ]
    print(f"\n(c) phase diagrams {size} × {size}, ν₁ = 2, λ₂ = 0.1; median of {reps} "
          f"(min–max); goal < {GOAL_PD:g} s each")
    worst = 0.0
    for second, grid, kw in cases:
        src = kw.get("source", "S-B")
        for base in ("lazy", "rich"):
            def run(second: str = second, grid: np.ndarray = grid, kw: dict[str, Any] = kw,
                    base: str = base) -> Any:
                return iw.phase_diagram(alpha, grid, second=second, baseline=base,
                                        ridge_target=0.1, **kw)

            pd = run()
            # check a few cells against single toy_transfer calls before timing
            cell_err = 0.0
            for i, j in ((0, 0), (size // 3, size // 2), (size - 1, size - 1)):
                t = iw.toy_transfer(alpha[i], ridge_target=0.1, **{**kw, second: grid[j]})
                e_sc = t.e_scratch_lazy if base == "lazy" else t.e_scratch_rich
                cell_err = max(cell_err, abs(float(e_sc) - float(t.e_ft) - pd.gain[i, j]))
            times = []
            for _ in range(reps):
                _, t_run = _timed(run)
                times.append(t_run)
            med = float(np.median(times))
            worst = max(worst, max(times))
            print(f"    {src} (α_s, {second:7s}) {base:4s}: {med * 1e3:8.1f} ms "
                  f"({min(times) * 1e3:.1f}–{max(times) * 1e3:.1f})  "
                  f"{'PASS' if med < GOAL_PD else 'FAIL'}  positive {np.mean(pd.sign > 0):5.1%} "
                  f"negative {np.mean(pd.sign < 0):5.1%}  status {pd.info.status.value}  "
                  f"cells vs toy_transfer {cell_err:.1e}")
    print(f"    slowest single diagram {worst * 1e3:.1f} ms: "
          f"{'PASS' if worst < GOAL_PD else 'FAIL'} (goal < {GOAL_PD:g} s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--parts", default="abc", help="which parts to run (any of a, b, c)")
    ap.add_argument("--full", action="store_true", help="larger sizes (several minutes)")
    ap.add_argument("--reps", type=int, default=5, help="repeats of each phase diagram")
    ap.add_argument("--size", type=int, default=40, help="phase-diagram grid points per axis")
    ap.add_argument("--krr-draws", type=int, default=3, help="KRR draws per n in part (b)")
    args = ap.parse_args()
    t_start = time.perf_counter()
    print(f"python {platform.python_version()}, numpy {np.__version__}, "
          f"{'--full' if args.full else 'default'} sizes")
    with threadpool_limits(limits=1):
        for pool in threadpool_info():
            print(f"BLAS: {pool.get('internal_api')} {pool.get('version')} "
                  f"({pool.get('filepath', '').rsplit('/', 1)[-1]}), "
                  f"{pool.get('num_threads')} thread(s) in use")
        if "a" in args.parts:
            if args.full:
                bench_curve(40, 16000, 4000, 4)
            else:
                bench_curve(20, 4000, 1000, 4)
        if "b" in args.parts:
            bench_learning_curve(10_000, [25, 100, 400, 1600] if args.full else [25, 100, 400],
                                 args.krr_draws)
        if "c" in args.parts:
            bench_phase(args.size, args.reps)
    print(f"\nwhole run {time.perf_counter() - t_start:.1f} s")


if __name__ == "__main__":
    main()
