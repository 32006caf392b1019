"""Sweep configurations: one experiment per TOML file, validated once at the door.

Schema (see ``docs/sweep.md`` and the project contract)::

    name = "linear_power_law"      # [a-z0-9_]+, the experiment id
    family = "linear"              # a registered family (finetune_bounds.families)
    title = "..."                  # optional (defaults to name)
    description = "..."            # optional
    seeds = 20                     # seeds per cell for the empirical part (0: theory only)
    [params]   d = 200             # fixed values (override the family's defaults)
    [grid]     n = [10, 20]        # Cartesian product over these lists (one cell per point)
    [axes]     depth = [1, 2, inf] # inner axes: the family receives the whole list in one cell
    [derived]  n = "round(ratio * d)"   # arithmetic on the other values (see .expr)
    [quick]    seeds = 3           # overrides for --quick: seeds / params / grid / derived
    [[figure]] ...                 # kept for the report, not interpreted here
    [[table]]  ...

A cell's parameters are, in order of precedence: the family's defaults ← ``[params]`` ← the grid
point ← ``[derived]`` (in file order; later expressions may use earlier ones) ←
``Family.derive``; ``[axes]`` lists are passed whole (as lists) and checked value by value
against the family's constraints; a family accepts only the axes it declares
(``Family.axes``), and a ``[derived]`` expression cannot read an axis. A key of
``[params]``/``[grid]``/``[derived]`` that is not a family parameter is accepted only if a
``[derived]`` expression reads it (an *auxiliary* value such as ``ratio``): it becomes a column
of the results and part of the cell's identity, but is not passed to the family. Anything else
unknown is a :class:`~finetune_bounds.errors.ConfigError` naming the file and the key.

File inputs: a string value of a parameter whose name ends in ``_file`` (``covariance_file``,
``source_file`` …, in ``[params]``, ``[grid]``, ``[axes]`` and the same sections of ``[quick]``)
is a path *relative to the folder of the config file* (absolute paths are kept; ``~`` is
expanded). It is made absolute when the config is loaded, and a missing file is a
:class:`~finetune_bounds.errors.ConfigError` naming the config file, the key and the resolved
path. A config built without a file (:meth:`SweepConfig.from_dict` without ``path``,
:func:`~finetune_bounds.sweep.run`, the family subcommands of the CLI) keeps its paths as given,
relative to the current folder (so does a ``path`` that is only a label, not a file). The
absolute path is what the family (and every worker) reads, but it is not part of the cell's
identity: the family fills ``files_sha256`` from the files' contents and
:func:`~finetune_bounds.sweep.grid.cell_key` leaves the ``*_file`` values out of the hash when
``files_sha256`` is set, so the same files reached by another path (a moved project folder,
another working directory) give the same cells, and a changed file gives new ones.

Shipped configs: the example experiments are installed with the package
(``finetune_bounds/configs/*.toml``, :func:`example_configs`); :func:`load_config` accepts the
bare name of one (``"linear_power_law"``) when no file of that name exists.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .. import limits as _limits
from ..errors import ConfigError, ResourceLimitError
from ..families import RESERVED_NAMES, Family, get_family
from . import expr
from .expr import short_repr as _r
from .expr import short_text as _t
from .grid import FILE_SUFFIX, Cell, canonical_json, canonical_value, grid_size, product_points

__all__ = ["MAX_CELLS", "RESERVED_COLUMNS", "SweepConfig", "example_configs", "load_config"]

#: the default limit on the cells of a sweep config (the product of its ``[grid]`` list
#: lengths), checked before any cell is built; the limit in force is
#: ``finetune_bounds.limits.current()["cells"]`` (raise it with
#: ``finetune_bounds.limits.override(cells=10**6)`` or ``FINETUNE_BOUNDS_LIMITS=cells=1e6``)
MAX_CELLS = 100_000

_TOP_KEYS = (
    "name",
    "family",
    "title",
    "description",
    "seeds",
    "params",
    "grid",
    "axes",
    "derived",
    "quick",
    "figure",
    "table",
)
_QUICK_KEYS = ("seeds", "params", "grid", "axes", "derived")
_NAME_RE = re.compile(r"[a-z0-9_]+\Z")
_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_MAX_SEEDS = 1_000_000

#: column names of the tidy table that a parameter may not take
RESERVED_COLUMNS: frozenset[str] = RESERVED_NAMES

Scalar = bool | int | float | str


def _type_name(v: Any) -> str:
    return type(v).__name__


@dataclass(frozen=True)
class SweepConfig:
    """One experiment: a family, a parameter grid, a seed count, and what the report shows.

    Construct with :func:`load_config` (from TOML) or :meth:`from_dict`; direct construction is
    validated the same way. Frozen: :meth:`quick` returns a new config.

    Attributes
    ----------
    name, family, title, description : str
    seeds : int
        Seeds per cell for ``Family.simulate`` (0: theory only).
    params : mapping
        Fixed parameter values.
    grid : mapping of tuples
        Values to sweep; the cells are their Cartesian product (last key fastest).
    axes : mapping of tuples
        Inner axes: each cell receives these lists whole (``Family.axes``).
    derived : mapping of str
        Expressions evaluated per cell (see :mod:`finetune_bounds.sweep.expr`).
    figures, tables : tuple of mappings
        The ``[[figure]]`` and ``[[table]]`` entries, for the report (not interpreted here).
    path : Path or None
        The file the config came from.
    quick_overrides : mapping
        The ``[quick]`` table.
    is_quick : bool
        True for the result of :meth:`quick`.

    Raises
    ------
    ConfigError
        On any problem, with the file and the key in the message.
    """

    name: str
    family: str
    title: str = ""
    description: str = ""
    seeds: int = 1
    params: Mapping[str, Any] = field(default_factory=dict)
    grid: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    axes: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    derived: Mapping[str, str] = field(default_factory=dict)
    figures: tuple[Mapping[str, Any], ...] = ()
    tables: tuple[Mapping[str, Any], ...] = ()
    path: Path | None = None
    quick_overrides: Mapping[str, Any] = field(default_factory=dict)
    is_quick: bool = False
    _cells: tuple[Cell, ...] = field(default=(), init=False, repr=False, compare=False)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str | Path | None = None) -> SweepConfig:
        """Build a config from a parsed TOML document (or an equivalent dict)."""
        label = str(path) if path is not None else "<config>"
        if not isinstance(data, Mapping):
            raise ConfigError(f"{label}: expected a table at the top level")
        unknown = [k for k in data if k not in _TOP_KEYS]
        if unknown:
            raise ConfigError(
                f"{label}: unknown top-level key(s) {_t(str(sorted(map(str, unknown))))}; "
                f"allowed: {list(_TOP_KEYS)}"
            )
        for req in ("name", "family"):
            if req not in data:
                raise ConfigError(f"{label}: missing required key {req!r}")
        kwargs: dict[str, Any] = {
            k: data[k] for k in ("name", "family", "title", "description", "seeds") if k in data
        }
        for key in ("params", "grid", "axes", "derived", "quick"):
            if key in data and not isinstance(data[key], Mapping):
                raise ConfigError(f"{label}: {key}: expected a table, got {_type_name(data[key])}")
        kwargs["params"] = dict(data.get("params", {}))
        kwargs["grid"] = dict(data.get("grid", {}))
        kwargs["axes"] = dict(data.get("axes", {}))
        kwargs["derived"] = dict(data.get("derived", {}))
        kwargs["quick_overrides"] = dict(data.get("quick", {}))
        for key, attr in (("figure", "figures"), ("table", "tables")):
            entries = data.get(key, [])
            if not isinstance(entries, list) or not all(isinstance(e, Mapping) for e in entries):
                raise ConfigError(f"{label}: {key}: expected an array of tables ([[{key}]])")
            kwargs[attr] = tuple(dict(e) for e in entries)
        kwargs["path"] = Path(path) if path is not None else None
        return cls(**kwargs)

    def __post_init__(self) -> None:
        if self.path is not None and not isinstance(self.path, str | os.PathLike):
            raise ConfigError(f"<config>: path: expected a file path or None, got {_r(self.path)}")
        if isinstance(self.path, str):
            object.__setattr__(self, "path", Path(self.path))
        if not isinstance(self.is_quick, bool):
            raise ConfigError(
                f"{self._label}: is_quick: expected a boolean, got {_r(self.is_quick)}"
            )
        label = self._label
        if not isinstance(self.name, str) or not _NAME_RE.match(self.name):
            raise ConfigError(f"{label}: name: expected [a-z0-9_]+, got {_r(self.name)}")
        if not isinstance(self.family, str) or not self.family:
            raise ConfigError(f"{label}: family: expected a family name, got {_r(self.family)}")
        for key in ("title", "description"):
            if not isinstance(getattr(self, key), str):
                raise ConfigError(
                    f"{label}: {key}: expected a string, got {_type_name(getattr(self, key))}"
                )
        if not self.title:
            object.__setattr__(self, "title", self.name)
        object.__setattr__(self, "seeds", _check_seeds(self.seeds, label, "seeds"))
        object.__setattr__(self, "params", _check_params(self.params, label, "params"))
        object.__setattr__(self, "grid", _check_grid(self.grid, label, "grid"))
        object.__setattr__(self, "axes", _check_grid(self.axes, label, "axes"))
        object.__setattr__(self, "derived", _check_derived(self.derived, label, "derived"))
        if self.path is not None and self.path.is_file():  # read from a file (not a label)
            self._resolve_file_params(label)
        sections = (("params", self.params), ("grid", self.grid), ("axes", self.axes))
        for i, (a, ka) in enumerate(sections):
            for b, kb in sections[i + 1:]:
                both = sorted(set(ka) & set(kb))
                if both:
                    raise ConfigError(f"{label}: {both} appear in both [{a}] and [{b}]")
        clash = sorted(set(self.derived) & (set(self.params) | set(self.grid) | set(self.axes)))
        if clash:
            raise ConfigError(
                f"{label}: derived: {clash} also set in [params], [grid] or [axes]; "
                "set each key once"
            )
        if not isinstance(self.quick_overrides, Mapping):
            raise ConfigError(f"{label}: quick: expected a table")
        bad = [k for k in self.quick_overrides if k not in _QUICK_KEYS]
        if bad:
            raise ConfigError(
                f"{label}: quick: unknown key(s) {_t(str(sorted(map(str, bad))))}; "
                f"allowed: {list(_QUICK_KEYS)}"
            )
        object.__setattr__(self, "figures", _check_entries(self.figures, label, "figures"))
        object.__setattr__(self, "tables", _check_entries(self.tables, label, "tables"))
        _check_math_text(self.figures, label, "figure")
        _check_math_text(self.tables, label, "table")
        object.__setattr__(self, "_cells", tuple(self._build_cells()))
        if self.quick_overrides and not self.is_quick:
            self.quick()  # validate the quick variant at the door too

    def _resolve_file_params(self, label: str) -> None:
        """Make the ``*_file`` paths of every section absolute, relative to the config's folder
        (idempotent: :meth:`quick` resolves again, absolute paths stay)."""
        assert self.path is not None
        base = Path(os.path.abspath(self.path.parent))
        for section in ("params", "grid", "axes"):
            object.__setattr__(
                self, section, _resolve_section(getattr(self, section), base, label, section)
            )
        q = dict(self.quick_overrides) if isinstance(self.quick_overrides, Mapping) else None
        if q is not None:
            for section in ("params", "grid", "axes"):
                if isinstance(q.get(section), Mapping):
                    q[section] = _resolve_section(q[section], base, label, f"quick.{section}")
            object.__setattr__(self, "quick_overrides", q)

    @property
    def _label(self) -> str:
        base = str(self.path) if self.path is not None else "<config>"
        return f"{base} [quick]" if self.is_quick else base

    # ------------------------------------------------------------------ public API
    def quick(self) -> SweepConfig:
        """The config with the ``[quick]`` overrides applied.

        ``quick.seeds`` replaces ``seeds``; ``quick.params``, ``quick.grid`` and ``quick.axes``
        override per key (a key moves between the fixed values, the grid and the axes);
        ``quick.derived`` overrides or adds expressions. Idempotent:
        ``c.quick().quick() == c.quick()``.
        """
        if self.is_quick:
            return self
        label = f"{self._label}: quick"
        q = self.quick_overrides
        for key in ("params", "grid", "axes", "derived"):
            if key in q and not isinstance(q[key], Mapping):
                raise ConfigError(f"{label}.{key}: expected a table, got {_type_name(q[key])}")
        qp, qg = dict(q.get("params", {})), dict(q.get("grid", {}))
        qa, qd = dict(q.get("axes", {})), dict(q.get("derived", {}))
        params = {k: v for k, v in self.params.items() if k not in qg and k not in qa}
        params.update(qp)
        grid = {k: v for k, v in self.grid.items() if k not in qp and k not in qa}
        grid.update(qg)
        axes = {k: v for k, v in self.axes.items() if k not in qp and k not in qg}
        axes.update(qa)
        derived = {**self.derived, **qd}
        return replace(
            self,
            seeds=q.get("seeds", self.seeds),
            params=params,
            grid=grid,
            axes=axes,
            derived=derived,
            is_quick=True,
        )

    def get_family(self) -> Family:
        """The :class:`~finetune_bounds.families.Family` this config runs."""
        try:
            return get_family(self.family)
        except ConfigError as exc:
            raise ConfigError(f"{self._label}: family: {_t(str(exc))}") from None

    def cells(self) -> list[dict[str, Any]]:
        """Resolved parameter dicts, one per cell, in grid order (auxiliary values included)."""
        return [c.columns for c in self._cells]

    def cell_specs(self) -> list[Cell]:
        """The cells with their content hashes (see :class:`~finetune_bounds.sweep.grid.Cell`)."""
        return list(self._cells)

    # ------------------------------------------------------------------ cells
    def _build_cells(self) -> list[Cell]:
        label = self._label
        fam = self.get_family()
        defaults = dict(fam.defaults)
        trees = {k: expr.parse(v) for k, v in self.derived.items()}  # checked already
        referenced: set[str] = set()
        known = set(defaults) | set(self.params) | set(self.grid)
        for k, tree in trees.items():
            names = expr.referenced_names(tree)
            on_axes = sorted(names & set(self.axes))
            if on_axes:
                raise ConfigError(
                    f"{label}: derived.{k}: reads the inner axis {on_axes} (an axis is a list, "
                    "given whole to the family); move it to [grid] to derive from it"
                )
            missing = sorted(names - known)
            if missing:
                raise ConfigError(
                    f"{label}: derived.{k}: unknown name(s) {missing}; "
                    f"known: {sorted(known)} (a derived value may use earlier ones only)"
                )
            referenced |= names
            known.add(k)
        explicit = list(self.params) + list(self.grid) + list(self.axes) + list(self.derived)
        aux = {k for k in explicit if k not in defaults and k in referenced}
        for k in explicit:
            if k in RESERVED_COLUMNS:
                raise ConfigError(
                    f"{label}: {k!r} is a column of the results table; choose another name"
                )
        n_cells = grid_size(self.grid)
        cap = _limits.current()["cells"]
        if n_cells > cap:
            lengths = {k: len(v) for k, v in self.grid.items()}
            raise ConfigError(
                f"{label}: grid: {n_cells} cells (the product of the list lengths "
                f"{_t(str(lengths))}) is more than the limit of {cap:.0f}; shrink the grid, or "
                f"raise the limit for a deliberately huge sweep ({_limits.ENV_VAR}='cells=1e6' "
                "in the shell, finetune_bounds.limits.override(cells=10**6) in Python)"
            )
        cells: list[Cell] = []
        seen: dict[str, dict[str, Any]] = {}
        for point in product_points(self.grid) or [{}]:
            values: dict[str, Any] = {**defaults, **self.params, **point}
            values.update({k: list(v) for k, v in self.axes.items()})
            for k, tree in trees.items():
                try:
                    values[k] = expr.evaluate(tree, values)
                except expr.ExpressionError as exc:
                    raise ConfigError(
                        f"{label}: derived.{k} = {_r(self.derived[k])} fails at grid point "
                        f"{_t(str(point))}: {exc}"
                    ) from None
            try:
                resolved = fam.resolve(
                    {k: v for k, v in values.items() if k not in aux}, axes=tuple(self.axes)
                )
            except ConfigError as exc:
                raise ConfigError(f"{label}: {exc}") from None
            except ResourceLimitError as exc:  # a size above its limit: the limit's message
                raise ResourceLimitError(f"{label}: {exc}") from None
            except Exception as exc:  # Family.derive is family code: report, do not crash
                raise ConfigError(
                    f"{label}: family {fam.name!r} rejects grid point {_t(str(point))}: "
                    f"{type(exc).__name__}: {_t(str(exc))}"
                ) from None
            clash = sorted(set(resolved) & RESERVED_COLUMNS)
            if clash:
                raise ConfigError(
                    f"{label}: family {fam.name!r} parameter(s) {clash} collide with columns of "
                    "the results table (rename them in the family)"
                )
            try:
                params = {str(k): canonical_value(v, k) for k, v in resolved.items()}
                extra = {k: canonical_value(values[k], k) for k in aux}
            except TypeError as exc:
                raise ConfigError(f"{label}: {exc}") from None
            cell = Cell(fam.name, params, extra, fam.schema_version)
            if cell.key in seen:
                raise ConfigError(
                    f"{label}: grid points {_t(str(seen[cell.key]))} and {_t(str(point))} "
                    "resolve to the same cell"
                )
            seen[cell.key] = point
            cells.append(cell)
        return cells


# ---------------------------------------------------------------------- file parameters
def _resolve_path(value: Any, base: Path, label: str, where: str) -> Any:
    """``value`` as an absolute path against ``base`` (non-strings and ``""`` unchanged)."""
    if not isinstance(value, str) or not value:
        return value
    p = Path(value).expanduser()
    resolved = Path(os.path.normpath(p if p.is_absolute() else base / p))
    if not resolved.is_file():
        hint = "" if p.is_absolute() else f" (relative paths are read from the folder {base})"
        raise ConfigError(f"{label}: {where} = {_r(value)}: file not found: {resolved}{hint}")
    return str(resolved)


def _resolve_section(section: Mapping[str, Any], base: Path, label: str, name: str) -> Any:
    out: dict[str, Any] = {}
    for k, v in section.items():
        if not (isinstance(k, str) and k.endswith(FILE_SUFFIX)):
            out[k] = v
        elif isinstance(v, list | tuple):
            out[k] = type(v)(
                _resolve_path(x, base, label, f"{name}.{k}[{i}]") for i, x in enumerate(v)
            )
        else:
            out[k] = _resolve_path(v, base, label, f"{name}.{k}")
    return out


# ---------------------------------------------------------------------- field checks
def _check_scalar(v: Any, label: str, where: str) -> Scalar:
    if isinstance(v, bool | int | str):
        return v
    if isinstance(v, float):
        if v != v:
            raise ConfigError(f"{label}: {where}: NaN is not a valid value")
        return v
    raise ConfigError(
        f"{label}: {where}: expected a number, string or boolean, got {_type_name(v)}"
    )


def _check_entries(entries: Any, label: str, section: str) -> tuple[dict[str, Any], ...]:
    """``[[figure]]``/``[[table]]`` entries: a sequence of tables, as a tuple of fresh dicts."""
    if isinstance(entries, str | bytes | Mapping) or not isinstance(entries, list | tuple):
        raise ConfigError(
            f"{label}: {section}: expected a sequence of tables, got {_r(entries)}"
        )
    for i, e in enumerate(entries, 1):
        if not isinstance(e, Mapping):
            raise ConfigError(f"{label}: {section} {i}: expected a table, got {_r(e)}")
    return tuple(dict(e) for e in entries)


def _check_key(k: Any, label: str, section: str) -> str:
    if not isinstance(k, str) or not _KEY_RE.match(k):
        raise ConfigError(f"{label}: {section}: {_r(k)} is not a valid name (letters, digits, _)")
    return k


def _check_seeds(v: Any, label: str, where: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ConfigError(f"{label}: {where}: expected an integer, got {_type_name(v)}")
    if not 0 <= v <= _MAX_SEEDS:
        raise ConfigError(f"{label}: {where}: expected 0 <= seeds <= {_MAX_SEEDS}, got {v}")
    return v


def _check_params(p: Any, label: str, section: str) -> dict[str, Scalar]:
    if not isinstance(p, Mapping):
        raise ConfigError(f"{label}: {section}: expected a table, got {_type_name(p)}")
    out: dict[str, Scalar] = {}
    for k, v in p.items():
        _check_key(k, label, section)
        if isinstance(v, list | tuple):
            raise ConfigError(
                f"{label}: {section}.{k}: expected a single value, got a list "
                "(put it in [grid] for one cell per value, or in [axes] for one curve per cell)"
            )
        out[k] = _check_scalar(v, label, f"{section}.{k}")
    return out


def _check_grid(g: Any, label: str, section: str) -> dict[str, tuple[Scalar, ...]]:
    if not isinstance(g, Mapping):
        raise ConfigError(f"{label}: {section}: expected a table, got {_type_name(g)}")
    out: dict[str, tuple[Scalar, ...]] = {}
    for k, v in g.items():
        _check_key(k, label, section)
        if not isinstance(v, list | tuple):
            raise ConfigError(
                f"{label}: {section}.{k}: expected a list of values, got {_type_name(v)}"
            )
        if not v:
            raise ConfigError(f"{label}: {section}.{k}: empty list (a grid needs values)")
        vals = tuple(_check_scalar(x, label, f"{section}.{k}[{i}]") for i, x in enumerate(v))
        first: dict[tuple[str, Any], Scalar] = {}  # linear: hash a canonical form of each value
        dup: list[str] = []
        for x in vals:
            key = _dedup_key(x)
            if key in first:
                earlier = canonical_json(first[key])
                text = canonical_json(x)
                dup.append(text if text == earlier else f"{text} (equal to {earlier})")
            else:
                first[key] = x
        if dup:
            shown = sorted(set(dup))
            raise ConfigError(f"{label}: {section}.{k}: repeated value(s) {_t(str(shown))}")
        out[k] = vals
    return out


def _dedup_key(x: Scalar) -> tuple[str, Any]:
    """Hashable form of a grid value under which numerically equal numbers (``3``, ``3.0``)
    coincide, while ``True`` and ``1`` (a boolean and a number) stay distinct."""
    if isinstance(x, bool):
        return ("bool", x)
    if isinstance(x, int | float):
        return ("number", x)  # 3 == 3.0 and hash(3) == hash(3.0)
    return ("str", x)


def _check_derived(d: Any, label: str, section: str) -> dict[str, str]:
    if not isinstance(d, Mapping):
        raise ConfigError(f"{label}: {section}: expected a table, got {_type_name(d)}")
    out: dict[str, str] = {}
    for k, v in d.items():
        _check_key(k, label, section)
        if not isinstance(v, str):
            raise ConfigError(
                f"{label}: {section}.{k}: expected an expression string, got {_type_name(v)}"
            )
        try:
            expr.parse(v)
        except expr.ExpressionError as exc:
            raise ConfigError(f"{label}: {section}.{k}: {exc}") from None
        out[k] = v
    return out


#: the keys of a [[figure]] / [[table]] entry that matplotlib draws as text (mathtext in $…$)
_TEXT_KEYS: tuple[str, ...] = ("title", "xlabel", "ylabel", "colorbar_label")


def _check_math_text(entries: Any, label: str, section: str) -> None:
    """Refuse a title or label whose ``$...$`` math matplotlib cannot draw, at load time (not
    after the sweep, when the report draws it). matplotlib is imported only for text with a
    ``$`` (keeps ``finetune-bounds sweep`` light)."""
    for i, entry in enumerate(entries, 1):
        if not isinstance(entry, Mapping):
            continue
        for key in _TEXT_KEYS:
            v = entry.get(key)
            if isinstance(v, str) and "$" in v:
                from ..report.specs import _text

                _text(entry, key, f"{label}: {section} {i}")


def example_configs() -> list[Path]:
    """The example experiment configs shipped with the package (``finetune_bounds/configs``),
    sorted by name: what ``finetune-bounds report`` runs when no ``--config`` is given."""
    from importlib import resources

    root = resources.files("finetune_bounds") / "configs"
    if not root.is_dir():
        return []
    return sorted(
        Path(str(f)) for f in root.iterdir() if f.name.endswith(".toml") and f.is_file()
    )


def _shipped(name: str) -> Path | None:
    """The shipped config called ``name`` (a bare name, optionally with ``.toml``), if any."""
    if not name or Path(name).name != name:
        return None
    stem = name.removesuffix(".toml")
    return next((p for p in example_configs() if p.stem == stem), None)


def load_config(path: str | Path) -> SweepConfig:
    """Read and validate a sweep config from a TOML file, or a shipped one by its bare name.

    ``path`` is a file; when no such file exists and it is a bare name (no folder), the shipped
    config of that name (:func:`example_configs`, e.g. ``"linear_power_law"``) is loaded.
    ``*_file`` parameters are read relative to the config file's folder (see the module notes).

    Raises
    ------
    ConfigError
        Missing or unreadable file (listing the shipped names), invalid TOML, or any schema
        problem (file and key named).
    """
    if not isinstance(path, str | os.PathLike) or not str(path):
        raise ConfigError(f"config path must be a file path or a shipped config name, got "
                          f"{path!r}")
    p = Path(path)
    if not p.is_file():
        shipped = _shipped(str(path))
        if shipped is None:
            names = ", ".join(c.stem for c in example_configs()) or "none"
            raise ConfigError(
                f"{p}: config file not found (nor a shipped config of that name; shipped: "
                f"{names})"
            )
        p = shipped
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read: {_t(str(exc))}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{p}: not UTF-8 (invalid byte at offset {exc.start}); save the file as UTF-8"
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: invalid TOML: {_t(str(exc))}") from None
    except RecursionError:
        raise ConfigError(f"{p}: invalid TOML: arrays or tables nested too deeply") from None
    try:
        return SweepConfig.from_dict(data, p)
    except RecursionError:
        raise ConfigError(f"{p}: values nested too deeply") from None
