"""Stage the images that recipes train and validate on, for a session on the lent GPU.

The device tool carries the repository alone, not ../shared/data. For each recipe this stages
its training images, less those overlapping the recipe's test sets (``csrnet.overlap``: the
test sets themselves stay behind), and its validation set into ``.device_data/<recipe>/``, each
as the gray PNG of its Y channel (what every loader computes from it anyway: a gray image is its
own Y; a third of the bytes of an RGB PNG), or as the original file where that is smaller (JPEGs).
On the device the recipe then runs with ``--set data.root=.device_data/<recipe>`` and
``--set 'data.exclude_overlaps_with=[]'``, which trains on the same images as here.

    python scripts/stage_device_data.py CONFIG... [--out .device_data] [--test-sets Set14,...]

``--test-sets`` also copies those test sets into each recipe's folder, for scoring there.

Add the folder to .git/info/exclude (this script does) and name it in the run's ``carry``.
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
from pathlib import Path

from PIL import Image

from csrnet.config import load_config
from csrnet.data import training_paths
from csrnet.degrade import to_y
from csrnet.images import list_images, read_image

ROOT = Path(__file__).resolve().parents[1]


def stage(config: Path, out: Path, test_sets: list[str]) -> int:
    """Stage the Y of one recipe's training and validation images, and of ``test_sets``,
    under ``out/<name>``; bytes written."""
    cfg = load_config(config)
    train = [cfg.data.resolve(d) for d in cfg.data.train]
    exclude = [cfg.data.resolve(d) for d in cfg.data.exclude_overlaps_with]
    kept, overlaps = training_paths(train, exclude)
    target = out / cfg.name
    shutil.rmtree(target, ignore_errors=True)
    copied, staged = 0, set()
    scored = [
        list_images(cfg.data.resolve(name)) for name in dict.fromkeys([cfg.data.val, *test_sets])
    ]
    for path in [*kept, *(p for paths in scored for p in paths)]:
        folder = target / path.parent.name
        if (folder, path.stem) in staged:
            raise SystemExit(f"{path}: another image of {path.parent} has the stem {path.stem!r}")
        staged.add((folder, path.stem))
        folder.mkdir(parents=True, exist_ok=True)
        png = io.BytesIO()
        Image.fromarray(to_y(read_image(path))).save(png, format="PNG", optimize=True)
        size = path.stat().st_size
        if png.tell() < size:
            (folder / f"{path.stem}.png").write_bytes(png.getvalue())
        else:
            shutil.copyfile(path, folder / path.name)
        copied += min(png.tell(), size)
    left_out = len({o.train for o in overlaps})
    print(f"{cfg.name}: {copied / 2**20:.1f} MiB, {left_out} training images left out")
    return copied


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / ".device_data")
    parser.add_argument("--test-sets", default="", help="comma-separated sets to copy too")
    args = parser.parse_args()
    test_sets = [name for name in args.test_sets.split(",") if name]
    total = sum(stage(config, args.out, test_sets) for config in args.configs)
    exclude = ROOT / ".git" / "info" / "exclude"
    inside = args.out.resolve().is_relative_to(ROOT)
    line = f"/{args.out.resolve().relative_to(ROOT)}/" if inside else ""
    known = exclude.read_text().splitlines() if exclude.is_file() else []
    if inside and exclude.parent.is_dir() and line not in known:
        with exclude.open("a") as f:
            f.write(line + "\n")
    print(f"{total / 2**20:.1f} MiB in {args.out}; the device tool carries 64 MiB with the repo")
    return 0


if __name__ == "__main__":
    sys.exit(main())
