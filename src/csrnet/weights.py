"""Released weights: fp16 safetensors files with their metadata (never pickle).

Metadata keys (all strings; JSON where structured): ``format`` ("csrnet-weights"),
``model`` (ModelConfig arguments), ``task`` (task, levels, level_range, val_levels),
``steps``, ``total_steps`` (``steps`` plus the ``init_from`` weights' own total, when they
can be read), ``train_data``, ``recipe`` (config name), ``validation`` (best validation
record), ``config`` (the whole training config), and ``benchmarks`` (means measured by
``csrnet evaluate --record``).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from .errors import CsrnetError, first_line, warn
from .images import write_atomic
from .model import CSRnet

__all__ = [
    "covers",
    "describe_levels",
    "export_run",
    "load_weights",
    "metadata_problem",
    "read_metadata",
    "record_benchmarks",
    "save_weights",
    "trained_levels",
    "warn_if_untrained_level",
]

FORMAT = "csrnet-weights"


def _encode(metadata: dict[str, Any]) -> dict[str, str]:
    """safetensors metadata is str -> str: structured values as JSON."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()}


def trained_levels(meta: dict[str, Any]) -> list[float]:
    """The settings a weights file was trained for: its fixed levels, or the levels it was
    validated at when it drew them from a range."""
    return meta["task"].get("levels") or meta["task"].get("val_levels") or []


def save_weights(path: str | os.PathLike, model: CSRnet, metadata: dict[str, Any]) -> None:
    """Write the model's parameters as fp16 safetensors, atomically, with ``metadata``."""
    tensors = {
        k: v.detach().to("cpu", torch.float16).contiguous() for k, v in model.state_dict().items()
    }
    meta = {"format": FORMAT, "model": json.dumps(dataclasses.asdict(model.config))}
    meta.update(metadata)
    write_atomic(path, lambda tmp: save_file(tensors, str(tmp), metadata=_encode(meta)))


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata of a weights file, JSON values decoded."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = f.metadata() or {}
    except FileNotFoundError:
        raise CsrnetError(f"{path}: no such weights file") from None
    except (SafetensorError, OSError, ValueError) as exc:
        raise CsrnetError(f"{path}: not a readable safetensors file ({exc})") from None
    if raw.get("format") != FORMAT:
        raise CsrnetError(f"{path}: not a csrnet weights file (no format={FORMAT} metadata)")
    meta = {}
    for key, value in raw.items():
        try:
            meta[key] = json.loads(value)
        except json.JSONDecodeError:
            meta[key] = value
    problem = metadata_problem(meta)
    if problem:
        raise CsrnetError(f"{path}: bad csrnet metadata: {problem}")
    return meta


def _numbers(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(x, (int, float)) and not isinstance(x, bool) for x in value
    )


def metadata_problem(meta: dict[str, Any]) -> str | None:
    """What makes decoded metadata unusable by the rest of the package (None: nothing): the
    one schema every reader relies on."""
    from .degrade import TASKS

    if not isinstance(meta.get("model"), dict):
        return "'model' is not a table of architecture arguments"
    task = meta.get("task")
    if not isinstance(task, dict):
        return "'task' is not a table (task, levels or level_range, val_levels)"
    if task.get("task") not in TASKS:
        return f"task {task.get('task')!r} is not one of {', '.join(TASKS)}"
    for key in ("levels", "val_levels"):
        if task.get(key) is not None and not _numbers(task[key]):
            return f"task {key} {task[key]!r} is not a list of numbers"
    span = task.get("level_range")
    if span is not None and not (_numbers(span) and len(span) == 2 and span[0] <= span[1]):
        return f"task level_range {span!r} is not [low, high]"
    if not task.get("levels") and span is None:
        return "task has neither levels nor a level_range"
    for key in ("steps", "total_steps"):
        if key in meta and (not isinstance(meta[key], int) or isinstance(meta[key], bool)):
            return f"{key} {meta[key]!r} is not a whole number"
    for key in ("validation", "config", "benchmarks"):
        if key in meta and not isinstance(meta[key], dict):
            return f"{key!r} is not a table"
    for name, score in meta.get("benchmarks", {}).items():
        if not isinstance(score, dict) or not _numbers([score.get("psnr")]):
            return f"benchmark {name!r} has no PSNR number"
    return None


def covers(task: dict[str, Any], level: float) -> bool:
    """Whether weights of this ``task`` metadata were trained for ``level``."""
    span = task.get("level_range")
    return level in (task.get("levels") or []) or (span is not None and span[0] <= level <= span[1])


def warn_if_untrained_level(name: Any, meta: dict[str, Any], deg: Any) -> None:
    """Warn when weights run at a level (``deg``, a Degradation) they were not trained for."""
    if not covers(meta["task"], deg.level):
        warn(
            f"{name}: trained for {deg.task} {describe_levels(meta['task'])}, not "
            f"{deg.label}; the result may be poor"
        )


def describe_levels(task: dict[str, Any]) -> str:
    """The levels a file was trained for, as ``csrnet models`` prints them: "2, 4" or "0-55"."""
    levels = ", ".join(f"{level:g}" for level in task.get("levels") or [])
    if not levels and task.get("level_range"):
        levels = "{:g}-{:g}".format(*task["level_range"])
    return levels


def load_weights(
    path: str | os.PathLike, device: str | torch.device = "cpu"
) -> tuple[CSRnet, dict[str, Any]]:
    """Rebuild the model stored in a weights file (fp32, eval mode, channels_last) and
    return its metadata."""
    path = Path(path)
    meta = read_metadata(path)
    try:
        model = CSRnet(**meta["model"])
        state = load_file(str(path))
        model.load_state_dict({k: v.float() for k, v in state.items()})
    except (KeyError, TypeError, ValueError, RuntimeError, SafetensorError) as exc:
        raise CsrnetError(
            f"{path}: weights do not match their model description ({first_line(exc)})"
        ) from None
    # channels_last: 1.5x faster than the default layout on the CPU (benchmarks/inference.py)
    return model.to(device, memory_format=torch.channels_last).eval(), meta


def record_benchmarks(path: str | os.PathLike, results: dict[str, dict[str, float]]) -> None:
    """Merge measured benchmark means ({"Set5 x2": {"psnr": .., "ssim": ..}}) into the
    ``benchmarks`` metadata of a weights file, rewriting it atomically."""
    path = Path(path)
    meta = read_metadata(path)
    meta["benchmarks"] = {**meta.get("benchmarks", {}), **results}
    tensors = load_file(str(path))
    write_atomic(path, lambda tmp: save_file(tensors, str(tmp), metadata=_encode(meta)))


def export_run(
    run_dir: str | os.PathLike, out: str | os.PathLike, which: str = "best"
) -> dict[str, Any]:
    """Write the ``best`` (or ``last``) checkpoint of a training run as released weights."""
    from .checkpoint import read_checkpoint
    from .config import config_from_dict

    run_dir = Path(run_dir)
    path = run_dir / f"{which}.pt"
    state = read_checkpoint(path, which)
    try:
        config_from_dict(state["config"])
    except CsrnetError as exc:
        raise CsrnetError(f"{path}: its recipe is not valid ({exc})") from None
    cfg = state["config"]
    model = CSRnet(**_model_config(cfg))
    model.load_state_dict(state["model"])
    history = state.get("history", [])
    own = [r for r in history if r["step"] == state["step"]]  # these weights' validation
    metadata = {
        "task": cfg["task"],
        "steps": state["step"],
        "train_data": cfg["data"]["train"],
        "recipe": cfg["name"],
        "validation": own[-1] if own else {},
        "config": cfg,
    }
    parent = _steps_before(cfg.get("init_from"))
    if parent is not None:
        metadata["total_steps"] = state["step"] + parent
    save_weights(out, model, metadata)
    return metadata


def _steps_before(init_from: str | None) -> int | None:
    """Training steps behind a run's starting weights: 0 from scratch, the ``init_from`` file's
    total (a weights file's ``total_steps``, or ``steps`` when it was trained from scratch; a
    checkpoint's step plus what came before it), or None when that total is unknown."""
    if not init_from:
        return 0
    from .checkpoint import read_checkpoint

    try:
        if Path(init_from).suffix == ".safetensors":
            meta = read_metadata(init_from)
            if "total_steps" in meta:
                return int(meta["total_steps"])
            if meta.get("config", {}).get("init_from"):  # warm-started, its own total unknown
                return None
            return int(meta.get("steps", 0))
        state = read_checkpoint(init_from)
        before = _steps_before(state["config"].get("init_from"))
        return None if before is None else int(state["step"]) + before
    except (CsrnetError, KeyError, TypeError, ValueError):
        return None


def _model_config(cfg: dict[str, Any]) -> dict[str, Any]:
    from .config import config_from_dict

    return dataclasses.asdict(config_from_dict(cfg).model.build())
