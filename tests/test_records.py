"""Tidy records: record, to_frame, summarize (standard error checked by hand)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import finetune_bounds as fb
from finetune_bounds.records import CORE_COLUMNS, SOURCES, record, summarize, to_frame


def test_record_row() -> None:
    row = record("risk", np.float32(0.25), "empirical", n=10, seed=3, method="gd")
    assert row == {"quantity": "risk", "source": "empirical", "value": 0.25, "n": 10, "seed": 3,
                   "method": "gd"}
    assert isinstance(row["value"], float)
    assert record("variance", math.inf, "theory")["value"] == math.inf
    assert set(SOURCES) == {"theory", "bound", "empirical"}


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("risk", 1.0, "simulation"), "source must be one of"),
        (("risk", 1.0, None), "source must be one of"),
        (("risk", math.nan, "theory"), "NaN"),
        (("risk", "high", "theory"), "must be a number"),
        (("risk", None, "theory"), "must be a number"),
        (("", 1.0, "theory"), "quantity"),
        ((3, 1.0, "theory"), "quantity"),
    ],
)
def test_record_rejects(args: tuple, match: str) -> None:
    with pytest.raises(fb.InvalidInputError, match=match):
        record(*args)


def test_to_frame_column_order_and_defaults() -> None:
    rows = [
        record("risk", 1.0, "theory", n=5, d=20),
        record("risk", 1.5, "empirical", n=5, seed=0, d=20, method="gd"),
        record("risk", 1.7, "empirical", n=5, seed=1, d=20, method="gd"),
    ]
    df = to_frame(rows)
    assert list(df.columns[: len(CORE_COLUMNS)]) == list(CORE_COLUMNS)
    assert list(df.columns[len(CORE_COLUMNS):]) == ["n", "d", "method"]  # n is not core
    assert df["seed"].tolist() == [-1, 0, 1]  # the theory row gets seed -1
    assert df["seed"].dtype == np.int64
    assert df["family"].isna().all() and df["experiment"].isna().all()
    assert df["value"].tolist() == [1.0, 1.5, 1.7]
    empty = to_frame([])
    assert list(empty.columns) == list(CORE_COLUMNS) and len(empty) == 0


def test_summarize_stderr_matches_manual() -> None:
    rng = np.random.default_rng(0)
    rows = []
    values: dict[tuple[int, str], list[float]] = {}
    for n in (5, 10):
        for method in ("gd", "closed_form"):
            k = 7 if method == "gd" else 4
            vals = rng.normal(1.0 / n, 0.1, size=k)
            values[(n, method)] = list(vals)
            rows += [record("risk", v, "empirical", n=n, seed=i, method=method)
                     for i, v in enumerate(vals)]
        rows.append(record("risk", 1.0 / n, "theory", n=n, method="deterministic"))
    df = to_frame(rows)
    out = summarize(df, by=["n", "method", "source"])
    assert list(out.columns) == ["n", "method", "source", "mean", "count", "stderr"]
    for (n, method), vals in values.items():
        row = out[(out["n"] == n) & (out["method"] == method)].iloc[0]
        a = np.asarray(vals)
        manual_se = math.sqrt(sum((v - a.mean()) ** 2 for v in a) / (a.size - 1)) / math.sqrt(
            a.size
        )
        assert row["mean"] == pytest.approx(a.mean(), rel=1e-12)
        assert row["stderr"] == pytest.approx(manual_se, rel=1e-12)
        assert row["count"] == a.size
    theory = out[out["source"] == "theory"]
    assert (theory["stderr"] == 0.0).all() and (theory["count"] == 1).all()


def test_summarize_default_keys_ignore_seed_and_keep_na_groups() -> None:
    rows = [record("risk", v, "empirical", n=3, seed=i) for i, v in enumerate([1.0, 2.0, 4.0])]
    rows.append(record("bias", 0.5, "theory"))  # n missing → NA group kept
    out = summarize(to_frame(rows))
    assert "seed" not in out.columns and "value" not in out.columns
    assert len(out) == 2
    risk = out[out["quantity"] == "risk"].iloc[0]
    assert risk["mean"] == pytest.approx(7 / 3)
    assert risk["stderr"] == pytest.approx(np.std([1.0, 2.0, 4.0], ddof=1) / math.sqrt(3))
    assert out[out["quantity"] == "bias"]["n"].isna().all()


def test_summarize_infinite_values() -> None:
    rows = [record("variance", math.inf, "empirical", seed=i, n=1) for i in range(2)]
    rows.append(record("variance", math.inf, "theory", n=1))
    out = summarize(to_frame(rows), by=["quantity", "source", "n"])
    emp = out[out["source"] == "empirical"].iloc[0]
    th = out[out["source"] == "theory"].iloc[0]
    assert emp["mean"] == math.inf and emp["stderr"] == math.inf
    assert th["mean"] == math.inf and th["stderr"] == 0.0
    assert not out[["mean", "stderr"]].isna().any().any()


def test_summarize_rejects_bad_frames() -> None:
    df = to_frame([record("risk", 1.0, "theory")])
    with pytest.raises(fb.InvalidInputError, match="not in the frame"):
        summarize(df, by=["nope"])
    with pytest.raises(fb.InvalidInputError, match="value"):
        summarize(pd.DataFrame({"a": [1]}))
    with pytest.raises(fb.InvalidInputError, match="at least one"):
        summarize(df, by=[])
