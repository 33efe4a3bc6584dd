"""What the command groups share: a parser whose errors are one line, the level and
model-run options, and the checks that turn bad options into usage errors (exit status 2)."""

from __future__ import annotations

import argparse
import inspect
from typing import NoReturn

from csrnet.errors import CsrnetError
from csrnet.inference.options import AUTO, BACKENDS, CAMERA, LEVEL_OPTIONS
from csrnet.protocol.images import DATA_ROOT_ORDER


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, without the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


Commands = argparse._SubParsersAction  # what add_subparsers returns: one parser a command


def add_command(commands: Commands, run, name: str) -> argparse.ArgumentParser:
    """The parser of command ``name``, which runs ``run(args)``: its help is the first line of
    ``run``'s docstring, its description the paragraph after it, if any."""
    help_line, _, description = inspect.getdoc(run).partition("\n\n")
    parser = commands.add_parser(name, help=help_line, description=description or None)
    parser.set_defaults(run=run)
    return parser


def add_output_options(parser: argparse.ArgumentParser, json: str = "", csv: bool = False) -> None:
    """What a command prints or writes besides its result: ``--json`` (with ``json`` as its
    help), ``--csv FILE`` (per-image scores) and ``--no-progress``."""
    if json:
        parser.add_argument("--json", action="store_true", help=json)
    if csv:
        parser.add_argument("--csv", metavar="FILE", help="write per-image scores to FILE")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def add_data_root_option(parser: argparse.ArgumentParser) -> None:
    """``--data-root``: the folder holding the sets, read when the command runs."""
    parser.add_argument(
        "--data-root",
        metavar="DIR",
        help=f"folder holding Set5, Set14, ... (default: {DATA_ROOT_ORDER}; "
        "`csrnet data list` shows which)",
    )


def _or_words(kind: type, *words: str):
    """An argparse type: ``kind``, or one of ``words``."""

    def parse(text: str):
        return text if text in words else kind(text)

    parse.__name__ = kind.__name__  # argparse names the type in its error message
    return parse


def add_level_options(parser: argparse.ArgumentParser, auto: bool = False) -> None:
    """``--scale``, ``--sigma``, ``--quality``; with ``auto``, the last two may be read from
    each photo."""
    parser.add_argument("--scale", type=int, help="SR scale factor (2-16)")
    if not auto:
        parser.add_argument(
            "--sigma",
            type=_or_words(float, CAMERA),
            help="noise sigma on the [0, 255] scale, or camera: colour images as a camera "
            "takes them (one capture per image, drawn from --seed and its name)",
        )
        parser.add_argument("--quality", type=int, help="JPEG quality (1-100)")
        return
    parser.add_argument(
        "--sigma",
        type=_or_words(float, AUTO, CAMERA),
        help="noise sigma on the [0, 255] scale (Gaussian noise); auto: estimated from each "
        "photo; camera (the default): a photo's own noise, by the camera-noise model",
    )
    parser.add_argument(
        "--quality",
        type=_or_words(int, AUTO),
        help="JPEG quality (1-100), or auto (the default for --task jpeg): read from each "
        "JPEG file's quantization tables",
    )


def add_device_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", choices=[AUTO, "cpu", "cuda"], default=AUTO)


def add_backend_option(parser: argparse.ArgumentParser, backend: str = AUTO) -> None:
    parser.add_argument(
        "--backend",
        choices=[AUTO, *BACKENDS],
        default=backend,
        help=f"CPU runtime (default {backend}; auto: the fastest installed that keeps fp32's "
        "PSNR on this CPU, measured once per model; -int8: quantized; -bf16: where the CPU "
        "computes bf16; see docs/SPEED.md)",
    )


def add_model_run_options(parser: argparse.ArgumentParser, backend: str) -> None:
    """How a model runs: shared by evaluate and restore."""
    parser.add_argument("--self-ensemble", action="store_true", help="x8 flip/rotation ensemble")
    add_device_option(parser)
    add_backend_option(parser, backend)


def degradation_from_args(args: argparse.Namespace, task: str | None = None):
    """The Degradation of ``task`` (default ``args.task``) and exactly one matching level
    option (or "auto", where the option allows it). With ``task="infer"`` the task follows
    the one level option given, if any."""
    from csrnet.protocol.degrade import Degradation

    task = task or args.task
    if task == "infer":
        given = [t for t, o in LEVEL_OPTIONS.items() if getattr(args, o) is not None]
        if len(given) > 1:
            raise UsageError("give at most one of --scale, --sigma, --quality")
        if not given:
            return None
        task = given[0]
    wanted = LEVEL_OPTIONS[task]
    for option in LEVEL_OPTIONS.values():
        given = getattr(args, option) is not None
        if option == wanted and not given:
            raise UsageError(f"{task} needs --{option}")
        if option != wanted and given:
            raise UsageError(f"--{option} does not apply to {task}")
    if getattr(args, wanted) == AUTO:
        return AUTO  # read from each photo (csrnet.inference.levels)
    if getattr(args, wanted) == CAMERA:
        return Degradation.camera()
    try:
        return Degradation(task, getattr(args, wanted), clip=getattr(args, "clip", False))
    except CsrnetError as exc:
        raise UsageError(str(exc)) from None


class UsageError(CsrnetError):
    """A bad combination of options (exit status 2)."""


def check_tile_options(tile: int, overlap: int | None = None) -> None:
    from csrnet.inference.tiling import DEFAULT_OVERLAP, check_tile

    try:
        check_tile(tile, DEFAULT_OVERLAP if overlap is None else overlap)
    except CsrnetError as exc:
        raise UsageError(str(exc)) from None


def check_output_folder(path: str | None) -> None:
    """Fail before any work if an output file could not be written."""
    if path is None:
        return
    from csrnet.protocol.images import check_output_path

    try:
        check_output_path(path)
    except CsrnetError as exc:
        raise UsageError(str(exc)) from None
