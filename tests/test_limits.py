"""finetune_bounds.limits: defaults, overrides, the environment variable."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from finetune_bounds import limits
from finetune_bounds._validation import positive_int
from finetune_bounds.errors import InvalidInputError, ResourceLimitError


def test_defaults_and_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(limits.ENV_VAR, raising=False)
    assert limits.current() == {k: float(v) for k, v in limits.DEFAULTS.items()}
    assert positive_int(10**6, "n", limit="n") == 10**6
    with pytest.raises(ResourceLimitError) as info:
        positive_int(10**6 + 1, "n", limit="n")
    msg = str(info.value)
    assert "n = 1000001" in msg and "limit of 1000000 samples" in msg and limits.ENV_VAR in msg
    assert isinstance(info.value, InvalidInputError)


@pytest.mark.parametrize(
    ("text", "n"), [("n=5", 5.0), ("n=inf", math.inf), (" draws=3 , n = 7 ", 7.0), ("", 1e6)]
)
def test_environment_variable(monkeypatch: pytest.MonkeyPatch, text: str, n: float) -> None:
    monkeypatch.setenv(limits.ENV_VAR, text)
    assert limits.current()["n"] == n


@pytest.mark.parametrize("text", ["n", "nn=3", "n=-1", "n=x", "n=0"])
def test_bad_environment_variable_is_one_line(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setenv(limits.ENV_VAR, text)
    with pytest.raises(InvalidInputError, match=limits.ENV_VAR):
        limits.current()


def test_off_and_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(limits.ENV_VAR, raising=False)
    limits.set_limits(off=True)
    assert all(math.isinf(v) for v in limits.current().values())
    with limits.override(n=5):  # one limit back on inside the block, the rest stay off
        assert limits.current()["n"] == 5 and math.isinf(limits.current()["d"])
    assert math.isinf(limits.current()["n"])
    limits.reset()
    assert limits.current()["n"] == 1e6


def test_a_raised_limit_reaches_a_child_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(limits.ENV_VAR, raising=False)
    code = "from finetune_bounds import limits; print(limits.current()['width'])"
    with limits.override(width=7):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True).stdout
    assert float(out) == 7.0
