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
import io
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from csrnet.errors import CsrnetError
from csrnet.evaluation import paper
from csrnet.evaluation import published as anchors
from csrnet.evaluation.bm3d import CachedBM3D
from csrnet.evaluation.evaluate import COLOUR_SETS, DEFAULT_SETS, SetScore, evaluate_folder
from csrnet.evaluation.scorecache import ScoreCache
from csrnet.inference.tiles import restore_fn
from csrnet.model import PRESETS
from csrnet.protocol.degrade import Degradation, to_y
from csrnet.protocol.images import list_images, read_image, write_atomic
from csrnet.protocol.matlab import to_uint8
from csrnet.protocol.metrics import psnr
from csrnet.training.config import ModelSpec
from csrnet.weights import load_weights, read_metadata, trained_levels

__all__ = ["build_report"]

PAPER_LEVELS = {"sr": [2, 4, 8], "denoise": [15, 30, 50], "jpeg": [10, 20]}
PAPER_TABLES = {
    "sr": ("II", "super-resolution", paper.TABLE2_CSRNET),
    "denoise": ("III", "Gaussian denoising", paper.TABLE3_CSRNET),
    "jpeg": ("IV", "JPEG deblocking", paper.TABLE4_CSRNET),
}
INPUT_NAME = {"sr": "Bicubic", "denoise": "Noisy", "jpeg": "JPEG"}
PAPER_OTHERS = {
    "sr": paper.TABLE2_OTHERS,
    "denoise": paper.TABLE3_OTHERS,
    "jpeg": paper.TABLE4_OTHERS,
}
# BM3D takes seconds per image on this CPU: a report measures it on the small sets. On the
# others the paper's numbers stand for it (issue #14) until `csrnet baseline denoise FOLDER
# --method bm3d --scores DIR` has scored a whole set into the cache; the tables then use that.
BM3D_SETS = ("MemNet14", "BSD68")
# The colour tables (RGB models, issue #15): their settings and sets, and where CBM3D is run.
COLOUR_LEVELS = {"denoise": [15, 25, 50], "jpeg": [10, 20, 30, 40]}
COLOUR_TITLES = {"denoise": "colour Gaussian denoising", "jpeg": "colour JPEG deblocking"}
CBM3D_SETS = ("CBSD68",)  # and, as for BM3D, any set whose every image is in the cache
# Where the colour tables score the Y path: one set per task. On Urban100 it would be 300
# more megapixel images (~100 CPU minutes) for a comparison CBSD68 already shows.
Y_PATH_SETS = ("CBSD68", "LIVE1")
COLOUR_FIGURE_LEVEL = {"denoise": 25, "jpeg": 10}
Y_PATH = "Y model, Y only"  # the colour tables' column for the paper's path on a colour photo


@dataclass
class Weights:
    path: Path
    name: str
    task: str
    levels: list[float]
    recipe: str
    preset: str
    steps: int
    budget: str  # steps, and batch and patch size where recorded: runs compare only at equal ones
    channels: int = 1  # 1: the paper's gray/Y model; 3: an RGB model (the colour tables)

    @property
    def study(self) -> bool:
        """A run of Table I's or V's study (an ablation or depth recipe of a preset, at x2)."""
        return (
            self.channels == 1
            and self.recipe.startswith(("ablation_", "depth_"))
            and self.preset in PRESETS
            and self.task == "sr"
            and 2 in self.levels
        )


def list_weights(folders: Sequence[Path]) -> list[Weights]:
    """The csrnet weights files of ``folders`` with what the report needs of their metadata."""
    for folder in folders:
        if not folder.is_dir():
            raise CsrnetError(f"{folder}: no such folder")
    paths = sorted(p for folder in folders for p in folder.glob("*.safetensors"))
    for i, path in enumerate(paths):
        if any(p.stem == path.stem for p in paths[:i]):
            raise CsrnetError(f"{path}: two weights files are named {path.stem}")
    found = []
    for path in paths:
        meta = read_metadata(path)
        task, levels = meta["task"], trained_levels(meta)
        config = meta.get("config", {})
        preset = _preset_of(config.get("model", {}))
        steps = int(meta.get("steps", 0))
        batch, patch = (config.get("data", {}).get(k) for k in ("batch_size", "patch_size"))
        budget = f"{steps:,} steps" + (
            f" of batch {batch} of {patch}x{patch}" if batch and patch else ""
        )
        found.append(
            Weights(
                path,
                path.name.removesuffix(".safetensors"),
                task["task"],
                levels,
                str(meta.get("recipe", "")),
                preset,
                steps,
                budget,
                int(meta["model"].get("image_channels", 1)),
            )
        )
    if not found:
        raise CsrnetError(f"{', '.join(map(str, folders))}: no .safetensors weights")
    return found


def _preset_of(spec: dict) -> str:
    """The preset a recipe's model section names, if the model it builds is that preset (input
    skip aside); else ""."""
    if spec.get("preset") not in PRESETS:
        return ""
    try:
        built = ModelSpec(**spec).build()
    except (KeyError, TypeError):  # a field this version lacks
        return ""
    same = replace(built, input_skip=False) == replace(PRESETS[spec["preset"]], input_skip=False)
    return spec["preset"] if same else ""


def _bm3d_cell(
    score, folder: Path, deg: Degradation, cache: Path, rgb: bool = False, measure: bool = True
) -> SetScore | None:
    """BM3D's (or, ``rgb``, CBM3D's) scores, each with the seconds it took when its result
    was computed. Without ``measure``, only a set whose every image is in the score cache
    (scored by ``csrnet baseline denoise ... --method bm3d --scores``); else None."""
    bm3d = CachedBM3D(cache, folder.name, deg.level, rgb=rgb)
    log = score.cache.log(bm3d.label)
    if not measure:
        return score.cached(folder, deg, bm3d.method, log)
    restore = bm3d.restore_fn(folder, score.limit, log)
    return score(folder, deg, restore, bm3d.method, log, bm3d.seconds, rgb=rgb)


class _Scorer:
    """Scores a method on a set through the score cache (``csrnet.evaluation.scorecache``: cached
    images are not scored again), and keeps every SetScore for the CSV and speed tables.
    ``cached_only``: nothing is scored; a set with images missing from the cache gives None,
    and is listed in ``missing``."""

    def __init__(
        self, cache: ScoreCache, limit: int, progress: bool, cached_only: bool = False
    ) -> None:
        self.cache, self.limit, self.progress = cache, limit, progress
        self.cached_only = cached_only
        self.scores: list[SetScore] = []
        self.here: list[SetScore] = []  # those whose every row was timed on this machine
        self.missing: list[str] = []  # cached_only: "method set setting (k of n images)"

    def __call__(
        self,
        folder: Path,
        deg: Degradation,
        restore,
        method: str,
        log,
        timing=None,
        limit=None,
        rgb: bool = False,
    ) -> SetScore | None:
        limit = self.limit if limit is None else limit
        if self.cached_only:
            return self._from_cache(folder, deg, method, log, limit, self.missing)
        score = evaluate_folder(
            folder,
            deg,
            restore,
            progress=self.progress,
            limit=limit,
            method=method,
            log=log,
            timing=timing,
            rgb=rgb,
        )
        self._keep(score, deg, log)
        return score

    def cached(self, folder: Path, deg: Degradation, method: str, log) -> SetScore | None:
        """The set's score from the cache alone, or None (not listed as missing) when some
        image is not there."""
        return self._from_cache(folder, deg, method, log, self.limit, [])

    def _from_cache(self, folder: Path, deg: Degradation, method: str, log, limit, missing):
        """The set's score from the cache alone, or None when some image is not there (then
        appended to ``missing``)."""
        paths = list_images(folder)[: limit or None]
        found = [log.get(folder.name, deg.label, p.name) for p in paths]
        images = [s for s in found if s is not None]
        if len(images) < len(paths):
            missing.append(
                f"{method} {folder.name} {deg.label} ({len(images)} of {len(paths)} images)"
            )
            return None
        score = SetScore(folder.name, deg, method, images)
        self._keep(score, deg, log)
        return score

    def _keep(self, score: SetScore, deg: Degradation, log) -> None:
        self.scores.append(score)
        devices = {log.device_of(score.dataset, deg.label, i.name) for i in score.images}
        if devices == {self.cache.device}:
            self.here.append(score)


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
    output, root = Path(output), Path(data_root)
    if not output.parent.is_dir():
        raise CsrnetError(f"{output}: folder {output.parent} does not exist")
    weights = list_weights([Path(d) for d in weights_dirs])
    released = [w for w in weights if not w.study and w.channels == 1]
    colour = [w for w in weights if w.channels == 3 and w.task in COLOUR_SETS]
    tasks = sorted({w.task for w in released}, key=list(PAPER_TABLES).index)
    colour_tasks = sorted({w.task for w in colour}, key=list(COLOUR_SETS).index)
    needed = {s for t in tasks for s in DEFAULT_SETS[t]}
    needed.update(s for t in colour_tasks for s in COLOUR_SETS[t])
    if any(w.study for w in weights):  # Tables I and V: the SR sets
        needed.update(DEFAULT_SETS["sr"])
    missing = sorted(s for s in needed if not (root / s).is_dir())
    if missing:
        raise CsrnetError(f"{root}: missing test sets {', '.join(missing)} (set --data-root)")
    models = {w.name: load_weights(w.path, device)[0] for w in weights}
    score_cache = ScoreCache(scores_dir or output.parent / "scores", device)
    logs = {w.name: score_cache.for_weights(w.path) for w in weights}
    score = _Scorer(score_cache, limit, progress, cached_only)

    bm3d_cache = Path(cache) if with_bm3d else None
    sections = []
    for task in tasks:
        ours = [w for w in released if w.task == task]
        fns = {w.name: restore_fn(models[w.name], device) for w in ours}
        sections += _paper_sections(task, ours, fns, logs, root, score, bm3d_cache, limit)
    y_paths = {task: _y_path(task, released) for task in colour_tasks}
    for task in colour_tasks:
        ours = [w for w in colour if w.task == task]
        fns = {w.name: restore_fn(models[w.name], device) for w in ours}
        y_path = y_paths[task]
        y_fns = {
            lv: _y_only_fn(models[y.name], Degradation(task, lv), device)
            for lv, y in y_path.items()
        }
        rows = _colour_rows(task, ours, y_path, fns, y_fns, logs, root, score, bm3d_cache)
        sections.append(_colour_table(task, rows, ours, y_path, with_bm3d, limit))
    study_limit = limit if study_limit is None else study_limit
    sections += _study_tables(weights, models, logs, root, study_limit, device, score) or [
        _no_study_note(output)
    ]
    sections.append(_speed_table(score.here, score_cache.device))
    scores = score.scores
    if figures:
        sections.append(
            _figures(
                weights,
                models,
                root,
                output.parent / "figures",
                device,
                with_bm3d,
                Path(cache),
                y_paths,
            )
        )

    header = _header(weights, logs, score_cache, output, limit, study_limit)
    if cached_only:
        header += _unscored(score.missing)
    csv_text = "".join(s.csv_text(header=i == 0) for i, s in enumerate(scores))
    write_atomic(output.with_suffix(".csv"), lambda tmp: tmp.write_text(csv_text, encoding="utf-8"))
    text = "\n".join(header + sections)
    write_atomic(output, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return scores


def _paper_sections(task, ours, fns, logs, root, score: _Scorer, bm3d_cache, limit) -> list:
    """The paper's table of ``task`` (II, III or IV) for the Y/gray weights ``ours`` (run by
    ``fns``, by name): the degraded input, BM3D on ``BM3D_SETS`` (denoising, when
    ``bm3d_cache`` is a folder) and each file at the paper's levels it was trained for;
    then where ours land among the paper's methods."""
    number, title, paper_table = PAPER_TABLES[task]
    levels = [lv for lv in PAPER_LEVELS[task] if any(lv in w.levels for w in ours)]
    input_log = score.cache.log("input")
    rows = []
    for level in levels:
        deg = Degradation(task, level)
        for dataset in DEFAULT_SETS[task]:
            folder = root / dataset
            cells = {"input": score(folder, deg, None, INPUT_NAME[task], input_log)}
            if task == "denoise" and bm3d_cache:
                measure = dataset in BM3D_SETS
                cells["bm3d"] = _bm3d_cell(score, folder, deg, bm3d_cache, measure=measure)
            for w in ours:
                if level in w.levels:
                    cells[w.name] = score(folder, deg, fns[w.name], w.name, logs[w.name])
            rows.append((deg, dataset, _present(cells)))
    with_bm3d = bm3d_cache is not None
    return [
        _main_table(number, title, task, rows, paper_table, ours, with_bm3d, limit),
        _place_table(number, task, rows, ours, limit),
    ]


def _unscored(missing: list[str]) -> list[str]:
    """``--cached``: what the cache does not have yet, shown as "-" in the tables."""
    if not missing:
        return ["Written from the score cache alone (`--cached`); it holds every cell.", ""]
    return [
        "Written from the score cache alone (`--cached`). Not complete there yet, so left "
        'out of the tables ("-"); the same command without `--cached` scores them:',
        "",
        *[f"- {m}" for m in missing],
        "",
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
        "PSNR (dB) / SSIM on Y by the paper's protocol (see README). The paper's numbers are "
        f"transcribed from its tables; ours are measured on {_subset(limit)}"
        + (f" ({_subset(study_limit)} for Tables I and V)" if study_limit != limit else "")
        + f". Per-image scores: `{output.with_suffix('.csv').name}`.",
        "",
    ]


def _y_path(task: str, released: list[Weights]) -> dict[float, Weights]:
    """For each colour setting of ``task``, the Y model that ``csrnet restore --channels y``
    would pick among ``released`` (the paper's path for a colour photo: Y restored, Cb and
    Cr kept), where one covers the setting."""
    from csrnet.weights import find_weights

    found = [(w.path, read_metadata(w.path)) for w in released if w.task == task]
    by_path = {w.path: w for w in released}
    picks = {}
    for level in COLOUR_LEVELS[task]:
        path = find_weights(Degradation(task, level), 1, required=False, found=found)
        if path is not None:
            picks[level] = by_path[path]
    return picks


def _y_only_fn(model, deg: Degradation, device: str):
    """A Y model on a colour image as `csrnet restore --channels y` runs it: Y restored,
    Cb and Cr kept, the 8-bit RGB result as float."""
    from csrnet.inference.photos import Photo, restore_photo

    def run(degraded: np.ndarray) -> np.ndarray:
        return restore_photo(Photo(degraded), model, deg, device).pixels.astype(np.float64)

    return run


def _colour_rows(task, ours, y_path, fns, y_fns, logs, root, score: _Scorer, bm3d_cache) -> list:
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
                cells["bm3d"] = _bm3d_cell(score, folder, deg, bm3d_cache, True, measure)
            if level in y_path and dataset in Y_PATH_SETS:
                y = y_path[level]
                y_log = score.cache.log(logs[y.name].path.stem + "-rgb")
                y_method = f"{y.name} (Y only)"
                cells["y"] = score(folder, deg, y_fns[level], y_method, y_log, rgb=True)
            for w in ours:
                if level in w.levels:
                    cells[w.name] = score(folder, deg, fns[w.name], w.name, logs[w.name], rgb=True)
            rows.append((deg, dataset, _present(cells)))
    return rows


def _colour_table(task, rows, ours, y_path, with_bm3d, limit) -> str:
    """A colour table: input, CBM3D (denoising), the Y path, the published methods (‡)
    and our RGB models, PSNR / SSIM on RGB."""
    cited = anchors.COLOUR[task]
    bm3d_column = task == "denoise" and with_bm3d
    head = ["Setting", "Set", f"{INPUT_NAME[task]} (RGB)", *(["CBM3D"] if bm3d_column else [])]
    head += [Y_PATH] if y_path else []
    head += [f"{name} ‡" for name in cited] + [w.name for w in ours]
    title = f"## Colour: {COLOUR_TITLES[task]} (RGB models, beyond the paper)"
    lines = _table_start(title + (f", on {_subset(limit)}" if limit else ""), head)
    for deg, dataset, cells in rows:
        line = [deg.label, dataset, _cell(cells.get("input"))]
        if bm3d_column:
            line.append(_cell(cells["bm3d"]) if "bm3d" in cells else "-")
        if y_path:
            line.append(_cell(cells["y"]) if "y" in cells else "-")
        published = anchors.published(task, dataset, deg.level)
        line += [f"{published[name]:.2f}" if name in published else "-" for name in cited]
        line += [_cell(cells[w.name]) if w.name in cells else "-" for w in ours]
        lines.append("| " + " | ".join(line) + " |")
    notes = [
        "PSNR over the three RGB channels / SSIM their mean, by the protocol otherwise."
        + (
            " CBM3D (`bm3d.bm3d_rgb`) measured on " + _measured_on(rows) + "."
            if bm3d_column
            else ""
        ),
        *(
            [
                f"{Y_PATH}: the Y model `csrnet restore --channels y` picks, on Y alone with Cb"
                " and Cr kept (the paper's path for a colour photo), on "
                + ", ".join(s for s in Y_PATH_SETS if s in COLOUR_SETS[task])
                + ": "
                + "; ".join(f"{Degradation(task, lv).label} `{y.name}`" for lv, y in y_path.items())
                + "."
            ]
            if y_path
            else []
        ),
        "‡ published whole-set PSNR, not measured here (`csrnet.evaluation.published`): "
        + "; ".join(f"{name}: {anchors.SOURCES[name]}" for name in cited)
        + ".",
    ]
    return "\n".join(lines) + "\n\n" + "\n".join(notes) + "\n"


def _table_start(title: str, head: list[str]) -> list[str]:
    """A Markdown table's first lines: its title, the header row and the separator."""
    return [title, "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]


def _subset(limit: int) -> str:
    return f"the first {limit} images of each set" if limit else "whole sets"


def _cell(score: SetScore | None) -> str:
    return f"{score.psnr:.2f} / {score.ssim:.4f}" if score else "-"


def _present(cells: dict[str, SetScore | None]) -> dict[str, SetScore]:
    """The cells that have a score (``--cached``: those whose images are all cached)."""
    return {name: score for name, score in cells.items() if score is not None}


def _main_table(number, title, task, rows, paper_table, ours, with_bm3d, limit) -> str:
    """Table II, III or IV: the degraded input, BM3D (denoising), the paper's CSRnet and each
    of our files, PSNR / SSIM. Δ to the paper only on whole sets: the paper's numbers are
    whole-set means, and a subset's mean says nothing against them."""
    head = ["Setting", "Set", INPUT_NAME[task]]
    if task == "denoise" and with_bm3d:
        head.append("BM3D")
    head.append("CSRnet (paper)")
    for w in ours:
        head += [w.name, "Δ paper"]
    title = f"## Table {number}: {title}" + (
        f", on {_subset(limit)} (no Δ against the paper's whole-set means)" if limit else ""
    )
    lines = _table_start(title, head)
    for deg, dataset, cells in rows:
        paper_psnr, paper_ssim = paper_table.get(int(deg.level), {}).get(dataset, (None, None))
        line = [deg.label, dataset, _cell(cells.get("input"))]
        if task == "denoise" and with_bm3d:
            line.append(_bm3d_text(cells, int(deg.level), dataset))
        line.append(f"{paper_psnr:.2f} / {paper_ssim:.4f}" if paper_psnr else "-")
        for w in ours:
            if w.name in cells:
                diff = cells[w.name].psnr - paper_psnr if paper_psnr and not limit else None
                line += [_cell(cells[w.name]), f"{diff:+.2f}" if diff is not None else "-"]
            else:
                line += ["-", "-"]
        lines.append("| " + " | ".join(line) + " |")
    note = f"BM3D: measured on {_measured_on(rows)}; † transcribed from the paper."
    return "\n".join(lines) + ("\n\n" + note if task == "denoise" and with_bm3d else "") + "\n"


def _measured_on(rows) -> str:
    """The sets (with their settings, where not all of the table's) that have a measured
    BM3D / CBM3D cell in ``rows``."""
    labels = list(dict.fromkeys(deg.label for deg, _, _ in rows))
    measured: dict[str, list[str]] = {}
    for deg, dataset, cells in rows:
        if "bm3d" in cells:
            measured.setdefault(dataset, []).append(deg.label)
    sets = [name if on == labels else f"{name} ({', '.join(on)})" for name, on in measured.items()]
    return ", ".join(sets) or "no set yet"


def _bm3d_text(cells: dict, sigma: int, dataset: str) -> str:
    """BM3D's cell: measured here, else the paper's number marked †, else "-"."""
    if "bm3d" in cells:
        return _cell(cells["bm3d"])
    psnr_, ssim_ = paper.TABLE3_OTHERS["BM3D07"].get(sigma, {}).get(dataset, (None, None))
    if psnr_ is None:
        return "-"
    return f"{psnr_:.2f} / {ssim_:.4f} †" if ssim_ is not None else f"{psnr_:.2f} †"


def _place_table(number, task, rows, ours, limit) -> str:
    """Where our best file lands among the paper's methods, by PSNR, setting by setting
    (whole sets only: the paper's numbers are whole-set means)."""
    if limit:
        return (
            f"Table {number} among the paper's methods: on whole sets only (this report "
            f"scored {_subset(limit)}).\n"
        )
    others = PAPER_OTHERS[task]
    names = list(others)
    paper_ours = PAPER_TABLES[task][2]
    head = ["Setting", "Set", *(f"{n}†" for n in names), "CSRnet†", "ours (best file)", "place"]
    title = f"## Table {number} among the paper's methods (PSNR; † transcribed from the paper)"
    lines = _table_start(title, head)
    for deg, dataset, cells in rows:
        level = int(deg.level)
        theirs = [others[n].get(level, {}).get(dataset, (None, None))[0] for n in names]
        theirs.append(paper_ours.get(level, {}).get(dataset, (None, None))[0])
        trained = [w for w in ours if deg.level in w.levels]
        if not trained or any(w.name not in cells for w in trained):  # --cached: not all in
            continue
        best, name = max((cells[w.name].psnr, w.name) for w in trained)
        known = [p for p in theirs if p is not None]
        place = 1 + sum(p > best for p in known)
        line = [deg.label, dataset, *(f"{p:.2f}" if p is not None else "-" for p in theirs)]
        line += [f"{best:.2f} (`{name}`)", f"{place} of {len(known) + 1}"]
        lines.append("| " + " | ".join(line) + " |")
    if len(lines) == 4:  # no row: the title, header and separator alone
        return f"Table {number} among the paper's methods: no setting has all its files scored.\n"
    return "\n".join(lines) + "\n"


def _study_tables(weights, models, logs, root, limit, device, scorer: _Scorer) -> list[str]:
    """Tables I (scales and inter-block links) and V (depth), PSNR at x2, one pair per training
    budget of the study runs, when trained."""
    study = [w for w in weights if w.study]
    deg = Degradation("sr", 2)
    scored: dict[tuple[str, str], SetScore | None] = {}  # (run, set): it may fill both tables

    def score(w: Weights, dataset: str) -> str:
        if (w.name, dataset) not in scored:
            fn = restore_fn(models[w.name], device)
            scored[w.name, dataset] = scorer(
                root / dataset, deg, fn, w.name, logs[w.name], limit=limit
            )
        found = scored[w.name, dataset]
        return f"{found.psnr:.3f}" if found else "-"

    out = []
    for budget in dict.fromkeys(w.budget for w in study):
        group = [w for w in study if w.budget == budget]
        for prefix, number, title, table in (
            ("ablation_", "I", "ablation at x2 (PSNR)", paper.TABLE1_ABLATION),
            ("depth_", "V", "depth at x2 (PSNR)", paper.TABLE5_DEPTH),
        ):
            variants = _columns(group, table, prefix)
            if not variants:
                continue
            head = ["Set"] + [
                f"{w.preset} {who}" for w in variants for who in ("(paper)", "(ours)")
            ]
            subset = f", on {_subset(limit)}" if limit else ""
            lines = _table_start(f"## Table {number}: {title}, trained {budget}{subset}", head)
            for dataset in table[next(iter(table))]:
                cells = [f"{table[w.preset][dataset]:.3f} | {score(w, dataset)}" for w in variants]
                lines.append(f"| {dataset} | " + " | ".join(cells) + " |")
            runs = ", ".join(f"{w.preset} `{w.name}`" for w in variants)
            out.append("\n".join(lines) + f"\n\nRuns: {runs}.\n")
    return out


def _no_study_note(output: Path) -> str:
    """In place of Tables I and V when no study runs are among the weights: how to make
    them, and where they were kept (an ``ABLATION.md`` beside the report)."""
    text = (
        "## Tables I and V\n\nNot in this report: none of its weights is a run of the "
        "`ablation_*` or `depth_*` recipes (pass their folders with `--weights-dir`)."
    )
    if (output.parent / "ABLATION.md").is_file():
        text += " The last ones made are kept in [`ABLATION.md`](ABLATION.md)."
    return text + "\n"


def _columns(runs: list[Weights], table: dict, prefix: str) -> list[Weights]:
    """Per column of ``table``, a run of that architecture (those of the table's own recipe
    ``prefix`` first), labelled with the column's preset. CSRnet-Dense is B8R6 (the default
    D8R6): one run serves both tables."""
    columns = []
    for preset in table:
        same = [w for w in runs if PRESETS[w.preset] == PRESETS[preset]]
        same.sort(key=lambda w: not w.recipe.startswith(prefix))
        if same:
            columns.append(replace(same[0], preset=preset))
    return columns


def _speed_table(scores: list[SetScore], device: str) -> str:
    """Seconds per image and megapixels per second of the sets timed on this machine."""
    timed = {}
    for s in scores:
        if s.megapixels_per_second is not None:
            timed.setdefault((s.method, s.dataset), []).append(s)
    lines = [
        f"## Speed ({device})",
        "",
        "Sets whose every image was timed on this machine (a score cached from another "
        "machine keeps that machine's time: `docs/scores/*.csv`, column `device`).",
        "",
        "| Method | Set | s / image | Mpx / s |",
        "|---|---|---:|---:|",
    ]
    for (method, dataset), group in sorted(timed.items()):
        spi = np.mean([g.seconds_per_image for g in group])
        mps = np.mean([g.megapixels_per_second for g in group])
        lines.append(f"| {method} | {dataset} | {spi:.3f} | {mps:.3f} |")
    return "\n".join(lines) + "\n"


def _figures(weights, models, root, folder: Path, device, with_bm3d, cache, y_paths) -> str:
    """For each model and setting, the first image of the first set: zoomed crops of
    clean / degraded / baseline / ours with the whole image's PSNR under each; for each RGB
    model, a colour photo (:func:`_colour_figure`, with the Y model of ``y_paths``, by task
    and level, as the colour tables' Y path)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["## Figures", ""]
    for w in (w for w in weights if w.channels == 1):
        for level in [lv for lv in PAPER_LEVELS[w.task] if lv in w.levels]:
            deg = Degradation(w.task, level)
            dataset = DEFAULT_SETS[w.task][0]
            path = list_images(root / dataset)[0]
            clean = deg.clean(to_y(read_image(path)))
            degraded = deg.apply(clean, name=path.name)
            panels = [("clean", clean)]
            if w.task == "sr":
                s = int(level)
                low = to_uint8(degraded[::s, ::s]).repeat(s, 0).repeat(s, 1)
                panels += [("LR (nearest)", low), ("bicubic", to_uint8(degraded))]
            else:
                panels.append((INPUT_NAME[w.task].lower(), to_uint8(degraded)))
                if w.task == "denoise" and with_bm3d:
                    panels.append(
                        ("BM3D", to_uint8(CachedBM3D(cache, dataset, level)(degraded, path.name)))
                    )
            panels.append((w.name, to_uint8(restore_fn(models[w.name], device)(degraded))))
            name = f"{w.name}_{deg.label}_{path.stem}.png"
            _save_panels(panels, deg.border, folder / name)
            lines.append(f"![{w.name} {deg.label} {path.name}](figures/{name})")
    for w in (w for w in weights if w.channels == 3 and w.task in COLOUR_SETS):
        y = y_paths[w.task].get(COLOUR_FIGURE_LEVEL[w.task])
        y_model = models[y.name] if y else None
        bm3d_cache = cache if with_bm3d else None
        name = _colour_figure(w, models[w.name], y_model, root, folder, device, bm3d_cache)
        lines.append(f"![{w.name} on a colour photo](figures/{name})")
    return "\n".join(lines) + "\n"


def _colour_figure(w, model, y_model, root: Path, folder: Path, device: str, cache=None) -> str:
    """Crops of a colour photo (the first of the task's colour set, at
    ``COLOUR_FIGURE_LEVEL``): clean / degraded / CBM3D (denoising, with ``cache``) / the Y
    path's model on Y alone (when given) / the RGB model, PSNR on RGB under each. Returns
    the PNG's name."""
    from csrnet.inference.photos import Photo, restore_photo

    deg = Degradation(w.task, COLOUR_FIGURE_LEVEL[w.task])
    dataset = COLOUR_SETS[w.task][0]
    path = list_images(root / dataset)[0]
    clean = deg.clean(read_image(path))
    noisy = deg.apply(clean, name=path.name)  # as the table's CBM3D sees it (its cache)
    degraded = to_uint8(noisy)  # the models see an 8-bit photo, as `csrnet restore` does
    panels = [("clean", clean), (INPUT_NAME[w.task].lower(), degraded)]
    if cache is not None and w.task == "denoise":
        cbm3d = CachedBM3D(cache, dataset, deg.level, rgb=True)(noisy, path.name)
        panels.append(("CBM3D", to_uint8(cbm3d)))
    for label, net in (("Y model (Y only)", y_model), (w.name, model)):
        if net is not None:
            out = restore_photo(Photo(degraded), net, deg, device).pixels
            panels.append((label, out))
    name = f"{w.name}_{deg.label}_{path.stem}.png"
    _save_panels(panels, deg.border, folder / name)
    return name


def _save_panels(panels: list[tuple[str, np.ndarray]], border: int, path: Path) -> None:
    """One row of zoomed crops (the busiest 96x96 of the first, the clean image), each
    titled, the PSNR of the whole image against the clean one under each, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    clean = panels[0][1]
    y0, x0, size = _busiest_crop(clean if clean.ndim == 2 else clean.mean(axis=2), 96)
    fig, axes = plt.subplots(1, len(panels), figsize=(2.4 * len(panels), 2.8))
    for ax, (label, img) in zip(axes, panels, strict=True):
        crop = img[y0 : y0 + size, x0 : x0 + size]
        ax.imshow(crop, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        score = "" if label == "clean" else f"{psnr(img, clean, border):.2f} dB"
        ax.set_title(label, fontsize=9)
        ax.set_xlabel(score, fontsize=9)
        ax.set_xticks([]), ax.set_yticks([])
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    figure = Image.open(buffer)
    # gray panels make a gray figure: one channel, not matplotlib's RGBA (a third the bytes)
    figure = figure.convert("L" if all(img.ndim == 2 for _, img in panels) else "RGB")
    out = io.BytesIO()
    figure.save(out, format="png", optimize=True)
    write_atomic(path, lambda tmp: tmp.write_bytes(out.getvalue()))


def _busiest_crop(img: np.ndarray, size: int) -> tuple[int, int, int]:
    """Top-left corner of the size x size crop with the most gradient energy."""
    size = min(size, *img.shape)
    grad = (
        np.abs(np.diff(img.astype(np.float64), axis=1))[:-1]
        + np.abs(np.diff(img.astype(np.float64), axis=0))[:, :-1]
    )
    best, corner = -1.0, (0, 0)
    step = max(1, size // 2)
    for y in range(0, grad.shape[0] - size + 1, step):
        for x in range(0, grad.shape[1] - size + 1, step):
            energy = grad[y : y + size, x : x + size].sum()
            if energy > best:
                best, corner = energy, (y, x)
    return corner[0], corner[1], size
