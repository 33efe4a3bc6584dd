"""``csrnet models`` (the installed weights and what they score) and ``csrnet export-onnx``."""

from __future__ import annotations

import argparse

from csrnet.cli.options import Commands, UsageError, add_command, check_output_folder

__all__ = ["add_commands"]


def add_commands(commands: Commands) -> None:
    """Register ``models`` and ``export-onnx``."""
    add_command(commands, cmd_models, "models")
    ox = add_command(commands, cmd_export_onnx, "export-onnx")
    ox.add_argument("weights", metavar="WEIGHTS", help="a .safetensors file or weights name")
    ox.add_argument("-o", "--output", required=True, metavar="model.onnx")


def cmd_models(args: argparse.Namespace) -> None:
    """list the shipped and user weights"""
    from csrnet.weights import available_weights, user_weights_dir

    found = available_weights()
    for info in found:
        steps, total = info.steps, info.total_steps or info.steps
        chain = f" ({total:,} in all, warm-started)" if total > steps else ""
        rgb = " RGB" if info.channels == 3 else ""
        precisions = "+".join(dict.fromkeys(p.get("precision", "?") for p in info.precision))
        trained = f" in {precisions}" if precisions else ""
        print(
            f"{info.name}: {info.task}{rgb} {info.describe_levels()}, {steps:,} training "
            f"steps{trained}{chain} (recipe {info.recipe or '?'}), {info.path}"
        )
        for name, score in sorted(info.benchmarks.items()):
            ssim = f", SSIM {score['ssim']:.4f}" if isinstance(score.get("ssim"), float) else ""
            cited = _published(info.task, name, bool(rgb))
            print(f"    {name}: PSNR {score['psnr']:.2f} dB{ssim}{cited}")
        val, data = info.validation, info.config.get("data", {})
        if "psnr" in val and not info.benchmarks:
            subset = f"first {data['val_images']} of " if data.get("val_images") else ""
            print(f"    validation ({subset}{data.get('val', '?')}): PSNR {val['psnr']:.2f} dB")
    if not found:
        print(f"(none; put .safetensors weights in {user_weights_dir()})")
    _print_auto_choices()


def _print_auto_choices() -> None:
    """What ``--backend auto`` measured on this CPU, per weights file."""
    from csrnet.inference.backend_choice import Trial, cpu_identity, measured_choices

    choices = measured_choices()
    print(f"--backend auto on this CPU, {cpu_identity()}:")
    for entry in choices.values():
        trials = "; ".join(Trial(**t).describe() for t in entry["trials"])
        print(f"    {entry['weights']}: {entry['chosen']}, {entry['why']} ({trials})")
    if not choices:
        print("    (nothing measured yet: a model's first restore measures the back ends)")


def _published(task: str, benchmark: str, rgb: bool) -> str:
    """Other methods' published PSNR beside an RGB model's score ("CBSD68 sigma25")."""
    from csrnet.evaluation.published import published

    dataset, _, setting = benchmark.partition(" ")
    level = setting.removeprefix("sigma").removeprefix("q")
    if not rgb or not level.isdigit():
        return ""
    cited = published(task, dataset, float(level))
    return f" (published: {', '.join(f'{m} {p:.2f}' for m, p in cited.items())})" if cited else ""


def cmd_export_onnx(args: argparse.Namespace) -> None:
    """write weights as an ONNX model (dynamic batch, height, width)"""
    from csrnet.inference.onnx import export_onnx
    from csrnet.weights import read_info, resolve_weights

    if not args.output.endswith(".onnx"):
        raise UsageError(f"{args.output}: the output must end in .onnx")
    check_output_folder(args.output)
    path = resolve_weights(args.weights)
    info = read_info(path)
    export_onnx(path, args.output)
    print(
        f"{args.output}: {info.task} model; input y (N, {info.channels}, H, W) on [0, 1], "
        "output restored"
    )
