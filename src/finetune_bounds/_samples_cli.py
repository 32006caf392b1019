"""``finetune-bounds samples``: n*(ε) per model and route for a problem in files (private).

A thin adapter over :func:`finetune_bounds.sample_complexity`: the files (or ``--example``)
become a :class:`~finetune_bounds.LinearTask`, the options its arguments; it prints one table
(n* from the pretrained weights and from scratch per model and route, and the saving) and writes
``--output`` in the long tidy form shared by the commands (keys, ``mean``, ``stderr``,
``count``).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["register"]

_EXAMPLES = ("power_law", "spiked", "digits")


def register(sub: Any) -> None:
    from ._cli_common import add_task_arguments

    p = sub.add_parser(
        "samples",
        help="n*(ε): target samples to reach error ε, per model and route, and the saving "
             "over training from scratch",
        description=(
            "How many target samples does fine-tuning need to reach error ε, and how many "
            "would training from scratch need? For each model (linear, deep-linear:L, relu) "
            "and route (theory, guaranteed bound, rate with C = 1, and with --trained actually "
            "trained models over seeds) print the first n with error ≤ ε, from the pretrained "
            "weights θ_S and from scratch, and the saving n*(scratch)/n*(pretrained). "
            "ε is the population risk for linear and deep-linear models and the test clipped "
            "absolute error for relu."
        ),
    )
    add_task_arguments(p, _EXAMPLES)
    p.add_argument("--eps", nargs="+", required=True, metavar="EPS",
                   help="target error levels ε > 0")
    p.add_argument("--model", nargs="+", default=["linear"], metavar="MODEL",
                   help="linear, deep-linear:L (L ≥ 1 or inf), relu (default: linear)")
    p.add_argument("--routes", default="theory,bound,rate", metavar="R1,R2",
                   help="among theory, bound, rate, trained (default theory,bound,rate)")
    p.add_argument("--trained", default="0", metavar="SEEDS",
                   help="also train the models, over this many seeds (default 0: no training)")
    p.add_argument("--n-max", default=None, metavar="N",
                   help="largest n considered (default: per model, see the docs)")
    p.add_argument("--width", default=None, metavar="M",
                   help="hidden width of trained relu networks (500) / deep-linear layers (8)")
    p.add_argument("--draws", default=None, metavar="K",
                   help="Monte Carlo designs of randomised theories (deep-linear 200, relu 3)")
    p.add_argument("--gd", action="store_true",
                   help="train the linear model by gradient descent (default: its limit)")
    p.add_argument("--seed", default="0", metavar="S", help="seed of every random route (0)")
    p.add_argument("--output", metavar="FILE",
                   help="also write the answers (.csv, .json or .parquet; keys, mean, "
                        "stderr, count)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from . import linear
    from ._cli_common import check_output, parse_float, parse_int, task_from_args
    from ._samples import sample_complexity

    output = check_output(args.output)
    noise = parse_float(args.noise_variance, "--noise-variance")
    eps = [parse_float(e, "--eps", positive=True) for e in args.eps]
    trained = parse_int(args.trained, "--trained", allow_zero=True)
    n_max = None if args.n_max is None else parse_int(args.n_max, "--n-max")
    width = None if args.width is None else parse_int(args.width, "--width")
    draws = None if args.draws is None else parse_int(args.draws, "--draws")
    seed = parse_int(args.seed, "--seed", allow_zero=True)
    from . import limits

    # sizes beyond the resource limits fail here, at once (not after hours of training)
    limits.check(trained, "draws", "--trained")
    if width is not None:
        limits.check(width, "width", "--width")
    if draws is not None:
        limits.check(draws, "draws", "--draws")
    if n_max is not None:
        limits.check(n_max, "n", "--n-max")
    routes = [r.strip() for r in str(args.routes).split(",") if r.strip()]
    examples = {name: (lambda s2, name=name: linear.example_task(name, noise_variance=s2))
                for name in _EXAMPLES}
    task, label = task_from_args(args, noise, examples)
    from ._samples import _routes, parse_model

    for m in args.model:  # every model and route checked before anything runs
        parse_model(m)
    _routes(routes, trained)
    print(f"n*(ε) for {label}: d = {task.dim}, models {', '.join(args.model)} …",
          file=sys.stderr, flush=True)
    with _Progress(enabled=not args.no_progress) as bar:
        answer = sample_complexity(
            task, eps, model=list(args.model), routes=routes, trained=trained, n_max=n_max,
            rng=seed, draws=draws, width=width, gd=args.gd, progress=bar.step,
        )
    print(answer.table())
    if output is not None:
        from .sweep.store import write_records

        print(f"\nwrote {write_records(answer.frame(), output)}")
    return 0


class _Progress:
    """A tqdm bar of the steps (shown only after a second, on a terminal; nothing without
    tqdm or with ``enabled=False``)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            try:
                from tqdm.auto import tqdm
            except ImportError:  # the progress extra is not installed
                return self
            self.bar = tqdm(total=None, unit="step", delay=1.0, leave=False, file=sys.stderr,
                            disable=None)
        return self

    def step(self, label: str) -> None:
        if self.bar is not None:
            self.bar.set_description_str(label, refresh=False)
            self.bar.update(1)

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.close()
