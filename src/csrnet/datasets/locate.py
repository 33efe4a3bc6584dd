"""Where fetched sets go, and the one-line answer when a command needs a set that is not there."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from csrnet.datasets.manifest import load_manifest
from csrnet.errors import CsrnetError
from csrnet.protocol.images import user_data_root

__all__ = ["check_target", "fetch_root", "make_target", "require_folder", "require_sets"]


def fetch_root() -> Path:
    """Where `csrnet data fetch` puts sets unless told: $CSRNET_DATA, else the user data
    folder (which the data root then is)."""
    return Path(os.environ.get("CSRNET_DATA") or user_data_root())


def _to(root: Path) -> str:
    """The ``--to`` option a fetch into ``root`` needs (none for the default place)."""
    return "" if root.resolve() == fetch_root().resolve() else f" --to {root}"


def require_sets(root: str | os.PathLike, names: list[str]) -> None:
    """An error naming the sets of ``names`` missing under ``root`` and the command that gets
    those the manifest knows."""
    root = Path(root)
    missing = sorted({n for n in names if not (root / n).is_dir()})
    if not missing:
        return
    known = [n for n in missing if n in load_manifest().sets]
    hint = f"; get them with: csrnet data fetch {' '.join(known)}{_to(root)}" if known else ""
    raise CsrnetError(f"{root}: missing sets {', '.join(missing)}{hint} (or set --data-root)")


def require_folder(folder: str | os.PathLike) -> Path:
    """``folder`` if it is one; else an error that, for a known set, names the command that
    gets it."""
    path = Path(folder)
    if path.is_dir():
        return path
    if path.exists():
        raise CsrnetError(f"{path}: not a folder")
    manifest = load_manifest()
    known = {n.lower(): n for n in [*manifest.sets, *manifest.large]}.get(path.name.lower())
    if known is None:
        raise CsrnetError(f"{path}: no such folder")
    to = _to(path.parent)
    if known in manifest.large:
        url = manifest.large[known].archive
        raise CsrnetError(
            f"{path}: no such folder; download {url}, then: csrnet data prepare {known} FILE{to}"
        )
    raise CsrnetError(f"{path}: no such folder; get the set with: csrnet data fetch {known}{to}")


def check_target(to: str | os.PathLike) -> Path:
    """``to`` if a set can be written there (it is a folder this user may write in, or one
    that can be made); else a one-line error, before anything is downloaded or read."""
    to = Path(to)
    existing = to
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if not os.path.isdir(existing):
        why = "not a folder" if existing == to else f"cannot be made ({existing} is not a folder)"
        raise CsrnetError(f"{to}: {why}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise CsrnetError(f"{to}: cannot write there (Permission denied)")
    return to


@contextlib.contextmanager
def make_target(folder: Path) -> Iterator[Path]:
    """Make ``folder`` (and its missing parents) for a set; if the block fails, remove those
    it made that are still empty, so that a failed command leaves no empty folders."""
    folder = Path(folder)
    made = []
    for path in (folder, *folder.parents):
        if os.path.lexists(path):
            break
        made.append(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CsrnetError(f"{folder}: cannot write there ({exc.strerror or exc})") from None
    try:
        yield folder
    except BaseException:
        for path in made:  # deepest first
            with contextlib.suppress(OSError):
                path.rmdir()  # only an empty folder goes
        raise
