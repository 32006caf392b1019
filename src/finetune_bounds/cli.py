"""Command-line interface: ``finetune-bounds <command> ...``.

Each subcommand lives beside the code it composes (``<package>/_cli.py`` with a
``register(subparsers)`` function); this module only dispatches and turns every library error
into one line on stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from .errors import FinetuneBoundsError

#: subcommand modules, in help order; one line per command
_COMMANDS: tuple[str, ...] = (
    "finetune_bounds._samples_cli",
    "finetune_bounds.linear._cli",
    "finetune_bounds.deep_linear._cli",
    "finetune_bounds.relu._cli",
    "finetune_bounds.diagonal._cli",
    "finetune_bounds.infinite_width._cli",
    "finetune_bounds.sweep._cli_run",
    "finetune_bounds.sweep._cli",
    "finetune_bounds.report._cli",
)

#: command name → its module, so that ``finetune-bounds NAME …`` imports only that command's
#: module (each family package is heavy to import: ~1 s for all of them, on every call)
_BY_NAME: dict[str, str] = dict(zip(
    ("samples", "linear", "deep-linear", "relu", "diagonal", "transfer", "run", "sweep",
     "report"),
    _COMMANDS, strict=True,
))

EXIT_ERROR = 2


class _OneLineParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr and exit status 2.

    Subcommand parsers inherit the class (argparse's ``parser_class`` default), so every
    command's bad options, missing values and unparsable numbers report the same way.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message} (see --help)\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command-line parser: every subcommand, or only the one named ``only`` (what
    :func:`main` builds when the command line names one)."""
    from . import __version__

    parser = _OneLineParser(
        prog="finetune-bounds",
        description="How many target samples does fine-tuning need? Theory, bounds and training.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod_name in (_BY_NAME[only],) if only in _BY_NAME else _COMMANDS:
        try:
            mod = importlib.import_module(mod_name)
        except ModuleNotFoundError as exc:  # a family not in this build
            if exc.name and mod_name.startswith(exc.name):
                continue
            raise
        mod.register(sub)
    return parser


def _one_line(exc: BaseException) -> str:
    """The error's message on one line (its type name when it has no message: a bare
    ``MemoryError()``)."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``finetune-bounds`` console script; returns the exit status."""
    words = list(sys.argv[1:] if argv is None else argv)
    first = next((w for w in words if not w.startswith("-")), None)
    parser = build_parser(first if first in _BY_NAME else None)
    args = parser.parse_args(words)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_ERROR
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        # warnings are held back (the active filters still decide which are raised or shown):
        # a failing command prints its one error line only; a command that succeeds prints each
        # distinct warning once, after its output
        try:
            status = int(args.func(args) or 0)
        except FinetuneBoundsError as exc:
            print(f"finetune-bounds {args.command}: error: {_one_line(exc)}", file=sys.stderr)
            return EXIT_ERROR
        except KeyboardInterrupt:
            print(f"finetune-bounds {args.command}: interrupted", file=sys.stderr)
            return 130
        except BrokenPipeError:  # the reader went away (e.g. `| head`): stop quietly
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        except (OSError, MemoryError) as exc:
            print(f"finetune-bounds {args.command}: error: {_one_line(exc)}", file=sys.stderr)
            return EXIT_ERROR
    for text in dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught):
        print(f"finetune-bounds {args.command}: warning: {text}", file=sys.stderr)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
