"""``csrnet report``: the paper's Tables I-V for folders of weights, beside the paper's numbers.

Every weights file in the folders is evaluated by the protocol on the paper's test sets at
the paper's settings it was trained for. Table II (SR), III (denoising) and IV (JPEG) show
the degraded input, BM3D for denoising (optional: the ``bm3d`` package), the paper's CSRnet,
and each of our weights with its difference to the paper. Weights trained by the ablation
(``ablation_*``) or depth (``depth_*``) recipes of a preset, unchanged, at x2 are study runs:
they fill Tables I and V instead, one pair of tables per training budget (runs compare only at
equal budgets). All per-image scores go to a CSV beside the Markdown file; every table cell is
the mean of its rows there.

Colour weights (RGB models, beyond the paper) get their own tables, scored on RGB: denoising on
CBSD68 and Urban100 with CBM3D measured beside them, JPEG on colour LIVE1, with other methods'
published numbers (``csrnet.evaluation.published``).
"""

from __future__ import annotations

import datetime
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from csrnet.datasets.locate import require_sets
from csrnet.errors import CsrnetError
from csrnet.evaluation.evaluate import COLOUR_SETS, DEFAULT_SETS
from csrnet.evaluation.results import SetScore
from csrnet.evaluation.scorecache import ScoreCache
from csrnet.inference.runner import restore_fn
from csrnet.parallel import is_main
from csrnet.protocol.degrade import Degradation
from csrnet.protocol.images import write_atomic
from csrnet.report.cells import (
    Scorer,
    bm3d_cell,
    list_weights,
    y_only_fn,
    y_path_weights,
)
from csrnet.report.figures import make_figures
from csrnet.report.settings import (
    BM3D_SETS,
    CBM3D_SETS,
    COLOUR_LEVELS,
    INPUT_NAME,
    PAPER_LEVELS,
    PAPER_TABLES,
    Y_PATH_SETS,
)
from csrnet.report.studies import no_study_note, study_tables
from csrnet.report.tables import (
    colour_table,
    images_note,
    main_table,
    place_table,
    present,
    speed_table,
    unscored,
)
from csrnet.weights import load_weights

__all__ = ["build_report"]


def build_report(
    weights_dirs: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    data_root: str | os.PathLike,
    with_bm3d: bool = False,
    figures: bool = False,
    limit: int = 0,
    device: str = "cpu",
    cache: str | os.PathLike = ".cache",
    progress: bool = False,
    study_limit: int | None = None,
    scores_dir: str | os.PathLike | None = None,
    cached_only: bool = False,
) -> list[SetScore]:
    """Evaluate every weights file of ``weights_dirs`` and write the Markdown report, its
    per-image CSV (``output`` with suffix .csv) and, with ``figures``, PNG figures in
    ``<output folder>/figures``. ``limit`` (0: all) takes the first images of each set;
    ``study_limit`` (default: ``limit``) does so for Tables I and V. Per-image scores are
    kept in ``scores_dir`` (default ``<output folder>/scores``) and reused: only what is
    not there is scored, so an interrupted report resumes. BM3D runs on ``BM3D_SETS``
    (CBM3D on ``CBM3D_SETS``), and is read from the cache alone elsewhere.
    ``cached_only``: score nothing, and write the tables from the cache as it is, a cell
    whose images are not all there left out ("-") and listed under the header.
    Returns every SetScore behind the tables."""
    output, root, bm3d_cache = Path(output), Path(data_root), Path(cache) if with_bm3d else None
    if not output.parent.is_dir():
        raise CsrnetError(f"{output}: folder {output.parent} does not exist")
    weights = list_weights([Path(d) for d in weights_dirs])
    released = [w for w in weights if not w.study and w.channels == 1]
    colour = [w for w in weights if w.channels == 3 and w.task in COLOUR_SETS]
    tasks = sorted({w.task for w in released}, key=list(PAPER_TABLES).index)
    colour_tasks = sorted({w.task for w in colour}, key=list(COLOUR_SETS).index)
    require_sets(root, _sets_needed(weights, tasks, colour_tasks))
    models = {w.name: load_weights(w.path, device)[0] for w in weights}
    score_cache = ScoreCache(scores_dir or output.parent / "scores", device)
    logs = {w.name: score_cache.for_weights(w.path) for w in weights}
    score = Scorer(score_cache, limit, progress, cached_only)
    sections = []
    for task in tasks:
        ours = [w for w in released if w.task == task]
        fns = {w.name: restore_fn(models[w.name], device) for w in ours}
        sections += _paper_sections(task, ours, fns, logs, root, score, bm3d_cache, limit)
    y_paths = {task: y_path_weights(task, released) for task in colour_tasks}
    place = (models, logs, root, score, bm3d_cache, device)
    for task in colour_tasks:
        sections.append(_colour_section(task, colour, y_paths[task], place, with_bm3d, limit))
    study_limit = limit if study_limit is None else study_limit
    studies = study_tables(weights, models, logs, root, study_limit, device, score)
    sections += studies or [no_study_note(output)]
    sections.append(speed_table(score.here, score_cache.device))
    if not is_main():  # under torchrun, rank 0 writes the report
        return score.scores
    if figures:
        figure_args = (output.parent / "figures", device, with_bm3d, Path(cache), y_paths)
        sections.append(make_figures(weights, models, root, *figure_args))
    header = _header(weights, logs, score_cache, output, limit, study_limit)
    if cached_only:
        header += unscored(score.missing)
    _write_report(output, header + sections, score.scores)
    return score.scores


def _sets_needed(weights: list, tasks: list[str], colour_tasks: list[str]) -> list[str]:
    """The test sets the report's tables score."""
    needed = {s for t in tasks for s in DEFAULT_SETS[t]}
    needed.update(s for t in colour_tasks for s in COLOUR_SETS[t])
    if any(w.study for w in weights):  # Tables I and V: the SR sets
        needed.update(DEFAULT_SETS["sr"])
    return sorted(needed)


def _write_report(output: Path, lines: list[str], scores: list[SetScore]) -> None:
    """The Markdown report and its per-image CSV, each written atomically."""
    csv_text = "".join(s.csv_text(header=i == 0) for i, s in enumerate(scores))
    write_atomic(output.with_suffix(".csv"), lambda tmp: tmp.write_text(csv_text, encoding="utf-8"))
    text = "\n".join(lines)
    write_atomic(output, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _colour_section(task, colour, y_path, place, with_bm3d: bool, limit: int) -> str:
    """The colour table of ``task``: its RGB models among ``colour`` and the Y path's models
    (Y restored, Cb and Cr kept), each at every colour setting; ``place`` holds the models,
    score logs, data root, scorer, BM3D cache and device."""
    models, logs, root, score, bm3d_cache, device = place
    ours = [w for w in colour if w.task == task]
    fns = {w.name: restore_fn(models[w.name], device) for w in ours}
    y_fns = {
        lv: y_only_fn(models[y.name], Degradation(task, lv), device) for lv, y in y_path.items()
    }
    rows = _colour_rows(task, ours, y_path, fns, y_fns, logs, root, score, bm3d_cache)
    return colour_table(task, rows, ours, y_path, with_bm3d, limit)


def _paper_sections(task, ours, fns, logs, root, score: Scorer, bm3d_cache, limit) -> list:
    """The paper's table of ``task`` (II, III or IV) for the Y/gray weights ``ours`` (run by
    ``fns``, by name): the degraded input, BM3D on ``BM3D_SETS`` (denoising, when
    ``bm3d_cache`` is a folder) and each file at the paper's levels it was trained for;
    then where ours land among the paper's methods."""
    number, title, paper_table = PAPER_TABLES[task]
    levels = [lv for lv in PAPER_LEVELS[task] if any(lv in w.levels for w in ours)]
    ours = [w for w in ours if any(lv in w.levels for lv in levels)]  # no empty column
    input_log = score.cache.log("input")
    rows = []
    for level in levels:
        deg = Degradation(task, level)
        for dataset in DEFAULT_SETS[task]:
            folder = root / dataset
            cells = {"input": score(folder, deg, None, INPUT_NAME[task], input_log)}
            if task == "denoise" and bm3d_cache:
                measure = dataset in BM3D_SETS
                cells["bm3d"] = bm3d_cell(score, folder, deg, bm3d_cache, measure=measure)
            for w in ours:
                if level in w.levels:
                    cells[w.name] = score(folder, deg, fns[w.name], w.name, logs[w.name])
            rows.append((deg, dataset, present(cells)))
    with_bm3d = bm3d_cache is not None
    return [
        main_table(number, title, task, rows, paper_table, ours, with_bm3d, limit),
        place_table(number, task, rows, ours, limit),
    ]


def _header(weights, logs, score_cache: ScoreCache, output: Path, limit, study_limit) -> list:
    """The report's opening lines: the command, the weights files, hardware and subset."""
    command = (
        "csrnet " + " ".join(sys.argv[1:])
        if Path(sys.argv[0]).name == "csrnet"
        else "csrnet report"
    )
    return [
        "# Results",
        "",
        f"Made by `{command}` on {datetime.date.today().isoformat()}, from these weights:",
        "",
        *[
            f"- `{w.path.name}` (scores `{logs[w.name].path.name}`): {w.task} {w.levels}, "
            f"recipe `{w.recipe}`, {w.steps:,} steps" + (" (Tables I/V study)" if w.study else "")
            for w in weights
        ],
        "",
        f"Hardware: {score_cache.device}, torch {torch.__version__}. Per-image scores are kept "
        f"in `{score_cache.folder}` (one file per weights file, named by a hash of its tensors; "
        "each row records the device it was measured on) and reused, so after a weights change "
        "only that file is scored again.",
        "",
        "PSNR (dB) / SSIM on Y by the paper's protocol (see docs/PROTOCOL.md). "
        "The paper's numbers are "
        f"transcribed from its tables; ours are measured on {images_note(limit)}"
        + (f" ({images_note(study_limit)} for Tables I and V)" if study_limit != limit else "")
        + f". Per-image scores: `{output.with_suffix('.csv').name}`.",
        "",
    ]


def _colour_rows(task, ours, y_path, fns, y_fns, logs, root, score: Scorer, bm3d_cache) -> list:
    """Scores on RGB at the colour settings: the degraded input, CBM3D on ``CBM3D_SETS``
    (denoising, when ``bm3d_cache`` is a folder), the Y path on ``Y_PATH_SETS`` (``y_path``:
    the Y model of each level on Y alone, run by ``y_fns``, its rows in ``<its label>-rgb``)
    and each RGB model trained for the level."""
    rows = []
    input_log = score.cache.log("input-rgb")
    for dataset in COLOUR_SETS[task]:  # set by set: CBSD68 is done before Urban100 begins
        folder = root / dataset
        for level in COLOUR_LEVELS[task]:
            deg = Degradation(task, level)
            method = f"{INPUT_NAME[task]} (RGB)"
            cells = {"input": score(folder, deg, None, method, input_log, rgb=True)}
            if task == "denoise" and bm3d_cache:
                measure = dataset in CBM3D_SETS
                cells["bm3d"] = bm3d_cell(score, folder, deg, bm3d_cache, True, measure)
            if level in y_path and dataset in Y_PATH_SETS:
                y = y_path[level]
                y_log = score.cache.log(logs[y.name].path.stem + "-rgb")
                y_method = f"{y.name} (Y only)"
                cells["y"] = score(folder, deg, y_fns[level], y_method, y_log, rgb=True)
            for w in ours:
                if level in w.levels:
                    cells[w.name] = score(folder, deg, fns[w.name], w.name, logs[w.name], rgb=True)
            rows.append((deg, dataset, present(cells)))
    return rows
