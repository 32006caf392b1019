"""Argument checks shared by the report's public functions (private): a bad value is a
:class:`~finetune_bounds.errors.ConfigError` naming the parameter, what was expected and the
value, raised before anything is drawn or written."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._validation import positive_int
from ..errors import ConfigError, InvalidInputError

#: the figure file formats the report writes
FORMATS: tuple[str, ...] = ("png", "svg", "pdf")

#: the largest accepted resolution of raster figures (a 6-inch figure at 2400 dpi is already
#: 14 400 pixels wide)
MAX_DPI = 2400


def shown(value: Any) -> str:
    from ..sweep.expr import short_repr

    return short_repr(value)


def check_path(value: Any, name: str, where: str = "") -> Path:
    """A file or folder path (a non-empty string or ``os.PathLike``) as a :class:`Path`."""
    if isinstance(value, str | os.PathLike) and str(value):
        return Path(value)
    prefix = f"{where}: " if where else ""
    raise ConfigError(f"{prefix}{name} must be a file or folder path, got {shown(value)}")


def check_formats(formats: Any, where: str = "") -> tuple[str, ...]:
    """A non-empty sequence of figure formats among :data:`FORMATS`, as a tuple."""
    prefix = f"{where}: " if where else ""
    if isinstance(formats, str):
        formats = (formats,)
    ok = isinstance(formats, Sequence) and bool(formats)
    if not ok or not all(isinstance(f, str) and f in FORMATS for f in formats):
        raise ConfigError(
            f"{prefix}formats must be a non-empty list among {', '.join(FORMATS)}; got "
            f"{shown(formats)}"
        )
    return tuple(formats)


def check_dpi(dpi: Any, where: str = "") -> int:
    """The resolution of raster figures: an integer in [1, :data:`MAX_DPI`]."""
    prefix = f"{where}: " if where else ""
    try:
        value = positive_int(dpi, "dpi")
    except InvalidInputError as exc:
        raise ConfigError(f"{prefix}{exc}") from None
    if value > MAX_DPI:
        raise ConfigError(f"{prefix}dpi must be ≤ {MAX_DPI}, got {value}")
    return value


def check_title(title: Any, name: str = "title") -> str:
    """A page or figure title: a string."""
    if not isinstance(title, str):
        raise ConfigError(f"{name} must be a string, got {shown(title)}")
    return title


def check_frame(frame: Any, name: str = "frame") -> Any:
    """A pandas DataFrame (the tidy results)."""
    if not (hasattr(frame, "columns") and hasattr(frame, "to_csv")):
        raise ConfigError(f"{name} must be a pandas DataFrame of results, got {shown(frame)}")
    return frame
