"""What travels to the lent GPU, and parking the shipped weights a session does not need.

The device tool copies the working tree (tracked files and untracked files git does not
ignore) plus the ``carry`` paths, 64 MiB in all; ~60 MB of the tree is shipped weights, and a
GPU session warm-starts from only some of them. So, here, before the call:

    python scripts/device_tree.py park configs/gpu/sr_x4.yaml ...   # keep their init_from only
    python scripts/device_tree.py size .device_data/campaign         # what would travel
    ... the device call, carrying .device_data/campaign ...
    python scripts/device_tree.py unpark                              # put the others back

``park`` moves the other ``src/csrnet/pretrained/*.safetensors`` into ``.device_parked/`` (git
ignores it through .git/info/exclude; nothing is committed or deleted). ``size`` counts the
files as the tool describes them: a tracked file missing from the working tree is not
counted, and on the GPU machine it is absent: the tool agreed on 2026-11-27 (61.9 MiB
counted here travelled; the parked files did not arrive, docs/TRAINING.md). A tree over the
limit is refused before any machine starts, at no device time.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from csrnet.training.config import load_config

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "src" / "csrnet" / "pretrained"
PARKED = ROOT / ".device_parked"
LIMIT = 64 * 2**20


def exclude(line: str) -> None:
    """Have git ignore ``line`` through .git/info/exclude (local, never committed)."""
    path = ROOT / ".git" / "info" / "exclude"
    known = path.read_text().splitlines() if path.is_file() else []
    if (ROOT / ".git").is_dir() and line not in known:
        path.parent.mkdir(exist_ok=True)
        with path.open("a") as f:
            f.write(line + "\n")


def tree_files() -> list[Path]:
    """Tracked files present in the working tree, and untracked files git does not ignore."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    files = {ROOT / name for name in listing.split("\0") if name}
    return sorted(p for p in files if p.is_file() and not p.is_symlink())


def size(carry: list[str]) -> int:
    """Print what would travel, by part; its total in bytes."""
    files = tree_files()
    weights = sum(p.stat().st_size for p in files if p.parent == WEIGHTS)
    rest = sum(p.stat().st_size for p in files) - weights
    parts = [("shipped weights in the tree", weights), ("the rest of the tree", rest)]
    for name in carry:
        path = ROOT / name
        found = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
        parts.append((f"carry {name}", sum(p.stat().st_size for p in found if p.is_file())))
    total = sum(n for _, n in parts)
    for label, n in parts:
        print(f"{n / 2**20:7.1f} MiB  {label}")
    verdict = "fits" if total <= LIMIT else "is OVER"
    print(f"{total / 2**20:7.1f} MiB  in all: {verdict} the device tool's 64 MiB")
    return total


def park(configs: list[str]) -> None:
    """Move the shipped weights that no config's init_from names out of the tree."""
    keep = {(ROOT / (load_config(c).init_from or "-")).resolve() for c in configs}
    exclude("/.device_parked/")
    PARKED.mkdir(exist_ok=True)
    for path in sorted(WEIGHTS.glob("*.safetensors")):
        if path.resolve() not in keep:
            shutil.move(path, PARKED / path.name)
            print(f"parked {path.name}")
    for path in sorted(keep):
        if path.parent == WEIGHTS and not path.is_file():
            sys.exit(f"{path.name} is named by init_from but is not in the tree (unpark first)")


def unpark() -> None:
    """Put the parked weights back."""
    for path in sorted(PARKED.glob("*.safetensors")):
        shutil.move(path, WEIGHTS / path.name)
        print(f"back {path.name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("size", help="what would travel").add_argument("carry", nargs="*")
    sub.add_parser("park", help="keep only the configs' init_from").add_argument(
        "configs", nargs="+"
    )
    sub.add_parser("unpark", help="put parked weights back")
    args = parser.parse_args()
    if args.command == "size":
        return 0 if size(args.carry) <= LIMIT else 1
    if args.command == "park":
        park(args.configs)
    else:
        unpark()
    return 0


if __name__ == "__main__":
    sys.exit(main())
