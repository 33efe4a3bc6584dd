"""Numbers transcribed from the paper (PSNR dB, SSIM), keyed by (task, level, dataset).

The degraded-input rows that check the protocol without weights (Table II Bicubic, Table IV
JPEG; the paper has no noisy-input row), the paper's CSRnet results (Tables I-V), which
trained weights are compared with, and the other methods of Tables II-IV, among which the
report places our weights.
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


# The other methods of Tables II-IV, transcribed (PSNR, SSIM; SSIM None where the paper gives
# PSNR alone); a cell the paper leaves empty ("-") is absent. Names as the paper writes them,
# with the year. Table III"s "14 images" is MemNet14 and "BSD200" is BSD200_test here.
Cells = dict[str, dict[int, dict[str, tuple[float, float | None]]]]

TABLE2_OTHERS: Cells = {
    "SRCNN16": {
        2: {
            "Set5": (36.65, 0.9536),
            "Set14": (32.45, 0.9067),
            "BSD100": (31.36, 0.8879),
            "Urban100": (29.52, 0.8965),
        },
        4: {
            "Set5": (30.48, 0.8628),
            "Set14": (27.5, 0.7513),
            "BSD100": (26.91, 0.7103),
            "Urban100": (24.53, 0.7226),
        },
        8: {
            "Set5": (25.34, 0.6471),
            "Set14": (23.86, 0.5443),
            "BSD100": (24.14, 0.5043),
            "Urban100": (21.29, 0.5133),
        },
    },
    "VDSR16": {
        2: {
            "Set5": (37.53, 0.9587),
            "Set14": (33.05, 0.9127),
            "BSD100": (31.9, 0.896),
            "Urban100": (30.77, 0.9141),
        },
        4: {
            "Set5": (31.35, 0.8838),
            "Set14": (28.03, 0.7678),
            "BSD100": (27.29, 0.7252),
            "Urban100": (25.18, 0.7525),
        },
        8: {
            "Set5": (25.73, 0.6743),
            "Set14": (23.2, 0.511),
            "BSD100": (24.34, 0.5169),
            "Urban100": (21.48, 0.5289),
        },
    },
    "DRCN15": {
        2: {
            "Set5": (37.63, 0.9588),
            "Set14": (33.06, 0.9121),
            "BSD100": (31.85, 0.8942),
            "Urban100": (30.76, 0.9133),
        },
        4: {
            "Set5": (31.53, 0.8854),
            "Set14": (28.04, 0.7673),
            "BSD100": (27.24, 0.7233),
            "Urban100": (25.14, 0.7511),
        },
        8: {
            "Set5": (25.93, 0.6743),
            "Set14": (24.25, 0.551),
            "BSD100": (24.49, 0.5168),
            "Urban100": (21.71, 0.5289),
        },
    },
    "ESPCN16": {
        2: {
            "Set5": (37.0, 0.9559),
            "Set14": (32.75, 0.9098),
            "BSD100": (31.51, 0.8939),
            "Urban100": (29.87, 0.9065),
        },
        4: {
            "Set5": (30.66, 0.8646),
            "Set14": (27.71, 0.7562),
            "BSD100": (26.98, 0.7124),
            "Urban100": (24.6, 0.736),
        },
        8: {
            "Set5": (25.75, 0.6738),
            "Set14": (24.21, 0.5109),
            "BSD100": (24.37, 0.5277),
            "Urban100": (21.59, 0.542),
        },
    },
    "LapSRN17": {
        2: {
            "Set5": (37.52, 0.9591),
            "Set14": (32.99, 0.9124),
            "BSD100": (31.8, 0.8949),
            "Urban100": (30.41, 0.9101),
        },
        4: {
            "Set5": (31.54, 0.8866),
            "Set14": (28.19, 0.7694),
            "BSD100": (27.32, 0.7264),
            "Urban100": (25.21, 0.7553),
        },
        8: {
            "Set5": (26.15, 0.7028),
            "Set14": (24.45, 0.5792),
            "BSD100": (24.54, 0.5293),
            "Urban100": (21.81, 0.5555),
        },
    },
    "MemNet17": {
        2: {
            "Set5": (37.78, 0.9597),
            "Set14": (33.28, 0.9142),
            "BSD100": (32.08, 0.8984),
            "Urban100": (31.31, 0.9195),
        },
        4: {
            "Set5": (31.74, 0.8893),
            "Set14": (28.26, 0.7723),
            "BSD100": (27.4, 0.7281),
            "Urban100": (25.5, 0.763),
        },
    },
    "WaveResNet17": {
        2: {
            "Set5": (37.57, 0.9586),
            "Set14": (33.09, 0.9129),
            "BSD100": (32.15, 0.8995),
            "Urban100": (30.96, 0.9169),
        },
        4: {
            "Set5": (31.52, 0.8864),
            "Set14": (28.11, 0.7699),
            "BSD100": (27.32, 0.7266),
            "Urban100": (25.36, 0.7614),
        },
    },
    "DSRN18": {
        2: {
            "Set5": (37.66, 0.9594),
            "Set14": (33.15, 0.9132),
            "BSD100": (32.1, 0.8979),
            "Urban100": (30.97, 0.9163),
        },
        4: {
            "Set5": (31.4, 0.8834),
            "Set14": (28.07, 0.7702),
            "BSD100": (27.25, 0.7243),
            "Urban100": (25.08, 0.7471),
        },
    },
    "DRFN18": {
        2: {
            "Set5": (37.71, 0.9595),
            "Set14": (33.29, 0.9142),
            "BSD100": (32.02, 0.8979),
            "Urban100": (31.08, 0.9123),
        },
        4: {
            "Set5": (31.55, 0.8861),
            "Set14": (28.3, 0.7737),
            "BSD100": (27.39, 0.7293),
            "Urban100": (25.45, 0.7629),
        },
    },
    "EEDS19": {
        2: {"Set5": (37.78, 0.9609), "Set14": (33.21, 0.9151), "BSD100": (31.95, 0.8963)},
        4: {"Set5": (31.53, 0.8869), "Set14": (28.13, 0.7698), "BSD100": (27.35, 0.7263)},
    },
}
TABLE3_OTHERS: Cells = {
    "BM3D07": {
        15: {"Urban100": (32.34, 0.922), "BSD68": (31.08, 0.8722)},
        30: {"MemNet14": (28.49, 0.8204), "BSD200_test": (27.31, 0.7755)},
        50: {
            "MemNet14": (26.08, 0.7427),
            "BSD200_test": (25.06, 0.6831),
            "Urban100": (25.94, 0.7791),
            "BSD68": (25.62, 0.6869),
        },
    },
    "PGPD15": {
        15: {
            "MemNet14": (32.01, 0.8984),
            "BSD200_test": (31.38, 0.8776),
            "Urban100": (32.18, 0.9154),
            "BSD68": (31.13, 0.8693),
        },
        30: {
            "MemNet14": (26.19, 0.7442),
            "BSD200_test": (27.33, 0.7717),
            "Urban100": (28.59, 0.8495),
            "BSD68": (27.81, 0.7693),
        },
        50: {
            "MemNet14": (24.71, 0.6913),
            "BSD200_test": (25.18, 0.6841),
            "Urban100": (26.0, 0.776),
            "BSD68": (25.75, 0.6869),
        },
    },
    "TNRD15": {
        15: {
            "MemNet14": (32.23, 0.9041),
            "BSD200_test": (31.65, 0.889),
            "Urban100": (31.98, 0.9187),
            "BSD68": (31.42, 0.8822),
        },
        30: {
            "MemNet14": (27.03, 0.7305),
            "BSD200_test": (26.76, 0.7101),
            "Urban100": (26.79, 0.7612),
            "BSD68": (26.76, 0.7108),
        },
        50: {
            "MemNet14": (26.27, 0.7502),
            "BSD200_test": (26.02, 0.7111),
            "Urban100": (25.71, 0.7756),
            "BSD68": (25.97, 0.7021),
        },
    },
    "DnCNN16": {
        15: {
            "MemNet14": (32.56, 0.911),
            "BSD200_test": (31.99, 0.8976),
            "Urban100": (32.67, 0.925),
            "BSD68": (31.73, 0.8906),
        },
        30: {
            "MemNet14": (29.04, 0.8389),
            "BSD200_test": (28.52, 0.8094),
            "Urban100": (28.88, 0.8566),
            "BSD68": (28.36, 0.7999),
        },
        50: {
            "MemNet14": (26.66, 0.7678),
            "BSD200_test": (26.31, 0.7287),
            "Urban100": (26.28, 0.7869),
            "BSD68": (26.23, 0.7189),
        },
    },
    "MemNet17": {
        30: {
            "MemNet14": (29.22, 0.8444),
            "BSD200_test": (28.04, 0.8053),
            "Urban100": (29.11, 0.8633),
            "BSD68": (28.46, 0.8039),
        },
        50: {
            "MemNet14": (26.91, 0.7775),
            "BSD200_test": (25.86, 0.7202),
            "Urban100": (26.64, 0.8023),
            "BSD68": (26.37, 0.729),
        },
    },
    "FOCNet19": {
        15: {"Urban100": (33.15, None), "BSD68": (31.83, None)},
        50: {"Urban100": (27.4, None), "BSD68": (26.5, None)},
    },
}
TABLE4_OTHERS: Cells = {
    "ARCNN15": {
        10: {"Classic5": (29.03, 0.7929), "LIVE1": (28.96, 0.8076)},
        20: {"Classic5": (31.15, 0.8517), "LIVE1": (31.29, 0.8733)},
    },
    "TNRD15": {
        10: {"Classic5": (29.28, 0.7992), "LIVE1": (29.15, 0.8111)},
        20: {"Classic5": (31.47, 0.8576), "LIVE1": (31.46, 0.8769)},
    },
    "DnCNN16": {
        10: {"Classic5": (29.4, 0.8026), "LIVE1": (29.19, 0.8123)},
        20: {"Classic5": (31.63, 0.861), "LIVE1": (31.59, 0.8802)},
    },
    "MemNet17": {
        10: {"Classic5": (29.69, 0.8107), "LIVE1": (29.45, 0.8193)},
        20: {"Classic5": (31.9, 0.8658), "LIVE1": (31.83, 0.8846)},
    },
    "IACNN19": {
        10: {"Classic5": (29.43, 0.807), "LIVE1": (29.34, 0.8199)},
        20: {"Classic5": (31.64, 0.8628), "LIVE1": (31.73, 0.8848)},
    },
}


# How far `baseline-table` lets a degraded input's mean stray from the paper's before it
# marks the cell ('!').
PSNR_TOLERANCE = 0.05
SSIM_TOLERANCE = 0.002


def baseline_markdown(results: list[dict]) -> str:
    """The rows of ``baseline-table`` as a Markdown table; '!' marks a cell off the paper."""
    name = {"sr": "II Bicubic", "jpeg": "IV JPEG"}
    lines = [
        "| Table | Setting | Set | Paper PSNR | Ours PSNR | Δ PSNR "
        "| Paper SSIM | Ours SSIM | Δ SSIM |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        d_psnr, d_ssim = r["psnr"] - r["paper_psnr"], r["ssim"] - r["paper_ssim"]
        flag_p = " !" if abs(d_psnr) > PSNR_TOLERANCE else ""
        flag_s = " !" if abs(d_ssim) > SSIM_TOLERANCE else ""
        lines.append(
            f"| {name[r['task']]} | {r['setting']} | {r['dataset']} | {r['paper_psnr']:.2f} | "
            f"{r['psnr']:.3f} | {d_psnr:+.3f}{flag_p} | {r['paper_ssim']:.4f} | {r['ssim']:.4f} | "
            f"{d_ssim:+.4f}{flag_s} |"
        )
    lines.append(
        f"\n'!' marks a difference beyond {PSNR_TOLERANCE} dB PSNR or {SSIM_TOLERANCE} SSIM.\n"
    )
    return "\n".join(lines)
