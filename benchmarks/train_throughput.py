"""Training throughput of the D8R6 model: the training engines side by side, in one run.

Each row times one training step as ``csrnet train`` runs it (``training.engine``): the model,
the recipe's AdamW and clipping, channels_last, in each of ``--precisions`` (fp32, or bf16
autocast with fp32 master weights: ``training.precision``). Engines:

- ``eager``: today's default, patches made on the host (``data.sampler: host``, in the
  training process: the worst case for data loading) and copied over;
- ``eager-contiguous``: eager with the weights and patches in the default (NCHW) layout;
- ``eager-device``: eager, patches drawn on the device (``data.sampler: device``);
- ``eager-tuned``: eager-device with ``cudnn_benchmark`` (cuDNN times its algorithms per
  shape; ``configs/base/gpu.yaml`` turns it on);
- ``compile``: torch.compile (``--compile-mode``), device patches;
- ``graph``: the whole step as one CUDA graph, device patches (CUDA only);
- ``graph-tuned``: graph with ``cudnn_benchmark``, the campaign's step.
- ``graph-half-nchw``: graph with ``half_scale_nchw`` (the half scale's residual bodies and
  its F_down in NCHW, the rest channels_last): whether that keeps cuDNN off the slow tf32
  weight-gradient kernel it picks for them in channels_last, and what the step gains;
  ``eager-half-nchw``, its eager step, is the one to ``--profile`` for its kernels.

It prints steps/s, seconds per step, patch pixels/s, the ratio to eager at the same batch,
and the share of the GPU's bf16 matrix rate, measured in the same run (an 8192^3 product).
A step is counted as three forwards (the backward costs about two): 3 x 2 FLOP per
multiply-add x 1.343 M multiply-adds per pixel x the batch's patch pixels. An engine that
fails prints a "failed" row, and the run goes on with the others.

``--check-steps N`` also trains N steps of every engine from the same seed on the same
device patches and prints how far each loss curve is from eager-device's (the GPU half of
the check that tests/training/test_engine.py makes on the CPU).

``--profile ENGINE`` ends with where that engine's step spends its time: the operators and
kernels of ``--profile-steps`` steps at the first batch size, by self device time (CPU time
on the CPU), with the device time summed per step against the step's wall time: the GPU's
idle share is the difference; then the convolution backwards grouped by input shapes, the
slowest first (which layers the fp32 weight-gradient kernels of TRAINING.md belong to).

``--layers`` times each distinct convolution of the model alone, forward and backward at
the first batch size, in channels_last (as the recipes train) and in NCHW, with their sums
over the model's layers: whether another memory layout, for all layers or some, would cut
the step's kernel time. On CUDA it sums the kernels' device time (a layer alone is
launch-bound, so its wall time measures the host) and marks "(tf32)" where cuDNN ran part of
the layer in an fp32 kernel, as it does for the half-scale weight gradients in the step.

    python benchmarks/train_throughput.py                      # CPU: eager at the recipes'
    python benchmarks/train_throughput.py --engines eager-contiguous,eager \
        --precisions fp32,bf16 --batches 10,16,32          # the CPU table of TRAINING.md
    python benchmarks/train_throughput.py --devices cuda --engines eager,graph,compile \
        --batches 16,32,64,128 --check-steps 200
    python benchmarks/train_throughput.py --devices cuda --engines eager --batches 32 \
        --profile eager-device                             # which kernels a step spends on
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

from csrnet.datasets.patches import TrainingImages
from csrnet.devices import cpu_bf16_flags, device_label, native_bf16
from csrnet.errors import CsrnetError, first_line
from csrnet.model import CSRnet, multiply_adds_per_pixel
from csrnet.training.batches import make_batches, next_batch
from csrnet.training.config import load_config
from csrnet.training.engine import engine_class
from csrnet.training.optimizer import make_optimizer, use_training_layout
from csrnet.training.precision import choose_precision

ROOT = Path(__file__).resolve().parents[1]
RECIPES = {
    "sr": "fast/sr_x4.yaml",
    "denoise": "fast/denoise_s30.yaml",
    "jpeg": "fast/jpeg_q10.yaml",
}
ENGINES = {  # label: (engine, sampler, cudnn_benchmark, half_scale_nchw)
    "eager": ("eager", "host", False, False),
    "eager-contiguous": ("eager", "host", False, False),  # and NCHW throughout (Trainer)
    "eager-device": ("eager", "device", False, False),
    "eager-tuned": ("eager", "device", True, False),
    "eager-half-nchw": ("eager", "device", False, True),
    "compile": ("compile", "device", False, False),
    "graph": ("graph", "device", False, False),
    "graph-tuned": ("graph", "device", True, False),
    "graph-half-nchw": ("graph", "device", False, True),
}


def recipe(
    task: str, label: str, patch: int, batch: int, device: str, args, precision: str = "auto"
) -> object:
    engine, sampler, tuned, half_nchw = ENGINES[label]
    return load_config(
        ROOT / "configs" / RECIPES[task],
        [
            f"engine={engine}",
            f"data.sampler={sampler}",
            f"data.patch_size={patch}",
            f"data.batch_size={batch}",
            f"data.root={args.data_root}",
            f"device={device}",
            f"compile_mode={args.compile_mode}",
            f"cudnn_benchmark={str(tuned).lower()}",
            f"half_scale_nchw={str(half_nchw).lower()}",
            f"precision={precision}",
            "schedule.warmup_steps=0",
            "data.workers=0",  # host batches made in the process: the worst case
        ],
    )


class Trainer:
    """One engine's steps on one recipe, as ``csrnet train`` makes them."""

    def __init__(
        self, cfg, images: TrainingImages, device: torch.device, seed: int = 0, nchw: bool = False
    ):
        torch.manual_seed(seed)
        self.model = CSRnet(cfg.model_config).to(device)
        self.device, self.cfg, self.nchw = device, cfg, nchw
        self.optimizer = make_optimizer(cfg, self.model.parameters(), device)
        if not nchw:
            use_training_layout(self.model, self.optimizer, cfg.half_scale_nchw)
        self.host, batches = make_batches(cfg, images, device)
        shape = (cfg.data.batch_size, 1, cfg.data.patch_size, cfg.data.patch_size)
        chosen = choose_precision(cfg.precision, device, cfg.model_config, shape, cfg.loss)
        engine = engine_class(cfg, device)
        self.engine = engine(cfg, self.model, self.optimizer, device, batches, chosen.bf16)
        self.step = 0

    def __call__(self) -> torch.Tensor:
        batch = next_batch(self.host, self.device) if self.host is not None else None
        if batch is not None and self.nchw:
            batch = (batch[0].contiguous(), batch[1])
        loss = self.engine(self.step, self.cfg.optim.lr, batch)
        self.step += 1
        return loss

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


def seconds_per_step(trainer: Trainer, warmup: int, seconds: float) -> tuple[float, float]:
    """(seconds per step, seconds of warm-up, compilation and capture included)."""
    t0 = time.perf_counter()
    for _ in range(warmup):
        trainer()
    trainer.sync()
    t1 = time.perf_counter()
    steps, t2 = 0, t1
    while t2 - t1 < seconds or steps < 3:
        for _ in range(5):
            trainer()
        steps += 5
        trainer.sync()
        t2 = time.perf_counter()
    return (t2 - t1) / steps, t1 - t0


def bf16_peak_tflops(device: torch.device) -> float:
    """This GPU's bf16 matrix rate: the best of ten 8192^3 products on random data."""
    a = torch.randn(8192, 8192, device=device, dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(10):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        a @ b
        end.record()
        torch.cuda.synchronize(device)
        best = min(best, start.elapsed_time(end) / 1e3)
    return 2 * 8192**3 / best / 1e12


def check_curves(task, images, device, labels, args) -> None:
    """Train ``--check-steps`` steps of each engine from one seed; compare with eager-device."""
    steps, batch = args.check_steps, int(args.batches.split(",")[0])
    curves = {}
    runnable = [x for x in labels if device.type == "cuda" or not x.startswith("graph")]
    for label in ["eager-device", *(x for x in runnable if x not in ("eager", "eager-device"))]:
        cfg = recipe(task, label, args.patch, batch, device.type, args)
        try:
            trainer = Trainer(cfg, images, device)
            curves[label] = np.array(torch.stack([trainer() for _ in range(steps)]).tolist())
        except (RuntimeError, CsrnetError) as exc:
            print(f"{label}: failed: {first_line(exc)}", flush=True)
    if "eager-device" not in curves:
        return
    base = curves["eager-device"]
    print(f"\nloss curves over {steps} steps from one seed ({task}, batch {batch}):")
    print(
        "| engine | max rel. diff, first 50 steps | 50-step means (eager-device: "
        + ", ".join(f"{base[i : i + 50].mean():.4f}" for i in range(0, steps, 50))
        + ") |"
    )
    print("|---|---:|---|")
    for label, curve in curves.items():
        if label == "eager-device":
            continue
        head = np.abs(curve[:50] - base[:50]) / base[:50]
        means = ", ".join(f"{curve[i : i + 50].mean():.4f}" for i in range(0, steps, 50))
        print(f"| {label} | {head.max():.2e} | {means} |", flush=True)


def profile_step(task, images, device, args) -> None:
    """Print the top operators of ``--profile-steps`` steps of the ``--profile`` engine."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    batch = int(args.batches.split(",")[0])
    cfg = recipe(task, args.profile, args.patch, batch, device.type, args)
    trainer = Trainer(cfg, images, device)
    for _ in range(max(args.warmup, 4)):  # graph: warm-up steps and the capture
        trainer()
    trainer.sync()
    cuda = device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    t0 = time.perf_counter()
    with profile(activities=activities, record_shapes=True) as prof:
        for _ in range(args.profile_steps):
            trainer()
        trainer.sync()
    wall = (time.perf_counter() - t0) / args.profile_steps
    events = prof.key_averages()
    key = "self_device_time_total" if cuda else "self_cpu_time_total"
    # on CUDA the kernels alone: an operator's self device time is its kernels' again
    kind = DeviceType.CUDA if cuda else DeviceType.CPU
    busy = sum(getattr(e, key) for e in events if e.device_type == kind) / 1e6 / args.profile_steps
    print(
        f"\nprofile of {args.profile} ({task}, batch {batch}, {args.profile_steps} steps): "
        f"{'device' if cuda else 'CPU'} time {busy * 1e3:.1f} ms per step, "
        f"wall {wall * 1e3:.1f} ms per step (profiler overhead included)"
    )
    print(events.table(sort_by=key, row_limit=args.profile_rows, max_name_column_width=60))
    print_backward_by_shape(prof, key.replace("self_", ""), args.profile_steps)


def print_backward_by_shape(prof, key: str, steps: int) -> None:
    """Convolution backwards grouped by (grad, input, weight) shapes: time per step and call."""
    rows = [
        e
        for e in prof.key_averages(group_by_input_shape=True)
        if e.key == "aten::convolution_backward"
    ]
    rows.sort(key=lambda e: getattr(e, key), reverse=True)
    print("\n| convolution backward: grad, input, weight shapes | calls/step | ms/step | us/call |")
    print("|---|---:|---:|---:|")
    for e in rows:
        total = getattr(e, key)  # microseconds over all steps
        shapes = ", ".join("x".join(map(str, s)) for s in e.input_shapes[:3])
        per_step, per_call = total / 1e3 / steps, total / e.count
        print(f"| {shapes} | {e.count / steps:g} | {per_step:.2f} | {per_call:.1f} |")


def conv_layers(batch: int, patch: int) -> dict[tuple, int]:
    """The D8R6 model's distinct convolutions at batch x patch: (kind, in, out, kernel,
    stride, input shape) -> how many of them the model has."""
    model, found = CSRnet(), {}

    def record(module, inputs, output) -> None:
        kind = "conv_t" if isinstance(module, torch.nn.ConvTranspose2d) else "conv"
        key = (kind, module.in_channels, module.out_channels, module.kernel_size[0])
        key += (module.stride[0], (batch, *inputs[0].shape[1:]))
        found[key] = found.get(key, 0) + 1

    convs = (torch.nn.Conv2d, torch.nn.ConvTranspose2d)
    hooks = [m.register_forward_hook(record) for m in model.modules() if isinstance(m, convs)]
    with torch.no_grad():  # one image finds the shapes; the batch is set in the keys
        model(torch.zeros(1, 1, patch, patch))
    for hook in hooks:
        hook.remove()
    return found


def layer_seconds(key: tuple, layout, device: torch.device, runs: int = 20) -> tuple[float, bool]:
    """Seconds of one forward and backward of the layer ``key`` alone in memory ``layout``
    (bf16 autocast on CUDA, the weight cast every call as in the graph step), and whether
    cuDNN ran any of it in an fp32 (tf32) kernel. On CUDA the seconds are the kernels' device
    time from the profiler: one layer alone is launch-bound, so wall time would measure the
    host (0.5-1 ms a layer on the H200 of 11-28, whatever the layer)."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    kind, cin, cout, k, stride, shape = key
    if kind == "conv":
        layer = torch.nn.Conv2d(cin, cout, k, stride, padding=k // 2)
    else:
        layer = torch.nn.ConvTranspose2d(cin, cout, k, stride, padding=1)
    layer = layer.to(device).to(memory_format=layout)
    x = torch.randn(shape, device=device).contiguous(memory_format=layout)
    x.requires_grad_(cin > 3)  # the first layer reads the image: no input gradient
    cuda = device.type == "cuda"

    def step() -> None:
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda, cache_enabled=False):
            out = layer(x)
        out.backward(torch.ones_like(out))

    for _ in range(3):
        step()
    if not cuda:
        start = time.perf_counter()
        for _ in range(runs):
            step()
        return (time.perf_counter() - start) / runs, False
    torch.cuda.synchronize(device)
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(runs):
            step()
        torch.cuda.synchronize(device)
    kernels = [e for e in prof.key_averages() if e.device_type == DeviceType.CUDA]
    seconds = sum(e.self_device_time_total for e in kernels) / 1e6 / runs
    return seconds, any("tf32" in e.key for e in kernels)


def print_layers(device: torch.device, batch: int, patch: int) -> None:
    """Each distinct convolution alone, forward + backward, in channels_last (as trained)
    and in NCHW: which layout each layer wants, and the model's sum under each."""
    layers = conv_layers(batch, patch)
    print(f"\nconvolutions alone, forward + backward, batch {batch} of {patch}x{patch}:")
    unit = "kernel ms" if device.type == "cuda" else "ms"
    print(f"| layer | input | in model | channels_last {unit} | NCHW {unit} | NCHW / CL |")
    print("|---|---|---:|---:|---:|---:|")
    totals = np.zeros(3)  # channels_last, NCHW, the faster of each layer
    for key, count in sorted(layers.items(), key=lambda kv: -kv[1]):
        cl, cl_fp32 = layer_seconds(key, torch.channels_last, device)
        nchw, nchw_fp32 = layer_seconds(key, torch.contiguous_format, device)
        cl, nchw = cl * 1e3, nchw * 1e3
        totals += count * np.array([cl, nchw, min(cl, nchw)])
        kind, cin, cout, k, stride, shape = key
        name = f"{kind} {cin}->{cout} {k}x{k}/{stride}"
        size = "x".join(map(str, shape))
        cells = " | ".join(
            f"{ms:.3f}" + (" (tf32)" if fp32 else "")
            for ms, fp32 in ((cl, cl_fp32), (nchw, nchw_fp32))
        )
        print(f"| {name} | {size} | {count} | {cells} | {nchw / cl:.2f} |")
    cl, nchw, best = totals
    print(f"| all, summed over the model | | | {cl:.1f} | {nchw:.1f} | best of each: {best:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=os.environ.get("CSRNET_DATA", "../shared/data"))
    parser.add_argument("--devices", help="cpu, cuda or both (default: cuda if any, else cpu)")
    parser.add_argument("--tasks", default="sr")
    parser.add_argument("--engines", default="eager", help=f"of {', '.join(ENGINES)}")
    parser.add_argument("--batches", default="16", help="batch sizes, e.g. 16,32,64,128")
    parser.add_argument(
        "--precisions",
        help="fp32 and/or bf16 (default: both where the device computes bf16 natively)",
    )
    parser.add_argument("--patch", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=3.0, help="timed per row")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    parser.add_argument("--compile-mode", default="reduce-overhead")
    parser.add_argument("--check-steps", type=int, default=0)
    parser.add_argument("--profile", choices=list(ENGINES), help="profile this engine's step")
    parser.add_argument("--profile-steps", type=int, default=10)
    parser.add_argument("--profile-rows", type=int, default=25)
    parser.add_argument(
        "--layers", action="store_true", help="time each convolution alone in both layouts"
    )
    args = parser.parse_args()
    names = args.devices or ("cuda" if torch.cuda.is_available() else "cpu")
    labels = args.engines.split(",")
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    flags = ", ".join(cpu_bf16_flags()) or "no bf16 flags"
    print(
        f"torch {torch.__version__}, {device_label('cpu')} "
        f"({os.cpu_count()} cores, {torch.get_num_threads()} threads; {flags}), {gpu}"
    )
    macs = multiply_adds_per_pixel(CSRnet())
    for device in (torch.device(n) for n in names.split(",")):
        peak = bf16_peak_tflops(device) if device.type == "cuda" else float("nan")
        if device.type == "cuda":
            print(f"bf16 matrix rate, measured: {peak:.0f} TFLOP/s")
        native = "fp32,bf16" if native_bf16(device) else "fp32"
        precisions = (args.precisions or native).split(",")
        print(
            "| device | task | engine | precision | batch | patch | steps/s | s/step "
            "| vs eager fp32 | patch px/s | TFLOP/s | of bf16 peak | warm-up s |"
        )
        print("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for task in args.tasks.split(","):
            folder = "T91" if task == "sr" else "Train400"
            levels = [4.0] if task == "sr" else []
            images = TrainingImages.load([Path(args.data_root) / folder], task, levels, args.patch)
            for batch in (int(b) for b in args.batches.split(",")):
                print_batch_rows(
                    task, images, device, batch, labels, precisions, macs * 6, peak, args
                )
            if args.check_steps:
                check_curves(task, images, device, labels, args)
            if args.profile and (not args.profile.startswith("graph") or device.type == "cuda"):
                profile_step(task, images, device, args)
        if args.layers:
            print_layers(device, int(args.batches.split(",")[0]), args.patch)


def print_batch_rows(
    task: str,
    images: TrainingImages,
    device: torch.device,
    batch: int,
    labels: list[str],
    precisions: list[str],
    flop_per_pixel: float,
    peak: float,
    args,
) -> None:
    """One table row per engine and precision at one batch size, eager fp32 first (the
    baseline of the ratio column)."""
    eager_s = float("nan")
    pairs = [(x, p) for p in precisions for x in labels]
    pairs.sort(key=lambda pair: pair != ("eager", "fp32"))
    for label, precision in pairs:
        if label.startswith("graph") and device.type != "cuda":
            continue
        row = f"| {device.type} | {task} | {label} | {precision} | {batch} |"
        cfg = recipe(task, label, args.patch, batch, device.type, args, precision)
        try:  # a variant that fails is a row; the rest of the run still counts
            trainer = Trainer(cfg, images, device, nchw=label.endswith("contiguous"))
            per_step, warm = seconds_per_step(trainer, args.warmup, args.seconds)
        except (RuntimeError, CsrnetError) as exc:
            print(f"{row} {args.patch} | failed: {first_line(exc)} |", flush=True)
            continue
        if (label, precision) == ("eager", "fp32"):
            eager_s = per_step
        pixels = batch * args.patch**2 / per_step
        tflops = flop_per_pixel * pixels / 1e12
        share = f"{tflops / peak:.1%}" if device.type == "cuda" else "-"
        print(
            f"{row} {args.patch} | {1 / per_step:.2f} | {per_step:.4f} | "
            f"{eager_s / per_step:.2f}x | {pixels / 1e6:.3f} M | {tflops:.2f} | "
            f"{share} | {warm:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
