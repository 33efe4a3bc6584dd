"""What the report covers: the paper's settings and tables, the colour tables, and the sets
where BM3D / CBM3D are measured rather than quoted."""

from __future__ import annotations

from csrnet.evaluation import paper

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
# BM3D takes seconds per image on a CPU: a report measures it on the small sets. On the
# others the paper's numbers stand for it until `csrnet baseline denoise FOLDER --method bm3d
# --scores DIR` has scored a whole set into the cache; the tables then use that.
BM3D_SETS = ("MemNet14", "BSD68")
# The colour tables (RGB models): their settings and sets, and where CBM3D is run.
COLOUR_LEVELS = {"denoise": [15, 25, 50], "jpeg": [10, 20, 30, 40]}
COLOUR_TITLES = {"denoise": "colour Gaussian denoising", "jpeg": "colour JPEG deblocking"}
CBM3D_SETS = ("CBSD68",)  # and, as for BM3D, any set whose every image is in the cache
# Where the colour tables score the Y path: one set per task. On Urban100 it would be 300
# more megapixel images (~100 CPU minutes) for a comparison CBSD68 already shows.
Y_PATH_SETS = ("CBSD68", "LIVE1")
COLOUR_FIGURE_LEVEL = {"denoise": 25, "jpeg": 10}
Y_PATH = "Y model, Y only"  # the colour tables' column for the paper's path on a colour photo
