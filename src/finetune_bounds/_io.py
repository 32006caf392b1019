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
            with warnings.catch_warnings():  # an empty file is reported below, not warned
                warnings.simplefilter("ignore", UserWarning)
                arr = np.loadtxt(p, delimiter=delim, dtype=np.float64, ndmin=1)
        else:
            raise InvalidInputError(f"{name}: unsupported file type {suffix!r} (use .npy or .csv)")
    except InvalidInputError:
        raise
    except (OSError, ValueError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InvalidInputError(f"{name}: cannot read {p}: {msg}") from None
    try:
        out = np.asarray(arr, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name}: {p} does not hold numbers") from None
    if out.size == 0:
        raise InvalidInputError(f"{name}: {p} is empty")
    if not np.all(np.isfinite(out)):
        raise InvalidInputError(f"{name}: {p} contains NaN or inf")
    return out


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
