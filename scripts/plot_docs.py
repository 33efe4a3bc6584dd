"""Draw the plots of docs/CURVES.md from committed data, never by hand:

- ``docs/figures/where_we_land.png``: for each of the paper's eight settings, on its first
  test set, the shipped weights' PSNR (the means ``csrnet evaluate --record`` stored in each
  file) and the paper's other methods (transcribed in ``csrnet.evaluation.paper``), both
  against the paper's CSRnet;
- ``docs/figures/campaign_curves.png``: the validation PSNR of the GPU campaign's runs by
  step, read from the run log's table in ``docs/TRAINING.md`` (the runs validated on whole
  sets; a model's runs are chained, each starting where the one before it ended).

    python scripts/plot_docs.py        # needs matplotlib (pip install -e '.[report]')
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from csrnet.evaluation import paper  # noqa: E402
from csrnet.weights import available_weights  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "docs" / "figures"
SETTINGS = [  # (label, task, level, first set, the paper's CSRnet table, its other methods)
    ("SR x2", "sr", 2, "Set5", paper.TABLE2_CSRNET, paper.TABLE2_OTHERS),
    ("SR x4", "sr", 4, "Set5", paper.TABLE2_CSRNET, paper.TABLE2_OTHERS),
    ("SR x8", "sr", 8, "Set5", paper.TABLE2_CSRNET, paper.TABLE2_OTHERS),
    ("sigma 15", "denoise", 15, "BSD68", paper.TABLE3_CSRNET, paper.TABLE3_OTHERS),
    ("sigma 30", "denoise", 30, "BSD68", paper.TABLE3_CSRNET, paper.TABLE3_OTHERS),
    ("sigma 50", "denoise", 50, "BSD68", paper.TABLE3_CSRNET, paper.TABLE3_OTHERS),
    ("JPEG q10", "jpeg", 10, "Classic5", paper.TABLE4_CSRNET, paper.TABLE4_OTHERS),
    ("JPEG q20", "jpeg", 20, "Classic5", paper.TABLE4_CSRNET, paper.TABLE4_OTHERS),
]
LABEL = {"sr": "x{}", "denoise": "sigma{}", "jpeg": "q{}"}
NAMED = {"SRCNN16", "VDSR16", "BM3D07", "DnCNN16", "ARCNN15", "MemNet17"}  # the rest: dots
POINT = re.compile(r"(\d+\.\d+)(?: / \d+\.\d+)* at (\d[\d,]*)")


def best_shipped(task: str, level: int, dataset: str) -> tuple[str, float] | None:
    """The shipped (or installed) file with the best recorded mean at this cell."""
    key = f"{dataset} {LABEL[task].format(level)}"
    scores = [
        (info.benchmarks[key]["psnr"], info.name)
        for info in available_weights()
        if info.task == task and key in info.benchmarks
    ]
    return (max(scores)[1], max(scores)[0]) if scores else None


def where_we_land(out: Path) -> None:
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    for row, (_, task, level, dataset, csrnet, others) in enumerate(SETTINGS):
        ref = csrnet[level][dataset][0]
        for method, cells in others.items():
            if dataset in cells.get(level, {}):
                gap = cells[level][dataset][0] - ref
                ax.plot(gap, row, "o", color="0.6", ms=4)
                if method not in NAMED:
                    continue
                ax.annotate(
                    method,
                    (gap, row),
                    xytext=(0, 5),
                    textcoords="offset points",
                    fontsize=5.5,
                    color="0.4",
                    ha="center",
                )
        ours = best_shipped(task, level, dataset)
        if ours:
            ax.plot(ours[1] - ref, row, "D", color="tab:red", ms=6)
            ax.annotate(
                ours[0],
                (ours[1] - ref, row),
                xytext=(0, -10),
                textcoords="offset points",
                fontsize=6,
                color="tab:red",
                ha="center",
            )
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(range(len(SETTINGS)), [f"{s[0]}, {s[3]}" for s in SETTINGS], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(
        "PSNR minus the paper's CSRnet (dB); red: ours, grey: the paper's others", fontsize=7
    )
    ax.tick_params(axis="x", labelsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=130)
    plt.close(fig)


def run_log_rows() -> list[list[str]]:
    """The cells of the run log's table rows (``| # | date | run | ... |``)."""
    text = (ROOT / "docs" / "TRAINING.md").read_text(encoding="utf-8")
    return [
        [c.strip() for c in line.strip().strip("|").split(" | ")]
        for line in text.splitlines()
        if re.match(r"\| \d+ \| ", line)
    ]


def campaign_curves_data() -> dict[str, list[tuple[int, float]]]:
    """Per GPU-campaign run name and validation cell ("gpu_sr_x4: Set5 x4"): (steps since its
    first run, PSNR) from the log's whole-set validations ("full Set5 x4 (start 30.60): 30.83
    at 1000, ..."; of several levels, the first)."""
    curves: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for cells in run_log_rows():
        name, validation = cells[2], cells[7]
        if not name.startswith("gpu_") or not validation.startswith("full "):
            continue
        head = validation.split(";")[0]
        cell = re.match(r"full ([^(:]+?)(?: /[^(:]*)?\s*[(:]", head)
        name = f"{name.removeprefix('gpu_')}: {cell[1] if cell else '?'}"
        start = re.search(r"\(start (\d+\.\d+)\)", head)
        points = [(int(s.replace(",", "")), float(p)) for p, s in POINT.findall(head)]
        offset = curves[name][-1][0] if curves[name] else 0
        if start and not curves[name]:
            curves[name].append((0, float(start[1])))
        curves[name] += [(offset + s, p) for s, p in points]
    return {k: v for k, v in curves.items() if len(v) > 2}


def campaign_curves(out: Path) -> None:
    curves = campaign_curves_data()
    columns = 3
    rows = -(-len(curves) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(7.5, 2.0 * rows), squeeze=False)
    for ax in axes.flat[len(curves) :]:
        ax.axis("off")
    for ax, (name, points) in zip(axes.flat, sorted(curves.items()), strict=False):
        ax.plot([s for s, _ in points], [p for _, p in points], ".-", ms=3, lw=1)
        ax.set_title(name, fontsize=6.5)
        ax.tick_params(labelsize=6)
        ax.set_xlabel("steps", fontsize=6)
    for row in axes:
        row[0].set_ylabel("PSNR (dB)", fontsize=6)
    fig.tight_layout()
    fig.savefig(out, dpi=130)
    plt.close(fig)


def main() -> None:
    FIGURES.mkdir(parents=True, exist_ok=True)
    where_we_land(FIGURES / "where_we_land.png")
    campaign_curves(FIGURES / "campaign_curves.png")


if __name__ == "__main__":
    main()
