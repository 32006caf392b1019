"""The one place that decides BLAS threads (issue 15, item 1): settings, overrides, the limits
the library applies around its batched linear algebra, and the executors' workers."""

from __future__ import annotations

import os

import numpy as np
import pytest
import scipy.linalg  # noqa: F401 - its OpenBLAS is loaded before any limit is measured
from threadpoolctl import threadpool_info, threadpool_limits

from finetune_bounds import threads
from finetune_bounds.errors import FinetuneBoundsError, InvalidInputError


def _blas_counts() -> set[int]:
    return {int(i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas"}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(threads.ENV_VAR, raising=False)


def test_defaults_configure_override_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    assert threads.current() == {"small": 1, "workers": 1}
    threads.configure(small=2)
    assert threads.current() == {"small": 2, "workers": 1}
    assert os.environ[threads.ENV_VAR] == "small=2"  # inherited by workers started now
    with threads.override(workers=None):
        assert threads.current() == {"small": 2, "workers": None}
    assert threads.current()["workers"] == 1
    threads.reset()
    assert threads.ENV_VAR not in os.environ
    monkeypatch.setenv(threads.ENV_VAR, "off")
    assert threads.current() == {"small": None, "workers": None}
    monkeypatch.setenv(threads.ENV_VAR, " workers = 3 , small=off")
    assert threads.current() == {"small": None, "workers": 3}


@pytest.mark.parametrize("text", ["small", "small=0", "small=x", "cores=2", "small=1.5",
                                  "workers=-1", "small=5000"])
def test_bad_environment_is_a_typed_error(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setenv(threads.ENV_VAR, text)
    with pytest.raises(InvalidInputError, match=threads.ENV_VAR) as info:
        threads.current()
    if "=" in text and text.split("=")[0] in threads.DEFAULTS:  # the value as given
        assert repr(text.split("=")[1]) in str(info.value)


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "two", [1], float("nan")])
def test_bad_settings_are_typed_errors(value: object) -> None:
    with pytest.raises(FinetuneBoundsError):
        threads.configure(small=value)
    with pytest.raises(FinetuneBoundsError):
        with threads.blas_threads(value):  # type: ignore[arg-type]
            pass
    assert threads.ENV_VAR not in os.environ  # nothing was changed by the failed call
    with pytest.raises(InvalidInputError, match="unknown thread setting"):
        threads.configure(cores=1)


def test_blas_threads_limits_and_restores() -> None:
    with threadpool_limits(limits=2, user_api="blas"):
        before = _blas_counts()
        with threads.blas_threads(1):
            assert _blas_counts() == {1}
        assert _blas_counts() == before
        with threads.blas_threads(None):  # None: no change
            assert _blas_counts() == before


def test_small_blas_applies_the_small_setting_once() -> None:
    seen: list[set[int]] = []

    @threads.small_blas
    def inner(x: np.ndarray) -> float:
        seen.append(_blas_counts())
        return float(np.linalg.svd(x, compute_uv=False)[0])

    @threads.small_blas
    def outer(x: np.ndarray) -> float:
        return inner(x) + inner(x)

    x = np.eye(3)
    with threadpool_limits(limits=2, user_api="blas"):
        before = _blas_counts()
        assert outer(x) == 2.0
        assert seen == [{1}, {1}]
        assert _blas_counts() == before  # the caller's choice is back
        with threads.override(small=None):  # leave the BLAS alone
            inner(x)
        assert seen[-1] == before
    assert inner.__name__ == "inner" and inner.__wrapped__ is not None  # type: ignore[attr-defined]


def test_small_blas_restores_after_an_exception() -> None:
    @threads.small_blas
    def boom() -> None:
        raise InvalidInputError("bad")

    with threadpool_limits(limits=2, user_api="blas"):
        before = _blas_counts()
        with pytest.raises(InvalidInputError):
            boom()
        assert _blas_counts() == before
        assert boom.__wrapped__ is not None  # type: ignore[attr-defined]


def test_worker_env_and_describe() -> None:
    assert threads.worker_env() == dict.fromkeys(threads.BLAS_VARS, "1")
    with threads.override(workers=None):
        assert threads.worker_env() == {}
    text = threads.describe()
    assert "thread(s)" in text and "openblas" in text.lower()


def test_process_workers_follow_the_workers_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from _toy_family import worker_env
    from finetune_bounds.sweep.executors import ProcessExecutor

    for k in threads.BLAS_VARS:
        monkeypatch.delenv(k, raising=False)
    with threads.override(workers=2), ProcessExecutor(1) as ex:
        (_, (env, counts)), = list(ex.imap_unordered(worker_env, [0]))
    assert env == dict.fromkeys(threads.BLAS_VARS, "2")
    assert counts and all(c <= 2 for c in counts)

