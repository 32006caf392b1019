"""PyTorch for the nonlinear tests, imported on first use (not at collection: importing torch
costs each xdist worker ~3 s), and the skip marker for machines without the extra."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

import pytest

HAVE_TORCH = importlib.util.find_spec("torch") is not None
skip_without_torch = pytest.mark.skipif(
    not HAVE_TORCH, reason="the nonlinear family needs PyTorch (pip install -e '.[torch]')"
)


class _LazyTorch:
    def __getattr__(self, name: str) -> Any:
        return getattr(importlib.import_module("torch"), name)


torch: Any = _LazyTorch()
