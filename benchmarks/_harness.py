"""Shared harness of the benchmarks: pinned threads, checked agreement, interleaved repeats.

Every script in ``benchmarks/`` builds on this module so that its numbers mean the same thing:

* **threads** are pinned before anything is timed (:func:`finetune_bounds.threads.pin_process`,
  one BLAS thread unless ``--threads N``), and the header says which BLAS ran with how many;
* **agreement first**: each comparison runs every route once, checks that they agree (the caller's
  ``check``) and stops the script with exit status 1 if they do not — a fast wrong route is not
  a speedup;
* **interleaved repeats**: route A, B, C, then B, C, A, … so a machine that slows down
  part-way (another process, thermal throttling) affects every route alike; the ratio of a route
  to the baseline is taken *within each round* and reported as median (min–max) over rounds;
* **floors**: a comparison's baseline is usually the floor of the operation (one thin QR or SVD,
  one matrix product, one numpy pass over the data); ``goal`` states the ratio to beat;
* **records**: ``--record`` writes the rows to ``benchmarks/results/<script>.json`` (with the date,
  the machine and the BLAS), which ``python benchmarks/table.py`` turns into the table of
  ``docs/performance.md``.

Sizes: the default run of every script finishes in under 3 minutes on 2 cores; ``--full`` runs
the long version; ``--smoke`` runs tiny sizes (seconds — the test suite's check that the scripts
still run).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


class AgreementError(RuntimeError):
    """The routes of a comparison do not agree: their timings would mean nothing."""


@dataclass(frozen=True)
class Row:
    """One route of one comparison: times in seconds, ratios to the baseline of each round."""

    benchmark: str
    case: str
    route: str
    baseline: str
    median_s: float
    min_s: float
    max_s: float
    ratio: float
    ratio_min: float
    ratio_max: float
    rounds: int
    goal: float | None = None
    agreement: str = ""

    @property
    def meets(self) -> bool | None:
        return None if self.goal is None else self.ratio <= self.goal


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the shared flags (``--full``, ``--smoke``, ``--repeat``, …)."""
    ap = argparse.ArgumentParser(description=description)
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--full", action="store_true", help="the long version (larger sizes)")
    size.add_argument("--smoke", action="store_true", help="tiny sizes: checks that it runs")
    ap.add_argument("--repeat", type=int, default=None,
                    help="timed rounds per comparison (default 5, 2 with --smoke)")
    ap.add_argument("--threads", type=int, default=1,
                    help="BLAS threads for the whole run (default 1; see finetune_bounds.threads)")
    ap.add_argument("--record", action="store_true",
                    help="write the rows to benchmarks/results/<script>.json "
                         "(docs/performance.md is made from them)")
    return ap


def fmt_time(seconds: float) -> str:
    """A duration with a unit that keeps three significant digits."""
    if not math.isfinite(seconds):
        return str(seconds)
    if seconds >= 1:
        return f"{seconds:.3g} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} µs"


def fmt_ratio(r: float) -> str:
    if not math.isfinite(r):
        return str(r)
    if r >= 100:
        return f"{r:,.0f}×"
    if r >= 10:
        return f"{r:.1f}×"
    if r >= 0.1:
        return f"{r:.2f}×"
    return f"{r:.2g}×"


@dataclass
class Bench:
    """A benchmark run: comparisons, their rows, and the record written at the end."""

    name: str
    args: argparse.Namespace
    rows: list[Row] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)

    @property
    def repeat(self) -> int:
        if self.args.repeat is not None:
            return max(1, int(self.args.repeat))
        return 2 if self.args.smoke else 5

    @property
    def mode(self) -> str:
        return "full" if self.args.full else "smoke" if self.args.smoke else "default"

    def compare(
        self,
        case: str,
        routes: Mapping[str, Callable[[], Any]],
        *,
        baseline: str,
        check: Callable[[Mapping[str, Any]], str] | None = None,
        goals: Mapping[str, float] | None = None,
        repeat: int | None = None,
        budget: float = 20.0,
    ) -> dict[str, Row]:
        """Time ``routes`` (name → zero-argument call) against ``routes[baseline]``.

        Each route runs once (warm-up; its result goes to ``check``, which returns a short
        description of the agreement such as ``"max rel diff 2e-13"`` or raises
        :class:`AgreementError`), then ``repeat`` interleaved rounds are timed — fewer (at
        least 2) when one round would exceed ``budget`` seconds in total. ``goals`` maps a
        route to the ratio it should stay under. Returns the rows (also printed and recorded).
        """
        if baseline not in routes:
            raise ValueError(f"baseline {baseline!r} is not one of the routes {list(routes)}")
        names = list(routes)
        results: dict[str, Any] = {}
        warm: dict[str, float] = {}
        for name in names:
            t0 = time.perf_counter()
            results[name] = routes[name]()
            warm[name] = time.perf_counter() - t0
        agreement = check(results) if check is not None else ""
        del results
        rounds = repeat if repeat is not None else self.repeat
        per_round = sum(warm.values())
        if per_round * rounds > budget:  # fewer rounds, but at least 2 unless asked for 1
            rounds = max(min(rounds, 2), min(rounds, int(budget // max(per_round, 1e-9))))
        times: dict[str, list[float]] = {name: [] for name in names}
        for r in range(rounds):
            order = names[r % len(names):] + names[: r % len(names)]
            for name in order:
                t0 = time.perf_counter()
                routes[name]()
                times[name].append(time.perf_counter() - t0)
        base = times[baseline]
        out: dict[str, Row] = {}
        for name in names:
            ratios = [t / b for t, b in zip(times[name], base, strict=True)]
            row = Row(
                benchmark=self.name, case=case, route=name, baseline=baseline,
                median_s=statistics.median(times[name]), min_s=min(times[name]),
                max_s=max(times[name]), ratio=statistics.median(ratios), ratio_min=min(ratios),
                ratio_max=max(ratios), rounds=rounds,
                goal=None if goals is None else goals.get(name), agreement=agreement,
            )
            out[name] = row
            self.rows.append(row)
        self._print(case, out, baseline, agreement)
        return out

    def _print(self, case: str, rows: Mapping[str, Row], baseline: str, agreement: str) -> None:
        any_row = next(iter(rows.values()))
        print(f"\n{case}  ({any_row.rounds} interleaved rounds; ratio = route / {baseline}, "
              f"median (min–max))")
        if agreement:
            print(f"  agreement: {agreement}")
        width = max(len(n) for n in rows)
        for name, row in rows.items():
            ratio = "baseline" if name == baseline else (
                f"{fmt_ratio(row.ratio)} ({fmt_ratio(row.ratio_min)}–{fmt_ratio(row.ratio_max)})"
            )
            goal = ""
            if row.goal is not None:
                goal = f"  goal ≤ {row.goal:g}×: {'meets' if row.meets else 'MISSES'}"
            print(f"  {name:<{width}}  {fmt_time(row.median_s):>9} "
                  f"({fmt_time(row.min_s)}–{fmt_time(row.max_s)})  {ratio}{goal}", flush=True)

    def finish(self) -> int:
        """Print the elapsed time, write the record if asked; the exit status (0)."""
        elapsed = time.perf_counter() - self.started
        print(f"\n{self.name}: {elapsed:.1f} s ({self.mode} run)")
        missed = [r for r in self.rows if r.meets is False]
        if missed:
            print("goals missed: " + ", ".join(f"{r.case} / {r.route} {fmt_ratio(r.ratio)} > "
                                              f"{r.goal:g}×" for r in missed))
        if self.args.record:
            RESULTS.mkdir(exist_ok=True)
            path = RESULTS / f"{self.name}.json"
            payload = {**machine(), "benchmark": self.name, "mode": self.mode,
                       "seconds": round(elapsed, 1),
                       "rows": [{**asdict(r), "meets": r.meets} for r in self.rows]}
            path.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n")
            print(f"recorded: {path.relative_to(RESULTS.parent.parent)}")
        return 0


def machine() -> dict[str, Any]:
    """Date, machine, CPUs, Python/numpy versions and the BLAS line."""
    import numpy as np

    from finetune_bounds import threads

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:  # pragma: no cover - not Linux
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        cores = os.cpu_count() or 1
    return {
        "date": _dt.date.today().isoformat(),
        "machine": f"{cpu}, {cores} cores, {platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": threads.describe(),
    }


def start(name: str, args: argparse.Namespace) -> Bench:
    """Pin the BLAS threads, print the header (date, machine, BLAS) and return the run."""
    from finetune_bounds import threads

    threads.pin_process(args.threads)
    info = machine()
    print(f"{name} — {info['date']}, {info['machine']}")
    print(f"Python {info['python']}, numpy {info['numpy']}; BLAS: {info['blas']}")
    return Bench(name=name, args=args)


def run(main: Callable[[Bench], None], name: str, description: str,
        argv: Sequence[str] | None = None,
        extra: Callable[[argparse.ArgumentParser], None] | None = None) -> int:
    """Parse the shared flags (plus ``extra``), start, call ``main(bench)``, finish.

    An :class:`AgreementError` ends the run with one line and exit status 1.
    """
    ap = parser(description)
    if extra is not None:
        extra(ap)
    args = ap.parse_args(argv)
    bench = start(name, args)
    try:
        main(bench)
    except AgreementError as exc:
        print(f"\nDISAGREEMENT — timings withheld: {exc}", file=sys.stderr)
        return 1
    return bench.finish()


# ---------------------------------------------------------------------------- floors
def floor_routes(n: int, d: int, seed: int = 0) -> dict[str, Callable[[], Any]]:
    """The usual floors for an n × d design: one thin QR, one thin SVD, one matrix product
    X Xᵀ (or XᵀX, the smaller), one numpy pass (a sum of squares) over X."""
    import numpy as np

    x = np.random.default_rng(seed).standard_normal((n, d))
    small = x if n <= d else x.T
    return {
        "thin QR": lambda: np.linalg.qr(x if n >= d else x.T, mode="reduced"),
        "thin SVD": lambda: np.linalg.svd(x, full_matrices=False),
        "Gram product": lambda: small @ small.T,
        "numpy pass": lambda: np.einsum("ij,ij->", x, x),
    }


def rel_diff(a: Any, b: Any) -> float:
    """max |a − b| / max(|b|, tiny) over arrays (or scalars)."""
    import numpy as np

    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    scale = max(float(np.max(np.abs(b))) if b.size else 0.0, 1e-300)
    return float(np.max(np.abs(a - b))) / scale if a.size else 0.0


def agree(results: Mapping[str, Any], reference: str, tol: float,
          get: Callable[[Any], Any] = lambda r: r, skip: Sequence[str] = ()) -> str:
    """Check every result against ``results[reference]`` within a relative ``tol``.

    Returns ``"max rel diff …"``; raises :class:`AgreementError` naming the route that is off.
    """
    ref = get(results[reference])
    worst = 0.0
    for name, value in results.items():
        if name == reference or name in skip:
            continue
        diff = rel_diff(get(value), ref)
        if not diff <= tol:
            raise AgreementError(f"{name} differs from {reference} by {diff:.3g} (tolerance "
                                 f"{tol:g})")
        worst = max(worst, diff)
    return f"max rel diff to {reference} {worst:.1e} (tolerance {tol:g})"
