"""Run every benchmark with ``--record`` (default sizes), then rewrite docs/performance.md.

    python benchmarks/run_all.py [--smoke | --full] [--only bench_linear,bench_relu]

Each script runs in its own process, one after the other (never two at once: they would time
each other). A script that fails (a disagreement, an error) is reported and the others still run;
the exit status is then 1.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ("bench_threads", "bench_covariance", "bench_linear", "bench_deep_linear",
           "bench_relu", "bench_diagonal", "bench_infinite_width", "de_accuracy")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--smoke", action="store_true", help="tiny sizes (nothing is recorded)")
    size.add_argument("--full", action="store_true", help="the long versions")
    ap.add_argument("--only", default="", help="comma-separated script names")
    args = ap.parse_args(argv)
    names = [s for s in args.only.split(",") if s] or list(SCRIPTS)
    unknown = sorted(set(names) - set(SCRIPTS))
    if unknown:
        ap.error(f"unknown benchmark(s) {unknown}; choose from {list(SCRIPTS)}")
    flags = ["--smoke"] if args.smoke else ["--record"] + (["--full"] if args.full else [])
    failed = []
    for name in names:
        t0 = time.perf_counter()
        code = subprocess.call([sys.executable, str(HERE / f"{name}.py"), *flags])
        print(f"== {name}: exit {code}, {time.perf_counter() - t0:.0f} s", flush=True)
        if code:
            failed.append(name)
    if not args.smoke:
        subprocess.call([sys.executable, str(HERE / "table.py")])
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
