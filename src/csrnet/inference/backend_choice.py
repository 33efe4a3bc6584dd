"""Which back end runs a model: the one named, or for ``auto`` the fastest installed that
keeps the model's PSNR within ``GATE_DB`` of PyTorch fp32, as measured on this CPU.

Speed and rounding depend on the CPU's units (bf16 on AMX or AVX512-BF16, int8 dot products
on VNNI or AMX) and on the runtime's kernels for them: on one Intel Xeon with AMX, int8 lost
0.031 dB on CBSD68 sigma 25 where an AMD EPYC without those units lost under 0.015. So the
first ``auto`` restore of a weights file on a CPU model runs each candidate once on
``GATE_PATCHES`` training patches (the int8 calibration's images, another draw; never test
images) against their clean targets, times it on one tile, and keeps what it measured in the
cache folder under the CPU's name, its flags and the runtime's version
(:func:`measured_choices`; ``csrnet models`` lists them). Measured speeds and whole-set
accuracy: docs/SPEED.md.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from csrnet.devices import cpu_flags, device_label
from csrnet.errors import warn
from csrnet.inference import backends
from csrnet.inference.backends import (
    CACHE_VERSION,
    CompiledModel,
    cache_dir,
    check_backend,
    model_key,
    run_on,
)
from csrnet.inference.options import AUTO
from csrnet.model import CSRnet
from csrnet.protocol.metrics import psnr
from csrnet.weights import WeightsInfo

__all__ = ["GATE_DB", "Trial", "choose_backend", "compile_model", "measured_choices", "pick"]

GATE_DB = 0.02  # PSNR a back end may lose against PyTorch fp32 and still be chosen
TIE = 0.05  # speeds within 5% count as tied: the more accurate is chosen
CANDIDATES = ("openvino-int8-bf16", "openvino-int8", "openvino-bf16", "openvino", "torch")
GATE_PATCHES, GATE_SIDE, GATE_STEP = 24, 120, 1  # the calibration's draw is step 0
# the levels of the accuracy cells (Set5 x2, BSD68 / CBSD68 sigma 25, Classic5 / LIVE1 q10)
GATE_LEVELS = {"sr": 2.0, "denoise": 25.0, "jpeg": 10.0}
SPEED_SIDE, SPEED_RUNS = 384, 2  # one tile, best of these after a warm-up
RECORD = "auto-choices.json"


@dataclass(frozen=True)
class Trial:
    """One back end on one weights file: PSNR minus torch's (dB) and speed (Mpx/s)."""

    backend: str
    db: float
    mpx_s: float

    def describe(self) -> str:
        return f"{self.backend} {self.mpx_s:.3f} Mpx/s, {self.db:+.3f} dB"


def choose_backend(backend: str, device: str = "cpu") -> str:
    """``backend``, checked (known, installed, for ``device``); "auto" is torch on a GPU."""
    check_backend(backend, device)
    return "torch" if backend == AUTO and str(device).startswith("cuda") else backend


def compile_model(
    model: CSRnet, info: WeightsInfo, backend: str, threads: int = 0
) -> CSRnet | CompiledModel:
    """``model`` run by ``backend``; for "auto" on the CPU, by the back end the measured
    choice names (measured now if this CPU has not measured these weights). The result's
    ``backend`` says which (a torch model: none)."""
    device = str(next(model.parameters()).device)
    backend = choose_backend(backend, device)
    threads = threads or torch.get_num_threads()
    if backend != AUTO:
        return run_on(model, info, backend, threads)
    names = candidates()
    if names == ["torch"]:
        return model
    key = f"{model_key(model)}-v{CACHE_VERSION}"
    entry = measured_choices().get(key, {})
    chosen = entry.get("chosen")
    tried = {t.get("backend") for t in entry.get("trials", []) if isinstance(t, dict)}
    if chosen not in names or not tried >= set(names):  # a candidate new since: measure
        chosen = _measure(model, info, names, threads, key)
    return run_on(model, info, chosen, threads)


def candidates() -> list[str]:
    """The back ends auto may pick here: the installed of CANDIDATES, bf16 only where the
    CPU computes it natively."""
    return [b for b in CANDIDATES if backends.usable(b)]


def pick(trials: list[Trial]) -> tuple[str, str]:
    """The back end to run, and why: the fastest of those within GATE_DB of torch (those
    within TIE of the fastest: the most accurate)."""
    kept = [t for t in trials if t.db >= -GATE_DB]
    fastest = max(kept, key=lambda t: t.mpx_s)
    best = max((t for t in kept if t.mpx_s >= fastest.mpx_s * (1 - TIE)), key=lambda t: t.db)
    why = f"the fastest within {GATE_DB} dB of torch fp32"
    if best is not fastest:
        why += f" (within {TIE:.0%} of {fastest.backend}'s speed, and more accurate)"
    dropped = [f"{t.backend} ({t.db:+.3f} dB)" for t in trials if t not in kept]
    if dropped:
        why += f"; losing more: {', '.join(dropped)}"
    return best.backend, why


def _measure(model: CSRnet, info: WeightsInfo, names: list[str], threads: int, key: str) -> str:
    from csrnet.inference.calibration import training_pairs

    label = info.name or "the weights"
    warn(f"backend auto: measuring {', '.join(names)} for {label} on this CPU (once)")
    level = GATE_LEVELS[info.task] if info.covers(GATE_LEVELS[info.task]) else None
    pairs, source = training_pairs(info, GATE_PATCHES, GATE_SIDE, GATE_STEP, level=level)
    inputs, targets = pairs
    repeats = -(-SPEED_SIDE // GATE_SIDE)
    tile = np.tile(inputs[:1], (1, 1, repeats, repeats))[..., :SPEED_SIDE, :SPEED_SIDE].copy()
    reference = None
    trials = []
    for name in ["torch", *(n for n in names if n != "torch")]:
        run = run_on(model, info, name, threads)
        psnr = _psnr(run, inputs, targets)
        reference = psnr if reference is None else reference
        trials.append(Trial(name, round(psnr - reference, 4), round(_speed(run, tile), 4)))
    chosen, why = pick(trials)
    entry = {
        "weights": label,
        "chosen": chosen,
        "why": why,
        "trials": [asdict(t) for t in trials],
        "patches": f"{GATE_PATCHES} of {GATE_SIDE}x{GATE_SIDE} from {source}"
        + (f" at {level:g}" if level is not None else " at its training levels"),
        "threads": threads,
        "measured": time.strftime("%Y-%m-%d"),
    }
    _remember(key, entry)
    warn(f"backend auto: {chosen} for {label} ({'; '.join(t.describe() for t in trials)})")
    return chosen


def _psnr(run, inputs: np.ndarray, targets: np.ndarray, batch: int = 8) -> float:
    """Mean PSNR (8-bit, whole patch) of ``run``'s outputs against ``targets``."""
    scores = []
    with torch.inference_mode():
        for i in range(0, len(inputs), batch):
            out = run(torch.from_numpy(inputs[i : i + batch])).float().cpu().numpy()
            for got, ref in zip(out, targets[i : i + batch], strict=True):
                scores.append(psnr(_to_8bit(got), _to_8bit(ref)))
    return float(np.mean(scores))


def _to_8bit(x: np.ndarray) -> np.ndarray:
    return np.round(np.clip(x, 0, 1) * 255)


def _speed(run, tile: np.ndarray) -> float:
    """Megapixels a second of ``run`` on ``tile``: the best of SPEED_RUNS after a warm-up."""
    x = torch.from_numpy(tile)
    seconds = []
    with torch.inference_mode():
        for _ in range(SPEED_RUNS + 1):
            start = time.perf_counter()
            run(x)
            seconds.append(time.perf_counter() - start)
    return tile.shape[-1] * tile.shape[-2] / min(seconds[1:]) / 1e6


@functools.cache
def cpu_identity() -> str:
    """The CPU model, its arithmetic flags and the OpenVINO version: what a choice holds for."""
    version = ""
    with contextlib.suppress(ImportError):
        from openvino import get_version

        version = f"; openvino {get_version().split('-')[0]}"
    flags = ", ".join(cpu_flags()) or "no bf16/int8 flags"
    return f"{device_label('cpu').removeprefix('cpu: ')} ({flags}){version}"


def _record_path() -> Path:
    return cache_dir() / RECORD


def _read_record() -> dict[str, Any]:
    try:
        record = json.loads(_record_path().read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def measured_choices() -> dict[str, dict[str, Any]]:
    """What auto measured on this CPU, by weights key (``model_key``-v``CACHE_VERSION``)."""
    choices = _read_record().get(cpu_identity(), {})
    return choices if isinstance(choices, dict) else {}


def _remember(key: str, entry: dict[str, Any]) -> None:
    """Add ``entry`` to the record, written whole to a temporary file and moved in; a cache
    that cannot be written only costs a new measurement next time."""
    record = _read_record()
    record.setdefault(cpu_identity(), {})[key] = entry
    path = _record_path()
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(record, indent=1))
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        warn(f"{path}: cannot keep what auto measured ({exc.strerror or exc})")
