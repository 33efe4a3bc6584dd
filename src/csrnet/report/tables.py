"""The report's Markdown tables: the paper's Tables II-IV beside ours, the colour tables,
where the weights land among other methods, and speed."""

from __future__ import annotations

import numpy as np

from csrnet.evaluation import paper
from csrnet.evaluation import published as anchors
from csrnet.evaluation.evaluate import COLOUR_SETS
from csrnet.evaluation.results import SetScore
from csrnet.protocol.degrade import Degradation
from csrnet.report.settings import (
    COLOUR_TITLES,
    INPUT_NAME,
    PAPER_OTHERS,
    PAPER_TABLES,
    Y_PATH,
    Y_PATH_SETS,
)


def unscored(missing: list[str]) -> list[str]:
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


def colour_table(task, rows, ours, y_path, with_bm3d, limit) -> str:
    """A colour table: input, CBM3D (denoising), the Y path, the published methods (‡)
    and our RGB models, PSNR / SSIM on RGB."""
    cited = anchors.COLOUR[task]
    bm3d_column = task == "denoise" and with_bm3d
    head = ["Setting", "Set", f"{INPUT_NAME[task]} (RGB)", *(["CBM3D"] if bm3d_column else [])]
    head += [Y_PATH] if y_path else []
    head += [f"{name} ‡" for name in cited] + [w.name for w in ours]
    title = f"## Colour: {COLOUR_TITLES[task]} (RGB models, beyond the paper)"
    lines = table_start(title + (f", on {images_note(limit)}" if limit else ""), head)
    for deg, dataset, cells in rows:
        line = [deg.label, dataset, cell_text(cells.get("input"))]
        if bm3d_column:
            line.append(cell_text(cells["bm3d"]) if "bm3d" in cells else "-")
        if y_path:
            line.append(cell_text(cells["y"]) if "y" in cells else "-")
        published = anchors.published(task, dataset, deg.level)
        line += [f"{published[name]:.2f}" if name in published else "-" for name in cited]
        line += [cell_text(cells[w.name]) if w.name in cells else "-" for w in ours]
        lines.append("| " + " | ".join(line) + " |")
    notes = [
        "PSNR over the three RGB channels / SSIM their mean, by the protocol otherwise."
        + (
            " CBM3D (`bm3d.bm3d_rgb`) measured on " + measured_on(rows) + "." if bm3d_column else ""
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


def table_start(title: str, head: list[str]) -> list[str]:
    """A Markdown table's first lines: its title, the header row and the separator."""
    return [title, "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]


def images_note(limit: int) -> str:
    return f"the first {limit} images of each set" if limit else "whole sets"


def cell_text(score: SetScore | None) -> str:
    return f"{score.psnr:.2f} / {score.ssim:.4f}" if score else "-"


def present(cells: dict[str, SetScore | None]) -> dict[str, SetScore]:
    """The cells that have a score (``--cached``: those whose images are all cached)."""
    return {name: score for name, score in cells.items() if score is not None}


def main_table(number, title, task, rows, paper_table, ours, with_bm3d, limit) -> str:
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
        f", on {images_note(limit)} (no Δ against the paper's whole-set means)" if limit else ""
    )
    lines = table_start(title, head)
    for deg, dataset, cells in rows:
        paper_psnr, paper_ssim = paper_table.get(int(deg.level), {}).get(dataset, (None, None))
        line = [deg.label, dataset, cell_text(cells.get("input"))]
        if task == "denoise" and with_bm3d:
            line.append(bm3d_text(cells, int(deg.level), dataset))
        line.append(f"{paper_psnr:.2f} / {paper_ssim:.4f}" if paper_psnr else "-")
        for w in ours:
            if w.name in cells:
                diff = cells[w.name].psnr - paper_psnr if paper_psnr and not limit else None
                line += [cell_text(cells[w.name]), f"{diff:+.2f}" if diff is not None else "-"]
            else:
                line += ["-", "-"]
        lines.append("| " + " | ".join(line) + " |")
    note = f"BM3D: measured on {measured_on(rows)}; † transcribed from the paper."
    return "\n".join(lines) + ("\n\n" + note if task == "denoise" and with_bm3d else "") + "\n"


def measured_on(rows) -> str:
    """The sets (with their settings, where not all of the table's) that have a measured
    BM3D / CBM3D cell in ``rows``."""
    labels = list(dict.fromkeys(deg.label for deg, _, _ in rows))
    measured: dict[str, list[str]] = {}
    for deg, dataset, cells in rows:
        if "bm3d" in cells:
            measured.setdefault(dataset, []).append(deg.label)
    sets = [name if on == labels else f"{name} ({', '.join(on)})" for name, on in measured.items()]
    return ", ".join(sets) or "no set yet"


def bm3d_text(cells: dict, sigma: int, dataset: str) -> str:
    """BM3D's cell: measured here, else the paper's number marked †, else "-"."""
    if "bm3d" in cells:
        return cell_text(cells["bm3d"])
    psnr_, ssim_ = paper.TABLE3_OTHERS["BM3D07"].get(sigma, {}).get(dataset, (None, None))
    if psnr_ is None:
        return "-"
    return f"{psnr_:.2f} / {ssim_:.4f} †" if ssim_ is not None else f"{psnr_:.2f} †"


def place_table(number, task, rows, ours, limit) -> str:
    """Where our best file lands among the paper's methods, by PSNR, setting by setting
    (whole sets only: the paper's numbers are whole-set means)."""
    if limit:
        return (
            f"Table {number} among the paper's methods: on whole sets only (this report "
            f"scored {images_note(limit)}).\n"
        )
    others = PAPER_OTHERS[task]
    names = list(others)
    paper_ours = PAPER_TABLES[task][2]
    head = ["Setting", "Set", *(f"{n}†" for n in names), "CSRnet†", "ours (best file)", "place"]
    title = f"## Table {number} among the paper's methods (PSNR; † transcribed from the paper)"
    lines = table_start(title, head)
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


def speed_table(scores: list[SetScore], device: str) -> str:
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
