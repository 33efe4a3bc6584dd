"""``csrnet restore``: photos (files, folders or globs) or the demo, restored with shipped or
given weights."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from csrnet.cli.options import (
    Commands,
    UsageError,
    add_command,
    add_level_options,
    add_model_run_options,
    add_output_options,
    check_output_folder,
    check_tile_options,
    degradation_from_args,
)
from csrnet.errors import CsrnetError
from csrnet.inference.options import (
    AUTO,
    AUTO_SOURCES,
    CHANNELS,
    LEVEL_OPTIONS,
    checked_strength,
    level_or_auto,
)

__all__ = ["add_commands"]


def add_commands(commands: Commands) -> None:
    """Register ``restore``: photos restored with shipped or given weights."""
    rs = add_command(commands, cmd_restore, "restore")
    rs.add_argument("inputs", nargs="*", metavar="INPUT", help="image files, folders or globs")
    rs.add_argument("-o", "--output", required=True, help="output file (one input) or folder")
    rs.add_argument("--task", choices=list(LEVEL_OPTIONS), required=True)
    add_level_options(rs, auto=True)
    rs.add_argument("--weights", help="weights file or name (default: best installed)")
    rs.add_argument(
        "--channels",
        choices=CHANNELS,
        default=AUTO,
        help="auto: an RGB model for colour images when one is installed for the setting; "
        "y: restore Y, keep or enlarge Cb/Cr (the paper's way); rgb: the RGB model",
    )
    rs.add_argument(
        "--strength",
        default="1",
        help="denoise and jpeg: how much of the model's change to keep (0: the input, "
        "1: the model's output (default), up to 1.5: stronger; auto: chosen per photo from "
        "what the model removed, for camera noise)",
    )
    rs.add_argument("--tile", type=int, default=0, help="tile side (0: from a 2 GiB cap)")
    rs.add_argument("--overlap", type=int, default=32, help="tile margin in pixels")
    add_model_run_options(rs, backend="auto")
    rs.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    rs.add_argument("--skip-existing", action="store_true", help="skip outputs already there")
    rs.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    rs.add_argument(
        "--demo",
        action="store_true",
        help="degrade a sample photo, restore it, write a side-by-side PNG to -o",
    )
    add_output_options(rs)


def cmd_restore(args: argparse.Namespace) -> int:
    """restore photos (files, folders or globs) with shipped or given weights

    Restore photos: super-resolve (--task sr --scale S), denoise (--task denoise: a photo's own
    noise by the camera-noise model; --sigma N: Gaussian noise) or deblock (--task jpeg
    --quality Q). Colour photos get an RGB model where one is installed for
    the setting (--channels), else are restored on Y, with Cb/Cr bicubic (SR) or kept. Results
    are written as PNG.
    """
    if args.task == "denoise" or (args.task == "jpeg" and not args.demo):
        # a photo's noise is its camera's; a JPEG file says its quality
        option = LEVEL_OPTIONS[args.task]
        setattr(args, option, level_or_auto(args.task, getattr(args, option)))
    deg = degradation_from_args(args)  # options first: torch takes seconds to import
    if deg == AUTO and args.demo:
        raise UsageError("--demo degrades its sample itself: give the level, not auto")
    check_tile_options(args.tile, args.overlap)
    level = getattr(args, LEVEL_OPTIONS[args.task])
    try:
        args.strength = checked_strength(args.task, args.strength, level)
    except CsrnetError as exc:
        raise UsageError(f"--{exc}") from None
    if args.threads < 0:
        raise UsageError("--threads must be >= 0")
    if args.skip_existing and args.overwrite:
        raise UsageError("give at most one of --skip-existing and --overwrite")
    if args.demo == bool(args.inputs):
        raise UsageError("give INPUT files or --demo (not both)")

    import torch

    from csrnet.devices import resolve_device
    from csrnet.inference.choice import ModelCache, ModelChoices
    from csrnet.inference.files import restore_files
    from csrnet.inference.levels import LevelReader
    from csrnet.inference.options import RunOptions

    if args.threads:
        torch.set_num_threads(args.threads)
    device = str(resolve_device(args.device))
    first = None if deg == AUTO else deg
    cache = ModelCache(device, args.backend)  # checks the back end: no model loaded yet
    out, inputs = _checked_paths(args)
    choices = ModelChoices(cache, args.weights, args.channels, first)
    run = RunOptions(device, args.tile, args.self_ensemble, args.overlap, strength=args.strength)

    if args.demo:
        return _restore_demo(args, deg, choices, run)

    levels = LevelReader(args.task, deg)
    result = restore_files(
        inputs, out, choices, levels, run, args.skip_existing, args.overwrite, not args.no_progress
    )
    return _summary(args, deg, inputs, out, result)


def _checked_paths(args: argparse.Namespace) -> tuple[Path, list[Path]]:
    """The output path and the inputs (none for the demo), checked before a model is loaded,
    or measured by auto."""
    from csrnet.inference.files import expand_inputs, output_paths

    out = Path(args.output)
    if args.demo:
        check_output_folder(str(out))
        if out.exists() and not args.overwrite:
            raise CsrnetError(f"{out}: exists; pass --overwrite to replace it")
        return out, []
    inputs = expand_inputs(args.inputs)
    output_paths(inputs, out)
    return out, inputs


def _restore_demo(args: argparse.Namespace, deg, choices, run) -> int:
    """``--demo``: the sample photo degraded, restored and laid out beside the original."""
    from csrnet.inference.demo import demo_image, make_demo
    from csrnet.inference.photo import Photo
    from csrnet.protocol.images import write_atomic

    out = Path(args.output)
    model, weights = choices(deg)(Photo(demo_image(deg)[1]))  # the sample photo is colour
    sheet, before, after, space = make_demo(model, deg, run)
    write_atomic(out, lambda tmp: sheet.save(tmp, format="PNG"))
    print(
        f"{out}: {deg.task} {deg.label} on a sample photo, PSNR on {space}: "
        f"{'bicubic' if deg.task == 'sr' else 'input'} {before:.2f} dB, "
        f"CSRnet {after:.2f} dB (weights of recipe {weights.recipe or '?'})"
    )
    return 0


def _summary(args: argparse.Namespace, deg, inputs: list, out: Path, result) -> int:
    """The failures, one line each, and one line of what was restored, with which weights
    and at which levels."""
    from csrnet.parallel import is_main

    failures = result.failures
    for failure in failures if is_main() else []:  # under torchrun, every rank has them all
        print(f"csrnet: failed: {failure}", file=sys.stderr)
    done = len(inputs) - len(failures)
    notes = []
    counts = ", ".join(f"{label} x{n}" for label, n in sorted(result.settings.items()))
    if deg == AUTO and result.settings:
        notes.append(f"levels from {AUTO_SOURCES[args.task]}: {counts}")
    elif any(label != deg.label for label in result.settings):  # a light JPEG's handling
        notes.append(counts)
    elif deg != AUTO and deg.camera_noise:
        notes.append("camera noise")
    if args.strength == AUTO and result.strengths:
        low, high = min(result.strengths), max(result.strengths)
        notes.append(f"strength auto {low:.2f}" + (f" to {high:.2f}" if high > low else ""))
    elif args.strength not in (1.0, AUTO):
        notes.append(f"strength {args.strength:g}")
    read = f" ({', '.join(notes)})" if notes else ""
    models = ", ".join(
        name if len(result.models) == 1 else f"{name} x{n}" for name, n in result.models.items()
    )
    used = f" with {models}" if models else ""
    print(f"restored {done} of {len(inputs)} images into {out}{used}{read}")
    if failures:
        raise CsrnetError(f"{len(failures)} of {len(inputs)} images failed (listed above)")
    return 0
