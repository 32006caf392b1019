"""User tasks from files, as family parameters (private).

A linear-teacher task — Σ as a covariance matrix, or as a spectrum with optional eigenvectors,
plus θ_S and θ_T — can live in ``.npy``/``.csv`` files. The ``linear`` and ``deep_linear``
families (and ``relu`` for θ_S, θ_T and an optional Σ) take the paths as string parameters
(``covariance_file``, ``spectrum_file``, ``eigenvectors_file``, ``source_file``,
``target_file``) and the sha256 of the contents as ``files_sha256``, so that a cell's identity
(and hence its random streams and its place in a store) changes when a file's content changes,
not only when a path does.

- :func:`load_task_files`: the one loader (shapes, symmetry, definiteness, finiteness …), with
  error messages naming the command-line flags by default or the family parameters.
- :func:`files_digest`: sha256 over the contents of several files, in order.
- :func:`resolve_files`: the part of a family's ``derive`` hook that checks the file parameters,
  loads the files once (so a bad file stops a config at load time), fills ``files_sha256`` and
  drops the unused file parameters (so cells that read no file keep the keys they had before
  these parameters existed).
- :func:`cached_task`: what a worker calls: the task of a resolved cell, checked against its
  digest and cached per process.

Paths: in a sweep config (:func:`~finetune_bounds.sweep.load_config`) a relative path is read
from the folder of the config file and made absolute when the config loads; elsewhere (the CLI
family subcommands, :func:`~finetune_bounds.sweep.run`, a config without a file) it is relative
to the current directory of the process. Workers read the path stored in the cell (remote dask
workers need the same paths). The paths are not part of a cell's key once ``files_sha256`` is
set (:func:`~finetune_bounds.sweep.grid.cell_key`): the same contents elsewhere are the same cell.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from .errors import ConfigError, InvalidInputError
from .families import Constraint
from .problems import LinearTask

__all__ = [
    "FILE_PARAMS",
    "Digest",
    "FileName",
    "cached_task",
    "files_digest",
    "load_linear_files",
    "load_task_files",
    "resolve_files",
]

#: the file parameters of the linear-teacher families, in digest order
FILE_PARAMS: tuple[str, ...] = (
    "covariance_file",
    "spectrum_file",
    "eigenvectors_file",
    "source_file",
    "target_file",
)

#: how the loader names each input in its messages: the command-line flags
FLAG_NAMES: Mapping[str, str] = {
    "covariance": "--covariance",
    "spectrum": "--spectrum",
    "eigenvectors": "--eigenvectors",
    "source": "--source",
    "target": "--target",
}

#: ... or the family parameters
PARAM_NAMES: Mapping[str, str] = {k: f"{k}_file" for k in FLAG_NAMES}


class FileName(Constraint):
    """A path to a ``.npy``/``.csv`` file, or ``""`` (not used)."""

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str)

    def describe(self) -> str:
        return 'a path to a .npy or .csv file (or "" for none)'


class Digest(Constraint):
    """``""`` (filled in from the files) or 64 hexadecimal digits."""

    def accepts(self, value: Any) -> bool:
        if not isinstance(value, str):
            return False
        return value == "" or (len(value) == 64 and all(c in "0123456789abcdef" for c in value))

    def describe(self) -> str:
        return '"" (computed from the files) or the 64-digit sha256 of the files'


def _given(path: Any) -> str | None:
    if path is None:
        return None
    text = str(path)
    return text if text else None


def load_task_files(
    *,
    covariance: str | Path | None = None,
    spectrum: str | Path | None = None,
    eigenvectors: str | Path | None = None,
    source: str | Path | None,
    target: str | Path | None,
    noise_variance: float = 0.0,
    names: Mapping[str, str] | None = None,
) -> LinearTask:
    """The :class:`~finetune_bounds.problems.LinearTask` in the files (``""``/None: not given).

    Parameters
    ----------
    covariance : path, optional
        Σ as a d×d matrix. Exactly one of ``covariance`` and ``spectrum``.
    spectrum, eigenvectors : path, optional
        The eigenvalues of Σ (a vector) and optionally its eigenvectors as columns (else Σ is
        diagonal).
    source, target : path
        θ_S and θ_T (vectors of length d).
    noise_variance : float
        Label noise σ² of the task.
    names : mapping, optional
        How messages name each input (keys ``covariance``, ``spectrum``, ``eigenvectors``,
        ``source``, ``target``); default the command-line flags (``--covariance`` …).

    Raises
    ------
    InvalidInputError
        A missing or extra input, a missing or unreadable file, a wrong shape, a non-symmetric,
        indefinite or non-finite Σ, non-orthonormal eigenvectors, NaN/inf or complex entries.
    """
    from ._io import load_array
    from .problems import Covariance

    nm = {**FLAG_NAMES, **(names or {})}
    cov_path, spec_path = _given(covariance), _given(spectrum)
    vec_path, src_path, tgt_path = _given(eigenvectors), _given(source), _given(target)
    if cov_path and spec_path:
        raise InvalidInputError(
            f"give only one of {nm['covariance']}, {nm['spectrum']} (got both)"
        )
    if vec_path and not spec_path:
        raise InvalidInputError(f"{nm['eigenvectors']} needs {nm['spectrum']}")
    if not cov_path and not spec_path:
        raise InvalidInputError(
            f"missing input: {nm['covariance']} FILE (or {nm['spectrum']} FILE) for Σ"
        )
    missing = [nm[k] for k, v in (("source", src_path), ("target", tgt_path)) if not v]
    if missing:
        raise InvalidInputError(f"missing input: {' and '.join(missing)} (θ_S and θ_T vectors)")
    assert src_path is not None and tgt_path is not None
    if cov_path:
        mat = load_array(cov_path, nm["covariance"])
        if mat.ndim != 2 or mat.shape[0] != mat.shape[1]:
            raise InvalidInputError(
                f"{nm['covariance']} must be a square matrix, got shape {mat.shape}"
            )
        cov = Covariance.from_matrix(mat)
    else:
        assert spec_path is not None
        lam = load_array(spec_path, nm["spectrum"])
        if lam.ndim != 1 and not (lam.ndim == 2 and 1 in lam.shape):
            raise InvalidInputError(f"{nm['spectrum']} must be a vector, got shape {lam.shape}")
        vec = load_array(vec_path, nm["eigenvectors"]) if vec_path else None
        cov = Covariance.from_spectrum(lam.reshape(-1), vec)
    src = load_array(src_path, nm["source"])
    tgt = load_array(tgt_path, nm["target"])
    for key, v in (("source", src), ("target", tgt)):
        if v.reshape(-1).shape[0] != cov.dim or (v.ndim > 1 and 1 not in v.shape):
            raise InvalidInputError(
                f"{nm[key]} must be a vector of length d = {cov.dim}, got shape {v.shape}"
            )
    return LinearTask(cov, src.reshape(-1), tgt.reshape(-1), noise_variance)


def files_digest(paths: Iterable[str | Path | None]) -> str:
    """sha256 (64 hex digits) over the contents of the files, in order; ``""``/None marks an
    unused slot (so the same file in another role gives another digest).

    Raises
    ------
    InvalidInputError
        A file that does not exist or cannot be read.
    """
    h = hashlib.sha256()
    for path in paths:
        text = _given(path)
        if text is None:
            h.update(b"\x00unused")
            continue
        p = Path(text)
        if not p.is_file():
            raise InvalidInputError(f"file not found: {p}")
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise InvalidInputError(f"cannot read {p}: {exc}") from None
        h.update(b"\x01" + hashlib.sha256(data).digest())
    return h.hexdigest()


def resolve_files(
    params: Mapping[str, Any],
    *,
    family: str,
    switch: str,
    keys: tuple[str, ...],
    load: Callable[[Mapping[str, Any]], Any],
) -> tuple[dict[str, Any], Any]:
    """The file part of a family's ``derive`` hook.

    When ``params[switch] == "files"``: load the task with ``load(params)`` (a bad file raises
    here, when the config loads), compute the digest of ``keys`` and set ``files_sha256`` (a
    given value that disagrees is an error). Otherwise every file parameter must be empty, and
    they are dropped from the cell together with ``files_sha256`` (so existing cells keep their
    content hash).

    Returns
    -------
    (params, task)
        The updated parameters and the loaded task (None when no file is used).

    Raises
    ------
    ConfigError
        One line: ``<family>: <problem>``.
    """
    out = dict(params)
    if out.get(switch) != "files":
        used = [k for k in (*keys, "files_sha256") if out.get(k)]
        if used:
            raise ConfigError(
                f"{family}: {', '.join(used)} set but {switch} = {out.get(switch)!r} "
                f"(file inputs need {switch} = 'files')"
            )
        for k in (*keys, "files_sha256"):
            out.pop(k, None)
        return out, None
    try:
        task = load(out)
        digest = files_digest(out.get(k, "") for k in keys)
    except InvalidInputError as exc:
        raise ConfigError(f"{family}: {exc}") from None
    given = out.get("files_sha256", "")
    if given and given != digest:
        raise ConfigError(
            f"{family}: files_sha256 = {given[:12]}… does not match the files (sha256 "
            f"{digest[:12]}…): a file changed since the value was recorded"
        )
    out["files_sha256"] = digest
    return out, task


def load_linear_files(files: Mapping[str, str]) -> LinearTask:
    """:func:`load_task_files` of the file parameters (``covariance_file`` …), noiseless,
    with messages naming the parameters."""
    return load_task_files(
        covariance=files.get("covariance_file", ""),
        spectrum=files.get("spectrum_file", ""),
        eigenvectors=files.get("eigenvectors_file", ""),
        source=files.get("source_file", ""),
        target=files.get("target_file", ""),
        names=PARAM_NAMES,
    )


def cached_task(
    params: Mapping[str, Any], keys: tuple[str, ...], load: Callable[[Mapping[str, str]], Any]
) -> Any:
    """The task in the files of a resolved cell (for ``theory``/``simulate`` in a worker):
    ``load({key: path})`` once per process and per content (keyed by ``files_sha256``), after
    checking that the files still have that content (a cell without a digest is loaded without
    that check: ``keys`` may then name other parameters, e.g. a built-in task's name). ``load``
    must depend on these values only (apply others, such as a noise level, to its result).

    Raises
    ------
    InvalidInputError
        The files changed since the cell was made (its digest no longer matches).
    """
    files = tuple((k, str(params.get(k, ""))) for k in keys)
    return _cached(files, str(params.get("files_sha256", "")), load)


@lru_cache(maxsize=8)
def _cached(
    files: tuple[tuple[str, str], ...], digest: str, load: Callable[[Mapping[str, str]], Any]
) -> Any:
    if not digest:  # no files (a built-in task), or a cell that was not resolved
        return load(dict(files))
    actual = files_digest(p for _, p in files)
    if actual != digest:
        raise InvalidInputError(
            f"the files {', '.join(p for _, p in files if p)} changed since the cell was made "
            f"(sha256 {actual[:12]}…, cell {digest[:12]}…); load the config again"
        )
    return load(dict(files))
