"""Commands that restore photos: ``restore`` (files, folders or the demo), ``models`` (the
installed weights), ``serve`` (the local web page) and ``export-onnx``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from csrnet.cli.options import (
    AUTO,
    BACKENDS,
    Commands,
    UsageError,
    add_level_options,
    add_model_run_options,
    check_output_folder,
    check_tile_options,
    degradation_from_args,
)
from csrnet.errors import CsrnetError


def add_commands(commands: Commands) -> None:
    """Register the commands that restore photos."""
    _add_restore(commands)
    models = commands.add_parser("models", help="list the shipped and user weights")
    models.set_defaults(run=cmd_models)
    _add_serve(commands)
    ox = commands.add_parser(
        "export-onnx", help="write weights as an ONNX model (dynamic batch, height, width)"
    )
    ox.add_argument("weights", metavar="WEIGHTS", help="a .safetensors file or weights name")
    ox.add_argument("-o", "--output", required=True, metavar="model.onnx")
    ox.set_defaults(run=cmd_export_onnx)


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
    add_level_options(rs, auto=True)
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
    rs.set_defaults(run=cmd_restore)


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
    sv.add_argument("--max-queued", type=int, default=8, help="jobs waiting or running, in all")
    sv.add_argument("--max-per-client", type=int, default=2, help="the same, per client address")
    sv.add_argument(
        "--max-disk-mb", type=float, default=2048.0, help="space for uploads and results"
    )
    sv.add_argument(
        "--token",
        help="a token every request must carry (default: a random one when --host is not "
        "a loopback address, none on localhost)",
    )
    sv.add_argument(
        "--no-token",
        action="store_true",
        help="serve a non-loopback address without a token (anyone who reaches it may use it)",
    )
    sv.set_defaults(run=cmd_serve)


def cmd_restore(args: argparse.Namespace) -> int:
    if args.task == "jpeg" and args.quality is None and not args.demo:
        args.quality = AUTO  # a JPEG file says its quality
    deg = degradation_from_args(args)  # options first: torch takes seconds to import
    if deg == AUTO and args.demo:
        raise UsageError("--demo degrades its sample itself: give the level, not auto")
    check_tile_options(args.tile, args.overlap)
    if args.threads < 0:
        raise UsageError("--threads must be >= 0")
    if args.skip_existing and args.overwrite:
        raise UsageError("give at most one of --skip-existing and --overwrite")
    if args.demo == bool(args.inputs):
        raise UsageError("give INPUT files or --demo (not both)")

    import torch

    from csrnet.devices import resolve_device
    from csrnet.inference.choice import ModelChoices
    from csrnet.inference.demo import demo_image, make_demo
    from csrnet.inference.files import expand_inputs, restore_files
    from csrnet.inference.levels import LevelReader
    from csrnet.inference.photos import Photo
    from csrnet.parallel import is_main
    from csrnet.protocol.images import write_atomic

    if args.threads:
        torch.set_num_threads(args.threads)
    device = str(resolve_device(args.device))
    first = None if deg == AUTO else deg
    choices = ModelChoices(args.weights, device, args.channels, args.backend, first)
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
        model, meta = choices(deg)(Photo(demo_image(deg)[1]))  # the sample photo is colour
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
    task = args.task
    levels = LevelReader(task, AUTO if deg == AUTO else deg.level)
    result = restore_files(
        inputs, out, choices, levels, run, args.skip_existing, args.overwrite, not args.no_progress
    )
    failures = result.failures
    for failure in failures if is_main() else []:  # under torchrun, every rank has them all
        print(f"csrnet: failed: {failure}", file=sys.stderr)
    done = len(inputs) - len(failures)
    read = ""
    if deg == AUTO and result.settings:
        what = "the JPEG tables" if task == "jpeg" else "the noise estimate"
        counts = ", ".join(f"{label} x{n}" for label, n in sorted(result.settings.items()))
        read = f" (levels from {what}: {counts})"
    models = ", ".join(
        name if len(result.models) == 1 else f"{name} x{n}" for name, n in result.models.items()
    )
    used = f" with {models}" if models else ""
    print(f"restored {done} of {len(inputs)} images into {out}{used}{read}")
    if failures:
        raise CsrnetError(f"{len(failures)} of {len(inputs)} images failed (listed above)")
    return 0


def cmd_models(args: argparse.Namespace) -> None:
    from csrnet.weights import available_weights, describe_levels, user_weights_dir

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
    from csrnet.evaluation.published import published

    dataset, _, setting = benchmark.partition(" ")
    level = setting.removeprefix("sigma").removeprefix("q")
    if not rgb or not level.isdigit():
        return ""
    cited = published(task["task"], dataset, float(level))
    return f" (published: {', '.join(f'{m} {p:.2f}' for m, p in cited.items())})" if cited else ""


def cmd_export_onnx(args: argparse.Namespace) -> None:
    from csrnet.inference.onnx import export_onnx
    from csrnet.weights import read_metadata, resolve_weights

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


def cmd_serve(args: argparse.Namespace) -> None:
    import socket

    if not 0 < args.port < 65536:
        raise UsageError(f"--port {args.port}: must be 1-65535")
    if min(args.max_upload_mb, args.max_megapixels, args.max_disk_mb) <= 0:
        raise UsageError("--max-upload-mb, --max-megapixels and --max-disk-mb must be positive")
    if args.max_queued < 1 or args.max_per_client < 1:
        raise UsageError("--max-queued and --max-per-client must be >= 1")
    if args.token is not None and args.no_token:
        raise UsageError("give at most one of --token and --no-token")
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
    from csrnet.devices import resolve_device
    from csrnet.inference.backends import choose_backend
    from csrnet.serve.app import serve
    from csrnet.serve.guard import choose_token, is_loopback

    try:
        token = choose_token(args.host, args.token, args.no_token)
    except CsrnetError as exc:
        raise UsageError(str(exc)) from None
    if token is None and not is_loopback(args.host):
        print(
            f"csrnet: warning: {args.host} without a token: anyone who reaches it may use it",
            file=sys.stderr,
        )

    device = str(resolve_device(args.device))
    choose_backend(args.backend, device)  # an unknown or missing one: refused before serving
    serve(
        args.host,
        args.port,
        device,
        backend=args.backend,
        token=token,
        max_upload_bytes=int(args.max_upload_mb * 2**20),
        max_pixels=int(args.max_megapixels * 1e6),
        max_queued=args.max_queued,
        max_per_client=args.max_per_client,
        max_disk_bytes=int(args.max_disk_mb * 2**20),
    )
