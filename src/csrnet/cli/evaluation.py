"""Commands that measure: ``evaluate`` (weights on the benchmark sets), ``baseline`` and
``baseline-table`` (bicubic, noisy, JPEG and BM3D by the protocol), ``report`` (the paper's
tables and figures) and ``info``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from csrnet import __version__
from csrnet.cli.options import (
    Commands,
    UsageError,
    add_command,
    add_data_root_option,
    add_level_options,
    add_model_run_options,
    add_output_options,
    check_output_folder,
    check_tile_options,
    degradation_from_args,
)
from csrnet.datasets.locate import require_sets
from csrnet.protocol.images import data_root


def add_commands(commands: Commands) -> None:
    """Register the commands that measure."""
    _add_evaluate(commands)
    _add_baseline(commands)
    _add_baseline_table(commands)
    _add_report(commands)
    info = add_command(commands, cmd_info, "info")
    info.add_argument("--preset", default="all", help="a preset name, or 'all' (default)")


def _add_baseline(commands: Commands) -> None:
    """`csrnet baseline`: the degraded input (or BM3D) scored by the protocol."""
    base = add_command(commands, cmd_baseline, "baseline")
    base.add_argument("task", choices=["sr", "denoise", "jpeg"])
    base.add_argument("dataset", metavar="DATASET_DIR", help="folder of clean images")
    add_level_options(base)
    base.add_argument("--seed", type=int, default=0, help="noise seed (denoise; default 0)")
    base.add_argument("--clip", action="store_true", help="clip noisy images to [0, 255]")
    base.add_argument(
        "--rgb", action="store_true", help="score on RGB instead of Y (colour images only)"
    )
    base.add_argument(
        "--method",
        choices=["input", "bm3d"],
        default="input",
        help="input: the degraded image itself (default); bm3d: BM3D, with --rgb CBM3D "
        "(denoise only; the bm3d package)",
    )
    base.add_argument(
        "--jobs", type=int, default=1, help="BM3D: processes at once (at most one per core)"
    )
    base.add_argument("--cache", default=".cache", help="BM3D: results folder (default .cache)")
    base.add_argument(
        "--scores",
        metavar="DIR",
        help="BM3D: keep per-image rows in the score cache DIR, as csrnet report does",
    )
    add_output_options(base, json="print one JSON object on stdout", csv=True)


def _add_baseline_table(commands: Commands) -> None:
    """`csrnet baseline-table`: the paper's Bicubic and JPEG rows."""
    table = add_command(commands, cmd_baseline_table, "baseline-table")
    add_data_root_option(table)
    table.add_argument("-o", "--output", metavar="FILE", help="also write the Markdown to FILE")
    add_output_options(table, json="print the rows as JSON instead")


def _add_evaluate(commands: Commands) -> None:
    """`csrnet evaluate`: weights scored on test sets."""
    ev = add_command(commands, cmd_evaluate, "evaluate")
    ev.add_argument(
        "weights",
        nargs="+",
        metavar="WEIGHTS",
        help=".safetensors files, or names of installed weights (csrnet models)",
    )
    ev.add_argument(
        "--sets",
        help="comma-separated test sets (default: the paper's for the task; RGB models: "
        "the colour sets, CBSD68 and Urban100 or LIVE1)",
    )
    add_data_root_option(ev)
    add_level_options(ev)
    add_model_run_options(ev, backend="torch")
    ev.add_argument("--tile", type=int, default=0, help="run on tiles of N pixels (0: whole)")
    ev.add_argument("--seed", type=int, default=0, help="noise seed (denoise; default 0)")
    ev.add_argument(
        "--scores",
        metavar="DIR",
        help="keep per-image scores in DIR, csrnet report's cache (one file per weights "
        "file, named by a hash of its tensors): images found there are not scored again",
    )
    add_output_options(ev, json="print the results as JSON", csv=True)
    ev.add_argument(
        "--record",
        action="store_true",
        help="store the measured means in each weights file (shown by `csrnet models`)",
    )


def _add_report(commands: Commands) -> None:
    """`csrnet report`: the paper's tables for folders of weights."""
    rp = add_command(commands, cmd_report, "report")
    rp.add_argument(
        "--weights-dir",
        action="append",
        required=True,
        help="folder of .safetensors weights (repeatable: the released files, a study's runs)",
    )
    rp.add_argument("-o", "--output", default="docs/RESULTS.md", help="Markdown file to write")
    add_data_root_option(rp)
    rp.add_argument("--bm3d", action="store_true", help="add BM3D to the denoising table")
    rp.add_argument("--figures", action="store_true", help="also write PNG figures")
    rp.add_argument("--limit", type=int, default=0, help="first N images of each set (0: all)")
    rp.add_argument(
        "--study-limit",
        type=int,
        help="first N images of each set for Tables I and V (default: --limit): their "
        "variants differ by 0.01-0.3 dB, so they want more images than the others",
    )
    rp.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    rp.add_argument("--cache", default=".cache", help="where BM3D results are kept")
    rp.add_argument(
        "--scores",
        help="folder of per-image scores, reused and extended (default: <output folder>/scores)",
    )
    rp.add_argument(
        "--cached",
        action="store_true",
        help="score nothing: write the tables from --scores as they are, leaving out (and "
        "listing) each set whose images are not all there",
    )
    add_output_options(rp)


def cmd_info(args: argparse.Namespace) -> None:
    """versions, device, and the size of the model presets"""
    import torch

    from csrnet.model import PRESETS, make_model, multiply_adds_per_pixel

    names = list(PRESETS) if args.preset == "all" else [args.preset]
    if args.preset != "all" and args.preset not in PRESETS:
        raise UsageError(f"unknown preset {args.preset!r}; choose from all, {', '.join(PRESETS)}")
    device = f"cuda ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "cpu"
    print(f"csrnet {__version__}")
    print(f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}")
    print(
        f"{'preset':<14}{'D':>3}{'R':>3}{'scales':>7}{'dense':>7}{'parameters':>12}{'MACs/pixel':>12}"
    )
    for name in names:
        model = make_model(name)
        cfg = model.config
        params = sum(p.numel() for p in model.parameters())
        macs = multiply_adds_per_pixel(model)
        print(
            f"{name:<14}{cfg.depth:>3}{cfg.res_blocks:>3}{cfg.scales:>7}{str(cfg.dense):>7}"
            f"{params:>12,}{macs / 1e6:>11.3f}M"
        )


def cmd_baseline(args: argparse.Namespace) -> None:
    """score the degraded input itself (bicubic / noisy / JPEG) on a folder of images

    Score the degraded input against the clean images by the paper's protocol.
    """
    from csrnet.evaluation.evaluate import evaluate_folder

    degradation = degradation_from_args(args)
    check_output_folder(args.csv)
    if degradation.camera_noise and not args.rgb:
        raise UsageError("camera noise is made and scored on colour images: add --rgb")
    if args.method == "bm3d":
        if args.seed or args.clip:
            raise UsageError("--method bm3d runs on the protocol's noise: no --seed or --clip")
        if args.jobs < 1:
            raise UsageError("--jobs must be >= 1")
        if degradation.task != "denoise":
            raise UsageError(f"BM3D denoises; it has no {degradation.task} setting")
        if degradation.camera_noise:
            raise UsageError("BM3D takes the noise's sigma: give a number, not camera")
        from csrnet.evaluation.bm3d import bm3d_run

        folder, progress = Path(args.dataset), not args.no_progress
        run = bm3d_run(
            folder, degradation, Path(args.cache), args.scores, args.rgb, args.jobs, progress
        )
    elif args.scores or args.jobs != 1:
        raise UsageError("--scores and --jobs go with --method bm3d")
    else:
        run = {"seed": args.seed}
    result = evaluate_folder(
        args.dataset, degradation, progress=not args.no_progress, rgb=args.rgb, **run
    )
    if args.csv:
        result.write_csv(args.csv)
    if args.json:
        print(json.dumps(result.summary()))
    else:
        print(
            f"{result.dataset} {args.task} {degradation.label}: {len(result.images)} images, "
            f"PSNR {result.psnr:.3f} dB, SSIM {result.ssim:.4f}"
        )


def cmd_baseline_table(args: argparse.Namespace) -> None:
    """reproduce every baseline row of the paper's Tables II and IV

    Score Bicubic (Table II) and JPEG (Table IV) on the paper's test sets and print them beside
    the paper's numbers as Markdown.
    """
    from csrnet.evaluation.evaluate import evaluate_folder
    from csrnet.evaluation.paper import baseline_markdown, baseline_rows
    from csrnet.protocol.degrade import Degradation
    from csrnet.protocol.images import write_atomic

    check_output_folder(args.output)  # a bad option first: no data is read for nothing
    root = Path(args.data_root or data_root())
    rows = baseline_rows()
    require_sets(root, [d for _, _, d, _, _ in rows])
    results = []
    for task, level, dataset, paper_psnr, paper_ssim in rows:
        ours = evaluate_folder(
            root / dataset, Degradation(task, level), progress=not args.no_progress
        )
        results.append({**ours.summary(), "paper_psnr": paper_psnr, "paper_ssim": paper_ssim})
    if args.json:
        print(json.dumps(results, indent=1))
    markdown = baseline_markdown(results)
    if not args.json:
        print(markdown, end="")
    if args.output:
        write_atomic(args.output, lambda tmp: tmp.write_text(markdown, encoding="utf-8"))


def cmd_evaluate(args: argparse.Namespace) -> None:
    """score weights on the paper's test sets by the protocol

    Score weights files on test sets at the settings stored in each file (or the one given),
    with per-image rows in --csv.
    """
    check_tile_options(args.tile)
    override = degradation_from_args(args, task="infer")
    if args.record and args.backend != "torch":
        raise UsageError("--record stores the protocol's fp32 scores: use --backend torch")
    if args.scores and (args.backend != "torch" or args.self_ensemble or args.tile or args.seed):
        raise UsageError(
            "--scores keeps the protocol's scores: no --backend other than torch, "
            "--self-ensemble, --tile or --seed"
        )

    from csrnet.devices import resolve_device
    from csrnet.evaluation.evaluate import evaluate_weights
    from csrnet.weights import resolve_weights

    args.weights = [resolve_weights(w) for w in args.weights]

    root = Path(args.data_root or data_root())
    names = [n.strip() for n in (args.sets or "").split(",") if n.strip()]
    require_sets(root, names)
    folders = [root / n for n in names] or None
    check_output_folder(args.csv)
    device = str(resolve_device(args.device))
    cache = None
    if args.scores:
        from csrnet.evaluation.scorecache import ScoreCache

        cache = ScoreCache(args.scores, device)
    run = {"ensemble": args.self_ensemble, "tile": args.tile, "device": device, "seed": args.seed}
    run.update(progress=not args.no_progress, backend=args.backend)
    results = []
    for weights in args.weights:
        log = cache.for_weights(weights) if cache else None
        results += evaluate_weights(weights, folders, root, override, log=log, **run)
    _report_evaluation(args, results)


def _report_evaluation(args: argparse.Namespace, results: list) -> None:
    """Record the means (``--record``), write the per-image CSV, print the results."""
    from csrnet.evaluation.evaluate import record_results
    from csrnet.parallel import is_main
    from csrnet.protocol.images import write_atomic

    if not is_main():  # under torchrun, rank 0 writes
        return
    for weights in args.weights if args.record else []:
        record_results(weights, results, args.self_ensemble)
    if args.csv:
        text = "".join(r.csv_text(header=i == 0) for i, r in enumerate(results))
        write_atomic(args.csv, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    if args.json:
        print(json.dumps([r.summary() for r in results], indent=1))
        return
    for r in results:
        print(
            f"{r.method} {r.dataset} {r.degradation.label}: PSNR {r.psnr:.3f} dB, "
            f"SSIM {r.ssim:.4f}, {r.seconds_per_image:.2f} s/image, "
            f"{r.megapixels_per_second:.3f} Mpx/s ({len(r.images)} images)"
        )


def cmd_report(args: argparse.Namespace) -> None:
    """the paper's Tables I-V for folders of weights, as Markdown

    Evaluate every .safetensors of each --weights-dir on the paper's test sets and write Tables
    I-V beside the paper's numbers, a per-image CSV, and figures.
    """
    from csrnet.devices import resolve_device
    from csrnet.report.build import build_report

    if args.limit < 0 or (args.study_limit or 0) < 0:
        raise UsageError("--limit and --study-limit must be >= 0")
    if not args.output.endswith(".md"):
        raise UsageError(f"{args.output}: the report must be a .md file")
    check_output_folder(args.output)
    device = str(resolve_device(args.device))
    scores = build_report(
        args.weights_dir,
        args.output,
        args.data_root or data_root(),
        args.bm3d,
        args.figures,
        args.limit,
        device,
        args.cache,
        progress=not args.no_progress,
        study_limit=args.study_limit,
        scores_dir=args.scores,
        cached_only=args.cached,
    )
    print(
        f"{args.output}: {len(scores)} set scores; per-image rows in "
        f"{Path(args.output).with_suffix('.csv')}"
    )
