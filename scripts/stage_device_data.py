"""Stage the images that recipes train, validate and score on, for a session on the lent GPU.

The device tool carries the repository alone, not ../shared/data. This writes one folder
(``--out``, default ``.device_data/campaign``) that every given recipe runs from: each
training image that some recipe keeps (``csrnet.datasets.overlap`` leaves out those overlapping its
test sets), each recipe's validation set and the ``--test-sets``, each image once, as the
gray PNG of its Y channel (what every loader computes from it anyway: a gray image is its
own Y; a third of the bytes of an RGB PNG) where that is smaller, else as the original file;
JPEGs are always copied as they are, so every image keeps its name (the key of its scores,
and the seed of its noise).

Recipes may leave out different training images (denoising drops Train400's test_020, which
overlaps Set12; JPEG keeps it). So on the device each recipe checks overlaps against those of
its test sets that are staged, and this script proves, before anything travels, that this
leaves it exactly the images it trains on here. It writes each recipe's options to
``<out>/<recipe>.args`` (``--set data.root=... --set data.exclude_overlaps_with=[...]``),
which ``scripts/device_session.sh`` reads.

    python scripts/stage_device_data.py CONFIG... [--out DIR] [--test-sets task|Set14,...]
    python scripts/stage_device_data.py --out .device_data/report --test-sets Urban100

``--test-sets task`` stages the sets the campaign scores each recipe's task on
(``SCORED``); with no CONFIG, only the named test sets are staged (to score weights there
with ``csrnet evaluate --scores``). Then ``scripts/device_tree.py size DIR`` says whether it
fits the 64 MiB.
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
from pathlib import Path

from PIL import Image

from csrnet.datasets.patches import training_paths
from csrnet.errors import CsrnetError
from csrnet.protocol.degrade import to_y
from csrnet.protocol.images import data_root, list_images, read_image
from csrnet.training.config import TrainConfig, load_config

ROOT = Path(__file__).resolve().parents[1]
SCORED = {"sr": ["Set5", "Set14"], "denoise": ["Set12", "BSD68"], "jpeg": ["Classic5", "LIVE1"]}


def write_y(path: Path, folder: Path) -> int:
    """Stage one image into ``folder`` under its own name; bytes written."""
    folder.mkdir(parents=True, exist_ok=True)
    size = path.stat().st_size
    if path.suffix.lower() == ".png":
        png = io.BytesIO()
        Image.fromarray(to_y(read_image(path))).save(png, format="PNG", optimize=True)
        if png.tell() < size:
            (folder / path.name).write_bytes(png.getvalue())
            return png.tell()
    shutil.copyfile(path, folder / path.name)
    return size


def device_excludes(
    cfg: TrainConfig, kept: list[Path], overlaps, staged_sets: set[Path], staged_train: set[Path]
) -> list[str]:
    """The staged test sets this recipe must check overlaps against on the device: those that
    drop the images staged for other recipes but not trained on by this one here. None drop
    an image it keeps (it overlaps none of its test sets)."""
    train = [cfg.data.resolve(d) for d in cfg.data.train]
    here = {f"{p.parent.name}/{p.name}" for p in kept}
    there = {f"{p.parent.name}/{p.name}" for p in staged_train if p.parent in train}
    staged_names = {d for d in cfg.data.exclude_overlaps_with if cfg.data.resolve(d) in staged_sets}
    dropped_by: dict[str, str] = {}
    for o in overlaps:
        if o.test.split("/")[0] in staged_names:
            dropped_by.setdefault(o.train, o.test.split("/")[0])
    undropped = sorted(there - here - set(dropped_by))
    if undropped:
        sys.exit(
            f"{cfg.name}: on the device it would also train on {undropped[:3]}, which overlap "
            "a test set that is not staged; stage that set too (--test-sets) or stage it alone"
        )
    return sorted({dropped_by[name] for name in there - here})


def stage(configs: list[Path], out: Path, test_sets: str) -> int:
    """Stage the recipes' images into ``out`` and write their ``.args``; bytes written. With
    no recipes, the ``test_sets`` alone (from the default data root)."""
    cfgs = [load_config(c) for c in configs]
    plans = []
    if not cfgs:
        if test_sets == "task":
            sys.exit("with no CONFIG, name the test sets: --test-sets Urban100,BSD100")
        plans.append((None, [], [], [Path(data_root()) / n for n in test_sets.split(",")]))
    for cfg in cfgs:
        train = [cfg.data.resolve(d) for d in cfg.data.train]
        exclude = [cfg.data.resolve(d) for d in cfg.data.exclude_overlaps_with]
        kept, overlaps = training_paths(train, exclude)
        scored = SCORED[cfg.task.task] if test_sets == "task" else test_sets.split(",")
        sets = [cfg.data.resolve(n) for n in dict.fromkeys([cfg.data.val, *scored]) if n]
        plans.append((cfg, kept, overlaps, sets))
    staged_train = {p for _, kept, _, _ in plans for p in kept}
    staged_sets = {folder for *_, sets in plans for folder in sets}
    shutil.rmtree(out, ignore_errors=True)
    written, seen = 0, set()
    sources = [*sorted(staged_train), *(p for f in sorted(staged_sets) for p in list_images(f))]
    for path in sources:
        if (path.parent.name, path.name) in seen:  # two folders of one name
            sys.exit(f"{path}: another {path.parent.name}/{path.name} is staged already")
        seen.add((path.parent.name, path.name))
        written += write_y(path, out / path.parent.name)
    root = out.resolve().relative_to(ROOT) if out.resolve().is_relative_to(ROOT) else out
    for cfg, kept, overlaps, _ in plans:
        if cfg is None:
            continue
        names = device_excludes(cfg, kept, overlaps, staged_sets, staged_train)
        args = f"--set data.root={root} --set data.exclude_overlaps_with=[{','.join(names)}]"
        (out / f"{cfg.name}.args").write_text(args + "\n")
        print(f"{cfg.name}: {len(kept)} training images, checks overlaps there with {names}")
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="*", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / ".device_data" / "campaign")
    parser.add_argument("--test-sets", default="task", help="'task' or comma-separated sets")
    args = parser.parse_args()
    try:
        total = stage(args.configs, args.out, args.test_sets)
    except CsrnetError as exc:
        sys.exit(f"stage_device_data.py: {exc}")
    inside = args.out.resolve().is_relative_to(ROOT)
    if inside:
        sys.path.insert(0, str(ROOT / "scripts"))
        from device_tree import exclude

        exclude(f"/{args.out.resolve().relative_to(ROOT).parts[0]}/")
    print(f"{total / 2**20:.1f} MiB in {args.out}; `scripts/device_tree.py size` checks the 64 MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
