"""The report's first section, "The answer: n*(ε)": how many target samples each route needs.

From an experiment's tidy frame, for every *route* (source × method × start/protocol, and each
combination of the other grid parameters), the error curve over the sample-size axis is read
off the grid:

* **n*(ε)** is the smallest grid sample size at which the curve (theory and bound values as
  they are, empirical values averaged over seeds) is ≤ ε: the *first* crossing, so a curve that
  dips below ε and comes back up counts at the dip. The true crossing lies between the previous
  grid point and n* (the grid's resolution). ``≤ n_min``: already reached at the first grid
  point; ``> n_max``: not reached on the grid.
* **ε levels** (:func:`epsilon_levels`): three per experiment, shared by all its routes, spread
  geometrically strictly inside the range of its theory values (the 1/4, 1/2 and 3/4 points of
  the log range between the smallest and the largest positive value), rounded to 2 significant
  digits.
* **saving**: n*_scratch / n*_pretrained for a fine-tuned route whose experiment also has the
  matching from-scratch route (``start = "scratch"``, or the ``scratch_lazy`` protocol,
  ``scratch_rich`` if there is no lazy one), at the smallest ε where the ratio is exact (both
  reached past the first grid point), else at the smallest ε where it is one-sided.

Sample-size axis and quantity per family (:data:`FAMILY_AXES`): linear and deep_linear ``n``
(``risk``); relu ``n`` (``mse``; its ``sample_complexity`` records, which already are n*(ε)
at the config's ``eps`` values, are tabulated directly); diagonal ``alpha`` with n = α·d
(``error``); infinite_width ``nu2`` with n = P₂ = round(ν₂·D), D = ``dim`` (64 for digits)
(``error``). Experiments without such an axis (one value only, or no such quantity) and phase
diagrams (more than :data:`MAX_SETTINGS` settings) are skipped with a one-line reason.

No plotting or HTML here: :mod:`.html` renders :class:`ExperimentAnswer` objects.
"""

from __future__ import annotations

import html as _html
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "FAMILY_AXES",
    "MAX_SETTINGS",
    "AnswerRow",
    "ExperimentAnswer",
    "NStar",
    "answer_frame",
    "answer_markdown",
    "answer_summary",
    "epsilon_levels",
    "experiment_answer",
    "nstar_on_grid",
    "saving_ratio",
    "write_answer_files",
]

#: family → (sample-size axis column, error quantity)
FAMILY_AXES: dict[str, tuple[str, str]] = {
    "linear": ("n", "risk"),
    "deep_linear": ("n", "risk"),
    "relu": ("n", "mse"),
    "diagonal": ("alpha", "error"),
    "infinite_width": ("nu2", "error"),
}

#: more settings (combinations of the other grid parameters) than this: a phase diagram, skipped
MAX_SETTINGS = 8

#: columns that name a route (not a setting)
_ROUTE = ("source", "method", "start", "protocol", "readout")
_CORE = frozenset({"family", "experiment", "quantity", "source", "seed", "value", "stderr",
                   *_ROUTE})
_SCRATCH_PROTOCOLS = ("scratch_lazy", "scratch_rich")
_SOURCES = ("theory", "bound", "empirical")
#: the smallest ε level range: lo ≥ FLOOR × hi
FLOOR = 1e-4
#: relative gap under which theory "agrees" with the trained models (findings)
AGREE = 0.10


def _sig(x: float, digits: int = 2) -> float:
    if x == 0 or not math.isfinite(x):
        return x
    return float(f"{x:.{digits}g}")


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def _x(x: float) -> str:
    """A ratio: 2 significant digits, whole numbers from 100 on (``3.4``, ``12``, ``1300``)."""
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.2g}"


# ---------------------------------------------------------------------------------- n* on a grid


@dataclass(frozen=True)
class NStar:
    """n*(ε) read off a grid.

    ``kind``: ``"at"`` (first reached at grid point ``value``; the crossing lies in
    ``(prev, value]``), ``"first"`` (reached at the first grid point: n* ≤ ``value``),
    ``"above"`` (not reached: n* > ``value`` = n_max), ``"direct"`` (a value given as such,
    e.g. a family's own sample-complexity record; ``stderr`` over draws if several) or
    ``"none"`` (no data).
    """

    kind: str
    value: float = math.nan
    prev: float = math.nan
    stderr: float = math.nan

    @property
    def reached(self) -> bool:
        return self.kind in ("at", "first") or (self.kind == "direct" and math.isfinite(self.value))

    def text(self) -> str:
        if self.kind == "none":
            return "—"
        if self.kind == "first":
            return f"≤ {self.value:.0f}"
        if self.kind == "above":
            return f"> {self.value:.0f}"
        if self.kind == "direct":
            if not math.isfinite(self.value):
                return f"> {self.prev:.0f}" if math.isfinite(self.prev) else "not reached"
            if math.isfinite(self.stderr) and self.stderr > 0:
                return f"{self.value:.0f} ± {self.stderr:.0f}"
            return f"{self.value:.0f}"
        return f"{self.value:.0f}"

    def bounds(self) -> tuple[float, float]:
        """(lower, upper) limits on the true n*: used by :func:`saving_ratio`."""
        if self.kind == "first":
            return 0.0, self.value
        if self.kind == "above":
            return self.value, math.inf
        if self.kind == "direct" and not math.isfinite(self.value):
            return (self.prev if math.isfinite(self.prev) else 0.0), math.inf
        if self.kind in ("at", "direct"):
            return self.value, self.value
        return math.nan, math.nan


def nstar_on_grid(ns: Sequence[float] | Any, values: Sequence[float] | Any, eps: float) -> NStar:
    """The first grid point (in increasing n) at which ``values`` is ≤ ``eps``.

    NaN values are ignored; an infinite value never counts as reached.
    """
    n = np.asarray(ns, dtype=float)
    v = np.asarray(values, dtype=float)
    keep = ~np.isnan(v) & ~np.isnan(n)
    n, v = n[keep], v[keep]
    if n.size == 0:
        return NStar("none")
    order = np.argsort(n, kind="stable")
    n, v = n[order], v[order]
    hit = np.flatnonzero(v <= eps)
    if hit.size == 0:
        return NStar("above", float(n[-1]))
    i = int(hit[0])
    if i == 0:
        return NStar("first", float(n[0]))
    return NStar("at", float(n[i]), prev=float(n[i - 1]))


def epsilon_levels(values: Iterable[float], k: int = 3) -> tuple[float, ...]:
    """``k`` ε levels strictly inside the range of ``values``, geometric, 2 significant digits.

    The levels are the interior points of ``geomspace(lo, hi, k + 2)`` (lo, hi: the smallest and
    largest positive finite values, lo at least ``FLOOR`` × hi); linear spacing when no value is
    positive. Duplicates after rounding are dropped.
    """
    v = np.asarray([float(x) for x in values], dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return ()
    pos = v[v > 0]
    if pos.size and pos.min() < pos.max():
        hi = float(pos.max())
        lo = max(float(pos.min()), hi * FLOOR)  # round-off zeros (1e-24) are not a level
        raw = np.geomspace(lo, hi, k + 2)[1:-1]
    elif v.min() < v.max():
        raw = np.linspace(v.min(), v.max(), k + 2)[1:-1]
    else:
        raw = np.array([v[0]])
    out: list[float] = []
    for x in raw:
        r = _sig(float(x))
        if r not in out:
            out.append(r)
    return tuple(sorted(out))


def saving_ratio(scratch: NStar, pretrained: NStar) -> str:
    """n*_scratch / n*_pretrained as text (``"3.4×"``, ``"> 4×"``, ``"≥ 2×"``, or ``""``)."""
    s_lo, s_hi = scratch.bounds()
    p_lo, p_hi = pretrained.bounds()
    if any(math.isnan(x) for x in (s_lo, s_hi, p_lo, p_hi)):
        return ""
    exact_s, exact_p = s_lo == s_hi, p_lo == p_hi
    if exact_s and exact_p and p_lo > 0:
        return f"{_x(s_lo / p_lo)}×"
    lo = s_lo / p_hi if p_hi > 0 and math.isfinite(p_hi) else math.nan  # the ratio is ≥ lo
    hi = s_hi / p_lo if p_lo > 0 else math.inf  # the ratio is ≤ hi
    if math.isfinite(lo) and lo > 0 and not math.isfinite(hi):
        return f"{'>' if not exact_s else '≥'} {_x(lo)}×"
    if math.isfinite(hi) and (not math.isfinite(lo) or lo == 0):
        return f"≤ {_x(hi)}×"
    if math.isfinite(lo) and math.isfinite(hi) and lo > 0:
        return f"{_x(lo)}–{_x(hi)}×"
    return ""


# ------------------------------------------------------------------------------ result objects


@dataclass(frozen=True)
class AnswerRow:
    """One route (and setting) of one experiment: n* at each ε level and the saving."""

    experiment: str
    source: str
    method: str
    start: str
    setting: str
    nstar: tuple[NStar, ...]
    saving: str = ""
    saving_eps: float = math.nan
    key: Mapping[str, Any] = field(default_factory=dict)

    @property
    def route(self) -> str:
        return _route_label(self.source, self.method, self.start)


@dataclass(frozen=True)
class ExperimentAnswer:
    """n*(ε) of every route of one experiment, its findings, or why it was skipped."""

    experiment: str
    title: str
    family: str
    quantity: str = ""
    axis: str = ""
    eps: tuple[float, ...] = ()
    rows: tuple[AnswerRow, ...] = ()
    findings: tuple[str, ...] = ()
    skipped: str = ""
    n_grid: tuple[float, ...] = ()

    @property
    def tabulated(self) -> bool:
        return not self.skipped and bool(self.rows)


# -------------------------------------------------------------------------------- route labels


def _plain_route_label(source: str, method: str, start: str) -> str:
    src = {"theory": "theory", "bound": "bound", "empirical": "trained"}.get(source, source)
    parts = [f"{src} ({method.replace('_', ' ')})" if method else src]
    if start:
        parts.append(
            {"pretrained": "fine-tuned", "scratch": "from scratch"}.get(
                start, start.replace("_", " ")
            )
        )
    return " · ".join(parts)


def _route_label(source: str, method: str, start: str) -> str:
    """A human-readable route name; uses :mod:`.labels` when that module is available."""
    try:
        from . import labels as _labels

        head = str(_labels.source_label(source, method or None))
    except Exception:  # the labels module is optional (and its API may differ)
        return _plain_route_label(source, method, start)
    if start:
        head += " · " + {"pretrained": "fine-tuned", "scratch": "from scratch"}.get(
            start, start.replace("_", " ")
        )
    return head


# ----------------------------------------------------------------------------------- derivation


def _str(x: Any) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    try:
        if pd.isna(x):
            return ""
    except (TypeError, ValueError):
        pass
    if isinstance(x, float) and x.is_integer():
        return str(int(x))
    return str(x)


def _sample_size(frame: pd.DataFrame, family: str, axis: str) -> pd.Series | None:
    """The sample size n of each row (None if the axis column is missing)."""
    if axis not in frame.columns:
        return None
    a = pd.to_numeric(frame[axis], errors="coerce")
    if family == "diagonal" and "d" in frame.columns:
        return (a * pd.to_numeric(frame["d"], errors="coerce")).round()
    if family == "infinite_width" and "dim" in frame.columns:
        dim = pd.to_numeric(frame["dim"], errors="coerce")
        if "task" in frame.columns:
            dim = dim.where(frame["task"].astype(str) != "digits", 64)
        return (a * dim).round().clip(lower=1)
    return a


def _axis_text(family: str, axis: str) -> str:
    if family == "diagonal":
        return "n = α·d (alpha × d)"
    if family == "infinite_width":
        return "n = P₂ = ν₂·D (nu2 × dim)"
    return axis


def _settings(frame: pd.DataFrame, axis: str, grid_params: Iterable[str] | None) -> list[str]:
    """Columns (besides the axis and the route) that separate curves."""
    if grid_params is not None:
        cand = [c for c in grid_params if c in frame.columns and c != axis and c not in _CORE]
        return [c for c in cand if frame[c].astype(str).nunique(dropna=False) > 1]
    out = []
    for c in frame.columns:
        if c in _CORE or c == axis or c == "_n" or frame[c].isna().any():
            continue
        col = frame[c].astype(str)
        if col.nunique() < 2:
            continue
        # varies at a fixed axis value (not a column derived from the axis)
        if (col.groupby(frame[axis]).nunique() > 1).any():
            out.append(c)
    return out


def _route_cols(frame: pd.DataFrame) -> list[str]:
    return [c for c in _ROUTE if c in frame.columns]


def _setting_text(key: Mapping[str, Any], cols: Sequence[str]) -> str:
    from .labels import column_label

    return ", ".join(f"{column_label(c)} = {_str(key[c])}" for c in cols)


def answer_order(answers: Sequence[ExperimentAnswer]) -> list[ExperimentAnswer]:
    """The first section's order: the exact one-call answers (family ``sample_complexity``)
    first, then every other experiment in the given order."""
    return sorted(answers, key=lambda a: a.family != "sample_complexity")


def experiment_answer(
    frame: pd.DataFrame,
    *,
    experiment: str = "",
    family: str = "",
    title: str = "",
    grid_params: Iterable[str] | None = None,
    eps: Sequence[float] | None = None,
) -> ExperimentAnswer:
    """n*(ε) of every route of one experiment's tidy frame (see the module docstring).

    Parameters
    ----------
    frame : DataFrame
        The tidy table (``quantity, source, seed, value`` and keys).
    experiment, family, title : str
        Defaults: read from the frame's ``experiment``/``family`` columns.
    grid_params : iterable of str, optional
        The config's grid and axis parameter names: those that vary separate settings. Default:
        every non-route column that varies at a fixed sample size and is never missing.
    eps : sequence of float, optional
        ε levels (default: :func:`epsilon_levels` of the theory values).
    """
    if not experiment and "experiment" in frame.columns and len(frame):
        experiment = str(frame["experiment"].iloc[0])
    if not family and "family" in frame.columns and len(frame):
        family = str(frame["family"].iloc[0])
    base = ExperimentAnswer(experiment=experiment, title=title or experiment, family=family)

    def skip(reason: str) -> ExperimentAnswer:
        return ExperimentAnswer(experiment=experiment, title=title or experiment, family=family,
                                skipped=reason)

    if family in ("relu", "sample_complexity") and "sample_complexity" in set(
            frame.get("quantity", ())):
        return _direct_answer(frame, base, grid_params)
    if family not in FAMILY_AXES:
        return skip(f"no sample-size axis is known for the family {family!r}")
    axis, quantity = FAMILY_AXES[family]
    sub = frame[frame["quantity"] == quantity] if "quantity" in frame.columns else frame.iloc[:0]
    if sub.empty:
        return skip(f"no {quantity!r} records (not a learning-curve experiment)")
    n = _sample_size(sub, family, axis)
    if n is None or n.nunique() < 2:
        vals = "missing" if n is None else f"a single value ({_str(sub[axis].iloc[0])})"
        return skip(f"the sample-size axis {axis!r} is {vals}: no curve over n")
    sub = sub.assign(_n=n.to_numpy())
    sub = sub[sub["_n"].notna()]
    settings = _settings(sub, axis, grid_params)
    routes = _route_cols(sub)
    if settings:
        n_settings = len(sub[settings].astype(str).drop_duplicates())
        if n_settings > MAX_SETTINGS:
            return skip(f"a phase diagram over {n_settings} settings of "
                        f"{', '.join(settings)}: n* is not tabulated (see its figures)")
    keys = routes + settings
    means = _means(sub, [*keys, "_n"])
    theory = means[means["source"] == "theory"] if "source" in means.columns else means.iloc[:0]
    levels = tuple(eps) if eps is not None else epsilon_levels(
        (theory if len(theory) else means)["value"]
    )
    if not levels:
        return skip("no finite values to choose ε from")
    rows: list[AnswerRow] = []
    curves: dict[tuple[str, ...], tuple[NStar, ...]] = {}
    for key, g in means.groupby(keys, sort=False, dropna=False) if keys else [((), means)]:
        key_t = key if isinstance(key, tuple) else (key,)
        kd = dict(zip(keys, key_t, strict=True))
        ns = tuple(nstar_on_grid(g["_n"], g["value"], e) for e in levels)
        curves[tuple(_str(kd[c]) for c in keys)] = ns
        rows.append(AnswerRow(
            experiment=experiment, source=_str(kd.get("source")), method=_str(kd.get("method")),
            start=_start_of(kd), setting=_setting_text(kd, settings), nstar=ns,
            key={c: _str(v) for c, v in kd.items()},
        ))
    rows = [_with_saving(r, rows, levels, keys) for r in rows]
    rows.sort(key=lambda r: (_source_rank(r.source), r.setting, _start_rank(r.start), r.method))
    ans = ExperimentAnswer(
        experiment=experiment, title=title or experiment, family=family, quantity=quantity,
        axis=_axis_text(family, axis), eps=levels, rows=tuple(rows),
        n_grid=tuple(sorted(float(x) for x in sub["_n"].unique())),
    )
    findings = _findings(ans, means, keys, settings)
    return ExperimentAnswer(**{**ans.__dict__, "findings": tuple(findings)})


def _means(sub: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    g = sub.assign(value=pd.to_numeric(sub["value"], errors="coerce"))
    g = g[g["value"].notna()]
    if not keys:
        return g[["value"]].mean().to_frame().T
    out = g.groupby(keys, sort=True, dropna=False)["value"].agg(["mean", "std", "count"])
    out = out.rename(columns={"mean": "value"}).reset_index()
    return out


def _start_of(kd: Mapping[str, Any]) -> str:
    prot = _str(kd.get("protocol"))
    return prot or _str(kd.get("start"))


def _source_rank(s: str) -> int:
    return _SOURCES.index(s) if s in _SOURCES else len(_SOURCES)


def _start_rank(s: str) -> int:
    order = ("pretrained", "ft", "jr_e", "jr_i", "scratch", *_SCRATCH_PROTOCOLS)
    return order.index(s) if s in order else len(order)


def _is_scratch(start: str) -> bool:
    return start == "scratch" or start in _SCRATCH_PROTOCOLS


def _with_saving(
    row: AnswerRow, rows: Sequence[AnswerRow], levels: Sequence[float], keys: Sequence[str]
) -> AnswerRow:
    if not row.start or _is_scratch(row.start):
        return row
    same = [c for c in keys if c not in ("start", "protocol", "readout")]
    cands = [r for r in rows if _is_scratch(r.start)
             and all(r.key.get(c) == row.key.get(c) for c in same)]
    if not cands:
        return row
    pref = ("scratch", "scratch_lazy", "scratch_rich")
    cands.sort(key=lambda r: pref.index(r.start) if r.start in pref else 9)
    scratch = cands[0]
    found = [(e, saving_ratio(sc, p)) for e, sc, p in zip(levels, scratch.nstar, row.nstar,
                                                          strict=True) if p.reached]
    found = [(e, t) for e, t in found if t]
    if not found:
        return row
    # the smallest ε with an exact ratio; else the smallest ε with a one-sided one
    e, text = next(((e, t) for e, t in found if t[0].isdigit()), found[0])
    vs = "" if scratch.start == "scratch" else f" vs {scratch.start}"
    return AnswerRow(**{**row.__dict__, "saving": f"{text}{vs} at ε = {_fmt(e)}",
                        "saving_eps": e})


def _direct_answer(
    frame: pd.DataFrame, base: ExperimentAnswer, grid_params: Iterable[str] | None
) -> ExperimentAnswer:
    """The relu family's own ``sample_complexity`` records: n*(ε) per draw, as they are."""
    sub = frame[frame["quantity"] == "sample_complexity"]
    sub = sub.assign(value=pd.to_numeric(sub["value"], errors="coerce"))
    levels = tuple(sorted(float(e) for e in pd.to_numeric(sub["eps"]).dropna().unique()))
    routes = _route_cols(sub)
    settings = [c for c in _settings(sub.assign(_e=sub["eps"]), "eps", grid_params)
                if c not in ("n_max",)]
    keys = routes + settings
    rows = []
    for key, g in sub.groupby(keys, sort=False, dropna=False):
        key_t = key if isinstance(key, tuple) else (key,)
        kd = dict(zip(keys, key_t, strict=True))
        ns = []
        for e in levels:
            v = g[np.isclose(pd.to_numeric(g["eps"]), e)]["value"].to_numpy(dtype=float)
            n_max = float(pd.to_numeric(g["n_max"]).max()) if "n_max" in g.columns else math.nan
            if v.size == 0:
                ns.append(NStar("none"))
            elif not np.all(np.isfinite(v)):
                ns.append(NStar("direct", math.inf, prev=n_max))
            else:
                se = float(np.std(v, ddof=1) / np.sqrt(v.size)) if v.size > 1 else math.nan
                ns.append(NStar("direct", float(v.mean()), stderr=se))
        rows.append(AnswerRow(
            experiment=base.experiment, source=_str(kd.get("source")),
            method=_str(kd.get("method")), start=_start_of(kd),
            setting=_setting_text(kd, settings), nstar=tuple(ns),
            key={c: _str(v) for c, v in kd.items()},
        ))
    rows = [_with_saving(r, rows, levels, keys) for r in rows]
    rows.sort(key=lambda r: (_source_rank(r.source), r.setting, _start_rank(r.start), r.method))
    ans = ExperimentAnswer(
        experiment=base.experiment, title=base.title, family=base.family,
        quantity="sample_complexity", axis="n (the family's own n*(ε) records)", eps=levels,
        rows=tuple(rows),
    )
    return ExperimentAnswer(**{**ans.__dict__, "findings": tuple(_direct_findings(ans))})


# ------------------------------------------------------------------------------------- findings


def _pct(x: float) -> str:
    return f"{_x(100 * x)} %"


def _findings(
    ans: ExperimentAnswer, means: pd.DataFrame, keys: Sequence[str], settings: Sequence[str]
) -> list[str]:
    out = []
    agree = _agreement(means, keys)
    if agree:
        out.append(agree)
    saving = _saving_sentence(ans)
    if saving:
        out.append(saving)
    bound = _bound_sentence(means, keys, ans)
    if bound:
        out.append(bound)
    return out


def _agreement(means: pd.DataFrame, keys: Sequence[str]) -> str:
    """Theory vs trained-model means at matching keys (same setting, start/protocol, n)."""
    if "source" not in means.columns:
        return ""
    match = [c for c in keys if c not in ("source", "method", "readout")] + ["_n"]
    th = means[means["source"] == "theory"]
    em = means[means["source"] == "empirical"]
    if th.empty or em.empty:
        return ""
    best: tuple[int, str, pd.DataFrame] | None = None
    for m, t in th.groupby("method", sort=True) if "method" in th.columns else [("", th)]:
        j = em.merge(t[[*match, "value"]], on=match, suffixes=("", "_theory"))
        if best is None or len(j) > best[0]:
            best = (len(j), str(m), j)
    if best is None or best[0] == 0:
        return ""
    _, method, j = best
    den = j["value_theory"].abs()
    # round-off zeros of the theory (e.g. 1e-24 past interpolation) make no relative gap
    den = den.where(den > 1e-9 * float(den.max()), np.nan) if len(den) else den
    gap = ((j["value"] - j["value_theory"]).abs() / den).dropna()
    if gap.empty:
        return ""
    emp_methods = ", ".join(sorted({_str(x) for x in j.get("method", pd.Series([""]))} - {""}))
    inside = int((gap <= AGREE).sum())
    who = f"theory ({method})" if method else "theory"
    by = f"trained models ({emp_methods})" if emp_methods else "trained models"
    return (f"{who} vs {by}, mean over seeds: within {_pct(AGREE)} on {inside}/{len(gap)} "
            f"points (median relative gap {_pct(float(gap.median()))}, "
            f"largest {_pct(float(gap.max()))}).")


def _saving_sentence(ans: ExperimentAnswer, most: int = 4) -> str:
    for source in ("theory", "empirical"):
        rows = [r for r in ans.rows if r.source == source and r.saving]
        if not rows:
            continue
        what = "theory" if source == "theory" else "trained models"
        items = []
        for r in rows:
            who = ", ".join(x for x in (r.route if len(rows) > 1 else "", r.setting) if x)
            items.append(r.saving + (f" ({who})" if who else ""))
        more = f" and {len(items) - most} more" if len(items) > most else ""
        exact = [r for r in rows if r.saving[0].isdigit()]
        below = exact and all(float(r.saving.split("×")[0]) < 1 for r in exact)
        head = ("pretraining does not save samples here: n*_scratch / n*_pretrained = "
                if below else "pretraining saves n*_scratch / n*_pretrained = ")
        how = "n* exact" if "own n*(ε) records" in ans.axis else "read off the grid"
        return (f"{head}{'; '.join(items[:most])}{more} ({what}, {how}).")
    return ""


def _bound_sentence(means: pd.DataFrame, keys: Sequence[str], ans: ExperimentAnswer) -> str:
    """Bound / theory at the largest sample size where both exist (median over settings)."""
    if "source" not in means.columns:
        return ""
    bd = means[means["source"] == "bound"]
    th = means[means["source"] == "theory"]
    if bd.empty or th.empty:
        return ""
    match = [c for c in keys if c not in ("source", "method", "readout", "start", "protocol")]
    th_pt = th
    if "start" in th.columns and (th["start"].astype(str) == "pretrained").any():
        th_pt = th[th["start"].astype(str) == "pretrained"]
    if "method" in th_pt.columns and th_pt["method"].nunique() > 1:
        th_pt = th_pt[th_pt["method"] == th_pt["method"].value_counts().index[0]]
    ref = th_pt[[*match, "_n", "value"]]
    j = bd.merge(ref, on=[*match, "_n"], suffixes=("", "_theory"))
    if j.empty:
        return ""
    n_top = float(j["_n"].max())
    j = j[j["_n"] == n_top]
    parts = []
    for m, g in j.groupby("method", sort=True) if "method" in j.columns else [("", j)]:
        r = (g["value"] / g["value_theory"].replace(0.0, np.nan)).dropna()
        if r.empty:
            continue
        parts.append(f"{_x(float(r.median()))}× ({_str(m) or 'bound'})")
    if not parts:
        return ""
    many = " (median over settings)" if match and len(j) > len(parts) else ""
    return f"at n = {n_top:.0f} the bounds are {', '.join(parts)} the theory{many}."


def _direct_findings(ans: ExperimentAnswer) -> list[str]:
    out = []
    saving = _saving_sentence(ans)
    if saving:
        out.append(saving)
    th = [r for r in ans.rows if r.source == "theory" and r.start in ("", "pretrained")]
    bd = [r for r in ans.rows if r.source == "bound" and r.start in ("", "pretrained")]
    ratios: dict[str, list[tuple[float, float]]] = {}
    for b in bd:
        t = next((r for r in th if r.setting == b.setting), None)
        if t is None:
            continue
        for e, nb, nt in zip(ans.eps, b.nstar, t.nstar, strict=True):
            if nb.reached and nt.reached and nt.value > 0:
                ratios.setdefault(b.method, []).append((e, nb.value / nt.value))
    parts = []
    for m, rs in sorted(ratios.items()):
        e = max(x[0] for x in rs)
        vals = [r for x, r in rs if x == e]
        parts.append(f"{_x(float(np.median(vals)))}× ({m}, ε = {_fmt(e)})")
    if parts:
        out.append("fine-tuned, the bounds need " + ", ".join(parts)
                   + " the samples of the theory predictor (median over settings).")
    unreached = sum(1 for r in ans.rows for x in r.nstar if x.kind == "direct" and not x.reached)
    total = sum(1 for r in ans.rows for x in r.nstar if x.kind == "direct")
    if unreached:
        out.append(f"{unreached}/{total} route × ε entries are not reached within n_max.")
    return out


# ----------------------------------------------------------------------------------- rendering


def _eps_header(e: float) -> str:
    return f"ε = {_fmt(e)}"


def answer_frame(answers: Sequence[ExperimentAnswer]) -> pd.DataFrame:
    """One row per experiment × route × ε (machine-readable, for ``answer.csv``)."""
    recs = []
    for a in answers:
        for r in a.rows:
            for e, ns in zip(a.eps, r.nstar, strict=True):
                recs.append({
                    "experiment": a.experiment, "family": a.family, "quantity": a.quantity,
                    "axis": a.axis, "source": r.source, "method": r.method, "start": r.start,
                    "setting": r.setting, "route": r.route, "eps": e, "n_star": ns.text(),
                    "kind": ns.kind, "n_star_value": ns.value, "n_prev": ns.prev,
                    "stderr": ns.stderr, "saving": r.saving,
                })
    cols = ["experiment", "family", "quantity", "axis", "source", "method", "start", "setting",
            "route", "eps", "n_star", "kind", "n_star_value", "n_prev", "stderr", "saving"]
    return pd.DataFrame.from_records(recs, columns=cols)


RULES = (
    "n*(ε) is the smallest sample size on the experiment's grid at which the error curve "
    "(theory and bounds as computed; trained models: the mean over seeds) is ≤ ε, scanning n "
    "upwards (the first crossing). It is read off the grid: the true crossing lies between the "
    "previous grid point and n*. '≤ n' means reached at the first grid point, '> n' not reached "
    "on the grid. ε levels: per experiment, the 1/4, 1/2 and 3/4 points of the log range of its "
    "theory values, to 2 significant digits. Saving: n*_scratch / n*_pretrained against the "
    "matching from-scratch route, at the smallest ε where the ratio is exact, else where it is "
    "one-sided ('> 4×': scratch does not reach ε on the grid)."
)


def _md_cell(s: str) -> str:
    return s.replace("|", "\\|")


def answer_markdown(answers: Sequence[ExperimentAnswer]) -> str:
    """The answer section as Markdown (``answer.md``)."""
    lines = ["# The answer: n*(ε)", "", RULES, ""]
    for a in answer_order(answers):
        if not a.tabulated:
            continue
        lines += [f"## {a.title} (`{a.experiment}`)", "",
                  f"quantity `{a.quantity}`, sample size {a.axis}", ""]
        head = ["route", "setting", *(_eps_header(e) for e in a.eps), "saving"]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "|".join("---" for _ in head) + "|")
        for r in a.rows:
            cells = [r.route, r.setting, *(x.text() for x in r.nstar), r.saving]
            lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
        lines.append("")
        lines += [f"- {f}" for f in a.findings]
        lines.append("")
    skipped = [a for a in answers if not a.tabulated]
    if skipped:
        lines += ["## Not tabulated", ""]
        lines += [f"- `{a.experiment}`: {a.skipped or 'no routes'}" for a in skipped]
        lines.append("")
    return "\n".join(lines)


def write_answer_files(
    answers: Sequence[ExperimentAnswer], out_dir: str | Path
) -> tuple[Path, Path]:
    """Write ``answer.md`` and ``answer.csv`` into ``out_dir``; return their paths."""
    out = Path(out_dir)
    md, csv = out / "answer.md", out / "answer.csv"
    md.write_text(answer_markdown(answers), encoding="utf-8")
    answer_frame(answers).to_csv(csv, index=False)
    return md, csv


def answer_summary(answers: Sequence[ExperimentAnswer], *, width: int = 100) -> str:
    """A few plain-text lines: per tabulated experiment its ε levels and first finding."""
    lines = []
    for a in answer_order(answers):
        if not a.tabulated:
            continue
        theory = [r for r in a.rows if r.source == "theory"] or list(a.rows)
        r = theory[0]
        eps = ", ".join(f"{_fmt(e)}: {x.text()}" for e, x in zip(a.eps, r.nstar, strict=True))
        line = f"{a.experiment}: n*(ε) [{r.route}{'; ' + r.setting if r.setting else ''}] {eps}"
        if r.saving:
            line += f"; saving {r.saving}"
        lines.append(line if len(line) <= width else line[: width - 1] + "…")
    return "\n".join(lines)


def answer_html(answers: Sequence[ExperimentAnswer], links: Callable[[str], str] | None = None
                ) -> str:
    """The first section of the page (escaped; ``links`` maps an experiment to its anchor)."""
    e = _html.escape
    shown = [a for a in answers if a.tabulated]
    k = max((len(a.eps) for a in shown), default=0)
    parts = ['<section id="answer">', "<h2>The answer: n*(ε)</h2>",
             f'<p class="note">{e(RULES)}</p>']
    if shown:
        head = "".join(f'<th class="num">n*(ε{_sub(i + 1)})</th>' for i in range(k))
        parts.append('<div class="table-wrap"><table class="results answer">')
        parts.append(f"<thead><tr><th>route</th><th>setting</th>{head}<th>saving</th></tr></thead>")
        for a in shown:
            anchor = links(a.experiment) if links else f"#{a.experiment}"
            eps = "".join(f'<th class="num">{e(_eps_header(x))}</th>' for x in a.eps)
            eps += "<th></th>" * (k - len(a.eps))
            parts.append(
                f'<tbody><tr class="group"><th colspan="2"><a href="{e(anchor)}">{e(a.title)}</a>'
                f' <span class="note">({e(a.quantity)} vs {e(a.axis)})</span></th>{eps}'
                "<th></th></tr>"
            )
            for r in a.rows:
                cells = "".join(f'<td class="num">{e(x.text())}</td>' for x in r.nstar)
                cells += "<td></td>" * (k - len(r.nstar))
                parts.append(f"<tr><th>{e(r.route)}</th><td>{e(r.setting)}</td>{cells}"
                             f'<td class="num">{e(r.saving)}</td></tr>')
            parts.append("</tbody>")
        parts.append("</table></div>")
        parts.append("<h3>Findings</h3><ul class=\"findings\">")
        for a in shown:
            if a.findings:
                items = " ".join(e(f) for f in a.findings)
                parts.append(f"<li><b>{e(a.title)}</b>: {items}</li>")
        parts.append("</ul>")
    else:
        parts.append('<p class="note">No experiment has a curve over the sample size.</p>')
    skipped = [a for a in answers if not a.tabulated]
    if skipped:
        items = "".join(f"<li><code>{e(a.experiment)}</code>: {e(a.skipped or 'no routes')}</li>"
                        for a in skipped)
        parts.append(f'<details><summary>Not tabulated ({len(skipped)})</summary>'
                     f'<ul class="notes note">{items}</ul></details>')
    parts.append("</section>")
    return "\n".join(parts)


def _sub(i: int) -> str:
    return "".join("₀₁₂₃₄₅₆₇₈₉"[int(c)] for c in str(i))
