"""Other methods' published PSNR (dB, on RGB) on the colour benchmarks, beyond the paper.

The colour tables of ``csrnet report`` set our RGB models beside these. They are read from
the methods' papers (or a later paper's table reproducing them, named in ``SOURCES``), not
measured here: their degradations were made by their authors' code (MATLAB or OpenCV noise
and JPEG), so a few hundredths of a dB between their rows and ours mean nothing. CBM3D is
also measured here, by the protocol (``csrnet report --bm3d``).
"""

from __future__ import annotations

# method -> sigma -> dataset -> PSNR; AWGN i.i.d. per RGB channel.
COLOUR_DENOISE: dict[str, dict[int, dict[str, float]]] = {
    "CBM3D": {15: {"CBSD68": 33.52}, 25: {"CBSD68": 30.70}, 50: {"CBSD68": 27.38}},
    "CDnCNN-B": {25: {"CBSD68": 31.23}, 50: {"CBSD68": 27.97}},
    "IRCNN": {
        15: {"CBSD68": 33.86, "Urban100": 33.78},
        25: {"CBSD68": 31.16, "Urban100": 31.20},
        50: {"CBSD68": 27.86, "Urban100": 27.70},
    },
    "FFDNet": {
        15: {"CBSD68": 33.87, "Urban100": 33.83},
        25: {"CBSD68": 31.21, "Urban100": 31.40},
        50: {"CBSD68": 27.96, "Urban100": 28.05},
    },
    "DRUNet": {
        15: {"CBSD68": 34.30, "Urban100": 34.81},
        25: {"CBSD68": 31.69, "Urban100": 32.60},
        50: {"CBSD68": 28.51, "Urban100": 29.61},
    },
}

# method -> quality -> dataset -> PSNR; colour JPEG with 4:2:0 chroma subsampling.
# "JPEG" is the compressed input: it checks our colour JPEG protocol against theirs.
COLOUR_JPEG: dict[str, dict[int, dict[str, float]]] = {
    "JPEG": {10: {"LIVE1": 25.69}, 40: {"LIVE1": 30.28}},
    "QGAC": {10: {"LIVE1": 27.65}, 40: {"LIVE1": 32.08}},
    "FBCNN": {10: {"LIVE1": 27.77}, 40: {"LIVE1": 32.34}},
}

COLOUR = {"denoise": COLOUR_DENOISE, "jpeg": COLOUR_JPEG}  # by task

SOURCES: dict[str, str] = {
    "CBM3D": "DnCNN (Zhang et al., IEEE TIP 2017), colour table, as reproduced in the "
    "README of Shakarim94/CDnCNN-B-tensorflow; sigma 15 from the DnCNN author's table in "
    "cszn/DnCNN issue #4 (CBSD68, RGB; 30.71 / 27.38 there at sigma 25 / 50)",
    "CDnCNN-B": "the same DnCNN table",
    "IRCNN": "Restormer (Zamir et al., arXiv 2111.09881), colour denoising table (CBSD68 and "
    "Urban100)",
    "FFDNet": "the same Restormer table (paperswithcode lists the same 33.87 at sigma 15)",
    "DRUNet": "the same Restormer table",
    "JPEG": "as quoted by the JPNeO paper beside QGAC and FBCNN",
    "QGAC": "as quoted by the JPNeO paper (q10 and q40 only); not checked against QGAC's",
    "FBCNN": "as quoted by the JPNeO paper (q10 and q40 only); not checked against FBCNN's",
}


def published(task: str, dataset: str, level: float) -> dict[str, float]:
    """Each method's published PSNR at a colour setting (``{}`` where none is known)."""
    return {
        method: cells[int(level)][dataset]
        for method, cells in COLOUR.get(task, {}).items()
        if dataset in cells.get(int(level), {})
    }
