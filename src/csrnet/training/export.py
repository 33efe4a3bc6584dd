"""A training run's checkpoint written as released weights (``csrnet export``)."""

from __future__ import annotations

import os
from pathlib import Path

from csrnet.errors import CsrnetError
from csrnet.model import CSRnet
from csrnet.training.checkpoint import read_checkpoint
from csrnet.training.config import config_from_dict
from csrnet.weights import WeightsInfo, read_info, save_weights

__all__ = ["export_run"]


def export_run(
    run_dir: str | os.PathLike, out: str | os.PathLike, which: str = "best"
) -> WeightsInfo:
    """Write the ``best`` (or ``last``) checkpoint of a training run as released weights."""
    run_dir = Path(run_dir)
    path = run_dir / f"{which}.pt"
    state = read_checkpoint(path, which)
    try:
        recipe = config_from_dict(state["config"])
    except CsrnetError as exc:
        raise CsrnetError(f"{path}: its recipe is not valid ({exc})") from None
    cfg = state["config"]
    model = CSRnet(recipe.model_config)
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
        "precision": state.get("precision", []),  # what each part of the run trained in
    }
    parent = _steps_before(cfg.get("init_from"))
    if parent is not None:
        metadata["total_steps"] = state["step"] + parent
    save_weights(out, model, metadata)
    return read_info(out)


def _steps_before(init_from: str | None) -> int | None:
    """Training steps behind a run's starting weights: 0 from scratch, the ``init_from`` file's
    total (a weights file's ``total_steps``, or ``steps`` when it was trained from scratch; a
    checkpoint's step plus what came before it), or None when that total is unknown."""
    if not init_from:
        return 0
    try:
        if Path(init_from).suffix == ".safetensors":
            return read_info(init_from).total_steps
        state = read_checkpoint(init_from)
        before = _steps_before(state["config"].get("init_from"))
        return None if before is None else int(state["step"]) + before
    except (CsrnetError, KeyError, TypeError, ValueError):
        return None
