"""Write ``tests/data/sets``: small crops of a few benchmark images, so that the test suite
runs without the benchmark sets. Run from the repository root beside ``../shared/data``:

    python tests/data/make_samples.py

Each crop keeps its set's folder name and its image's file name (``SOURCES.md`` says where
the sets come from). The crops are taken from the top-left corner offset by (top, left),
chosen where the image has texture; nothing else is changed.
"""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image

SHARED = Path(
    os.environ.get("CSRNET_DATA", Path(__file__).resolve().parents[3] / "shared" / "data")
)
OUT = Path(__file__).resolve().parent / "sets"
# set: [(file, top, left, height, width)]
CROPS = {
    "Set5": [("baby.png", 160, 160, 128, 128), ("bird.png", 60, 60, 112, 112)],
    "Set12": [("01.png", 64, 64, 112, 112), ("02.png", 96, 96, 96, 96)],
    "Classic5": [("barbara.png", 256, 256, 96, 96)],
    "BSD68": [("test001.png", 100, 150, 112, 112)],
    "CBSD68": [("101085.png", 0, 0, 96, 128)],
    "LIVE1": [("monarch.png", 200, 300, 96, 96), ("parrots.png", 100, 200, 96, 96)],
    "T91": [("t1.png", 0, 0, 72, 72), ("t10.png", 0, 0, 72, 72), ("t11.png", 0, 0, 72, 72)],
    "Train400": [
        ("test_001.png", 30, 30, 112, 112),
        ("test_002.png", 30, 30, 112, 112),
        ("test_003.png", 30, 30, 112, 112),
    ],
}


def main() -> None:
    for name, crops in CROPS.items():
        (OUT / name).mkdir(parents=True, exist_ok=True)
        for file, top, left, height, width in crops:
            with Image.open(SHARED / name / file) as img:
                crop = img.crop((left, top, left + width, top + height))
                crop.save(OUT / name / file, optimize=True)


if __name__ == "__main__":
    main()
