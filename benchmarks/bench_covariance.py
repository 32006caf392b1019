"""``Covariance.from_matrix`` against its floor, one bare ``eigh`` of the same matrix.

``from_matrix`` validates (finite, square, symmetric, positive semi-definite), symmetrises,
eigendecomposes once and sorts. Its floor is one ``numpy.linalg.eigh``; the goal (issue 15) is
≤ 1.5× at d = 10⁴ (``--full``: each eigh there takes minutes). Also timed: the validation pass
alone against one numpy pass over the matrix.

    python benchmarks/bench_covariance.py [--full | --smoke] [--record]
    python benchmarks/bench_covariance.py --sizes 10000 --repeat 1 --record   # the goal's size

Default run (d = 500, 1000, 2000): about 20 s on 2 cores. ``--sizes`` records under its own
name (``bench_covariance_d10000``), beside the default record.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import AgreementError, Bench, run
from finetune_bounds.problems import Covariance


def _matrix(d: int) -> np.ndarray:
    rng = np.random.default_rng(d)
    a = rng.standard_normal((d, d))
    return (a @ a.T) / d


def main(bench: Bench) -> None:
    sizes: tuple[int, ...] = (100, 300) if bench.args.smoke else (1000, 2000, 5000, 10000) \
        if bench.args.full else (500, 1000, 2000)
    if bench.args.sizes:
        sizes = tuple(int(v) for v in bench.args.sizes.split(","))
        bench.name = "bench_covariance_d" + "_".join(str(d) for d in sizes)
    for d in sizes:
        s = _matrix(d)

        def check(results: dict, s: np.ndarray = s, d: int = d) -> str:
            cov, (w, _v) = results["from_matrix"], results["numpy eigh (floor)"]
            diff = float(np.max(np.abs(cov.eigenvalues - w[::-1]))) / float(np.max(w))
            recon = float(np.max(np.abs(cov.matrix - s))) / float(np.max(np.abs(s)))
            if not (diff < 1e-12 and recon < 1e-12):
                raise AgreementError(f"d = {d}: eigenvalues differ by {diff:.2g}, "
                                     f"reconstruction by {recon:.2g}")
            return f"eigenvalues rel diff {diff:.1e}, ‖VΛVᵀ − Σ‖max rel {recon:.1e} (tol 1e-12)"

        bench.compare(
            f"from_matrix, d = {d}",
            {"numpy eigh (floor)": lambda s=s: np.linalg.eigh(s),
             "from_matrix": lambda s=s: Covariance.from_matrix(s)},
            baseline="numpy eigh (floor)", check=check,
            goals={"from_matrix": 1.5} if d >= 1000 else None,
            repeat=bench.args.repeat or (2 if d >= 5000 else None), budget=60.0,
        )


def _flags(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--sizes", default="", help="comma-separated d values instead of the default")


if __name__ == "__main__":
    raise SystemExit(run(main, "bench_covariance", __doc__.splitlines()[0], extra=_flags))
