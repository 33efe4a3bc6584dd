"""Validation during training: the recipe's quick check (mean PSNR by the protocol on its
validation images), logged to TensorBoard and ``metrics.jsonl``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from csrnet.evaluation.evaluate import evaluate_folder
from csrnet.inference.runner import restore_fn
from csrnet.model import CSRnet
from csrnet.protocol.degrade import Degradation
from csrnet.training.config import TrainConfig

__all__ = ["log_validation", "validate", "validation_settings"]


def validation_settings(cfg: TrainConfig) -> list[Degradation]:
    levels = cfg.task.val_levels or cfg.task.levels
    camera = [Degradation.camera()] if cfg.task.camera_share else []
    return [Degradation(cfg.task.task, level) for level in levels] + camera


def validate(model: CSRnet, cfg: TrainConfig, device: torch.device) -> dict[str, float]:
    """Mean validation PSNR per setting (protocol metric), and their mean as ``psnr``."""
    model.eval()
    folder = cfg.data.resolve(cfg.data.val)
    scores = {}
    rgb = model.config.image_channels == 3
    for deg in validation_settings(cfg):
        result = evaluate_folder(
            folder, deg, restore_fn(model, device), limit=cfg.data.val_images, rgb=rgb
        )
        scores[f"psnr_{deg.label}"] = result.psnr
    model.train()
    scores["psnr"] = float(np.mean(list(scores.values())))
    return scores


def log_validation(writer, run_dir: Path, record: dict[str, float]) -> None:
    """TensorBoard scalars and a line of metrics.jsonl for one validation."""
    for key, value in record.items():
        if key.startswith("psnr"):
            writer.add_scalar(f"val/{key}", value, record["step"])
    with (run_dir / "metrics.jsonl").open("a") as log:
        log.write(json.dumps(record) + "\n")
