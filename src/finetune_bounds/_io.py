"""Reading arrays from .npy/.csv files and writing tables (private; used by the CLI)."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ._validation import FloatArray
from .errors import InvalidInputError

__all__ = ["load_array", "write_table"]


def load_array(path: str | Path, name: str) -> FloatArray:
    """Load a numeric array from ``.npy`` or ``.csv``/``.txt`` (comma or whitespace separated).

    A text file may start with one header row (a first line without any number), which is
    skipped.

    Raises
    ------
    InvalidInputError
        Missing or unreadable file, unknown extension, non-numeric or non-finite content.
    """
    p = Path(path)
    if not p.is_file():
        raise InvalidInputError(f"{name}: file not found: {p}")
    suffix = p.suffix.lower()
    try:
        if suffix == ".npy":
            arr = np.load(p, allow_pickle=False)
        elif suffix in (".csv", ".txt", ".tsv"):
            text = p.read_text()
            delim = "," if "," in text else None
            arr = _load_text(p, text, delim)
        else:
            raise InvalidInputError(f"{name}: unsupported file type {suffix!r} (use .npy or .csv)")
    except InvalidInputError:
        raise
    except (OSError, ValueError) as exc:
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


def _jsonable(v: Any) -> Any:
    if isinstance(v, float | np.floating):
        f = float(v)
        return f if math.isfinite(f) else str(f)
    if isinstance(v, np.integer):
        return int(v)
    return v


def write_table(frame: Any, path: str | Path) -> Path:
    """Write a DataFrame to ``.csv`` or ``.json`` (records orient), chosen by extension."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise InvalidInputError(f"output must end in .csv or .json, got {p.name!r}")
    if p.parent and not p.parent.exists():
        raise InvalidInputError(f"output folder does not exist: {p.parent}")
    if suffix == ".csv":
        frame.to_csv(p, index=False)
    else:
        rows = [{k: _jsonable(v) for k, v in r.items()} for r in frame.to_dict(orient="records")]
        p.write_text(json.dumps(rows, indent=2, allow_nan=False) + "\n")
    return p
