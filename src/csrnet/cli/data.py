"""Data commands: ``data list``, ``data verify``, ``data fetch`` and ``data prepare``."""

from __future__ import annotations

import argparse
import sys
from os.path import isdir  # False, not an error, where a folder cannot be looked into
from pathlib import Path

from csrnet.cli.options import (
    Commands,
    UsageError,
    add_command,
    add_data_root_option,
    add_output_options,
)


def add_commands(commands: Commands) -> None:
    """Register ``csrnet data`` and its four subcommands."""
    data = commands.add_parser(
        "data",
        help="list, verify, fetch and prepare the benchmark and training sets",
        description="The sets every evaluation and training command reads: what they are, "
        "whether a copy is right, and getting them.",
    )
    sub = data.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND")
    ls = add_command(sub, cmd_list, "list")
    add_data_root_option(ls)
    _add_verify(sub)
    _add_fetch(sub)
    _add_prepare(sub)


def _add_verify(sub: Commands) -> None:
    ve = add_command(sub, cmd_verify, "verify")
    ve.add_argument("targets", nargs="*", metavar="DIR|NAME", help="a set's folder, or its name")
    ve.add_argument("--set", dest="as_set", metavar="NAME", help="check DIR as this set")
    add_data_root_option(ve)


def _add_fetch(sub: Commands) -> None:
    fe = add_command(sub, cmd_fetch, "fetch")
    fe.add_argument("names", nargs="+", metavar="NAME", help="sets (csrnet data list), or 'all'")
    fe.add_argument(
        "--to",
        metavar="DIR",
        help="the data root to fetch into (default: $CSRNET_DATA, else the user data folder)",
    )
    fe.add_argument(
        "--from",
        dest="source",
        metavar="URL_OR_DIR",
        help="a mirror of the prepared files: the set's folder (one NAME), or the folder "
        "holding one subfolder per set",
    )
    fe.add_argument("--retries", type=int, default=3, help="tries after a failed download (3)")
    fe.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for data (30)")
    fe.add_argument("--no-progress", action="store_true", help="hide the progress bars")


def _add_prepare(sub: Commands) -> None:
    pr = add_command(sub, cmd_prepare, "prepare")
    pr.add_argument("name", metavar="NAME", help="DIV2K, DIV2K_valid, Flickr2K or WaterlooED")
    pr.add_argument(
        "source", metavar="PATH", help="the set's zip or tar archive, or its unpacked folder"
    )
    pr.add_argument("--to", metavar="DIR", help="the data root to write into (default: as fetch)")
    pr.add_argument(
        "--scales",
        default="",
        help="SR scales whose inputs to store, e.g. 2,4,8 (default: 2,4,8 for SR sets, "
        "none for the others)",
    )
    pr.add_argument("--rgb", action="store_true", help="store RGB (colour models) instead of Y")
    add_output_options(pr)


def _root(args: argparse.Namespace) -> Path:
    from csrnet.protocol.images import data_root

    return Path(args.data_root or data_root())


def cmd_list(args: argparse.Namespace) -> int:
    """every set: role, files, size, state under the data root"""
    from csrnet.datasets.manifest import load_manifest
    from csrnet.datasets.store import is_store
    from csrnet.datasets.verify import set_status

    root, manifest = _root(args), load_manifest()
    print(f"data root: {root}")
    print(f"{'set':<13} {'role':<6} {'tasks':<14} {'files':>6} {'MiB':>8}  state")
    for info in manifest.sets.values():
        state = set_status(root, info)
        tasks = ",".join(info.tasks)
        size = info.size / 2**20
        print(
            f"{info.name:<13} {info.role:<6} {tasks:<14} {len(info.files):>6} {size:>8.1f}  {state}"
        )
    for large in manifest.large.values():
        state = "prepared" if is_store(root / large.name) else f"not prepared ({large.archive})"
        tasks = ",".join(large.tasks)
        print(f"{large.name:<13} {'train':<6} {tasks:<14} {large.count:>6} {'':>8}  {state}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """check folders of sets against the manifest

    Each missing, changed or extra image file is named on one line; exit status 1 if any.
    Without an argument, every set present under the data root.
    """
    from csrnet.datasets.manifest import load_manifest
    from csrnet.datasets.verify import verify_folder

    root, manifest = _root(args), load_manifest()
    if args.as_set and len(args.targets) != 1:
        raise UsageError("--set NAME checks one folder: give exactly one DIR")
    targets = args.targets or [i.name for i in manifest.sets.values() if isdir(root / i.name)]
    if not targets:
        raise UsageError(f"no set under {root}: name a folder, or fetch a set first")
    bad = 0
    for target in targets:
        folder = Path(target) if isdir(target) else root / target
        info = manifest.find(args.as_set or folder.name)
        problems = verify_folder(folder, info)
        for line in problems:
            print(line)
        print(
            f"{folder}: {'verified' if not problems else f'{len(problems)} problems'}",
            file=sys.stderr if problems else sys.stdout,
        )
        bad += bool(problems)
    return 1 if bad else 0


def cmd_fetch(args: argparse.Namespace) -> int:
    """download sets from their pinned sources (or a mirror), checked file by file

    Each file is checked against the manifest before it is kept; the set's folder appears once
    all of it checks. An interrupted fetch resumes.
    """
    from csrnet.datasets.fetch import fetch_sets
    from csrnet.datasets.locate import fetch_root
    from csrnet.datasets.manifest import load_manifest

    if args.retries < 0 or args.timeout <= 0:
        raise UsageError("--retries must be >= 0 and --timeout > 0")
    names = list(load_manifest().sets) if args.names == ["all"] else args.names
    to = Path(args.to) if args.to else fetch_root()
    for folder in fetch_sets(
        names, to, args.source, not args.no_progress, args.retries, args.timeout
    ):
        print(f"{folder}: verified")
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    """check a large training set you downloaded (DIV2K, ...) and store it for training

    Checks the file count and names, reads every image once, and writes memory-mapped arrays (Y
    or RGB, and each scale's bicubic input) that recipes train from without decoding.
    """
    from csrnet.datasets.locate import fetch_root
    from csrnet.datasets.manifest import load_manifest
    from csrnet.datasets.store import prepare_store

    large = load_manifest().find_large(args.name)
    try:
        scales = [int(s) for s in args.scales.split(",") if s.strip()]
    except ValueError:
        raise UsageError(f"--scales {args.scales!r}: give integers, e.g. 2,4,8") from None
    if not args.scales and "sr" in large.tasks and not args.rgb:
        scales = [2, 4, 8]
    to = Path(args.to) if args.to else fetch_root()
    folder = prepare_store(
        large, Path(args.source), to, scales, 3 if args.rgb else 1, not args.no_progress
    )
    print(f"{folder}: {large.count} images prepared (scales: {scales or 'none'})")
    return 0
