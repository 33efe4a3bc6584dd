"""Which memory layout and precision make a CPU training step fastest: one D8R6 step (forward,
L1 loss, backward, AdamW) as the CPU recipe takes it (batch 10 of 48x48, input skip), in the
default (contiguous) layout and in channels_last, in fp32 and under bf16 autocast, for the gray
and the RGB model, in one run.

``csrnet train`` uses channels_last in fp32 on the CPU (``training.engine``): this table is why.

    python benchmarks/cpu_layout.py                 # ~2 minutes on 2 cores
    python benchmarks/cpu_layout.py --steps 10 --batch 16 --patch 64
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from csrnet.devices import device_label
from csrnet.model import make_model


def seconds_per_step(channels: int, channels_last: bool, bf16: bool, args) -> float:
    """The median time of ``args.steps`` timed steps, after two untimed ones."""
    torch.manual_seed(0)
    net = make_model(input_skip=True, image_channels=channels)
    optimizer = torch.optim.AdamW(net.parameters(), lr=2e-4)
    inputs = torch.rand(args.batch, channels, args.patch, args.patch)
    targets = torch.rand_like(inputs)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    times = []
    for _ in range(args.steps + 2):
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            restored = net(inputs)
        loss = F.l1_loss(restored.float(), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    timed = sorted(times[2:])
    return timed[len(timed) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5, help="timed steps per row")
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--patch", type=int, default=48)
    args = parser.parse_args()
    print(f"{device_label('cpu')}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"D8R6 training step, batch {args.batch} of {args.patch}x{args.patch}\n")
    print("| model | layout | precision | s/step | vs contiguous fp32 |")
    print("|---|---|---|---|---|")
    for channels in (1, 3):
        base = None
        for channels_last in (False, True):
            for bf16 in (False, True):
                t = seconds_per_step(channels, channels_last, bf16, args)
                base = base or t
                print(
                    f"| {'RGB' if channels == 3 else 'gray'} "
                    f"| {'channels_last' if channels_last else 'contiguous'} "
                    f"| {'bf16 autocast' if bf16 else 'fp32'} | {t:.3f} | {base / t:.2f}x |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
