"""One question, one call: n*(ε) for a problem, per model and route (private; public as
:func:`finetune_bounds.sample_complexity`).

How many target samples does fine-tuning need to reach error ε, and how many would training from
scratch need? :func:`sample_complexity` answers for a :class:`~finetune_bounds.LinearTask` (Σ, θ_S,
θ_T, label noise) and one or more models, by every route the theory offers:

========  ==========================================================================================
route     meaning
========  ==========================================================================================
theory    the exact (or deterministic-equivalent / Monte Carlo) expected error of the model's
          converged fine-tuned predictor, scanned in n (the first n with E[error] ≤ ε)
bound     a guaranteed upper bound (every design; relu: with probability 1 − δ) reaching ε
rate      a rate with a free constant (C = 1): not a guarantee, an order of magnitude
trained   actually training the model on sampled data over seeds (mean over seeds ≤ ε), on a
          geometric grid of n refined by bisection
========  ==========================================================================================

each for ``start = "pretrained"`` (fine-tuning from θ_S) and ``"scratch"`` (from zero / a fresh
initialisation); the saving is n*_scratch / n*_pretrained.

The per-family functions stay the implementation (``linear.sample_complexity``,
``deep_linear.risk_curve``, ``relu.theory_sample_complexity``, ``relu.simulate_cell`` …); this
module only chooses them, scans, and labels the answers.

Errors: ε is on each model's own error scale — the population risk E(f(x) − θ_Tᵀx)² for
``linear`` and ``deep_linear`` (spec linear-teachers §2–3), the test clipped absolute error
min(|f − y|, 1) for ``relu`` (inputs z/‖z‖, z ~ N(0, Σ); §4, the loss of its bound).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._numerics import stderr as _stderr
from ._validation import FloatArray, boolean, nonneg_float, positive_int
from .errors import InvalidInputError, SolverError
from .problems import LinearTask

__all__ = [
    "MODELS",
    "ROUTES",
    "RouteAnswer",
    "SampleComplexityAnswer",
    "parse_model",
    "sample_complexity",
]

#: the models :func:`sample_complexity` knows, as accepted in ``model=``
MODELS: tuple[str, ...] = ("linear", "deep_linear", "relu")
#: the routes, in the order every answer lists them
ROUTES: tuple[str, ...] = ("theory", "bound", "rate", "trained")
STARTS: tuple[str, str] = ("pretrained", "scratch")

#: which tidy ``source`` each route's records carry (the package's three sources)
_SOURCE = {"theory": "theory", "bound": "bound", "rate": "bound", "trained": "empirical"}
_REL_SLACK = 1e-12  # ties count as reached (as in linear.sample_complexity)
_TRAINED_CAP = 4096  # default largest n of a trained scan when the theory gives no scale
_RELU_TRAINED_CAP = 400  # ... of relu networks (GD costs O(n·m·d) per step)

Progress = Callable[[str], None]


# ---------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RouteAnswer:
    """n*(ε) of one model, route, start and ε.

    Attributes
    ----------
    model : str
        ``"linear"``, ``"deep_linear:L"`` (L an integer or ``inf``) or ``"relu"``.
    route : str
        ``"theory"``, ``"bound"`` (guaranteed), ``"rate"`` (free constant C = 1) or
        ``"trained"`` (networks trained over seeds).
    start : str
        ``"pretrained"`` (fine-tuning from θ_S) or ``"scratch"``.
    method : str
        The formula or procedure (vocabulary ``method``: ``deterministic``, ``isotropic``,
        ``weights``, ``monte_carlo``, ``naive``, ``benign``, ``head_tail``, ``data_dependent``,
        ``worst_case``, ``ntk_limit``, ``closed_form``, ``gd``, ``network`` …).
    eps : float
    n : int or None
        The first n whose error is ≤ ε; None when not reached up to ``n_max`` or not available.
    reachable : bool
    available : bool
        False when the route does not apply to this problem (``reason`` says why; e.g. the
        deep-linear theory is for noiseless labels).
    error : float or None
        The error at ``n`` (mean over draws or seeds for randomised routes).
    error_stderr : float or None
        Its standard error (randomised routes).
    n_spread : float or None
        Standard error of n* over independent draws (relu theory and bounds: one n* per design),
        None when n* is deterministic or read off a mean curve.
    quantity : str
        The error measured: ``"risk"`` or ``"mae"``.
    n_max : int or None
        The largest n scanned (None: unbounded closed-form scan).
    curve : tuple of (int, float)
        The (n, error) points the answer was read from (for trained routes: the grid and the
        bisection points, mean over seeds).
    seeds : int
        Seeds (trained) or draws (Monte Carlo theory) behind the answer; 0 for exact routes.
    reason : str
        Why ε was not reached, or why the route is not available.
    """

    model: str
    route: str
    start: str
    method: str
    eps: float
    n: int | None
    reachable: bool
    quantity: str
    available: bool = True
    error: float | None = None
    error_stderr: float | None = None
    n_spread: float | None = None
    n_max: int | None = None
    curve: tuple[tuple[int, float], ...] = ()
    seeds: int = 0
    reason: str = ""

    @property
    def source(self) -> str:
        """The tidy ``source`` of this route: theory, bound (bounds and rates) or empirical."""
        return _SOURCE[self.route]


@dataclass(frozen=True)
class SampleComplexityAnswer:
    """Every route's n*(ε) for one problem: :func:`sample_complexity`'s result.

    Attributes
    ----------
    answers : tuple of RouteAnswer
        One per model × route × method × start × ε (routes that do not apply are present with
        ``available=False``).
    eps : tuple of float
    models : tuple of str
    """

    answers: tuple[RouteAnswer, ...]
    eps: tuple[float, ...]
    models: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())

    def get(
        self,
        model: str | None = None,
        route: str = "theory",
        *,
        start: str = "pretrained",
        eps: float | None = None,
        method: str | None = None,
    ) -> RouteAnswer:
        """The answer of one model (default: the first), route, start, ε (default: the first)
        and method (default: the first of that route).

        Raises
        ------
        InvalidInputError
            No such answer (the message lists what there is).
        """
        model = self.models[0] if model is None else _canonical(model)
        e = self.eps[0] if eps is None else float(eps)
        for a in self.answers:
            if (a.model == model and a.route == route and a.start == start and a.eps == e
                    and (method is None or a.method == method)):
                return a
        have = sorted({(a.model, a.route, a.start, a.method) for a in self.answers})
        raise InvalidInputError(
            f"no answer for model={model!r}, route={route!r}, start={start!r}, eps={e:g}"
            f"{'' if method is None else f', method={method!r}'}; there are: {have}"
        )

    def saving(self, model: str | None = None, route: str = "theory", *,
               eps: float | None = None, method: str | None = None) -> float | None:
        """n*_scratch / n*_pretrained for one model, route and ε: how many times fewer target
        samples pretraining needs (``inf`` when scratch does not reach ε and fine-tuning does;
        None when neither reaches it or the route has no scratch counterpart)."""
        try:
            pre = self.get(model, route, start="pretrained", eps=eps, method=method)
            scr = self.get(model, route, start="scratch", eps=eps, method=pre.method)
        except InvalidInputError:
            return None
        return _ratio(scr, pre)

    def frame(self) -> Any:
        """Tidy records (pandas): one row per answer, ``quantity = "sample_complexity"``
        (value n*, ``inf`` when not reached) and one ``quantity = "saving"`` row per pair of
        starts, with the columns of every ``--output``: keys (``model``, ``source``, ``method``,
        ``start``, ``eps``), ``mean``, ``stderr``, ``count``, and ``reachable``,
        ``error``, ``n_max``, ``reason``. Routes that do not apply are left out."""
        import pandas as pd

        rows: list[dict[str, Any]] = []
        for a in self.answers:
            if not a.available:
                continue
            rows.append({
                "model": a.model, "quantity": "sample_complexity", "source": a.source,
                "route": a.route, "method": a.method, "start": a.start, "eps": a.eps,
                "mean": float(a.n) if a.n is not None else math.inf,
                "stderr": a.n_spread if a.n_spread is not None else math.nan,
                "count": a.seeds if a.seeds else 1, "reachable": a.reachable,
                "error": a.error if a.error is not None else math.nan,
                "error_quantity": a.quantity,
                "n_max": a.n_max if a.n_max is not None else math.nan, "reason": a.reason,
            })
            if a.start == "pretrained":
                s = self.saving(a.model, a.route, eps=a.eps, method=a.method)
                if s is not None:
                    rows.append({
                        "model": a.model, "quantity": "saving", "source": a.source,
                        "route": a.route, "method": a.method, "start": "pretrained",
                        "eps": a.eps, "mean": s, "stderr": math.nan,
                        "count": a.seeds if a.seeds else 1, "reachable": a.reachable,
                        "error": math.nan, "error_quantity": a.quantity,
                        "n_max": a.n_max if a.n_max is not None else math.nan, "reason": "",
                    })
        return pd.DataFrame(rows)

    def table(self) -> str:
        """A readable text table: one row per model, route and method; per ε the n* from the
        pretrained weights, from scratch, and the saving."""
        return "\n".join(_text_table(self))

    def __str__(self) -> str:
        return self.table()


def _ratio(scr: RouteAnswer, pre: RouteAnswer) -> float | None:
    if not (pre.available and scr.available):
        return None
    if pre.n is None:
        return None
    if scr.n is None:
        return math.inf
    if pre.n == 0:  # the pretrained model is already within ε
        return 1.0 if scr.n == 0 else math.inf
    return scr.n / pre.n


# ---------------------------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------------------------
_MODEL = re.compile(r"^(linear|deep[-_]linear|relu)(?::(.+))?$")


def parse_model(spec: Any) -> tuple[str, float | None]:
    """``"linear"``, ``"deep-linear:3"`` (or ``deep_linear:inf``, or ``("deep_linear", 3)``),
    ``"relu"`` → (family, depth or None).

    Raises
    ------
    InvalidInputError
        Unknown model, a deep-linear model without a depth ≥ 1, a depth on another model.
    """
    if isinstance(spec, tuple) and len(spec) == 2:
        spec = f"{spec[0]}:{spec[1]}"
    if not isinstance(spec, str):
        raise InvalidInputError(
            f"model must be a string like 'linear', 'deep-linear:3' or 'relu', got {spec!r}"
        )
    m = _MODEL.match(spec.strip().lower())
    if m is None:
        raise InvalidInputError(
            f"unknown model {spec!r}: expected 'linear', 'deep-linear:L' (L ≥ 1 or inf) or "
            f"'relu' (the diagonal and infinite-width families answer through their own "
            f"functions and the report)"
        )
    fam = m.group(1).replace("-", "_")
    arg = m.group(2)
    if fam == "deep_linear":
        if arg is None:
            raise InvalidInputError(
                f"model {spec!r} needs a depth: 'deep-linear:L' with L ≥ 1 or inf (e.g. "
                f"'deep-linear:3')"
            )
        from .deep_linear import check_depth

        try:
            depth = float(arg) if arg.strip() not in ("inf", "∞") else math.inf
        except ValueError:
            raise InvalidInputError(
                f"model {spec!r}: depth must be an integer ≥ 1 or inf, got {arg!r}"
            ) from None
        if math.isfinite(depth) and depth != int(depth):
            raise InvalidInputError(
                f"model {spec!r}: depth must be an integer ≥ 1 or inf, got {arg!r}"
            )
        return fam, float(check_depth(int(depth) if math.isfinite(depth) else depth))
    if arg is not None:
        raise InvalidInputError(f"model {spec!r}: only deep-linear takes ':depth'")
    return fam, None


def _name(fam: str, depth: float | None) -> str:
    if depth is None:
        return fam
    return f"{fam}:{'inf' if math.isinf(depth) else int(depth)}"


def _canonical(spec: Any) -> str:
    return _name(*parse_model(spec))


# ---------------------------------------------------------------------------------------------
# the call
# ---------------------------------------------------------------------------------------------
def sample_complexity(
    problem: LinearTask,
    eps: float | Sequence[float],
    *,
    model: str | Sequence[Any] = "linear",
    routes: Iterable[str] = ("theory", "bound", "rate"),
    trained: int = 0,
    n_max: int | None = None,
    rng: int = 0,
    draws: int | None = None,
    width: int | None = None,
    gd: bool = False,
    grid_points: int = 10,
    progress: Progress | None = None,
) -> SampleComplexityAnswer:
    """How many target samples reach error ε — per model and route, from θ_S and from scratch.

    The one call behind ``finetune-bounds samples``. For each ``model`` and each route in
    ``routes`` (and ``"trained"`` when ``trained > 0``) it finds the first n whose error is
    ≤ ε, fine-tuning from the source weights θ_S (``start = "pretrained"``) and from scratch
    (``"scratch"``: θ_S replaced by 0 in the same task; for deep-linear the vanishing-
    initialisation limit, the minimum-norm interpolant, the same for every depth; for relu the
    network at its antisymmetric initialisation, f ≡ 0). The saving
    :meth:`SampleComplexityAnswer.saving` is n*_scratch / n*_pretrained.

    Routes per model (spec linear-teachers §2.4, §3.3, §4):

    - ``linear``: theory = :func:`finetune_bounds.linear.sample_complexity` (``method="auto"``:
      exact isotropic formulas, the deterministic equivalent with its calibrated error band, and
      Monte Carlo where the band straddles ε); bound = the naive λ_max(Σ)‖Δ‖², a guarantee for
      the bias of every design (with label noise the variance is bounded only for n ≥ r + 2,
      where the bias is 0 and E[V] = σ²r/(n − r − 1) exactly); rates (bias only, C = 1): benign
      and head/tail, both non-increasing in n (bisection); trained = the closed-form limit of GD
      from θ_S on sampled designs (``gd=True``: actual gradient descent).
    - ``deep_linear:L``: theory = the Monte Carlo E[R_L] curve of
      :func:`finetune_bounds.deep_linear.risk_curve` on n = 1 … n_max (noiseless labels only);
      bound = the naive bound (the same implicit-bias argument: R_L ≤ λ_max‖P_⊥θ‖² along the
      path — only for L = 1; for L ≥ 2 not offered); trained = layered GD from balanced
      pretrained weights (L finite) or the closed form (L = ∞).
    - ``relu``: theory = the converged NTK prediction's test error (:func:`finetune_bounds.relu.
      theory_sample_complexity`, method ``ntk_limit``); bound = the data-dependent bound and its
      worst case 4‖v‖² (probability 1 − δ); rate = ⌈8‖v‖²/ε²⌉; trained = two-layer ReLU
      networks of width ``width`` trained by GD. n* per draw; the answer is the median over
      ``draws`` designs (odd by default, an integer) with its spread.

    Parameters
    ----------
    problem : LinearTask
        Σ, θ_S, θ_T and the label noise σ² (``finetune_bounds.data`` for real data).
    eps : float or sequence of float
        Target error levels ε > 0, on each model's scale (risk for linear/deep-linear, test
        clipped absolute error for relu).
    model : str or sequence of str
        ``"linear"``, ``"deep-linear:L"`` (L ≥ 1 or ``inf``), ``"relu"``.
    routes : iterable of str
        Among ``"theory"``, ``"bound"``, ``"rate"`` (default: all three) and ``"trained"``.
    trained : int
        Seeds of the trained route (0: not trained unless ``"trained"`` is in ``routes``, then 5).
    n_max : int, optional
        Largest n considered. Default: unbounded for the linear closed forms, rank Σ for the
        deep-linear Monte Carlo, 1000 for relu; trained scans go to 1.5 × the largest theory n*
        (at most 4096) or 4d.
    rng : int
        Seed of every random route (the same seed gives the same answer).
    draws : int, optional
        Monte Carlo designs of the randomised theories (deep-linear: 200, relu: 3).
    width : int, optional
        Hidden width of trained relu networks (default 500) / deep-linear layers (default 8).
    gd : bool
        Linear trained route by gradient descent instead of its closed-form limit.
    grid_points : int
        Points of the geometric n grid of trained scans before bisection.
    progress : callable, optional
        Called with a short label before each step (for a progress bar).

    Returns
    -------
    SampleComplexityAnswer
        ``.get(model, route, start=..., eps=...)``, ``.saving(...)``, ``.frame()`` (tidy
        records), ``.table()``.

    Examples
    --------
    >>> import numpy as np, finetune_bounds as fb
    >>> cov = fb.Covariance.from_spectrum(1.0 / np.arange(1, 51))
    >>> task = fb.LinearTask(cov, source=np.ones(50) / 10, target=np.ones(50) / 10 + 0.02)
    >>> ans = fb.sample_complexity(task, 1e-3, model="linear")
    >>> ans.get("linear", "theory").n is not None
    True
    """
    if not isinstance(problem, LinearTask):
        raise InvalidInputError(
            f"problem must be a finetune_bounds.LinearTask (Σ, θ_S, θ_T, noise), got "
            f"{type(problem).__name__}"
        )
    eps_list = _eps_list(eps)
    if isinstance(model, str | tuple):
        specs = [model]
    elif isinstance(model, Iterable) and not isinstance(model, bytes):
        specs = list(model)
    else:
        raise InvalidInputError(
            f"model must be a string like 'linear', 'deep-linear:3' or 'relu' (or a sequence "
            f"of them), got {model!r}"
        )
    if not specs:
        raise InvalidInputError("model: give at least one model")
    parsed = [parse_model(m) for m in specs]
    names = [_name(f, d) for f, d in parsed]
    if len(set(names)) != len(names):
        raise InvalidInputError(f"model: each model once, got {names}")
    # every size is checked (against finetune_bounds.limits) before anything is computed
    trained = positive_int(trained, "trained", allow_zero=True, limit="draws")
    route_set = _routes(routes, trained)
    seeds = trained or (5 if "trained" in route_set else 0)
    n_cap = None if n_max is None else positive_int(n_max, "n_max", limit="n")
    seed = positive_int(rng, "rng", allow_zero=True)
    draws = None if draws is None else positive_int(draws, "draws", limit="draws")
    width = None if width is None else positive_int(width, "width", limit="width")
    grid_points = positive_int(grid_points, "grid_points", limit="n")
    if grid_points < 2:
        raise InvalidInputError(f"grid_points must be ≥ 2, got {grid_points}")
    boolean(gd, "gd")
    gd = bool(gd)
    if progress is not None and not callable(progress):
        raise InvalidInputError(f"progress must be a callable (label → None) or None, got "
                                f"{progress!r}")
    tell: Progress = progress if progress is not None else (lambda _label: None)
    answers: list[RouteAnswer] = []
    notes: list[str] = []
    for (fam, depth), name in zip(parsed, names, strict=True):
        ctx = _Context(problem, eps_list, name, route_set, seeds, n_cap, seed, draws, width, gd,
                       grid_points, tell)
        if fam == "linear":
            answers += _linear(ctx)
        elif fam == "deep_linear":
            assert depth is not None
            answers += _deep_linear(ctx, depth)
        else:
            answers += _relu(ctx)
        notes += ctx.notes
    return SampleComplexityAnswer(tuple(answers), tuple(eps_list), tuple(names), tuple(notes))


def _eps_list(eps: Any) -> list[float]:
    vals = [eps] if isinstance(eps, int | float | np.floating | np.integer) else eps
    try:
        out = [nonneg_float(e, "eps", positive=True) for e in vals]
    except TypeError:
        raise InvalidInputError(f"eps must be a number or a sequence of numbers, got {eps!r}")\
            from None
    if not out:
        raise InvalidInputError("eps: give at least one level ε > 0")
    if any(math.isinf(e) for e in out):
        raise InvalidInputError("eps must be finite")
    return sorted(set(out), reverse=True)


def _routes(routes: Iterable[str], trained: int) -> set[str]:
    if isinstance(routes, str | bytes) or not isinstance(routes, Iterable):
        raise InvalidInputError(
            f"routes must be a sequence of route names (some of {ROUTES}, e.g. ('theory',)), "
            f"got {routes!r}"
        )
    routes = list(routes)
    bad_type = [r for r in routes if not isinstance(r, str)]
    if bad_type:
        raise InvalidInputError(f"routes: route names are strings among {ROUTES}, got "
                                f"{bad_type!r}")
    out = set(routes)
    bad = out - set(ROUTES)
    if bad:
        raise InvalidInputError(f"routes: unknown {sorted(bad)}; expected some of {ROUTES}")
    if trained:
        out.add("trained")
    if not out:
        raise InvalidInputError(f"routes: give at least one of {ROUTES}")
    return out


@dataclass
class _Context:
    task: LinearTask
    eps: list[float]
    name: str
    routes: set[str]
    seeds: int
    n_max: int | None
    seed: int
    draws: int | None
    width: int | None
    gd: bool
    grid_points: int
    tell: Progress
    notes: list[str] = field(default_factory=list)
    unconverged: dict[int, int] = field(default_factory=dict)  # trained n → seeds not converged

    def answer(self, route: str, start: str, method: str, eps: float, n: int | None,
               quantity: str, **kw: Any) -> RouteAnswer:
        return RouteAnswer(self.name, route, start, method, eps, n, n is not None, quantity,
                           **kw)

    def unavailable(self, route: str, method: str, quantity: str, reason: str,
                    starts: Sequence[str] = STARTS) -> list[RouteAnswer]:
        return [
            RouteAnswer(self.name, route, st, method, e, None, False, quantity, available=False,
                        reason=reason)
            for e in self.eps for st in starts
        ]


def _generators(ctx: _Context) -> list[np.random.Generator]:
    """Seed i of a trained scan: the same stream at every n (common random numbers)."""
    return [np.random.default_rng([ctx.seed, i]) for i in range(ctx.seeds)]


def _designs(ctx: _Context, n: int) -> tuple[FloatArray, FloatArray]:
    """Gaussian designs x ~ N(0, Σ) and label noise, one per seed: shapes (S, n, d), (S, n)."""
    gens = _generators(ctx)
    sd = math.sqrt(ctx.task.noise_variance)
    x = np.stack([ctx.task.covariance.sample(n, g) for g in gens])
    return x, np.stack([g.standard_normal(n) * sd for g in gens])


def _scratch(task: LinearTask) -> LinearTask:
    return LinearTask(task.covariance, source=np.zeros(task.dim), target=task.target,
                      noise_variance=task.noise_variance)


# ---------------------------------------------------------------------------------------------
# linear (spec §2)
# ---------------------------------------------------------------------------------------------
def _linear(ctx: _Context) -> list[RouteAnswer]:
    from . import linear

    out: list[RouteAnswer] = []
    tasks = {"pretrained": ctx.task, "scratch": _scratch(ctx.task)}
    theory_n: list[int] = []
    if "theory" in ctx.routes or "trained" in ctx.routes:
        for st, task in tasks.items():
            ctx.tell(f"{ctx.name}: theory ({st})")
            for e in ctx.eps:
                sc = linear.sample_complexity(task, e, n_max=ctx.n_max, rng=ctx.seed)
                if sc.n is not None:
                    theory_n.append(sc.n)
                if "theory" in ctx.routes:
                    out.append(ctx.answer(
                        "theory", st, sc.method, e, sc.n, "risk", error=sc.risk_at_n,
                        n_max=ctx.n_max, reason=sc.reason,
                        curve=_linear_curve(task, sc.n, ctx.n_max),
                    ))
    if "bound" in ctx.routes:
        for st, task in tasks.items():
            for e in ctx.eps:
                out.append(_naive_answer(ctx, task, st, e))
    if "rate" in ctx.routes:
        for method in ("benign", "head_tail"):
            for st, task in tasks.items():
                ctx.tell(f"{ctx.name}: {method} rate ({st})")
                for e in ctx.eps:
                    out.append(_rate_answer(ctx, task, st, method, e))
    if "trained" in ctx.routes:
        out += _trained(ctx, _linear_evaluator(ctx), "risk",
                        "gd" if ctx.gd else "closed_form", theory_n)
    return out


def _linear_curve(task: LinearTask, n: int | None, n_max: int | None) -> tuple[
        tuple[int, float], ...]:
    from . import linear

    top = n_max if n_max is not None else max(2 * (n or 1), 2 * task.covariance.rank + 4, 8)
    grid = np.unique(np.geomspace(1, top, 24).round().astype(int))
    if n is not None:
        grid = np.unique(np.r_[grid, n])
    curve = linear.risk_curve(task, grid, method="deterministic"
                              if not task.covariance.is_isotropic else "isotropic")
    return tuple((int(a), float(b)) for a, b in zip(curve["n"], curve["risk"], strict=True))


def _naive_answer(ctx: _Context, task: LinearTask, st: str, e: float) -> RouteAnswer:
    """The guaranteed route: bias ≤ λ_max‖Δ‖² for every design, 0 once n ≥ r; the variance
    E[V] = σ²r/(n − r − 1) exactly for n ≥ r + 2 (Gaussian designs), unbounded below."""
    from . import linear

    bias = linear.naive_bound(task).value
    r = task.covariance.rank
    s2 = task.noise_variance
    level = e * (1 + _REL_SLACK)
    n: int | None
    value: float | None
    if s2 == 0:
        if bias <= level:
            n, value = 1, bias
        else:
            n, value = max(r, 1), 0.0
    else:
        # first n ≥ r + 2 with σ² r / (n − r − 1) ≤ ε
        n = r + 2 if r == 0 else max(r + 2, math.ceil(r + 1 + s2 * r / e - 1e-9))
        value = s2 * r / (n - r - 1) if r > 0 else 0.0
    reason = ""
    if ctx.n_max is not None and n > ctx.n_max:
        reason = f"the guaranteed bound reaches ε = {e:g} only at n = {n} > n_max = {ctx.n_max}"
        n, value = None, None
    return ctx.answer("bound", st, "naive", e, n, "risk", error=value, n_max=ctx.n_max,
                      reason=reason)


def _rate_answer(ctx: _Context, task: LinearTask, st: str, method: str, e: float) -> RouteAnswer:
    from . import linear

    fn = linear.benign_bound if method == "benign" else linear.head_tail_bound

    def value(n: int) -> float:
        return float(fn(task, n).value)

    top = ctx.n_max if ctx.n_max is not None else 10**9
    level = e * (1 + _REL_SLACK)
    if value(top) > level:
        return ctx.answer("rate", st, method, e, None, "risk", n_max=ctx.n_max,
                          reason=f"the {method} rate is {value(top):.4g} > ε = {e:g} at "
                                 f"n = {top}")
    lo, hi = 0, top  # value(hi) ≤ ε; non-increasing in n
    if value(1) <= level:
        hi = 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if value(mid) <= level:
            hi = mid
        else:
            lo = mid
    return ctx.answer("rate", st, method, e, hi, "risk", error=value(hi), n_max=ctx.n_max)


def _linear_evaluator(ctx: _Context) -> Callable[[int], dict[str, FloatArray]]:
    from .linear import simulate as lsim

    task = ctx.task

    def evaluate(n: int) -> dict[str, FloatArray]:
        x, noise = _designs(ctx, n)
        res = lsim.simulate_batch(task, x, noise, gd=ctx.gd)
        pre = res["risk_gd"] if ctx.gd else res["risk"]
        return {"pretrained": pre, "scratch": res["from_scratch"]}

    return evaluate


# ---------------------------------------------------------------------------------------------
# deep linear (spec §3)
# ---------------------------------------------------------------------------------------------
def _deep_linear(ctx: _Context, depth: float) -> list[RouteAnswer]:
    from . import deep_linear as dl

    task = ctx.task
    out: list[RouteAnswer] = []
    draws = 200 if ctx.draws is None else positive_int(ctx.draws, "draws")
    theory_n: list[int] = []
    saddle = depth > 1 and not np.any(task.source)
    if saddle:
        ctx.notes.append(f"{ctx.name}: θ_S = 0 is a saddle of a depth-{depth:g} network "
                         "(gradient flow never leaves it): no fine-tuning answer")
    if "theory" in ctx.routes or "trained" in ctx.routes:
        reason = ""
        if task.noise_variance > 0:
            reason = ("the deep-linear theory (§3) is for noiseless labels; this problem has "
                      f"σ² = {task.noise_variance:g}")
        elif saddle:
            reason = "θ_S = 0 is a saddle of the depth-L network"
        if reason:
            if "theory" in ctx.routes:
                out += ctx.unavailable("theory", "monte_carlo", "risk", reason)
        else:
            top = ctx.n_max if ctx.n_max is not None else max(task.covariance.rank, 1)
            ctx.tell(f"{ctx.name}: theory (Monte Carlo, {draws} designs, n ≤ {top})")
            curve = dl.risk_curve(task, np.arange(1, top + 1), depth, draws=draws, rng=ctx.seed)
            pts = tuple((int(a), float(b)) for a, b in zip(curve["n"], curve["risk"],
                                                           strict=True))
            for e in ctx.eps:
                hit = np.flatnonzero(curve["risk"] <= e * (1 + _REL_SLACK))
                if hit.size:
                    i = int(hit[0])
                    theory_n.append(int(curve["n"][i]))
                    a = ctx.answer("theory", "pretrained", "monte_carlo", e, int(curve["n"][i]),
                                   "risk", error=float(curve["risk"][i]),
                                   error_stderr=float(curve["stderr"][i]), n_max=top,
                                   curve=pts, seeds=draws)
                else:
                    a = ctx.answer("theory", "pretrained", "monte_carlo", e, None, "risk",
                                   n_max=top, curve=pts, seeds=draws,
                                   reason=f"E[R_L] at n = {top} is {float(curve['risk'][-1]):.4g}"
                                          f" > ε = {e:g}")
                if "theory" in ctx.routes:
                    out.append(a)
            # from scratch: the vanishing-initialisation limit is the min-norm interpolant, the
            # depth-1 predictor from θ = 0 — on the same Monte Carlo designs (same seed)
            scratch = dl.risk_curve(_scratch(task), np.arange(1, top + 1), 1, draws=draws,
                                    rng=ctx.seed)
            spts = tuple((int(a), float(b)) for a, b in zip(scratch["n"], scratch["risk"],
                                                            strict=True))
            for e in ctx.eps:
                hit = np.flatnonzero(scratch["risk"] <= e * (1 + _REL_SLACK))
                n_s = int(scratch["n"][int(hit[0])]) if hit.size else None
                if n_s is not None:
                    theory_n.append(n_s)
                if "theory" in ctx.routes:
                    i = int(hit[0]) if hit.size else -1
                    out.append(ctx.answer(
                        "theory", "scratch", "monte_carlo", e, n_s, "risk",
                        error=float(scratch["risk"][i]) if hit.size else None,
                        error_stderr=float(scratch["stderr"][i]) if hit.size else None,
                        n_max=top, curve=spts, seeds=draws,
                        reason="" if hit.size else f"E[R] at n = {top} is "
                                                   f"{float(scratch['risk'][-1]):.4g} > ε = {e:g}"))
    if "bound" in ctx.routes:
        if depth == 1:
            for st, t in (("pretrained", task), ("scratch", _scratch(task))):
                for e in ctx.eps:
                    out.append(_naive_answer(ctx, t, st, e))
        else:
            out += ctx.unavailable("bound", "naive", "risk",
                                   "no guaranteed bound for depth ≥ 2 (the depth-L predictor "
                                   "moves θ_S by c_L; §3)")
    if "rate" in ctx.routes:
        out += ctx.unavailable("rate", "benign", "risk", "the rates of §2.4 are for depth 1")
    if "trained" in ctx.routes and saddle:
        out += ctx.unavailable("trained", "gd", "risk", "θ_S = 0 is a saddle of the network")
    elif "trained" in ctx.routes:
        out += _trained(ctx, _deep_evaluator(ctx, depth), "risk",
                        "gd" if math.isfinite(depth) else "closed_form", theory_n)
        if ctx.unconverged:
            where = ", ".join(f"{n} ({k}/{ctx.seeds})" for n, k in sorted(ctx.unconverged.items()))
            ctx.notes.append(f"{ctx.name}: layered GD stopped at 10 000 steps before its "
                             f"tolerance at n = {where} (slow near n ≈ rank Σ)")
    return out


def _deep_evaluator(ctx: _Context, depth: float) -> Callable[[int], dict[str, FloatArray]]:
    from .deep_linear import predictor
    from .deep_linear import simulate as dsim
    from .linear import simulate as lsim

    task = ctx.task
    width = 8 if ctx.width is None else positive_int(ctx.width, "width")

    def evaluate(n: int) -> dict[str, FloatArray]:
        x, noise = _designs(ctx, n)
        y = x @ task.target + noise
        lin = lsim.simulate_batch(task, x, noise)
        if math.isfinite(depth):
            src = np.broadcast_to(task.source, (ctx.seeds, task.dim))
            w0 = dsim.balanced_weights(np.array(src), int(depth), width)
            res = dsim.train(w0, x, y, tol=1e-7, max_steps=10_000)
            if not np.all(res.converged):
                ctx.unconverged[n] = int(np.sum(~res.converged))
            w = res.predictor
        else:
            w = np.stack([predictor(x[i], y[i], task.source, depth) for i in range(ctx.seeds)])
        pre = task.covariance.quadratic_form(w - task.target)
        return {"pretrained": np.asarray(pre), "scratch": lin["from_scratch"]}

    return evaluate


# ---------------------------------------------------------------------------------------------
# relu (spec §4)
# ---------------------------------------------------------------------------------------------
def _relu(ctx: _Context) -> list[RouteAnswer]:
    from . import relu

    task = ctx.task
    rtask = relu.ReluTask.from_teachers(task.source, task.target,
                                        covariance=task.covariance.matrix, name="problem")
    out: list[RouteAnswer] = []
    draws = 3 if ctx.draws is None else positive_int(ctx.draws, "draws")
    top = 1000 if ctx.n_max is None else ctx.n_max
    if top < 2:
        raise InvalidInputError(f"n_max must be ≥ 2 for relu, got {top}")
    if task.noise_variance > 0:
        ctx.notes.append(f"{ctx.name}: the relu routes use noiseless labels θ_Tᵀx (§4); "
                         f"σ² = {task.noise_variance:g} is ignored")
    theory_n: list[int] = []
    want = {"theory": "theory" in ctx.routes or "trained" in ctx.routes,
            "bound": "bound" in ctx.routes, "rate": "rate" in ctx.routes}
    rates: list[RouteAnswer] = []
    if want["rate"]:  # ⌈8‖v‖²/ε²⌉: no design needed
        for st, v in (("pretrained", task.delta), ("scratch", task.target)):
            for e in ctx.eps:
                rates.append(ctx.answer("rate", st, "rate", e,
                                      relu.rate_sample_complexity(float(v @ v), e), "mae"))
    if want["theory"] or want["bound"]:
        per_draw = []
        for i in range(draws):
            ctx.tell(f"{ctx.name}: kernel theory and bounds, design {i + 1}/{draws} "
                     f"(n ≤ {top})")
            per_draw.append(relu.theory_sample_complexity(rtask, ctx.eps, n_max=top, draws=1,
                                                          seed=_design_seed(ctx.seed, i)))
        routes = (("theory", "ntk_limit"), ("bound", "data_dependent"),
                  ("bound", "worst_case"))
        for route, method in routes:
            if not want[route]:
                continue
            for st in STARTS:
                for j, e in enumerate(ctx.eps):
                    vals = []
                    for tab in per_draw:
                        arr = getattr(tab.start(st), method)
                        if arr is None:
                            break
                        vals.append(float(arr[j]))
                    if not vals:
                        continue
                    a = _median_answer(ctx, route, st, method, e, vals, top)
                    if route == "theory" and a.n is not None:
                        theory_n.append(a.n)
                    if route != "theory" or "theory" in ctx.routes:
                        out.append(a)
    out += rates
    if "trained" in ctx.routes:
        out += _trained(ctx, _relu_evaluator(ctx, rtask), "mae", "network", theory_n,
                        n_top=top if ctx.n_max is not None else _RELU_TRAINED_CAP)
    return out


def _design_seed(seed: int, i: int) -> int:
    """The seed of relu design i (distinct for every (seed, i), unlike seed·1000 + i)."""
    return int(np.random.SeedSequence([seed, i]).generate_state(1)[0])


def _median_answer(ctx: _Context, route: str, st: str, method: str, e: float,
                   vals: list[float], top: int) -> RouteAnswer:
    arr = np.asarray(vals)
    spread = None if arr.size < 2 or not np.all(np.isfinite(arr)) else float(_stderr(arr))
    med = float(np.median(arr))
    if not math.isfinite(med):
        missing = int(np.sum(~np.isfinite(arr)))
        return ctx.answer(route, st, method, e, None, "mae", n_max=top, seeds=arr.size,
                          reason=f"{missing} of {arr.size} designs do not reach ε = {e:g} "
                                 f"for n ≤ {top}")
    n = math.ceil(med)
    return ctx.answer(route, st, method, e, n, "mae", n_spread=spread, n_max=top,
                      seeds=arr.size)


def _relu_evaluator(ctx: _Context, rtask: Any) -> Callable[[int], dict[str, FloatArray]]:
    from .relu import simulate as rsim

    width = 500 if ctx.width is None else positive_int(ctx.width, "width")
    width += width % 2

    def evaluate(n: int) -> dict[str, FloatArray]:
        gens = _generators(ctx)
        cell = rsim.simulate_cell(rtask, n, width, gens, n_test=500)
        assert cell.scratch is not None
        return {"pretrained": np.asarray(cell.pretrained.mae),
                "scratch": np.asarray(cell.scratch.mae)}

    return evaluate


# ---------------------------------------------------------------------------------------------
# trained routes: a geometric grid, then bisection on the mean over seeds
# ---------------------------------------------------------------------------------------------
def _trained(
    ctx: _Context,
    evaluate: Callable[[int], dict[str, FloatArray]],
    quantity: str,
    method: str,
    theory_n: list[int],
    *,
    n_top: int | None = None,
) -> list[RouteAnswer]:
    if ctx.n_max is not None:
        top = ctx.n_max
    elif theory_n:
        top = min(max(math.ceil(1.5 * max(theory_n)), 8), _TRAINED_CAP)
    else:
        top = min(4 * ctx.task.dim, _TRAINED_CAP)
    if n_top is not None:
        top = min(top, n_top)
    cache: dict[int, dict[str, FloatArray]] = {}

    def at(n: int) -> dict[str, FloatArray]:
        if n not in cache:
            ctx.tell(f"{ctx.name}: training {ctx.seeds} seeds at n = {n}")
            vals = evaluate(n)
            if not all(np.all(np.isfinite(v)) for v in vals.values()):
                raise SolverError(f"{ctx.name}: training at n = {n} gave non-finite errors")
            cache[n] = vals
        return cache[n]

    grid = [int(v) for v in np.unique(np.geomspace(1, top, ctx.grid_points).round())]
    out: list[RouteAnswer] = []
    for st in STARTS:
        for e in ctx.eps:
            level = e * (1 + _REL_SLACK)
            prev = 0
            hit: int | None = None
            for g in grid:
                if float(np.mean(at(g)[st])) <= level:
                    hit = g
                    break
                prev = g
            if hit is not None:  # first crossing inside (prev, hit]: bisection on the mean
                lo, hi = prev, hit
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    if float(np.mean(at(mid)[st])) <= level:
                        hi = mid
                    else:
                        lo = mid
                vals = at(hi)[st]
                out.append(ctx.answer(
                    "trained", st, method, e, hi, quantity, error=float(np.mean(vals)),
                    error_stderr=float(_stderr(vals)) if vals.size > 1 else None,
                    n_max=top, seeds=ctx.seeds, curve=_curve(cache, st),
                ))
            else:
                m = float(np.mean(at(grid[-1])[st]))
                out.append(ctx.answer(
                    "trained", st, method, e, None, quantity, n_max=top, seeds=ctx.seeds,
                    curve=_curve(cache, st),
                    reason=f"mean trained {quantity} {m:.4g} > ε = {e:g} at n = {top}",
                ))
    return out


def _curve(cache: dict[int, dict[str, FloatArray]], st: str) -> tuple[tuple[int, float], ...]:
    return tuple((n, float(np.mean(cache[n][st]))) for n in sorted(cache))


# ---------------------------------------------------------------------------------------------
# text
# ---------------------------------------------------------------------------------------------
_QUALIFIER = {"naive": "guaranteed", "data_dependent": "prob. 1 − δ",
              "worst_case": "prob. 1 − δ"}


def route_text(route: str, method: str) -> str:
    """The human name of a route and method, from the report's vocabulary
    (:mod:`finetune_bounds.report.labels`): ``"bound (naive, guaranteed)"``, ``"rate (benign,
    C = 1)"``, ``"trained (GD)"``."""
    from .report.labels import method_label

    if route == "theory" and method == "mixed":  # the route changed with ε and start
        return "theory (expected risk)"
    if route == "rate" and method == "rate":
        return "rate (8‖v‖²/ε², C = 1)"
    parts = [method_label(method)]
    if route == "rate":
        parts.append("C = 1")
    elif method in _QUALIFIER and route == "bound":
        parts.append(_QUALIFIER[method])
    return f"{route} ({', '.join(parts)})"


def _row_method(a: RouteAnswer) -> str:
    """Table rows: one per theory (its route may change with n and ε: deterministic
    equivalent here, a Monte Carlo check there), one per method for the other routes."""
    return "" if a.route == "theory" and a.model.startswith(("linear", "deep")) else a.method


def _n_text(a: RouteAnswer | None) -> str:
    if a is None:
        return "—"
    if not a.available:
        return "n/a"
    if a.n is None:
        return f"> {a.n_max}" if a.n_max is not None else "never"
    text = f"{a.n:,}"
    if a.n_spread is not None and a.n_spread > 0:
        text += f" ± {a.n_spread:.2g}"
    return text


def _saving_text(s: float | None) -> str:
    if s is None:
        return "—"
    if math.isinf(s):
        return "∞"
    return f"{s:.3g}×"


def _text_table(ans: SampleComplexityAnswer) -> list[str]:
    header = ["model", "route"]
    for e in ans.eps:
        header += [f"ε={e:g} pretrained", "scratch", "saving"]
    rows: list[list[str]] = []
    seen: list[tuple[str, str, str]] = []
    methods: dict[tuple[str, str, str], list[str]] = {}
    by_key: dict[tuple[str, str, str, str, float], RouteAnswer] = {}
    for a in ans.answers:
        k = (a.model, a.route, _row_method(a))
        if k not in seen:
            seen.append(k)
        if a.method not in methods.setdefault(k, []) and a.available:
            methods[k].append(a.method)
        by_key[(*k, a.start, a.eps)] = a
    for model, route, method in seen:
        used = methods[(model, route, method)]
        if not used:  # the route does not apply to this model: said in a note below
            continue
        row = [model, route_text(route, method or (used[0] if len(used) == 1 else "mixed"))]
        for e in ans.eps:
            pre = by_key.get((model, route, method, "pretrained", e))
            scr = by_key.get((model, route, method, "scratch", e))
            row += [_n_text(pre), _n_text(scr),
                    _saving_text(_ratio(scr, pre) if pre is not None and scr is not None
                                 else None)]
        rows.append(row)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) if i < 2 else h.rjust(w)
                       for i, (h, w) in enumerate(zip(header, widths, strict=True)))]
    for r in rows:
        lines.append("  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths, strict=True))))
    quantities = {a.model: a.quantity for a in ans.answers}
    scale = ", ".join(f"{m}: {'risk E(f(x) − θ_Tᵀx)²' if q == 'risk' else 'test clipped |error|'}"
                      for m, q in quantities.items())
    lines.append(f"n*(ε): first n with error ≤ ε ({scale}); saving = n*(scratch) / "
                 f"n*(pretrained); '> N': not reached for n ≤ N; n/a: route does not apply")
    for a in ans.answers:
        if not a.available and a.start == "pretrained" and a.eps == ans.eps[0]:
            lines.append(f"n/a {a.model} {a.route}: {a.reason}")
    lines += list(ans.notes)
    return lines
