"""Write ``src/csrnet/datasets/manifest.json`` from a prepared data folder (../shared/data).

Each set's files (name, size, SHA-256 of the bytes; for files converted from BMP, also the
SHA-256 of the decoded pixels) are read from the folder; where each came from is the table
below, transcribed from the folder's SOURCES.md. Run it again only when a set changes.

    python scripts/make_data_manifest.py [DATA_ROOT]
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from csrnet.datasets.manifest import MANIFEST_PATH, pixels_sha256
from csrnet.protocol.images import IMAGE_EXTENSIONS

DNCNN = ("cszn/DnCNN", "e93b27812d3ff523a3a79d19e5e50d233d7a8d0a")
BSDS = ("BIDS/BSDS500", "a04b7c6c3a9f0ace74bf205c72a43d32e1c72722")
BSDS_TERMS = (
    "no licence file; a mirror of BSDS500: cite Arbelaez, Maire, Fowlkes and Malik, TPAMI 2011"
)
NO_LICENCE = "the repository has no licence file; research use"

# name: (role, tasks, (repository, commit), path in it with {stem}, conversion, terms)
SOURCES = {
    "Set5": (
        "test",
        ["sr"],
        ("JingyunLiang/SwinIR", "6545850fbf8df298df73d81f3e8cba638787c8bd"),
        "testsets/Set5/HR/{stem}.png",
        "",
        "Apache-2.0 (the code); images: Bevilacqua et al., BMVC 2012",
    ),
    "Set14": (
        "test",
        ["sr"],
        ("majedelhelou/denoising_datasets", "58234876fef6f1b56306705c78dfd40cdb837b86"),
        "CSet14/{stem}.png",
        "",
        "no licence file, 'no ownership claimed'; images: Zeyde et al., 2010",
    ),
    "BSD100": ("test", ["sr"], BSDS, "BSDS500/data/images/val/{stem}.jpg", "", BSDS_TERMS),
    "Urban100": (
        "test",
        ["sr", "denoise"],
        ("jbhuang0604/SelfExSR", "8f6dd8c1d20cb7e8792a7177b4f6fd677633f598"),
        "data/Urban100/image_SRF_4/{stem}_SRF_4_HR.png",
        "",
        "no licence file; cite Huang, Singh and Ahuja, CVPR 2015",
    ),
    "Set12": ("test", ["denoise"], DNCNN, "testsets/Set12/{stem}.png", "", NO_LICENCE),
    "BSD68": ("test", ["denoise"], DNCNN, "testsets/BSD68/{stem}.png", "", NO_LICENCE),
    "CBSD68": (
        "test",
        ["denoise"],
        ("cszn/IRCNN", "d9dcd537bdac3ae5b753296cd675db8a303c8f72"),
        "testsets/CBSD68/{stem}.png",
        "",
        "no licence file; BSDS images, research use",
    ),
    "MemNet14": (
        "test",
        ["denoise"],
        ("wutianyiRosun/MemNet", "1c53dbe754da8cc9571a2057a71bd816a87cac79"),
        "data/SuperResolution/GaussianDenoising/S14/{stem}.bmp",
        "bmp-to-png",
        NO_LICENCE,
    ),
    "Classic5": ("test", ["jpeg"], DNCNN, "testsets/classic5/{stem}.bmp", "bmp-to-png", NO_LICENCE),
    "LIVE1": ("test", ["jpeg"], DNCNN, "testsets/LIVE1/{stem}.bmp", "bmp-to-png", NO_LICENCE),
    "BSD200_test": (
        "test",
        ["denoise", "jpeg"],
        BSDS,
        "BSDS500/data/images/test/{stem}.jpg",
        "",
        BSDS_TERMS,
    ),
    "T91": (
        "train",
        ["sr"],
        ("tegg89/SRCNN-Tensorflow", "78be1a24697935fc39a3a8cf59a6632264afade7"),
        "Train/{stem}.bmp",
        "bmp-to-png",
        "MIT (the repository); images: Yang et al.",
    ),
    "BSD200_train": (
        "train",
        ["sr", "jpeg"],
        BSDS,
        "BSDS500/data/images/train/{stem}.jpg",
        "",
        BSDS_TERMS,
    ),
    "Train400": (
        "train",
        ["denoise", "jpeg"],
        DNCNN,
        "TrainingCodes/DnCNN_TrainingCodes_v1.0/data/Train400/{stem}.png",
        "",
        NO_LICENCE,
    ),
}
# Sets too large to keep: the user downloads the archive; `csrnet data prepare` checks and
# stores it. name: (tasks, archive URL, folder in it, first number, count, digits, extension,
# terms).
LARGE = {
    "DIV2K": (
        ["sr"],
        "https://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_train_HR.zip",
        "DIV2K_train_HR",
        1,
        800,
        4,
        ".png",
        "academic research only; cite Agustsson and Timofte, CVPRW 2017",
    ),
    "DIV2K_valid": (
        ["sr"],
        "https://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_valid_HR.zip",
        "DIV2K_valid_HR",
        801,
        100,
        4,
        ".png",
        "academic research only; cite Agustsson and Timofte, CVPRW 2017",
    ),
    "Flickr2K": (
        ["sr"],
        "https://cv.snu.ac.kr/research/EDSR/Flickr2K.tar",
        "Flickr2K/Flickr2K_HR",
        1,
        2650,
        6,
        ".png",
        "Flickr images collected by Lim et al. (EDSR, CVPRW 2017); research use",
    ),
    "WaterlooED": (
        ["denoise", "jpeg"],
        "https://ivc.uwaterloo.ca/database/WaterlooExploration/exploration_database_and_code.rar",
        "exploration_database_and_code/pristine_images",
        1,
        4744,
        5,
        ".bmp",
        "research use; cite Ma et al., IEEE TIP 2017",
    ),
}


def describe(folder: Path, conversion: str) -> list[dict]:
    """Name, size and SHA-256 of every image of ``folder`` (and its pixels' if converted)."""
    files = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in IMAGE_EXTENSIONS:
            continue
        data = path.read_bytes()
        entry = {"name": path.name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        if conversion:
            entry["pixels_sha256"] = pixels_sha256(path)
        files.append(entry)
    return files


def dump(manifest: dict) -> str:
    """The manifest as JSON with one line per file (readable diffs when a set changes)."""
    text = json.dumps(manifest, indent=1)
    for info in manifest["sets"].values():
        for entry in info["files"]:
            spread = json.dumps(entry, indent=1).replace("\n", "\n" + " " * 4)
            text = text.replace("    " + spread, "    " + json.dumps(entry), 1)
    return text + "\n"


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
    sets = {}
    for name, (role, tasks, (repo, commit), path, conversion, terms) in SOURCES.items():
        sets[name] = {
            "role": role,
            "tasks": tasks,
            "source": {"repository": repo, "commit": commit, "path": path},
            "conversion": conversion,
            "terms": terms,
            "files": describe(root / name, conversion),
        }
    large = {
        name: {
            "tasks": tasks,
            "archive": url,
            "folder": folder,
            "first": first,
            "count": count,
            "digits": digits,
            "extension": ext,
            "terms": terms,
        }
        for name, (tasks, url, folder, first, count, digits, ext, terms) in LARGE.items()
    }
    MANIFEST_PATH.write_text(dump({"sets": sets, "large": large}))
    count = sum(len(s["files"]) for s in sets.values())
    print(f"{MANIFEST_PATH}: {len(sets)} sets, {count} files")


if __name__ == "__main__":
    main()
