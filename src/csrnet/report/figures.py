"""The report's figures: crops of each setting's busiest region, degraded / restored / clean."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from csrnet.evaluation.bm3d import CachedBM3D
from csrnet.evaluation.evaluate import COLOUR_SETS, DEFAULT_SETS
from csrnet.inference.runner import restore_fn
from csrnet.protocol.degrade import Degradation, to_y
from csrnet.protocol.images import list_images, read_image, write_atomic
from csrnet.protocol.matlab import to_uint8
from csrnet.protocol.metrics import psnr
from csrnet.report.settings import (
    COLOUR_FIGURE_LEVEL,
    INPUT_NAME,
    PAPER_LEVELS,
)


def make_figures(weights, models, root, folder: Path, device, with_bm3d, cache, y_paths) -> str:
    """For each model and setting, the first image of the first set: zoomed crops of
    clean / degraded / baseline / ours with the whole image's PSNR under each; for each RGB
    model, a colour photo (:func:`colour_figure`, with the Y model of ``y_paths``, by task
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
            save_panels(panels, deg.border, folder / name)
            lines.append(f"![{w.name} {deg.label} {path.name}](figures/{name})")
    for w in (w for w in weights if w.channels == 3 and w.task in COLOUR_SETS):
        y = y_paths[w.task].get(COLOUR_FIGURE_LEVEL[w.task])
        y_model = models[y.name] if y else None
        bm3d_cache = cache if with_bm3d else None
        name = colour_figure(w, models[w.name], y_model, root, folder, device, bm3d_cache)
        lines.append(f"![{w.name} on a colour photo](figures/{name})")
    return "\n".join(lines) + "\n"


def colour_figure(w, model, y_model, root: Path, folder: Path, device: str, cache=None) -> str:
    """Crops of a colour photo (the first of the task's colour set, at
    ``COLOUR_FIGURE_LEVEL``): clean / degraded / CBM3D (denoising, with ``cache``) / the Y
    path's model on Y alone (when given) / the RGB model, PSNR on RGB under each. Returns
    the PNG's name."""
    from csrnet.inference.options import RunOptions
    from csrnet.inference.photo import Photo
    from csrnet.inference.pipeline import restore_photo

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
            out = restore_photo(Photo(degraded), net, deg, RunOptions(device)).pixels
            panels.append((label, out))
    name = f"{w.name}_{deg.label}_{path.stem}.png"
    save_panels(panels, deg.border, folder / name)
    return name


def save_panels(panels: list[tuple[str, np.ndarray]], border: int, path: Path) -> None:
    """One row of zoomed crops (the busiest 96x96 of the first, the clean image), each
    titled, the PSNR of the whole image against the clean one under each, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    clean = panels[0][1]
    y0, x0, size = busiest_crop(clean if clean.ndim == 2 else clean.mean(axis=2), 96)
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


def busiest_crop(img: np.ndarray, size: int) -> tuple[int, int, int]:
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
