"""Training commands: ``train`` (a run from a recipe), ``export`` (a run's weights as a
release file) and ``check-overlap`` (training images that share pixels with test images)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from csrnet.cli.options import (
    Commands,
    UsageError,
    add_command,
    add_data_root_option,
    add_output_options,
    check_output_folder,
)
from csrnet.protocol.images import data_root


def add_commands(commands: Commands) -> None:
    """Register the training commands."""
    _add_train(commands)
    ex = add_command(commands, cmd_export, "export")
    ex.add_argument("run_dir", metavar="RUN_DIR")
    ex.add_argument("-o", "--output", required=True, metavar="NAME.safetensors")
    ex.add_argument("--checkpoint", choices=["best", "last"], default="best")
    _add_check_overlap(commands)


def _add_train(commands: Commands) -> None:
    """`csrnet train`: a run from a YAML recipe."""
    tr = add_command(commands, cmd_train, "train")
    tr.add_argument("config", metavar="CONFIG", help="a recipe, e.g. configs/fast/sr_x2.yaml")
    tr.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --run-dir with the settings it started with (its "
        "config.yaml; --set still changes one)",
    )
    tr.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set optim.lr=1e-4 (repeatable)",
    )
    tr.add_argument("--dry-run", action="store_true", help="check config and data, print the plan")
    tr.add_argument("--run-dir", help="folder for checkpoints and logs (default runs/NAME)")
    tr.add_argument(
        "--device", choices=["auto", "cpu", "cuda"], help="override the config's device"
    )
    add_output_options(tr)


def _add_check_overlap(commands: Commands) -> None:
    """`csrnet check-overlap`: training images that share pixels with test images."""
    ov = add_command(commands, cmd_check_overlap, "check-overlap")
    ov.add_argument("--train", required=True, help="comma-separated training folders")
    ov.add_argument("--test", required=True, help="comma-separated test folders")
    add_data_root_option(ov)
    add_output_options(ov, json="print the overlaps as JSON")


def cmd_train(args: argparse.Namespace) -> int:
    """train a model from a recipe in configs/

    Train from a YAML recipe. Several GPUs: torchrun --nproc_per_node=N -m csrnet train CONFIG
    [options].
    """
    from csrnet.training.config import RUN_CONFIG, load_config, resume_config
    from csrnet.training.loop import train

    overrides = [*args.set, *([f"device={args.device}"] if args.device else [])]
    cfg = load_config(args.config, overrides)
    run_dir = Path(args.run_dir or Path("runs") / cfg.name)
    if args.resume:
        cfg, differ = resume_config(cfg, run_dir, overrides)
        if differ:
            print(
                f"csrnet: resuming with the run's own settings ({run_dir / RUN_CONFIG}), "
                f"which differ from {args.config} in {', '.join(differ)}; --set changes one",
                file=sys.stderr,
            )
    result = train(
        cfg, run_dir, resume=args.resume, dry_run=args.dry_run, progress=not args.no_progress
    )
    if result.interrupted:
        print(
            f"csrnet: interrupted at step {result.step}; checkpoint saved. Resume with: "
            f"csrnet train {args.config} --resume --run-dir {run_dir}",
            file=sys.stderr,
        )
        return 130
    if not args.dry_run:
        print(
            f"{cfg.name}: {result.step} steps in {run_dir}; "
            f"best validation PSNR {result.best_psnr:.3f} dB"
        )
    return 0


def cmd_check_overlap(args: argparse.Namespace) -> int:
    """list training images that share pixels with test images (crops included)

    Exit status 0: no overlap; 1: overlaps found (listed on stdout).
    """
    from dataclasses import asdict

    from csrnet.datasets.overlap import find_overlaps

    root = Path(args.data_root or data_root())

    def folders(names: str) -> list[Path]:
        return [root / n.strip() for n in names.split(",") if n.strip()]

    overlaps = find_overlaps(folders(args.train), folders(args.test), progress=not args.no_progress)
    if args.json:
        print(json.dumps([asdict(o) for o in overlaps], indent=1))
    else:
        for o in overlaps:
            print(f"{o.train} shares {o.height}x{o.width} pixels with {o.test} ({o.version})")
        print(
            f"{len(overlaps)} overlapping pairs, {len({o.train for o in overlaps})} training images"
        )
    return 1 if overlaps else 0


def cmd_export(args: argparse.Namespace) -> None:
    """write a run's weights as fp16 safetensors"""
    from csrnet.training.export import export_run

    if not args.output.endswith(".safetensors"):
        raise UsageError(f"{args.output}: the output must end in .safetensors")
    check_output_folder(args.output)
    info = export_run(args.run_dir, args.output, args.checkpoint)
    print(f"{args.output}: {info.recipe}, {info.steps} steps, validation {info.validation}")
