"""Training commands: ``train`` (a run from a recipe), ``export`` (a run's weights as a
release file) and ``check-overlap`` (training images that share pixels with test images)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from csrnet.cli.options import Commands, UsageError, add_data_root_option, check_output_folder
from csrnet.protocol.images import data_root


def add_commands(commands: Commands) -> None:
    """Register the training commands."""
    _add_train(commands)
    ex = commands.add_parser("export", help="write a run's weights as fp16 safetensors")
    ex.add_argument("run_dir", metavar="RUN_DIR")
    ex.add_argument("-o", "--output", required=True, metavar="NAME.safetensors")
    ex.add_argument("--checkpoint", choices=["best", "last"], default="best")
    ex.set_defaults(run=cmd_export)
    _add_check_overlap(commands)


def _add_train(commands: Commands) -> None:
    """`csrnet train`: a run from a YAML recipe."""
    tr = commands.add_parser(
        "train",
        help="train a model from a recipe in configs/",
        description="Train from a YAML recipe. Several GPUs: torchrun --nproc_per_node=N "
        "-m csrnet.training CONFIG [options].",
    )
    tr.add_argument("config", metavar="CONFIG", help="a recipe, e.g. configs/fast/sr_x2.yaml")
    tr.add_argument("--resume", action="store_true", help="continue the run in --run-dir")
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
    tr.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    tr.set_defaults(run=cmd_train)


def _add_check_overlap(commands: Commands) -> None:
    """`csrnet check-overlap`: training images that share pixels with test images."""
    ov = commands.add_parser(
        "check-overlap",
        help="list training images that share pixels with test images (crops included)",
        description="Exit status 0: no overlap; 1: overlaps found (listed on stdout).",
    )
    ov.add_argument("--train", required=True, help="comma-separated training folders")
    ov.add_argument("--test", required=True, help="comma-separated test folders")
    add_data_root_option(ov)
    ov.add_argument("--json", action="store_true", help="print the overlaps as JSON")
    ov.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    ov.set_defaults(run=cmd_check_overlap)


def cmd_train(args: argparse.Namespace) -> int:
    from csrnet.training.config import load_config
    from csrnet.training.loop import train

    overrides = [*args.set, *([f"device={args.device}"] if args.device else [])]
    cfg = load_config(args.config, overrides)
    run_dir = Path(args.run_dir or Path("runs") / cfg.name)
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
    from dataclasses import asdict

    from csrnet.training.overlap import find_overlaps

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
    from csrnet.training.export import export_run

    if not args.output.endswith(".safetensors"):
        raise UsageError(f"{args.output}: the output must end in .safetensors")
    check_output_folder(args.output)
    meta = export_run(args.run_dir, args.output, args.checkpoint)
    print(
        f"{args.output}: {meta['recipe']}, {meta['steps']} steps, validation {meta['validation']}"
    )
