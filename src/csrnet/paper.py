"""Numbers transcribed from the paper (PSNR dB, SSIM), keyed by (task, level, dataset).

The degraded-input rows that check the protocol without weights (Table II Bicubic, Table IV
JPEG; the paper has no noisy-input row), and the paper's CSRnet results (Tables I-V), which
trained weights are compared with.
"""

from __future__ import annotations

# Table II, "Bicubic"; datasets Set5, Set14, BSD100, Urban100.
TABLE2_BICUBIC: dict[int, dict[str, tuple[float, float]]] = {
    2: {
        "Set5": (33.68, 0.9304),
        "Set14": (30.24, 0.8691),
        "BSD100": (29.56, 0.8440),
        "Urban100": (26.88, 0.8410),
    },
    4: {
        "Set5": (28.42, 0.8109),
        "Set14": (26.10, 0.7023),
        "BSD100": (25.96, 0.6678),
        "Urban100": (23.15, 0.6574),
    },
    8: {
        "Set5": (24.40, 0.6045),
        "Set14": (23.19, 0.5110),
        "BSD100": (23.67, 0.4808),
        "Urban100": (20.74, 0.4841),
    },
}

# Table IV, "JPEG"; datasets Classic5, LIVE1.
TABLE4_JPEG: dict[int, dict[str, tuple[float, float]]] = {
    10: {"Classic5": (27.82, 0.7595), "LIVE1": (27.77, 0.7730)},
    20: {"Classic5": (30.12, 0.8344), "LIVE1": (30.07, 0.8512)},
}


def baseline_rows() -> list[tuple[str, int, str, float, float]]:
    """(task, level, dataset, paper PSNR, paper SSIM) for every baseline cell of the paper."""
    rows = []
    for task, table in (("sr", TABLE2_BICUBIC), ("jpeg", TABLE4_JPEG)):
        for level, cells in table.items():
            for dataset, (p, s) in cells.items():
                rows.append((task, level, dataset, p, s))
    return rows


# The paper's CSRnet results ("Ours"), keyed by setting then dataset: (PSNR, SSIM).
TABLE2_CSRNET: dict[int, dict[str, tuple[float, float]]] = {
    2: {
        "Set5": (38.00, 0.9613),
        "Set14": (33.70, 0.9198),
        "BSD100": (32.25, 0.9005),
        "Urban100": (32.33, 0.9298),
    },
    4: {
        "Set5": (32.12, 0.8929),
        "Set14": (28.51, 0.7788),
        "BSD100": (27.55, 0.7343),
        "Urban100": (26.10, 0.7842),
    },
    8: {
        "Set5": (26.44, 0.7523),
        "Set14": (24.65, 0.6316),
        "BSD100": (24.76, 0.5924),
        "Urban100": (22.31, 0.6059),
    },
}
# Table III; the paper's "14 images" is MemNet14 and "BSD200" is BSD200_test here.
TABLE3_CSRNET: dict[int, dict[str, tuple[float, float]]] = {
    15: {
        "MemNet14": (32.86, 0.9162),
        "BSD200_test": (32.16, 0.9017),
        "Urban100": (33.35, 0.9361),
        "BSD68": (31.87, 0.8952),
    },
    30: {
        "MemNet14": (29.45, 0.8516),
        "BSD200_test": (28.82, 0.8220),
        "Urban100": (30.02, 0.8895),
        "BSD68": (28.61, 0.8105),
    },
    50: {
        "MemNet14": (27.09, 0.7875),
        "BSD200_test": (26.64, 0.7487),
        "Urban100": (27.56, 0.8373),
        "BSD68": (26.53, 0.7372),
    },
}
TABLE4_CSRNET: dict[int, dict[str, tuple[float, float]]] = {
    10: {"Classic5": (30.03, 0.8199), "LIVE1": (29.72, 0.8257)},
    20: {"Classic5": (32.21, 0.8708), "LIVE1": (32.08, 0.8886)},
}
# Tables I (ablation) and V (depth), PSNR at x2.
TABLE1_ABLATION: dict[str, dict[str, float]] = {
    "CSRnet-1S": {"Set5": 37.853, "Set14": 33.446, "BSD100": 32.115, "Urban100": 31.734},
    "CSRnet-2S": {"Set5": 37.867, "Set14": 33.500, "BSD100": 32.155, "Urban100": 31.890},
    "CSRnet-3S": {"Set5": 37.890, "Set14": 33.543, "BSD100": 32.202, "Urban100": 32.075},
    "CSRnet-Dense": {"Set5": 37.999, "Set14": 33.696, "BSD100": 32.251, "Urban100": 32.326},
}
TABLE5_DEPTH: dict[str, dict[str, float]] = {
    "B4R6": {"Set5": 37.923, "Set14": 33.635, "BSD100": 32.193, "Urban100": 31.998},
    "B6R6": {"Set5": 37.959, "Set14": 33.678, "BSD100": 32.215, "Urban100": 32.187},
    "B8R6": {"Set5": 37.999, "Set14": 33.696, "BSD100": 32.251, "Urban100": 32.326},
}
