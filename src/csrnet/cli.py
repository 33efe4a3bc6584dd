"""The ``csrnet`` command line: a thin layer over the package's functions.

Every user error ends with one line on stderr (``csrnet: error: ...``) and a non-zero exit
status: 2 for bad options, 1 for bad data. Nothing is written unless the command succeeds.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from . import __version__
from .errors import CsrnetError, CsrnetWarning
from .images import DEFAULT_DATA_ROOT

# Tolerances against the paper's baseline rows (the foundation issue's acceptance bar).
PSNR_TOLERANCE = 0.05
SSIM_TOLERANCE = 0.002


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, without the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


Commands = argparse._SubParsersAction  # what add_subparsers returns: one parser a command


def build_parser() -> Parser:
    """The ``csrnet`` command line: one sub-parser a command, built by the ``_add_*``
    functions below (the short ones inline)."""
    parser = Parser(
        prog="csrnet", description="Cross-Scale Residual Network for image restoration."
    )
    parser.add_argument("--version", action="version", version=f"csrnet {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    info = commands.add_parser("info", help="versions, device, and the size of the model presets")
    info.add_argument("--preset", default="all", help="a preset name, or 'all' (default)")
    _add_baseline(commands)
    _add_baseline_table(commands)
    _add_evaluate(commands)
    _add_restore(commands)
    commands.add_parser("models", help="list the shipped and user weights")
    _add_serve(commands)
    _add_report(commands)
    _add_train(commands)
    ox = commands.add_parser(
        "export-onnx", help="write weights as an ONNX model (dynamic batch, height, width)"
    )
    ox.add_argument("weights", metavar="WEIGHTS", help="a .safetensors file or weights name")
    ox.add_argument("-o", "--output", required=True, metavar="model.onnx")
    _add_check_overlap(commands)
    ex = commands.add_parser("export", help="write a run's weights as fp16 safetensors")
    ex.add_argument("run_dir", metavar="RUN_DIR")
    ex.add_argument("-o", "--output", required=True, metavar="NAME.safetensors")
    ex.add_argument("--checkpoint", choices=["best", "last"], default="best")
    return parser


def _add_baseline(commands: Commands) -> None:
    """`csrnet baseline`: the degraded input (or BM3D) scored by the protocol."""
    base = commands.add_parser(
        "baseline",
        help="score the degraded input itself (bicubic / noisy / JPEG) on a folder of images",
        description="Score the degraded input against the clean images by the paper's protocol.",
    )
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
    base.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    base.add_argument("--csv", metavar="FILE", help="write per-image scores to FILE")
    base.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _add_baseline_table(commands: Commands) -> None:
    """`csrnet baseline-table`: the paper's Bicubic and JPEG rows."""
    table = commands.add_parser(
        "baseline-table",
        help="reproduce every baseline row of the paper's Tables II and IV",
        description="Score Bicubic (Table II) and JPEG (Table IV) on the paper's test sets "
        "and print them beside the paper's numbers as Markdown.",
    )
    table.add_argument(
        "--data-root",
        default=DEFAULT_DATA_ROOT,
        help=f"folder holding Set5, Set14, ... (default: $CSRNET_DATA or {DEFAULT_DATA_ROOT})",
    )
    table.add_argument("-o", "--output", metavar="FILE", help="also write the Markdown to FILE")
    table.add_argument("--json", action="store_true", help="print the rows as JSON instead")
    table.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _add_evaluate(commands: Commands) -> None:
    """`csrnet evaluate`: weights scored on test sets."""
    ev = commands.add_parser(
        "evaluate",
        help="score weights on the paper's test sets by the protocol",
        description="Score weights files on test sets at the settings stored in each file "
        "(or the one given), with per-image rows in --csv.",
    )
    ev.add_argument("weights", nargs="+", metavar="WEIGHTS", help=".safetensors files")
    ev.add_argument(
        "--sets",
        help="comma-separated test sets (default: the paper's for the task; RGB models: "
        "the colour sets, CBSD68 and Urban100 or LIVE1)",
    )
    ev.add_argument(
        "--data-root", default=DEFAULT_DATA_ROOT, help=f"folder of the sets ({DEFAULT_DATA_ROOT})"
    )
    add_level_options(ev)
    add_model_run_options(ev, backend="torch")
    ev.add_argument("--tile", type=int, default=0, help="run on tiles of N pixels (0: whole)")
    ev.add_argument("--seed", type=int, default=0, help="noise seed (denoise; default 0)")
    ev.add_argument("--json", action="store_true", help="print the results as JSON")
    ev.add_argument("--csv", metavar="FILE", help="write per-image scores to FILE")
    ev.add_argument(
        "--scores",
        metavar="DIR",
        help="keep per-image scores in DIR, csrnet report's cache (one file per weights "
        "file, named by a hash of its tensors): images found there are not scored again",
    )
    ev.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    ev.add_argument(
        "--record",
        action="store_true",
        help="store the measured means in each weights file (shown by `csrnet models`)",
    )


def _add_restore(commands: Commands) -> None:
    """`csrnet restore`: photos restored with shipped or given weights."""
    rs = commands.add_parser(
        "restore",
        help="restore photos (files, folders or globs) with shipped or given weights",
        description="Restore photos: super-resolve (--task sr --scale S), denoise "
        "(--task denoise --sigma N) or deblock (--task jpeg --quality Q). Colour photos get "
        "an RGB model where one is installed for the setting (--channels), else are restored "
        "on Y, with Cb/Cr bicubic (SR) or kept. Results are written as PNG.",
    )
    rs.add_argument("inputs", nargs="*", metavar="INPUT", help="image files, folders or globs")
    rs.add_argument("-o", "--output", required=True, help="output file (one input) or folder")
    rs.add_argument("--task", choices=["sr", "denoise", "jpeg"], required=True)
    add_level_options(rs)
    rs.add_argument("--weights", help="weights file or name (default: best installed)")
    rs.add_argument(
        "--channels",
        choices=["auto", "y", "rgb"],
        default="auto",
        help="auto: an RGB model for colour images when one is installed for the setting; "
        "y: restore Y, keep or enlarge Cb/Cr (the paper's way); rgb: the RGB model",
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
    rs.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _add_serve(commands: Commands) -> None:
    """`csrnet serve`: the local web page."""
    sv = commands.add_parser(
        "serve",
        help="a local web page to restore an image and compare before and after",
        description="Serve one page on this machine: drop an image, pick the task, watch the "
        "progress, compare with a slider and download the result. Needs `pip install "
        "'csrnet[serve]'`.",
    )
    sv.add_argument("--host", default="127.0.0.1", help="address to bind (default: localhost)")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    sv.add_argument(
        "--backend", choices=BACKENDS, default="auto", help="CPU runtime, as for restore"
    )
    sv.add_argument("--max-upload-mb", type=float, default=20.0, help="upload size cap")
    sv.add_argument("--max-megapixels", type=float, default=12.0, help="input pixel cap")


def _add_report(commands: Commands) -> None:
    """`csrnet report`: the paper's tables for folders of weights."""
    rp = commands.add_parser(
        "report",
        help="the paper's Tables I-V for folders of weights, as Markdown",
        description="Evaluate every .safetensors of each --weights-dir on the paper's test sets "
        "and write Tables I-V beside the paper's numbers, a per-image CSV, and figures.",
    )
    rp.add_argument(
        "--weights-dir",
        action="append",
        required=True,
        help="folder of .safetensors weights (repeatable: the released files, a study's runs)",
    )
    rp.add_argument("-o", "--output", default="docs/RESULTS.md", help="Markdown file to write")
    rp.add_argument(
        "--data-root", default=DEFAULT_DATA_ROOT, help=f"folder of the sets ({DEFAULT_DATA_ROOT})"
    )
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
    rp.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _add_train(commands: Commands) -> None:
    """`csrnet train`: a run from a YAML recipe."""
    tr = commands.add_parser(
        "train",
        help="train a model from a recipe in configs/",
        description="Train from a YAML recipe. Several GPUs: torchrun --nproc_per_node=N "
        "-m csrnet.train CONFIG [options].",
    )
    tr.add_argument("config", metavar="CONFIG", help="a recipe, e.g. configs/fast_sr_x2.yaml")
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


def _add_check_overlap(commands: Commands) -> None:
    """`csrnet check-overlap`: training images that share pixels with test images."""
    ov = commands.add_parser(
        "check-overlap",
        help="list training images that share pixels with test images (crops included)",
        description="Exit status 0: no overlap; 1: overlaps found (listed on stdout).",
    )
    ov.add_argument("--train", required=True, help="comma-separated training folders")
    ov.add_argument("--test", required=True, help="comma-separated test folders")
    ov.add_argument("--data-root", default=DEFAULT_DATA_ROOT, help="base of relative folders")
    ov.add_argument("--json", action="store_true", help="print the overlaps as JSON")
    ov.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def add_level_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scale", type=int, help="SR scale factor (2-16)")
    parser.add_argument("--sigma", type=float, help="noise sigma on the [0, 255] scale")
    parser.add_argument("--quality", type=int, help="JPEG quality (1-100)")


BACKENDS = ["auto", "torch", "openvino", "openvino-int8", "onnxruntime", "onnxruntime-int8"]


def add_model_run_options(parser: argparse.ArgumentParser, backend: str) -> None:
    """How a model runs: shared by evaluate and restore."""
    parser.add_argument("--self-ensemble", action="store_true", help="x8 flip/rotation ensemble")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default=backend,
        help=f"CPU runtime (default {backend}; auto: the fastest installed that keeps fp32's "
        "PSNR; -int8: quantized, see README 'Speed')",
    )


LEVEL_OPTIONS = {"sr": "scale", "denoise": "sigma", "jpeg": "quality"}


def degradation_from_args(args: argparse.Namespace, task: str | None = None):
    """The Degradation of ``task`` (default ``args.task``) and exactly one matching level
    option. With ``task="infer"`` the task follows the one level option given, if any."""
    from .degrade import Degradation

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
    try:
        return Degradation(task, getattr(args, wanted), clip=getattr(args, "clip", False))
    except CsrnetError as exc:
        raise UsageError(str(exc)) from None


class UsageError(CsrnetError):
    """A bad combination of options (exit status 2)."""


def check_tile_options(tile: int, overlap: int | None = None) -> None:
    from .tiling import DEFAULT_OVERLAP, check_tile

    try:
        check_tile(tile, DEFAULT_OVERLAP if overlap is None else overlap)
    except CsrnetError as exc:
        raise UsageError(str(exc)) from None


def cmd_info(args: argparse.Namespace) -> None:
    import torch

    from .model import PRESETS, make_model, multiply_adds_per_pixel

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
    from .evaluate import evaluate_folder

    degradation = degradation_from_args(args)
    check_output_folder(args.csv)
    if args.method == "bm3d":
        run = bm3d_run(args, degradation)
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


def bm3d_run(args: argparse.Namespace, degradation) -> dict:
    """BM3D's results for ``baseline --method bm3d`` computed into the cache (``--jobs``
    processes), and how ``evaluate_folder`` reads them back. Images whose rows the score log
    has are skipped, so a run cut off resumes where it stopped: with one job, each row is
    written as its image is done; with more, once every image is computed."""
    from .classical import CachedBM3D, fill_cache
    from .scorecache import ScoreCache

    if args.seed or args.clip:
        raise UsageError("--method bm3d runs on the protocol's noise: no --seed or --clip")
    if args.jobs < 1:
        raise UsageError("--jobs must be >= 1")
    if degradation.task != "denoise":
        raise UsageError(f"BM3D denoises; it has no {degradation.task} setting")
    folder, cache = Path(args.dataset), Path(args.cache)
    bm3d = CachedBM3D(cache, folder.name, degradation.level, args.rgb)
    log = ScoreCache(args.scores).log(bm3d.label) if args.scores else None
    if args.jobs > 1:  # with one job, evaluate_folder computes each image and logs its row

        def scored(name: str) -> bool:
            return log is not None and log.get(folder.name, degradation.label, name) is not None

        progress = not args.no_progress
        fill_cache(
            folder, degradation, cache, args.rgb, args.jobs, progress=progress, scored=scored
        )
    return {
        "restore": bm3d.restore_fn(folder, log=log),
        "method": bm3d.method,
        "log": log,
        "timing": bm3d.seconds,
    }


def cmd_baseline_table(args: argparse.Namespace) -> None:
    from .degrade import Degradation
    from .evaluate import evaluate_folder
    from .images import write_atomic
    from .paper import baseline_rows

    root = Path(args.data_root)
    rows = baseline_rows()
    missing = sorted({d for _, _, d, _, _ in rows if not (root / d).is_dir()})
    if missing:
        raise CsrnetError(f"{root}: missing test sets {', '.join(missing)} (set --data-root)")
    check_output_folder(args.output)
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


def baseline_markdown(results: list[dict]) -> str:
    """The rows of ``baseline-table`` as a Markdown table; '!' marks a cell off the paper."""
    name = {"sr": "II Bicubic", "jpeg": "IV JPEG"}
    lines = [
        "| Table | Setting | Set | Paper PSNR | Ours PSNR | Δ PSNR "
        "| Paper SSIM | Ours SSIM | Δ SSIM |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        d_psnr, d_ssim = r["psnr"] - r["paper_psnr"], r["ssim"] - r["paper_ssim"]
        flag_p = " !" if abs(d_psnr) > PSNR_TOLERANCE else ""
        flag_s = " !" if abs(d_ssim) > SSIM_TOLERANCE else ""
        lines.append(
            f"| {name[r['task']]} | {r['setting']} | {r['dataset']} | {r['paper_psnr']:.2f} | "
            f"{r['psnr']:.3f} | {d_psnr:+.3f}{flag_p} | {r['paper_ssim']:.4f} | {r['ssim']:.4f} | "
            f"{d_ssim:+.4f}{flag_s} |"
        )
    lines.append(
        f"\n'!' marks a difference beyond {PSNR_TOLERANCE} dB PSNR or {SSIM_TOLERANCE} SSIM.\n"
    )
    return "\n".join(lines)


def cmd_evaluate(args: argparse.Namespace) -> None:
    check_tile_options(args.tile)
    override = degradation_from_args(args, task="infer")
    if args.record and args.backend != "torch":
        raise UsageError("--record stores the protocol's fp32 scores: use --backend torch")
    if args.scores and (args.backend != "torch" or args.self_ensemble or args.tile or args.seed):
        raise UsageError(
            "--scores keeps the protocol's scores: no --backend other than torch, "
            "--self-ensemble, --tile or --seed"
        )

    from .evaluate import evaluate_weights
    from .images import write_atomic
    from .train import resolve_device

    root = Path(args.data_root)
    folders = [root / n.strip() for n in args.sets.split(",") if n.strip()] if args.sets else None
    missing = [str(f) for f in folders or [] if not f.is_dir()]
    if missing:
        raise CsrnetError(f"missing test sets: {', '.join(missing)}")
    check_output_folder(args.csv)
    device = str(resolve_device(args.device))
    cache = None
    if args.scores:
        from .scorecache import ScoreCache

        cache = ScoreCache(args.scores, device)
    results = []
    for weights in args.weights:
        results += evaluate_weights(
            weights,
            folders,
            root,
            override,
            args.self_ensemble,
            args.tile,
            device,
            args.seed,
            progress=not args.no_progress,
            backend=args.backend,
            log=cache.for_weights(weights) if cache else None,
        )
    if args.record:
        from .weights import record_benchmarks

        suffix = "+" if args.self_ensemble else ""
        for weights in args.weights:
            name = Path(weights).name.removesuffix(".safetensors") + suffix
            measured = {
                f"{r.dataset} {r.degradation.label}{suffix}": {
                    "psnr": round(r.psnr, 4),
                    "ssim": round(r.ssim, 5),
                    "images": len(r.images),
                }
                for r in results
                if r.method == name
            }
            record_benchmarks(weights, measured)
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


def cmd_restore(args: argparse.Namespace) -> int:
    deg = degradation_from_args(args)  # options first: torch takes seconds to import
    check_tile_options(args.tile, args.overlap)
    if args.threads < 0:
        raise UsageError("--threads must be >= 0")
    if args.skip_existing and args.overwrite:
        raise UsageError("give at most one of --skip-existing and --overwrite")
    if args.demo == bool(args.inputs):
        raise UsageError("give INPUT files or --demo (not both)")

    import torch

    from .images import write_atomic
    from .photos import ModelChoice, Photo, demo_image, expand_inputs, make_demo, restore_files
    from .train import resolve_device

    if args.threads:
        torch.set_num_threads(args.threads)
    device = str(resolve_device(args.device))
    choose = ModelChoice(deg, args.weights, device, args.channels, args.backend)
    run = {
        "device": device,
        "tile": args.tile,
        "ensemble": args.self_ensemble,
        "overlap": args.overlap,
    }

    if args.demo:
        out = Path(args.output)
        check_output_folder(str(out))
        if out.exists() and not args.overwrite:
            raise CsrnetError(f"{out}: exists; pass --overwrite to replace it")
        model, meta = choose(Photo(demo_image(deg)[1]))  # the sample photo is colour
        sheet, before, after, space = make_demo(model, deg, **run)
        write_atomic(out, lambda tmp: sheet.save(tmp, format="PNG"))
        print(
            f"{out}: {deg.task} {deg.label} on a sample photo, PSNR on {space}: "
            f"{'bicubic' if deg.task == 'sr' else 'input'} {before:.2f} dB, "
            f"CSRnet {after:.2f} dB (weights of recipe {meta.get('recipe', '?')})"
        )
        return 0

    inputs = expand_inputs(args.inputs)
    out = Path(args.output)
    failures = restore_files(
        inputs, out, choose, deg, run, args.skip_existing, args.overwrite, not args.no_progress
    )
    for failure in failures:
        print(f"csrnet: failed: {failure}", file=sys.stderr)
    done = len(inputs) - len(failures)
    print(f"restored {done} of {len(inputs)} images into {out}")
    if failures:
        raise CsrnetError(f"{len(failures)} of {len(inputs)} images failed (listed above)")
    return 0


def cmd_models(args: argparse.Namespace) -> None:
    from .photos import available_weights, user_weights_dir
    from .weights import describe_levels

    found = available_weights()
    for path, meta in found:
        task = meta["task"]
        levels = describe_levels(task)
        steps = meta.get("steps", 0)
        total = meta.get("total_steps", steps)
        chain = f" ({total:,} in all, warm-started)" if total > steps else ""
        rgb = " RGB" if meta["model"].get("image_channels", 1) == 3 else ""
        print(
            f"{path.stem}: {task['task']}{rgb} {levels}, {steps:,} training steps{chain} "
            f"(recipe {meta.get('recipe', '?')}), {path}"
        )
        for name, score in sorted(meta.get("benchmarks", {}).items()):
            ssim = f", SSIM {score['ssim']:.4f}" if isinstance(score.get("ssim"), float) else ""
            cited = _published(task, name, bool(rgb))
            print(f"    {name}: PSNR {score['psnr']:.2f} dB{ssim}{cited}")
        val = meta.get("validation") or {}
        data = meta.get("config", {}).get("data", {})
        if "psnr" in val and not meta.get("benchmarks"):
            subset = f"first {data['val_images']} of " if data.get("val_images") else ""
            print(f"    validation ({subset}{data.get('val', '?')}): PSNR {val['psnr']:.2f} dB")
    if not found:
        print(f"(none; put .safetensors weights in {user_weights_dir()})")


def _published(task: dict, benchmark: str, rgb: bool) -> str:
    """Other methods' published PSNR beside an RGB model's score ("CBSD68 sigma25")."""
    from .anchors import published

    dataset, _, setting = benchmark.partition(" ")
    level = setting.removeprefix("sigma").removeprefix("q")
    if not rgb or not level.isdigit():
        return ""
    cited = published(task["task"], dataset, float(level))
    return f" (published: {', '.join(f'{m} {p:.2f}' for m, p in cited.items())})" if cited else ""


def cmd_report(args: argparse.Namespace) -> None:
    from .report import build_report
    from .train import resolve_device

    if args.limit < 0 or (args.study_limit or 0) < 0:
        raise UsageError("--limit and --study-limit must be >= 0")
    if not args.output.endswith(".md"):
        raise UsageError(f"{args.output}: the report must be a .md file")
    check_output_folder(args.output)
    device = str(resolve_device(args.device))
    scores = build_report(
        args.weights_dir,
        args.output,
        args.data_root,
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


def cmd_train(args: argparse.Namespace) -> int:
    from .config import load_config
    from .train import train

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

    from .overlap import find_overlaps

    root = Path(args.data_root)

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


def cmd_export_onnx(args: argparse.Namespace) -> None:
    from .onnx_export import export_onnx
    from .photos import resolve_weights
    from .weights import read_metadata

    if not args.output.endswith(".onnx"):
        raise UsageError(f"{args.output}: the output must end in .onnx")
    check_output_folder(args.output)
    path = resolve_weights(args.weights)
    meta = read_metadata(path)
    channels = meta["model"].get("image_channels", 1)
    export_onnx(path, args.output)
    print(
        f"{args.output}: {meta['task']['task']} model; input y (N, {channels}, H, W) on [0, 1], "
        "output restored"
    )


def cmd_export(args: argparse.Namespace) -> None:
    from .weights import export_run

    if not args.output.endswith(".safetensors"):
        raise UsageError(f"{args.output}: the output must end in .safetensors")
    check_output_folder(args.output)
    meta = export_run(args.run_dir, args.output, args.checkpoint)
    print(
        f"{args.output}: {meta['recipe']}, {meta['steps']} steps, validation {meta['validation']}"
    )


def check_output_folder(path: str | None) -> None:
    """Fail before any work if an output file could not be written."""
    if path is None:
        return
    from .images import check_output_path

    try:
        check_output_path(path)
    except CsrnetError as exc:
        raise UsageError(str(exc)) from None


def cmd_serve(args: argparse.Namespace) -> None:
    import socket

    if not 0 < args.port < 65536:
        raise UsageError(f"--port {args.port}: must be 1-65535")
    if args.max_upload_mb <= 0 or args.max_megapixels <= 0:
        raise UsageError("--max-upload-mb and --max-megapixels must be positive")
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise CsrnetError("csrnet serve needs its extra: pip install 'csrnet[serve]'") from None
    with socket.socket() as probe:  # a clear line now rather than uvicorn's log later
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((args.host, args.port))
        except OSError as exc:
            raise CsrnetError(
                f"cannot listen on {args.host}:{args.port} ({exc.strerror}); pass --port"
            ) from None
    from .backends import choose_backend
    from .serve import serve
    from .train import resolve_device

    device = str(resolve_device(args.device))
    choose_backend(args.backend, device)  # an unknown or missing one: refused before serving
    serve(
        args.host,
        args.port,
        device,
        backend=args.backend,
        max_upload_bytes=int(args.max_upload_mb * 2**20),
        max_pixels=int(args.max_megapixels * 1e6),
    )


COMMANDS = {
    "info": cmd_info,
    "baseline": cmd_baseline,
    "baseline-table": cmd_baseline_table,
    "evaluate": cmd_evaluate,
    "report": cmd_report,
    "restore": cmd_restore,
    "models": cmd_models,
    "serve": cmd_serve,
    "train": cmd_train,
    "export": cmd_export,
    "export-onnx": cmd_export_onnx,
    "check-overlap": cmd_check_overlap,
}


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


def _run(args: argparse.Namespace) -> int:
    try:
        code = COMMANDS[args.command](args)
    except UsageError as exc:
        print(f"csrnet: error: {exc}", file=sys.stderr)
        return 2
    except CsrnetError as exc:
        print(f"csrnet: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("csrnet: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
