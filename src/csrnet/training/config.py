"""Training configuration: typed dataclasses read from YAML recipes in ``configs/``.

A recipe may name ``base`` recipes (a path or a list of paths relative to its own file,
merged in order) whose keys it overrides; ``--set section.key=value`` overrides keys once
more (values parsed as YAML). A run folder keeps its resolved recipe as ``config.yaml``; a
resumed run takes its settings from there (:func:`resume_config`), not from the recipe file.

Everything is checked before training starts: unknown keys, wrong types, out-of-range values
give a :class:`CsrnetError` naming the key.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from csrnet.errors import CsrnetError, first_line
from csrnet.model import PRESETS, ModelConfig
from csrnet.protocol.images import data_root, write_atomic

__all__ = ["RUN_CONFIG", "TrainConfig", "load_config", "resume_config", "write_run_config"]

RUN_CONFIG = "config.yaml"  # a run folder's resolved recipe


@dataclass
class TaskConfig:
    """What the model learns.

    Args:
        task: "sr", "denoise" or "jpeg".
        levels: settings drawn uniformly per patch (SR scales, sigmas, JPEG qualities);
            one value for a single-setting model, several for a shared one.
        level_range: [low, high], drawn uniformly per patch instead of ``levels`` (blind
            denoising: continuous sigma; blind JPEG: integer quality).
        val_levels: settings to validate at; default ``levels``.
        camera_share: the share of training patches taken through the camera pipeline
            (``csrnet.protocol.camera``; RGB denoising), the others noised at a level as
            above; with a share, validation scores camera noise too.
    """

    task: Literal["sr", "denoise", "jpeg"]
    levels: list[float] = field(default_factory=list)
    level_range: list[float] | None = None
    val_levels: list[float] = field(default_factory=list)
    camera_share: float = 0.0


@dataclass
class ModelSpec:
    """A recipe's model section: a preset of ``csrnet.model.PRESETS`` and the fields of
    :class:`~csrnet.model.ModelConfig` it sets over it (``{preset: CSRnet-3S, input_skip:
    true}``), each checked against that field's type; a field given as null is not set."""

    preset: str = "CSRnet-Dense"
    overrides: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Any, where: str = "model") -> ModelSpec:
        if not isinstance(data, dict):
            raise CsrnetError(f"config {where}: expected a mapping, got {data!r}")
        hints = typing.get_type_hints(ModelConfig)
        unknown = sorted(set(data) - {"preset", *hints})
        if unknown:
            known = ", ".join(["preset", *hints])
            raise CsrnetError(f"config: unknown key {where}.{unknown[0]} (known: {known})")
        preset = _coerce(str, data.get("preset", cls.preset), f"{where}.preset")
        overrides = {
            name: _coerce(hints[name], value, f"{where}.{name}")
            for name, value in data.items()
            if name != "preset" and value is not None
        }
        return cls(preset, overrides)

    def build(self) -> ModelConfig:
        return dataclasses.replace(PRESETS[self.preset], **self.overrides)

    def to_dict(self) -> dict[str, Any]:
        return {"preset": self.preset, **self.overrides}


@dataclass
class DataConfig:
    """Training and validation images.

    Args:
        root: folder that relative ``train``/``val`` paths are taken from; default
            $CSRNET_DATA or ../shared/data (from the working directory).
        train: folders of clean training images.
        val: folder of clean validation images.
        val_images: validate on the first N images only (0: all).
        exclude_overlaps_with: test-set folders; training images sharing pixels with any
            of them (crops included, see ``csrnet.datasets.overlap``) are left out.
        patch_size: side of the square training patches (ground-truth pixels).
        batch_size: patches per step, over all processes.
        workers: DataLoader worker processes making patches (0: in the training process).
        sampler: "host" (patches made in Python and copied over; ``csrnet.datasets.patches``) or
            "device" (drawn on the training device from images held there;
            ``csrnet.training.patchbank``). Each is reproducible; they are different streams.
    """

    train: list[str]
    val: str
    root: str = ""
    exclude_overlaps_with: list[str] = field(default_factory=list)
    val_images: int = 0
    patch_size: int = 48
    batch_size: int = 10
    workers: int = 0
    sampler: Literal["host", "device"] = "host"

    def resolve(self, name: str) -> Path:
        root = Path(self.root or data_root())
        return Path(name) if Path(name).is_absolute() else root / name


@dataclass
class OptimConfig:
    """Optimiser.

    Args:
        name: "sgd", "adam" or "adamw".
        lr: base learning rate.
        momentum: SGD momentum.
        weight_decay: L2 penalty (SGD, Adam) or decoupled decay (AdamW).
        betas: Adam(W) betas.
        clip: "none"; "adjustable" (VDSR/MemNet: clip each gradient to +-clip_value / lr,
            so the step is bounded by clip_value); or "norm" (total norm <= clip_value).
        clip_value: threshold of ``clip``.
    """

    name: Literal["sgd", "adam", "adamw"]
    lr: float
    momentum: float = 0.9
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    clip: Literal["none", "adjustable", "norm"] = "none"
    clip_value: float = 0.0


@dataclass
class ScheduleConfig:
    """Learning-rate schedule, a multiplier of ``optim.lr`` per step.

    Args:
        kind: "constant"; "step" (x gamma every step_size steps); "cosine" (to min_lr at the
            last step).
        warmup_steps: linear warm-up from 0 over this many steps (any kind).
        step_size: steps between decays ("step").
        gamma: decay factor ("step").
        min_lr: final learning rate ("cosine").
    """

    kind: Literal["constant", "step", "cosine"] = "constant"
    warmup_steps: int = 0
    step_size: int = 0
    gamma: float = 0.1
    min_lr: float = 0.0


@dataclass
class TrainConfig:
    """A training recipe (one YAML file in ``configs/``).

    Args:
        name: run name; the run folder is ``runs/<name>`` unless given.
        task, model, data, optim, schedule: the sections above.
        steps: optimiser steps in all.
        loss: "l1" or "l2" (mean absolute / squared error over pixels, eq. 5).
        seed: seeds the initial weights and every training patch.
        val_every, ckpt_every, log_every: intervals in steps (0: never, except at the end).
        device: "auto" (CUDA when available), "cpu" or "cuda".
        precision: "auto", "fp32" or "bf16" (``csrnet.training.precision``): bf16 autocast
            with float32 master weights where the device computes bf16 natively; auto takes
            it on such a GPU, and on such a CPU when a probe at the start times it faster.
        engine: how a step runs (``csrnet.training.engine``): "eager"; "compile" (torch.compile in
            ``compile_mode``); "graph" (the whole step as one CUDA graph: CUDA, one process,
            ``data.sampler: device``, Adam(W) clipped by norm or not at all).
        compile_mode: torch.compile's mode for engine compile: "default",
            "reduce-overhead" (CUDA graphs on the GPU) or "max-autotune".
        cudnn_benchmark: on CUDA, let cuDNN time its algorithms for each convolution shape
            on first use and keep the fastest (``torch.backends.cudnn.benchmark``): training
            patches have one shape. Off, its heuristics choose.
        half_scale_nchw: run the half scale's residual bodies and the F_down into it in
            NCHW, the rest in channels_last (``optimizer.use_training_layout``): a trial
            against the slow fp32 weight-gradient kernel cuDNN picks for them in
            channels_last on the GPU (TRAINING.md). Off: all channels_last.
        init_from: weights (.safetensors) or a checkpoint (.pt) to start from (fine-tuning).
        time_budget_minutes: wall-clock minutes the run may train (0: no limit). After
            20 timed steps, and again every 100, ``steps`` is lowered to what fits, so the
            schedule (a cosine, say) still runs to its end; the fitted value is kept in the
            checkpoint, and the run also stops, with a checkpoint, once the time is up.
        notes: free text: where the recipe comes from and why.
    """

    name: str
    task: TaskConfig
    optim: OptimConfig
    data: DataConfig
    steps: int
    model: ModelSpec = field(default_factory=ModelSpec)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    loss: Literal["l1", "l2"] = "l1"
    seed: int = 0
    val_every: int = 1000
    ckpt_every: int = 1000
    log_every: int = 50
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    engine: Literal["eager", "compile", "graph"] = "eager"
    compile_mode: Literal["default", "reduce-overhead", "max-autotune"] = "default"
    cudnn_benchmark: bool = False
    half_scale_nchw: bool = False
    init_from: str | None = None
    time_budget_minutes: float = 0.0
    notes: str = ""

    @functools.cached_property
    def model_config(self) -> ModelConfig:
        """The architecture the recipe builds, resolved once (when the recipe is checked)."""
        return self.model.build()

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["model"] = self.model.to_dict()
        return data


def load_config(path: str | os.PathLike, overrides: typing.Sequence[str] = ()) -> TrainConfig:
    """Read a recipe, apply ``key=value`` overrides, and check it (not its data)."""
    raw = _read_with_bases(Path(path), seen=())
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CsrnetError(f"--set {item!r}: expected key=value, e.g. optim.lr=0.001")
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise CsrnetError(f"--set {item!r}: not a YAML value ({first_line(exc)})") from None
        _set_dotted(raw, key.strip(), parsed)
    return config_from_dict(raw)


def resume_config(
    recipe: TrainConfig, run_dir: str | os.PathLike, overrides: typing.Sequence[str] = ()
) -> tuple[TrainConfig, list[str]]:
    """The settings to resume the run in ``run_dir`` with: the recipe it was started with,
    as resolved then (its ``config.yaml``, the first call's ``--set`` included), with this
    call's ``overrides`` on top; and the keys in which ``recipe`` (the recipe file with the
    same overrides) differs from them. A folder without ``config.yaml`` resumes ``recipe``."""
    path = Path(run_dir) / RUN_CONFIG
    if not path.is_file():
        return recipe, []
    own = load_config(path, overrides)
    mine, theirs = _flat(own.to_dict()), _flat(recipe.to_dict())
    keys = sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))
    return own, [k for k in keys if k != "notes"]


def write_run_config(run_dir: Path, cfg: TrainConfig) -> None:
    """The resolved recipe as ``run_dir/config.yaml``, what :func:`resume_config` reads."""
    text = yaml.safe_dump(cfg.to_dict(), sort_keys=False)
    write_atomic(run_dir / RUN_CONFIG, lambda tmp: tmp.write_text(text))


def _flat(raw: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` as ``{"a.b": 1}``."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def config_from_dict(raw: dict[str, Any]) -> TrainConfig:
    """Build and check a TrainConfig from plain data (e.g. one stored in a checkpoint)."""
    cfg = _build(TrainConfig, raw, "")
    _check_values(cfg)
    return cfg


def _read_with_bases(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    if path in seen:
        raise CsrnetError(f"{path}: 'base' chain loops back to itself")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CsrnetError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CsrnetError(f"{path}: cannot read ({exc})") from None
    except yaml.YAMLError as exc:
        raise CsrnetError(f"{path}: not valid YAML ({first_line(exc)})") from None
    if not isinstance(data, dict):
        raise CsrnetError(f"{path}: expected a mapping of keys at the top level")
    bases = data.pop("base", [])
    merged: dict[str, Any] = {}
    for base in [bases] if isinstance(bases, str) else bases:
        merged = _merge(merged, _read_with_bases(path.parent / str(base), (*seen, path)))
    return _merge(merged, data)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    *parents, last = key.split(".")
    node = raw
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise CsrnetError(f"--set {key}: {part} is not a section")
    node[last] = value


def _build(cls: type, data: Any, where: str) -> Any:
    """Instantiate dataclass ``cls`` from ``data``, checking keys and types."""
    if not isinstance(data, dict):
        raise CsrnetError(f"config {where or 'file'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        prefix = f"{where}." if where else ""
        raise CsrnetError(f"config: unknown key {prefix}{unknown[0]} (known: {', '.join(fields)})")
    kwargs = {}
    for name, f in fields.items():
        key = f"{where}.{name}" if where else name
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise CsrnetError(f"config: missing key {key}")
            continue
        kwargs[name] = _coerce(hints[name], data[name], key)
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, key: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(inner, value, key)
    if origin is Literal:
        if value not in args:
            raise CsrnetError(
                f"config: {key} must be one of {', '.join(map(str, args))}, got {value!r}"
            )
        return value
    if origin is list:
        if not isinstance(value, list):
            raise CsrnetError(f"config: {key} must be a list, got {value!r}")
        return [_coerce(args[0], v, f"{key}[{i}]") for i, v in enumerate(value)]
    if hint is ModelSpec:
        return ModelSpec.from_dict(value, key)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key)
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str):  # YAML 1.1 reads 1e-4 (no dot) as a string
        try:
            return float(value)
        except ValueError:
            pass
    if hint in (int, str, bool) and type(value) is hint:
        return value
    raise CsrnetError(f"config: {key} must be {hint.__name__}, got {value!r}")


def _need(ok: bool, message: str) -> None:
    if not ok:
        raise CsrnetError(f"config: {message}")


def _check_task(cfg: TrainConfig) -> None:
    """The task section's levels, and the camera share's model and sampler."""
    from csrnet.protocol.degrade import Degradation

    need, t = _need, cfg.task
    need(
        bool(t.levels) != (t.level_range is not None),
        "task: give exactly one of levels, level_range",
    )
    if t.level_range is not None:
        need(
            len(t.level_range) == 2 and t.level_range[0] <= t.level_range[1],
            "task.level_range must be [low, high] with low <= high",
        )
        need(t.task != "sr", "task.level_range is for denoise and jpeg; give sr scales as levels")
        need(bool(t.val_levels), "task.val_levels is required with level_range")
    for level in [*t.levels, *t.val_levels, *(t.level_range or [])]:
        if not (t.task == "denoise" and level == 0):  # sigma 0 (clean) may be drawn in training
            try:
                Degradation(t.task, level)
            except CsrnetError as exc:
                raise CsrnetError(f"config: task: {exc}") from None
    need(0 <= t.camera_share <= 1, "task.camera_share must be in [0, 1]")
    need(
        not t.camera_share or (t.task == "denoise" and cfg.model_config.image_channels == 3),
        "task.camera_share is for RGB denoisers (task denoise, model.image_channels 3)",
    )
    need(
        not t.camera_share or cfg.data.sampler == "host",
        "task.camera_share needs data.sampler: host (the camera pipeline runs in numpy)",
    )


def _check_values(cfg: TrainConfig) -> None:
    """Ranges and combinations that the types alone do not catch."""
    need, t = _need, cfg.task
    need(cfg.time_budget_minutes >= 0, "time_budget_minutes must be >= 0")
    need(cfg.model.preset in PRESETS, f"model.preset must be one of {', '.join(PRESETS)}")
    try:
        model = cfg.model_config
    except ValueError as exc:
        raise CsrnetError(f"config: model: {exc}") from None
    need(
        model.image_channels == 1 or t.task != "sr",
        "model.image_channels 3 (RGB) is for denoise and jpeg; SR restores Y",
    )
    _check_task(cfg)
    d = cfg.data
    need(len(d.train) > 0, "data.train must name at least one folder")
    need(d.patch_size >= 8, "data.patch_size must be at least 8")
    need(d.batch_size >= 1, "data.batch_size must be at least 1")
    need(d.workers >= 0 and d.val_images >= 0, "data.workers and data.val_images must be >= 0")
    need(cfg.steps >= 1, "steps must be at least 1")
    need(cfg.optim.lr > 0, "optim.lr must be positive")
    need(cfg.optim.clip == "none" or cfg.optim.clip_value > 0, "optim.clip_value must be positive")
    need(len(cfg.optim.betas) == 2, "optim.betas must be two numbers")
    s = cfg.schedule
    need(s.warmup_steps >= 0 and s.min_lr >= 0, "schedule.warmup_steps and min_lr must be >= 0")
    need(s.kind != "step" or s.step_size > 0, "schedule.step_size must be positive for kind step")
    if cfg.engine == "graph":
        need(d.sampler == "device", "engine graph needs data.sampler: device")
        need(cfg.optim.name in ("adam", "adamw"), "engine graph needs optim.name adam or adamw")
        need(cfg.optim.clip in ("none", "norm"), "engine graph needs optim.clip none or norm")
    for name in ("val_every", "ckpt_every", "log_every"):
        need(getattr(cfg, name) >= 0, f"{name} must be >= 0")
