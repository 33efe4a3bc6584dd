"""Released weights: fp16 safetensors files with their metadata (never pickle).

Metadata keys (all strings; JSON where structured): ``format`` ("csrnet-weights"),
``model`` (ModelConfig arguments), ``task`` (task, levels, level_range, val_levels),
``steps``, ``total_steps`` (``steps`` plus the ``init_from`` weights' own total, when they
can be read), ``train_data``, ``recipe`` (config name), ``validation`` (best validation
record), ``config`` (the whole training config), ``precision`` (what each part of the run
computed in: ``csrnet.training.precision``) and ``benchmarks`` (means measured by ``csrnet
evaluate --record``). The package reads them through one record, :class:`WeightsInfo`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass
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
    "WeightsInfo",
    "available_weights",
    "find_weights",
    "load_model",
    "load_weights",
    "metadata_problem",
    "read_info",
    "read_metadata",
    "record_benchmarks",
    "resolve_weights",
    "save_weights",
]

FORMAT = "csrnet-weights"


def _encode(metadata: dict[str, Any]) -> dict[str, str]:
    """safetensors metadata is str -> str: structured values as JSON."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()}


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
    share = task.get("camera_share", 0)
    if not (_numbers([share]) and 0 <= share <= 1):
        return f"task camera_share {share!r} is not a number in [0, 1]"
    for key in ("steps", "total_steps"):
        if key in meta and (not isinstance(meta[key], int) or isinstance(meta[key], bool)):
            return f"{key} {meta[key]!r} is not a whole number"
    for key in ("validation", "config", "benchmarks"):
        if key in meta and not isinstance(meta[key], dict):
            return f"{key!r} is not a table"
    if "precision" in meta and not isinstance(meta["precision"], list):
        return "'precision' is not a list"
    for name, score in meta.get("benchmarks", {}).items():
        if not isinstance(score, dict) or not _numbers([score.get("psnr")]):
            return f"benchmark {name!r} has no PSNR number"
    return None


@dataclass(frozen=True)
class WeightsInfo:
    """What a weights file's metadata says, read and checked once (:func:`read_info`): the
    one record of a file that the rest of the package reads, by its fields."""

    path: Path
    metadata: dict[str, Any]  # decoded, as stored; checked by metadata_problem

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def task(self) -> str:
        return self.metadata["task"]["task"]

    @property
    def levels(self) -> list[float]:
        return list(self.metadata["task"].get("levels") or [])

    @property
    def level_range(self) -> list[float] | None:
        return self.metadata["task"].get("level_range")

    @property
    def camera_share(self) -> float:
        """The share of its training patches that carried camera noise (0: none)."""
        return float(self.metadata["task"].get("camera_share") or 0.0)

    @property
    def trained_levels(self) -> list[float]:
        """Its fixed levels, or the levels it was validated at when it drew them from a
        range."""
        return self.levels or list(self.metadata["task"].get("val_levels") or [])

    @property
    def model_args(self) -> dict[str, Any]:
        """The ModelConfig arguments of its architecture."""
        return self.metadata["model"]

    @property
    def channels(self) -> int:
        """1 for the paper's gray/Y models, 3 for RGB ones."""
        return int(self.model_args.get("image_channels", 1))

    @property
    def steps(self) -> int:
        return int(self.metadata.get("steps", 0))

    @property
    def total_steps(self) -> int | None:
        """Its steps and those of the weights it was warm-started from; None when it was
        warm-started from weights whose own total is unknown."""
        if "total_steps" in self.metadata:
            return int(self.metadata["total_steps"])
        return None if self.config.get("init_from") else self.steps

    @property
    def recipe(self) -> str:
        """The name of the recipe that trained it ("" if not recorded)."""
        return str(self.metadata.get("recipe", ""))

    @property
    def config(self) -> dict[str, Any]:
        """The training recipe, resolved, as the run stored it ({} if none)."""
        return self.metadata.get("config", {})

    @property
    def validation(self) -> dict[str, Any]:
        return self.metadata.get("validation") or {}

    @property
    def benchmarks(self) -> dict[str, dict[str, float]]:
        """Means measured by ``csrnet evaluate --record``, by "Set5 x2"."""
        return self.metadata.get("benchmarks", {})

    @property
    def precision(self) -> list[dict[str, Any]]:
        """What each part of its training run computed in (empty: not recorded)."""
        return self.metadata.get("precision", [])

    def covers(self, level: float) -> bool:
        """Whether it was trained for ``level``."""
        span = self.level_range
        return level in self.levels or (span is not None and span[0] <= level <= span[1])

    def made_for(self, deg: Degradation) -> bool:
        """Whether it is a model to pick for ``deg``: camera noise goes to the models trained
        on it, Gaussian noise to those trained for its sigma on Gaussian noise alone (a
        sigma keeps the paper's models)."""
        if deg.camera_noise or self.camera_share:
            return deg.camera_noise and bool(self.camera_share)
        return self.covers(deg.level)

    def describe_levels(self) -> str:
        """Its levels as ``csrnet models`` prints them: "2, 4", "0-55" or "0-55 and camera"."""
        levels = ", ".join(f"{level:g}" for level in self.levels)
        if not levels and self.level_range:
            levels = "{:g}-{:g}".format(*self.level_range)
        return levels + (" and camera" if self.camera_share else "")

    def warn_if_untrained(self, deg: Degradation, name: Any = None) -> None:
        """Warn when it runs at a level it was not trained for."""
        trained = bool(self.camera_share) if deg.camera_noise else self.covers(deg.level)
        if not trained:
            warn(
                f"{name or self.name}: trained for {deg.task} {self.describe_levels()}, not "
                f"{deg.label}; the result may be poor"
            )


def read_info(path: str | os.PathLike) -> WeightsInfo:
    """The metadata of a weights file as a :class:`WeightsInfo`."""
    return WeightsInfo(Path(path), read_metadata(path))


def load_weights(
    path: str | os.PathLike, device: str | torch.device = "cpu"
) -> tuple[CSRnet, WeightsInfo]:
    """Rebuild the model stored in a weights file (fp32, eval mode, channels_last) and
    return what its metadata says."""
    info = read_info(path)
    path = info.path
    try:
        model = CSRnet(**info.model_args)
        state = load_file(str(path))
        model.load_state_dict({k: v.float() for k, v in state.items()})
    except (KeyError, TypeError, ValueError, RuntimeError, SafetensorError) as exc:
        raise CsrnetError(
            f"{path}: weights do not match their model description ({first_line(exc)})"
        ) from None
    # channels_last: 1.5x faster than the default layout on the CPU (benchmarks/inference.py)
    return model.to(device, memory_format=torch.channels_last).eval(), info


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


def available_weights() -> list[WeightsInfo]:
    """The shipped weights and those in the user weights folder."""
    found = []
    for folder in (PACKAGE_WEIGHTS, user_weights_dir()):
        for path in sorted(folder.glob("*.safetensors")) if folder.is_dir() else []:
            try:
                found.append(read_info(path))
            except CsrnetError as exc:  # a stray or broken file does not hide the others
                warn(f"{exc} (skipped)")
    return found


def find_weights(
    deg: Degradation,
    channels: int = 1,
    required: bool = True,
    found: list[WeightsInfo] | None = None,
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
    for info in available_weights() if found is None else found:
        if info.task != deg.task or info.channels != channels or not info.made_for(deg):
            continue
        measured = info.benchmarks.get(ranking_key, {}).get("psnr")
        candidates.append(
            (
                measured is not None,
                measured if measured is not None else -math.inf,
                deg.level in info.levels,
                info.validation.get("psnr", -math.inf),
                info.path,
            )
        )
    if not candidates and not required:
        return None
    if not candidates and deg.camera_noise:
        raise CsrnetError(
            "no camera-noise model is installed; give a sigma for Gaussian noise, or pass "
            "--weights FILE (see `csrnet models`)"
        )
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
    for info in available_weights():
        if info.name == str(name_or_path):
            return info.path
    return path  # load_weights reports that it does not exist


def load_model(
    name_or_path: str | os.PathLike, device: str = "cpu"
) -> tuple[CSRnet, dict[str, Any]]:
    """A model by file path, or by the name of a shipped or user weights file, and the
    file's metadata (decoded JSON; see the module docstring)."""
    model, info = load_weights(resolve_weights(name_or_path), device)
    return model, info.metadata
