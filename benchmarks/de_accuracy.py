"""How far is the linear deterministic equivalent (DE) from the exact expected risk? (issues 9, 15)

What it measures (unchanged since issue 9): for nine spectra at d = 300 and a unit Δ placed on
the head (top 10 eigen-directions), the tail (bottom 30) or at random, the DE's relative error
at n ∈ {5, 10, 20, 30, 60, 120, 240} against the exact-in-expectation reference
:func:`finetune_bounds.linear.risk_weights` (nested Gaussian designs), each cell with the
reference's own relative standard error. Noiseless tasks (the bias part). The DE is asked for
explicitly (``method="deterministic"``): ``"auto"`` would replace it by Monte Carlo exactly where
it is off.

Then the timed comparison (on the shared harness: pinned threads, agreement first, interleaved
rounds): on the cell with the DE's worst error and on a typical cell, the DE against one Monte
Carlo estimate *at the same accuracy* (``expected_risk(method="monte_carlo", rel_tol=|DE
error|)``, at least 1 %) and against the floor, one numpy pass over the spectrum (ΣλΔ²). The
agreement printed is the DE's error against the reference; the Monte Carlo estimate must lie
within 4 standard errors of the reference (otherwise the script stops: timings withheld).

    python benchmarks/de_accuracy.py            # default: reference to 1 % (≈ 128 draws each)
    python benchmarks/de_accuracy.py --full     # reference to 0.3 % (the old default, ≈ 4 min)
    python benchmarks/de_accuracy.py --smoke    # d = 40, two spectra: seconds
    options: --d D, --record, --repeat K, --threads N (see benchmarks/_harness.py)

Measured (2026-11-30, 2 cores shared with other jobs, one BLAS thread; ``time``): default run
31 s wall at load average 4 (the table 30 s of it; the table alone took 97 s at load 6),
``--smoke`` ≈ 2 s. The default's 1 % reference (128 designs) is coarse on heavy-tailed cells:
it reads −23.3 ± 1.8 % on the worst cell, where ``--full`` (0.3 %) reads −17.9 %.
Issue-9 findings (d = 300, reference to 0.3 %): the DE is low everywhere it is off; worst
|error| by n: 5: 8 %, 10: 18 %, 20: 12 %,
30: 10 %, 60: 12 %, 120: 14 %, 240: 4.5 %. The large errors are all Δ on the head of a spectrum
whose head eigenvalues sit near κ(n): spiked (6 spikes of 12 over a 0.05 bulk) at n = 10:
−17.9 %; power law 2 at n = 20: −10 %; exponential (scale 10) at n = 120: −14 %. Δ at random or
on the tail: within 5 %. So a DE error rule must depend on where Δ sits relative to κ(n), not
on n alone. The DE costs ≈ 1 ms per n; a Monte Carlo estimate as accurate as the DE is on the
worst cell (≈ 20 %) costs 7–19× the DE, on a typical cell (1 % asked) ≈ 80×, and at n = 240
≈ 10⁴× (15 s a call: why the typical cell is taken among n ≤ 30).
"""

from __future__ import annotations

import math
import os
import sys
import time
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import finetune_bounds as fb
from _harness import AgreementError, Bench, run

NS_DEFAULT = [5, 10, 20, 30, 60, 120, 240]


def spectra(d: int, smoke: bool) -> dict[str, np.ndarray]:
    out = {
        "spiked6x12": np.r_[np.full(6, 12.0), np.full(d - 6, 0.05)],
        "pow1.5": np.arange(1, d + 1) ** -1.5,
    }
    if not smoke:
        out |= {
            "spiked15x50": np.r_[np.full(15, 50.0), np.full(d - 15, 1.0)],
            "pow0.5": np.arange(1, d + 1) ** -0.5,
            "pow1": np.arange(1, d + 1) ** -1.0,
            "pow2": np.arange(1, d + 1) ** -2.0,
            "exp10": np.exp(-np.arange(d) / 10),
            "exp30": np.exp(-np.arange(d) / 30),
            "flat": np.ones(d),
        }
    return out


def delta(d: int, placement: str) -> np.ndarray:
    v = np.zeros(d)
    if placement == "head":
        v[:10] = 1.0
    elif placement == "tail":
        v[-30:] = 1.0
    else:
        v = np.random.default_rng(1).standard_normal(d)
    return v / np.linalg.norm(v)


def _settings(bench: Bench) -> tuple[int, list[int], float]:
    """(d, ns, the reference's relative tolerance)."""
    if bench.args.smoke:
        return 40, [5, 10, 20], 0.05
    d = int(bench.args.d)
    ns = [n for n in NS_DEFAULT if n < d] or [max(1, d // 2)]
    return d, ns, 0.003 if bench.args.full else 0.01


def _table(bench: Bench, d: int, ns: list[int], rel_tol: float) -> list[dict[str, Any]]:
    """The measurement: the DE's relative error per spectrum, placement and n."""
    cells: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    print(f"\nDE relative error vs risk_weights (d = {d}, reference to {rel_tol:.1%}; "
          f"cells: error ± the reference's relative s.e.)")
    print(f"{'spectrum':<12} {'Δ on':<7} " + " ".join(f"{'n=' + str(n):>13}" for n in ns))
    for name, lam in spectra(d, bench.args.smoke).items():
        cov = fb.Covariance.from_spectrum(lam)
        weights = fb.linear.risk_weights(cov, ns, rel_tol=rel_tol, rng=0, max_draws=4000)
        for placement in ("head", "tail", "random"):
            task = fb.LinearTask(cov, np.zeros(d), delta(d, placement))
            ref = weights.expected_risk(task)
            de = fb.linear.risk_curve(task, ns, method="deterministic")["risk"]
            row = []
            for j, n in enumerate(ns):
                if ref.risk[j] > 0:
                    err = de[j] / ref.risk[j] - 1
                    se = ref.stderr[j] / ref.risk[j]
                    row.append(f"{100 * err:+6.1f}±{100 * se:4.1f}%")
                    cells.append({"spectrum": name, "placement": placement, "n": n, "task": task,
                                  "err": float(err), "ref": float(ref.risk[j]),
                                  "ref_se": float(ref.stderr[j]), "draws": weights.draws})
                else:
                    row.append(f"{'exact':>13}")
            print(f"{name:<12} {placement:<7} " + " ".join(f"{c:>13}" for c in row), flush=True)
    worst = max(cells, key=lambda c: abs(c["err"]))
    print(f"worst |DE error|: {100 * worst['err']:+.1f} % ({worst['spectrum']}, Δ on "
          f"{worst['placement']}, n = {worst['n']}); table {time.perf_counter() - t0:.0f} s")
    return cells


def _compare(bench: Bench, cell: dict[str, Any], label: str) -> None:
    task, n = cell["task"], cell["n"]
    lam = task.covariance.eigenvalues
    dlt = task.delta_eig if hasattr(task, "delta_eig") else task.target_eig - task.source_eig
    mc_tol = max(abs(cell["err"]), 0.01)

    def check(results: dict[str, Any]) -> str:
        mc = results["Monte Carlo (same accuracy)"]
        gap = abs(mc.risk - cell["ref"])
        se = math.hypot(mc.stderr, cell["ref_se"])
        if not gap <= 4 * se:
            raise AgreementError(f"Monte Carlo {mc.risk:.6g} is {gap / se:.1f} s.e. from the "
                                 f"reference {cell['ref']:.6g}")
        return (f"DE error {100 * cell['err']:+.1f} % vs the reference ({cell['draws']} designs, "
                f"s.e. {100 * cell['ref_se'] / cell['ref']:.1f} %); Monte Carlo to "
                f"{mc_tol:.1%}: {mc.diagnostics['draws']} draws, {gap / se:.1f} s.e. from the "
                f"reference")

    bench.compare(
        f"{label}: {cell['spectrum']}, Δ on {cell['placement']}, n = {n}",
        {
            "DE": lambda: fb.linear.expected_risk(task, n, method="deterministic"),
            "Monte Carlo (same accuracy)": lambda: fb.linear.expected_risk(
                task, n, method="monte_carlo", rel_tol=mc_tol, rng=0),
            "numpy pass (floor)": lambda: float(np.sum(lam * dlt * dlt)),
        },
        baseline="DE", check=check,
    )


def main(bench: Bench) -> None:
    d, ns, rel_tol = _settings(bench)
    cells = _table(bench, d, ns, rel_tol)
    worst = max(cells, key=lambda c: abs(c["err"]))
    # the typical cell among n ≤ 30: a 1 % Monte Carlo at n = 240 costs ≈ 15 s a call
    small = [c for c in cells if c["n"] <= 30] or cells
    errs = sorted(small, key=lambda c: abs(c["err"]))
    typical = errs[len(errs) // 2]
    print("\nDE vs one Monte Carlo estimate at the DE's accuracy (|DE error|, at least 1 %); "
          "floor: one numpy pass over the spectrum")
    _compare(bench, worst, "worst DE error")
    if typical is not worst:
        _compare(bench, typical, "typical (median, n ≤ 30) DE error")


def _flags(ap: Any) -> None:
    ap.add_argument("--d", type=int, default=300, help="dimension (default 300)")


if __name__ == "__main__":
    raise SystemExit(run(main, "de_accuracy", __doc__.splitlines()[0], extra=_flags))
