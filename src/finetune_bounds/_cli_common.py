"""Pieces shared by the subcommands that read a linear-teacher task (private).

``finetune-bounds linear`` and ``finetune-bounds deep-linear`` take the same inputs: a built-in
``--example``, or a covariance (``--covariance`` matrix, or ``--spectrum`` with optional
``--eigenvectors``) together with ``--source`` and ``--target`` vectors in .npy/.csv files.
Every problem raises :class:`~finetune_bounds.errors.InvalidInputError`.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Mapping
from typing import Any

from ._validation import nonneg_float, positive_int
from .errors import InvalidInputError
from .problems import LinearTask

__all__ = ["add_task_arguments", "format_value", "parse_float", "parse_int", "task_from_args"]

#: example name → builder taking the noise variance
Examples = Mapping[str, Callable[[float], LinearTask]]


def add_task_arguments(p: argparse.ArgumentParser, examples: Examples) -> None:
    """Add ``--example --covariance --spectrum --eigenvectors --source --target
    --noise-variance`` to a subcommand parser."""
    p.add_argument("--example", metavar="NAME", help=f"built-in task: {', '.join(examples)}")
    p.add_argument("--covariance", metavar="FILE", help="target covariance Σ (d×d, .npy/.csv)")
    p.add_argument("--spectrum", metavar="FILE", help="eigenvalues of Σ (vector, .npy/.csv)")
    p.add_argument(
        "--eigenvectors", metavar="FILE", help="eigenvectors of Σ as columns (with --spectrum)"
    )
    p.add_argument("--source", metavar="FILE", help="source teacher θ_S (vector, .npy/.csv)")
    p.add_argument("--target", metavar="FILE", help="target teacher θ_T (vector, .npy/.csv)")
    p.add_argument("--noise-variance", metavar="S2", default="0", help="label noise σ² (0)")


def format_value(v: float | None, se: float | None = None) -> str:
    """A table cell: 4 significant digits, "± se" when a positive finite standard error is
    given, "inf" for infinities and "–" for a missing value."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if math.isinf(v):
        return "inf"
    s = f"{v:.4g}"
    if se is not None and se > 0 and math.isfinite(se):
        s += f" ± {se:.2g}"
    return s


def parse_int(text: Any, name: str, *, allow_zero: bool = False) -> int:
    """A command-line integer ≥ 1 (≥ 0 with ``allow_zero``)."""
    try:
        v = int(str(text).strip())
    except ValueError:
        raise InvalidInputError(f"{name} must be an integer, got {text!r}") from None
    return positive_int(v, name, allow_zero=allow_zero)


def parse_float(text: Any, name: str, *, positive: bool = False) -> float:
    """A finite command-line number ≥ 0 (> 0 with ``positive``)."""
    try:
        v = float(str(text).strip())
    except ValueError:
        raise InvalidInputError(f"{name} must be a number, got {text!r}") from None
    return nonneg_float(v, name, positive=positive)


def task_from_args(
    args: argparse.Namespace, noise: float, examples: Examples
) -> tuple[LinearTask, str]:
    """Build the :class:`LinearTask` the arguments describe, with a one-line description."""
    from ._io import load_array
    from .problems import Covariance

    given = [k for k in ("example", "covariance", "spectrum") if getattr(args, k)]
    if not given:
        raise InvalidInputError(
            "missing input: give --example NAME, or --covariance FILE (or --spectrum FILE) "
            "with --source FILE and --target FILE"
        )
    if len(given) > 1:
        flags = ", ".join(f"--{k}" for k in given)
        raise InvalidInputError(
            f"give only one of --example, --covariance, --spectrum (got {flags})"
        )
    if args.eigenvectors and not args.spectrum:
        raise InvalidInputError("--eigenvectors needs --spectrum")
    if args.example:
        if args.source or args.target:
            raise InvalidInputError("--source/--target cannot be combined with --example")
        if args.example not in examples:
            raise InvalidInputError(
                f"--example must be one of {', '.join(examples)}, got {args.example!r}"
            )
        return examples[args.example](noise), f"example {args.example}"
    missing = [f"--{k}" for k in ("source", "target") if not getattr(args, k)]
    if missing:
        raise InvalidInputError(f"missing input: {' and '.join(missing)} (θ_S and θ_T vectors)")
    if args.covariance:
        mat = load_array(args.covariance, "--covariance")
        if mat.ndim != 2 or mat.shape[0] != mat.shape[1]:
            raise InvalidInputError(f"--covariance must be a square matrix, got shape {mat.shape}")
        cov = Covariance.from_matrix(mat)
        label = f"covariance {args.covariance}"
    else:
        lam = load_array(args.spectrum, "--spectrum")
        if lam.ndim != 1 and not (lam.ndim == 2 and 1 in lam.shape):
            raise InvalidInputError(f"--spectrum must be a vector, got shape {lam.shape}")
        vec = load_array(args.eigenvectors, "--eigenvectors") if args.eigenvectors else None
        cov = Covariance.from_spectrum(lam.reshape(-1), vec)
        label = f"spectrum {args.spectrum}"
    src = load_array(args.source, "--source")
    tgt = load_array(args.target, "--target")
    for name, v in (("--source", src), ("--target", tgt)):
        if v.reshape(-1).shape[0] != cov.dim or (v.ndim > 1 and 1 not in v.shape):
            raise InvalidInputError(
                f"{name} must be a vector of length d = {cov.dim}, got shape {v.shape}"
            )
    return LinearTask(cov, src.reshape(-1), tgt.reshape(-1), noise), label
