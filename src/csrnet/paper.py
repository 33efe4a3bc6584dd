"""Numbers transcribed from the paper (PSNR dB, SSIM), keyed by (task, level, dataset).

Only the rows that the protocol can check without trained weights are here: the degraded
input of Table II (Bicubic) and Table IV (JPEG). The paper has no noisy-input row.
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
