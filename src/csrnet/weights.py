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
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from csrnet.errors import CsrnetError, first_line, warn
from csrnet.model import CSRnet

if TYPE_CHECKING:
    from csrnet.protocol.degrade import Degradation
from csrnet.protocol.images import write_atomic

__all__ = [
    "covers",
    "describe_levels",
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
        shipped = PACKAGE_WEIGHTS / path.name
        moved = f"; the shipped files moved: {shipped} (or the name {path.stem})"
        hint = moved if path.parent.name == "weights" and shipped.is_file() else ""
        raise CsrnetError(f"{path}: no such weights file{hint}") from None
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
    from csrnet.protocol.degrade import TASKS

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


PACKAGE_WEIGHTS = Path(__file__).parent / "pretrained"
RANKING_SETS = {"sr": "Set5", "denoise": "BSD68", "jpeg": "Classic5"}  # the sets of the targets
RGB_RANKING_SETS = {"sr": "-", "denoise": "CBSD68", "jpeg": "LIVE1"}  # the colour tables' sets


def user_weights_dir() -> Path:
    """Where users keep their own weights: $CSRNET_WEIGHTS or ~/.local/share/csrnet/weights."""
    default = Path.home() / ".local" / "share" / "csrnet" / "weights"
    return Path(os.environ.get("CSRNET_WEIGHTS", default))


def available_weights() -> list[tuple[Path, dict[str, Any]]]:
    """(path, metadata) of the shipped weights and those in the user weights folder."""
    found = []
    for folder in (PACKAGE_WEIGHTS, user_weights_dir()):
        for path in sorted(folder.glob("*.safetensors")) if folder.is_dir() else []:
            try:
                found.append((path, read_metadata(path)))
            except CsrnetError as exc:  # a stray or broken file does not hide the others
                warn(f"{exc} (skipped)")
    return found


def channels_of(meta: dict[str, Any]) -> int:
    """1 for the paper's gray/Y models, 3 for RGB ones."""
    return int(meta["model"].get("image_channels", 1))


def find_weights(
    deg: Degradation,
    channels: int = 1,
    required: bool = True,
    found: list[tuple[Path, dict[str, Any]]] | None = None,
) -> Path | None:
    """The weights for this setting and channel count: among the files trained for it (a
    fixed level, else a range covering it), the best measured PSNR on the setting's ranking
    set (Set5, BSD68, Classic5: the sets of the project's targets, recorded by ``csrnet
    evaluate --record``; CBSD68 and LIVE1 for RGB models); files without that record rank
    after those with it, by exact level, then validation. None if there is none and not
    ``required``. ``found``: the installed weights, when the caller has listed them."""
    ranking_set = RGB_RANKING_SETS[deg.task] if channels == 3 else RANKING_SETS[deg.task]
    ranking_key = f"{ranking_set} {deg.label}"
    candidates = []
    for path, meta in available_weights() if found is None else found:
        task = meta["task"]
        if task["task"] != deg.task or channels_of(meta) != channels:
            continue
        exact = deg.level in (task.get("levels") or [])
        if covers(task, deg.level):
            measured = meta.get("benchmarks", {}).get(ranking_key, {}).get("psnr")
            candidates.append(
                (
                    measured is not None,
                    measured if measured is not None else -math.inf,
                    exact,
                    meta.get("validation", {}).get("psnr", -math.inf),
                    path,
                )
            )
    if not candidates and not required:
        return None
    if not candidates:
        kind = "RGB weights" if channels == 3 else "weights"
        raise CsrnetError(
            f"no {kind} for {deg.task} {deg.label} are installed; pass --weights FILE "
            "(see `csrnet models`)"
        )
    return max(candidates)[-1]


def resolve_weights(name_or_path: str | os.PathLike) -> Path:
    """A weights file path, or the shipped or user weights file of that name (stem)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    for candidate, _ in available_weights():
        if candidate.stem == str(name_or_path):
            return candidate
    return path  # load_weights reports that it does not exist


def load_model(
    name_or_path: str | os.PathLike, device: str = "cpu"
) -> tuple[CSRnet, dict[str, Any]]:
    """A model by file path, or by the name of a shipped or user weights file."""
    return load_weights(resolve_weights(name_or_path), device)
