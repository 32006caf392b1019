"""Documentation examples run as tests (docs are code).

Every ```python block of the README and of every page in docs/ runs, in order, in one namespace
per page; every shell block (```bash, ```sh, ```shell, ```console) runs too, command by command,
in a fresh process (``OPENBLAS_NUM_THREADS=1``, a per-command timeout) and must exit with status
0: a plain ``finetune-bounds …`` command in a child forked from the test's interpreter (no ~1 s
of imports per command; ``FB_DOCS_SUBPROCESS=1`` turns that off), anything else through ``sh``.
Both run from a temporary working directory that holds a ``configs`` link to
the repository's configs and the small input files the examples name (``S.npy``, ``s.npy``,
``t.csv``, … written with a fixed seed by :func:`_write_inputs`), so relative paths work and
nothing is written into the repository.

Shell blocks: in a ```console block only the lines after a ``$ `` prompt are commands (the rest
is output); lines ending in ``\\`` continue on the next line; ``# …`` outside quotes is a
comment. A shell block that must not run in the default suite says so, with a reason, in an HTML
comment on the line right before its opening fence:

    <!-- docs-test: skip — installs packages and starts a dask cluster -->
    <!-- docs-test: slow — the quick report takes minutes -->

``skip`` never runs (the reason says why it cannot); ``slow`` runs only with ``-m slow``. A
block of commands the doc shows failing states their exit status:
``<!-- docs-test: status 2 — … -->``. Keep these rare: prefer documenting a small command that
runs (a few values of n, few seeds, ``--quick``); a test checks that every such comment names a
known action and gives a reason.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"
PAGES = ("README.md", *sorted(p.name for p in DOCS.glob("*.md")))

_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
SHELL_LANGUAGES = ("bash", "sh", "shell", "console")
_FENCE = re.compile(r"^```\s*([\w+-]*)\s*$")
_DIRECTIVE = re.compile(r"^\s*<!--\s*docs-test:\s*(.*?)\s*-->\s*$")
_ACTION = re.compile(r"^(skip|slow|status\s+\d+)\s*(?:[—–:-]+\s*(.*))?$")
COMMAND_TIMEOUT = 300  # seconds, per command (a default run's commands take seconds)


def python_blocks(text: str) -> list[str]:
    return [m.group(1) for m in _BLOCK.finditer(text)]


@dataclass(frozen=True)
class ShellBlock:
    """One shell code block of a page: its commands, its line and its docs-test directive."""

    language: str
    body: str
    line: int  # 1-based line of the opening fence
    directive: str | None = None  # the text of a ``<!-- docs-test: ... -->`` line before it

    @property
    def action(self) -> str:
        """``"run"``, ``"skip"``, ``"slow"`` or ``"status N"``."""
        if self.directive is None:
            return "run"
        m = _ACTION.match(self.directive)
        return " ".join(m.group(1).split()) if m else "invalid"

    @property
    def reason(self) -> str:
        m = _ACTION.match(self.directive or "")
        return (m.group(2) or "").strip() if m else ""

    @property
    def expected_status(self) -> int:
        return int(self.action.split()[1]) if self.action.startswith("status") else 0

    def commands(self) -> list[str]:
        return shell_commands(self.body, console=self.language == "console")


def shell_blocks(text: str) -> list[ShellBlock]:
    """The fenced shell blocks of a Markdown text, with the directive on the line before each."""
    blocks: list[ShellBlock] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start, language = i, m.group(1).lower()
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        if language in SHELL_LANGUAGES:
            d = _DIRECTIVE.match(lines[start - 1]) if start > 0 else None
            body = "".join(line + "\n" for line in lines[start + 1 : j])
            blocks.append(ShellBlock(language, body, start + 1, d.group(1) if d else None))
        i = j + 1
    return blocks


def strip_comment(line: str) -> str:
    """``line`` without a shell comment (``#`` at the start of a word, outside quotes)."""
    quote = None
    escaped = False
    for k, ch in enumerate(line):
        if escaped:
            escaped = False
        elif ch == "\\" and quote != "'":
            escaped = True
        elif quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (k == 0 or line[k - 1].isspace()):
            return line[:k].rstrip()
    return line.rstrip()


def shell_commands(body: str, *, console: bool = False) -> list[str]:
    """The commands of a shell block: prompts (console) and comments stripped, ``\\``
    continuations joined, console output lines (no ``$ `` prompt) and blank lines dropped."""
    commands: list[str] = []
    pending: str | None = None
    for raw in body.splitlines():
        if pending is None:
            if console:
                stripped = raw.lstrip()
                if not (stripped.startswith("$ ") or stripped == "$"):
                    continue  # output
                raw = stripped[2:]
            line = strip_comment(raw)
        else:
            line = strip_comment(raw.removeprefix("> ") if console else raw)
        if line.endswith("\\"):
            pending = (pending or "") + line[:-1].rstrip() + " "
            continue
        command = ((pending or "") + line.strip()).strip()
        pending = None
        if command:
            commands.append(command)
    if pending and pending.strip():
        commands.append(pending.strip())
    return commands


def test_block_extraction() -> None:
    text = "a\n```python\nx = 1\n```\n```bash\nls\n```\n```python\ny = 2\n```\n"
    assert python_blocks(text) == ["x = 1\n", "y = 2\n"]


def test_shell_block_extraction() -> None:
    text = (
        "x\n```bash\nls -l   # list\necho 'a # b' \\\n    c  # d\n\n```\n"
        "<!-- docs-test: slow — takes minutes -->\n```console\n$ echo hi  # say\nhi\n"
        "$ echo a \\\n> b\noutput # not a command\n```\n```text\n$ no\n```\n"
        "```python\nprint(1)\n```\n```sh\necho x#y\n```\n"
    )
    blocks = shell_blocks(text)
    assert [b.language for b in blocks] == ["bash", "console", "sh"]
    assert blocks[0].commands() == ["ls -l", "echo 'a # b' c"]
    assert blocks[0].action == "run" and blocks[0].line == 2
    assert blocks[1].commands() == ["echo hi", "echo a b"]
    assert (blocks[1].action, blocks[1].reason) == ("slow", "takes minutes")
    assert blocks[2].commands() == ["echo x#y"]
    assert ShellBlock("bash", "", 1, "status 2 — bad input").expected_status == 2
    assert ShellBlock("bash", "", 1, "skip").reason == ""
    assert ShellBlock("bash", "", 1, "later maybe").action == "invalid"


def test_every_page_is_listed() -> None:
    assert "README.md" in PAGES and "spine.md" in PAGES and "families.md" in PAGES


def _page_path(page: str) -> Path:
    return ROOT / page if page == "README.md" else DOCS / page


def test_every_docs_test_comment_is_valid() -> None:
    """Each ``<!-- docs-test: ... -->`` names a known action, gives a reason and sits right
    before a shell block (a stray one would silently do nothing)."""
    problems = []
    for page in PAGES:
        text = _page_path(page).read_text(encoding="utf-8")
        lines = text.splitlines()
        attached = {b.line - 1 for b in shell_blocks(text) if b.directive is not None}
        for k, line in enumerate(lines, start=1):
            d = _DIRECTIVE.match(line)
            if not d:
                continue
            block = ShellBlock("bash", "", k + 1, d.group(1))
            if block.action == "invalid":
                problems.append(f"{page}:{k}: unknown docs-test action {d.group(1)!r}")
            elif not block.reason:
                problems.append(f"{page}:{k}: docs-test {block.action} without a reason")
            if k not in attached:
                problems.append(f"{page}:{k}: docs-test comment not right before a shell block")
    assert not problems, "\n".join(problems)


def _write_inputs(folder: Path, d: int = 20, seed: int = 0) -> None:
    """The small input files the shell examples name, from a fixed seed: a d × d SPD covariance
    ``S.npy``, its spectrum ``lam.npy``/``lam.csv`` and eigenvectors ``V.npy``, teachers
    ``s.npy``/``s.csv`` (θ_S), ``t.npy``/``t.csv`` (θ_T), ``thS.npy``/``thT.npy``; a design
    ``X.npy``, ``y.npy``, ``b.npy`` (diagonal networks); ``eig.npy``, ``v2.csv`` (kernel curve)."""
    rng = np.random.default_rng(seed)
    V, _ = np.linalg.qr(rng.standard_normal((d, d)))
    lam = 1.0 / np.arange(1, d + 1)
    S = (V * lam) @ V.T
    S = (S + S.T) / 2
    theta_s = rng.standard_normal(d) / np.sqrt(d)
    theta_t = theta_s + 0.3 * rng.standard_normal(d) / np.sqrt(d)
    arrays = {"S": S, "V": V, "lam": lam, "s": theta_s, "t": theta_t}
    arrays.update(thS=theta_s, thT=theta_t)
    for name, value in arrays.items():
        np.save(folder / f"{name}.npy", value)
    for name, value in {"lam": lam, "s": theta_s, "t": theta_t}.items():
        np.savetxt(folder / f"{name}.csv", value, delimiter=",")
    X = rng.standard_normal((10, d))
    beta = np.zeros(d)
    beta[:3] = 1.0
    np.save(folder / "X.npy", X)
    np.save(folder / "y.npy", X @ beta)
    np.save(folder / "b.npy", beta + 0.1 * rng.standard_normal(d))
    np.save(folder / "eig.npy", lam)
    np.savetxt(folder / "v2.csv", lam * rng.uniform(0.5, 1.5, d), delimiter=",")


@pytest.fixture
def docs_dir(tmp_path: Path) -> Path:
    """A working directory prepared like a reader's clone: ``configs`` and the input files."""
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    _write_inputs(tmp_path)
    return tmp_path


def _shell_cases() -> list:
    cases = []
    for page in PAGES:
        blocks = shell_blocks(_page_path(page).read_text(encoding="utf-8"))
        for i, block in enumerate(blocks):
            # a slow block may run several commands of minutes each: beyond the suite's 600 s
            marks = [pytest.mark.slow, pytest.mark.timeout(1800)] if block.action == "slow" else []
            cases.append(pytest.param(page, i, marks=marks, id=f"{page}[{i}]"))
    return cases


def _shell_env() -> dict[str, str]:
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"
    env["MPLBACKEND"] = "Agg"
    # the interpreter running the tests (and its console scripts: finetune-bounds) comes first
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


#: a plain ``finetune-bounds ARGS`` command, optionally after ``VAR=value`` assignments: no
#: pipes, redirections, substitutions, globs or command lists
_PLAIN = re.compile(r"""^[\w\s./:=,*+'"-]*$""")
#: set to 1 to run every command through ``sh`` in a fresh interpreter (no forked runner)
FORCE_SUBPROCESS = os.environ.get("FB_DOCS_SUBPROCESS") == "1"


def _cli_argv(command: str) -> tuple[dict[str, str], list[str]] | None:
    """(environment assignments, arguments) of a plain ``finetune-bounds`` command, else None."""
    import shlex

    if FORCE_SUBPROCESS or not _PLAIN.match(command) or "*" in command:
        return None
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    assign: dict[str, str] = {}
    while words and re.match(r"^[A-Za-z_]\w*=", words[0]):
        key, _, value = words.pop(0).partition("=")
        assign[key] = value
    if not words or words[0] != "finetune-bounds":
        return None
    return assign, words[1:]


def _run_forked(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run ``finetune-bounds ARGV`` as the console script would, in a child forked from this
    (already warm) interpreter: a fresh process per command without paying ~1 s of imports for
    each. The child resets what pytest changed (warning filters, logging handlers), takes the
    command's environment and folder, and exits with the command's status; its output goes
    through files. ``FB_DOCS_SUBPROCESS=1`` runs real subprocesses instead (the CLI fuzz checks
    that both agree)."""
    import tempfile

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            status = 1
            try:
                import logging
                import signal
                import warnings

                signal.signal(signal.SIGALRM, signal.SIG_DFL)
                signal.alarm(COMMAND_TIMEOUT)
                devnull = os.open(os.devnull, os.O_RDONLY)
                os.dup2(devnull, 0)
                os.dup2(out.fileno(), 1)
                os.dup2(err.fileno(), 2)
                sys.stdout = open(1, "w", encoding="utf-8", closefd=False)
                sys.stderr = open(2, "w", encoding="utf-8", closefd=False)
                os.chdir(cwd)
                os.environ.clear()
                os.environ.update(env)
                warnings.resetwarnings()  # Python's own defaults, not pytest's
                for action, category in (("ignore", DeprecationWarning),
                                         ("ignore", PendingDeprecationWarning),
                                         ("ignore", ImportWarning), ("ignore", ResourceWarning)):
                    warnings.simplefilter(action, category)  # type: ignore[arg-type]
                root = logging.getLogger()
                for h in list(root.handlers):
                    root.removeHandler(h)
                sys.argv = ["finetune-bounds", *argv]
                from finetune_bounds.cli import main

                try:
                    status = int(main(argv) or 0)
                except SystemExit as exc:
                    code = exc.code
                    status = code if isinstance(code, int) else (0 if code is None else 1)
            except BaseException:  # a crash: a traceback on stderr, status 1, as Python does
                import traceback

                traceback.print_exc()
                status = 1
            finally:
                try:
                    sys.stdout.flush()
                    sys.stderr.flush()
                finally:
                    os._exit(status)
        _, wait = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(wait)
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(
            ["finetune-bounds", *argv], code,
            out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace"),
        )


def run_shell_block(block: ShellBlock, cwd: Path, where: str) -> None:
    """Run the commands of ``block`` one by one in ``cwd``; each must exit as stated. Plain
    ``finetune-bounds`` commands run in a forked child (see :func:`_run_forked`), others
    through ``sh``."""
    assert block.action != "invalid", f"{where}: bad docs-test comment {block.directive!r}"
    env = _shell_env()
    for command in block.commands():
        t0 = time.perf_counter()
        plain = _cli_argv(command) if hasattr(os, "fork") else None
        if plain is not None:
            assign, argv = plain
            done = _run_forked(argv, cwd, {**env, **assign})
            if done.returncode == -14:  # SIGALRM: the child's own timeout
                pytest.fail(f"{where}: `{command}` ran longer than {COMMAND_TIMEOUT} s")
        else:
            try:
                done = subprocess.run(
                    command,
                    shell=True,
                    cwd=cwd,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=COMMAND_TIMEOUT,
                    stdin=subprocess.DEVNULL,
                )
            except subprocess.TimeoutExpired:
                pytest.fail(f"{where}: `{command}` ran longer than {COMMAND_TIMEOUT} s")
        seconds = time.perf_counter() - t0
        assert done.returncode == block.expected_status, (
            f"{where}: `{command}` exited with {done.returncode} (expected "
            f"{block.expected_status}) after {seconds:.1f} s\n--- stdout\n{done.stdout[-3000:]}"
            f"\n--- stderr\n{done.stderr[-3000:]}"
        )


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the forked runner needs os.fork")
def test_forked_runner_matches_a_real_process(tmp_path: Path) -> None:
    """A plain command run by the forked child and by ``sh`` + a fresh interpreter: the same
    status, stdout and stderr (success, a one-line error, an environment assignment)."""
    env = _shell_env()
    for command in ("finetune-bounds diagonal regime --c-pt 1e-3 --lambda-pt -0.99 --gamma-ft 0",
                    "finetune-bounds linear --example power_law --n 0",
                    "FINETUNE_BOUNDS_LIMITS=n=5 finetune-bounds linear --example power_law "
                    "--n 10 --empirical-seeds 2"):
        plain = _cli_argv(command)
        assert plain is not None, command
        forked = _run_forked(plain[1], tmp_path, {**env, **plain[0]})
        real = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=COMMAND_TIMEOUT)
        assert (forked.returncode, forked.stdout, forked.stderr) == (
            real.returncode, real.stdout, real.stderr), command
    assert _cli_argv("finetune-bounds report > log.txt") is None
    assert _cli_argv("cd x && finetune-bounds report") is None


def test_a_failing_command_fails(tmp_path: Path) -> None:
    run_shell_block(ShellBlock("bash", "exit 3  # documented\n", 1, "status 3 — x"), tmp_path, "x")
    with pytest.raises(AssertionError, match="`exit 3` exited with 3"):
        run_shell_block(ShellBlock("bash", "true\nexit 3\n", 1), tmp_path, "x")
    run_shell_block(ShellBlock("console", "$ touch made\nmade\n", 1), tmp_path, "x")
    assert (tmp_path / "made").exists()


@pytest.mark.parametrize(("page", "index"), _shell_cases())
def test_doc_shell_examples_run(page: str, index: int, docs_dir: Path) -> None:
    """Every command of a shell block runs from the prepared directory and exits as stated."""
    block = shell_blocks(_page_path(page).read_text(encoding="utf-8"))[index]
    if block.action == "skip":
        pytest.skip(f"{page}:{block.line}: {block.reason}")
    run_shell_block(block, docs_dir, f"{page}:{block.line}")


@pytest.mark.parametrize("page", PAGES)
def test_doc_examples_run(page: str, docs_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("matplotlib")
    from finetune_bounds import families

    path = _page_path(page)
    blocks = python_blocks(path.read_text(encoding="utf-8"))
    if not blocks:
        pytest.skip(f"{page} has no python examples")
    monkeypatch.chdir(docs_dir)
    before = dict(families._REGISTRY)
    namespace: dict[str, object] = {"__name__": f"docs_{page.replace('.', '_')}"}
    try:
        for i, block in enumerate(blocks):
            code = compile(block, f"{page}[{i}]", "exec")
            exec(code, namespace)
    finally:
        families._REGISTRY.clear()
        families._REGISTRY.update(before)
    assert os.getcwd() == str(docs_dir)


def _modules() -> list[str]:
    import pkgutil

    import finetune_bounds

    names = (m.name for m in pkgutil.walk_packages(finetune_bounds.__path__, "finetune_bounds."))
    return sorted(n for n in names if not n.endswith("__main__"))  # (importing it runs the CLI)


@pytest.mark.parametrize("module", _modules())
def test_docstring_examples_run(module: str) -> None:
    """Every ``Examples`` block of a docstring runs as written (doctest)."""
    import doctest
    import importlib

    try:
        mod = importlib.import_module(module)
    except ImportError as exc:  # an optional extra that is not installed
        pytest.skip(f"{module}: {exc}")
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(mod, module):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) of {module} failed"
