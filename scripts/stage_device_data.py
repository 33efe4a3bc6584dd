"""Stage the images that recipes train and validate on, for a session on the lent GPU.

The device tool carries the repository alone, not ../shared/data. For each recipe this copies
its training images, less those overlapping the recipe's test sets (``csrnet.overlap``: the
test sets themselves stay behind), and its validation set into ``.device_data/<recipe>/``.
On the device the recipe then runs with ``--set data.root=.device_data/<recipe>`` and
``--set 'data.exclude_overlaps_with=[]'``, which trains on the same images as here.

    python scripts/stage_device_data.py configs/gpu_*.yaml [--out .device_data]

Add the folder to .git/info/exclude (this script does) and name it in the run's ``carry``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from csrnet.config import load_config
from csrnet.images import list_images
from csrnet.overlap import find_overlaps

ROOT = Path(__file__).resolve().parents[1]


def stage(config: Path, out: Path) -> int:
    """Copy one recipe's training and validation images under ``out/<name>``; bytes copied."""
    cfg = load_config(config)
    train = [cfg.data.resolve(d) for d in cfg.data.train]
    exclude = [cfg.data.resolve(d) for d in cfg.data.exclude_overlaps_with]
    skip = {o.train for o in find_overlaps(train, exclude)} if exclude else set()
    target = out / cfg.name
    shutil.rmtree(target, ignore_errors=True)
    copied = 0
    for folder in [*train, cfg.data.resolve(cfg.data.val)]:
        for path in list_images(folder):
            if f"{path.parent.name}/{path.name}" in skip:
                continue
            dest = target / folder.name / path.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)
            copied += dest.stat().st_size
    print(f"{cfg.name}: {copied / 2**20:.1f} MiB, {len(skip)} training images left out")
    return copied


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / ".device_data")
    args = parser.parse_args()
    total = sum(stage(config, args.out) for config in args.configs)
    exclude = ROOT / ".git" / "info" / "exclude"
    line = f"/{args.out.resolve().relative_to(ROOT)}/"
    known = exclude.read_text().splitlines() if exclude.is_file() else []
    if exclude.parent.is_dir() and line not in known:
        with exclude.open("a") as f:
            f.write(line + "\n")
    print(f"{total / 2**20:.1f} MiB in {args.out}; the device tool carries 64 MiB with the repo")
    return 0


if __name__ == "__main__":
    sys.exit(main())
