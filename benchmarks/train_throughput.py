"""Training throughput of the D8R6 model: patches/s, step time, and the data-loading share.

For each task and each (patch size, batch size) of the shipped recipes, it times making the
batch in the training process (workers=0: the worst case for data loading) and the training
step (forward, backward, optimiser), on the CPU and, when there is one, on the GPU (bf16
autocast, channels_last).

    python benchmarks/train_throughput.py [--data-root ../shared/data] [--steps 5]
        [--devices cpu,cuda] [--settings paper:31:10,fast:64:16,gpu:64:32]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from csrnet.data import PatchRecipe, TrainingImages, make_batch
from csrnet.model import make_model

SETTINGS = "paper:31:10,fast:64:16,gpu:64:32"  # recipe:patch:batch of the shipped recipes
TASKS = {  # task: (training folder, levels)
    "sr": ("T91", [4.0]),
    "denoise": ("Train400", [25.0]),
    "jpeg": ("Train400", [10.0]),
}


def time_steps(
    device: torch.device, images, task, levels, patch, batch, steps
) -> tuple[float, float]:
    """Mean seconds to make a batch, and to train one step on it."""
    torch.manual_seed(0)
    model = make_model("CSRnet-Dense").to(device)
    cuda = device.type == "cuda"
    if cuda:
        model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    data_s = step_s = 0.0
    for step in range(steps + 1):  # step 0 warms up
        t0 = time.perf_counter()
        x, y = make_batch(images, PatchRecipe(task, levels, None, patch, 0), step, range(batch))
        t1 = time.perf_counter()
        x, y = x.to(device), y.to(device)
        if cuda:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
            loss = F.l1_loss(model(x).float(), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if cuda:
            torch.cuda.synchronize()
        t2 = time.perf_counter()
        if step:
            data_s, step_s = data_s + t1 - t0, step_s + t2 - t1
    return data_s / steps, step_s / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=os.environ.get("CSRNET_DATA", "../shared/data"))
    parser.add_argument(
        "--steps", type=int, default=5, help="timed steps per row (after one warm-up)"
    )
    parser.add_argument("--tasks", default="sr,denoise,jpeg")
    parser.add_argument("--devices", help="cpu, cuda or both (default: cpu, and cuda if any)")
    parser.add_argument("--settings", default=SETTINGS, help="recipe:patch:batch,...")
    args = parser.parse_args()
    names = args.devices or ("cpu,cuda" if torch.cuda.is_available() else "cpu")
    devices = [torch.device(name) for name in names.split(",")]
    settings = [(r, int(p), int(b)) for r, p, b in (x.split(":") for x in args.settings.split(","))]
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads"
        + (f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no GPU")
    )
    print("| device | task | recipe | patch | batch | patches/s | step s | data s | data share |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for task in args.tasks.split(","):
        folder, levels = TASKS[task]
        images = TrainingImages.load(
            [Path(args.data_root) / folder], task, levels if task == "sr" else [], 64
        )
        for device in devices:
            for recipe, patch, batch in settings:
                data_s, step_s = time_steps(device, images, task, levels, patch, batch, args.steps)
                total = data_s + step_s
                print(
                    f"| {device.type} | {task} | {recipe} | {patch} | {batch} | "
                    f"{batch / total:.1f} | {step_s:.3f} | {data_s:.4f} | {data_s / total:.1%} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
