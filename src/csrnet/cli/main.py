"""The ``csrnet`` command line: a thin layer over the package's functions.

The commands come in groups, one module each: restoring photos (``cli.restore``), the
installed weights (``cli.models``), the web page (``cli.serve``), training
(``cli.training``), measuring (``cli.evaluation``) and the data sets (``cli.data``);
``cli.options`` holds the options they share. Every user error ends with
one line on stderr (``csrnet: error: ...``) and a non-zero exit status: 2 for bad options,
1 for bad data. Nothing is written unless the command succeeds. No library module imports
this package.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import warnings
from collections.abc import Sequence

from csrnet import __version__
from csrnet.cli.data import add_commands as add_data_commands
from csrnet.cli.evaluation import add_commands as add_evaluation_commands
from csrnet.cli.models import add_commands as add_models_commands
from csrnet.cli.options import Parser, UsageError
from csrnet.cli.restore import add_commands as add_restore_commands
from csrnet.cli.serve import add_commands as add_serve_commands
from csrnet.cli.training import add_commands as add_training_commands
from csrnet.errors import CsrnetError, CsrnetWarning

__all__ = ["build_parser", "main"]


def build_parser() -> Parser:
    """The ``csrnet`` command line: one sub-parser a command, each group's from its module."""
    parser = Parser(
        prog="csrnet", description="Cross-Scale Residual Network for image restoration."
    )
    parser.add_argument("--version", action="version", version=f"csrnet {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add_commands in (
        add_restore_commands,
        add_models_commands,
        add_serve_commands,
        add_training_commands,
        add_evaluation_commands,
        add_data_commands,
    ):
        add_commands(commands)
    return parser


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Show csrnet's warnings as one line on stderr; others as Python does."""
    if issubclass(category, CsrnetWarning):
        print(f"csrnet: warning: {message}", file=sys.stderr)
    else:
        _show_python_warning(message, category, filename, lineno, file, line)


_show_python_warning = warnings.showwarning


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure:  # file names that are not UTF-8 print as escapes instead of failing
        reconfigure(errors="backslashreplace")
    with warnings.catch_warnings():
        warnings.simplefilter("always", CsrnetWarning)
        warnings.showwarning = _one_line_warning
        return _run(args)


# The commands that split their images across the processes of a torchrun launch.
SPLIT = ("restore", "evaluate", "report")


def _run(args: argparse.Namespace) -> int:
    prefix = "csrnet"
    try:
        with contextlib.ExitStack() as stack:
            split = args.command in SPLIT and _start_split()
            if split:
                rank = int(os.environ.get("RANK", "0"))
                prefix = f"csrnet (rank {rank})"
                if rank:  # rank 0 prints the results; the others only their errors
                    devnull = stack.enter_context(open(os.devnull, "w"))
                    stack.enter_context(contextlib.redirect_stdout(devnull))
            code = args.run(args)
            if split:  # on an error, torchrun ends the other processes
                _stop_split()
    except UsageError as exc:
        print(f"{prefix}: error: {exc}", file=sys.stderr)
        return 2
    except CsrnetError as exc:
        print(f"{prefix}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("csrnet: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    return code or 0


def _start_split() -> bool:
    """Join the torchrun launch this process is one of (``csrnet.parallel``); whether it is."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False  # not under torchrun: no torch import for it
    from csrnet.parallel import start

    return start()


def _stop_split() -> None:
    from csrnet.parallel import stop

    stop()
