"""Reading arrays from .npy/.csv files (private; used by the task loaders and the CLI).

Tables and records are written by :func:`finetune_bounds.sweep._cli_run.write_records`, the
same writer as ``finetune-bounds run --output``."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ._validation import FloatArray
from .errors import InvalidInputError

__all__ = ["MAX_ABS", "load_array"]

#: the largest magnitude of an entry read from a file: products of three such values (a
#: quadratic form ΔᵀΣΔ, a Gram matrix of scaled inputs) stay below the float64 maximum ~1.8e308,
#: so a finite input never turns into a table of inf
MAX_ABS = 1e100


def load_array(path: str | Path, name: str) -> FloatArray:
    """Load a numeric array from ``.npy`` or ``.csv``/``.txt`` (comma or whitespace separated).

    A text file may start with one header row (a first line without any number), which is
    skipped.

    Raises
    ------
    InvalidInputError
        Missing or unreadable file, unknown extension, non-numeric or non-finite content, an
        entry of magnitude above :data:`MAX_ABS`.
    """
    p = Path(path)
    if not p.is_file():
        raise InvalidInputError(f"{name}: file not found: {p}")
    suffix = p.suffix.lower()
    try:
        if suffix == ".npy":
            if p.stat().st_size == 0:
                raise InvalidInputError(f"{name}: {p} is empty (0 bytes, not a .npy file)")
            arr = np.load(p, allow_pickle=False)
            if not isinstance(arr, np.ndarray):
                raise InvalidInputError(f"{name}: {p} is not a single .npy array")
            if arr.dtype.kind == "c":
                raise InvalidInputError(f"{name}: {p} holds complex numbers; real numbers "
                                        "expected")
            if arr.dtype.kind not in "biuf":
                raise InvalidInputError(
                    f"{name}: {p} holds {arr.dtype} values; real numbers expected"
                )
        elif suffix in (".csv", ".txt", ".tsv"):
            text = p.read_text()
            delim = "," if "," in text else None
            arr = _load_text(p, text, delim)
        else:
            raise InvalidInputError(f"{name}: unsupported file type {suffix!r} (use .npy or .csv)")
    except InvalidInputError:
        raise
    except (OSError, ValueError, EOFError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InvalidInputError(f"{name}: cannot read {p}: {msg}") from None
    if np.iscomplexobj(arr):  # casting would silently drop the imaginary part
        raise InvalidInputError(f"{name}: {p} holds complex numbers; real numbers expected")
    try:
        out = np.asarray(arr, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name}: {p} does not hold numbers") from None
    if out.size == 0:
        raise InvalidInputError(f"{name}: {p} is empty")
    if not np.all(np.isfinite(out)):
        raise InvalidInputError(f"{name}: {p} contains NaN or inf")
    largest = float(np.max(np.abs(out)))
    if largest > MAX_ABS:
        raise InvalidInputError(
            f"{name}: {p} has an entry of magnitude {largest:.3g}, above {MAX_ABS:.0e} (its "
            "products overflow float64); rescale the data"
        )
    return out


def _load_text(p: Path, text: str, delim: str | None) -> Any:
    """``np.loadtxt`` of a text table; one non-numeric first line (a header row, as pandas and
    spreadsheets write) is skipped. Raises ``ValueError`` on anything else that is not numbers."""

    def load(skip: int) -> Any:
        with warnings.catch_warnings():  # an empty file is reported by the caller, not warned
            warnings.simplefilter("ignore", UserWarning)
            return np.loadtxt(p, delimiter=delim, dtype=np.float64, ndmin=1, skiprows=skip)

    try:
        return load(0)
    except ValueError:
        lines = [ln for ln in text.splitlines() if ln.strip()]
        if len(lines) < 2 or not _is_header(lines[0], delim):
            raise
        return load(text.splitlines().index(lines[0]) + 1)


def _is_header(line: str, delim: str | None) -> bool:
    """No field of the line is a number (``1, 2, x`` is a broken row, not a header)."""

    def number(v: str) -> bool:
        try:
            float(v)
        except ValueError:
            return False
        return True

    return not any(number(v) for v in line.split(delim))
